# shellcheck shell=bash
# Shared by every test/node/bats/*.bats file: the one-node cluster of
# test/node/run.sh has written $E2E_DIR/env.

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load /usr/lib/bats/bats-file/load

if [[ -z ${E2E_DIR:-} || ! -f $E2E_DIR/env ]]; then
	echo "E2E_DIR does not name a running node: run test/node/run.sh (make e2e-node)" >&2
	exit 1
fi
# shellcheck disable=SC1091
source "$E2E_DIR/env"
# shellcheck source=../../e2e/lib.sh
source "$ROOT/test/e2e/lib.sh"

vault() { "$ROOT/bin/vault" "$@"; }

sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# new_namespace NS SA: a namespace and a service account in it (the
# controller-manager makes the default one and kube-root-ca.crt).
new_namespace() {
	kubectl create namespace "$1" >/dev/null
	kubectl -n "$1" create serviceaccount "$2" >/dev/null
}

# kv_app NS NAME VALUE: a kv secret secret/NS/NAME {value: VALUE}, a policy
# and a kubernetes auth role NS for NS's service account app, and a
# SecretProviderClass NAME that mounts it as the file "value", renders it
# into the file "rendered.conf" ("value=VALUE", a template over the whole
# secret) and syncs it to the Secret NAME (key value).
kv_app() {
	local ns=$1 name=$2
	vault kv put "secret/$ns/$name" value="$3" >/dev/null
	printf 'path "secret/data/%s/*" { capabilities = ["read"] }\n' "$ns" | vault policy write "$ns" - >/dev/null
	vault write "auth/kubernetes/role/$ns" bound_service_account_names=app \
		bound_service_account_namespaces="$ns" policies="$ns" audience=vault ttl=10m >/dev/null
	kubectl apply -f - >/dev/null <<-YAML
	apiVersion: secrets-store.csi.x-k8s.io/v1
	kind: SecretProviderClass
	metadata: {name: $name, namespace: $ns}
	spec:
	  provider: vault
	  secretObjects:
	    - secretName: $name
	      type: Opaque
	      data: [{objectName: value, key: value}]
	  parameters:
	    roleName: $ns
	    objects: |
	      - objectName: value
	        secretPath: secret/data/$ns/$name
	        secretKey: value
	      - objectName: db
	        secretPath: secret/data/$ns/$name
	        templateOnly: true
	      - objectName: rendered.conf
	        template: 'value={{ .db.data.data.value }}'
	YAML
}

# rendered VALUE: what kv_app's template renders for VALUE.
rendered() { printf 'value=%s' "$1"; }

# app_pod NS POD CLASS [ENV_SECRET [FILE...]]: a pod of the test app
# mounting CLASS at /mnt/secrets, with VALUE from the Secret ENV_SECRET when
# given (may be ""); it reports the files value and rendered.conf, and each
# FILE (a name in the volume). Its service account is app, or $APP_SA.
app_pod() { app_pod_yaml "$@" | kubectl apply -f - >/dev/null; }

# app_pod_yaml NS POD CLASS [ENV_SECRET [FILE...]]: app_pod's manifest.
app_pod_yaml() {
	local ns=$1 pod=$2 class=$3 env_secret=${4:-} f files=value,rendered.conf
	shift 4 2>/dev/null || shift $#
	for f in "$@"; do files+=,$f; done
	local args="-interval, 500ms, -env, VALUE"
	for f in ${files//,/ }; do args+=", -file, /mnt/secrets/$f"; done
	{
		cat <<-YAML
		apiVersion: v1
		kind: Pod
		metadata: {name: $pod, namespace: $ns}
		spec:
		  serviceAccountName: ${APP_SA:-app}
		  terminationGracePeriodSeconds: 1
		  containers:
		    - name: app
		      image: docker.io/vault-csi-node/app:test
		      imagePullPolicy: Never
		      args: [$args]
		      volumeMounts: [{name: secrets, mountPath: /mnt/secrets, readOnly: true}]
		YAML
		[[ -z $env_secret ]] || cat <<-YAML
		      env:
		        - name: VALUE
		          valueFrom: {secretKeyRef: {name: $env_secret, key: value}}
		YAML
		cat <<-YAML
		  volumes:
		    - name: secrets
		      csi:
		        driver: secrets-store.csi.k8s.io
		        readOnly: true
		        volumeAttributes: {secretProviderClass: $class}
		YAML
	}
}

# app_log NS POD: what the app reported.
app_log() { kubectl -n "$1" logs "$2" 2>/dev/null; }

# wait_log SECONDS NS POD LINE: until the app reports LINE.
wait_log() {
	local secs=$1 ns=$2 pod=$3 line=$4
	wait_until "$secs" "$ns/$pod to report '$line'" eval "app_log $ns $pod | grep -qxF '$line'"
}

# events NS OBJECT_NAME: the events about an object, "reason: message" a line.
events() {
	kubectl -n "$1" get events --field-selector "involvedObject.name=$2" \
		-o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}'
}

# container_pid NS POD [CONTAINER_INDEX]: the host PID of a pod's container,
# from runc's state under this node's runc root (another node on this
# machine has its own).
container_pid() {
	local id
	id=$(kubectl -n "$1" get pod "$2" -o jsonpath="{.status.containerStatuses[${3:-0}].containerID}")
	/usr/sbin/runc --root "$E2E_DIR/containerd/runc/k8s.io" state "${id#containerd://}" | jq -r .pid
}

# provider_pid: the host PID of the provider's process.
provider_pid() {
	local pod
	pod=$(kubectl -n vault-csi-provider get pods -l app.kubernetes.io/name=vault-csi-provider \
		--field-selector status.phase=Running -o jsonpath='{.items[0].metadata.name}')
	container_pid vault-csi-provider "$pod"
}
