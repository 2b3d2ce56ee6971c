#!/usr/bin/env bash
# Third-party peers against our /echo (the CLI server with its defaults): every client of
# ../shared/conformance/peers in every dialect it speaks, npm ws with permessage-deflate
# (with and without context takeover), then the Autobahn fuzzing client at versions 13 and
# 8: every case but compression's, then a subset of the compression cases (12.* and 13.*,
# AUTOBAHN_DEFLATE_CASES: sub-cases 1, 5 and 9 of every group, the smaller messages, each
# group's ways of negotiating; the full set takes about 35 minutes per version).
#
# usage: tests/conformance/run.sh [--no-autobahn]
# env:   KIT (default ../shared/conformance), CONFORMANCE_HOME (as install.sh),
#        AUTOBAHN_CASES (default '*'; 12.* and 13.* are excluded by the kit),
#        AUTOBAHN_DEFLATE_CASES (default: sub-cases 1, 5, 9 of 12.1-12.5 and 13.1-13.7, as
#        exact ids: a pattern with '*' is a prefix to wstest; empty: none), OUT (reports,
#        default target/conformance)
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
for v in 13 8; do
  run "node ws v$v permessage-deflate" env KIT="$KIT" node tests/conformance/node_ws_deflate_client.js "$url" --version "$v"
  run "node ws v$v deflate, context kept" env KIT="$KIT" node tests/conformance/node_ws_deflate_client.js "$url" --version "$v" --context
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
  subset=$(for g in 12.1 12.2 12.3 12.4 12.5 13.1 13.2 13.3 13.4 13.5 13.6 13.7; do
    printf '%s.1,%s.5,%s.9,' "$g" "$g" "$g"; done)
  deflate_cases="${AUTOBAHN_DEFLATE_CASES-${subset%,}}"
  if [ -n "$deflate_cases" ]; then
    for version in 18 10; do
      echo "--- autobahn compression cases, version $version"
      if AUTOBAHN_EXCLUDE="" AUTOBAHN_VERSION=$version AUTOBAHN_AGENT=omniws \
          "$KIT/run-autobahn.sh" "$url" "$deflate_cases" "$OUT/autobahn-deflate-$version" \
          | tail -n 6; then :; else failures=$((failures + 1)); fi
    done
  fi
fi

if kill -0 "$pid" 2>/dev/null; then
  echo "conformance: server still running after every peer (good)"
else
  echo "conformance: the server died"; failures=$((failures + 1))
fi
echo "conformance: $failures failing group(s)"
[ "$failures" -eq 0 ]
