# shellcheck shell=bash
# stack_up: etcd, kube-apiserver, Vault, the Secrets Store CSI driver and the
# provider, each on free loopback ports under $E2E_DIR, wired together as on a
# node. Everything the bats files need is written to $E2E_DIR/env.
# Needs: ROOT, E2E_DIR, lib.sh sourced, the binaries in $ROOT/bin, and
# KUBE_BIN: the directory of the Kubernetes release's kube-apiserver and
# kube-controller-manager (`make kube-bin`, e.g. $ROOT/bin/kube/1.37.2).

start_etcd() {
	local p
	mapfile -t p < <(ports 2)
	ETCD_URL=http://127.0.0.1:${p[0]}
	start_bg etcd etcd --name e2e --data-dir "$E2E_DIR/etcd" \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls "http://127.0.0.1:${p[1]}" --initial-advertise-peer-urls "http://127.0.0.1:${p[1]}" \
		--initial-cluster "e2e=http://127.0.0.1:${p[1]}" --log-level warn
	wait_until 30 "etcd /health" http_ok "$ETCD_URL/health"
}

start_apiserver() {
	local port
	port=$(ports 1)
	APISERVER_URL=https://127.0.0.1:$port
	ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	printf '%s,e2e-admin,e2e-admin,system:masters\n' "$ADMIN_TOKEN" >"$E2E_DIR/pki/tokens.csv"
	start_bg kube-apiserver "$KUBE_BIN/kube-apiserver" \
		--etcd-servers "$ETCD_URL" \
		--bind-address 127.0.0.1 --secure-port "$port" \
		--cert-dir "$E2E_DIR/pki" \
		--tls-cert-file "$E2E_DIR/pki/apiserver.crt" --tls-private-key-file "$E2E_DIR/pki/apiserver.key" \
		--client-ca-file "$E2E_DIR/pki/ca.crt" \
		--token-auth-file "$E2E_DIR/pki/tokens.csv" \
		--authorization-mode RBAC \
		--service-account-issuer "$APISERVER_URL" \
		--service-account-key-file "$E2E_DIR/pki/sa.pub" \
		--service-account-signing-key-file "$E2E_DIR/pki/sa.key" \
		--service-cluster-ip-range 10.0.0.0/24 \
		--endpoint-reconciler-type none \
		--profiling=false
	write_kubeconfig "$E2E_DIR/admin.kubeconfig" "$ADMIN_TOKEN"
	export KUBECONFIG=$E2E_DIR/admin.kubeconfig
	wait_until 90 "kube-apiserver /readyz" http_ok "$APISERVER_URL/readyz" \
		--cacert "$E2E_DIR/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN"
	# The API server we test against must be the release asked for.
	KUBE_SERVER_VERSION=$(kubectl version -o json 2>/dev/null | jq -r .serverVersion.gitVersion)
	[[ $KUBE_SERVER_VERSION == "v${KUBE_BIN##*/}" ]] ||
		{ e2e_log "kube-apiserver reports $KUBE_SERVER_VERSION, want v${KUBE_BIN##*/}"; return 1; }
	e2e_log "kube-apiserver $KUBE_SERVER_VERSION"
	# RBAC's bootstrap roles are written by a post-start hook; wait for them.
	wait_until 60 "bootstrap ClusterRoles" kubectl get clusterrole system:auth-delegator
}

# start_controller_manager: kube-controller-manager with only the garbage
# collector (it deletes the driver's synced Secrets once their owner, the
# SecretProviderClassPodStatus, is gone), as the admin.
start_controller_manager() {
	local port
	port=$(ports 1)
	start_bg kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
		--kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authentication-kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authorization-kubeconfig "$E2E_DIR/admin.kubeconfig" \
		--authentication-skip-lookup \
		--controllers garbagecollector \
		--leader-elect=false \
		--bind-address 127.0.0.1 --secure-port "$port" \
		--cert-dir "$E2E_DIR/kcm-certs" \
		--profiling=false
	wait_until 60 "kube-controller-manager /healthz" http_ok "https://127.0.0.1:$port/healthz" --insecure
}

# driver_module_dir: the driver module in the module cache (tools/csi's version).
driver_module_dir() {
	(cd "$ROOT/tools/csi" && go list -m -f '{{.Dir}}' sigs.k8s.io/secrets-store-csi-driver)
}

# setup_kube_objects: the driver's CRDs, CSIDriver and RBAC, the provider's
# kustomize base (Namespace, ServiceAccount, RBAC),
# Vault's token reviewer, and a kubeconfig for each component's own
# ServiceAccount, so each runs with exactly its manifests' permissions.
setup_kube_objects() {
	local deploy
	deploy=$(driver_module_dir)/manifest_staging/deploy
	kubectl apply -f "$deploy/secrets-store.csi.x-k8s.io_secretproviderclasses.yaml" \
		-f "$deploy/secrets-store.csi.x-k8s.io_secretproviderclasspodstatuses.yaml" \
		-f "$deploy/rbac-secretproviderclass.yaml" -f "$deploy/rbac-secretprovidersyncing.yaml" \
		-f "$deploy/csidriver.yaml" >/dev/null
	kubectl wait --for condition=Established --timeout 60s \
		crd/secretproviderclasses.secrets-store.csi.x-k8s.io \
		crd/secretproviderclasspodstatuses.secrets-store.csi.x-k8s.io >/dev/null
	# The provider's objects as its kustomize base makes them, for its RBAC.
	# The DaemonSet goes again (no controller would run it, and it would
	# collide with the Helm chart's in the server-side dry run).
	kubectl apply -k "$ROOT/deployment/kustomize/base" >/dev/null
	kubectl -n vault-csi-provider delete daemonset vault-csi-provider >/dev/null

	kubectl create namespace vault-auth >/dev/null
	kubectl -n vault-auth create serviceaccount token-reviewer >/dev/null
	kubectl create clusterrolebinding vault-token-reviewer --clusterrole system:auth-delegator \
		--serviceaccount vault-auth:token-reviewer >/dev/null
	# For jwt auth with jwks_url: the issuer's discovery documents, unauthenticated.
	kubectl create clusterrolebinding e2e-oidc-discovery --clusterrole system:service-account-issuer-discovery \
		--group system:unauthenticated >/dev/null

	write_kubeconfig "$E2E_DIR/driver.kubeconfig" \
		"$(kubectl -n kube-system create token secrets-store-csi-driver --duration 24h)"
	# The provider's token also stands for the one kubelet would mount in its
	# pod: its aud names the audiences the API server accepts.
	kubectl -n vault-csi-provider create token vault-csi-provider --duration 24h >"$E2E_DIR/provider.token"
	write_kubeconfig "$E2E_DIR/provider.kubeconfig" "$(cat "$E2E_DIR/provider.token")"
}

# configure_vault: kubernetes auth against this API server, reviewing tokens
# with the token-reviewer ServiceAccount. Roles and secrets are the bats files'.
configure_vault() {
	local v=$ROOT/bin/vault
	"$v" auth enable kubernetes >/dev/null
	"$v" write auth/kubernetes/config \
		kubernetes_host="$APISERVER_URL" \
		kubernetes_ca_cert=@"$E2E_DIR/pki/ca.crt" \
		token_reviewer_jwt="$(kubectl -n vault-auth create token token-reviewer --duration 24h)" \
		disable_local_ca_jwt=true >/dev/null
}

start_driver() {
	local p
	mapfile -t p < <(ports 1)
	mkdir -p "$E2E_DIR/csi" "$E2E_DIR/providers" "$E2E_DIR/pods"
	CSI_ENDPOINT=unix://$E2E_DIR/csi/csi.sock
	start_bg csi-driver env KUBECONFIG="$E2E_DIR/driver.kubeconfig" "$ROOT/bin/secrets-store-csi-driver" \
		--endpoint "$CSI_ENDPOINT" --nodeid e2e-node \
		--provider-volume "$E2E_DIR/providers" --additional-provider-volume-paths "$E2E_DIR/providers" \
		--metrics-addr "127.0.0.1:${p[0]}" \
		--enable-secret-rotation --rotation-poll-interval 2s \
		--v 2
	wait_until 30 "driver socket" test -S "$E2E_DIR/csi/csi.sock"
}

write_env() {
	cat >"$E2E_DIR/env" <<-ENV
	export ROOT=$ROOT E2E_DIR=$E2E_DIR
	export KUBECONFIG=$E2E_DIR/admin.kubeconfig APISERVER_URL=$APISERVER_URL APISERVER_CA=$E2E_DIR/pki/ca.crt
	export KUBE_SERVER_VERSION=$KUBE_SERVER_VERSION
	export VAULT_ADDR=$VAULT_ADDR VAULT_TOKEN=root
	export CSI_ENDPOINT=$CSI_ENDPOINT NODE_NAME=e2e-node KUBELET_PODS_DIR=$E2E_DIR/pods
	export PROVIDER_HEALTH_PORT=$PROVIDER_HEALTH_PORT PROVIDER_METRICS_PORT=$PROVIDER_METRICS_PORT
	ENV
}

stack_up() {
	gen_certs
	e2e_log "starting etcd"
	start_etcd
	e2e_log "starting kube-apiserver"
	start_apiserver
	setup_kube_objects
	# After the CRDs, so the garbage collector watches the driver's from the start.
	e2e_log "starting kube-controller-manager (garbage collector)"
	start_controller_manager
	e2e_log "starting vault"
	start_vault 127.0.0.1
	configure_vault
	e2e_log "starting the secrets store CSI driver"
	start_driver
	e2e_log "starting the provider"
	local p
	mapfile -t p < <(ports 2)
	PROVIDER_HEALTH_PORT=${p[0]} PROVIDER_METRICS_PORT=${p[1]}
	start_provider
	write_env
	e2e_log "stack up: apiserver $APISERVER_URL, vault $VAULT_ADDR, driver $CSI_ENDPOINT"
}
