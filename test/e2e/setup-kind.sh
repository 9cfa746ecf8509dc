#!/usr/bin/env bash
# Run the bats files of test/bats against a kind cluster: the Secrets Store
# CSI driver installed with its Helm chart, the provider with ours
# (deployment/helm/vault-csi-provider) from a locally built image, Vault (dev)
# and PostgreSQL on this machine. e2e-kubelet still plays kubelet for the test
# pods, through extra mounts that put the node's driver socket and pods
# directory on this machine. See test/e2e/README.md.
#
# Usage: test/e2e/setup-kind.sh test [BATS FILE...]   up, run bats, down
#        test/e2e/setup-kind.sh up                     up, print how to run bats
#        test/e2e/setup-kind.sh down                   stop Vault, delete the cluster
# Needs: docker, kind, kubectl, go; Linux (unix sockets and mount propagation
# through the kind node's bind mounts). E2E_DIR defaults to /tmp/vault-csi-e2e-kind.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export ROOT
cd "$ROOT"
# shellcheck source=lib.sh
source test/e2e/lib.sh

CLUSTER=${KIND_CLUSTER:-vault-csi-e2e}
export E2E_DIR=${E2E_DIR:-/tmp/vault-csi-e2e-kind}
IMAGE=vault-csi-provider:e2e
PROVIDER_NAMESPACE=csi-vault # not vault-csi-provider: 99-deployment.bats dry-runs into that one
HELM=$ROOT/bin/helm

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { e2e_log "$c is needed"; exit 1; }
	done
}

build() {
	make e2e-tools "$ROOT/bin/vault" "$HELM" >&2
	# The release image (tools/image), for this machine's platform only, as
	# the docker-save tarball bin/image.tar tagged $IMAGE.
	make image IMAGE_REF="$IMAGE" IMAGE_PLATFORMS="linux/$(go env GOARCH)" >&2
}

create_cluster() {
	mkdir -p "$E2E_DIR/plugin" "$E2E_DIR/pods" "$E2E_DIR/logs" "$E2E_DIR/pids" "$E2E_DIR/pki"
	# The driver's socket directory and kubelet's pods directory are shared
	# with this machine; Bidirectional makes the driver's tmpfs mounts show
	# here too.
	cat >"$E2E_DIR/kind.yaml" <<-YAML
	kind: Cluster
	apiVersion: kind.x-k8s.io/v1alpha4
	nodes:
	  - role: control-plane
	    extraMounts:
	      - hostPath: $E2E_DIR/plugin
	        containerPath: /var/lib/kubelet/plugins/csi-secrets-store
	      - hostPath: $E2E_DIR/pods
	        containerPath: /var/lib/kubelet/pods
	        propagation: Bidirectional
	YAML
	kind create cluster --name "$CLUSTER" --config "$E2E_DIR/kind.yaml" --kubeconfig "$E2E_DIR/admin.kubeconfig" --wait 120s
	export KUBECONFIG=$E2E_DIR/admin.kubeconfig
	kind load image-archive "$ROOT/bin/image.tar" --name "$CLUSTER"
	APISERVER_URL=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')
	kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$E2E_DIR/pki/ca.crt"
	SA_ISSUER=$(kubectl get --raw /.well-known/openid-configuration | jq -r .issuer)
}

# The kind network's IPv4 gateway: this machine, as the cluster's pods reach it.
host_ip() {
	docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 -E '^[0-9.]+$'
}

start_vault_on_host() {
	local ip port
	ip=$(host_ip)
	port=$("$ROOT/bin/e2e-kubelet" ports 1)
	export VAULT_ADDR=http://$ip:$port VAULT_TOKEN=root
	start_bg vault "$ROOT/bin/vault" server -dev -dev-root-token-id=root -dev-listen-address "$ip:$port" -dev-no-store-token
	wait_until 30 "vault" http_ok "$VAULT_ADDR/v1/sys/health"
	alive vault
	kubectl create namespace vault-auth
	kubectl -n vault-auth create serviceaccount token-reviewer
	kubectl create clusterrolebinding vault-token-reviewer --clusterrole system:auth-delegator --serviceaccount vault-auth:token-reviewer
	kubectl create clusterrolebinding e2e-oidc-discovery --clusterrole system:service-account-issuer-discovery --group system:unauthenticated
	"$ROOT/bin/vault" auth enable kubernetes
	"$ROOT/bin/vault" write auth/kubernetes/config kubernetes_host="$APISERVER_URL" \
		kubernetes_ca_cert=@"$E2E_DIR/pki/ca.crt" disable_local_ca_jwt=true \
		token_reviewer_jwt="$(kubectl -n vault-auth create token token-reviewer --duration 24h)"
}

install_charts() {
	local driver_chart
	driver_chart=$(cd tools/csi && go list -m -f '{{.Dir}}' sigs.k8s.io/secrets-store-csi-driver)/charts/secrets-store-csi-driver
	"$HELM" install csi-secrets-store "$driver_chart" --namespace kube-system --wait \
		--set syncSecret.enabled=true --set enableSecretRotation=true --set rotationPollInterval=2s \
		--set 'tokenRequests[0].audience=vault'
	kubectl create namespace "$PROVIDER_NAMESPACE"
	kubectl label namespace "$PROVIDER_NAMESPACE" pod-security.kubernetes.io/enforce=privileged
	"$HELM" install vault-csi-provider deployment/helm/vault-csi-provider --namespace "$PROVIDER_NAMESPACE" --wait \
		--set image.repository=vault-csi-provider --set image.tag=e2e --set image.pullPolicy=Never \
		--set vault.address="$VAULT_ADDR" --set logLevel=debug \
		--set 'serviceAccountTokens.allowedAudiences={vault,custom-aud}'
	PROVIDER_DAEMONSET=$(kubectl -n "$PROVIDER_NAMESPACE" get daemonset -o jsonpath='{.items[0].metadata.name}')
}

# phantom_node: a Node object no kubelet runs, for the test pods. Without it
# the pod garbage collector deletes pods bound to a missing node. It has no
# kubernetes.io/os label, so no driver or provider pod is scheduled on it.
phantom_node() {
	kubectl apply -f - >/dev/null <<-YAML
	apiVersion: v1
	kind: Node
	metadata:
	  name: e2e-phantom-node
	  labels: {e2e.vault-csi-provider/phantom: "true"}
	spec:
	  taints: [{key: e2e.vault-csi-provider/phantom, effect: NoSchedule}]
	YAML
}

write_env() {
	cat >"$E2E_DIR/env" <<-ENV
	export E2E_MODE=kind ROOT=$ROOT E2E_DIR=$E2E_DIR
	export KUBECONFIG=$E2E_DIR/admin.kubeconfig APISERVER_URL=$APISERVER_URL APISERVER_CA=$E2E_DIR/pki/ca.crt SA_ISSUER=$SA_ISSUER
	export VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=root
	export CSI_ENDPOINT=unix://$E2E_DIR/plugin/csi.sock
	# Test pods go to a node no kubelet runs: the real kubelet leaves them alone.
	export NODE_NAME=e2e-phantom-node
	export KUBELET_PODS_DIR=/var/lib/kubelet/pods KUBELET_HOST_PODS_DIR=$E2E_DIR/pods
	export PROVIDER_NAMESPACE=$PROVIDER_NAMESPACE PROVIDER_DAEMONSET=$PROVIDER_DAEMONSET
	ENV
}

up() {
	need docker kind kubectl go jq
	[[ ! -e $E2E_DIR/env ]] || { e2e_log "$E2E_DIR/env exists: run '$0 down' first"; exit 1; }
	build
	create_cluster
	start_vault_on_host
	install_charts
	phantom_node
	write_env
	e2e_log "kind cluster $CLUSTER ready: E2E_DIR=$E2E_DIR bats test/bats"
}

down() {
	stop_bats
	stop_one postgres INT
	stop_one vault
	kind delete cluster --name "$CLUSTER" || true
	local mnt
	while read -r mnt; do
		umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	done < <(awk -v d="$E2E_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r)
	rm -f "$E2E_DIR/env"
}

case ${1:-} in
up) up ;;
down) down ;;
test)
	shift
	trap down EXIT
	trap 'exit 130' INT TERM
	up
	files=("$@")
	((${#files[@]} > 0)) || files=(test/bats/*.bats)
	rc=0
	run_bats "${files[@]}" || rc=$?
	print_summary
	exit "$rc"
	;;
*)
	echo "usage: $0 test [BATS FILE...] | up | down" >&2
	exit 2
	;;
esac
