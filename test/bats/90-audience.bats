#!/usr/bin/env bats
# Token audiences: kubelet sends the pod's token for the CSIDriver's
# tokenRequests audience (vault) only. A class asking for another audience,
# or a mount with no token at all, makes the provider ask the TokenRequest API
# for one bound to the pod (its ClusterRole allows serviceaccounts/token).

setup_file() {
	load helpers
	new_namespace e2e-aud app
	vault kv put secret/e2e/aud token=custom >/dev/null
	vault_policy e2e-aud-read secret/data/e2e/aud read
	vault write auth/kubernetes/role/e2e-aud-custom bound_service_account_names=app \
		bound_service_account_namespaces=e2e-aud policies=e2e-aud-read audience=custom-aud ttl=10m >/dev/null
	k8s_role e2e-aud-vault e2e-aud app e2e-aud-read
	local objects='- objectName: token
  secretPath: secret/data/e2e/aud
  secretKey: token'
	spc e2e-aud custom e2e-aud-custom "$objects" 'audience: custom-aud'
	spc e2e-aud default e2e-aud-vault "$objects"
	spc e2e-aud mismatch e2e-aud-custom "$objects"
}

setup() {
	load helpers
}

@test "9. custom audience: the provider falls back to the TokenRequest API" {
	# The role only takes custom-aud tokens: the vault token kubelet sends is
	# refused, so a working mount proves the provider got its own token.
	run publish e2e-aud mismatch app mismatch
	assert_failure
	assert_output --partial 'code = PermissionDenied'

	run publish e2e-aud a1 app custom
	assert_success
	assert_content custom "$(target e2e-aud a1)/token"

	# No token from kubelet at all (a CSIDriver without tokenRequests).
	run publish e2e-aud a2 app default --no-token
	assert_success
	assert_content custom "$(target e2e-aud a2)/token"

	run unpublish e2e-aud a1
	assert_success
	run unpublish e2e-aud a2
	assert_success
}

@test "15. the offline check reads the pod from the API server and requests its token" {
	# The pod must exist for its UID and service account to be read.
	run publish e2e-aud a3 app custom
	assert_success
	local class="$BATS_TEST_TMPDIR/custom.yaml"
	kubectl -n e2e-aud get secretproviderclass custom -o yaml >"$class"

	# KUBECONFIG and VAULT_ADDR come from the stack's env; the class asks for
	# audience custom-aud, which only the TokenRequest API can supply here.
	run "$ROOT/bin/vault-csi-provider" mount -f "$class" -pod-name a3 -dry-run
	assert_success
	assert_line --regexp '^token +token +0600 +6 +[0-9a-f]{12}$'

	run "$ROOT/bin/vault-csi-provider" mount -f "$class" -pod-name missing -dry-run
	assert_failure
	assert_output --partial 'read pod e2e-aud/missing'
	assert_output --partial 'not found'

	run unpublish e2e-aud a3
	assert_success
}
