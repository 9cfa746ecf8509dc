package config

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// Getenv reads an environment variable; os.Getenv in production.
type Getenv func(string) string

// vaultFlags registers the node-wide Vault defaults shared by the daemon and
// the offline check. Environment variables give each flag's default, so the
// order of precedence is environment < flag < SecretProviderClass.
func vaultFlags(fs *flag.FlagSet, getenv Getenv) (*spc.Defaults, func() error) {
	d := &spc.Defaults{}
	envOr := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&d.Vault.Address, "vault-addr", envOr("VAULT_ADDR", "https://127.0.0.1:8200"), "default Vault address (env VAULT_ADDR): https://host:8200, several addresses of one cluster separated by commas, or unix:///path for a Vault Agent socket")
	fs.StringVar(&d.Vault.Namespace, "vault-namespace", getenv("VAULT_NAMESPACE"), "default Vault namespace (env VAULT_NAMESPACE)")
	fs.StringVar(&d.Vault.CACert, "vault-tls-ca-cert", getenv("VAULT_CACERT"), "PEM CA certificate file to trust for Vault (env VAULT_CACERT)")
	fs.StringVar(&d.Vault.CADirectory, "vault-tls-ca-directory", getenv("VAULT_CAPATH"), "directory of PEM CA certificates to trust for Vault (env VAULT_CAPATH)")
	fs.StringVar(&d.Vault.TLSServerName, "vault-tls-server-name", getenv("VAULT_TLS_SERVER_NAME"), "server name to verify in Vault's certificate (env VAULT_TLS_SERVER_NAME)")
	fs.StringVar(&d.Vault.ClientCert, "vault-tls-client-cert", getenv("VAULT_CLIENT_CERT"), "PEM client certificate for Vault (env VAULT_CLIENT_CERT)")
	fs.StringVar(&d.Vault.ClientKey, "vault-tls-client-key", getenv("VAULT_CLIENT_KEY"), "PEM client key for Vault (env VAULT_CLIENT_KEY)")
	skipEnv := getenv("VAULT_SKIP_VERIFY")
	skip, skipErr := false, error(nil)
	if skipEnv != "" {
		skip, skipErr = strconv.ParseBool(skipEnv)
	}
	fs.BoolVar(&d.Vault.SkipVerify, "vault-tls-skip-verify", skip, "do not verify Vault's certificate (env VAULT_SKIP_VERIFY); for testing only")
	fs.StringVar(&d.AuthMount, "vault-mount", "kubernetes", "default Vault auth mount path (kubernetes or jwt auth method)")
	fs.StringVar(&d.Audience, "audience", "vault", "default audience of the service-account token sent to Vault")
	validateLimits := limitFlags(fs, &d.Limits)
	fs.BoolFunc("certificate-reuse", "keep certificates issued without a lease (PKI issue and sign, SSH sign) per pod and return them on "+
		"republish until they are due (default true; a class's certificateReuse overrides it); false issues one on every mount, as the reference does",
		func(v string) error {
			b, err := strconv.ParseBool(v)
			d.Certificates.Off = !b
			return err
		})
	fs.DurationVar(&d.Certificates.RenewBefore, "renew-before", 0, "issue a kept certificate anew this long before it ends (a class's renewBefore overrides it); 0: see -renew-before-percentage")
	fs.IntVar(&d.Certificates.RenewBeforePercentage, "renew-before-percentage", 0, "issue a kept certificate anew when this percentage of its validity is left, 1 to 99 "+
		"(a class's renewBeforePercentage overrides it); 0 with -renew-before 0: a third")

	validate := func() error {
		var problems []string
		if err := validateLimits(); err != nil {
			problems = append(problems, err.Error())
		}
		if skipErr != nil {
			problems = append(problems, fmt.Sprintf("VAULT_SKIP_VERIFY=%q is not a boolean", skipEnv))
		}
		if err := checkVaultAddr(d.Vault.Address); err != nil {
			problems = append(problems, err.Error())
		}
		if d.AuthMount == "" {
			problems = append(problems, "-vault-mount must not be empty")
		}
		if d.Audience == "" {
			problems = append(problems, "-audience must not be empty")
		}
		switch c := d.Certificates; {
		case c.RenewBefore < 0:
			problems = append(problems, "-renew-before must not be negative")
		case c.RenewBeforePercentage < 0 || c.RenewBeforePercentage > 99:
			problems = append(problems, "-renew-before-percentage must be from 0 to 99")
		case c.RenewBefore > 0 && c.RenewBeforePercentage > 0:
			problems = append(problems, "-renew-before and -renew-before-percentage are both set: keep one")
		}
		return joinProblems(problems)
	}
	return d, validate
}

func checkVaultAddr(addr string) error {
	if err := vault.CheckAddress(addr); err != nil {
		return fmt.Errorf("-vault-addr %q %v", addr, err)
	}
	return nil
}
