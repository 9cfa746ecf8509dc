#!/usr/bin/env bash
# Lints and renders the Helm chart and the kustomize base, and checks every
# rendered document, without a cluster. Run by `make deploy-check`, which
# builds helm first.
#
# Environment: HELM (helm binary), PROMTOOL (promtool binary), KUBECTL
# (default kubectl), GO (default go), OUT (directory for the rendered
# manifests, emptied first).
# With DEPLOY_CHECK_KUBECONFIG set, the rendered manifests are also sent to
# that cluster's API server as a server-side dry run (server-dry-run.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
helm=${HELM:?set HELM to the helm binary}
promtool=${PROMTOOL:?set PROMTOOL to the promtool binary}
kubectl=${KUBECTL:-kubectl}
go=${GO:-go}
out=${OUT:?set OUT to a scratch directory}
chart=$root/deployment/helm/vault-csi-provider
ns=vault-csi-provider

rm -rf "$out"
mkdir -p "$out"

# The value sets rendered, each with a name: default values; TLS to Vault
# and Prometheus Operator monitoring; everything optional off (monitoring
# asked for without metrics); the dashboard and alert rules with another cap
# of Vault requests.
declare -A sets=(
	[helm-default]=""
	[helm-tls-monitoring]="metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=prometheus,vault.tls.caCert.secretName=vault-ca,vault.tls.caCert.key=ca.pem,vault.tls.serverName=vault.vault.svc,vault.namespace=team-a,logFormat=json,extraArgs[0]=-cache-size=2000"
	[helm-minimal]="metrics.enabled=false,rbac.create=false,serviceAccount.create=false,serviceAccount.name=existing-sa,priorityClassName=,monitoring.dashboard.enabled=true,monitoring.prometheusRule.enabled=true"
	[helm-driver-tokens-only]="serviceAccountTokens.driverTokensOnly=true"
	[helm-dashboards-alerts]="monitoring.dashboard.enabled=true,monitoring.dashboard.namespace=monitoring,monitoring.dashboard.annotations.grafana_folder=Vault,monitoring.prometheusRule.enabled=true,monitoring.prometheusRule.labels.release=prometheus,maxVaultRequests=128"
	[helm-no-policy]="policy.enabled=false"
	[helm-policy-file]=""
	[helm-root]="socketDir.prepare=false,podSecurityContext.runAsNonRoot=false,securityContext.runAsUser=0"
)
# The example policy for two teams, installed as a whole file.
declare -A files=([helm-policy-file]="policy.file=$root/deployment/examples/policy/two-teams.yaml")

for name in helm-default helm-tls-monitoring helm-minimal helm-driver-tokens-only helm-dashboards-alerts helm-no-policy helm-policy-file helm-root; do
	args=()
	if [[ -n ${sets[$name]} ]]; then
		args=(--set "${sets[$name]}")
	fi
	if [[ -n ${files[$name]:-} ]]; then
		args+=(--set-file "${files[$name]}")
	fi
	echo "== helm lint --strict ($name)"
	"$helm" lint --strict "$chart" "${args[@]}"
	echo "== helm template ($name)"
	"$helm" template vault-csi-provider "$chart" --namespace "$ns" "${args[@]}" >"$out/$name.yaml"
done

echo "== kubectl kustomize deployment/kustomize/base"
"$kubectl" kustomize "$root/deployment/kustomize/base" >"$out/kustomize-base.yaml"

# What each rendering must (and must not) contain.
expect() { # file, grep pattern, description
	grep -qE -- "$2" "$out/$1" || { echo "$1: no $3" >&2; exit 1; }
}
reject() {
	if grep -qE -- "$2" "$out/$1"; then echo "$1: unexpected $3" >&2; exit 1; fi
}
expect helm-default.yaml '^kind: DaemonSet$' "DaemonSet"
expect helm-default.yaml '- -endpoint=/provider/vault/vault\.sock$' "-endpoint in the provider's own directory"
# Non-root by default: the provider as 65532, the init container as root
# with CHOWN alone, preparing the provider's directory for that user.
expect helm-default.yaml '^        runAsNonRoot: true$' "runAsNonRoot on the pod"
expect helm-default.yaml '^        runAsUser: 65532$' "runAsUser 65532 on the pod"
expect helm-default.yaml '^        - name: prepare-dir$' "prepare-dir init container"
expect helm-default.yaml '^            - -uid=65532$' "prepare-dir -uid"
expect helm-default.yaml '^              - CHOWN$' "CAP_CHOWN for prepare-dir"
expect helm-root.yaml '- -endpoint=/provider/vault\.sock$' "-endpoint in the provider directory"
reject helm-root.yaml 'prepare-dir' "prepare-dir without socketDir.prepare"
expect helm-root.yaml '^            runAsUser: 0$' "root provider container"
expect helm-default.yaml '- -metrics-addr=:8081$' "-metrics-addr"
expect helm-default.yaml '^kind: Service$' "metrics Service"
reject helm-default.yaml '^kind: ServiceMonitor$' "ServiceMonitor"
reject helm-default.yaml 'vault-tls' "TLS flag"
expect helm-tls-monitoring.yaml '^kind: ServiceMonitor$' "ServiceMonitor"
expect helm-tls-monitoring.yaml '- -vault-tls-ca-cert=/vault/tls/ca\.pem$' "-vault-tls-ca-cert"
expect helm-tls-monitoring.yaml '- -vault-tls-server-name=vault\.vault\.svc$' "-vault-tls-server-name"
expect helm-tls-monitoring.yaml 'secretName: vault-ca' "CA Secret volume"
expect helm-tls-monitoring.yaml '- -cache-size=2000$' "extra argument"
reject helm-minimal.yaml '^kind: (ClusterRole|Role|ServiceAccount|Service|ServiceMonitor)$' "RBAC, ServiceAccount or Service"
expect helm-minimal.yaml 'serviceAccountName: existing-sa' "existing ServiceAccount"
expect helm-minimal.yaml '- -metrics-addr=$' "empty -metrics-addr"
expect helm-default.yaml '- -allowed-audiences=vault$' "-allowed-audiences"
expect helm-default.yaml 'serviceaccounts/token' "the TokenRequest rule"
expect helm-driver-tokens-only.yaml '- -driver-tokens-only$' "-driver-tokens-only"
reject helm-driver-tokens-only.yaml 'serviceaccounts/token' "the TokenRequest rule"
reject helm-driver-tokens-only.yaml '-allowed-audiences' "-allowed-audiences"
expect helm-default.yaml '- -max-vault-requests=64$' "-max-vault-requests"
reject helm-default.yaml '^kind: PrometheusRule$|grafana_dashboard' "PrometheusRule or dashboard ConfigMap"
reject helm-minimal.yaml '^kind: PrometheusRule$|grafana_dashboard' "PrometheusRule or dashboard ConfigMap without metrics"
expect helm-default.yaml '- -policy-file=/etc/vault-csi-provider/policy/policy\.yaml$' "-policy-file"
expect helm-default.yaml '^  name: vault-csi-provider-policy$' "policy ConfigMap"
reject helm-default.yaml 'namespaces"\]' "namespaces rule without label rules"
reject helm-no-policy.yaml 'policy' "policy without policy.enabled"
expect helm-policy-file.yaml 'resources: \["namespaces"\]' "namespaces rule for a policy file"
expect helm-dashboards-alerts.yaml '^kind: PrometheusRule$' "PrometheusRule"
expect helm-dashboards-alerts.yaml '^    release: prometheus$' "PrometheusRule label"
expect helm-dashboards-alerts.yaml '>= 0\.9 \* 128 # -max-vault-requests$' "maxVaultRequests in the slots alert"
expect helm-dashboards-alerts.yaml '- -max-vault-requests=128$' "-max-vault-requests=128"
expect helm-dashboards-alerts.yaml '^kind: ConfigMap$' "dashboard ConfigMap"
expect helm-dashboards-alerts.yaml '^    grafana_dashboard: "1"$' "the Grafana sidecar's label"
expect helm-dashboards-alerts.yaml '^  namespace: monitoring$' "the dashboard's namespace"
expect helm-dashboards-alerts.yaml '^  vault-csi-provider\.json: \|-$' "dashboard JSON"
expect kustomize-base.yaml '^kind: DaemonSet$' "DaemonSet"
expect kustomize-base.yaml 'resourceNames:' "resourceNames on the Secret rule"
expect kustomize-base.yaml '- -endpoint=/provider/vault/vault\.sock$' "-endpoint in the provider's own directory"
expect kustomize-base.yaml '^        - prepare-dir$' "prepare-dir init container"
expect kustomize-base.yaml '^        runAsUser: 65532$' "runAsUser 65532 on the pod"

# The alert rules: the file as the chart ships it, its unit tests, and the
# rules as rendered into the PrometheusRule (with another cap).
echo "== promtool check rules"
"$promtool" check rules "$chart/files/alerts.yaml"
echo "== promtool test rules"
"$promtool" test rules "$root/deployment/monitoring/alerts.test.yaml"
echo "== promtool check rules (rendered PrometheusRule, maxVaultRequests=0 and 128)"
mkdir -p "$out/rules"
for cap in 0 128; do
	"$helm" template vault-csi-provider "$chart" --namespace "$ns" --show-only templates/prometheusrule.yaml \
		--set "monitoring.prometheusRule.enabled=true,maxVaultRequests=$cap" |
		sed -n '/^spec:$/,$p' | sed '1d; s/^  //' >"$out/rules/alerts-$cap.yaml"
	"$promtool" check rules "$out/rules/alerts-$cap.yaml"
done

# The policies the chart renders, read by the provider's own parser: the
# default (vault.address only) and the example file, against the example
# class: the chart's default allows its vault.address; the example's default
# rule refuses the class's namespace (default).
echo "== node policies rendered (vault-csi-provider mount -policy)"
mkdir -p "$out/policy"
"$go" build -o "$out/policy/vault-csi-provider" "$root/cmd/provider"
declare -A vaultAddr=([helm-default]=https://vault.vault:8200 [helm-policy-file]=https://vault.vault.svc:8200)
for name in helm-default helm-policy-file; do
	awk '/^  policy\.yaml: \|$/ {p = 1; next} p && /^(---|[^ ])/ {p = 0} p {sub(/^    /, ""); print}' \
		"$out/$name.yaml" >"$out/policy/$name.yaml"
	[[ -s $out/policy/$name.yaml ]] || { echo "$name: no policy.yaml in the ConfigMap" >&2; exit 1; }
	set +e
	got=$("$out/policy/vault-csi-provider" mount -f "$root/deployment/examples/secretproviderclass.yaml" -policy "$out/policy/$name.yaml" \
		-dry-run -vault-addr "${vaultAddr[$name]}" 2>&1)
	set -e
	echo "$name: $got"
	case $name:$got in
	helm-default:*"allowed by the node policy's default rule"*) ;;
	helm-policy-file:*"refused by the node's policy: the default rule does not allow roleName \"web\""*) ;;
	*) echo "$name: unexpected answer of the policy check" >&2; exit 1 ;;
	esac
done

# kubectl apply --dry-run=client needs an API server (discovery), so the
# documents are checked by a small parser instead: apiVersion, kind and
# metadata.name on each, no object twice.
echo "== manifestcheck"
(cd "$root/tools/helm" && "$go" run ./manifestcheck "$out"/*.yaml "$root"/deployment/examples/*.yaml \
	"$root"/deployment/examples/sync-controller/{rbac,secretsync}.yaml)

# The recipe for the Secrets Store sync controller, whose chart is not
# available here: its values parse, the sidecar's args pass the provider's
# own flag parsing, socket path, ports, audience and RBAC agree.
echo "== sync controller recipe (deployment/examples/sync-controller)"
(cd "$root" && "$go" test -count=1 -run '^TestSyncControllerRecipe$' -v ./cmd/provider | grep -E '^(--- |ok|FAIL)')

if [[ -n ${DEPLOY_CHECK_KUBECONFIG:-} ]]; then
	echo "== server-side dry run"
	KUBECONFIG=$DEPLOY_CHECK_KUBECONFIG "$root/deployment/scripts/server-dry-run.sh" \
		"$out/kustomize-base.yaml" "$out/helm-default.yaml"
else
	echo "== server-side dry run skipped: set DEPLOY_CHECK_KUBECONFIG (deployment/scripts/server-dry-run.sh)"
fi
echo "deploy-check: ok ($out)"
