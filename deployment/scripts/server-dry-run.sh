#!/usr/bin/env bash
# HOOK: server-side dry run of rendered manifests against a real API server.
# Not run by default: `make deploy-check` calls it only when
# DEPLOY_CHECK_KUBECONFIG names a kubeconfig. Owned by whoever wires the
# test API server (tools/kube) into CI; extend it there (e.g. apply the
# Prometheus Operator and Secrets Store CRDs first to dry-run the
# ServiceMonitor and the examples too).
#
# Usage: KUBECONFIG=... server-dry-run.sh FILE...
#
# The API server validates each object in full (schema, unknown fields,
# admission) and persists nothing; the one real write is the namespace,
# created if missing, because a dry run of namespaced objects needs it.
set -euo pipefail
kubectl=${KUBECTL:-kubectl}
ns=${NAMESPACE:-vault-csi-provider}
: "${KUBECONFIG:?set KUBECONFIG to the cluster to dry-run against}"
[[ $# -gt 0 ]] || { echo "usage: $0 FILE..." >&2; exit 2; }

if ! "$kubectl" get namespace "$ns" >/dev/null 2>&1; then
	"$kubectl" create namespace "$ns"
fi
for f in "$@"; do
	echo "-- $f"
	"$kubectl" apply --dry-run=server --validate=strict -f "$f"
done
