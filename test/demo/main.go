// Command demo shows the provider working end to end on this machine: it
// starts a real Vault dev server, seeds a secret and a jwt role, runs the
// provider binary on a temporary socket, mounts through the socket as the
// driver does, prints the files, runs the offline check, and stops
// everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/csitest"
	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
	"github.com/vault-csi-provider/vault-csi-provider/internal/vaulttest"
)

const (
	namespace      = "demo"
	serviceAccount = "app"
	podName        = "app-7d4b9"
	podUID         = "5f1c2a7e-0000-4000-8000-000000000001"
	role           = "demo-app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	provider := flag.String("provider", "bin/vault-csi-provider", "provider binary")
	flag.Parse()
	providerBin, err := filepath.Abs(*provider)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "vault-csi-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("starting a Vault v1.13.0 dev server on a free loopback port")
	bin, err := vaulttest.Binary()
	if err != nil {
		return err
	}
	v, err := vaulttest.Start(ctx, bin, filepath.Join(dir, "vault.log"))
	if err != nil {
		return err
	}
	defer v.Stop()
	fmt.Printf("   Vault at %s (pid %d)\n", v.Addr, v.PID)

	step("seeding secret/data/demo/db, a policy and a jwt role for " + namespace + "/" + serviceAccount)
	issuer, err := seed(ctx, v)
	if err != nil {
		return err
	}
	jwt, err := issuer.ServiceAccountToken(namespace, serviceAccount, podName, podUID, "vault", time.Hour)
	if err != nil {
		return err
	}

	step("starting the provider on " + filepath.Join(dir, "vault.sock"))
	prov, err := csitest.StartProvider(ctx, providerBin, dir, v.Addr, false, "-metrics-addr", "127.0.0.1:0", "-log-level", "info")
	if err != nil {
		return err
	}
	defer prov.Stop()
	client := prov.Client
	ver, err := client.Version(ctx, &pb.VersionRequest{Version: "v1alpha1"})
	if err != nil {
		return err
	}
	fmt.Printf("   Version: %s %s\n", ver.RuntimeName, ver.RuntimeVersion)

	step("Mount, as the driver calls it for a new pod")
	req, err := mountRequest(v.Addr, jwt)
	if err != nil {
		return err
	}
	first, err := mountAndPrint(ctx, client, req)
	if err != nil {
		return err
	}
	step("Mount again, as on a rotation republish: the Vault token is reused, versions are unchanged")
	second, err := mountAndPrint(ctx, client, req)
	if err != nil {
		return err
	}
	for i := range first.ObjectVersion {
		if first.ObjectVersion[i].Version != second.ObjectVersion[i].Version {
			return fmt.Errorf("version of %s changed without a change in Vault", first.ObjectVersion[i].Id)
		}
	}

	step("offline check: vault-csi-provider mount -dry-run on a SecretProviderClass file")
	if err := offlineCheck(ctx, providerBin, dir, v.Addr, jwt); err != nil {
		return err
	}
	step("provider log (tokens and secret values never appear in it)")
	prov.Stop()
	logText, err := os.ReadFile(prov.LogPath)
	if err != nil {
		return err
	}
	fmt.Print(indent(string(logText)))
	step("done: everything stopped")
	return nil
}

func step(msg string) { fmt.Println("==> " + msg) }

// objectsYAML is the objects parameter of the demo's SecretProviderClass.
const objectsYAML = `- objectName: db/username
  secretPath: secret/data/demo/db
  secretKey: username
- objectName: db/password
  secretPath: secret/data/demo/db
  secretKey: password
  filePermission: 0600
- objectName: db.json
  secretPath: /v1/secret/data/demo/db
`

func mountRequest(addr, jwt string) (*pb.MountRequest, error) {
	return csitest.Request{
		Pod: csitest.Pod{Name: podName, Namespace: namespace, UID: podUID, ServiceAccount: serviceAccount},
		Params: map[string]string{
			spc.KeyRoleName:       role,
			spc.KeyVaultAddress:   addr,
			spc.KeyAuthMount:      "jwt",
			spc.KeyObjects:        objectsYAML,
			"secretProviderClass": "demo-db",
		},
		Tokens:     map[string]csitest.Token{"vault": {Token: jwt, Expiration: time.Now().Add(time.Hour)}},
		TargetPath: "/var/lib/kubelet/pods/" + podUID + "/volumes/demo",
	}.Build()
}

func mountAndPrint(ctx context.Context, client pb.CSIDriverProviderClient, req *pb.MountRequest) (*pb.MountResponse, error) {
	start := time.Now()
	resp, err := client.Mount(ctx, req)
	if err != nil {
		return nil, err
	}
	fmt.Printf("   %d files in %s\n", len(resp.Files), time.Since(start).Round(time.Microsecond))
	for i, f := range resp.Files {
		fmt.Printf("   %-12s mode %#o  version %.12s…  %s\n", f.Path, f.Mode, resp.ObjectVersion[i].Version, f.Contents)
	}
	return resp, nil
}

func offlineCheck(ctx context.Context, providerBin, dir, addr, jwt string) error {
	spc := fmt.Sprintf(`apiVersion: secrets-store.csi.x-k8s.io/v1
kind: SecretProviderClass
metadata:
  name: demo-db
  namespace: %s
spec:
  provider: vault
  parameters:
    roleName: %s
    vaultAddress: %s
    vaultAuthMountPath: jwt
    objects: |
%s`, namespace, role, addr, indentBy(objectsYAML, "      "))
	spcFile := filepath.Join(dir, "spc.yaml")
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(spcFile, []byte(spc), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(tokenFile, []byte(jwt), 0o600); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, providerBin, "mount", "-f", spcFile, "-token-file", tokenFile,
		"-service-account", serviceAccount, "-pod-name", podName, "-dry-run")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	fmt.Print(indent(string(out)))
	return err
}

func indent(s string) string { return indentBy(s, "   ") }

func indentBy(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + strings.TrimSuffix(line, "\n") + "\n")
	}
	return b.String()
}
