#!/usr/bin/env bash
# The command-line server in a real headless Chromium (Debian's /usr/bin/chromium, driven by
# playwright-core over CDP; no browser is ever downloaded): the demo page, the status page and
# /metrics as a person sees them, chat and a 64 MiB file between tabs through a pipe session,
# a hixie-76 member beside a tab, the echo tester, and the page over https:// with its session
# over wss:// and permessage-deflate. Screenshots of a transfer in flight go to OUT.
#
# usage: tests/browser/run.sh            (after `npm ci` in tests/browser)
# env:   CHROMIUM (default /usr/bin/chromium), OUT (default target/browser-artifacts),
#        BROWSER_TEST_ONLY (a node --test-name-pattern to run only some scenarios), NO_BUILD=1
#        (use the release binaries already built)
# Builds the release binaries, starts target/release/omniws with its defaults (only a free
# loopback port), and a second one with --tls-cert/--tls-key for the https:// scenario; kills
# only those two (by PID). Exit 0 only if every scenario passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/conformance/lib.sh
OUT="${OUT:-target/browser-artifacts}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "no Chromium at $CHROMIUM (apt-get install -y chromium)" >&2; exit 2; }
[ -d tests/browser/node_modules/playwright-core ] || { echo "run npm ci in tests/browser first" >&2; exit 2; }

[ -n "${NO_BUILD:-}" ] || cargo build --release --bins --quiet || exit 2
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
rm -f "$OUT"/*.png

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# A CA and a leaf for localhost and 127.0.0.1; Chromium is told to accept the leaf's public
# key (--ignore-certificate-errors-spki-list), which covers wss:// too.
make_certs "$tmp" || exit 2
spki=$(openssl x509 -in "$tmp/cert.pem" -pubkey -noout | openssl pkey -pubin -outform der \
  | openssl dgst -sha256 -binary | base64)

port=$(free_port)
target/release/omniws --host 127.0.0.1 --port "$port" >"$OUT/server.log" 2>&1 &
pid=$!
pids+=("$pid")
tls_port=$(free_port)
target/release/omniws --host 127.0.0.1 --port "$tls_port" \
  --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" >"$OUT/tls-server.log" 2>&1 &
tls_pid=$!
pids+=("$tls_pid")
wait_port "$port" "$pid" || { echo "server did not start"; cat "$OUT/server.log"; exit 1; }
wait_port "$tls_port" "$tls_pid" || { echo "TLS server did not start"; cat "$OUT/tls-server.log"; exit 1; }
echo "browser tests: server pid $pid at http://127.0.0.1:$port/, TLS server pid $tls_pid at https://localhost:$tls_port/"

pattern=()
[ -n "${BROWSER_TEST_ONLY:-}" ] && pattern=(--test-name-pattern "$BROWSER_TEST_ONLY")
start=$(date +%s)
OMNIWS_URL="http://127.0.0.1:$port" OMNIWS_PID="$pid" \
OMNIWS_TLS_URL="https://localhost:$tls_port" OMNIWS_TLS_SPKI="$spki" \
OMNIWS_CLIENT="$(pwd)/target/release/omniws-client" CHROMIUM="$CHROMIUM" \
ARTIFACTS="$OUT" TMPDIR="$tmp" \
  timeout -k 10 300 node "${pattern[@]}" --test-reporter spec tests/browser/run.mjs
rc=$?
echo "browser tests: node exited $rc after $(($(date +%s) - start)) s"
for shot in "$OUT"/*.png; do [ -e "$shot" ] && echo "browser tests: screenshot $shot"; done

for p in "$pid" "$tls_pid"; do
  if ! kill -0 "$p" 2>/dev/null; then echo "browser tests: server $p died"; rc=1; fi
done
exit "$rc"
