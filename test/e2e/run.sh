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

ensure_packages() {
	local missing=() cmd lib
	# command:package
	for cmd in etcd:etcd-server bats:bats jq:jq curl:curl openssl:openssl psql:postgresql-client; do
		command -v "${cmd%%:*}" >/dev/null || missing+=("${cmd#*:}")
	done
	for lib in bats-assert bats-support bats-file; do
		[[ -f /usr/lib/bats/$lib/load.bash ]] || missing+=("$lib")
	done
	# PostgreSQL for the database cases (95-database.bats).
	compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
	((${#missing[@]} == 0)) && return 0
	"$ROOT/hack/apt-install.sh" "${missing[@]}"
}

# print_logs: the end of every component's log, for a failed run.
print_logs() {
	local f
	for f in "$E2E_DIR"/logs/*.log; do
		[[ -e $f ]] || continue
		echo "===== $(basename "$f") (last ${E2E_LOG_LINES:-60} lines) ====="
		tail -n "${E2E_LOG_LINES:-60}" "$f"
	done
	echo "e2e: logs kept in $E2E_DIR/logs"
	LOGS_PRINTED=1
}

# Stop everything by the PIDs recorded, unmount what the driver left mounted,
# print the logs if anything failed, and remove the temp dir on success.
cleanup() {
	local rc=$? name f mnt
	trap - EXIT INT TERM
	if [[ -d ${E2E_DIR:-} ]]; then
		stop_bats
		for name in provider csi-driver vault kube-controller-manager kube-apiserver etcd; do
			stop_one "$name"
		done
		for f in "$E2E_DIR"/pids/*.pid; do
			[[ -e $f ]] && stop_one "$(basename "$f" .pid)"
		done
		# Deepest mounts first.
		while read -r mnt; do
			umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
		done < <(awk -v d="$E2E_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
		if [[ ${E2E_HOLD:-} == 1 ]]; then
			echo "e2e: stack stopped; logs kept in $E2E_DIR/logs"
		elif ((rc != 0)); then
			[[ -n ${LOGS_PRINTED:-} ]] || print_logs
		elif [[ ${E2E_KEEP:-} == 1 ]]; then
			echo "e2e: kept $E2E_DIR"
		else
			rm -rf "$E2E_DIR"
		fi
	fi
	exit "$rc"
}

main() {
	local start=$SECONDS
	((EUID == 0)) || { e2e_log "run as root: the driver mounts a tmpfs for each volume"; return 1; }
	ensure_packages
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

	local files=("$@")
	((${#files[@]} > 0)) || files=(test/bats/*.bats)
	local rc=0
	run_bats "${files[@]}" || rc=$?
	((rc == 0)) || print_logs
	e2e_log "total $((SECONDS - start))s against kube-apiserver $KUBE_SERVER_VERSION"
	print_summary
	return "$rc"
}

main "$@"
