#!/usr/bin/env bats
# Mounts that must fail, and fail with an error kubelet (and so the pod's
# events) shows clearly. Nothing may be left mounted or written.

setup_file() {
	load helpers
	new_namespace e2e-err-a app intruder
	new_namespace e2e-err-b app
	vault kv put secret/e2e/err token=only-for-a >/dev/null
	vault_policy e2e-err-read secret/data/e2e/err read
	k8s_role e2e-err-a e2e-err-a app e2e-err-read
	k8s_role e2e-err-b e2e-err-b app e2e-err-read
	spc e2e-err-a only-in-a e2e-err-a '- objectName: token
  secretPath: secret/data/e2e/err
  secretKey: token'
}

setup() {
	load helpers
}

# assert_nothing_written NS POD: the failed publish left no mount and no file.
assert_nothing_written() {
	local dir
	dir=$(target "$1" "$2")
	assert_not_mounted "$dir"
	if [[ -d $dir ]]; then
		run ls -A "$dir"
		assert_output ''
	fi
}

@test "3. a SecretProviderClass from another namespace cannot be used" {
	# The class exists, and works, in e2e-err-a ...
	run publish e2e-err-a owner app only-in-a
	assert_success
	assert_content only-for-a "$(target e2e-err-a owner)/token"

	# ... but a pod in e2e-err-b naming it gets no class: the driver looks it
	# up in the pod's own namespace only.
	run publish e2e-err-b thief app only-in-a
	assert_failure
	assert_output --partial 'NodePublishVolume failed'
	assert_output --partial 'failed to get secretproviderclass e2e-err-b/only-in-a'
	assert_output --partial '"only-in-a" not found'
	assert_nothing_written e2e-err-b thief

	run unpublish e2e-err-a owner
	assert_success
}

@test "8. a service account the role does not allow is denied with PermissionDenied" {
	run publish e2e-err-a denied intruder only-in-a
	assert_failure
	# The provider's code and message, through the driver's error.
	assert_output --partial 'code = PermissionDenied'
	assert_output --partial 'login to Vault as role "e2e-err-a" at auth/kubernetes for e2e-err-a/intruder'
	assert_output --partial 'service account name not authorized'
	assert_nothing_written e2e-err-a denied
	# No token or secret value in the error.
	refute_output --partial only-for-a
	refute_output --partial 'eyJ'
}

@test "13. a malformed SecretProviderClass gives InvalidArgument naming every problem" {
	spc e2e-err-a malformed e2e-err-a '- objectName: ../escape
  secretPath: secret/data/e2e/err
  secretKey: token
- objectName: token
  secretPath: secret/data/e2e/err
  secretkey: token
- objectName: mode
  secretPath: secret/data/e2e/err
  secretKey: token
  filePermission: 01777'

	run publish e2e-err-a malformed app malformed
	assert_failure
	assert_output --partial 'code = InvalidArgument'
	# Every problem at once, each naming its object.
	assert_output --partial 'object "../escape": objectName'
	assert_output --partial 'object "token": unknown field "secretkey": did you mean "secretKey"?'
	assert_output --partial 'object "mode": filePermission 01777'
	assert_nothing_written e2e-err-a malformed
}
