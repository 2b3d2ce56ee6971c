#!/usr/bin/env bash
# Echo throughput benchmark: the server under test beside peer echo servers, tokio-tungstenite
# and fastwebsockets (each on a current-thread tokio runtime), all driven by the same load
# generator in the same run.
#
# Usage:
#   bash scripts/bench-echo.sh SERVER_CMD...
#
#   SERVER_CMD is the command that starts the server under test; every argument containing
#   {PORT} has it replaced by the port chosen for it. The server must serve the echo endpoint
#   at ws://127.0.0.1:PORT/echo. Examples:
#
#   bash scripts/bench-echo.sh target/release/omniws --threads 1 --port {PORT}
#       (one loop, like the peers' current-thread runtimes; without --threads the server runs
#       one loop per core, all pinned to BENCH_SERVER_CPU)
#   BENCH_SERVER_CPU=0,1 BENCH_CLIENT_CPU=0,1 bash scripts/bench-echo.sh \
#       target/release/omniws --threads 2 --port {PORT}
#       (two loops; on a 2-core machine the load generator then shares their cores)
#   bash scripts/bench-echo.sh target/release/examples/tungstenite_echo --port {PORT}
#   bash scripts/bench-echo.sh target/release/examples/fastwebsockets_echo --port {PORT}
#       (a peer against itself: checks the harness, the ratio to that peer should be about 1)
#
# The peers (BENCH_PEERS, in this order in every round):
#   tungstenite     target/release/examples/tungstenite_echo (tokio-tungstenite)
#   fastwebsockets  target/release/examples/fastwebsockets_echo (fastwebsockets over hyper 1)
#
# What it does:
#   1. `cargo build --release --bins --example loadgen --example PEER_echo...` (the bins so
#      that target/release/omniws is current once it exists; build any other server yourself).
#   2. Starts SERVER_CMD and each peer, each in its own process group and pinned with
#      `taskset -c 0`, and waits (bounded) until each listens.
#   3. For each message size (20 bytes, 16 KiB) runs target/release/examples/loadgen, pinned
#      with `taskset -c 1`, against the server under test and each peer in turn, ROUNDS rounds
#      (ours, tungstenite, fastwebsockets, ours, tungstenite, ...). Every run is bounded in time;
#      a run that reports a wrong echo or a failed connection stops the benchmark with status 1.
#   4. Prints a Markdown table, one row per size: the median msgs/s of ours and of each peer
#      with the ratio ours / that peer, then the same for messages per CPU-second of the server
#      (CPU time of the server's threads over the measured window; less sensitive to other work
#      on this shared machine, which shows as a server CPU share below 1.00).
#   It stops only the process groups it started (trap on exit).
#
# Settings (environment): BENCH_PEERS ["tungstenite fastwebsockets"], any non-empty subset in
# any order; BENCH_SIZES ["20 16384"], BENCH_CONNECTIONS [100], BENCH_WINDOW [16] messages in
# flight per connection, BENCH_SECONDS [4] measured per run, BENCH_WARMUP [1], BENCH_ROUNDS
# [3], BENCH_MODE [--binary] or --text, BENCH_PORT [a free port from 20000 up] for the server
# under test, BENCH_PEER_PORT [the next free port] for the first peer (each further peer takes
# the next free port after the previous one), BENCH_SERVER_CPU [0] and BENCH_CLIENT_CPU [1]
# (taskset CPU lists), BENCH_LOG_DIR [a new temporary directory] for the servers' output and
# every run's line.
#
# For server_cpu to mean anything, SERVER_CMD should be the server binary itself (through a
# wrapper such as `cargo run`, the script follows a single chain of children to the server).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -eq 0 || "$1" == "-h" || "$1" == "--help" ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 2
fi

PEERS=${BENCH_PEERS:-"tungstenite fastwebsockets"}
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

LOADGEN=target/release/examples/loadgen

log() { echo "bench-echo: $*" >&2; }

# The peers: name -> example (target/release/examples/EXAMPLE --port PORT).
declare -A PEER_EXAMPLE=([tungstenite]=tungstenite_echo [fastwebsockets]=fastwebsockets_echo)
read -r -a PEER_NAMES <<<"$PEERS"
if ((${#PEER_NAMES[@]} == 0)); then
    log "BENCH_PEERS is empty; known peers: ${!PEER_EXAMPLE[*]}"
    exit 2
fi
declare -A SEEN=()
for peer in "${PEER_NAMES[@]}"; do
    if [[ -z "${PEER_EXAMPLE[$peer]:-}" || -n "${SEEN[$peer]:-}" ]]; then
        log "BENCH_PEERS: unknown or repeated peer '$peer'; known peers: ${!PEER_EXAMPLE[*]}"
        exit 2
    fi
    SEEN[$peer]=1
done

# --- processes we started, and only those; free ports ---------------------------------
. scripts/bench-lib.sh

# start NAME PORT CMD... : starts CMD pinned to SERVER_CPU (bench-lib.sh's start_server).
start() {
    local name=$1 port=$2
    shift 2
    start_server "$name" "$port" "$SERVER_CPU" "$@"
}

# --- build -------------------------------------------------------------------------------
log "building (release)"
BUILD_EXAMPLES=(--example loadgen)
for peer in "${PEER_NAMES[@]}"; do BUILD_EXAMPLES+=(--example "${PEER_EXAMPLE[$peer]}"); done
cargo build --release --quiet --bins "${BUILD_EXAMPLES[@]}"

# --- servers -----------------------------------------------------------------------------
# Each port is chosen once the servers before it listen, so free_port skips theirs.
declare -A PORT=() PID=()
PORT[ours]=${BENCH_PORT:-$(free_port 20000)}
if [[ "${BENCH_PEER_PORT:-}" == "${PORT[ours]}" ]]; then
    log "the server under test and the first peer need different ports"
    exit 1
fi
SERVER_CMD=()
for arg in "$@"; do SERVER_CMD+=("${arg//\{PORT\}/${PORT[ours]}}"); done

start ours "${PORT[ours]}" "${SERVER_CMD[@]}"
PID[ours]=$STARTED_PID
next_port=$((PORT[ours] + 1))
for peer in "${PEER_NAMES[@]}"; do
    if [[ "$peer" == "${PEER_NAMES[0]}" && -n "${BENCH_PEER_PORT:-}" ]]; then
        PORT[$peer]=$BENCH_PEER_PORT # start() stops if it is in use
    else
        PORT[$peer]=$(free_port "$next_port")
    fi
    start "$peer" "${PORT[$peer]}" "target/release/examples/${PEER_EXAMPLE[$peer]}" --port "${PORT[$peer]}"
    PID[$peer]=$STARTED_PID
    next_port=$((PORT[$peer] + 1))
done

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
    printf '%-15s %s\n' "$name" "$line" >&2
    awk -v r="$rate" -v c="$cpu" 'BEGIN { printf "%s %.0f\n", r, (c > 0 ? r / c : 0) }' \
        >>"$LOG_DIR/$name-$size.txt"
    sleep 0.5 # let the closed connections' sockets go before the next run
}

log "$CONNECTIONS connections, window $WINDOW, ${RUN_SECONDS}s (+${WARMUP}s warm-up) per run, $ROUNDS rounds, $MODE"
log "peers: ${PEER_NAMES[*]}"
for size in $SIZES; do
    for name in ours "${PEER_NAMES[@]}"; do rm -f "$LOG_DIR/$name-$size.txt"; done
    for round in $(seq 1 "$ROUNDS"); do
        log "size $size, round $round/$ROUNDS"
        for name in ours "${PEER_NAMES[@]}"; do
            run "$name" "${PORT[$name]}" "${PID[$name]}" "$size"
        done
    done
done

# --- report ------------------------------------------------------------------------------
# One row per size: for column 1 (msgs/s) and then column 2 (msgs/server-CPU-s) of the
# NAME-SIZE.txt files, ours's median, then each peer's median and ours / that peer.
header="| size (bytes) |"
rule="|---:|"
for metric in "msgs/s" "msgs/server-CPU-s"; do
    header+=" ours $metric |"
    rule+="---:|"
    for peer in "${PEER_NAMES[@]}"; do
        header+=" $peer $metric | ours/$peer |"
        rule+="---:|---:|"
    done
done
echo
echo "Echo throughput, medians of $ROUNDS runs each ($CONNECTIONS connections, window $WINDOW, ${RUN_SECONDS}s, ${MODE#--}); ours: ${*}"
echo
echo "$header"
echo "$rule"
for size in $SIZES; do
    row="| $size |"
    for column in 1 2; do
        ours=$(cut -d' ' -f"$column" "$LOG_DIR/ours-$size.txt" | median)
        row+=$(awk -v a="$ours" 'BEGIN { printf " %.0f |", a }')
        for peer in "${PEER_NAMES[@]}"; do
            theirs=$(cut -d' ' -f"$column" "$LOG_DIR/$peer-$size.txt" | median)
            row+=$(awk -v a="$ours" -v b="$theirs" \
                'BEGIN { printf " %.0f | %.2f |", b, (b > 0 ? a / b : 0) }')
        done
    done
    echo "$row"
done
echo
echo "Every run's line: $LOG_DIR/runs.txt"
