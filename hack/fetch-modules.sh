#!/usr/bin/env bash
# Download the modules of the Go module in $1, retrying: the module proxy
# here is a filtered mirror whose downloads sometimes hang.
set -euo pipefail
cd "$1"
for attempt in 1 2 3; do
	if timeout 900 go mod download; then
		exit 0
	fi
	echo "go mod download in $1 failed (attempt $attempt), retrying" >&2
	sleep 5
done
echo "go mod download in $1 failed 3 times" >&2
exit 1
