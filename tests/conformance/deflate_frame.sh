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
# Jetty ignores deflate-frame's parameters (it agrees to `no_context_takeover` and keeps its
# deflater's window anyway), so we never ask for them and always inflate deflate-frame with a
# kept 32 KiB window (DEFLATE_FRAME_PEER in protocols/src/compression/negotiation.rs). The
# client still checks each of Jetty's frames for references back (DeflateFrameClient.java):
# should an answer of ours ever carry `no_context_takeover` again, a 1007 is counted as KNOWN,
# and any KNOWN fails this script.
#
# The other way round: our client (`omniws-client connect --deflate`, which offers
# permessage-deflate, then x-webkit-deflate-frame) against Jetty's server with permessage-deflate
# unregistered (DeflateFrameServer.java), one connection per message (JSON, 200 KiB text,
# 64 KiB binary), echoes identical and Jetty's wire bytes under a third of the payload. Our
# client asks nothing of Jetty's deflater, so the same JSON twice on one connection, the second
# referring back to the first, is echoed too.
#
# usage: tests/conformance/deflate_frame.sh
# env:   OUT (logs, default target/conformance)
# Installs Jetty (apt-get) and a JDK if missing; needs target/release/omniws and
# target/release/omniws-client built.
# Exit 0 only if every run passed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/conformance/lib.sh
OUT="${OUT:-target/conformance}"
mkdir -p "$OUT"
server="target/release/omniws"
client="target/release/omniws-client"
for b in "$server" "$client"; do
  [ -x "$b" ] || { echo "build first: cargo build --release --bins" >&2; exit 2; }
done

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
server_jars="$jars"
for j in websocket-server websocket-servlet server servlet; do
  [ -f "$J/jetty9-$j.jar" ] || { echo "missing $J/jetty9-$j.jar (libjetty9-java)" >&2; exit 2; }
  server_jars="$server_jars:$J/jetty9-$j.jar"
done
server_jars="$server_jars:$J/servlet-api.jar"

classes="$(mktemp -d)"
pid=""
jetty_pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$jetty_pid" ] && kill "$jetty_pid" 2>/dev/null && wait "$jetty_pid" 2>/dev/null
  rm -rf "$classes"
}
trap cleanup EXIT
javac -d "$classes" -cp "$server_jars" tests/conformance/DeflateFrameClient.java \
  tests/conformance/DeflateFrameServer.java 2>"$classes/javac.log" || {
  cat "$classes/javac.log" >&2; echo "javac failed on tests/conformance/DeflateFrame*.java" >&2; exit 1; }
echo "deflate-frame: Jetty $(dpkg-query -W -f '${Version}' libjetty9-extra-java 2>/dev/null)," \
  "$(javac -version 2>&1)"

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
  local keeps=()
  [[ " $* " == *" --compression keep "* ]] && keeps=(--server-keeps-context)
  timeout 120 java -cp "$jars:$classes" DeflateFrameClient "ws://127.0.0.1:$port/echo" \
    "http://127.0.0.1:$port/status.json" "$offer" --timeout 60 "${keeps[@]}" >"$log" 2>&1
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

# Our client against Jetty's server.
port_file="$classes/jetty.port"
jetty_log="$OUT/deflate-frame-jetty-server.log"
java -cp "$server_jars:$classes" DeflateFrameServer "$port_file" >"$jetty_log" 2>&1 &
jetty_pid=$!
for _ in $(seq 150); do
  [ -s "$port_file" ] && break
  kill -0 "$jetty_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$port_file" ]; then
  echo "Jetty's server did not start (see $jetty_log)"
  exit 1
fi
jetty_url="ws://127.0.0.1:$(cat "$port_file")/"
python3 - "$classes" <<'PY'
import json, sys
d = sys.argv[1]
rows = [{"id": i, "name": "item-%d" % i, "ok": True} for i in range(30)]
line = json.dumps(rows)
open(d + "/json.txt", "w").write(line + "\n")
open(d + "/json2.txt", "w").write(line + "\n" + line + "\n")
prose = "".join("line %d: the quick brown fox jumps over the lazy dog, \u00e9t\u00e9 \u4e2d\u6587. " % i
                for i in range(3000))
open(d + "/text.txt", "w", encoding="utf-8").write(prose + "\n")
blob = "".join("%08d:" % i + "abcdefgh" * 7 for i in range(64 * 1024 // 65))
open(d + "/binary.txt", "w").write(blob + "\n")
open(d + "/binary.hex", "w").write(blob.encode().hex() + "\n")
PY
# reverse NAME INPUT EXPECTED_OUTPUT [CLIENT_FLAGS...]: one connection of our client.
reverse() {
  local name="$1" input="$2" expected="$3"; shift 3
  n=$((n + 1))
  local out="$OUT/deflate-frame-$n.out" err="$OUT/deflate-frame-$n.err" rc closes before
  local payload=$(( $(wc -c <"$input") - $(wc -l <"$input") )) ok=1 why=""
  before=$(grep -c '^closed' "$jetty_log")
  timeout 60 "$client" connect --deflate -v --await-echo "$@" "$jetty_url" \
    <"$input" >"$out" 2>"$err"
  rc=$?
  for _ in $(seq 50); do
    [ "$(grep -c '^closed' "$jetty_log")" -gt "$before" ] && break
    sleep 0.1
  done
  closes=$(grep '^closed' "$jetty_log" | sed -n "$((before + 1))p")
  grep -q 'extensions x-webkit-deflate-frame' "$err" || { ok=0; why="no deflate-frame agreed"; }
  local read wrote
  read=$(sed -E 's/.*read ([0-9]+) bytes.*/\1/' <<<"$closes")
  wrote=$(sed -E 's/.*wrote ([0-9]+) bytes.*/\1/' <<<"$closes")
  if [ "$rc" -ne 0 ] || ! cmp -s "$out" "$expected"; then
    ok=0; why="$why; exit $rc, echo differs"
  elif [[ "$closes" != "closed 1000;"* ]] || [ $((read * 3)) -ge "$payload" ] \
      || [ $((wrote * 3)) -ge "$payload" ]; then
    ok=0; why="$why; Jetty: $closes"
  else
    why="$payload bytes; Jetty read $read, wrote $wrote on the wire"
  fi
  printf '%-62s %s\n' "$name" "$([ "$ok" = 1 ] && echo "ok" || echo "FAILED"): ${why#; }"
  if [ "$ok" != 1 ]; then
    failures=$((failures + 1))
    echo "  (our client's output: $out, $err; Jetty's server: $jetty_log)"
  fi
}
reverse "our client -> Jetty's server, JSON" "$classes/json.txt" "$classes/json.txt"
reverse "our client -> Jetty's server, 200 KiB text" "$classes/text.txt" "$classes/text.txt"
reverse "our client -> Jetty's server, 64 KiB binary" "$classes/binary.txt" \
  "$classes/binary.hex" --binary
reverse "our client -> Jetty's server, the same JSON twice" "$classes/json2.txt" "$classes/json2.txt"
kill "$jetty_pid" 2>/dev/null; wait "$jetty_pid" 2>/dev/null; jetty_pid=""

if [ "$known" -gt 0 ]; then
  echo "deflate-frame: $known message(s) refused with 1007 because Jetty's frames referred to" \
    "earlier frames under a no_context_takeover we should no longer ask for (KNOWN lines in" \
    "$OUT/deflate-frame-*.log)"
  failures=$((failures + 1))
fi
if [ "$failures" -ne 0 ]; then
  echo "deflate-frame: $failures of $n run(s) FAILED"
  exit 1
fi
echo "deflate-frame: all $n runs passed"
