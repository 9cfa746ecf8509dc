#!/usr/bin/env bats
# secretObjects: the driver copies mounted objects into a Kubernetes Secret.

setup_file() {
	load helpers
	new_namespace e2e-sync app
	vault kv put secret/e2e/sync user=alice pass=first >/dev/null
	vault_policy e2e-sync-read secret/data/e2e/sync read
	k8s_role e2e-sync e2e-sync app e2e-sync-read
	kubectl apply -f - >/dev/null <<-YAML
	apiVersion: secrets-store.csi.x-k8s.io/v1
	kind: SecretProviderClass
	metadata:
	  name: synced
	  namespace: e2e-sync
	spec:
	  provider: vault
	  secretObjects:
	    - secretName: app-credentials
	      type: Opaque
	      labels:
	        team: e2e
	      data:
	        - objectName: username
	          key: user
	        - objectName: password
	          key: pass
	  parameters:
	    roleName: e2e-sync
	    objects: |
	      - objectName: username
	        secretPath: secret/data/e2e/sync
	        secretKey: user
	      - objectName: password
	        secretPath: secret/data/e2e/sync
	        secretKey: pass
	        filePermission: 0600
	YAML
}

setup() {
	load helpers
}

secret_field() {
	kubectl -n e2e-sync get secret app-credentials -o jsonpath="{.data.$1}" | base64 -d
}

@test "2. secretObjects: mounted objects synced to a Kubernetes Secret, and resynced on rotation" {
	# The driver syncs only for pods on its own node; in kind the test pods
	# are on a node no kubelet runs.
	local_only "the test pods are not on the driver's node"
	run publish e2e-sync s1 app synced
	assert_success
	assert_content first "$(target e2e-sync s1)/password"
	assert_mode 600 "$(target e2e-sync s1)/password"

	wait_until 30 "Secret app-credentials" kubectl -n e2e-sync get secret app-credentials
	assert_equal "$(secret_field user)" alice
	assert_equal "$(secret_field pass)" first
	run kubectl -n e2e-sync get secret app-credentials \
		-o jsonpath='{.type} {.metadata.labels.team} {.metadata.labels.secrets-store\.csi\.k8s\.io/managed}'
	assert_output 'Opaque e2e true'

	vault kv put secret/e2e/sync user=alice pass=second >/dev/null
	run republish e2e-sync s1 app synced
	assert_success
	assert_content second "$(target e2e-sync s1)/password"
	pass_is_second() { [[ $(secret_field pass) == second ]]; }
	wait_until 30 "Secret app-credentials updated" pass_is_second
	assert_equal "$(secret_field user)" alice

	run unpublish e2e-sync s1
	assert_success
}
