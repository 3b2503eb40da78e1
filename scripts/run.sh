#!/usr/bin/env bash
# Builds and runs the standalone Extend server on embedded defaults, on a Debian machine as
# root, with isolation: installs a JDK, Maven, Node.js, containerd and runc when missing, starts
# containerd when it is not running, builds extend-server.jar and runs it. Without a usable
# containerd the server refuses to start (tenants' code never runs unisolated by default);
# EXTEND_RUNTIME=local names the development runtime, which does not isolate. Arguments and
# EXTEND_* variables go to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
# Module files may have non-ASCII names: the JVM must run with a UTF-8 locale to write them.
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in *UTF-8*|*utf8*|*UTF8*|*utf-8*) ;; *) export LC_ALL=C.UTF-8 ;; esac

need=()
command -v java >/dev/null || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ "${EXTEND_RUNTIME:-auto}" != local ]; then
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  command -v ip >/dev/null || need+=(iproute2)
  command -v nft >/dev/null || need+=(nftables)
fi
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

socket="${EXTEND_CONTAINERD_SOCKET:-/run/containerd/containerd.sock}"
if [ "${EXTEND_RUNTIME:-auto}" != local ] && command -v containerd >/dev/null && [ ! -S "$socket" ] \
    && [ "$socket" = /run/containerd/containerd.sock ]; then
  echo "starting containerd (log: /var/log/extend-containerd.log)"
  nohup containerd >/var/log/extend-containerd.log 2>&1 &
  for _ in $(seq 1 50); do [ -S "$socket" ] && break; sleep 0.1; done
fi

mvn -B -ntp -q -pl extend-embedded-server -am package -DskipTests
exec java -jar extend-embedded-server/target/extend-server.jar "$@"
