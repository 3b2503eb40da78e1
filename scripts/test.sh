#!/usr/bin/env bash
# The whole test suite, on a Debian machine as root: installs and starts what the tests need
# (containerd, runc, MariaDB, g++/make/python3, Node.js for test hosts and the benchmark's
# baseline), then runs every module's tests. The containerd tests start a private containerd
# daemon of their own.
set -euo pipefail
cd "$(dirname "$0")/.."
# Module files may have non-ASCII names: the JVM must run with a UTF-8 locale to write them.
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in *UTF-8*|*utf8*|*UTF8*|*utf-8*) ;; *) export LC_ALL=C.UTF-8 ;; esac
scripts/ensure-test-services.sh
exec mvn -B -ntp verify "$@"
