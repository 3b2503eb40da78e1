#!/usr/bin/env bash
# Builds and runs the standalone Extend server on embedded defaults, on Debian 12 or 13 as root,
# with isolation: installs a JDK (17 or later), Maven, containerd, runc, iproute2, nftables and
# the compiler toolchain module builds give node-gyp (g++, make, python3) when missing, starts
# containerd when none answers, builds extend-server.jar and runs
# it. Without a usable containerd the server refuses to start (tenants' code never runs
# unisolated by default); EXTEND_RUNTIME=local names the development runtime, which does not
# isolate. Arguments and EXTEND_* variables go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/debian.sh
. scripts/lib/debian.sh
# Module files may have non-ASCII names: the JVM must run with a UTF-8 locale to write them.
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in *UTF-8*|*utf8*|*UTF8*|*utf-8*) ;; *) export LC_ALL=C.UTF-8 ;; esac

need_jdk
need mvn maven
# Node.js is the platform's own (fetched from the npm registry, verified); the host's is not used.
isolating=true
[ "${EXTEND_RUNTIME:-auto}" = local ] && isolating=false
if $isolating; then
  need containerd containerd
  need ctr containerd
  need runc runc
  # the sandboxes' egress network: veth/bridge plumbing and the nftables policy
  need ip iproute2
  need nft nftables
fi
# native addons in module builds: node-gyp's compiler, make and Python, copied into build sandboxes
need_deb g++ make python3
install_needed

if $isolating; then
  start_containerd "${EXTEND_CONTAINERD_SOCKET:-}"
fi

mvn -B -ntp -q -pl extend-embedded-server -am package -DskipTests
exec java -jar extend-embedded-server/target/extend-server.jar "$@"
