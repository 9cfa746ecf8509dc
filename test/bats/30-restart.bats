#!/usr/bin/env bats
# The provider dies mid-suite (SIGKILL: its socket file stays behind) and is
# started again on the same path: it must replace the stale socket, and the
# driver must reach it again without a restart of its own.

setup_file() {
	load helpers
	new_namespace e2e-restart app
	vault kv put secret/e2e/restart greeting=hello >/dev/null
	vault_policy e2e-restart-read secret/data/e2e/restart read
	k8s_role e2e-restart e2e-restart app e2e-restart-read
	spc e2e-restart greeting e2e-restart '- objectName: greeting
  secretPath: secret/data/e2e/restart
  secretKey: greeting'
}

setup() {
	load helpers
}

# Whatever happened above, the next files need a provider.
teardown_file() {
	[[ $E2E_MODE != local ]] || alive provider || start_provider
}

@test "14. the provider restarted with a stale socket keeps serving" {
	local_only "kills the provider process by its PID"
	local sock=$E2E_DIR/providers/vault.sock old_pid
	run publish e2e-restart before app greeting
	assert_success
	assert_content hello "$(target e2e-restart before)/greeting"

	old_pid=$(pid_of provider)
	stop_one provider KILL
	run kill -0 "$old_pid"
	assert_failure
	# SIGKILL gave the provider no chance to clean up: the socket is stale.
	assert [ -S "$sock" ]

	# While it is down, the driver waits for the socket until kubelet's
	# deadline (here 5 s). Either side may notice the deadline first.
	run publish e2e-restart during app greeting --timeout 5s
	assert_failure
	assert_output --regexp 'NodePublishVolume failed: code = (DeadlineExceeded|Canceled)'
	# The driver logs the failure when its own call ends, which may be after
	# the kubelet's deadline has already returned.
	refused_logged() { grep -q 'vault.sock: connect: connection refused' "$E2E_DIR/logs/csi-driver.log"; }
	run wait_until 30 "the driver to log the refused connection" refused_logged
	assert_success
	assert_not_mounted "$(target e2e-restart during)"

	start_provider
	assert [ -S "$sock" ]
	run curl -fsS "http://127.0.0.1:$PROVIDER_HEALTH_PORT/readyz"
	assert_success

	run publish e2e-restart after app greeting
	assert_success
	assert_content hello "$(target e2e-restart after)/greeting"
	assert_mode 644 "$(target e2e-restart after)/greeting"

	# The pod that failed while the provider was down mounts on kubelet's retry.
	run publish e2e-restart during app greeting
	assert_success
	assert_content hello "$(target e2e-restart during)/greeting"

	# The pod mounted before the restart is republished (requiresRepublish).
	sleep 2.1 # the driver's --rotation-poll-interval
	run publish e2e-restart before app greeting --rotation
	assert_success
	assert_content hello "$(target e2e-restart before)/greeting"

	local pod
	for pod in before during after; do
		run unpublish e2e-restart "$pod"
		assert_success
	done
}
