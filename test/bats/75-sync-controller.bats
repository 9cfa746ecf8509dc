#!/usr/bin/env bats
# The Secrets Store sync controller's Mount calls (issue 21), made by its
# stand-in, bin/e2e-sync-controller (test/synccontroller): the controller's
# Go module is not served here. One controller pod (a real Pod object on
# the provider's node) for every SecretSync; the SecretSync's namespace and
# service account; a 600 s token from the API server's TokenRequest, bound
# to no pod; the class read from the API server. The provider is the
# stack's own, reached on its socket in the provider directory.

CONTROLLER_NS=secrets-store-sync
CONTROLLER_POD=sync-controller-0

setup_file() {
	load helpers
	new_namespace "$CONTROLLER_NS" secrets-store-sync-controller-manager
	new_namespace sync-a app other
	new_namespace sync-b app

	vault kv put secret/sync/a password=pw-a-1 >/dev/null
	vault kv put secret/sync/b password=pw-b-1 >/dev/null
	vault kv put secret/sync/shared password=pw-shared >/dev/null
	vault_policy sync-a secret/data/sync/a read
	vault_policy sync-b secret/data/sync/b read
	k8s_role sync-a sync-a app sync-a
	k8s_role sync-b sync-b app sync-b

	# Dynamic credentials from a PostgreSQL of this file's own.
	start_postgres sync-postgres
	vault secrets enable -path=sync-db database >/dev/null
	vault write sync-db/config/pg plugin_name=postgresql-database-plugin allowed_roles=sync-app,sync-short \
		connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:$PG_PORT/postgres?sslmode=disable" \
		username=postgres password="$PG_PASSWORD" >/dev/null
	local create="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
	vault write sync-db/roles/sync-app db_name=pg default_ttl=10m max_ttl=1h creation_statements="$create" >/dev/null
	vault write sync-db/roles/sync-short db_name=pg default_ttl=15s max_ttl=1m creation_statements="$create" >/dev/null

	# One role for three tenants: two namespaces, two service accounts. Only
	# the provider's keys can keep them apart.
	printf '%s\n' 'path "secret/data/sync/shared" { capabilities = ["read"] }' \
		'path "sync-db/creds/*" { capabilities = ["read"] }' | vault policy write sync-shared - >/dev/null
	k8s_role sync-shared sync-a,sync-b app,other sync-shared

	spc sync-a kv sync-a '- objectName: password
  secretPath: secret/data/sync/a
  secretKey: password'
	spc sync-b kv sync-b '- objectName: password
  secretPath: secret/data/sync/b
  secretKey: password'
	# sync-b asking for sync-a's role and secret.
	spc sync-b steal sync-a '- objectName: password
  secretPath: secret/data/sync/a
  secretKey: password'
	local shared='- objectName: kv-password
  secretPath: secret/data/sync/shared
  secretKey: password
- objectName: db-username
  secretPath: sync-db/creds/sync-app
  secretKey: username
- objectName: db-password
  secretPath: sync-db/creds/sync-app
  secretKey: password'
	spc sync-a shared sync-shared "$shared"
	spc sync-b shared sync-shared "$shared"
	spc sync-a short sync-shared '- objectName: db-username
  secretPath: sync-db/creds/sync-short
  secretKey: username'
	spc sync-a nested sync-a '- objectName: password
  secretPath: secret/data/sync/a
  secretKey: password
- objectName: team/password
  secretPath: secret/data/sync/a
  secretKey: password'
}

teardown_file() {
	load helpers
	stop_one sync-postgres INT
}

setup() {
	load helpers
	source "$E2E_DIR/sync-postgres.env"
}

# secretsync NS NAME SA CLASS [e2e-sync-controller flags]: the controller's
# Mount for the SecretSync NS/NAME, with the audience vault (the
# controller's --token-request-audience). Use with `run`.
secretsync() {
	"$ROOT/bin/e2e-sync-controller" sync --controller "$CONTROLLER_NS/$CONTROLLER_POD" \
		--namespace "$1" --name "$2" --sa "$3" --class "$4" --audience vault \
		--provider-dir "$E2E_DIR/providers" "${@:5}"
}

sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

# digest PATH / version ID: from the last `run secretsync`'s output.
digest() { sed -n "s|^file $1 bytes=[0-9]* sha256=||p" <<<"$output"; }
version() { sed -n "s|^version $1=||p" <<<"$output"; }

controller_uid() { kubectl -n "$CONTROLLER_NS" get pod "$CONTROLLER_POD" -o jsonpath='{.metadata.uid}'; }

# assert_controller_mount NS SA: the last call was the controller's: its own
# pod's name and UID, the SecretSync's namespace and service account, none of
# the driver's volume attributes, secrets {}, mode 420, its target path,
# no current versions, one 600 s token for the audience vault.
assert_controller_mount() {
	assert_line "controller pod $CONTROLLER_NS/$CONTROLLER_POD uid=$(controller_uid)"
	assert_line "attribute csi.storage.k8s.io/pod.name=$CONTROLLER_POD"
	assert_line "attribute csi.storage.k8s.io/pod.uid=$(controller_uid)"
	assert_line "attribute csi.storage.k8s.io/pod.namespace=$1"
	assert_line "attribute csi.storage.k8s.io/serviceAccount.name=$2"
	assert_line "token audience=vault expires_in=600s"
	assert_line "request secrets={} permission=420 target=/mnt/secrets-store current_object_versions=0"
	refute_output --partial secretProviderClass
	refute_output --partial ephemeral
	refute_output --partial eyJ
}

# leases ROLE: the leases Vault holds for sync-db/creds/ROLE.
leases() {
	local out
	out=$(vault list -format=json "sys/leases/lookup/sync-db/creds/$1/" 2>/dev/null) || { echo 0; return; }
	jq length <<<"$out"
}

# pg_users ROLE: PostgreSQL users Vault created for its role ROLE (the
# default username template holds the role's first 8 characters).
pg_users() {
	psql_as postgres "$PG_PASSWORD" "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%-${1:0:8}-%'"
}

@test "sync controller: two SecretSyncs in two namespaces, the same service account name, one controller pod" {
	run secretsync sync-a creds-a app kv --source-path password
	assert_success
	assert_controller_mount sync-a app
	assert_line "file password bytes=6 sha256=$(sha pw-a-1)"
	assert_line "source password sha256=$(sha pw-a-1)"
	local va
	va=$(version password)
	[[ -n $va ]] || fail "no version for password"

	run secretsync sync-b creds-b app kv --source-path password
	assert_success
	assert_controller_mount sync-b app
	assert_line "file password bytes=6 sha256=$(sha pw-b-1)"
	[[ $(version password) != "$va" ]] || fail "two namespaces got the same version"
	refute_output --partial "$(sha pw-a-1)"
}

@test "sync controller: a role that does not allow the SecretSync's namespace or service account is denied" {
	# sync-b's service account is named app too, but sync-a's role binds sync-a's.
	run secretsync sync-b steal app steal --source-path password
	assert_failure
	assert_controller_mount sync-b app
	assert_output --partial 'code = PermissionDenied'
	assert_output --partial 'login to Vault as role "sync-a" at auth/kubernetes for sync-b/app'
	refute_output --regexp '^file '
	refute_output --partial "$(sha pw-a-1)"

	run secretsync sync-a other other kv
	assert_failure
	assert_output --partial 'code = PermissionDenied'
	assert_output --partial 'for sync-a/other'
	refute_output --regexp '^file '
}

@test "sync controller: a rotation gives the new content and a new version, the other namespace's unchanged" {
	run secretsync sync-a creds-a app kv
	assert_success
	local before_a before_b
	before_a=$(version password)
	run secretsync sync-b creds-b app kv
	assert_success
	before_b=$(version password)

	vault kv put secret/sync/a password=pw-a-2 >/dev/null
	run secretsync sync-a creds-a app kv --source-path password
	assert_success
	assert_controller_mount sync-a app
	assert_line "source password sha256=$(sha pw-a-2)"
	[[ $(version password) != "$before_a" ]] || fail "the version did not change with the content"
	run secretsync sync-b creds-b app kv
	assert_success
	assert_line "file password bytes=6 sha256=$(sha pw-b-1)"
	assert_equal "$(version password)" "$before_b"
}

@test "sync controller: tenants sharing the controller's pod UID share no Vault token, lease or version" {
	local logins tenant
	logins=$(provider_metric 'vault_csi_provider_logins_total{result="ok"}')
	declare -A user kv
	for tenant in sync-a/app sync-b/app sync-a/other; do
		run secretsync "${tenant%/*}" "shared-${tenant#*/}" "${tenant#*/}" shared --source-path db-username
		assert_success
		assert_controller_mount "${tenant%/*}" "${tenant#*/}"
		# The same secret, the same content: only the identity differs.
		assert_line "file kv-password bytes=9 sha256=$(sha pw-shared)"
		user[$tenant]=$(digest db-username)
		kv[$tenant]=$(version kv-password)
	done
	# One login each: no tenant used another's Vault token.
	assert_equal "$(provider_metric 'vault_csi_provider_logins_total{result="ok"}')" $((logins + 3))
	# One lease each, three database users, three versions of one content.
	assert_equal "$(leases sync-app)" 3
	assert_equal "$(pg_users sync-app)" 3
	assert_equal "$(printf '%s\n' "${user[@]}" | sort -u | wc -l)" 3
	assert_equal "$(printf '%s\n' "${kv[@]}" | sort -u | wc -l)" 3

	# Again: each tenant gets its own kept lease, version and token back.
	for tenant in sync-a/app sync-b/app sync-a/other; do
		run secretsync "${tenant%/*}" "shared-${tenant#*/}" "${tenant#*/}" shared
		assert_success
		assert_equal "$(digest db-username)" "${user[$tenant]}"
		assert_equal "$(version kv-password)" "${kv[$tenant]}"
	done
	assert_equal "$(provider_metric 'vault_csi_provider_logins_total{result="ok"}')" $((logins + 3))
	assert_equal "$(leases sync-app)" 3
}

@test "sync controller: a deleted SecretSync's lease ends with its TTL, with no pod deleted" {
	run secretsync sync-a short app short --source-path db-username
	assert_success
	assert_controller_mount sync-a app
	local first
	first=$(digest db-username)
	assert_equal "$(leases sync-short)" 1
	assert_equal "$(pg_users sync-short)" 1

	# The SecretSync is deleted: the controller calls no more. Nothing renews
	# the lease; Vault revokes it at the end of its 15 s TTL and drops the user.
	no_short_lease() { [[ $(leases sync-short) == 0 && $(pg_users sync-short) == 0 ]]; }
	wait_until 60 "the sync-short lease to end" no_short_lease
	# No pod was deleted: the controller's pod is there, and the other
	# SecretSyncs' leases live on.
	run controller_uid
	assert_success
	assert_equal "$(leases sync-app)" 3

	# A SecretSync of the same identity again: new credentials, not the
	# expired ones the provider kept.
	run secretsync sync-a short app short
	assert_success
	[[ $(digest db-username) != "$first" ]] || fail "the expired credentials were returned"
	assert_equal "$(leases sync-short)" 1
}

@test "sync controller: a nested objectName cannot be a sourcePath; the provider warns and the Mount succeeds" {
	local before
	before=$(provider_metric vault_csi_provider_sync_unnameable_objects_total)
	run secretsync sync-a nested app nested --source-path team/password
	assert_failure
	assert_output --partial 'sourcePath "team/password": the SecretSync CRD refuses it'
	# The Mount itself succeeded: its files and versions are there.
	assert_line "file team/password bytes=6 sha256=$(sha pw-a-2)"
	assert_equal "$(provider_metric vault_csi_provider_sync_unnameable_objects_total)" $((before + 1))
	grep -q 'sync controller: no sourcePath can name these objects' "$E2E_DIR/logs/provider.log" ||
		fail "no warning in the provider's log"

	run secretsync sync-a nested app nested --source-path password
	assert_success
	assert_line "source password sha256=$(sha pw-a-2)"
}

@test "sync controller recipe: its RBAC passes a server-side dry run" {
	run env NAMESPACE=secrets-store-sync-controller "$ROOT/deployment/scripts/server-dry-run.sh" \
		"$ROOT/deployment/examples/sync-controller/rbac.yaml"
	assert_success
	assert_output --partial 'role.rbac.authorization.k8s.io/vault-csi-provider-sync created (server dry run)'
	assert_output --partial 'rolebinding.rbac.authorization.k8s.io/vault-csi-provider-sync created (server dry run)'
}

@test "sync controller: deleting the controller's pod revokes every SecretSync's leases, in every namespace" {
	# A provider that watches the controller's node (this stack's) sees the
	# delete. As the controller's sidecar (the recipe) it stops with the pod
	# instead, and the leases end with their TTL.
	assert_equal "$(leases sync-app)" 3
	kubectl -n "$CONTROLLER_NS" delete pod "$CONTROLLER_POD" --grace-period=0 --force >/dev/null 2>&1
	no_app_lease() { [[ $(leases sync-app) == 0 && $(pg_users sync-app) == 0 ]]; }
	wait_until 30 "the controller's leases to be revoked" no_app_lease
}
