#!/usr/bin/env bash
# Third-party peers against our /echo: every client of ../shared/conformance/peers in every
# dialect it speaks, then the Autobahn fuzzing client at versions 13 and 8.
#
# usage: tests/conformance/run.sh [--no-autobahn]
# env:   KIT (default ../shared/conformance), CONFORMANCE_HOME (as install.sh),
#        AUTOBAHN_CASES (default '*'; 12.* and 13.* are excluded by the kit: compression has
#        its own issue), OUT (reports, default target/conformance)
# Needs the kit installed (KIT/install.sh) and target/release/omniws built.
# Exit 0 only if every peer passed and no Autobahn case FAILED.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/conformance/lib.sh
KIT="${KIT:-../shared/conformance}"
OUT="${OUT:-target/conformance}"
mkdir -p "$OUT"
server="target/release/omniws"
[ -x "$server" ] || { echo "build first: cargo build --release" >&2; exit 2; }

port=$(free_port)
"$server" --host 127.0.0.1 --port "$port" >"$OUT/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' EXIT
wait_port "$port" "$pid"
url="ws://127.0.0.1:$port/echo"
echo "conformance: server pid $pid at $url"

failures=0
P="$KIT/peers"
for v in 13 8; do
  run "node ws v$v" node "$P/node_ws_client.js" "$url" --version "$v"
  run "node websocket v$v" node "$P/node_websocket_node_client.js" "$url" --version "$v"
done
run "node websocket-client hixie-76" node "$P/node_hixie76_client.js" "$url"
for v in 13 8 76 75; do
  run "perl Protocol::WebSocket $v" perl "$P/perl_protocol_websocket_client.pl" "$url" --version "$v"
done
for v in 13 8 7 76 75; do
  run "ruby websocket $v" ruby "$P/ruby_websocket_client.rb" "$url" --version "$v"
done

if [ "${1:-}" != "--no-autobahn" ]; then
  cases="${AUTOBAHN_CASES:-*}"
  for version in 18 10; do
    echo "--- autobahn version $version (18 = RFC 6455 / 13, 10 = hybi-10 / 8)"
    if AUTOBAHN_VERSION=$version AUTOBAHN_AGENT=omniws "$KIT/run-autobahn.sh" "$url" "$cases" "$OUT/autobahn-$version" \
        | tail -n 6; then :; else failures=$((failures + 1)); fi
  done
fi

if kill -0 "$pid" 2>/dev/null; then
  echo "conformance: server still running after every peer (good)"
else
  echo "conformance: the server died"; failures=$((failures + 1))
fi
echo "conformance: $failures failing group(s)"
[ "$failures" -eq 0 ]
