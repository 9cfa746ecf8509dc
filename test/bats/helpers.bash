# shellcheck shell=bash
# Shared by every test/bats/*.bats file. The stack (test/e2e/run.sh) has
# written $E2E_DIR/env: the API server's kubeconfig, Vault's address and root
# token, and the driver's CSI socket. Run through `make e2e`, or with
# E2E_DIR set to a running stack's directory.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load /usr/lib/bats/bats-file/load

if [[ -z ${E2E_DIR:-} || ! -f $E2E_DIR/env ]]; then
	echo "E2E_DIR does not name a running stack: run test/e2e/run.sh (make e2e)" >&2
	exit 1
fi
# shellcheck disable=SC1091
source "$E2E_DIR/env"
# shellcheck source=../e2e/lib.sh
source "$ROOT/test/e2e/lib.sh"

# local: the stack of test/e2e/run.sh, every process on this machine.
# kind: test/e2e/setup-kind.sh, the driver and provider in a kind cluster.
E2E_MODE=${E2E_MODE:-local}
PROVIDER_NAMESPACE=${PROVIDER_NAMESPACE:-vault-csi-provider}
# The issuer of service-account tokens (jwt auth's bound_issuer).
SA_ISSUER=${SA_ISSUER:-$APISERVER_URL}

# local_only REASON: skip the test outside the local stack.
local_only() {
	[[ $E2E_MODE == local ]] || skip "$E2E_MODE: $1"
}

vault() { "$ROOT/bin/vault" "$@"; }

# provider_metric SERIES: the value of one series of the provider's metrics,
# 0 before it appears (local stack only: kind exposes no metrics port here).
provider_metric() {
	local n
	n=$(curl -fsS "http://127.0.0.1:$PROVIDER_METRICS_PORT/metrics" | awk -v s="$1" '$1 == s {print $2}')
	echo "${n:-0}"
}
e2e_kubelet() { "$ROOT/bin/e2e-kubelet" "$@"; }

# new_namespace NS [SA...]: a namespace and service accounts in it. Of the
# controllers only the garbage collector runs, so nothing else creates them.
new_namespace() {
	local ns=$1 sa
	shift
	kubectl create namespace "$ns" >/dev/null
	for sa in "$@"; do
		kubectl -n "$ns" create serviceaccount "$sa" >/dev/null
	done
}

# vault_policy NAME PATH CAPABILITY...: a policy allowing CAPABILITIES on PATH.
vault_policy() {
	local name=$1 path=$2 caps
	shift 2
	caps=$(printf '"%s",' "$@")
	printf 'path "%s" { capabilities = [%s] }\n' "$path" "${caps%,}" | vault policy write "$name" - >/dev/null
}

# k8s_role NAME NS SA POLICY [KEY=VALUE...]: a kubernetes auth role for NS/SA
# whose token audience must be vault.
k8s_role() {
	local name=$1 ns=$2 sa=$3 policy=$4
	shift 4
	vault write "auth/kubernetes/role/$name" bound_service_account_names="$sa" \
		bound_service_account_namespaces="$ns" policies="$policy" audience=vault ttl=10m "$@" >/dev/null
}

# spc NS NAME ROLE OBJECTS [KEY: VALUE lines]: apply a SecretProviderClass for
# the provider vault. OBJECTS is the YAML list of the objects parameter.
spc() {
	local ns=$1 name=$2 role=$3 objects=$4 extra=${5:-}
	{
		cat <<-YAML
		apiVersion: secrets-store.csi.x-k8s.io/v1
		kind: SecretProviderClass
		metadata:
		  name: $name
		  namespace: $ns
		spec:
		  provider: vault
		  parameters:
		    roleName: $role
		YAML
		[[ -z $extra ]] || sed 's/^/    /' <<<"$extra"
		echo "    objects: |"
		sed 's/^/      /' <<<"$objects"
	} | kubectl apply -f - >/dev/null
}

# target NS POD [VOLUME]: where kubelet publishes the pod's volume (default
# name secrets): KUBELET_PODS_DIR/UID/volumes/kubernetes.io~csi/VOLUME/mount.
target() { e2e_kubelet target --pod "$1/$2" --volume "${3:-secrets}"; }

# publish NS POD SA CLASS [e2e-kubelet publish flags...]: publish the pod's
# volume of the given class, creating the pod if needed. Use with `run`.
# The deadline is shorter than kubelet's 2 minutes, so a hang fails fast.
publish() {
	local ns=$1 pod=$2 sa=$3 class=$4
	shift 4
	e2e_kubelet publish --pod "$ns/$pod" --sa "$sa" --volume-context "secretProviderClass=$class" \
		--timeout "${E2E_PUBLISH_TIMEOUT:-45s}" "$@"
}

# unpublish NS POD [VOLUME] [e2e-kubelet unpublish flags...]
unpublish() {
	local ns=$1 pod=$2 volume=${3:-secrets}
	shift 2
	(($# == 0)) || shift
	e2e_kubelet unpublish --pod "$ns/$pod" --volume "$volume" "$@"
}

# assert_mode MODE FILE: the file (followed through the atomic writer's
# symlinks) has octal permissions MODE.
assert_mode() {
	local got
	got=$(stat -L -c %a "$2")
	[[ $got == "$1" ]] || fail "$2: mode $got, want $1"
}

# assert_content WANT FILE: the file holds exactly WANT (no newline added).
assert_content() {
	local got
	got=$(cat "$2"; echo x)
	got=${got%x}
	[[ $got == "$1" ]] || fail "$(printf '%s: content\n  got:  %q\n  want: %q' "$2" "$got" "$1")"
}

# assert_tmpfs DIR: DIR is a tmpfs mount (the driver's).
assert_tmpfs() {
	local fs
	fs=$(findmnt -n -o FSTYPE --mountpoint "$1") || fail "$1 is not a mount point"
	[[ $fs == tmpfs ]] || fail "$1 is mounted as $fs, not tmpfs"
}

# assert_not_mounted DIR
assert_not_mounted() {
	if findmnt -n --mountpoint "$1" >/dev/null; then
		fail "$1 is still mounted"
	fi
}

# pod_status NS POD CLASS JSONPATH: a field of the driver's
# SecretProviderClassPodStatus for the pod's volume.
pod_status() {
	kubectl -n "$1" get secretproviderclasspodstatuses "$2-$1-$3" -o jsonpath="$4"
}

# republish NS POD SA CLASS [flags...]: kubelet's periodic republish of a
# mounted volume (requiresRepublish). The driver skips a republish that comes
# within its --rotation-poll-interval (2s here) of the last write, so wait it out.
republish() {
	sleep 2.2
	publish "$@" --rotation
}

# versions NS POD CLASS: "id=version ..." of the mounted objects, sorted by id,
# as the driver recorded them in the SecretProviderClassPodStatus.
versions() {
	pod_status "$1" "$2" "$3" '{range .status.objects[*]}{.id}={.version}{"\n"}{end}' | sort | paste -sd' '
}

# version_of NS POD CLASS ID
version_of() {
	pod_status "$1" "$2" "$3" "{.status.objects[?(@.id==\"$4\")].version}"
}

# owner_refs NS SECRET: "kind/name" of each owner of a Secret, one a line.
owner_refs() {
	kubectl -n "$1" get secret "$2" \
		-o jsonpath='{range .metadata.ownerReferences[*]}{.kind}/{.name}{"\n"}{end}'
}

# has_owner NS SECRET: the Secret has an owner. The driver's patcher sets
# the synced Secret's owner every 5 s, and a rotation's update drops it.
has_owner() { [[ -n $(owner_refs "$1" "$2") ]]; }

# restart_provider: stop the provider (SIGTERM: a graceful stop) and start it
# again with the same flags; in kind, restart its DaemonSet's pod.
restart_provider() {
	if [[ $E2E_MODE == kind ]]; then
		kubectl -n "$PROVIDER_NAMESPACE" rollout restart daemonset "$PROVIDER_DAEMONSET" >/dev/null
		kubectl -n "$PROVIDER_NAMESPACE" rollout status daemonset "$PROVIDER_DAEMONSET" --timeout 120s >/dev/null
		return
	fi
	stop_one provider
	start_provider
}

# start_postgres NAME: a throwaway PostgreSQL cluster on a free port, run as
# the postgres user (it refuses root), recorded as NAME with the stack's
# other processes (stop_one NAME INT stops it). Its port and superuser
# password go to $E2E_DIR/NAME.env (PG_PORT, PG_PASSWORD) and are set here.
start_postgres() {
	local name=$1 bin data=$E2E_DIR/$1 as=()
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	PG_PORT=$(e2e_kubelet ports 1)
	PG_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
	mkdir -p "$data"
	if ((EUID == 0)); then
		chmod 711 "$E2E_DIR"
		chown postgres: "$data"
		as=(setpriv --reuid postgres --regid postgres --init-groups --)
	fi
	printf '%s\n' "$PG_PASSWORD" >"$data.pw"
	chmod 644 "$data.pw"
	"${as[@]}" "$bin/initdb" -D "$data/db" -U postgres --auth=scram-sha-256 --pwfile="$data.pw" >"$E2E_DIR/logs/initdb-$name.log" 2>&1
	rm -f "$data.pw"
	start_bg "$name" "${as[@]}" "$bin/postgres" -D "$data/db" -p "$PG_PORT" -k "$data" -c listen_addresses=127.0.0.1
	wait_until 30 "$name" "$bin/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
	printf 'PG_PORT=%s\nPG_PASSWORD=%s\n' "$PG_PORT" "$PG_PASSWORD" >"$E2E_DIR/$name.env"
}

# psql_as USER PASSWORD SQL: one query against the cluster of PG_PORT.
psql_as() {
	PGPASSWORD=$2 psql -h 127.0.0.1 -p "$PG_PORT" -U "$1" -d postgres -tAc "$3"
}

# role_exists ROLE: the cluster of PG_PORT has a role of that name.
role_exists() {
	[[ $(psql_as postgres "$PG_PASSWORD" "SELECT count(*) FROM pg_roles WHERE rolname = '$1'") == 1 ]]
}
