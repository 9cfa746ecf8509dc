#!/usr/bin/env bats
# Case 5: what the kubelet's events say when a mount cannot be made: a
# class that does not exist, a service account Vault's role does not allow
# (the provider's PermissionDenied, as test/bats/20-errors.bats #8 sees it
# from the driver), the provider down.

setup_file() {
	load helpers
	new_namespace node-events app
	kv_app node-events db some-value
	kubectl -n node-events create serviceaccount intruder >/dev/null
}

setup() { load helpers; }

# The provider back on the node, whatever a test left.
teardown_file() {
	load helpers
	kubectl -n vault-csi-provider patch daemonset vault-csi-provider --type json \
		-p '[{"op":"remove","path":"/spec/template/spec/nodeSelector/node-e2e~1provider"}]' >/dev/null 2>&1 || true
	kubectl -n vault-csi-provider rollout status daemonset/vault-csi-provider --timeout 120s >/dev/null
}

@test "a volume naming a SecretProviderClass that does not exist: the event names it" {
	app_pod node-events no-class missing-class
	wait_until 60 "a FailedMount event" eval "events node-events no-class | grep -q '^FailedMount:'"
	run events node-events no-class
	assert_output --partial 'FailedMount'
	assert_output --partial 'missing-class'
	assert_output --partial 'not found'
	run kubectl -n node-events get pod no-class -o jsonpath='{.status.phase}'
	assert_output Pending
}

@test "a service account the role does not allow: the event says PermissionDenied and names the role, never the token" {
	APP_SA=intruder app_pod node-events denied db
	wait_until 60 "a FailedMount event" eval "events node-events denied | grep -q '^FailedMount:'"
	run events node-events denied
	assert_output --partial 'PermissionDenied'
	assert_output --partial 'role "node-events"'
	assert_output --partial 'node-events/intruder'
	refute_output --partial 'eyJ'
	refute_output --partial 'some-value'
}

@test "the provider down (its DaemonSet scheduled away): a FailedMount event, and the pod starts once it is back" {
	kubectl -n vault-csi-provider patch daemonset vault-csi-provider --type merge \
		-p '{"spec":{"template":{"spec":{"nodeSelector":{"node-e2e/provider":"away"}}}}}' >/dev/null
	wait_until 60 "the provider's pod to go" eval '! kubectl -n vault-csi-provider get pods -o name | grep -q .'
	app_pod node-events no-provider db
	# The kubelet's deadline for a mount is 2 minutes.
	wait_until 150 "a FailedMount event" eval "events node-events no-provider | grep -q '^FailedMount:'"
	run events node-events no-provider
	# Seen on this node: 'provider not found: provider "vault"' when the
	# socket is gone, or only DeadlineExceeded after the kubelet's 2 minutes
	# when the driver still held a connection to the provider that went.
	echo "# $output" >&3
	assert_output --partial 'FailedMount'
	assert_output --regexp 'provider not found: provider "vault"|DeadlineExceeded'
	kubectl -n vault-csi-provider patch daemonset vault-csi-provider --type json \
		-p '[{"op":"remove","path":"/spec/template/spec/nodeSelector/node-e2e~1provider"}]' >/dev/null
	kubectl -n vault-csi-provider rollout status daemonset/vault-csi-provider --timeout 120s >/dev/null
	kubectl -n node-events wait --for condition=Ready pod/no-provider --timeout 120s >/dev/null
}
