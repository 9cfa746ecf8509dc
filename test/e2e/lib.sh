# shellcheck shell=bash
# Process and wait helpers shared by run.sh (the stack), test/node/run.sh
# (the one-node cluster) and the bats helpers (which restart the provider);
# the certificates, kubeconfigs, packages, logs and clean-up both runs need. Every process started here has its PID in
# $E2E_DIR/pids/NAME.pid and its output in $E2E_DIR/logs/NAME.log; stop_all
# stops them by those PIDs.

e2e_log() { printf '%s e2e: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# start_bg NAME CMD...: run CMD in the background, detached from the caller's
# file descriptors (bats waits for any process holding its fd 3).
start_bg() {
	local name=$1
	shift
	mkdir -p "$E2E_DIR/pids" "$E2E_DIR/logs"
	"$@" </dev/null >>"$E2E_DIR/logs/$name.log" 2>&1 3>&- &
	echo $! >"$E2E_DIR/pids/$name.pid"
	# Stopped by PID, not as a job: no "Killed" notice when a test kills it.
	disown $!
}

pid_of() { cat "$E2E_DIR/pids/$1.pid" 2>/dev/null; }

alive() {
	local pid
	pid=$(pid_of "$1") && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

# stop_one NAME [SIGNAL]: signal the process (TERM by default), wait up to
# 10 s for it to exit, then KILL it.
stop_one() {
	local name=$1 sig=${2:-TERM} pid i
	pid=$(pid_of "$name") || return 0
	[[ -n $pid ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill "-$sig" "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			e2e_log "$name (pid $pid) ignored SIG$sig; killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$E2E_DIR/pids/$name.pid"
}

# wait_until SECONDS WHAT CMD...: retry CMD every 0.2 s until it succeeds.
wait_until() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			e2e_log "timed out after ${secs}s waiting for $what"
			return 1
		fi
		sleep 0.2
	done
}

# http_ok URL [CURL ARGS...]: true when URL answers 2xx.
http_ok() {
	local url=$1
	shift
	curl -fsS -o /dev/null --max-time 2 "$@" "$url"
}

# start_provider: (re)start our provider with the stack's flags, wait until
# /readyz says the socket is serving. Its node policy, $E2E_DIR/policy.yaml,
# allows everything ({}) but while 85-policy.bats rewrites it.
start_provider() {
	[[ -f $E2E_DIR/policy.yaml ]] || echo '{}' >"$E2E_DIR/policy.yaml"
	start_bg provider env -u VAULT_TOKEN "$ROOT/bin/vault-csi-provider" \
		-policy-file "$E2E_DIR/policy.yaml" \
		-policy-reload-interval 200ms \
		-endpoint "$E2E_DIR/providers/vault.sock" \
		-kubeconfig "$E2E_DIR/provider.kubeconfig" \
		-service-account-token-file "$E2E_DIR/provider.token" \
		-allowed-audiences vault,custom-aud \
		-namespace vault-csi-provider \
		-node-name e2e-node \
		-metrics-addr "127.0.0.1:$PROVIDER_METRICS_PORT" \
		-health-addr "127.0.0.1:$PROVIDER_HEALTH_PORT" \
		-vault-addr "$VAULT_ADDR" \
		-log-level debug
	wait_until 30 "provider /readyz" http_ok "http://127.0.0.1:$PROVIDER_HEALTH_PORT/readyz" ||
		{ alive provider || e2e_log "the provider exited"; return 1; }
	alive provider
}

# run_bats FILE...: run bats (TAP into $E2E_DIR/bats.tap and stdout) in its
# own session, waited for with `wait` so that a signal reaches the caller's
# trap at once and cleanup can stop bats' process group (pids/bats.pid).
# Sets BATS_PASSED, BATS_FAILED, BATS_SKIPPED; fails if any test failed.
run_bats() {
	local tap=$E2E_DIR/bats.tap rc=0
	mkdir -p "$E2E_DIR/pids"
	setsid bats --tap "$@" > >(tee "$tap") 2>&1 &
	echo $! >"$E2E_DIR/pids/bats.pid"
	wait $! || rc=$?
	rm -f "$E2E_DIR/pids/bats.pid"
	BATS_SKIPPED=$(grep -cE '^ok [0-9]+ .*# skip' "$tap" || true)
	BATS_PASSED=$(($(grep -cE '^ok [0-9]+' "$tap" || true) - BATS_SKIPPED))
	BATS_FAILED=$(grep -cE '^not ok [0-9]+' "$tap" || true)
	((rc == 0 && BATS_FAILED == 0))
}

# run_cases START DIR WHERE [FILE...]: runs the bats FILEs, or every
# DIR/*.bats; prints the logs on a failure, the time since START (a
# $SECONDS) and WHERE, then the summary. Fails if any case failed.
run_cases() {
	local start=$1 dir=$2 where=$3
	shift 3
	local files=("$@")
	((${#files[@]} > 0)) || files=("$dir"/*.bats)
	local rc=0
	run_bats "${files[@]}" || rc=$?
	((rc == 0)) || print_logs
	e2e_log "total $((SECONDS - start))s $where"
	print_summary
	return "$rc"
}

# print_summary: the last line CI reads, "N passed, N failed".
print_summary() {
	((${BATS_SKIPPED:-0} == 0)) || echo "$BATS_SKIPPED skipped"
	echo "${BATS_PASSED:-0} passed, ${BATS_FAILED:-0} failed"
}

# stop_bats: stop a bats run still going, and everything it started.
stop_bats() {
	[[ -f $E2E_DIR/pids/bats.pid ]] || return 0
	kill -TERM -- "-$(pid_of bats)" 2>/dev/null || true
	stop_one bats
}

# start_vault HOST: a Vault dev server (root token "root") on HOST and a
# free port; exports VAULT_ADDR and VAULT_TOKEN.
start_vault() {
	local port health
	port=$(ports 1)
	export VAULT_ADDR=http://$1:$port VAULT_TOKEN=root
	start_bg vault "$ROOT/bin/vault" server -dev -dev-root-token-id=root \
		-dev-listen-address "$1:$port" -dev-no-store-token
	wait_until 30 "vault /v1/sys/health" http_ok "$VAULT_ADDR/v1/sys/health"
	# The Vault we configure must be the one we started.
	alive vault || { e2e_log "vault exited"; return 1; }
	health=$(curl -fsS "$VAULT_ADDR/v1/sys/health")
	[[ $health == *'"version":"1.13.0"'* ]] || { e2e_log "unexpected Vault at $VAULT_ADDR: $health"; return 1; }
}

# ports N: N free loopback ports (bound with port 0 and read back).
ports() { "$ROOT/bin/e2e-kubelet" ports "$1"; }

# ensure_packages CHECK:PACKAGE...: installs (hack/apt-install.sh) the Debian
# package of each CHECK that is missing, a command or, when it starts with /,
# a path or glob; bats and its libraries always.
ensure_packages() {
	local missing=() c check lib
	for c in bats:bats "$@"; do
		check=${c%%:*}
		if [[ $check == /* ]]; then
			compgen -G "$check" >/dev/null || missing+=("${c#*:}")
		else
			command -v "$check" >/dev/null || missing+=("${c#*:}")
		fi
	done
	for lib in bats-assert bats-support bats-file; do
		[[ -f /usr/lib/bats/$lib/load.bash ]] || missing+=("$lib")
	done
	((${#missing[@]} == 0)) && return 0
	"$ROOT/hack/apt-install.sh" "${missing[@]}"
}

# gen_certs [SAN...]: under $E2E_DIR/pki, a CA, the API server's serving
# certificate for the SANs (default IP:127.0.0.1 DNS:localhost), and the key
# pair that signs and verifies service-account tokens.
gen_certs() {
	local d=$E2E_DIR/pki sans
	(($# > 0)) || set -- IP:127.0.0.1 DNS:localhost
	sans=$(IFS=,; echo "$*")
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=e2e-ca \
		-keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
		-keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$sans" >"$d/apiserver.ext"
	openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
		-days 2 -extfile "$d/apiserver.ext" -out "$d/apiserver.crt" 2>/dev/null
	openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
	openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

# write_kubeconfig FILE TOKEN: a kubeconfig for $APISERVER_URL (CA
# $E2E_DIR/pki/ca.crt) and a bearer token.
write_kubeconfig() {
	cat >"$1" <<-KUBECONFIG
	apiVersion: v1
	kind: Config
	clusters:
	- name: e2e
	  cluster:
	    server: $APISERVER_URL
	    certificate-authority: $E2E_DIR/pki/ca.crt
	users:
	- name: user
	  user:
	    token: $2
	contexts:
	- name: e2e
	  context: {cluster: e2e, user: user}
	current-context: e2e
	KUBECONFIG
	chmod 600 "$1"
}

# print_logs: the end of every host process's log and of every pod
# container's (a node's kubelet writes them under $E2E_DIR/pod-logs), for a
# failed run.
print_logs() {
	local f n=${E2E_LOG_LINES:-60}
	for f in "$E2E_DIR"/logs/*.log; do
		[[ -e $f ]] || continue
		echo "===== $(basename "$f") (last $n lines) ====="
		tail -n "$n" "$f"
	done
	while read -r f; do
		echo "===== pod log ${f#"$E2E_DIR/pod-logs/"} (last $n lines) ====="
		tail -n "$n" "$f"
	done < <(find "$E2E_DIR/pod-logs" -name '*.log' 2>/dev/null | sort)
	echo "logs kept in $E2E_DIR"
	LOGS_PRINTED=1
}

# unmount_all: everything mounted under $E2E_DIR, and $E2E_DIR itself,
# deepest first (twice: a lazy unmount can uncover another).
unmount_all() {
	local mnt
	for _ in 1 2; do
		while read -r mnt; do
			umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
		done < <(awk -v d="$E2E_DIR/" 'index($2, d) == 1 || $2 == substr(d, 1, length(d) - 1) {print $2}' /proc/mounts | sort -r)
	done
}

# finish_dir RC: once everything is stopped: keep $E2E_DIR when holding or
# with E2E_KEEP=1, print the logs of a failed run, else remove it.
finish_dir() {
	if [[ ${E2E_HOLD:-} == 1 ]]; then
		echo "stopped; logs kept in $E2E_DIR"
	elif (($1 != 0)); then
		[[ -n ${LOGS_PRINTED:-} ]] || print_logs
	elif [[ ${E2E_KEEP:-} == 1 ]]; then
		echo "kept $E2E_DIR"
	else
		rm -rf "$E2E_DIR"
	fi
}
