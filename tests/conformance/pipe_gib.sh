#!/usr/bin/env bash
# A 1 GiB message through pipe sessions of the command-line server as a newcomer runs it: no
# option but the address, so every limit is the CLI default (sessions have no size limit).
# Each run is one `pipe_bench drive` (examples/pipe_bench/driver.rs): a receiver and a sender
# join /sessions/NAME, the sender sends one 1 GiB message, and both sides' SHA-256 digests
# of the payload must match.
#
#   gib1  RFC 6455 -> RFC 6455, binary, one frame of declared length
#   gib2  RFC 6455 -> RFC 6455, binary, 1 MiB fragments (then an empty final frame)
#   gib3  hybi-07  -> hixie-76, text, 1 MiB fragments (hixie-76 receives 00 .. FF; binary
#         to hixie receivers is refused by default, so this pair sends text)
#
# usage: tests/conformance/pipe_gib.sh
# env:   OUT (default target/conformance: the server's log), GIB_TIMEOUT (seconds per run,
#        default 40)
# Builds nothing. Needs target/release/omniws and target/release/examples/pipe_bench:
#   cargo build --release --bin omniws --example pipe_bench
# Needs bash, python3 (for a free port, as lib.sh) and coreutils' timeout. About 10 s on 2
# cores. Exit 0 only if all three runs passed and the server shut down cleanly; 1 otherwise,
# 2 when the binaries are missing.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. tests/conformance/lib.sh
OUT="${OUT:-target/conformance}"
GIB_TIMEOUT="${GIB_TIMEOUT:-40}"
mkdir -p "$OUT"
server="target/release/omniws"
driver="target/release/examples/pipe_bench"
for b in "$server" "$driver"; do
  [ -x "$b" ] || { echo "pipe_gib: $b missing; build first: cargo build --release --bin omniws --example pipe_bench" >&2; exit 2; }
done

port=$(free_port)
log="$OUT/pipe-gib-server.log"
"$server" --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
pid=$!
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  fi
}
trap cleanup EXIT
if ! wait_port "$port" "$pid"; then
  echo "pipe_gib: FAILED: the server did not listen on 127.0.0.1:$port; its log:" >&2
  cat "$log" >&2
  exit 1
fi

# The server's peak memory during each transfer is reported (and bounded) when this user may
# reset its peak-RSS mark; a server that held the message would need over 1 GiB.
pid_args=()
[ -w "/proc/$pid/clear_refs" ] && pid_args=(--server-pid "$pid")
max_peak_kib=$((256 * 1024))

failures=0
# run NAME DRIVER_OPTIONS...: one 1 GiB transfer through /sessions/NAME.
run() {
  local name="$1"; shift
  local line rc peak
  line=$(timeout "$GIB_TIMEOUT" "$driver" drive --url "ws://127.0.0.1:$port/sessions/$name" \
    --mib 1024 --sha256 "${pid_args[@]}" "$@" 2>&1)
  rc=$?
  local what="${*:-one frame}"
  [ -n "$line" ] && echo "$name: $line"
  if [ "$rc" -eq 124 ]; then
    echo "pipe_gib: FAILED: $name ($what) did not finish within ${GIB_TIMEOUT}s" >&2
    failures=$((failures + 1))
  elif [ "$rc" -ne 0 ]; then
    echo "pipe_gib: FAILED: $name ($what): pipe_bench exited $rc" >&2
    failures=$((failures + 1))
  elif ! grep -q ' sha256=ok ' <<<"$line"; then
    echo "pipe_gib: FAILED: $name ($what) printed no matching SHA-256 digests" >&2
    failures=$((failures + 1))
  else
    peak=$(sed -n 's/.* peak_rss_kib=\([0-9]*\).*/\1/p' <<<"$line")
    if [ -n "$peak" ] && [ "$peak" -gt "$max_peak_kib" ]; then
      echo "pipe_gib: FAILED: $name ($what): the server's RSS peaked at $peak KiB (over $max_peak_kib)" >&2
      failures=$((failures + 1))
    fi
  fi
}

run gib1
run gib2 --fragment 1048576
run gib3 --fragment 1048576 --sender-dialect hybi-07 --receiver-dialect hixie-76 --kind text

if ! kill -0 "$pid" 2>/dev/null; then
  echo "pipe_gib: FAILED: the server died during the runs; its log:" >&2
  cat "$log" >&2
  pid=""
  exit 1
fi
kill -TERM "$pid"
wait "$pid"
status=$?
pid=""
if [ "$status" -ne 0 ]; then
  echo "pipe_gib: FAILED: the server exited $status after SIGTERM; its log:" >&2
  cat "$log" >&2
  failures=$((failures + 1))
fi

if [ "$failures" -ne 0 ]; then
  echo "pipe_gib: $failures failure(s); server log in $log" >&2
  exit 1
fi
echo "pipe_gib: 3 of 3 runs passed (1 GiB each, SHA-256 matched, CLI defaults)"
