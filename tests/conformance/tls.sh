#!/usr/bin/env bash
# Third-party clients over wss:// against the command-line server run as a newcomer would,
# with only --tls-cert and --tls-key: node `ws` (versions 13 and 8) and Python `websockets`
# (13) verify our certificate against a CA made here, then echo their message sets; plain
# ws:// clients on the same port at the same time; then the Autobahn fuzzing client at
# version 13 over wss:// (its Twisted TLS does not verify certificates; the kit's own runner
# takes ws:// only, so the spec is written here and the kit's summary reads the report).
#
# usage: tests/conformance/tls.sh
# env:   KIT (default ../shared/conformance), CONFORMANCE_HOME (as install.sh), OUT (default
#        target/conformance)
# Needs the kit installed (KIT/install.sh node python), openssl, and target/release/omniws.
# Exit 0 only if every client passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/conformance/lib.sh
KIT="${KIT:-../shared/conformance}"
OUT="${OUT:-target/conformance}"
HOME_DIR="${CONFORMANCE_HOME:-/tmp/ws-conformance}"
mkdir -p "$OUT"
server="target/release/omniws"
[ -x "$server" ] || { echo "build first: cargo build --release" >&2; exit 2; }

# A CA and a leaf it signs for localhost and 127.0.0.1 (no key is ever checked in).
certs=$(mktemp -d)
make_certs "$certs" || exit 2

port=$(free_port)
"$server" --host 127.0.0.1 --port "$port" --tls-cert "$certs/cert.pem" --tls-key "$certs/key.pem" \
  >"$OUT/tls-server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$certs"' EXIT
wait_port "$port" "$pid"
wss="wss://localhost:$port/echo"
ws="ws://127.0.0.1:$port/echo"
echo "tls conformance: server pid $pid at $wss (and $ws)"

failures=0
P="$KIT/peers"
for v in 13 8; do
  run "node ws v$v over wss" env NODE_EXTRA_CA_CERTS="$certs/ca.pem" node "$P/node_ws_client.js" "$wss" --version "$v"
done
run "python websockets over wss" env SSL_CERT_FILE="$certs/ca.pem" \
  "$HOME_DIR/python-venv/bin/python" tests/conformance/py_websockets_client.py "$wss"
# Plain clients on the same port, beside the TLS ones.
run "node ws v13 over ws (same port)" node "$P/node_ws_client.js" "$ws" --version 13
run "perl Protocol::WebSocket 76 (same port)" perl "$P/perl_protocol_websocket_client.pl" "$ws" --version 76

venv="$HOME_DIR/autobahn-venv"
report="$(pwd)/$OUT/autobahn-wss"
rm -rf "$report" && mkdir -p "$report"
cat >"$report/spec.json" <<SPEC
{"outdir": "$report", "servers": [{"agent": "omniws-wss", "url": "wss://127.0.0.1:$port/echo"}],
 "options": {"version": 18}, "cases": ["*"], "exclude-cases": ["12.*", "13.*"],
 "exclude-agent-cases": {}}
SPEC
(cd "$report" && timeout -s INT -k 30 900 "$venv/bin/wstest" -m fuzzingclient -s spec.json) \
  >"$report/wstest.log" 2>&1
summary=$("$venv/bin/python" "$KIT/autobahn_summary.py" "$report/index.json" --spec "$report/spec.json")
rc=$?
printf '%-36s %s\n' "autobahn v13 over wss" "$(tail -n 1 <<<"$summary")"
if [ "$rc" -ne 0 ]; then echo "$summary" | tail -n 20; failures=$((failures + 1)); fi

if kill -0 "$pid" 2>/dev/null; then
  echo "tls conformance: server still running after every client (good)"
else
  echo "tls conformance: server died"; failures=$((failures + 1))
fi
echo "tls conformance: $failures failing client(s)"
[ "$failures" -eq 0 ]
