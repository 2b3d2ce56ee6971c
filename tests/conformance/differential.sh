#!/usr/bin/env bash
# Differential tests of hixie-75, hixie-76 and hybi-03: the same request and frame bytes to our
# /echo and to two third-party servers of ../shared/conformance/servers (em-websocket, Ruby;
# websocket-driver, Node), the answers compared byte for byte after normalisation.
# tests/conformance/differential.py holds the cases, the normalisation and the table of
# explained differences; DIFFERENTIAL.md beside it is the readable table.
#
# usage: tests/conformance/differential.sh [driver options, e.g. --case 76- -v | --markdown]
# env:   KIT (default ../shared/conformance), CONFORMANCE_HOME (as install.sh, default
#        /tmp/ws-conformance), OUT (server logs, default target/conformance/differential)
# Needs the kit's node and ruby parts installed (KIT/install.sh node ruby), python3 (3.11,
# standard library only) and target/release/omniws built (cargo build --release --bins);
# this script builds nothing. Servers listen on free 127.0.0.1 ports and are stopped on exit.
# Exit 0 only if every difference is explained and every server stayed up.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
. tests/conformance/lib.sh
KIT="${KIT:-../shared/conformance}"
CONFORMANCE_HOME="${CONFORMANCE_HOME:-/tmp/ws-conformance}"
export CONFORMANCE_HOME
OUT="${OUT:-target/conformance/differential}"
mkdir -p "$OUT"
server="target/release/omniws"
[ -x "$server" ] || { echo "build first: cargo build --release --bins" >&2; exit 2; }
[ -d "$CONFORMANCE_HOME/node/node_modules/websocket-driver" ] && ruby -e 'require "em-websocket"' 2>/dev/null \
  || { echo "install the kit first: $KIT/install.sh node ruby" >&2; exit 2; }

pids=()
stop_servers() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
}
trap stop_servers EXIT

# start NAME CMD...: run CMD PORT in the background; the driver gets NAME=PORT.
specs=()
start() {
  local name="$1"; shift
  local port
  port=$(free_port)
  "$@" "$port" >"$OUT/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  if ! wait_port "$port" "$pid"; then
    echo "differential: $name did not start: $(tail -n 3 "$OUT/$name.log")" >&2
    exit 1
  fi
  specs+=(--server "$name=$port")
  echo "--- $name (pid $pid): $(head -n 1 "$OUT/$name.log")"
}

start omniws "$server" --host 127.0.0.1 --port
start em-websocket ruby "$KIT/servers/ruby_em_websocket_echo.rb"
start websocket-driver node "$KIT/servers/node_websocket_driver_echo.js"

# The driver bounds itself (every read has a timeout, each case at most 10 s, three times
# that when confirming a difference); `timeout` is the backstop.
timeout 110 python3 tests/conformance/differential.py "${specs[@]}" "$@"
rc=$?

for i in "${!pids[@]}"; do
  if ! kill -0 "${pids[$i]}" 2>/dev/null; then
    echo "differential: server ${specs[$((2 * i + 1))]%%=*} died during the run (log in $OUT)"
    rc=1
  fi
done
exit "$rc"
