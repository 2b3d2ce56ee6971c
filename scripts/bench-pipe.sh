#!/usr/bin/env bash
# Pipe-session benchmark: one big binary message through one /sessions/NAME session of
# omniws, beside a raw TCP relay (the ceiling) and a store-and-forward relay on
# tokio-tungstenite, all driven by the same driver in the same run. BENCH-PIPE.md explains
# the figures.
#
# Usage:
#   bash scripts/bench-pipe.sh
#
# What it does:
#   1. `cargo build --release --bins --example pipe_bench`.
#   2. Starts, each on its own free port and in its own process group, nothing pinned:
#        ours         target/release/omniws --host 127.0.0.1 --port P
#                     (the defaults: sessions have no frame or message limit)
#        raw          target/release/examples/pipe_bench raw-relay --port P
#        tungstenite  target/release/examples/pipe_bench tungstenite-relay --port P
#      and waits (bounded) until each listens.
#   3. Runs `pipe_bench drive` against each in turn (ours, raw, tungstenite), one warm-up
#      round that is not counted in the speed figures, then ROUNDS measured rounds. Each
#      transfer uses a new session name and is bounded in time; one that fails (wrong bytes,
#      a server gone) stops the benchmark with status 1.
#   4. Prints a Markdown table: per server the medians over the measured rounds of MB/s
#      (decimal, 10^6 bytes/s), of the ratio to the raw relay's MB/s in the same round, of the
#      time to first byte and of the server's CPU time per transfer; the server's RSS when idle
#      before its first transfer (fresh process, both members connected), its highest peak RSS
#      over every transfer including the warm-up, and the largest growth of one transfer (peak
#      during it minus RSS just before it).
#   It stops only the process groups it started (trap on exit).
#
# Settings (environment): BENCH_MIB [256] message size in MiB, BENCH_ROUNDS [5],
# BENCH_MASK [premasked] or live (see examples/pipe_bench/driver.rs), BENCH_PORT [free ports
# from 21000 up], BENCH_LOG_DIR [a new temporary directory] for the servers' output and every
# transfer's line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -gt 0 ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 2
fi

MIB=${BENCH_MIB:-256}
ROUNDS=${BENCH_ROUNDS:-5}
MASK=${BENCH_MASK:-premasked}
LOG_DIR=${BENCH_LOG_DIR:-$(mktemp -d -t bench-pipe.XXXXXX)}
mkdir -p "$LOG_DIR"
START_TIMEOUT_TENTHS=300 # 30 s for a server to listen
# A transfer of 256 MiB takes about 1 s even store-and-forward; anything past this is hung.
RUN_TIMEOUT=$((60 + MIB / 4))

BENCH=target/release/examples/pipe_bench
SERVERS=(ours raw tungstenite)

log() { echo "bench-pipe: $*" >&2; }

# --- processes we started, and only those; free ports ---------------------------------
. scripts/bench-lib.sh

# start NAME PORT CMD... : starts CMD, not pinned (bench-lib.sh's start_server), and records
# its pid in PID_<NAME>.
start() {
    local name=$1 port=$2
    shift 2
    start_server "$name" "$port" "" "$@"
    printf -v "PID_$name" '%s' "$STARTED_PID"
}

# --- build -------------------------------------------------------------------------------
log "building (release)"
cargo build --release --quiet --bins --example pipe_bench

# --- servers -----------------------------------------------------------------------------
PORT_ours=$(free_port "${BENCH_PORT:-21000}")
start ours "$PORT_ours" target/release/omniws --host 127.0.0.1 --port "$PORT_ours"
PORT_raw=$(free_port $((PORT_ours + 1)))
start raw "$PORT_raw" "$BENCH" raw-relay --port "$PORT_raw"
PORT_tungstenite=$(free_port $((PORT_raw + 1)))
start tungstenite "$PORT_tungstenite" "$BENCH" tungstenite-relay --port "$PORT_tungstenite"

# --- runs --------------------------------------------------------------------------------
# transfer NAME ROUND : one driver run against server NAME; appends "ROUND line" to
# $LOG_DIR/NAME.txt and "NAME ROUND line" to $LOG_DIR/runs.txt.
transfer() {
    local name=$1 round=$2 port_var="PORT_$1" pid_var="PID_$1" line status=0 target
    local port=${!port_var} pid=${!pid_var}
    if [[ $name == raw ]]; then
        target=(--raw "127.0.0.1:$port")
    else
        target=(--url "ws://127.0.0.1:$port/sessions/bench-$round")
    fi
    line=$(timeout "$RUN_TIMEOUT" "$BENCH" drive "${target[@]}" --mib "$MIB" --mask "$MASK" \
        --server-pid "$pid" 2>"$LOG_DIR/driver.err") || status=$?
    echo "$name $round $line" >>"$LOG_DIR/runs.txt"
    check_run "$name, round $round: the driver" "$status" "$line" "$LOG_DIR/driver.err" \
        "$name" "$pid"
    printf '%-12s %-7s %s\n' "$name" "$round" "$line" >&2
    echo "$round $line" >>"$LOG_DIR/$name.txt"
}

log "one binary message of $MIB MiB per transfer, mask $MASK, 1 warm-up + $ROUNDS rounds"
for name in "${SERVERS[@]}"; do rm -f "$LOG_DIR/$name.txt"; done
for round in warmup $(seq 1 "$ROUNDS"); do
    for name in "${SERVERS[@]}"; do
        transfer "$name" "$round"
        sleep 0.2 # let the closed connections go before the next transfer
    done
done

# --- report ------------------------------------------------------------------------------
# values NAME FIELD [all] : FIELD of every measured round of NAME (every round with "all").
values() {
    local line
    while read -r round line; do
        [[ $round == warmup && ${3:-} != all ]] && continue
        field "$2" "$line"
    done <"$LOG_DIR/$1.txt"
}

# ratios NAME : NAME's MB/s over the raw relay's, round by round.
ratios() {
    paste -d' ' <(values "$1" mb_per_sec) <(values raw mb_per_sec) |
        awk '{ printf "%.4f\n", ($2 > 0 ? $1 / $2 : 0) }'
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

echo
echo "Pipe sessions: one $MIB MiB binary message per transfer (mask $MASK), medians of" \
    "$ROUNDS rounds; MB = 10^6 bytes; $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
echo
echo "| server | MB/s | ratio to raw relay | TTFB ms | server CPU s | idle RSS MiB | peak RSS MiB | largest growth MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for name in "${SERVERS[@]}"; do
    rate=$(values "$name" mb_per_sec | median)
    ratio=$(ratios "$name" | median)
    ttfb=$(values "$name" ttfb_ms | median)
    cpu=$(values "$name" server_cpu_s | median)
    idle=$(values "$name" idle_rss_kib all | sed -n 1p)
    peak=$(values "$name" peak_rss_kib all | sort -g | tail -n 1)
    growth=$(paste -d' ' <(values "$name" peak_rss_kib all) <(values "$name" idle_rss_kib all) |
        awk '{ d = $1 - $2; if (d > m) m = d } END { print m + 0 }')
    case $name in
        ours) label="omniws /sessions" ;;
        raw) label="raw TCP relay" ;;
        tungstenite) label="tokio-tungstenite store-and-forward" ;;
    esac
    printf '| %s | %.0f | %.2f | %.2f | %.3f | %s | %s | %s |\n' "$label" "$rate" "$ratio" \
        "$ttfb" "$cpu" "$(mib "$idle")" "$(mib "$peak")" "$(mib "$growth")"
done
echo
echo "Every transfer's line: $LOG_DIR/runs.txt"
