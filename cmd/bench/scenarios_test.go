package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

func TestSelectScenarios(t *testing.T) {
	all, err := selectScenarios("all")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, sc := range all {
		if seen[sc.name] {
			t.Errorf("scenario %s listed twice", sc.name)
		}
		seen[sc.name] = true
		if sc.objects == nil || sc.extra == nil || sc.pods < 1 {
			t.Errorf("scenario %s: objects, extra and pods must be set", sc.name)
		}
	}
	if !seen["pki"] {
		t.Error("all does not run pki")
	}
	if got, err := selectScenarios("pki"); err != nil || len(got) != 1 || got[0].name != "pki" {
		t.Errorf("selectScenarios(pki) = %v, %v", got, err)
	}
	if _, err := selectScenarios("nope"); err == nil {
		t.Error("selectScenarios(nope): no error")
	}
}

// TestPKIClasses parses the pki scenario's two classes as the provider
// does: one issue call of the role without a lease for both files, kept
// by default and issued on every mount with the reference's parameters.
func TestPKIClasses(t *testing.T) {
	issuer, err := vaulttest.NewJWTIssuer("https://kubernetes.default.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	objects, files, _ := pkiObjects(nil)
	for _, tc := range []struct {
		name    string
		params  map[string]string
		wantOff bool
	}{
		{"kept until due", nil, false},
		{"reference", referenceParams, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reqs, err := newRequests(issuer, "http://127.0.0.1:8200", "bench-pki", objects, tc.params, 2)
			if err != nil {
				t.Fatal(err)
			}
			var attrs map[string]string
			if err := json.Unmarshal([]byte(reqs[1].Attributes), &attrs); err != nil {
				t.Fatal(err)
			}
			p, err := spc.ParseParams(nil, attrs, spc.Defaults{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Certificates.Off != tc.wantOff {
				t.Errorf("Certificates.Off = %v, want %v", p.Certificates.Off, tc.wantOff)
			}
			if n := len(p.Plan.Outputs); n != files {
				t.Errorf("%d outputs, want %d", n, files)
			}
			if len(p.Plan.Requests) != 1 {
				t.Fatalf("%d requests, want one issue call for the certificate and its key", len(p.Plan.Requests))
			}
			if r := p.Plan.Requests[0]; r.Method != http.MethodPut || r.Path != "pki/issue/"+certRole {
				t.Errorf("request %s %s, want PUT pki/issue/%s", r.Method, r.Path, certRole)
			}
		})
	}
}
