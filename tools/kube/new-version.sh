#!/usr/bin/env bash
# Write tools/kube/MAJOR.MINOR/ (go.mod, go.sum, tools.go) for one Kubernetes
# release, e.g. `tools/kube/new-version.sh 1.36.3`; then `KUBE_VERSION=1.36 make e2e`.
# k8s.io/kubernetes requires its staging modules (k8s.io/api, apiserver, ...) at
# v0.0.0 and replaces them with ./staging paths that only work in its own tree:
# pin each to the matching v0.MINOR.PATCH release instead. Its go and godebug
# lines are kept, so the binaries behave as the release's own.
set -euo pipefail
cd "$(dirname "$0")"
version=${1:?usage: $0 MAJOR.MINOR.PATCH (e.g. 1.37.2)}
version=${version#v}
[[ $version =~ ^1\.([0-9]+)\.([0-9]+)$ ]] || { echo "$0: want MAJOR.MINOR.PATCH, got $version" >&2; exit 2; }
minor=${BASH_REMATCH[1]} patch=${BASH_REMATCH[2]}
dir=1.$minor
staging=v0.$minor.$patch

gomod=""
for attempt in 1 2 3; do
	gomod=$(timeout 300 go mod download -json "k8s.io/kubernetes@v$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p') && [[ -n $gomod ]] && break
	echo "$0: downloading k8s.io/kubernetes@v$version failed (attempt $attempt)" >&2
	sleep 5
done
[[ -n $gomod ]] || exit 1

mkdir -p "$dir"
{
	echo "module github.com/vault-csi-provider/vault-csi-provider/tools/kube/$dir"
	echo
	grep -E '^(go|godebug) ' "$gomod"
	echo
	echo "require k8s.io/kubernetes v$version"
	echo
	echo "// k8s.io/kubernetes requires its staging modules at v0.0.0; pin them to the release."
	echo "replace ("
	sed -n '/^replace (/,/^)/p' "$gomod" | awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' |
		grep -v '^k8s.io/sample-' | while read -r m; do printf '\t%s => %s %s\n' "$m" "$m" "$staging"; done
	echo ")"
} >"$dir/go.mod"
cat >"$dir/tools.go" <<GO
//go:build tools

// Package tools pins the Kubernetes $dir control plane of the end-to-end tests
// (test/e2e): the Makefile builds k8s.io/kubernetes/cmd/kube-apiserver and
// cmd/kube-controller-manager from this directory, and for the one-node
// cluster (test/node) cmd/kubelet and cmd/kube-scheduler, so the four share
// compiled packages. Written by ../new-version.sh.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
cd "$dir"
for attempt in 1 2 3; do
	timeout 900 go mod tidy && exit 0
	echo "$0: go mod tidy in $dir failed (attempt $attempt), retrying" >&2
	sleep 5
done
exit 1
