#!/usr/bin/env bats
# Dynamic database credentials from a real PostgreSQL (Debian's), through
# Vault's database secrets engine: a leased secret, reused on republish and
# revoked when the pod is deleted.

setup_file() {
	load helpers
	start_postgres postgres
	vault secrets enable database >/dev/null
	vault write database/config/e2e plugin_name=postgresql-database-plugin allowed_roles=e2e-app \
		connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:$PG_PORT/postgres?sslmode=disable" \
		username=postgres password="$PG_PASSWORD" >/dev/null
	vault write database/roles/e2e-app db_name=e2e default_ttl=10m max_ttl=1h \
		creation_statements="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';" >/dev/null
	vault_policy e2e-db-creds database/creds/e2e-app read
	new_namespace e2e-db app
	k8s_role e2e-db e2e-db app e2e-db-creds
	spc e2e-db creds e2e-db '- objectName: username
  secretPath: database/creds/e2e-app
  secretKey: username
- objectName: password
  secretPath: database/creds/e2e-app
  secretKey: password
  filePermission: 0600'
}

teardown_file() {
	load helpers
	stop_one postgres INT
}

setup() {
	load helpers
	source "$E2E_DIR/postgres.env"
}

@test "6. database credentials: a working pair from one lease, the same on republish" {
	run publish e2e-db d1 app creds
	assert_success
	local dir user pass
	dir=$(target e2e-db d1)
	user=$(cat "$dir/username")
	pass=$(cat "$dir/password")
	assert_mode 600 "$dir/password"
	[[ $user == v-* ]] || fail "username $user is not one Vault generated"
	# Username and password come from the same creds call: they log in.
	run psql_as "$user" "$pass" 'SELECT current_user'
	assert_success
	assert_output "$user"

	# A republish returns the leased credentials still valid, not new ones.
	run republish e2e-db d1 app creds
	assert_success
	assert_content "$user" "$dir/username"
	assert_content "$pass" "$dir/password"
	run psql_as postgres "$PG_PASSWORD" "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'"
	assert_output 1
}

@test "7. deleting the pod revokes its credentials" {
	# The provider watches the pods of its node; in kind the test pods are on
	# a node no kubelet (and no provider) runs.
	local_only "the test pods are not on the provider's node"
	local dir user
	dir=$(target e2e-db d1)
	user=$(cat "$dir/username")
	role_exists "$user" || fail "role $user missing before the delete"

	run unpublish e2e-db d1 secrets --delete-pod
	assert_success
	assert_not_mounted "$dir"
	# The provider watches its node's pods: on the delete it revokes the pod's
	# Vault token, and Vault revokes the lease, dropping the role.
	role_gone() { ! role_exists "$1"; }
	wait_until 30 "role $user dropped" role_gone "$user"
	run psql_as postgres "$PG_PASSWORD" "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'"
	assert_output 0
}
