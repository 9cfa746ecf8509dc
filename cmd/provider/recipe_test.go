package main

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/vault-csi-provider/vault-csi-provider/internal/config"
)

// What the Secrets Store sync controller's chart (0.0.4) fixes: the
// manager's --provider-volume and the volume mounted there, the ports it
// listens on in the pod's network namespace, and its ServiceAccount.
const (
	syncProviderVolume = "providervol"
	syncProviderDir    = "/provider"
	syncServiceAccount = "secrets-store-sync-controller-manager"
)

var syncManagerPorts = []string{"8081", "8085"}

// syncValues is the part of the controller chart's values the recipe sets.
type syncValues struct {
	TokenRequestAudience []struct {
		Audience string `json:"audience"`
	} `json:"tokenRequestAudience"`
	RotationPollInterval string             `json:"rotationPollInterval"`
	ProviderContainer    []corev1.Container `json:"providerContainer"`
}

// TestSyncControllerRecipe checks deployment/examples/sync-controller
// without the controller's chart (not served here): its values parse
// strictly as the chart's fields and a Kubernetes container; the sidecar's
// args pass the provider's own flag parsing; its socket is vault.sock in
// the controller's provider volume; its ports clash with none of the
// manager's and its probes reach its health port; the controller's one
// audience is the provider's default; the RBAC lets the controller's
// ServiceAccount read the HMAC key Secret the provider will use, in the
// namespace it runs in. `make deploy-check` runs it.
func TestSyncControllerRecipe(t *testing.T) {
	dir := "../../deployment/examples/sync-controller"
	raw, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v syncValues
	if err := yaml.UnmarshalStrict(raw, &v); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	if len(v.ProviderContainer) != 1 {
		t.Fatalf("values.yaml: %d provider containers, want 1", len(v.ProviderContainer))
	}
	c := v.ProviderContainer[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			env[e.Name] = "secrets-store-sync-controller"
		}
	}
	cfg, err := config.ParseServe(c.Args, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("the sidecar's args: %v", err)
	}

	if filepath.Base(cfg.Endpoint) != "vault.sock" || filepath.Dir(cfg.Endpoint) != syncProviderDir {
		t.Errorf("-endpoint %s: the controller dials %s/vault.sock", cfg.Endpoint, syncProviderDir)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == syncProviderVolume && m.MountPath == syncProviderDir && !m.ReadOnly
	}) {
		t.Errorf("the sidecar does not mount %s at %s read-write", syncProviderVolume, syncProviderDir)
	}
	if !cfg.DriverTokensOnly || cfg.NodeName != "" || cfg.StateFile != "" || cfg.Namespace == "" {
		t.Errorf("driver tokens only %v, node %q, state file %q, namespace %q: want the controller's tokens only, no pod watch, no state file, the pod's namespace",
			cfg.DriverTokensOnly, cfg.NodeName, cfg.StateFile, cfg.Namespace)
	}

	var ports []string
	for _, addr := range []string{cfg.HealthAddr, cfg.MetricsAddr} {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(syncManagerPorts, port) {
			t.Errorf("%s: the manager listens on this port in the same pod", addr)
		}
		ports = append(ports, port)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != ports[0] {
			t.Errorf("%s probe: want an HTTP probe of the health port %s", name, ports[0])
		}
	}

	if len(v.TokenRequestAudience) != 1 || v.TokenRequestAudience[0].Audience != cfg.Defaults.Audience {
		t.Errorf("tokenRequestAudience %+v: want the one audience the provider logs in with, %q", v.TokenRequestAudience, cfg.Defaults.Audience)
	}
	if d, err := time.ParseDuration(v.RotationPollInterval); err != nil || d <= 0 {
		t.Errorf("rotationPollInterval %q: %v", v.RotationPollInterval, err)
	}

	checkSyncRBAC(t, filepath.Join(dir, "rbac.yaml"), cfg.HMACSecretName)
}

// checkSyncRBAC: a Role allowing get on the HMAC key Secret and create,
// bound to the controller's ServiceAccount in the Role's namespace.
func checkSyncRBAC(t *testing.T, path, hmacSecret string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.Role
	var binding *rbacv1.RoleBinding
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var err error
		switch meta.Kind {
		case "Role":
			role = &rbacv1.Role{}
			err = yaml.UnmarshalStrict([]byte(doc), role)
		case "RoleBinding":
			binding = &rbacv1.RoleBinding{}
			err = yaml.UnmarshalStrict([]byte(doc), binding)
		default:
			t.Errorf("%s: unexpected kind %q: the provider needs nothing cluster-wide here", path, meta.Kind)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if role == nil || binding == nil {
		t.Fatalf("%s: want a Role and a RoleBinding", path)
	}
	allows := func(verb, name string) bool {
		return slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "secrets") && slices.Contains(r.Verbs, verb) &&
				(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name))
		})
	}
	if !allows("get", hmacSecret) || !allows("create", "") {
		t.Errorf("Role %s: want get on Secret %s and create", role.Name, hmacSecret)
	}
	ns := role.Namespace
	if binding.Namespace != ns || binding.RoleRef.Kind != "Role" || binding.RoleRef.Name != role.Name {
		t.Errorf("RoleBinding %s/%s does not bind Role %s/%s", binding.Namespace, binding.Name, ns, role.Name)
	}
	if !slices.ContainsFunc(binding.Subjects, func(s rbacv1.Subject) bool {
		return s.Kind == "ServiceAccount" && s.Name == syncServiceAccount && s.Namespace == ns
	}) {
		t.Errorf("RoleBinding %s: want the subject ServiceAccount %s/%s", binding.Name, ns, syncServiceAccount)
	}
}
