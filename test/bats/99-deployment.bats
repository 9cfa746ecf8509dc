#!/usr/bin/env bats
# deployment/ against this real API server: the rendered Helm chart and
# kustomize base (make deploy-check with DEPLOY_CHECK_KUBECONFIG), and the
# examples, the SecretProviderClass validated by the driver's CRD.

setup() {
	load helpers
}

@test "deployment manifests and examples pass a server-side dry run" {
	run env DEPLOY_CHECK_KUBECONFIG="$KUBECONFIG" make -C "$ROOT" deploy-check
	assert_success
	assert_output --partial '== server-side dry run'
	assert_output --partial 'daemonset.apps/vault-csi-provider created (server dry run)'
	assert_output --partial 'clusterrole.rbac.authorization.k8s.io/vault-csi-provider'
	refute_output --partial 'skipped'

	# The example pod's ServiceAccount must exist for the pod's dry run (a dry
	# run of the file's own ServiceAccount is not persisted).
	kubectl -n default create serviceaccount web >/dev/null
	run "$ROOT/deployment/scripts/server-dry-run.sh" "$ROOT"/deployment/examples/*.yaml
	assert_success
	assert_output --partial 'secretproviderclass.secrets-store.csi.x-k8s.io/web-vault created (server dry run)'
	assert_output --partial 'pod/web created (server dry run)'
	assert_output --partial 'csidriver.storage.k8s.io/secrets-store.csi.k8s.io configured (server dry run)'
	# Nothing was stored.
	run kubectl -n default get secretproviderclass web-vault
	assert_failure
}
