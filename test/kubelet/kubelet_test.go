package main

import (
	"io"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestParsePublish(t *testing.T) {
	t.Setenv("CSI_ENDPOINT", "")
	t.Setenv("KUBELET_PODS_DIR", "")
	tests := []struct {
		name    string
		args    []string
		wantErr []string // substrings; empty: no error
	}{
		{
			name: "complete",
			args: []string{"--pod", "ns/web", "--csi-endpoint", "/run/csi.sock", "--pods-dir", "/pods",
				"--volume-context", "secretProviderClass=kv"},
		},
		{
			name: "every problem at once",
			args: []string{"--pod", "web", "--audience", "x", "--no-token"},
			wantErr: []string{`--pod "web": use NAMESPACE/NAME`, "--target or --pods-dir", "--csi-endpoint",
				"secretProviderClass=CLASS", "--no-token and --audience"},
		},
		{
			name: "extra volume named like the published one",
			args: []string{"--pod", "ns/web", "--csi-endpoint", "/s", "--target", "/t",
				"--volume-context", "secretProviderClass=kv", "--pod-volume", "secrets=other"},
			wantErr: []string{"--pod-volume secrets: that is the published volume"},
		},
		{
			name:    "malformed key=value",
			args:    []string{"--volume-context", "novalue"},
			wantErr: []string{`"novalue": use KEY=VALUE`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parsePublish(tt.args, io.Discard)
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("parsePublish: %v", err)
				}
				if o.namespace != "ns" || o.pod != "web" || len(o.audiences) != 1 || o.audiences[0] != "vault" {
					t.Errorf("got namespace %q pod %q audiences %q", o.namespace, o.pod, o.audiences)
				}
				return
			}
			if err == nil {
				t.Fatal("parsePublish: no error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestPaths(t *testing.T) {
	uid := types.UID("0b6b5ad4-5c4e-4c39-9d7e-4a3a5b3c1f00")
	v := volumeFlags{volume: "secrets", podsDir: "/var/lib/kubelet/pods", hostPodsDir: "/tmp/e2e/pods"}
	want := "/var/lib/kubelet/pods/" + string(uid) + "/volumes/kubernetes.io~csi/secrets/mount"
	if got := v.targetPath(uid); got != want {
		t.Errorf("targetPath = %q, want %q", got, want)
	}
	if got, want := v.localPath(want), "/tmp/e2e/pods/"+string(uid)+"/volumes/kubernetes.io~csi/secrets/mount"; got != want {
		t.Errorf("localPath = %q, want %q", got, want)
	}
	if got := v.localPath("/elsewhere/x"); got != "/elsewhere/x" {
		t.Errorf("localPath outside the pods dir = %q, want it unchanged", got)
	}
	v.target = "/explicit"
	if got := v.targetPath(uid); got != "/explicit" {
		t.Errorf("targetPath with --target = %q", got)
	}
}

func TestVolumeID(t *testing.T) {
	a, b := volumeID("uid-1", "secrets"), volumeID("uid-1", "other")
	if !strings.HasPrefix(a, "csi-") || len(a) != len("csi-")+64 {
		t.Errorf("volumeID = %q, want csi- and a SHA-256 in hex", a)
	}
	if a == b || a != volumeID("uid-1", "secrets") {
		t.Error("volumeID must be stable per pod and volume, and differ between volumes")
	}
}

func TestNewPod(t *testing.T) {
	o := &publishOptions{
		volumeCommand:  volumeCommand{common: common{namespace: "ns", pod: "web"}, volumeFlags: volumeFlags{volume: "a"}},
		serviceAccount: "app",
		nodeName:       "node-1",
		volumeContext: map[string]string{
			secretProviderClassKey:        "class-a",
			"csi.storage.k8s.io/pod.name": "ignored",
		},
		podVolumes: map[string]string{"b": "class-b"},
	}
	pod := newPod(o)
	if pod.Spec.ServiceAccountName != "app" || pod.Spec.NodeName != "node-1" {
		t.Errorf("service account %q node %q", pod.Spec.ServiceAccountName, pod.Spec.NodeName)
	}
	var got []string
	for _, v := range pod.Spec.Volumes {
		if v.CSI == nil || v.CSI.Driver != driverName || v.CSI.ReadOnly == nil || !*v.CSI.ReadOnly {
			t.Fatalf("volume %s is not a read-only inline volume of %s", v.Name, driverName)
		}
		if len(v.CSI.VolumeAttributes) != 1 {
			t.Errorf("volume %s attributes %v: kubelet's own keys must not be in the spec", v.Name, v.CSI.VolumeAttributes)
		}
		got = append(got, v.Name+"="+v.CSI.VolumeAttributes[secretProviderClassKey])
	}
	if strings.Join(got, " ") != "a=class-a b=class-b" {
		t.Errorf("volumes %v", got)
	}
	if n := len(pod.Spec.Containers[0].VolumeMounts); n != 2 {
		t.Errorf("%d volume mounts, want 2", n)
	}
}
