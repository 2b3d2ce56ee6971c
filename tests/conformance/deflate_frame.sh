#!/usr/bin/env bash
# deflate-frame (x-webkit-deflate-frame) against a third-party implementation: Jetty 9.4's
# WebSocket client (Debian libjetty9-java / libjetty9-extra-java) with Jetty's own
# DeflateFrameExtension, driven by DeflateFrameClient.java against our /echo. Every run checks
# the agreement, echoes of nine messages (tiny, 1 KiB JSON twice, 220 KiB text, 64 KiB random,
# 200 KiB sparse binary, two fragmented), RSV1 on each of Jetty's frames, compression both ways
# (Jetty's frame and byte counts), and our server's /status.json byte totals against Jetty's.
#
# Runs: the CLI server with its defaults (`--compression lean`) offered each name, and
# `no_context_takeover`; then `--compression keep`, where both sides keep their window.
# Known disagreement (counted as KNOWN, not a failure): Jetty ignores deflate-frame's
# parameters and keeps its deflater's window, so under our default answer
# (`no_context_takeover`) a Jetty frame referring to an earlier frame gets 1007 from us; the
# client checks each of Jetty's frames for that (see DeflateFrameClient.java).
#
# usage: tests/conformance/deflate_frame.sh
# env:   OUT (logs, default target/conformance)
# Installs Jetty (apt-get) and a JDK if missing; needs target/release/omniws built.
# Exit 0 only if every run passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/conformance/lib.sh
OUT="${OUT:-target/conformance}"
mkdir -p "$OUT"
server="target/release/omniws"
[ -x "$server" ] || { echo "build first: cargo build --release --bin omniws" >&2; exit 2; }

J=/usr/share/java
if [ ! -f "$J/jetty9-websocket-client.jar" ] || ! command -v javac >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq libjetty9-java libjetty9-extra-java \
    openjdk-17-jdk-headless >/dev/null
fi
jars=""
for j in websocket-api websocket-client websocket-common client http io util; do
  [ -f "$J/jetty9-$j.jar" ] || { echo "missing $J/jetty9-$j.jar (libjetty9-extra-java)" >&2; exit 2; }
  jars="$jars:$J/jetty9-$j.jar"
done
jars="${jars#:}"

classes="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$classes"
}
trap cleanup EXIT
javac -d "$classes" -cp "$jars" tests/conformance/DeflateFrameClient.java || {
  echo "javac failed on tests/conformance/DeflateFrameClient.java" >&2; exit 1; }
echo "deflate-frame: Jetty $(dpkg-query -W -f '${Version}' libjetty9-extra-java 2>/dev/null)" \
  "client, $(javac -version 2>&1)"

failures=0
known=0
n=0
# one NAME OFFER [SERVER_FLAGS...]: a fresh server (its byte totals are this run's), one client.
one() {
  local name="$1" offer="$2"; shift 2
  n=$((n + 1))
  local port log line rc
  port=$(free_port)
  log="$OUT/deflate-frame-$n.log"
  "$server" --host 127.0.0.1 --port "$port" "$@" >"$OUT/deflate-frame-server-$n.log" 2>&1 &
  pid=$!
  if ! wait_port "$port" "$pid"; then
    echo "$name: the server did not start (see $OUT/deflate-frame-server-$n.log)"
    failures=$((failures + 1)); return
  fi
  timeout 120 java -cp "$jars:$classes" DeflateFrameClient "ws://127.0.0.1:$port/echo" \
    "http://127.0.0.1:$port/status.json" "$offer" --timeout 60 >"$log" 2>&1
  rc=$?
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
  line=$(grep -E '^[0-9]+ passed' "$log" | tail -n 1)
  printf '%-62s %s\n' "$name" "${line:-no summary (exit $rc)}"
  if [ "$rc" -ne 0 ]; then
    failures=$((failures + 1))
    grep -E '^(FAIL|server answered|Exception|\s+at )' "$log" | head -n 20
    echo "  (full output: $log)"
  fi
  known=$((known + $(grep -c '^KNOWN' "$log")))
}

one "defaults, offer x-webkit-deflate-frame" "x-webkit-deflate-frame"
one "defaults, offer deflate-frame" "deflate-frame"
one "defaults, offer x-webkit-deflate-frame; no_context_takeover" \
  "x-webkit-deflate-frame; no_context_takeover"
one "--compression keep, offer x-webkit-deflate-frame" "x-webkit-deflate-frame" \
  --compression keep
one "--compression keep, offer deflate-frame; no_context_takeover" \
  "deflate-frame; no_context_takeover" --compression keep

if [ "$known" -gt 0 ]; then
  echo "known: $known message(s) refused with 1007: Jetty's frames referred to earlier frames" \
    "though our answer said no_context_takeover (Jetty ignores deflate-frame's parameters;" \
    "KNOWN lines in $OUT/deflate-frame-*.log)"
fi
if [ "$failures" -ne 0 ]; then
  echo "deflate-frame: $failures of $n run(s) FAILED"
  exit 1
fi
echo "deflate-frame: all $n runs passed"
