# shellcheck shell=bash
# node_up: a one-node Kubernetes cluster on this machine, everything under
# $E2E_DIR (see README.md): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd on Debian's runc, a bridge for the pods, the
# kubelet; Vault on the host; the Secrets Store CSI driver and the provider
# installed from their Helm charts. What the bats files need goes to
# $E2E_DIR/env. Needs ROOT, E2E_DIR, KUBE_BIN and test/e2e/lib.sh sourced.

NODE_NAME=node-e2e
NODE_BIN=$ROOT/bin/node
IMAGE_TAG="test"

# pick_subnet: a 10.X.0.0/16 that no address or route of this machine uses:
# 10.X.0.0/24 for Services (the first, 10.X.0.1, is the kubernetes
# Service's ClusterIP, which the API server listens on), 10.X.1.0/24 for pods
# (10.X.1.1 is the bridge, the pods' gateway, where Vault listens).
pick_subnet() {
	local x i
	for ((i = 0; i < 50; i++)); do
		x=$((100 + RANDOM % 150))
		ip -4 addr show | grep -q " 10\.$x\." && continue
		ip -4 route show | grep -q "^10\.$x\." && continue
		SERVICE_CIDR=10.$x.0.0/24 CLUSTER_IP=10.$x.0.1
		POD_CIDR=10.$x.1.0/24 GATEWAY=10.$x.1.1
		BRIDGE=vcsi$x
		echo "$BRIDGE" >"$E2E_DIR/bridge"
		return 0
	done
	e2e_log "no free 10.X.0.0/16 for the node"
	return 1
}

# net_up: the bridge with the pods' gateway and the ClusterIP, and the
# kubelet's root dir as a shared mount (the driver's pods mount propagates
# Bidirectional).
net_up() {
	pick_subnet
	ip link add "$BRIDGE" type bridge
	ip addr add "$GATEWAY/24" dev "$BRIDGE"
	ip addr add "$CLUSTER_IP/32" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	mkdir -p "$E2E_DIR/kubelet"
	mount --bind "$E2E_DIR/kubelet" "$E2E_DIR/kubelet"
	mount --make-rshared "$E2E_DIR/kubelet"
	mkdir -p "$E2E_DIR/cni/net.d" "$E2E_DIR/cni/ipam"
	cat >"$E2E_DIR/cni/net.d/10-node.conflist" <<-JSON
	{
	  "cniVersion": "1.0.0",
	  "name": "node-e2e",
	  "plugins": [
	    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "isDefaultGateway": true, "ipMasq": false,
	     "ipam": {"type": "host-local", "dataDir": "$E2E_DIR/cni/ipam", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GATEWAY"}]]}},
	    {"type": "loopback"}
	  ]
	}
	JSON
}

start_etcd() {
	local p
	mapfile -t p < <(ports 2)
	ETCD_URL=http://127.0.0.1:${p[0]}
	start_bg etcd etcd --name node-e2e --data-dir "$E2E_DIR/etcd" \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls "http://127.0.0.1:${p[1]}" --initial-advertise-peer-urls "http://127.0.0.1:${p[1]}" \
		--initial-cluster "node-e2e=http://127.0.0.1:${p[1]}" --log-level warn
	wait_until 30 "etcd /health" http_ok "$ETCD_URL/health"
}

# start_apiserver: on the kubernetes Service's ClusterIP and port (443), so
# that pods reach it as in-cluster clients do, without kube-proxy.
start_apiserver() {
	APISERVER_URL=https://$CLUSTER_IP:443
	ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	printf '%s,node-admin,node-admin,system:masters\n' "$ADMIN_TOKEN" >"$E2E_DIR/pki/tokens.csv"
	start_bg kube-apiserver "$KUBE_BIN/kube-apiserver" \
		--etcd-servers "$ETCD_URL" \
		--bind-address "$CLUSTER_IP" --advertise-address "$CLUSTER_IP" --secure-port 443 \
		--cert-dir "$E2E_DIR/pki" \
		--tls-cert-file "$E2E_DIR/pki/apiserver.crt" --tls-private-key-file "$E2E_DIR/pki/apiserver.key" \
		--client-ca-file "$E2E_DIR/pki/ca.crt" \
		--token-auth-file "$E2E_DIR/pki/tokens.csv" \
		--authorization-mode RBAC \
		--allow-privileged=true \
		--kubelet-preferred-address-types InternalIP \
		--service-account-issuer "$APISERVER_URL" \
		--service-account-key-file "$E2E_DIR/pki/sa.pub" \
		--service-account-signing-key-file "$E2E_DIR/pki/sa.key" \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--profiling=false
	write_kubeconfig "$E2E_DIR/admin.kubeconfig" "$ADMIN_TOKEN"
	export KUBECONFIG=$E2E_DIR/admin.kubeconfig
	wait_until 90 "kube-apiserver /readyz" http_ok "$APISERVER_URL/readyz" \
		--cacert "$E2E_DIR/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN"
	KUBE_SERVER_VERSION=$(kubectl version -o json 2>/dev/null | jq -r .serverVersion.gitVersion)
	[[ $KUBE_SERVER_VERSION == "v${KUBE_BIN##*/}" ]] ||
		{ e2e_log "kube-apiserver reports $KUBE_SERVER_VERSION, want v${KUBE_BIN##*/}"; return 1; }
	wait_until 60 "bootstrap ClusterRoles" kubectl get clusterrole system:auth-delegator
}

# start_controllers: kube-controller-manager (every default controller:
# DaemonSets, ServiceAccounts, kube-root-ca.crt, garbage collection, node
# lifecycle) and kube-scheduler, as the admin.
start_controllers() {
	local p
	mapfile -t p < <(ports 2)
	start_bg kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
		--kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authentication-kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authorization-kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authentication-skip-lookup \
		--root-ca-file "$E2E_DIR/pki/ca.crt" \
		--service-account-private-key-file "$E2E_DIR/pki/sa.key" \
		--leader-elect=false \
		--bind-address 127.0.0.1 --secure-port "${p[0]}" \
		--cert-dir "$E2E_DIR/kcm-certs" \
		--profiling=false
	start_bg kube-scheduler "$KUBE_BIN/kube-scheduler" \
		--kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authentication-kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authorization-kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authentication-skip-lookup \
		--leader-elect=false \
		--bind-address 127.0.0.1 --secure-port "${p[1]}" \
		--cert-dir "$E2E_DIR/scheduler-certs" \
		--profiling=false
	wait_until 60 "kube-controller-manager /healthz" http_ok "https://127.0.0.1:${p[0]}/healthz" --insecure
	wait_until 60 "kube-scheduler /healthz" http_ok "https://127.0.0.1:${p[1]}/healthz" --insecure
}

# start_containerd: its root, state, sockets, runc's root and the CNI
# configuration all under $E2E_DIR; the sandbox image is our pause image.
start_containerd() {
	local d=$E2E_DIR/containerd
	mkdir -p "$d"
	CONTAINERD_SOCK=$d/containerd.sock
	cat >"$d/config.toml" <<-TOML
	version = 3
	root = "$d/root"
	state = "$d/state"
	temp = "$d/tmp"

	[grpc]
	  address = "$CONTAINERD_SOCK"
	[ttrpc]
	  address = "$CONTAINERD_SOCK.ttrpc"

	[plugins.'io.containerd.internal.v1.opt']
	  path = "$d/opt"
	[plugins.'io.containerd.nri.v1.nri']
	  disable = true
	[plugins.'io.containerd.grpc.v1.cri']
	  stream_server_address = "127.0.0.1"
	  stream_server_port = "0"
	[plugins.'io.containerd.cri.v1.images']
	  snapshotter = "overlayfs"
	  [plugins.'io.containerd.cri.v1.images'.pinned_images]
	    sandbox = "docker.io/vault-csi-node/pause:$IMAGE_TAG"
	[plugins.'io.containerd.cri.v1.runtime']
	  # The pods' network namespaces too, not in /var/run/netns.
	  netns_mounts_under_state_dir = true
	  # This machine refuses a negative oom_score_adj (runc then fails every
	  # container with "can't get final child's PID from pipe"): no lower than
	  # containerd's own.
	  restrict_oom_score_adj = true
	  [plugins.'io.containerd.cri.v1.runtime'.cni]
	    bin_dirs = ["$NODE_BIN/cni"]
	    conf_dir = "$E2E_DIR/cni/net.d"
	  [plugins.'io.containerd.cri.v1.runtime'.containerd]
	    default_runtime_name = "runc"
	    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
	      runtime_type = "io.containerd.runc.v2"
	      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
	        BinaryName = "$RUNC"
	        Root = "$d/runc"
	        SystemdCgroup = false
	TOML
	start_bg containerd env PATH="$NODE_BIN:$PATH" "$NODE_BIN/containerd" --config "$d/config.toml"
	wait_until 30 "containerd" ctr version
}

ctr() { "$NODE_BIN/ctr" --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

# import_images: the provider's image (make image) and the node's
# (make e2e-node-tools) into containerd's CRI namespace: no registry here.
import_images() {
	local t
	for t in "$ROOT/bin/image.tar" "$NODE_BIN"/images/*.tar; do
		ctr images import "$t" >>"$E2E_DIR/logs/ctr.log" 2>&1
	done
	PROVIDER_IMAGE=$(tar -xOf "$ROOT/bin/image.tar" manifest.json | jq -r '.[0].RepoTags[0]')
}

start_kubelet() {
	local p
	mapfile -t p < <(ports 2)
	KUBELET_PORT=${p[0]} KUBELET_HEALTHZ_PORT=${p[1]}
	write_kubeconfig "$E2E_DIR/kubelet.kubeconfig" "$ADMIN_TOKEN"
	cat >"$E2E_DIR/kubelet.yaml" <<-YAML
	apiVersion: kubelet.config.k8s.io/v1beta1
	kind: KubeletConfiguration
	# The host's cgroups are v1: allowed, deprecated.
	failCgroupV1: false
	cgroupDriver: cgroupfs
	cgroupsPerQOS: false
	enforceNodeAllocatable: []
	failSwapOn: false
	containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
	address: $GATEWAY
	port: $KUBELET_PORT
	readOnlyPort: 0
	healthzBindAddress: 127.0.0.1
	healthzPort: $KUBELET_HEALTHZ_PORT
	authentication:
	  anonymous: {enabled: true}
	  webhook: {enabled: false}
	authorization: {mode: AlwaysAllow}
	podLogsDir: $E2E_DIR/pod-logs
	# Pods are re-synced, and CSI volumes with requiresRepublish republished, this often.
	syncFrequency: 5s
	evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%"}
	imageGCHighThresholdPercent: 100
	imageGCLowThresholdPercent: 99
	serializeImagePulls: false
	YAML
	start_bg kubelet "$KUBE_BIN/kubelet" \
		--config "$E2E_DIR/kubelet.yaml" \
		--kubeconfig "$E2E_DIR/kubelet.kubeconfig" \
		--root-dir "$E2E_DIR/kubelet" \
		--cert-dir "$E2E_DIR/kubelet-pki" \
		--hostname-override "$NODE_NAME" --node-ip "$GATEWAY" \
		--v 2
	wait_until 60 "kubelet /healthz" http_ok "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
	wait_until 120 "node $NODE_NAME Ready" kubectl wait --for condition=Ready "node/$NODE_NAME" --timeout 5s
}

# configure_vault: kubernetes auth against this API server.
configure_vault() {
	kubectl create namespace vault-auth >/dev/null
	kubectl -n vault-auth create serviceaccount token-reviewer >/dev/null
	kubectl create clusterrolebinding vault-token-reviewer --clusterrole system:auth-delegator \
		--serviceaccount vault-auth:token-reviewer >/dev/null
	"$ROOT/bin/vault" auth enable kubernetes >/dev/null
	"$ROOT/bin/vault" write auth/kubernetes/config \
		kubernetes_host="$APISERVER_URL" \
		kubernetes_ca_cert=@"$E2E_DIR/pki/ca.crt" \
		token_reviewer_jwt="$(kubectl -n vault-auth create token token-reviewer --duration 24h)" \
		disable_local_ca_jwt=true >/dev/null
}

driver_chart() {
	echo "$(cd "$ROOT/tools/csi" && go list -m -f '{{.Dir}}' sigs.k8s.io/secrets-store-csi-driver)/charts/secrets-store-csi-driver"
}

# install_driver: the driver's own chart with our images. Its CRD upgrade
# hooks are off (they need the driver-crds image; helm installs the CRDs from
# the chart's crds/). The chart sets serviceAccountTokenInSecrets on
# Kubernetes 1.35 and later whenever tokenRequests is set.
install_driver() {
	local img=docker.io/vault-csi-node
	"$ROOT/bin/helm" install csi "$(driver_chart)" --namespace kube-system --wait --timeout 3m \
		--set linux.image.repository=$img/driver,linux.image.tag=$IMAGE_TAG,linux.image.pullPolicy=Never \
		--set linux.registrarImage.repository=$img/registrar,linux.registrarImage.tag=$IMAGE_TAG,linux.registrarImage.pullPolicy=Never \
		--set linux.livenessProbeImage.repository=$img/livenessprobe,linux.livenessProbeImage.tag=$IMAGE_TAG,linux.livenessProbeImage.pullPolicy=Never \
		--set linux.crds.enabled=false \
		--set linux.kubeletRootDir="$E2E_DIR/kubelet" \
		--set linux.providersDir="$E2E_DIR/providers" \
		--set "linux.additionalProvidersDirs={$E2E_DIR/providers}" \
		--set 'tokenRequests[0].audience=vault' \
		--set syncSecret.enabled=true \
		--set enableSecretRotation=true,rotationPollInterval=5s \
		--set logVerbosity=2 >/dev/null
	kubectl -n kube-system rollout status daemonset/csi-secrets-store-csi-driver --timeout 120s >/dev/null
	# Our registrar has told the kubelet, which records the driver on the CSINode.
	wait_until 60 "the driver on CSINode $NODE_NAME" eval \
		"kubectl get csinode $NODE_NAME -o jsonpath='{.spec.drivers[*].name}' | grep -qx secrets-store.csi.k8s.io"
}

# install_provider: our chart with the imported image, its defaults otherwise
# (non-root, the prepare-dir init container).
install_provider() {
	local repo=${PROVIDER_IMAGE%:*} tag=${PROVIDER_IMAGE##*:}
	"$ROOT/bin/helm" upgrade --install vault-csi-provider "$ROOT/deployment/helm/vault-csi-provider" \
		--namespace vault-csi-provider --create-namespace --wait --timeout 3m \
		--set image.repository="$repo",image.tag="$tag",image.pullPolicy=Never \
		--set vault.address="$VAULT_ADDR" \
		--set providersDir="$E2E_DIR/providers" \
		--set logLevel=debug >/dev/null
	kubectl -n vault-csi-provider rollout status daemonset/vault-csi-provider --timeout 120s >/dev/null
}

write_env() {
	cat >"$E2E_DIR/env" <<-ENV
	export ROOT=$ROOT E2E_DIR=$E2E_DIR
	export KUBECONFIG=$E2E_DIR/admin.kubeconfig APISERVER_URL=$APISERVER_URL
	export KUBE_SERVER_VERSION=$KUBE_SERVER_VERSION
	export VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=root
	export NODE_NAME=$NODE_NAME CONTAINERD_SOCK=$CONTAINERD_SOCK PROVIDER_IMAGE=$PROVIDER_IMAGE
	export PROVIDERS_DIR=$E2E_DIR/providers KUBELET_ROOT=$E2E_DIR/kubelet
	ENV
}

node_up() {
	local t=$SECONDS
	net_up
	gen_certs "IP:$CLUSTER_IP" IP:127.0.0.1 DNS:kubernetes DNS:kubernetes.default DNS:kubernetes.default.svc \
		DNS:kubernetes.default.svc.cluster.local
	e2e_log "starting etcd, kube-apiserver on $CLUSTER_IP:443"
	start_etcd
	start_apiserver
	e2e_log "starting kube-controller-manager, kube-scheduler"
	start_controllers
	e2e_log "starting containerd, importing images"
	start_containerd
	import_images
	e2e_log "starting the kubelet"
	start_kubelet
	e2e_log "node Ready after $((SECONDS - t))s; starting vault on $GATEWAY"
	# On the pods' gateway: pods and this machine reach it there.
	start_vault "$GATEWAY"
	configure_vault
	e2e_log "installing the driver's chart"
	install_driver
	e2e_log "installing the provider's chart ($PROVIDER_IMAGE)"
	install_provider
	write_env
	e2e_log "node up in $((SECONDS - t))s"
}
