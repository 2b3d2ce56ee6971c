#!/usr/bin/env bash
# Our command-line client against third-party echo servers: every reference server of
# ../shared/conformance/servers, in every dialect it speaks (the kit README's table), text and,
# where the dialect has it, binary; then over wss:// against npm `ws`, npm `websocket-driver`
# (hixie-76 and hixie-75 too) and Python `websockets` behind their own runtimes' TLS, our
# client verifying their certificate with --ca against a CA made here (openssl). One line per
# check; exit 0 only if every check passed.
#
# usage: tests/conformance/client.sh
# env:   KIT (default ../shared/conformance), CONFORMANCE_HOME (as install.sh, default
#        /tmp/ws-conformance), OUT (inputs, outputs and server logs, default
#        target/conformance/client)
# Needs the kit's node, ruby and python parts installed (KIT/install.sh node ruby python), openssl,
# and target/release/omniws-client built (cargo build --release --bin omniws-client); this
# script builds nothing. Servers listen on free 127.0.0.1 ports and are stopped on exit.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
. tests/conformance/lib.sh
KIT="${KIT:-../shared/conformance}"
CONFORMANCE_HOME="${CONFORMANCE_HOME:-/tmp/ws-conformance}"
export CONFORMANCE_HOME
OUT="${OUT:-target/conformance/client}"
mkdir -p "$OUT"
client="target/release/omniws-client"
[ -x "$client" ] || { echo "build first: cargo build --release --bin omniws-client" >&2; exit 2; }

pids=()
stop_servers() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
}
trap stop_servers EXIT

# The messages: text lines (multibyte, empty, 64 KiB) and binary lines (every byte value but
# LF and CR, which end lines; empty; 64 KiB), with the output each must produce.
python3 - "$OUT" <<'EOF'
import os, sys
out = sys.argv[1]
pattern = "ascii κόσμε €𝄞 "
big = (pattern * 4096).encode()[:65536]
while True:
    try:
        big.decode()
        break
    except UnicodeDecodeError:
        big = big[:-1]
text = [b"hello", "κόσμε 𝄞 €".encode(), b"", big, b"last line"]
with open(os.path.join(out, "text.in"), "wb") as f:
    f.write(b"".join(line + b"\n" for line in text))
with open(os.path.join(out, "text.expected"), "wb") as f:
    f.write(b"".join(line + b"\n" for line in text))
values = bytes(b for b in range(256) if b not in (10, 13))
binary = [values, b"", (values * 300)[:65536], b"\x00"]
with open(os.path.join(out, "binary.in"), "wb") as f:
    f.write(b"".join(line + b"\n" for line in binary))
with open(os.path.join(out, "binary.expected"), "wb") as f:
    f.write(b"".join(line.hex().encode() + b"\n" for line in binary))
EOF

failures=0
checks=0
report() { # label, ok|FAIL, detail
  printf '%-44s %-4s %s\n' "$1" "$2" "$3"
  checks=$((checks + 1))
  if [ "$2" != ok ]; then failures=$((failures + 1)); fi
}

# start NAME CMD...: run CMD PORT in the background, wait until PORT accepts connections.
start() {
  local name="$1"; shift
  port=$(free_port)
  "$@" "$port" >"$OUT/$name.server.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  if ! wait_port "$port" "$pid"; then
    local why
    why=$(grep -m 1 -iE 'error|cannot|no such' "$OUT/$name.server.log" || tail -n 1 "$OUT/$name.server.log")
    report "$name" FAIL "server did not start: $why"
    return 1
  fi
  echo "--- $name: $(head -n 1 "$OUT/$name.server.log")"
}

# check NAME DIALECT text|binary: send the lines, compare what comes back. Over wss:// when
# CA (a CA file our client is to trust) is set; offering compression (--deflate) when
# DEFLATE is set, and then failing unless the server agreed to it.
CA=""
DEFLATE=""
check() {
  local name="$1" dialect="$2" kind="$3"
  local label="$name $dialect $kind" log="$OUT/$name.$dialect.$kind"
  local url="ws://127.0.0.1:$port/"
  local args=(--dialect "$dialect" --await-echo --connect-timeout 10 --close-timeout 2)
  if [ -n "$CA" ]; then
    url="wss://localhost:$port/"
    args+=(--ca "$CA")
  fi
  [ -n "$DEFLATE" ] && args+=(--deflate -v)
  args=(connect "$url" "${args[@]}")
  [ "$kind" = binary ] && args+=(--binary)
  timeout 60 "$client" "${args[@]}" <"$OUT/$kind.in" >"$log.out" 2>"$log.err"
  local rc=$?
  [ -n "$DEFLATE" ] && label="$label deflate"
  if [ "$rc" -ne 0 ]; then
    report "$label" FAIL "exit $rc: $(tail -n 1 "$log.err")"
  elif [ -n "$DEFLATE" ] && ! grep -q "extensions permessage-deflate" "$log.err"; then
    report "$label" FAIL "compression not agreed: $(grep -m 1 'connected to' "$log.err")"
  elif ! cmp -s "$OUT/$kind.expected" "$log.out"; then
    report "$label" FAIL "echo differs: $(cmp "$OUT/$kind.expected" "$log.out" 2>&1 | head -n 1)"
  else
    report "$label" ok "$(wc -l <"$log.out") messages echoed, clean close"
  fi
}

# check_all NAME DIALECT...: text in every dialect, binary where the dialect has it.
check_all() {
  local name="$1"; shift
  for dialect in "$@"; do
    check "$name" "$dialect" text
    case "$dialect" in
      hixie-75|hixie-76) ;;
      *) check "$name" "$dialect" binary ;;
    esac
  done
}

S="$KIT/servers"
python="$CONFORMANCE_HOME/python-venv/bin/python"
if [ -x "$python" ]; then
  start py-websockets "$python" "$S/py_websockets_echo.py" \
    && check_all py-websockets rfc6455 \
    && DEFLATE=1 check_all py-websockets rfc6455
else
  report py-websockets FAIL "not installed: $KIT/install.sh python"
fi
start node-ws node "$S/node_ws_echo.js" \
  && check_all node-ws rfc6455 hybi-08 \
  && DEFLATE=1 check_all node-ws rfc6455 hybi-08
start node-websocket-driver node "$S/node_websocket_driver_echo.js" \
  && check_all node-websocket-driver rfc6455 hixie-76 hixie-75
start node-ws04 node "$S/node_ws04_echo.js" \
  && check_all node-ws04 rfc6455 hybi-08 hixie-76
start ruby-em-websocket ruby "$S/ruby_em_websocket_echo.rb" \
  && check_all ruby-em-websocket rfc6455 hybi-08 hybi-07 hybi-03 hixie-76 hixie-75

# Over wss://: the servers' own TLS (node's, Python's ssl), a certificate for localhost signed
# by a CA made here, which our client is told to trust.
certs=$(mktemp -d)
trap 'stop_servers; rm -rf "$certs"' EXIT
if make_certs "$certs"; then
  CA="$certs/ca.pem"
  start node-ws-wss node tests/conformance/node_wss_echo.js ws "$certs/cert.pem" "$certs/key.pem" \
    && check_all node-ws-wss rfc6455 hybi-08
  # The same server, without --ca: the system's roots do not know our CA, so the client must
  # refuse it.
  if timeout 30 "$client" connect "wss://localhost:$port/" --connect-timeout 10 </dev/null \
      >"$OUT/untrusted.out" 2>"$OUT/untrusted.err"; then
    report "node-ws-wss untrusted CA refused" FAIL "connected without --ca"
  elif grep -qi certificate "$OUT/untrusted.err"; then
    report "node-ws-wss untrusted CA refused" ok "$(tail -n 1 "$OUT/untrusted.err")"
  else
    report "node-ws-wss untrusted CA refused" FAIL "$(tail -n 1 "$OUT/untrusted.err")"
  fi
  start node-websocket-driver-wss node tests/conformance/node_wss_echo.js driver "$certs/cert.pem" "$certs/key.pem" \
    && check_all node-websocket-driver-wss rfc6455 hixie-76 hixie-75
  if [ -x "$python" ]; then
    start py-websockets-wss "$python" tests/conformance/py_websockets_wss_echo.py "$certs/cert.pem" "$certs/key.pem" \
      && check_all py-websockets-wss rfc6455
  fi
else
  report "wss servers" FAIL "no certificates"
fi

echo "client conformance: $((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
