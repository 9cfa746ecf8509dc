// Package vault talks to one or more Vault servers on behalf of many mounts:
// it builds and caches one HTTP client per server configuration (TLS files
// are read once), performs secret reads with a per-request token, logs in
// with the kubernetes or jwt auth methods, retries transient failures, and
// classifies failures into a few sentinel errors for the gRPC layer.
//
// The process environment (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, ...)
// is deliberately ignored: the flag layer decides what the environment
// means, and everything else comes from Config.
package vault

import (
	"crypto/x509"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Config says how to reach one Vault server. It is comparable and used as
// a cache key.
type Config struct {
	Address       string // http(s)://host:port or unix:///path/to/agent.sock
	Namespace     string // X-Vault-Namespace, "" for none
	CACert        string // PEM file path; takes precedence over CADirectory
	CADirectory   string // directory of PEM files
	TLSServerName string
	ClientCert    string // PEM file path
	ClientKey     string // PEM file path
	SkipVerify    bool
}

// validate checks what can be checked without building a client, so that
// errors name the setting at fault rather than surfacing from deep in TLS
// setup.
func (c Config) validate() error {
	if c.Address == "" {
		return configError(nil, "Address is empty")
	}
	u, err := url.Parse(c.Address)
	if err != nil {
		return configError(nil, "Address %q is not a URL", c.Address)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return configError(nil, "Address %q has no host", c.Address)
		}
	case "unix":
		if strings.TrimPrefix(c.Address, "unix://") == "" {
			return configError(nil, "Address %q has no socket path", c.Address)
		}
	default:
		return configError(nil, "Address %q: scheme must be http, https or unix", c.Address)
	}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return configError(err, "CACert: cannot read CA certificate file: %v", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return configError(nil, "CACert: %q contains no PEM certificate", c.CACert)
		}
	}
	if c.CADirectory != "" {
		fi, err := os.Stat(c.CADirectory)
		if err != nil {
			return configError(err, "CADirectory: %v", err)
		}
		if !fi.IsDir() {
			return configError(nil, "CADirectory: %q is not a directory", c.CADirectory)
		}
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return configError(nil, "ClientCert and ClientKey must be set together")
	}
	for _, f := range []struct{ setting, path string }{{"ClientCert", c.ClientCert}, {"ClientKey", c.ClientKey}} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return configError(err, "%s: cannot read file: %v", f.setting, err)
		}
	}
	return nil
}

// newAPIClient builds an api.Client for cfg that takes nothing from the
// process environment: api.DefaultConfig and api.NewClient both read VAULT_*
// variables, so every setting they may have picked up is overwritten here.
func newAPIClient(cfg Config, retry RetryPolicy, idleConns int) (*api.Client, *http.Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	ac := api.DefaultConfig()
	if ac.Error != nil {
		// api.NewClient would fail the same way, so there is no way around it.
		return nil, nil, configError(ac.Error, "VAULT_* environment variables are invalid: %v", ac.Error)
	}
	transport, ok := ac.HttpClient.Transport.(*http.Transport)
	if !ok {
		return nil, nil, configError(nil, "unexpected HTTP transport %T", ac.HttpClient.Transport)
	}
	// Undo VAULT_CACERT, VAULT_SKIP_VERIFY, VAULT_TLS_SERVER_NAME, client
	// certificates and VAULT_HTTP_PROXY. The tls.Config itself is kept
	// because http2.ConfigureTransport registered "h2" in it.
	tc := transport.TLSClientConfig
	tc.RootCAs, tc.InsecureSkipVerify, tc.ServerName = nil, false, ""
	tc.Certificates, tc.GetClientCertificate = nil, nil
	transport.Proxy = http.ProxyFromEnvironment
	// The pooled transport keeps GOMAXPROCS+1 idle connections: after a
	// burst of concurrent reads the rest were closed, and the next burst
	// paid a TCP (and TLS) handshake per extra connection again.
	transport.MaxIdleConnsPerHost = idleConns

	ac.Address = cfg.Address
	ac.AgentAddress = ""
	ac.Limiter = nil
	ac.SRVLookup = false
	ac.DisableRedirects = false
	ac.Timeout = 0 // the caller's context bounds each call, see withDefaultTimeout
	ac.MaxRetries = retry.MaxRetries
	ac.MinRetryWait = retry.MinWait
	ac.MaxRetryWait = retry.MaxWait
	ac.Backoff = retry.backoff
	ac.CheckRetry = api.DefaultRetryPolicy

	err := ac.ConfigureTLS(&api.TLSConfig{
		CACert:        cfg.CACert,
		CAPath:        cfg.CADirectory,
		ClientCert:    cfg.ClientCert,
		ClientKey:     cfg.ClientKey,
		TLSServerName: cfg.TLSServerName,
		Insecure:      cfg.SkipVerify,
	})
	if err != nil {
		return nil, nil, configError(err, "TLS settings (CACert %q, CADirectory %q, ClientCert %q, ClientKey %q): %v",
			cfg.CACert, cfg.CADirectory, cfg.ClientCert, cfg.ClientKey, err)
	}

	client, err := api.NewClient(ac)
	if err != nil {
		return nil, nil, configError(err, "Address %q: %v", cfg.Address, err)
	}
	// Drop VAULT_TOKEN, VAULT_NAMESPACE, VAULT_HEADERS and VAULT_WRAP_TTL.
	client.ClearToken()
	headers := http.Header{}
	headers.Set(api.RequestHeaderName, "true") // SSRF protection header expected by Vault Agent
	if cfg.Namespace != "" {
		headers.Set(api.NamespaceHeaderName, cfg.Namespace)
	}
	client.SetHeaders(headers)
	client.SetWrappingLookupFunc(func(string, string) string { return "" })
	// Wrapped only now: NewClient needs the *http.Transport to dial a unix
	// socket. The client keeps a pointer to ac.HttpClient, so this applies.
	ac.HttpClient.Transport = limitBodies{base: transport}
	return client, ac.HttpClient, nil
}
