#!/usr/bin/env bash
# Pipe sessions with real third-party clients: each peer of ../shared/conformance/peers sends
# its message set into /sessions/NAME, where our example client (examples/pipe.rs, `echo`
# mode) sits in another dialect and sends every message back. The peer checks that each echo
# is identical, so every message crosses the translation twice: peer dialect -> member
# dialect -> peer dialect. RFC 6455 peers meet legacy members and legacy peers meet RFC 6455
# members.
#
# usage: tests/conformance/pipe.sh
# env:   KIT (default ../shared/conformance), CONFORMANCE_HOME (as install.sh), OUT
# Needs the kit's node, perl and ruby parts installed, target/release/omniws and
# target/release/examples/pipe built. Exit 0 only if every pair passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/conformance/lib.sh
KIT="${KIT:-../shared/conformance}"
OUT="${OUT:-target/conformance}"
mkdir -p "$OUT"
server="target/release/omniws"
member="target/release/examples/pipe"
for b in "$server" "$member"; do
  [ -x "$b" ] || { echo "build first: cargo build --release --bin omniws --example pipe" >&2; exit 2; }
done

port=$(free_port)
# No ready notice: the peers expect nothing but their echoes. Binary reaches hixie members as
# the draft's length-prefixed frame, which our member decodes and sends back.
"$server" --host 127.0.0.1 --port "$port" --session-ready-notice "" \
  --session-binary-to-hixie length-prefixed >"$OUT/pipe-server.log" 2>&1 &
pid=$!
member_pid=""
cleanup() {
  [ -n "$member_pid" ] && kill "$member_pid" 2>/dev/null
  kill "$pid" 2>/dev/null
  wait 2>/dev/null
}
trap cleanup EXIT
wait_port "$port" "$pid"

failures=0
n=0
# pair NAME MEMBER_DIALECT PEER_COMMAND...: the member joins first, then the peer runs.
pair() {
  local name="$1" dialect="$2"; shift 2
  n=$((n + 1))
  local url="ws://127.0.0.1:$port/sessions/pair$n"
  local log="$OUT/pipe-member-$n.log"
  "$member" echo "$url" --dialect "$dialect" >"$log" 2>&1 &
  member_pid=$!
  for _ in $(seq 100); do
    grep -q '^joined' "$log" 2>/dev/null && break
    sleep 0.05
  done
  local line rc
  line=$("$@" "$url" -q --timeout 20 2>&1 | tail -n 1)
  rc=${PIPESTATUS[0]}
  kill "$member_pid" 2>/dev/null
  wait "$member_pid" 2>/dev/null
  member_pid=""
  printf '%-52s %s\n' "$name" "$line"
  if [ "$rc" -ne 0 ]; then failures=$((failures + 1)); fi
}

P="$KIT/peers"
# RFC 6455 (and hybi-08) third-party clients, legacy members: text and binary.
pair "node ws v13 <-> our hixie-76 member" hixie-76 node "$P/node_ws_client.js" --version 13
pair "node ws v13 <-> our hixie-75 member" hixie-75 node "$P/node_ws_client.js" --version 13
pair "node websocket v13 <-> our hybi-03 member" hybi-03 node "$P/node_websocket_node_client.js" --version 13
pair "ruby websocket v13 <-> our hybi-07 member" hybi-07 ruby "$P/ruby_websocket_client.rb" --version 13
pair "perl Protocol::WebSocket v8 <-> our hixie-76 member" hixie-76 perl "$P/perl_protocol_websocket_client.pl" --version 8
# Legacy third-party clients, RFC 6455 members.
pair "node websocket-client hixie-76 <-> our RFC 6455 member" rfc6455 node "$P/node_hixie76_client.js"
pair "perl Protocol::WebSocket 75 <-> our RFC 6455 member" rfc6455 perl "$P/perl_protocol_websocket_client.pl" --version 75
pair "ruby websocket 76 <-> our hybi-08 member" hybi-08 ruby "$P/ruby_websocket_client.rb" --version 76

echo "pipe conformance: $((n - failures)) of $n pairs passed"
[ "$failures" -eq 0 ]
