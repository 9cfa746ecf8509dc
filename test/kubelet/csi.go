package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func dialDriver(endpoint string) (*grpc.ClientConn, error) {
	path := strings.TrimPrefix(endpoint, "unix://")
	return grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// volumeID is how kubelet names an inline CSI volume: a hash of the pod's UID
// and the volume's name.
func volumeID(podUID types.UID, volume string) string {
	return fmt.Sprintf("csi-%x", sha256.Sum256([]byte(string(podUID)+volume)))
}

// targetPath is where kubelet publishes a pod's inline CSI volume, the path
// the driver expects (its secret sync takes the pod UID and volume name from
// it), unless --target names another.
func (v *volumeFlags) targetPath(podUID types.UID) string {
	if v.target != "" {
		return v.target
	}
	return filepath.Join(v.podsDir, string(podUID), "volumes", "kubernetes.io~csi", v.volume, "mount")
}

// localPath is where this process sees a path of the driver's.
func (v *volumeFlags) localPath(path string) string {
	if v.hostPodsDir == "" || v.podsDir == "" {
		return path
	}
	rel, err := filepath.Rel(v.podsDir, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return path
	}
	return filepath.Join(v.hostPodsDir, rel)
}

// rpcError keeps the driver's gRPC code and message visible to the caller.
func rpcError(method string, err error) error {
	s := status.Convert(err)
	return fmt.Errorf("%s failed: code = %s desc = %s", method, s.Code(), s.Message())
}

func publish(ctx context.Context, o *publishOptions, stdout io.Writer) error {
	c, err := newClient(o.kubeconfig)
	if err != nil {
		return err
	}
	pod, err := ensurePod(ctx, c, o, o.rotation)
	if err != nil {
		return err
	}
	target := o.targetPath(pod.UID)
	if o.rotation {
		local := o.localPath(target)
		mounted, err := isMounted(local)
		if err != nil {
			return err
		}
		if !mounted {
			return fmt.Errorf("--rotation: %s is not mounted", local)
		}
	}
	volCtx := map[string]string{
		"csi.storage.k8s.io/pod.name":            pod.Name,
		"csi.storage.k8s.io/pod.namespace":       pod.Namespace,
		"csi.storage.k8s.io/pod.uid":             string(pod.UID),
		"csi.storage.k8s.io/serviceAccount.name": pod.Spec.ServiceAccountName,
		"csi.storage.k8s.io/ephemeral":           "true",
	}
	if !o.noToken {
		tokens, err := tokensJSON(ctx, c, pod, o.audiences)
		if err != nil {
			return err
		}
		volCtx["csi.storage.k8s.io/serviceAccount.tokens"] = tokens
	}
	maps.Copy(volCtx, o.volumeContext)

	conn, err := dialDriver(o.csiEndpoint)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err = csi.NewNodeClient(conn).NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
		VolumeId:   volumeID(pod.UID, o.volume),
		TargetPath: target,
		VolumeCapability: &csi.VolumeCapability{
			AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY},
		},
		Readonly:      true,
		VolumeContext: volCtx,
	})
	if err != nil {
		return rpcError("NodePublishVolume", err)
	}
	fmt.Fprintf(stdout, "published %s/%s volume %s at %s\n", pod.Namespace, pod.Name, o.volume, target)
	return nil
}

// unpublish unmounts a pod's volume. With --delete-pod it plays the pod's
// whole deletion: the user's graceful delete first (the pod gets its
// deletionTimestamp), then kubelet's unmount, then kubelet's final delete
// with grace period 0, which removes the object.
func unpublish(ctx context.Context, o *unpublishOptions, stdout io.Writer) error {
	c, pod, err := o.existingPod(ctx)
	if err != nil {
		return err
	}
	pods := c.CoreV1().Pods(o.namespace)
	if o.deletePod {
		if err := pods.Delete(ctx, o.pod, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(pod.UID))}); err != nil {
			return fmt.Errorf("delete pod %s/%s: %w", o.namespace, o.pod, err)
		}
	}
	conn, err := dialDriver(o.csiEndpoint)
	if err != nil {
		return err
	}
	defer conn.Close()
	callCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	target := o.targetPath(pod.UID)
	_, err = csi.NewNodeClient(conn).NodeUnpublishVolume(callCtx, &csi.NodeUnpublishVolumeRequest{
		VolumeId:   volumeID(pod.UID, o.volume),
		TargetPath: target,
	})
	if err != nil {
		return rpcError("NodeUnpublishVolume", err)
	}
	fmt.Fprintf(stdout, "unpublished %s\n", target)
	if o.deletePod {
		zero := int64(0)
		err := pods.Delete(ctx, o.pod, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
		})
		if err != nil {
			return fmt.Errorf("delete pod %s/%s: %w", o.namespace, o.pod, err)
		}
		fmt.Fprintf(stdout, "deleted pod %s/%s\n", o.namespace, o.pod)
	}
	return nil
}

func printToken(ctx context.Context, o *tokenOptions, stdout io.Writer) error {
	c, pod, err := o.existingPod(ctx)
	if err != nil {
		return err
	}
	if pod.Spec.ServiceAccountName != o.serviceAccount {
		return fmt.Errorf("pod %s/%s runs as service account %q, not %q", o.namespace, o.pod, pod.Spec.ServiceAccountName, o.serviceAccount)
	}
	t, err := requestToken(ctx, c, pod, o.audience)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t.Token)
	return nil
}

func printTarget(ctx context.Context, o *targetOptions, stdout io.Writer) error {
	_, pod, err := o.existingPod(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, o.localPath(o.targetPath(pod.UID)))
	return nil
}

// isMounted tells whether dir is a mount point: whether it lies on another
// device than its parent (as the driver's tmpfs does).
func isMounted(dir string) (bool, error) {
	var st, parent syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return false, fmt.Errorf("check mount point %s: %w", dir, err)
	}
	if err := syscall.Stat(filepath.Dir(filepath.Clean(dir)), &parent); err != nil {
		return false, fmt.Errorf("check mount point %s: %w", dir, err)
	}
	return st.Dev != parent.Dev, nil
}
