package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/vault-csi-provider/vault-csi-provider/internal/auth"
	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
	"github.com/vault-csi-provider/vault-csi-provider/internal/hmackey"
	"github.com/vault-csi-provider/vault-csi-provider/internal/kube/kubetest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/metrics"
	"github.com/vault-csi-provider/vault-csi-provider/internal/state"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vault"
)

// forgotten records the pods ForgetPod was called for.
type forgotten struct {
	mu   sync.Mutex
	uids []string
}

func (f *forgotten) ForgetPod(_ context.Context, uid string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uids = append(f.uids, uid)
}

func runningPod(uid string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-" + uid, Namespace: "shop", UID: types.UID(uid)},
		Spec: corev1.PodSpec{NodeName: "node-1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

// TestRestoreState: a file sealed with the cluster's key is restored and
// the pods gone meanwhile are forgotten (revoked) before serving; a file
// that cannot be opened is discarded and logged; without Kubernetes or a
// path there is no state.
func TestRestoreState(t *testing.T) {
	key := bytes.Repeat([]byte{7}, state.KeySize)
	now := time.Now()
	token := func(uid string) auth.Saved {
		return auth.Saved{Pod: auth.Pod{Namespace: "shop", Name: "p-" + uid, UID: uid, ServiceAccount: "web"}, Role: "web",
			AuthMount: "kubernetes", Audience: "vault", Vault: vault.Config{Address: "https://vault:8200"}, Token: "hvs.token-of-" + uid,
			RefreshAt: now.Add(time.Hour), Used: now}
	}
	good, _, err := state.Encode(&state.Snapshot{Written: now, Tokens: []auth.Saved{token("alive"), token("gone")}}, key, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _, err := state.Encode(&state.Snapshot{Tokens: []auth.Saved{token("alive")}}, bytes.Repeat([]byte{8}, state.KeySize), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		file       []byte // nil: none
		noKube     bool
		noPath     bool
		wantWriter bool
		wantTokens int
		wantForgot []string
		wantLog    string
	}{
		{name: "restored, the gone pod revoked", file: good, wantWriter: true, wantTokens: 2, // the recorder drops none
			wantForgot: []string{"gone"},
			wantLog:    "gone_pods_revoked=1"},
		{name: "no file yet", wantWriter: true, wantLog: "state restored"},
		{name: "another key", file: otherKey, wantWriter: true, wantLog: "state file discarded"},
		{name: "corrupt", file: []byte("vault-csi-provider state v1\n garbage"), wantWriter: true, wantLog: "state file discarded"},
		{name: "no Kubernetes", file: good, noKube: true, wantLog: "no Kubernetes access"},
		{name: "no path", file: good, noPath: true, wantLog: "-state-file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vault.state")
			if tt.file != nil {
				if err := os.WriteFile(path, tt.file, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := &config.Serve{StateFile: path, StateSecretName: "vault-csi-provider-state-key", Namespace: "csi", NodeName: "node-1",
				MaxStateBytes: 1 << 20}
			if tt.noPath {
				cfg.StateFile = ""
			}
			cs := fake.NewClientset(runningPod("alive"), &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: cfg.StateSecretName, Namespace: "csi"}, Data: map[string][]byte{hmackey.DataKey: key}})
			var kc stateKube = kubetest.Clientset{Interface: cs}
			if tt.noKube {
				kc = nil
			}
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			m := metrics.NewUnregistered()
			authn, err := auth.NewAuthenticator(10, nil, m)
			if err != nil {
				t.Fatal(err)
			}
			f := &forgotten{}
			w := restoreState(context.Background(), cfg, kc, f, state.Sources{Auth: authn}, m, log)
			if (w != nil) != tt.wantWriter {
				t.Fatalf("writer %v, want one: %t; logs:\n%s", w, tt.wantWriter, logs.String())
			}
			if got := len(authn.Save()); got != tt.wantTokens {
				t.Errorf("%d tokens restored, want %d", got, tt.wantTokens)
			}
			if !slices.Equal(f.uids, tt.wantForgot) {
				t.Errorf("forgot %q, want %q", f.uids, tt.wantForgot)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("logs lack %q:\n%s", tt.wantLog, logs.String())
			}
			if strings.Contains(logs.String(), "hvs.") {
				t.Errorf("logs show a token:\n%s", logs.String())
			}
			if strings.Contains(tt.wantLog, "discarded") {
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("the unusable file was kept: %v", err)
				}
			}
		})
	}
}
