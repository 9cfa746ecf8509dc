#!/usr/bin/env bats
# Case 4: serviceAccountTokenInSecrets on the CSIDriver (the driver's chart
# sets it on Kubernetes 1.35 and later when tokenRequests is set): the
# kubelet passes the pod's token in the request's secrets; the mount works
# and no service-account token appears in any log of the provider, the
# driver, the kubelet or containerd.

setup_file() {
	load helpers
	new_namespace node-token app
	kv_app node-token db token-case
}

setup() { load helpers; }

@test "the CSIDriver asks for the token in secrets, and the mount works" {
	run kubectl get csidriver secrets-store.csi.k8s.io -o jsonpath='{.spec.serviceAccountTokenInSecrets} {.spec.tokenRequests[*].audience}'
	assert_output 'true vault'
	app_pod node-token reader db db
	kubectl -n node-token wait --for condition=Ready pod/reader --timeout 90s >/dev/null
	wait_log 30 node-token reader "file /mnt/secrets/value sha256=$(sha token-case)"
}

@test "no token in the logs of the provider, the driver, the kubelet or containerd" {
	local logs=() f
	# Every container's log on the node, and the host processes'.
	while read -r f; do logs+=("$f"); done < <(find "$E2E_DIR/pod-logs" -name '*.log')
	logs+=("$E2E_DIR/logs/kubelet.log" "$E2E_DIR/logs/containerd.log")
	assert [ "${#logs[@]}" -ge 5 ]
	# A JWT's header: base64 of '{"alg":"RS256",...'; and Vault tokens.
	run grep -lE 'eyJhbGciOi[A-Za-z0-9_-]*\.eyJ|hvs\.[A-Za-z0-9]{20}' "${logs[@]}"
	assert_failure 1
	assert_output ''
}
