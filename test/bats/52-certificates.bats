#!/usr/bin/env bats
# Certificates kept until due: a PKI role without generate_lease issues a new
# certificate on every read; the provider keeps each pod's and returns it on
# republish (until two thirds of its validity), unless the class says
# certificateReuse: "false".

setup_file() {
	load helpers
	new_namespace e2e-cert web
	# A PKI mount of this file's own, so that it runs alone too and counts
	# only its own certificates.
	vault secrets enable -path=pki-kept pki >/dev/null
	vault secrets tune -max-lease-ttl=24h pki-kept >/dev/null
	vault write -field=certificate pki-kept/root/generate/internal common_name=e2e-kept-root ttl=24h >/dev/null
	# No generate_lease: every issue call is a new certificate with no lease.
	vault write pki-kept/roles/web allowed_domains=e2e.test allow_subdomains=true max_ttl=1h >/dev/null
	vault_policy e2e-cert-issue pki-kept/issue/web update
	k8s_role e2e-cert e2e-cert web e2e-cert-issue
}

setup() {
	load helpers
}

# Both files from one request: the same path, method and arguments.
objects='- objectName: tls.crt
  secretPath: pki-kept/issue/web
  method: PUT
  secretArgs:
    common_name: www.e2e.test
    ttl: 1h
  secretKey: certificate
- objectName: tls.key
  secretPath: pki-kept/issue/web
  method: PUT
  secretArgs:
    common_name: www.e2e.test
    ttl: 1h
  secretKey: private_key
  filePermission: 0600'

# serial DIR: the serial of DIR/tls.crt ("serial=...").
serial() { openssl x509 -in "$1/tls.crt" -noout -serial; }

# assert_key_matches DIR: DIR/tls.key is the key of DIR/tls.crt.
assert_key_matches() {
	local cert_pub key_pub
	cert_pub=$(openssl x509 -in "$1/tls.crt" -noout -pubkey)
	key_pub=$(openssl pkey -in "$1/tls.key" -pubout)
	[[ -n $cert_pub && $cert_pub == "$key_pub" ]] || fail "$1/tls.key is not the key of tls.crt"
}

# issued: how many certificates the pki-kept mount holds (its root included).
issued() { vault list -format=json pki-kept/certs | jq length; }

# reused: the provider's count of certificates returned on republish (local
# stack only: kind exposes no metrics port here).
reused() { provider_metric 'vault_csi_provider_certificates_total{event="reused"}'; }

@test "21. a certificate without a lease is kept per pod: the same serial and versions on republish, another pod its own" {
	spc e2e-cert kept e2e-cert "$objects"
	local before
	before=$(issued)

	run publish e2e-cert web-1 web kept
	assert_success
	local dir s1 v1 key1
	dir=$(target e2e-cert web-1)
	assert_mode 600 "$dir/tls.key"
	assert_key_matches "$dir"
	s1=$(serial "$dir")
	v1=$(versions e2e-cert web-1 kept)
	key1=$(sha256sum <"$dir/tls.key")
	assert_equal "$(wc -w <<<"$v1")" 2
	# One issue call for both files.
	assert_equal "$(issued)" "$((before + 1))"

	# Republished as kubelet does: each reaches the provider, which returns
	# the kept certificate; Vault issues none.
	local i r0
	[[ $E2E_MODE != local ]] || r0=$(reused)
	for i in 1 2 3; do
		run republish e2e-cert web-1 web kept
		assert_success
		assert_equal "$(serial "$dir")" "$s1"
		assert_equal "$(sha256sum <"$dir/tls.key")" "$key1"
		assert_key_matches "$dir"
		assert_equal "$(versions e2e-cert web-1 kept)" "$v1"
	done
	assert_equal "$(issued)" "$((before + 1))"
	if [[ $E2E_MODE == local ]]; then
		(($(reused) >= r0 + 3)) || fail "the provider reused $(($(reused) - r0)) certificates over 3 republishes"
	fi

	# Another pod of the same class gets a certificate of its own.
	run publish e2e-cert web-2 web kept
	assert_success
	local dir2 s2
	dir2=$(target e2e-cert web-2)
	assert_key_matches "$dir2"
	s2=$(serial "$dir2")
	[[ $s2 != "$s1" ]] || fail "web-2 got web-1's certificate ($s1)"
	assert_equal "$(issued)" "$((before + 2))"

	# ...and the first pod keeps its own.
	run republish e2e-cert web-1 web kept
	assert_success
	assert_equal "$(serial "$dir")" "$s1"
	assert_key_matches "$dir"
	assert_equal "$(versions e2e-cert web-1 kept)" "$v1"
	run republish e2e-cert web-2 web kept
	assert_success
	assert_equal "$(serial "$dir2")" "$s2"
	assert_equal "$(issued)" "$((before + 2))"

	run unpublish e2e-cert web-1
	assert_success
	run unpublish e2e-cert web-2
	assert_success
}

@test "22. certificateReuse: \"false\": a new certificate on every republish, as the reference does" {
	spc e2e-cert fresh e2e-cert "$objects" 'certificateReuse: "false"'
	local before
	before=$(issued)

	run publish e2e-cert fresh-1 web fresh
	assert_success
	local dir s1 v1
	dir=$(target e2e-cert fresh-1)
	assert_key_matches "$dir"
	s1=$(serial "$dir")
	v1=$(version_of e2e-cert fresh-1 fresh tls.crt)
	assert_equal "$(issued)" "$((before + 1))"

	run republish e2e-cert fresh-1 web fresh
	assert_success
	local s2
	s2=$(serial "$dir")
	[[ $s2 != "$s1" ]] || fail "the republish kept certificate $s1"
	# Still one issue call for both files: the new key is the new certificate's.
	assert_key_matches "$dir"
	assert_not_equal "$(version_of e2e-cert fresh-1 fresh tls.crt)" "$v1"
	assert_equal "$(issued)" "$((before + 2))"

	run republish e2e-cert fresh-1 web fresh
	assert_success
	[[ $(serial "$dir") != "$s2" ]] || fail "the second republish kept certificate $s2"
	assert_key_matches "$dir"
	assert_equal "$(issued)" "$((before + 3))"

	run unpublish e2e-cert fresh-1
	assert_success
}
