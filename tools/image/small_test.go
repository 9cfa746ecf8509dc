package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestSmallImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "app.tar")
	err := runSmall([]string{"-ref", "node-app:test", "-tar", out, "-file", "/app=" + bin,
		"-file", "/bin/mount=" + bin, "-entrypoint", "/app", "-user", "65532:65532"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/app" || cf.Config.User != "65532:65532" {
		t.Errorf("entrypoint %q user %q, want /app 65532:65532", got, cf.Config.User)
	}
}

func TestSmallFlagsReportEveryProblem(t *testing.T) {
	_, err := parseSmallFlags([]string{"-entrypoint", "/x"})
	for _, want := range []string{"-ref", "-tar", "-file", "-entrypoint"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want it to name %s", err, want)
		}
	}
	if _, err := parseSmallFlags([]string{"-file", "rel=x"}); err == nil {
		t.Error("a relative destination: want an error")
	}
}
