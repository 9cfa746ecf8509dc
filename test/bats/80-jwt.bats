#!/usr/bin/env bats
# jwt auth: Vault checks the pod's token itself, against the keys published by
# the API server's OIDC discovery (jwks_url), with no TokenReview.

setup_file() {
	load helpers
	new_namespace e2e-jwt app other
	vault auth enable jwt >/dev/null
	vault write auth/jwt/config jwks_url="$APISERVER_URL/openid/v1/jwks" \
		jwks_ca_pem=@"$APISERVER_CA" bound_issuer="$SA_ISSUER" >/dev/null
	vault kv put secret/e2e/jwt token=via-jwt >/dev/null
	vault_policy e2e-jwt-read secret/data/e2e/jwt read
	vault write auth/jwt/role/e2e-jwt role_type=jwt bound_audiences=vault user_claim=sub \
		bound_subject=system:serviceaccount:e2e-jwt:app policies=e2e-jwt-read ttl=10m >/dev/null
	spc e2e-jwt via-jwt e2e-jwt '- objectName: token
  secretPath: secret/data/e2e/jwt
  secretKey: token' 'vaultAuthMountPath: jwt'
}

setup() {
	load helpers
}

@test "11. jwt auth with the API server's JWKS" {
	run publish e2e-jwt j1 app via-jwt
	assert_success
	assert_content via-jwt "$(target e2e-jwt j1)/token"

	# The role is bound to one subject: another service account is refused.
	run publish e2e-jwt j2 other via-jwt
	assert_failure
	assert_output --partial 'code = PermissionDenied'
	assert_output --partial 'auth/jwt'

	run unpublish e2e-jwt j1
	assert_success
}
