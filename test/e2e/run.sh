#!/usr/bin/env bash
# make e2e: build what is missing, bring up etcd, kube-apiserver,
# kube-controller-manager (garbage collector only), Vault, the
# Secrets Store CSI driver and the provider on free loopback ports, run the
# bats files in test/bats against them, print "N passed, N failed".
#
# Usage: test/e2e/run.sh [BATS FILE...]   (default: every test/bats/*.bats)
# KUBE_VERSION=1.35 runs against another Kubernetes release (a directory of
# tools/kube; default 1.37), built into bin/kube/VERSION/.
# E2E_KEEP=1 keeps the temp dir (logs, certificates, kubeconfigs) on success;
# E2E_HOLD=1 brings the stack up and keeps it until Ctrl-C, to run bats by hand.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export ROOT
cd "$ROOT"
# shellcheck source=lib.sh
source test/e2e/lib.sh
# shellcheck source=stack.sh
source test/e2e/stack.sh

# Stop everything by the PIDs recorded, unmount what the driver left mounted,
# print the logs if anything failed, and remove the temp dir on success.
cleanup() {
	local rc=$? name f
	trap - EXIT INT TERM
	if [[ -d ${E2E_DIR:-} ]]; then
		stop_bats
		for name in provider csi-driver vault kube-controller-manager kube-apiserver etcd; do
			stop_one "$name"
		done
		for f in "$E2E_DIR"/pids/*.pid; do
			[[ -e $f ]] && stop_one "$(basename "$f" .pid)"
		done
		unmount_all
		finish_dir "$rc"
	fi
	exit "$rc"
}

main() {
	local start=$SECONDS
	((EUID == 0)) || { e2e_log "run as root: the driver mounts a tmpfs for each volume"; return 1; }
	# PostgreSQL for the database cases (95-database.bats).
	ensure_packages etcd:etcd-server jq:jq curl:curl openssl:openssl psql:postgresql-client \
		'/usr/lib/postgresql/*/bin/postgres:postgresql'
	command -v kubectl >/dev/null || { e2e_log "kubectl is needed"; return 1; }
	e2e_log "building what is missing (make e2e-tools build, bin/vault, bin/helm)"
	# helm: for the server-side dry run of the chart (99-deployment.bats).
	make e2e-tools build "$ROOT/bin/vault" "$ROOT/bin/helm" >&2
	# KUBE_VERSION (make's variable, from the environment) picks the release.
	KUBE_BIN=$(make -s kube-bin)
	export KUBE_BIN
	(cd test/kubelet && go test -count=1 ./... >&2)

	E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vault-csi-e2e.XXXXXX")
	export E2E_DIR
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	local up=$SECONDS
	stack_up
	e2e_log "stack up in $((SECONDS - up))s"
	if [[ ${E2E_HOLD:-} == 1 ]]; then
		e2e_log "holding the stack: source $E2E_DIR/env (then run bats test/bats/...); Ctrl-C stops it"
		while alive kube-apiserver; do sleep 1; done
		e2e_log "kube-apiserver exited"
		return 1
	fi

	run_cases "$start" test/bats "against kube-apiserver $KUBE_SERVER_VERSION" "$@"
}

main "$@"
