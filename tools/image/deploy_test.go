package main

import (
	"os"
	"regexp"
	"testing"
)

// TestDeploymentNamesTheImage: the chart's appVersion (its default image
// tag), the kustomize base's tag and its DaemonSet's image are the one tag
// `make image` gives that release, of the image vault-csi-provider.
func TestDeploymentNamesTheImage(t *testing.T) {
	find := func(path, pattern string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)` + pattern).FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no match for %s", path, pattern)
		}
		return string(m[1])
	}
	const dep = "../../deployment/"
	app := find(dep+"helm/vault-csi-provider/Chart.yaml", `^appVersion: "([^"]+)"$`)
	repo := find(dep+"helm/vault-csi-provider/values.yaml", `^  repository: (\S+)$`)
	base := find(dep+"kustomize/base/kustomization.yaml", `^    newTag: (\S+)$`)
	baseName := find(dep+"kustomize/base/kustomization.yaml", `^  - name: (\S+)$`)
	ds := find(dep+"kustomize/base/daemonset.yaml", `^ +image: (\S+)$`)
	if repo != "vault-csi-provider" || baseName != "vault-csi-provider" {
		t.Errorf("chart repository %q, kustomize image %q: want vault-csi-provider", repo, baseName)
	}
	if base != app || ds != "vault-csi-provider:"+app {
		t.Errorf("chart appVersion %q, kustomize newTag %q, DaemonSet image %q: want one tag", app, base, ds)
	}
	if v := regexp.MustCompile(`^\d+\.\d+\.\d+$`); !v.MatchString(app) {
		t.Errorf("appVersion %q: want X.Y.Z, the tag of the release vX.Y.Z", app)
	}
}
