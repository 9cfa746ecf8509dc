#!/usr/bin/env bash
# Install the Debian packages named as arguments that are not installed yet,
# as root or with sudo. A failed install is tried again after apt-get update
# (the package lists may be stale or absent); each apt-get run is bounded by
# APT_TIMEOUT seconds (default 600), since a mirror can hang.
#
# Usage: hack/apt-install.sh PACKAGE...
set -euo pipefail

missing=()
for pkg in "$@"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0

sudo=()
((EUID == 0)) || sudo=(sudo)
apt_get() {
	timeout "${APT_TIMEOUT:-600}" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=120 "$@" >/dev/null
}

echo "apt-install: installing ${missing[*]}" >&2
apt_get install -y "${missing[@]}" || { apt_get update && apt_get install -y "${missing[@]}"; }
