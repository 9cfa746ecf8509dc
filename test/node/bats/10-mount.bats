#!/usr/bin/env bats
# Case 1: the chart's provider pod serves vault.sock in the driver's provider
# directory, as the image's non-root user (65532), from a directory of its
# own that the prepare-dir init container made; a pod the kubelet starts
# reads its file and a rendered template from the driver's mount and its
# variable from the synced Secret; a change in Vault reaches both files in
# the running container (requiresRepublish, rotation).

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

@test "the provider runs as 65532 in its own directory; the shared provider directory stays root's" {
	local pid
	pid=$(provider_pid)
	# Real, effective, saved and filesystem uids and gids; no capability.
	run grep -E '^(Uid|Gid|CapEff):' "/proc/$pid/status"
	assert_line --regexp '^Uid:\s+65532\s+65532\s+65532\s+65532$'
	assert_line --regexp '^Gid:\s+65532\s+65532\s+65532\s+65532$'
	assert_line --regexp '^CapEff:\s+0+$'
	run stat -c '%u:%g %a' "$PROVIDERS_DIR"
	assert_output '0:0 755'
	run stat -c '%u:%g %a' "$PROVIDERS_DIR/vault"
	assert_output '65532:65532 700'
	run stat -c '%u:%g %F' "$PROVIDERS_DIR/vault/vault.sock"
	assert_output '65532:65532 socket'
	run readlink "$PROVIDERS_DIR/vault.sock"
	assert_output vault/vault.sock
	# The init container said what it did.
	run kubectl -n vault-csi-provider logs daemonset/vault-csi-provider -c prepare-dir
	assert_output --partial 'vault.sock -> vault/vault.sock'
}

@test "a pod started by the kubelet reads its file, a rendered template and its variable from the synced Secret" {
	app_pod node-kv reader db db
	kubectl -n node-kv wait --for condition=Ready pod/reader --timeout 90s >/dev/null
	wait_log 30 node-kv reader "file /mnt/secrets/value sha256=$(sha first-value)"
	wait_log 10 node-kv reader "file /mnt/secrets/rendered.conf sha256=$(sha "$(rendered first-value)")"
	wait_log 10 node-kv reader "env VALUE sha256=$(sha first-value)"
	run kubectl -n node-kv get secret db -o jsonpath='{.data.value}'
	assert_output "$(printf first-value | base64)"
}

@test "rotation: a change in Vault reaches the file and the template in the running container" {
	vault kv put secret/node-kv/db value=second-value >/dev/null
	wait_log 60 node-kv reader "file /mnt/secrets/value sha256=$(sha second-value)"
	wait_log 30 node-kv reader "file /mnt/secrets/rendered.conf sha256=$(sha "$(rendered second-value)")"
	# The state file, written by the provider's user beside its socket.
	run stat -c '%u %a' "$PROVIDERS_DIR/vault/vault.state"
	assert_output '65532 600'
	run kubectl -n node-kv get pod reader -o jsonpath='{.status.containerStatuses[0].restartCount}'
	assert_output 0
}
