#!/usr/bin/env bash
# Echo throughput benchmark: the server under test beside a tokio-tungstenite echo server
# (current-thread runtime), driven by the same load generator in the same run.
#
# Usage:
#   bash scripts/bench-echo.sh SERVER_CMD...
#
#   SERVER_CMD is the command that starts the server under test; every argument containing
#   {PORT} has it replaced by the port chosen for it. The server must serve the echo endpoint
#   at ws://127.0.0.1:PORT/echo. Examples:
#
#   bash scripts/bench-echo.sh target/release/omniws --port {PORT}
#   bash scripts/bench-echo.sh target/release/examples/tungstenite_echo --port {PORT}
#       (the peer against itself: checks the harness, the ratio should be about 1)
#
# What it does:
#   1. `cargo build --release --bins --example tungstenite_echo --example loadgen` (the bins so
#      that target/release/omniws is current once it exists; build any other server yourself).
#   2. Starts the peer (target/release/examples/tungstenite_echo) and SERVER_CMD, each in its
#      own process group and pinned with `taskset -c 0`, and waits (bounded) until each listens.
#   3. For each message size (20 bytes, 16 KiB) runs target/release/examples/loadgen, pinned
#      with `taskset -c 1`, against the server under test and the peer alternately, ROUNDS
#      rounds (ours, peer, ours, peer, ...). Every run is bounded in time; a run that reports a
#      wrong echo or a failed connection stops the benchmark with status 1.
#   4. Prints a Markdown table: the median msgs/s of each and the ratio ours / tungstenite, and
#      the same for messages per CPU-second of the server (CPU time of the server's threads over
#      the measured window; less sensitive to other work on this shared machine, which shows as
#      a server CPU share below 1.00).
#   It stops only the process groups it started (trap on exit).
#
# Settings (environment): BENCH_SIZES ["20 16384"], BENCH_CONNECTIONS [100], BENCH_WINDOW
# [16] messages in flight per connection, BENCH_SECONDS [4] measured per run, BENCH_WARMUP
# [1], BENCH_ROUNDS [3], BENCH_MODE [--binary] or --text, BENCH_PORT and BENCH_PEER_PORT
# [free ports from 20000 up], BENCH_SERVER_CPU [0] and BENCH_CLIENT_CPU [1] (taskset CPU lists),
# BENCH_LOG_DIR [a new temporary directory] for the servers' output and every run's line.
#
# For server_cpu to mean anything, SERVER_CMD should be the server binary itself (through a
# wrapper such as `cargo run`, the script follows a single chain of children to the server).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 2
fi

SIZES=${BENCH_SIZES:-"20 16384"}
CONNECTIONS=${BENCH_CONNECTIONS:-100}
WINDOW=${BENCH_WINDOW:-16}
RUN_SECONDS=${BENCH_SECONDS:-4}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-3}
MODE=${BENCH_MODE:---binary}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
LOG_DIR=${BENCH_LOG_DIR:-$(mktemp -d -t bench-echo.XXXXXX)}
mkdir -p "$LOG_DIR"
START_TIMEOUT_TENTHS=300 # 30 s for a server to listen
# A run: connecting (<= 5 s per connection, but fast on loopback), warm-up, measuring, draining
# (<= 10 s); anything past this bound is a hung run.
RUN_TIMEOUT=$(awk -v s="$RUN_SECONDS" -v w="$WARMUP" 'BEGIN { printf "%d", s + w + 60 }')

PEER=target/release/examples/tungstenite_echo
LOADGEN=target/release/examples/loadgen

log() { echo "bench-echo: $*" >&2; }

# --- processes we started, and only those; free ports ---------------------------------
. scripts/bench-lib.sh

# start NAME PORT CMD... : starts CMD in its own process group pinned to SERVER_CPU, waits until
# PORT listens, and sets STARTED_PID to the process to watch (the end of a single chain of
# children, so that a wrapper such as `cargo run` is looked through).
start() {
    local name=$1 port=$2
    shift 2
    if port_listening "$port"; then
        log "port $port is already in use; set BENCH_PORT / BENCH_PEER_PORT to free ports"
        exit 1
    fi
    log "starting $name on port $port: $*"
    # A background job of a script is not a group leader, so setsid runs CMD in place: $! is
    # the new session and process group.
    setsid taskset -c "$SERVER_CPU" "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
    local pid=$!
    STARTED_PGIDS+=("$pid")
    await_listening "$name" "$port" "$pid"
    if [[ "$(ps -o pgid= -p "$pid" | tr -d ' ')" != "$pid" ]]; then
        log "$name (pid $pid) is not in a process group of its own"
        exit 1
    fi
    local leaf=$pid children
    while children=$(cat /proc/"$leaf"/task/*/children 2>/dev/null) &&
        [[ -n "$children" && $(wc -w <<<"$children") -eq 1 ]]; do
        leaf=${children// /}
    done
    STARTED_PID=$leaf
    log "$name listening (pid $STARTED_PID)"
}

# field NAME LINE : the value of NAME=... in a loadgen line.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- build -------------------------------------------------------------------------------
log "building (release)"
cargo build --release --quiet --bins --example tungstenite_echo --example loadgen

# --- servers -----------------------------------------------------------------------------
OUR_PORT=${BENCH_PORT:-$(free_port 20000)}
PEER_PORT=${BENCH_PEER_PORT:-$(free_port $((OUR_PORT + 1)))}
if [[ "$OUR_PORT" == "$PEER_PORT" ]]; then
    log "the two servers need different ports"
    exit 1
fi
SERVER_CMD=()
for arg in "$@"; do SERVER_CMD+=("${arg//\{PORT\}/$OUR_PORT}"); done

start ours "$OUR_PORT" "${SERVER_CMD[@]}"
OUR_PID=$STARTED_PID
start tungstenite "$PEER_PORT" "$PEER" --port "$PEER_PORT"
PEER_PID=$STARTED_PID

# --- runs --------------------------------------------------------------------------------
# run NAME PORT PID SIZE : one loadgen run; appends "msgs_per_sec per_server_cpu_second" to
# $LOG_DIR/NAME-SIZE.txt and the full line to $LOG_DIR/runs.txt.
run() {
    local name=$1 port=$2 pid=$3 size=$4 line status=0
    line=$(timeout "$RUN_TIMEOUT" taskset -c "$CLIENT_CPU" "$LOADGEN" \
        --url "ws://127.0.0.1:$port/echo" --connections "$CONNECTIONS" --size "$size" \
        --seconds "$RUN_SECONDS" --warmup "$WARMUP" --window "$WINDOW" "$MODE" \
        --server-pid "$pid" 2>"$LOG_DIR/loadgen.err") || status=$?
    echo "$name $line" >>"$LOG_DIR/runs.txt"
    check_run "$name, size $size: load generator" "$status" "$line" "$LOG_DIR/loadgen.err" \
        "$name" "$pid"
    local rate cpu
    rate=$(field msgs_per_sec "$line")
    cpu=$(field server_cpu "$line")
    printf '%-12s %s\n' "$name" "$line" >&2
    awk -v r="$rate" -v c="$cpu" 'BEGIN { printf "%s %.0f\n", r, (c > 0 ? r / c : 0) }' \
        >>"$LOG_DIR/$name-$size.txt"
    sleep 0.5 # let the closed connections' sockets go before the next run
}

log "$CONNECTIONS connections, window $WINDOW, ${RUN_SECONDS}s (+${WARMUP}s warm-up) per run, $ROUNDS rounds, $MODE"
for size in $SIZES; do
    rm -f "$LOG_DIR/ours-$size.txt" "$LOG_DIR/tungstenite-$size.txt"
    for round in $(seq 1 "$ROUNDS"); do
        log "size $size, round $round/$ROUNDS"
        run ours "$OUR_PORT" "$OUR_PID" "$size"
        run tungstenite "$PEER_PORT" "$PEER_PID" "$size"
    done
done

# --- report ------------------------------------------------------------------------------
echo
echo "Echo throughput, medians of $ROUNDS runs each ($CONNECTIONS connections, window $WINDOW, ${RUN_SECONDS}s, ${MODE#--}); ours: ${*}"
echo
echo "| size (bytes) | ours msgs/s | tungstenite msgs/s | ratio | ours msgs/server-CPU-s | tungstenite msgs/server-CPU-s | ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for size in $SIZES; do
    ours=$(cut -d' ' -f1 "$LOG_DIR/ours-$size.txt" | median)
    peer=$(cut -d' ' -f1 "$LOG_DIR/tungstenite-$size.txt" | median)
    ours_cpu=$(cut -d' ' -f2 "$LOG_DIR/ours-$size.txt" | median)
    peer_cpu=$(cut -d' ' -f2 "$LOG_DIR/tungstenite-$size.txt" | median)
    awk -v s="$size" -v a="$ours" -v b="$peer" -v c="$ours_cpu" -v d="$peer_cpu" 'BEGIN {
        printf "| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |\n",
            s, a, b, (b > 0 ? a / b : 0), c, d, (d > 0 ? c / d : 0) }'
done
echo
echo "Every run's line: $LOG_DIR/runs.txt"
