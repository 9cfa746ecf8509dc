package csitest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

func TestBuild(t *testing.T) {
	pod := Pod{Name: "app-0", Namespace: "ns", UID: "uid-0", ServiceAccount: "sa"}
	exp := time.Date(2030, 1, 2, 4, 4, 5, 999, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name       string
		req        Request
		want       map[string]string
		wantTarget string
		wantErr    bool
	}{{
		name: "pod keys and tokens",
		req: Request{Pod: pod, Params: map[string]string{spc.KeyRoleName: "r"},
			Tokens: map[string]Token{"vault": {Token: "jwt", Expiration: exp}}},
		want: map[string]string{spc.KeyRoleName: "r", spc.KeyPodName: "app-0", spc.KeyPodNamespace: "ns",
			spc.KeyPodUID: "uid-0", spc.KeyServiceAccount: "sa",
			spc.KeyDriverTokens: `{"vault":{"token":"jwt","expirationTimestamp":"2030-01-02T03:04:05Z"}}`},
		wantTarget: "/var/lib/kubelet/pods/uid-0/volumes/kubernetes.io~csi/secrets/mount",
	}, {
		name: "the pod wins over a parameter, no tokens key without tokens",
		req:  Request{Pod: pod, Params: map[string]string{spc.KeyPodName: "other"}, TargetPath: "/t"},
		want: map[string]string{spc.KeyPodName: "app-0", spc.KeyPodNamespace: "ns",
			spc.KeyPodUID: "uid-0", spc.KeyServiceAccount: "sa"},
		wantTarget: "/t",
	}, {
		name:    "pod without service account",
		req:     Request{Pod: Pod{Name: "a", Namespace: "ns", UID: "u"}},
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.req.Build()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Build() error %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			var attrs map[string]string
			if err := json.Unmarshal([]byte(got.Attributes), &attrs); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, attrs); d != "" {
				t.Errorf("attributes (-want +got):\n%s", d)
			}
			if got.TargetPath != tc.wantTarget || got.Secrets != "null" || got.Permission != "420" {
				t.Errorf("target %q secrets %q permission %q", got.TargetPath, got.Secrets, got.Permission)
			}
		})
	}
}

func TestWaitFor(t *testing.T) {
	errStop := errors.New("stop")
	for _, tc := range []struct {
		name      string
		doneAfter int   // calls until cond reports done; 0: never
		condErr   error // returned by the second call
		wantCalls int
		wantErr   error
	}{
		{name: "done at once", doneAfter: 1, wantCalls: 1},
		{name: "done on the third call", doneAfter: 3, wantCalls: 3},
		{name: "error stops", condErr: errStop, wantCalls: 2, wantErr: errStop},
		{name: "context ends", wantErr: context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			calls := 0
			err := WaitFor(ctx, time.Millisecond, func() (bool, error) {
				calls++
				if calls == 2 && tc.condErr != nil {
					return false, tc.condErr
				}
				return tc.doneAfter > 0 && calls >= tc.doneAfter, nil
			})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("WaitFor() = %v, want %v", err, tc.wantErr)
			}
			if tc.wantCalls > 0 && calls != tc.wantCalls {
				t.Errorf("cond called %d times, want %d", calls, tc.wantCalls)
			}
		})
	}
}

// TestSyncRequestBuild: the controller's Mount carries its own pod's name
// and UID, the SecretSync's namespace and service account, and nothing the
// driver adds for a volume.
func TestSyncRequestBuild(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	req := SyncRequest{ControllerPodName: "ctrl-0", ControllerPodUID: "uid-ctrl", Namespace: "team-a", ServiceAccount: "app",
		Params: map[string]string{spc.KeyRoleName: "r", spc.KeyPodNamespace: "spoofed"},
		Tokens: map[string]Token{"vault": {Token: "jwt", Expiration: exp}}}
	got, err := req.Build()
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]string
	if err := json.Unmarshal([]byte(got.Attributes), &attrs); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{spc.KeyRoleName: "r", spc.KeyPodName: "ctrl-0", spc.KeyPodUID: "uid-ctrl",
		spc.KeyPodNamespace: "team-a", spc.KeyServiceAccount: "app",
		spc.KeyDriverTokens: `{"vault":{"token":"jwt","expirationTimestamp":"2030-01-02T03:04:05Z"}}`}
	if d := cmp.Diff(want, attrs); d != "" {
		t.Errorf("attributes (-want +got):\n%s", d)
	}
	if !spc.FromSyncController(attrs) {
		t.Error("spc.FromSyncController does not recognise the request")
	}
	if got.Secrets != "{}" || got.Permission != "420" || got.TargetPath != SyncTargetPath || len(got.CurrentObjectVersion) != 0 {
		t.Errorf("secrets %q permission %q target %q versions %v", got.Secrets, got.Permission, got.TargetPath, got.CurrentObjectVersion)
	}

	req.Tokens = nil
	got, err = req.Build()
	if err != nil {
		t.Fatal(err)
	}
	attrs = nil
	if err := json.Unmarshal([]byte(got.Attributes), &attrs); err != nil {
		t.Fatal(err)
	}
	if _, ok := attrs[spc.KeyDriverTokens]; ok {
		t.Error("a controller without an audience sent a tokens attribute")
	}
	if _, err := (SyncRequest{ControllerPodName: "c", ControllerPodUID: "u", Namespace: "ns"}).Build(); err == nil {
		t.Error("a request without a service account built")
	}
}
