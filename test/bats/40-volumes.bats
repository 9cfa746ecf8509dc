#!/usr/bin/env bats
# One pod, two CSI volumes, each from its own SecretProviderClass.

setup_file() {
	load helpers
	new_namespace e2e-vol app
	vault kv put secret/e2e/vol/front api-key=front-key >/dev/null
	vault kv put secret/e2e/vol/back db-url=postgres://db:5432/app >/dev/null
	vault_policy e2e-vol-read 'secret/data/e2e/vol/*' read
	k8s_role e2e-vol e2e-vol app e2e-vol-read
	spc e2e-vol front e2e-vol '- objectName: api-key
  secretPath: secret/data/e2e/vol/front
  secretKey: api-key'
	spc e2e-vol back e2e-vol '- objectName: db-url
  secretPath: secret/data/e2e/vol/back
  secretKey: db-url
  filePermission: 0400'
}

setup() {
	load helpers
}

@test "4. one pod, two volumes from two classes" {
	run publish e2e-vol app-1 app front --volume front-secrets --pod-volume back-secrets=back
	assert_success
	run publish e2e-vol app-1 app back --volume back-secrets
	assert_success

	# The Pod object carries both inline volumes.
	run kubectl -n e2e-vol get pod app-1 -o jsonpath='{range .spec.volumes[?(@.csi)]}{.name}={.csi.volumeAttributes.secretProviderClass} {end}'
	assert_output 'back-secrets=back front-secrets=front '

	local front back
	front=$(target e2e-vol app-1 front-secrets)
	back=$(target e2e-vol app-1 back-secrets)
	assert_tmpfs "$front"
	assert_tmpfs "$back"
	assert_content front-key "$front/api-key"
	assert_mode 644 "$front/api-key"
	assert_content postgres://db:5432/app "$back/db-url"
	assert_mode 400 "$back/db-url"
	# Each volume holds its own class's objects only.
	assert_file_not_exists "$front/db-url"
	assert_file_not_exists "$back/api-key"

	run pod_status e2e-vol app-1 front '{.status.objects[*].id}'
	assert_output api-key
	run pod_status e2e-vol app-1 back '{.status.objects[*].id}'
	assert_output db-url

	run unpublish e2e-vol app-1 front-secrets
	assert_success
	run unpublish e2e-vol app-1 back-secrets
	assert_success
	assert_not_mounted "$front"
	assert_not_mounted "$back"
}
