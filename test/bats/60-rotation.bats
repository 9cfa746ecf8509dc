#!/usr/bin/env bats
# Rotation: the driver runs with --enable-secret-rotation and
# --rotation-poll-interval 2s; kubelet republishes mounted volumes
# (requiresRepublish), and each republish fetches the objects again.

setup_file() {
	load helpers
	new_namespace e2e-rot app
	vault kv put secret/e2e/rot stable=same rotating=first >/dev/null
	vault_policy e2e-rot-read secret/data/e2e/rot read
	k8s_role e2e-rot e2e-rot app e2e-rot-read
	spc e2e-rot rot e2e-rot '- objectName: stable
  secretPath: secret/data/e2e/rot
  secretKey: stable
- objectName: rotating
  secretPath: secret/data/e2e/rot
  secretKey: rotating'
}

setup() {
	load helpers
}

hmac_key() {
	kubectl -n "$PROVIDER_NAMESPACE" get secret vault-csi-provider-hmac-key -o jsonpath='{.data.key}'
}

@test "10. rotation: versions stable while unchanged, new on change; the HMAC key Secret is recreated if deleted" {
	run publish e2e-rot r1 app rot
	assert_success
	local dir v1 v2 key1 key2
	dir=$(target e2e-rot r1)
	v1=$(versions e2e-rot r1 rot)
	assert_equal "$(wc -w <<<"$v1")" 2

	# Unchanged secret: the republish fetches it again, with the same versions.
	run republish e2e-rot r1 app rot
	assert_success
	assert_equal "$(versions e2e-rot r1 rot)" "$v1"
	assert_content first "$dir/rotating"

	# A new value in Vault: that object gets a new version and content, the
	# other keeps its version.
	local stable_v rotating_v
	stable_v=$(version_of e2e-rot r1 rot stable)
	rotating_v=$(version_of e2e-rot r1 rot rotating)
	vault kv put secret/e2e/rot stable=same rotating=second >/dev/null
	run republish e2e-rot r1 app rot
	assert_success
	assert_content second "$dir/rotating"
	assert_content same "$dir/stable"
	assert_equal "$(version_of e2e-rot r1 rot stable)" "$stable_v"
	assert_not_equal "$(version_of e2e-rot r1 rot rotating)" "$rotating_v"
	v2=$(versions e2e-rot r1 rot)

	# The version key lives in a Secret in the provider's namespace.
	key1=$(hmac_key)
	[[ -n $key1 ]] || fail "no HMAC key Secret"
	kubectl -n "$PROVIDER_NAMESPACE" delete secret vault-csi-provider-hmac-key >/dev/null
	# A running provider keeps its key in memory: versions do not move.
	run republish e2e-rot r1 app rot
	assert_success
	assert_equal "$(versions e2e-rot r1 rot)" "$v2"

	# A provider that starts without the Secret creates a new key; the
	# versions change once (same content), then hold again.
	restart_provider
	run republish e2e-rot r1 app rot
	assert_success
	key2=$(hmac_key)
	[[ -n $key2 && $key2 != "$key1" ]] || fail "HMAC key Secret not recreated with a new key"
	local v3
	v3=$(versions e2e-rot r1 rot)
	assert_not_equal "$v3" "$v2"
	assert_content second "$dir/rotating"
	run republish e2e-rot r1 app rot
	assert_success
	assert_equal "$(versions e2e-rot r1 rot)" "$v3"

	run unpublish e2e-rot r1
	assert_success
}
