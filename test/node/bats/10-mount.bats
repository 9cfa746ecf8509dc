#!/usr/bin/env bats
# Case 1: the chart's provider pod serves vault.sock in the driver's provider
# directory; a pod the kubelet starts reads its file from the driver's
# mount and its variable from the synced Secret; a change in Vault reaches
# the file in the running container (requiresRepublish, rotation).

setup_file() {
	load helpers
	new_namespace node-kv app
	kv_app node-kv db first-value
}

setup() { load helpers; }

@test "the provider's DaemonSet pod serves vault.sock in the driver's provider directory" {
	run kubectl -n vault-csi-provider get pods -l app.kubernetes.io/name=vault-csi-provider \
		-o jsonpath='{.items[*].status.containerStatuses[*].ready}'
	assert_output true
	assert [ -S "$PROVIDERS_DIR/vault.sock" ]
	run kubectl -n kube-system get pods -l app=secrets-store-csi-driver \
		-o jsonpath='{range .items[*].status.containerStatuses[*]}{.name}={.ready} {end}'
	assert_output --partial 'secrets-store=true'
	run kubectl get csinode "$NODE_NAME" -o jsonpath='{.spec.drivers[*].name}'
	assert_output secrets-store.csi.k8s.io
}

@test "a pod started by the kubelet reads its file and its variable from the synced Secret" {
	app_pod node-kv reader db db
	kubectl -n node-kv wait --for condition=Ready pod/reader --timeout 90s >/dev/null
	wait_log 30 node-kv reader "file /mnt/secrets/value sha256=$(sha first-value)"
	wait_log 10 node-kv reader "env VALUE sha256=$(sha first-value)"
	run kubectl -n node-kv get secret db -o jsonpath='{.data.value}'
	assert_output "$(printf first-value | base64)"
}

@test "rotation: a change in Vault reaches the file in the running container" {
	vault kv put secret/node-kv/db value=second-value >/dev/null
	wait_log 60 node-kv reader "file /mnt/secrets/value sha256=$(sha second-value)"
	run kubectl -n node-kv get pod reader -o jsonpath='{.status.containerStatuses[0].restartCount}'
	assert_output 0
}
