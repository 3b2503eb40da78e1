#!/usr/bin/env bash
# The whole test suite, on a Debian machine as root: installs and starts what the tests
# need (containerd, runc, MariaDB, Node.js), then runs every module's tests. The containerd
# tests start a private containerd daemon of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-test-services.sh
exec mvn -B -ntp verify "$@"
