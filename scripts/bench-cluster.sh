#!/usr/bin/env bash
# Cluster benchmark: one big binary message through a pipe session whose two members are on
# two nodes of a cluster, beside the same transfer through one node, in the same run.
#
# Usage:
#   bash scripts/bench-cluster.sh
#
# What it does:
#   1. `cargo build --release --bins --example pipe_bench`.
#   2. Starts a redis-server of its own on a free loopback port (Debian's redis-server must be
#      installed: `apt-get install redis-server`), then, each on a free port, in its own
#      process group, nothing pinned:
#        solo   target/release/omniws --host 127.0.0.1 --port P   (no cluster)
#        a, b   target/release/omniws --host 127.0.0.1 --port P --cluster redis://... \
#                   --node-name a|b --advertise 127.0.0.1:P
#      and waits (bounded) until both nodes list each other in /status.json.
#   3. Each round (1 warm-up, then ROUNDS): `pipe_bench drive` through solo (sender and
#      receiver on one node), then with the sender on a and the receiver on b (each node runs
#      the session; the message crosses the sender's outbound link from a to b: a's pipe,
#      the link, b's pipe). A new session name per transfer.
#   4. Prints a Markdown table of medians: MB/s (10^6 bytes/s), time to first byte, and the
#      cross-node figures as a ratio to the one-node ones of the same rounds.
#   It stops only the process groups it started (trap on exit).
#
# Settings (environment): BENCH_MIB [256], BENCH_ROUNDS [5], BENCH_MASK [premasked] or live,
# BENCH_THREADS [1] loops per node (1 keeps the one-node and two-node figures comparable on
# a 2-core machine, where two nodes already share the cores), BENCH_LOG_DIR [a new
# temporary directory].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ $# -gt 0 ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 2
fi
MIB=${BENCH_MIB:-256}
ROUNDS=${BENCH_ROUNDS:-5}
MASK=${BENCH_MASK:-premasked}
THREADS=${BENCH_THREADS:-1}
LOG_DIR=${BENCH_LOG_DIR:-$(mktemp -d -t bench-cluster.XXXXXX)}
mkdir -p "$LOG_DIR"
START_TIMEOUT_TENTHS=300
RUN_TIMEOUT=$((60 + MIB / 4))
BENCH=target/release/examples/pipe_bench

log() { echo "bench-cluster: $*" >&2; }

. scripts/bench-lib.sh

command -v redis-server >/dev/null || { log "redis-server is not installed"; exit 1; }

log "building (release)"
cargo build --release --quiet --bins --example pipe_bench

PORT_redis=$(free_port 22000)
start_server redis "$PORT_redis" "" redis-server --port "$PORT_redis" --bind 127.0.0.1 \
    --save "" --appendonly no
PORT_solo=$(free_port $((PORT_redis + 1)))
start_server solo "$PORT_solo" "" target/release/omniws --host 127.0.0.1 --port "$PORT_solo" \
    --threads "$THREADS"
PID_solo=$STARTED_PID
PORT_a=$(free_port $((PORT_solo + 1)))
start_server a "$PORT_a" "" target/release/omniws --host 127.0.0.1 --port "$PORT_a" \
    --threads "$THREADS" --cluster "redis://127.0.0.1:$PORT_redis" --node-name a \
    --advertise "127.0.0.1:$PORT_a"
PORT_b=$(free_port $((PORT_a + 1)))
start_server b "$PORT_b" "" target/release/omniws --host 127.0.0.1 --port "$PORT_b" \
    --threads "$THREADS" --cluster "redis://127.0.0.1:$PORT_redis" --node-name b \
    --advertise "127.0.0.1:$PORT_b"

# nodes PORT : how many nodes the node on PORT lists.
nodes() {
    curl -s "http://127.0.0.1:$1/status.json" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("cluster",{}).get("nodes",[])))'
}
for _ in $(seq 1 150); do
    [[ "$(nodes "$PORT_a")" == 2 && "$(nodes "$PORT_b")" == 2 ]] && break
    sleep 0.1
done
[[ "$(nodes "$PORT_a")" == 2 && "$(nodes "$PORT_b")" == 2 ]] || { log "the nodes did not find each other"; exit 1; }

# transfer NAME ROUND ARGS... : one driver run; appends "ROUND line" to $LOG_DIR/NAME.txt.
transfer() {
    local name=$1 round=$2 line status=0
    shift 2
    line=$(timeout "$RUN_TIMEOUT" "$BENCH" drive "$@" --mib "$MIB" --mask "$MASK" \
        2>"$LOG_DIR/driver.err") || status=$?
    echo "$name $round $line" >>"$LOG_DIR/runs.txt"
    check_run "$name, round $round: the driver" "$status" "$line" "$LOG_DIR/driver.err" \
        solo "$PID_solo"
    printf '%-6s %-7s %s\n' "$name" "$round" "$line" >&2
    echo "$round $line" >>"$LOG_DIR/$name.txt"
}

log "one binary message of $MIB MiB per transfer, $THREADS loop(s) per node, 1 warm-up + $ROUNDS rounds"
rm -f "$LOG_DIR/solo.txt" "$LOG_DIR/cross.txt"
for round in warmup $(seq 1 "$ROUNDS"); do
    transfer solo "$round" --url "ws://127.0.0.1:$PORT_solo/sessions/solo-$round" \
        --server-pid "$PID_solo"
    sleep 0.2
    transfer cross "$round" --url "ws://127.0.0.1:$PORT_a/sessions/cross-$round" \
        --receiver-url "ws://127.0.0.1:$PORT_b/sessions/cross-$round"
    sleep 0.2
done

values() {
    local line
    while read -r round line; do
        [[ $round == warmup ]] && continue
        field "$2" "$line"
    done <"$LOG_DIR/$1.txt"
}

solo_rate=$(values solo mb_per_sec | median)
cross_rate=$(values cross mb_per_sec | median)
solo_ttfb=$(values solo ttfb_ms | median)
cross_ttfb=$(values cross ttfb_ms | median)
ratio=$(paste -d' ' <(values cross mb_per_sec) <(values solo mb_per_sec) |
    awk '{ printf "%.4f\n", ($2 > 0 ? $1 / $2 : 0) }' | median)

echo
echo "Cluster: one $MIB MiB binary message per transfer (mask $MASK), $THREADS loop(s) per node," \
    "medians of $ROUNDS rounds; MB = 10^6 bytes; $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| path | MB/s | TTFB ms | MB/s ratio to one node (same rounds) |"
echo "|---|---:|---:|---:|"
printf '| one node | %.0f | %.2f | 1 |\n' "$solo_rate" "$solo_ttfb"
printf '| sender on node a, receiver on node b | %.0f | %.2f | %.2f |\n' "$cross_rate" \
    "$cross_ttfb" "$ratio"
echo
echo "Every transfer's line: $LOG_DIR/runs.txt"
