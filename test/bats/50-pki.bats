#!/usr/bin/env bats
# PKI: a certificate and its key from one issue call.

setup_file() {
	load helpers
	new_namespace e2e-pki web
	vault secrets enable pki >/dev/null
	vault secrets tune -max-lease-ttl=24h pki >/dev/null
	vault write -field=certificate pki/root/generate/internal common_name=e2e-root ttl=24h >/dev/null
	vault write pki/roles/web allowed_domains=e2e.test allow_subdomains=true max_ttl=1h >/dev/null
	vault_policy e2e-pki-issue pki/issue/web update
	k8s_role e2e-pki e2e-pki web e2e-pki-issue
}

setup() {
	load helpers
}

@test "5. PKI issue with PUT and a query string: the certificate and key match" {
	local issue='  secretPath: pki/issue/web?format=pem
  method: PUT
  secretArgs:
    common_name: www.e2e.test
    ttl: 30m'
	spc e2e-pki tls e2e-pki "- objectName: tls.crt
$issue
  secretKey: certificate
- objectName: tls.key
$issue
  secretKey: private_key
  filePermission: 0600
- objectName: ca.crt
$issue
  secretKey: issuing_ca"

	run publish e2e-pki web-1 web tls
	assert_success
	local dir
	dir=$(target e2e-pki web-1)
	assert_mode 644 "$dir/tls.crt"
	assert_mode 600 "$dir/tls.key"

	run openssl x509 -in "$dir/tls.crt" -noout -subject
	assert_output --partial 'CN = www.e2e.test'
	run openssl verify -CAfile "$dir/ca.crt" "$dir/tls.crt"
	assert_success
	# One issue call: the key is the certificate's key.
	local cert_pub key_pub
	cert_pub=$(openssl x509 -in "$dir/tls.crt" -noout -pubkey)
	key_pub=$(openssl pkey -in "$dir/tls.key" -pubout)
	[[ -n $cert_pub && $cert_pub == "$key_pub" ]] || fail "tls.key is not the key of tls.crt"

	run unpublish e2e-pki web-1
	assert_success
}
