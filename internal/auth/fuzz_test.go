package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzParseDriverTokens parses the driver's tokens attribute built from a
// fuzzed audience, token and expiry, then cut and followed by junk. Errors
// never hold the token, and no way of printing a parsed token shows it.
func FuzzParseDriverTokens(f *testing.F) {
	f.Add("vault", "eyJhbGciOiJSUzI1NiJ9.e30.sig~", "2026-12-02T10:00:00Z", uint16(0), "")
	f.Add("vault", "tok~en-value", "", uint16(0), "")
	f.Add("vault", "tok~en-value", "tomorrow", uint16(0), "")
	f.Add("", "tok~en-value", "2026-12-02T10:00:00Z", uint16(20), "")
	f.Add("vault", "tok~en-value", "", uint16(0), `,"other":null}`)
	f.Add("vault", "", "", uint16(0), "")
	f.Add("a\"b", "tok~en\x00value", "", uint16(30), "]")
	f.Fuzz(func(t *testing.T, audience, token, expiry string, cut uint16, junk string) {
		b, err := json.Marshal(map[string]driverToken{audience: {Token: token, ExpirationTimestamp: expiry}})
		if err != nil {
			t.Skip()
		}
		raw := string(b)
		if int(cut) > 0 && int(cut) < len(raw) {
			raw = raw[:cut]
		}
		raw += junk
		// Only a token that cannot be mistaken for message text or the
		// other inputs is looked for.
		secret := len(token) >= 6 && strings.Contains(token, "~") &&
			!strings.Contains(audience, token) && !strings.Contains(expiry, token) && !strings.Contains(junk, token)
		got, err := ParseDriverTokens(raw)
		if err != nil {
			if !errors.Is(err, ErrMalformedTokens) {
				t.Fatalf("error %v does not wrap ErrMalformedTokens", err)
			}
			if secret && strings.Contains(err.Error(), token) {
				t.Fatalf("error holds the token: %v", err)
			}
			return
		}
		for aud, tok := range got {
			if tok.Token == "" {
				t.Fatalf("audience %q parsed without a token", aud)
			}
			if !secret || tok.Token != token {
				continue
			}
			printed := fmt.Sprintf("%v %+v %#v %s %d %x %q", tok, tok, tok, tok, tok, tok, tok)
			if strings.Contains(printed, token) {
				t.Fatalf("printing the token shows it: %s", printed)
			}
		}
	})
}
