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

@test "2. secretObjects: synced to a Kubernetes Secret, resynced on rotation (the owner kept), an env source, gone with the pod" {
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
	# Owned by the driver's SecretProviderClassPodStatus for the pod's volume
	# (the pod has no owner of its own), so the garbage collector deletes it
	# with that. The driver's patcher sets it every 5 s.
	wait_until 30 "Secret app-credentials ownerReferences" has_owner e2e-sync app-credentials
	run owner_refs e2e-sync app-credentials
	assert_success
	assert_output SecretProviderClassPodStatus/s1-e2e-sync-synced

	# Rotation. Since v1.6.1 the driver (createOrUpdateK8sSecret) patches
	# the existing Secret's data, so the update keeps the owner; v1.6.0
	# replaced the object and stripped it until its patcher put it back,
	# a window in which a deleted pod left the Secret orphaned for good.
	# A watch records every version of the Secret: none lacks the owner.
	local watch_log=$BATS_TEST_TMPDIR/secret-watch
	kubectl -n e2e-sync get secret app-credentials -w \
		-o jsonpath='{.metadata.resourceVersion} pass={.data.pass} owners={.metadata.ownerReferences[*].name}{"\n"}' \
		>"$watch_log" 2>&1 &
	local watch_pid=$!
	wait_until 30 "the Secret's watch" test -s "$watch_log"
	vault kv put secret/e2e/sync user=alice pass=second >/dev/null
	run republish e2e-sync s1 app synced
	assert_success
	assert_content second "$(target e2e-sync s1)/password"
	pass_is_second() { [[ $(secret_field pass) == second ]]; }
	wait_until 30 "Secret app-credentials updated" pass_is_second
	assert_equal "$(secret_field user)" alice
	# The owner after the update (with v1.6.0, deleting the pod before the
	# patcher restored it raced the garbage collector).
	wait_until 30 "Secret app-credentials ownerReferences after the update" has_owner e2e-sync app-credentials
	run owner_refs e2e-sync app-credentials
	assert_output SecretProviderClassPodStatus/s1-e2e-sync-synced
	owner_in_watch() { grep -q "pass=$(printf second | base64) owners=s1-e2e-sync-synced$" "$watch_log"; }
	wait_until 10 "the watch to see the updated Secret with its owner" owner_in_watch
	kill "$watch_pid"
	wait "$watch_pid" || true
	run grep -c "owners=$" "$watch_log"
	assert_output 0

	# An env var source: the API server accepts a Pod taking DB_PASS from the
	# Secret (it stays Pending: no scheduler, no kubelet), and what a kubelet
	# would inject is the mounted file's content.
	env_pod() {
		kubectl apply "$@" -f - <<-YAML
		apiVersion: v1
		kind: Pod
		metadata:
		  name: env-consumer
		  namespace: e2e-sync
		spec:
		  serviceAccountName: app
		  automountServiceAccountToken: false
		  containers:
		    - name: app
		      image: registry.k8s.io/pause:3.10
		      env:
		        - name: DB_PASS
		          valueFrom:
		            secretKeyRef:
		              name: app-credentials
		              key: pass
		YAML
	}
	run env_pod --dry-run=server
	assert_success
	assert_output 'pod/env-consumer created (server dry run)'
	run env_pod
	assert_success
	assert_output 'pod/env-consumer created'
	run kubectl -n e2e-sync get pod env-consumer \
		-o jsonpath='{.status.phase} {.spec.containers[0].env[0].name}={.spec.containers[0].env[0].valueFrom.secretKeyRef.name}/{.spec.containers[0].env[0].valueFrom.secretKeyRef.key}'
	assert_output 'Pending DB_PASS=app-credentials/pass'
	assert_content "$(secret_field pass)" "$(target e2e-sync s1)/password"
	run kubectl -n e2e-sync delete pod env-consumer --wait=false
	assert_success

	# The pod goes: the driver deletes its SecretProviderClassPodStatus on
	# unpublish, and the garbage collector the Secret it owned.
	run unpublish e2e-sync s1 secrets --delete-pod
	assert_success
	secret_gone() {
		local out
		out=$(kubectl -n e2e-sync get secret app-credentials --ignore-not-found -o name) && [[ -z $out ]]
	}
	wait_until 60 "Secret app-credentials deleted" secret_gone
	run kubectl -n e2e-sync get secretproviderclasspodstatuses s1-e2e-sync-synced
	assert_failure
}
