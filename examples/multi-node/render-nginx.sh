#!/usr/bin/env bash
# Writes an nginx.conf for Extend nodes on this host to stdout.
#
#   render-nginx.sh [--round-robin] <listen address:port> <node host:port>...
#
# --round-robin spreads invocations over every node instead of hashing on the container name.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
balancing='hash $extend_container consistent;'
if [ "${1:-}" = "--round-robin" ]; then
  balancing='# round-robin'
  shift
fi
if [ $# -lt 2 ]; then
  echo "usage: $0 [--round-robin] <listen address:port> <node host:port>..." >&2
  exit 2
fi
listen=$1
shift
nodes=""
for n in "$@"; do
  nodes+="        server $n max_fails=1 fail_timeout=5s;\n"
done
awk -v listen="$listen" -v nodes="$nodes" -v balancing="$balancing" '
  /^@NODES@$/ { printf "%s", nodes; next }
  { gsub(/@LISTEN@/, listen); gsub(/@RUN_BALANCING@/, balancing); print }
' "$here/nginx.conf.template"
