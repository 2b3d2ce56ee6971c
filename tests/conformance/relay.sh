#!/usr/bin/env bash
# The websocket-relay 0.3 JavaScript client (npm websocket-relay@0.3.3) against our /relay:
# registration over HTTP, queued delivery both ways, live messages (relay_client.js).
#
# usage: tests/conformance/relay.sh
# env:   CONFORMANCE_HOME (default /tmp/ws-conformance); the client is installed (by
#        .ci/run, or by this script if missing) under $CONFORMANCE_HOME/relay-js.
# Needs target/release/omniws built. Exit 0 only if every check passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/conformance/lib.sh
home="${CONFORMANCE_HOME:-/tmp/ws-conformance}/relay-js"
server="target/release/omniws"
[ -x "$server" ] || { echo "build first: cargo build --release" >&2; exit 2; }
if [ ! -f "$home/node_modules/websocket-relay/package.json" ]; then
  mkdir -p "$home"
  npm install --prefix "$home" --no-audit --no-fund --loglevel=error websocket-relay@0.3.3
fi

mkdir -p "${OUT:-target/conformance}"
port=$(free_port)
token="relay-admin-$RANDOM$RANDOM"
OMNIWS_RELAY_ADMIN_TOKEN="$token" "$server" --host 127.0.0.1 --port "$port" \
  >"${OUT:-target/conformance}/relay-server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT
wait_port "$port" "$pid"
RELAY_MODULES="$home/node_modules" node tests/conformance/relay_client.js "127.0.0.1:$port" "$token"
