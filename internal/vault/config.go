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
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// Config says how to reach one Vault server. It is comparable and used as
// a cache key.
type Config struct {
	// Address is http(s)://host:port, unix:///path/to/agent.sock, or
	// several http(s) addresses of one cluster separated by commas.
	Address       string
	Namespace     string // X-Vault-Namespace, "" for none
	CACert        string // PEM file path; takes precedence over CADirectory
	CADirectory   string // directory of PEM files
	TLSServerName string
	ClientCert    string // PEM file path
	ClientKey     string // PEM file path
	SkipVerify    bool
}

// validate checks what can be checked without reading files, so that
// errors name the setting at fault rather than surfacing from deep in TLS
// setup.
func (c Config) validate() error {
	if c.Address == "" {
		return configError(nil, "Address is empty")
	}
	if err := CheckAddress(c.Address); err != nil {
		return configError(nil, "Address %q %v", c.Address, err)
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return configError(nil, "ClientCert and ClientKey must be set together")
	}
	return nil
}

// maxAddressText bounds how much of an address, or of the reason it is
// refused, a message quotes.
const maxAddressText = 128

// dialTimeout bounds a TCP connect to one Vault address.
const dialTimeout = 5 * time.Second

// addressHint lists the address forms the client can dial.
const addressHint = "http://, https:// or unix:// (e.g. https://vault.vault.svc:8200 or unix:///run/vault/agent.sock)"

// CheckAddress accepts the Vault address forms the client can dial:
// http:// or https:// with a host, or unix:// with a socket path (the
// client dials what follows unix://, so a relative path works as well),
// or several http(s) addresses of one cluster separated by commas.
// It is the one check for -vault-addr, vaultAddress and Config. Its message
// completes a sentence that starts with the address.
func CheckAddress(addr string) error {
	if strings.Contains(addr, ",") {
		return checkAddresses(addr)
	}
	return checkOneAddress(addr)
}

func checkOneAddress(addr string) error {
	if rest, ok := strings.CutPrefix(addr, "unix://"); ok {
		if rest == "" {
			return errors.New("names no socket: use unix:///path/to/agent.sock")
		}
		return nil
	}
	u, err := url.Parse(addr)
	if err != nil {
		// url.Error quotes the whole address; its cause says what is wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("is not a valid URL (%s): use %s", truncate(err.Error(), maxAddressText), addressHint)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return fmt.Errorf("has no host: use %s", addressHint)
		}
		return nil
	case "unix":
		// The client recognises the scheme only in lower case.
		return errors.New("must start with unix:// in lower case")
	default:
		return fmt.Errorf("must start with %s", addressHint)
	}
}

// newNodes builds an api.Client for each address of cfg, all on one
// http.Client, that take nothing from the process environment:
// api.DefaultConfig and api.NewClient both read VAULT_* variables, so every
// setting they may have picked up is overwritten here.
func newNodes(ctx context.Context, cfg Config, s *shared) ([]node, *http.Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	// The files are read here, not by api.ConfigureTLS, which would read a
	// class's /dev/zero or FIFO without bound or deadline.
	material, err := s.files.loadTLS(ctx, cfg)
	if err != nil {
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
	// An address whose host is gone (a node's IP after its pod died) drops
	// the handshake instead of refusing it: give up on it well before the
	// mount's deadline, so that the other addresses get their turn.
	transport.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	// The pooled transport keeps GOMAXPROCS+1 idle connections: after a
	// burst of concurrent reads the rest were closed, and the next burst
	// paid a TCP (and TLS) handshake per extra connection again.
	transport.MaxIdleConnsPerHost = s.idleConns
	// x/net/http2 takes its own limit from it, advertised and enforced.
	transport.MaxResponseHeaderBytes = maxHeaderBytes
	tc.RootCAs, tc.InsecureSkipVerify, tc.ServerName = material.roots, cfg.SkipVerify, cfg.TLSServerName
	if len(material.certs) > 0 {
		// Sent whatever CAs the server names, as api.ConfigureTLS does, so
		// a cert auth CA need not be in the server's own CA list.
		cert := &material.certs[0]
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	hc := ac.HttpClient

	headers := http.Header{}
	headers.Set(api.RequestHeaderName, "true") // SSRF protection header expected by Vault Agent
	if cfg.Namespace != "" {
		headers.Set(api.NamespaceHeaderName, cfg.Namespace)
	}
	addrs := Addresses(cfg.Address)
	nodes := make([]node, len(addrs))
	for i, addr := range addrs {
		if i > 0 {
			ac = api.DefaultConfig()
			ac.HttpClient = hc
		}
		ac.Address = addr
		ac.AgentAddress = ""
		ac.Limiter = nil
		ac.SRVLookup = false
		ac.DisableRedirects = false
		ac.Timeout = 0 // the caller's context bounds each call, see withDefaultTimeout
		// Client.send retries, across the cluster's addresses.
		ac.MaxRetries = 0
		// NewClient sets the dialer of a unix:// address on hc's transport,
		// which is why it is wrapped only afterwards.
		client, err := api.NewClient(ac)
		if err != nil {
			return nil, nil, configError(err, "Address %q: %v", addr, err)
		}
		// Drop VAULT_TOKEN, VAULT_NAMESPACE, VAULT_HEADERS and VAULT_WRAP_TTL.
		client.ClearToken()
		client.SetHeaders(headers.Clone())
		client.SetWrappingLookupFunc(func(string, string) string { return "" })
		host := hostPort(addr)
		nodes[i] = node{addr: addr, host: host, api: client, budget: s.budget(host, "")}
	}
	// Every client keeps a pointer to hc, so this applies to all of them.
	hc.Transport = limitResponses{base: transport}
	return nodes, hc, nil
}
