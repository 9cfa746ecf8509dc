package mount

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// fuzzMountBytes is small, so that the fuzzer reaches the limit.
const fuzzMountBytes = 1 << 10

// FuzzRender renders a fuzzed value (a string, or JSON data) for an object
// with a fuzzed key and encoding. A failure never quotes the value.
func FuzzRender(f *testing.F) {
	f.Add("password", "p4ss~word", "", byte(0), false)
	f.Add("k", "aGVsbG8gd29ybGQ~", "", byte(1), false)
	f.Add("k", "68656c6c6f~", "", byte(2), false)
	f.Add("k", "not~base64!!", "", byte(1), false)
	f.Add("", "whole~", `{"a":1,"b":[true,null]}`, byte(0), true)
	f.Add("missing", "v~alue", `{"data":{"k":"v"}}`, byte(0), true)
	f.Add("k", "v~", `{"data":{"k":{"n":1.5}}}`, byte(2), true)
	f.Fuzz(func(t *testing.T, key, value, data string, enc byte, useJSON bool) {
		obj := spc.Object{Name: "f", Path: "secret/data/x", Key: key, Encoding: []spc.Encoding{spc.EncodingUTF8, spc.EncodingBase64, spc.EncodingHex}[int(enc)%3]}
		if obj.Kind() == spc.KindWhole {
			obj.Shape = spc.ShapeData
		}
		var s *api.Secret
		if useJSON {
			var m map[string]any
			if json.Unmarshal([]byte(data), &m) == nil {
				s = &api.Secret{Data: m}
			}
		} else {
			s = &api.Secret{Data: map[string]any{"data": map[string]any{"k": value, "password": value}}}
		}
		files, err := renderSecret(nil, &spc.Output{Object: obj}, s, true)
		if err != nil {
			if !errors.Is(err, ErrKeyNotFound) && !errors.Is(err, ErrDecode) && !errors.Is(err, vault.ErrBadResponse) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			// The value is marked with "~", which no message holds.
			if !useJSON && strings.Contains(value, "~") && len(value) >= 4 && !strings.Contains(key, value) && strings.Contains(err.Error(), value) {
				t.Fatalf("error quotes the value: %v", err)
			}
			return
		}
		got := files.files[0].contents
		if !useJSON && obj.Encoding == spc.EncodingUTF8 && (key == "k" || key == "password") && string(got) != value {
			t.Fatalf("rendered %q, want the value %q", got, value)
		}
		if obj.Key == "" && !json.Valid(got) {
			t.Fatalf("whole secret rendered as invalid JSON: %q", got)
		}
	})
}

// FuzzCheckSize checks the mount size cap on fuzzed file sizes: a result
// under the limit passes, one over it fails naming at most five objects
// and never their content.
func FuzzCheckSize(f *testing.F) {
	f.Add(uint16(100), uint16(200), uint16(300), "a/b")
	f.Add(uint16(1000), uint16(0), uint16(0), "x")
	f.Fuzz(func(t *testing.T, a, b, c uint16, name string) {
		if strings.Contains(name, "~") {
			return
		}
		res := &Result{}
		total := 0
		for i, n := range []uint16{a, b, c, a, b, c, a} {
			content := strings.Repeat("~", int(n)%2000)
			p := name + string(rune('0'+i))
			res.Files = append(res.Files, File{Path: p, Contents: []byte(content), Version: "v"})
			total += len(content) + 2*len(p) + 1 + fileOverhead
		}
		err := checkSize(res, fuzzMountBytes)
		if (err != nil) != (total > fuzzMountBytes) {
			t.Fatalf("total %d, limit %d: err %v", total, fuzzMountBytes, err)
		}
		if err == nil {
			return
		}
		if !errors.Is(err, ErrMountTooLarge) || strings.Contains(err.Error(), "~") || len(err.Error()) > 1500 {
			t.Fatalf("error %.200q: want ErrMountTooLarge, bounded, without content", err)
		}
	})
}
