#!/usr/bin/env bats
# Rendering: the whole response as JSON, nested values (jmesPath), a whole
# secret as files (keysAsFiles) synced to a Kubernetes Secret, templates and
# optional objects.

setup_file() {
	load helpers
	new_namespace e2e-render app
	# A PKI mount of this file's own, so that it runs alone too.
	vault secrets enable -path=pki-render pki >/dev/null
	vault secrets tune -max-lease-ttl=24h pki-render >/dev/null
	vault write -field=certificate pki-render/root/generate/internal common_name=e2e-render-root ttl=24h >/dev/null
	vault write pki-render/roles/web allowed_domains=e2e.test allow_subdomains=true max_ttl=1h >/dev/null
	vault kv put secret/e2e/render/nested - >/dev/null <<-'JSON'
	{"db": {"host": "db.e2e.test", "port": 5432, "replicas": ["r1", "r2"]}, "config": "{\"pool\": {\"size\": 10}}"}
	JSON
	vault kv put secret/e2e/render/app username=alice 'password=s3cr=t!' >/dev/null
	# Read too the path that does not exist, so that its absence is a 404, not a 403.
	vault_policy e2e-render-read 'secret/data/e2e/render/*' read
	vault_policy e2e-render-issue pki-render/issue/web update
	k8s_role e2e-render e2e-render app e2e-render-read,e2e-render-issue
}

setup() {
	load helpers
}

@test "16. the whole response as JSON, as the reference writes it: a PKI certificate under .data" {
	spc e2e-render whole e2e-render '- objectName: tls.json
  secretPath: pki-render/issue/web
  method: PUT
  secretArgs:
    common_name: www.e2e.test
    ttl: 30m'

	run publish e2e-render whole-1 app whole
	assert_success
	local dir
	dir=$(target e2e-render whole-1)
	assert_mode 644 "$dir/tls.json"
	# The reference's fields, request_id empty (a new one on every read would
	# change the version on every rotation poll).
	run jq -c '[keys, .request_id, (.data | has("certificate", "private_key", "issuing_ca"))]' "$dir/tls.json"
	assert_success
	assert_output '[["data","lease_duration","lease_id","renewable","request_id","warnings"],"",true,true,true]'
	run jq -r .request_id "$dir/tls.json"
	assert_output ''
	jq -r .data.certificate "$dir/tls.json" >"$BATS_TEST_TMPDIR/tls.crt"
	run openssl x509 -in "$BATS_TEST_TMPDIR/tls.crt" -noout -subject
	assert_success
	assert_output --partial 'CN = www.e2e.test'
	# The key in the same file is the certificate's.
	local cert_pub key_pub
	cert_pub=$(openssl x509 -in "$BATS_TEST_TMPDIR/tls.crt" -noout -pubkey)
	key_pub=$(jq -r .data.private_key "$dir/tls.json" | openssl pkey -pubout)
	[[ -n $cert_pub && $cert_pub == "$key_pub" ]] || fail "the private_key in tls.json is not the certificate's key"

	run unpublish e2e-render whole-1
	assert_success
}

@test "17. jmesPath: a nested value of a KV v2 secret, and one inside a key's JSON string" {
	spc e2e-render nested e2e-render '- objectName: db-host
  secretPath: secret/data/e2e/render/nested
  jmesPath: db.host
- objectName: db-port
  secretPath: secret/data/e2e/render/nested
  jmesPath: db.port
- objectName: last-replica
  secretPath: secret/data/e2e/render/nested
  jmesPath: db.replicas[-1]
- objectName: db.json
  secretPath: secret/data/e2e/render/nested
  jmesPath: db
- objectName: pool-size
  secretPath: secret/data/e2e/render/nested
  secretKey: config
  jmesPath: pool.size
  filePermission: 0600'

	run publish e2e-render nested-1 app nested
	assert_success
	local dir
	dir=$(target e2e-render nested-1)
	# Strings as they are, other values as JSON.
	assert_content db.e2e.test "$dir/db-host"
	assert_content 5432 "$dir/db-port"
	assert_content r2 "$dir/last-replica"
	run jq -c . "$dir/db.json"
	assert_output '{"host":"db.e2e.test","port":5432,"replicas":["r1","r2"]}'
	# config is a string holding JSON: read as JSON, then selected into.
	assert_content 10 "$dir/pool-size"
	assert_mode 600 "$dir/pool-size"

	run unpublish e2e-render nested-1
	assert_success
}

@test "18. keysAsFiles: a file per key, a version per file, two of them synced to a Kubernetes Secret" {
	# The driver syncs only for pods on its own node; in kind the test pods
	# are on a node no kubelet runs.
	local_only "the test pods are not on the driver's node"
	kubectl apply -f - >/dev/null <<-YAML
	apiVersion: secrets-store.csi.x-k8s.io/v1
	kind: SecretProviderClass
	metadata:
	  name: files
	  namespace: e2e-render
	spec:
	  provider: vault
	  secretObjects:
	    - secretName: app-files
	      type: Opaque
	      data:
	        - objectName: app/username
	          key: username
	        - objectName: app/password
	          key: password
	  parameters:
	    roleName: e2e-render
	    objects: |
	      - objectName: app
	        secretPath: secret/data/e2e/render/app
	        keysAsFiles: true
	        filePermission: 0400
	YAML

	run publish e2e-render files-1 app files
	assert_success
	local dir
	dir=$(target e2e-render files-1)
	assert_content alice "$dir/app/username"
	assert_content 's3cr=t!' "$dir/app/password"
	assert_mode 400 "$dir/app/username"
	assert_mode 400 "$dir/app/password"
	run ls -A "$dir/app"
	assert_output "$(printf 'password\nusername')"

	# One version per file, its ID the file's path (what secretObjects names).
	run versions e2e-render files-1 files
	assert_success
	assert_output --regexp '^app/password=[^ ]+ app/username=[^ ]+$'

	secret_field() {
		kubectl -n e2e-render get secret app-files -o jsonpath="{.data.$1}" | base64 -d
	}
	wait_until 30 "Secret app-files" kubectl -n e2e-render get secret app-files
	assert_equal "$(secret_field username)" alice
	assert_equal "$(secret_field password)" 's3cr=t!'
	run kubectl -n e2e-render get secret app-files \
		-o jsonpath='{.type} {.metadata.labels.secrets-store\.csi\.k8s\.io/managed}'
	assert_output 'Opaque true'
	# Owned by the driver's SecretProviderClassPodStatus, which its patcher
	# sets every 5 s: deleting the pod before then would orphan the Secret.
	wait_until 30 "Secret app-files ownerReferences" has_owner e2e-render app-files
	run owner_refs e2e-render app-files
	assert_output SecretProviderClassPodStatus/files-1-e2e-render-files

	# The pod goes, and with its SecretProviderClassPodStatus the Secret.
	run unpublish e2e-render files-1 secrets --delete-pod
	assert_success
	secret_gone() {
		local out
		out=$(kubectl -n e2e-render get secret app-files --ignore-not-found -o name) && [[ -z $out ]]
	}
	wait_until 60 "Secret app-files deleted" secret_gone
}

@test "19. a template over a templateOnly whole secret and a nested value; the templateOnly object writes no file" {
	spc e2e-render templated e2e-render '- objectName: creds
  secretPath: secret/data/e2e/render/app
  templateOnly: true
- objectName: db-host
  secretPath: secret/data/e2e/render/nested
  jmesPath: db.host
- objectName: config/app.properties
  filePermission: 0600
  template: |
    user={{ .creds.data.data.username }}
    password={{ .creds.data.data.password }}
    db={{ index . "db-host" }}'

	run publish e2e-render templated-1 app templated
	assert_success
	local dir
	dir=$(target e2e-render templated-1)
	# A whole-secret object's value has its file's shape (KV v2: .data.data);
	# a jmesPath object's is the value selected.
	assert_content $'user=alice\npassword=s3cr=t!\ndb=db.e2e.test\n' "$dir/config/app.properties"
	assert_mode 600 "$dir/config/app.properties"
	assert_content db.e2e.test "$dir/db-host"
	assert_file_not_exists "$dir/creds"
	run versions e2e-render templated-1 templated
	assert_output --regexp '^config/app.properties=[^ ]+ db-host=[^ ]+$'

	run unpublish e2e-render templated-1
	assert_success
}

@test "20. optional objects: a secret that does not exist, a missing key and a template over it leave their files out" {
	spc e2e-render optional e2e-render '- objectName: username
  secretPath: secret/data/e2e/render/app
  secretKey: username
- objectName: absent.json
  secretPath: secret/data/e2e/render/does-not-exist
  optional: true
- objectName: absent-key
  secretPath: secret/data/e2e/render/app
  secretKey: no-such-key
  optional: true
- objectName: features
  secretPath: secret/data/e2e/render/does-not-exist
  templateOnly: true
  optional: true
- objectName: features.properties
  optional: true
  template: "flag={{ .features.data.data.flag }}"'

	run publish e2e-render optional-1 app optional
	assert_success
	local dir
	dir=$(target e2e-render optional-1)
	assert_content alice "$dir/username"
	assert_file_not_exists "$dir/absent.json"
	assert_file_not_exists "$dir/absent-key"
	# A template over a missing secret.
	assert_file_not_exists "$dir/features.properties"
	assert_file_not_exists "$dir/features"
	run versions e2e-render optional-1 optional
	assert_output --regexp '^username=[^ ]+$'

	# Without optional the same object fails the mount, naming it.
	spc e2e-render required e2e-render '- objectName: absent.json
  secretPath: secret/data/e2e/render/does-not-exist'
	run publish e2e-render optional-2 app required
	assert_failure
	assert_output --partial 'code = NotFound'
	assert_output --partial absent.json

	run unpublish e2e-render optional-1
	assert_success
}
