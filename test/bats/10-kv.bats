#!/usr/bin/env bats
# KV secrets through the whole chain: e2e-kubelet → driver → provider → Vault.

setup_file() {
	load helpers
	new_namespace e2e-kv app
	vault kv put secret/e2e/app username=alice 'password=s3cr=t!' >/dev/null
	vault secrets enable -path=kv1 -version=1 kv >/dev/null
	vault kv put kv1/e2e/db password=hunter2 port=5432 >/dev/null
	vault_policy e2e-kv-read secret/data/e2e/app read
	vault_policy e2e-kv1-read kv1/e2e/db read
	k8s_role e2e-kv e2e-kv app e2e-kv-read,e2e-kv1-read
}

setup() {
	load helpers
}

@test "1. inline volume with KV v2 secrets: contents, per-object filePermission, tmpfs, pod status" {
	spc e2e-kv kv2 e2e-kv '- objectName: username
  secretPath: secret/data/e2e/app
  secretKey: username
- objectName: creds/password
  secretPath: secret/data/e2e/app
  secretKey: password
  filePermission: 0600
- objectName: app.json
  secretPath: /v1/secret/data/e2e/app'

	run publish e2e-kv web-1 app kv2
	assert_success
	local dir
	dir=$(target e2e-kv web-1)
	assert_tmpfs "$dir"
	assert_content alice "$dir/username"
	assert_mode 644 "$dir/username"
	assert_content 's3cr=t!' "$dir/creds/password"
	assert_mode 600 "$dir/creds/password"
	# Without secretKey: Vault's whole response, as the reference writes it
	# (KV v2's data and metadata are under .data).
	run jq -r '.data.data.username + " " + .data.data.password + " v" + (.data.metadata.version | tostring)' "$dir/app.json"
	assert_output 'alice s3cr=t! v1'
	assert_mode 644 "$dir/app.json"

	# The driver recorded the mount, with a version for every object.
	run pod_status e2e-kv web-1 kv2 '{.status.mounted} {range .status.objects[*]}{.id}={.version} {end}'
	assert_success
	assert_output --regexp '^true '
	assert_output --regexp 'username=[^ ]+ '
	assert_output --regexp 'creds/password=[^ ]+ '
	assert_output --regexp 'app.json=[^ ]+ '

	run unpublish e2e-kv web-1
	assert_success
	assert_not_mounted "$dir"
	assert_file_not_exists "$dir/username"
}

@test "12. KV v1 secret" {
	spc e2e-kv kv1 e2e-kv '- objectName: db-password
  secretPath: kv1/e2e/db
  secretKey: password
- objectName: db.json
  secretPath: kv1/e2e/db
  filePermission: 0440'

	run publish e2e-kv web-2 app kv1
	assert_success
	local dir
	dir=$(target e2e-kv web-2)
	assert_content hunter2 "$dir/db-password"
	assert_mode 644 "$dir/db-password"
	# KV v1 has no data.data wrapping: the secret is the response's data.
	run jq -c '[.request_id, .lease_duration > 0, .data]' "$dir/db.json"
	assert_output '["",true,{"password":"hunter2","port":"5432"}]'
	assert_mode 440 "$dir/db.json"

	run unpublish e2e-kv web-2
	assert_success
	assert_not_mounted "$dir"
}

@test "23. vaultAddress lists an address that refuses connections before Vault: the mount moves on at once" {
	local_only "the list names the loopback Vault"
	spc e2e-kv listed e2e-kv '- objectName: username
  secretPath: secret/data/e2e/app
  secretKey: username' "vaultAddress: http://127.0.0.1:1,$VAULT_ADDR"
	local series='vault_csi_provider_vault_retries_total{event="next_node"}' before
	before=$(provider_metric "$series")

	run publish e2e-kv web-23 app listed
	assert_success
	assert_content alice "$(target e2e-kv web-23)/username"
	(( $(provider_metric "$series") > before )) || fail "no try moved on to the next address"

	run unpublish e2e-kv web-23
	assert_success
}
