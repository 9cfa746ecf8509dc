package lease

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math"
	"strconv"
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

// CertificateValidity reports when a response that carries an expiry but
// no lease stops being valid: a PKI certificate (issue, sign) by its own
// NotBefore and NotAfter, an SSH certificate (ssh sign) by its
// ValidAfter and ValidBefore, else an "expiration" in Unix seconds, from
// now. Such responses (certificates without generate_lease) are issued
// anew on every read, so they are worth keeping as leases are.
func CertificateValidity(s *api.Secret, now time.Time) (Validity, bool) {
	if s == nil || s.Data == nil || Kept(s) {
		return Validity{}, false
	}
	if v, ok := pemValidity(s.Data["certificate"]); ok {
		return v, true
	}
	if v, ok := sshValidity(s.Data["signed_key"]); ok {
		return v, true
	}
	if end, ok := unixSeconds(s.Data["expiration"]); ok && end.After(now) {
		return Validity{Start: now, End: end}, true
	}
	return Validity{}, false
}

func pemValidity(v any) (Validity, bool) {
	text, ok := v.(string)
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
	return Validity{Start: c.NotBefore, End: c.NotAfter}, true
}

func sshValidity(v any) (Validity, bool) {
	text, ok := v.(string)
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
