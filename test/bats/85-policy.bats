#!/usr/bin/env bats
# The cluster admin's node policy (-policy-file) through the real driver: a
# class, or a pod's inline volumeAttributes, asking for what the policy does
# not allow is refused with PermissionDenied before any call to Vault; a
# namespace matched by label is held to its role and path prefix; a policy
# changed while the provider runs applies to the next mount.

setup_file() {
	load helpers
	local_only "rewrites the provider's policy file"
	new_namespace e2e-pol-a app
	new_namespace e2e-pol-b app
	kubectl label namespace e2e-pol-a team=alpha >/dev/null
	vault kv put secret/e2e/pol/a/db password=alpha-secret >/dev/null
	vault kv put secret/e2e/pol/b/db password=beta-secret >/dev/null
	vault_policy e2e-pol-read 'secret/data/e2e/pol/*' read
	k8s_role e2e-pol-a e2e-pol-a app e2e-pol-read
	k8s_role e2e-pol-b e2e-pol-b app e2e-pol-read
	spc e2e-pol-a own e2e-pol-a '- objectName: db
  secretPath: secret/data/e2e/pol/a/db
  secretKey: password'
	spc e2e-pol-a other-path e2e-pol-a '- objectName: db
  secretPath: secret/data/e2e/pol/b/db
  secretKey: password'
	spc e2e-pol-a elsewhere e2e-pol-a '- objectName: db
  secretPath: secret/data/e2e/pol/a/db
  secretKey: password' 'vaultAddress: http://169.254.169.254:80'
	spc e2e-pol-b own e2e-pol-b '- objectName: db
  secretPath: secret/data/e2e/pol/b/db
  secretKey: password'
	# What the chart grants when a rule matches by label.
	kubectl create clusterrole e2e-pol-namespaces --verb=list,watch --resource=namespaces >/dev/null
	kubectl create clusterrolebinding e2e-pol-namespaces --clusterrole=e2e-pol-namespaces \
		--serviceaccount=vault-csi-provider:vault-csi-provider >/dev/null
	write_policy "$(policy_for secret/data/e2e/pol/a/)"
}

setup() {
	load helpers
}

teardown_file() {
	[[ $E2E_MODE == local ]] || return 0
	write_policy '{}'
	kubectl delete clusterrolebinding e2e-pol-namespaces --ignore-not-found >/dev/null
	kubectl delete clusterrole e2e-pol-namespaces --ignore-not-found >/dev/null
}

# policy_for PREFIX: the stack's Vault only; namespaces labelled team=alpha
# may use the role e2e-pol-a and paths under PREFIX; any other namespace
# only its own role.
policy_for() {
	cat <<-YAML
	vaultAddresses: ["$VAULT_ADDR"]
	classMayNotSet: [vaultSkipTLSVerify]
	rules:
	  - name: alpha
	    namespaces: {labels: {team: alpha}}
	    roles: [e2e-pol-a]
	    serviceAccounts: [app]
	    secretPaths:
	      - prefix: $1
	        methods: [GET]
	default:
	  roles: ["e2e-pol-b", "e2e-*"]
	YAML
}

# write_policy CONTENT: replace the policy file, then wait until the provider
# has read it (policy_reloads_total grows) or, for a file that does not
# parse, has refused it.
write_policy() {
	local before after
	before=$(reloads)
	printf '%s\n' "$1" >"$E2E_DIR/policy.yaml.new"
	mv "$E2E_DIR/policy.yaml.new" "$E2E_DIR/policy.yaml"
	wait_until 10 "the provider to read its policy" reloaded "$before"
}

reloads() {
	echo $(($(provider_metric 'vault_csi_provider_policy_reloads_total{result="ok"}') + \
		$(provider_metric 'vault_csi_provider_policy_reloads_total{result="error"}')))
}
reloaded() { (($(reloads) > $1)); }

@test "24. a class naming a Vault address outside the policy is refused before any call" {
	local logins
	logins=$(provider_metric 'vault_csi_provider_logins_total{result="ok"}')
	run publish e2e-pol-a elsewhere app elsewhere
	assert_failure
	assert_output --partial 'code = PermissionDenied'
	assert_output --partial 'refused by the node'"'"'s policy: vaultAddresses does not allow vaultAddress "http://169.254.169.254:80"'
	assert_not_mounted "$(target e2e-pol-a elsewhere)"
	assert_equal "$(provider_metric 'vault_csi_provider_logins_total{result="ok"}')" "$logins"
	assert_equal "$(provider_metric 'vault_csi_provider_policy_denials_total{rule="vaultAddresses"}')" 1
}

@test "25. a pod's inline volumeAttributes cannot override vaultAddress or TLS verification" {
	run publish e2e-pol-a inline app own --volume-context "vaultAddress=http://127.0.0.1:1"
	assert_failure
	assert_output --partial 'vaultAddresses does not allow vaultAddress "http://127.0.0.1:1"'

	run publish e2e-pol-a inline-tls app own --volume-context "vaultSkipTLSVerify=true"
	assert_failure
	assert_output --partial 'classMayNotSet does not let a class or a pod'"'"'s volumeAttributes set vaultSkipTLSVerify'

	# A pod without the override mounts. (A new pod: the driver, with
	# rotation on, answers a retry of the same target within its poll
	# interval without mounting.)
	run publish e2e-pol-a plain app own
	assert_success
	assert_content alpha-secret "$(target e2e-pol-a plain)/db"
	unpublish e2e-pol-a plain
}

@test "26. a namespace matched by label is held to its role and path prefix" {
	run publish e2e-pol-a reader app own
	assert_success
	assert_content alpha-secret "$(target e2e-pol-a reader)/db"
	unpublish e2e-pol-a reader

	# Another team's path, though Vault's role would allow it.
	run publish e2e-pol-a thief app other-path
	assert_failure
	assert_output --partial 'code = PermissionDenied'
	assert_output --partial 'rule "alpha" does not allow secretPath "secret/data/e2e/pol/b/db" of object "db"'
	refute_output --partial beta-secret

	# A namespace without the label falls to the default rule.
	run publish e2e-pol-b reader app own
	assert_success
	assert_content beta-secret "$(target e2e-pol-b reader)/db"
	unpublish e2e-pol-b reader
}

@test "27. a policy changed while the provider runs applies to the next mount; a broken one keeps the last" {
	run publish e2e-pol-a mover app other-path
	assert_failure
	assert_output --partial 'rule "alpha" does not allow secretPath'

	# The admin widens alpha's prefix.
	write_policy "$(policy_for secret/data/e2e/pol/)"
	run publish e2e-pol-a mover1 app other-path
	assert_success
	assert_content beta-secret "$(target e2e-pol-a mover1)/db"
	unpublish e2e-pol-a mover1

	# A typo: the provider keeps the widened policy and says so.
	write_policy 'rules: [{name: alpha, roles: e2e-pol-a}]'
	assert_equal "$(provider_metric vault_csi_provider_policy_file_valid)" 0
	run publish e2e-pol-a mover2 app other-path
	assert_success
	unpublish e2e-pol-a mover2
	run grep -c 'node policy file invalid' "$E2E_DIR/logs/provider.log"
	assert_output 1

	write_policy "$(policy_for secret/data/e2e/pol/a/)"
	assert_equal "$(provider_metric vault_csi_provider_policy_file_valid)" 1
	run publish e2e-pol-a mover3 app other-path
	assert_failure
	assert_output --partial 'rule "alpha" does not allow secretPath'
}
