#!/usr/bin/env bash
# make e2e-node: a one-node Kubernetes cluster on this machine (a real
# kubelet on containerd and runc, pods on a bridge), the Secrets Store CSI
# driver and the provider installed from their Helm charts, then the bats
# files in test/node/bats against it; prints "N passed, N failed".
# Everything lives under one temp dir; a trap stops every process by PID,
# removes the containers, unmounts and deletes the bridge.
#
# Usage: test/node/run.sh [BATS FILE...]   (default: every test/node/bats/*.bats)
# E2E_KEEP=1 keeps the temp dir on success; E2E_HOLD=1 holds the node until
# Ctrl-C (source $E2E_DIR/env, then run bats or kubectl by hand).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export ROOT
cd "$ROOT"
# shellcheck source=../e2e/lib.sh
source test/e2e/lib.sh
# shellcheck source=cluster.sh
source test/node/cluster.sh

# Debian's runc: this machine's kernel runs it, and it needs no build.
RUNC=/usr/sbin/runc

# our_pids: processes whose command line names our temp dir (containerd's
# shims, started by containerd and left behind when it stops).
our_pids() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF "$E2E_DIR/" && echo "${p#/proc/}"
	done
	return 0
}

cleanup() {
	local rc=$? name f id pid
	trap - EXIT INT TERM
	if [[ -d ${E2E_DIR:-} ]]; then
		stop_bats
		stop_one kubelet
		# Every container and sandbox runc still runs for us.
		if [[ -d $E2E_DIR/containerd/runc/k8s.io ]]; then
			for id in $("$RUNC" --root "$E2E_DIR/containerd/runc/k8s.io" list -q 2>/dev/null); do
				"$RUNC" --root "$E2E_DIR/containerd/runc/k8s.io" delete --force "$id" >/dev/null 2>&1 || true
			done
		fi
		stop_one containerd
		for pid in $(our_pids); do
			[[ $pid == "$$" ]] || kill -KILL "$pid" 2>/dev/null || true
		done
		for name in vault kube-scheduler kube-controller-manager kube-apiserver etcd; do
			stop_one "$name"
		done
		for f in "$E2E_DIR"/pids/*.pid; do
			[[ -e $f ]] && stop_one "$(basename "$f" .pid)"
		done
		# Volumes, overlays, network namespaces, the kubelet's bind mount.
		unmount_all
		if [[ -f $E2E_DIR/bridge ]]; then
			ip link del "$(cat "$E2E_DIR/bridge")" 2>/dev/null || true
		fi
		finish_dir "$rc"
	fi
	exit "$rc"
}

main() {
	local start=$SECONDS
	((EUID == 0)) || { e2e_log "run as root: a kubelet, containerd and a bridge"; return 1; }
	# Debian's runc; busybox is the driver image's mount and umount.
	ensure_packages etcd:etcd-server runc:runc jq:jq curl:curl openssl:openssl ip:iproute2 /bin/busybox:busybox-static
	command -v kubectl >/dev/null || { e2e_log "kubectl is needed"; return 1; }
	e2e_log "building what is missing (make e2e-node-tools image, bin/e2e-kubelet for free ports)"
	make e2e-node-tools image "$ROOT/bin/e2e-kubelet" >&2
	KUBE_BIN=$(make -s kube-bin)
	export KUBE_BIN RUNC

	E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vault-csi-node.XXXXXX")
	export E2E_DIR
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	node_up
	if [[ ${E2E_HOLD:-} == 1 ]]; then
		e2e_log "holding the node: source $E2E_DIR/env; Ctrl-C stops it"
		while alive kubelet; do sleep 1; done
		e2e_log "the kubelet exited"
		return 1
	fi
	run_cases "$start" test/node/bats "on a node of Kubernetes $KUBE_SERVER_VERSION" "$@"
}

main "$@"
