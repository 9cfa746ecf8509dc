package lease

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/crypto/ssh"
)

// Policy says what one mount may reuse. The zero value reuses leased
// secrets and certificates, a certificate until two thirds of its
// validity, as cert-manager renews by default.
type Policy struct {
	// NoLeases reads leased secrets anew on every mount (leaseReuse off).
	NoLeases bool
	// NoCertificates issues certificates anew on every mount
	// (certificateReuse off), as hashicorp/vault-csi-provider does.
	NoCertificates bool
	// RenewBefore reissues a certificate this long before it ends.
	RenewBefore time.Duration
	// RenewBeforePercentage reissues a certificate when this percentage of
	// its validity is left; used when RenewBefore is zero; neither: a third.
	RenewBeforePercentage int
}

// dueAt is when a certificate valid from start to end is issued anew. A
// RenewBefore at least as long as the validity makes it due at once.
func (p Policy) dueAt(start, end time.Time) time.Time {
	validity := end.Sub(start)
	switch {
	case p.RenewBefore > 0:
		return end.Add(-p.RenewBefore)
	case p.RenewBeforePercentage > 0:
		return end.Add(-validity * time.Duration(p.RenewBeforePercentage) / 100)
	default:
		return end.Add(-validity / 3)
	}
}

// Validity is when a response without a lease is valid.
type Validity struct {
	Start, End time.Time
}

// CertificateValidity reports when a certificate issued without a lease
// stops being valid: a PKI issue or sign response by its certificate's
// NotBefore and NotAfter, an SSH sign response by its ValidAfter and
// ValidBefore. Such responses are issued anew on every read, so they are
// worth keeping as leases are. Anything else is read anew on every mount,
// whatever its fields: a KV secret holding a certificate or an expiration
// may be rewritten at any time, and a kept copy would hide the change. So
// a response counts only with all the fields its engine returns, agreeing
// with the certificate it carries, and only from that engine when Vault
// names it (mount_type).
func CertificateValidity(s *api.Secret) (Validity, bool) {
	if s == nil || s.Data == nil || Kept(s) {
		return Validity{}, false
	}
	switch s.MountType {
	case "pki":
		return pkiValidity(s.Data)
	case "ssh":
		return sshValidity(s.Data)
	case "":
		if v, ok := pkiValidity(s.Data); ok {
			return v, true
		}
		return sshValidity(s.Data)
	default:
		return Validity{}, false
	}
}

// pkiValidity reads a PKI issue or sign response: a PEM certificate, its
// serial number (colon-separated hex) and its NotAfter in Unix seconds
// (expiration).
func pkiValidity(data map[string]any) (Validity, bool) {
	text, ok := data["certificate"].(string)
	if !ok {
		return Validity{}, false
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "CERTIFICATE" {
		return Validity{}, false
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !c.NotAfter.After(c.NotBefore) {
		return Validity{}, false
	}
	serial, ok := data["serial_number"].(string)
	if !ok {
		return Validity{}, false
	}
	n, ok := new(big.Int).SetString(strings.ReplaceAll(serial, ":", ""), 16)
	if !ok || n.Cmp(c.SerialNumber) != 0 {
		return Validity{}, false
	}
	if end, ok := unixSeconds(data["expiration"]); !ok || end.Unix() != c.NotAfter.Unix() {
		return Validity{}, false
	}
	return Validity{Start: c.NotBefore, End: c.NotAfter}, true
}

// sshValidity reads an SSH sign response: the certificate (signed_key) and
// its serial number in hex.
func sshValidity(data map[string]any) (Validity, bool) {
	text, ok := data["signed_key"].(string)
	if !ok {
		return Validity{}, false
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(text))
	if err != nil {
		return Validity{}, false
	}
	c, ok := key.(*ssh.Certificate)
	// CertTimeInfinity and beyond: a certificate that never ends is not
	// reissued for time, so keeping it would change nothing to plan for.
	if !ok || c.ValidBefore == ssh.CertTimeInfinity || c.ValidBefore > math.MaxInt64 || c.ValidAfter >= c.ValidBefore {
		return Validity{}, false
	}
	serial, ok := data["serial_number"].(string)
	if !ok {
		return Validity{}, false
	}
	if n, err := strconv.ParseUint(serial, 16, 64); err != nil || n != c.Serial {
		return Validity{}, false
	}
	return Validity{Start: time.Unix(int64(c.ValidAfter), 0), End: time.Unix(int64(c.ValidBefore), 0)}, true
}

func unixSeconds(v any) (time.Time, bool) {
	var n int64
	var err error
	switch x := v.(type) {
	case json.Number:
		n, err = x.Int64()
	case string:
		n, err = strconv.ParseInt(x, 10, 64)
	default:
		return time.Time{}, false
	}
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}
