package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	pb "sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"

	"github.com/vault-csi-provider/vault-csi-provider/internal/spc"
)

// TestSourcePathPattern: the SecretSync CRD's sourcePath pattern
// (spc.Syncable) takes flat names with numeric suffixes, never a
// keysAsFiles or nested path.
func TestSourcePathPattern(t *testing.T) {
	for p, want := range map[string]bool{
		"password": true, "tls.crt": true, "db-password": true, "cert/1": true, "cert/1/2": true, ".env": true,
		"db/password": false, "team/app": false, "cert/": false, "/abs": false, "": false, "a b": false,
	} {
		if got := spc.Syncable(p); got != want {
			t.Errorf("%q: match %v, want %v", p, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	resp := &pb.MountResponse{
		Files:         []*pb.File{{Path: "password", Contents: []byte("s3cret")}, {Path: "db/user", Contents: []byte("u")}},
		ObjectVersion: []*pb.ObjectVersion{{Id: "password", Version: "v1"}, {Id: "db/user", Version: "v2"}},
	}
	var out bytes.Buffer
	if err := check(&out, resp, []string{"password"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Errorf("printed a value: %s", out.String())
	}
	for _, want := range []string{"file password bytes=6 sha256=", "version password=v1", "source password sha256="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	err := check(&out, resp, []string{"db/user", "missing"})
	if err == nil || !strings.Contains(err.Error(), `"db/user": the SecretSync CRD refuses it`) ||
		!strings.Contains(err.Error(), `"missing": no returned file`) {
		t.Errorf("check of bad sourcePaths: %v", err)
	}
	if err := check(&out, &pb.MountResponse{Files: resp.Files}, nil); !errors.Is(err, errNoVersions) {
		t.Errorf("no versions: %v, want errNoVersions", err)
	}
}

func TestParseSync(t *testing.T) {
	env := map[string]string{"KUBECONFIG": "/k", "SYNC_PROVIDER_DIR": "/provider"}
	o, err := parseSync([]string{"--controller", "sync/ctrl-0", "--namespace", "a", "--name", "s", "--sa", "app", "--class", "c",
		"--audience", "vault", "--source-path", "x", "--source-path", "y/1"}, &bytes.Buffer{}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if o.controllerNamespace != "sync" || o.controllerPod != "ctrl-0" || o.providerDir != "/provider" || len(o.sourcePaths) != 2 {
		t.Errorf("parsed %+v", o)
	}
	_, err = parseSync([]string{"--controller", "ctrl"}, &bytes.Buffer{}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "--controller must be NAMESPACE/NAME") || !strings.Contains(err.Error(), "--sa is required") {
		t.Errorf("parse error %v: want every problem", err)
	}
}
