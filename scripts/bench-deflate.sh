#!/usr/bin/env bash
# Compression benchmark: permessage-deflate on the command-line server beside npm `ws` with
# `perMessageDeflate: true`, driven by the same generators in the same run:
#   - echo of 1 KiB JSON-like text messages, compressed both ways: messages per server
#     CPU-second, server CPU microseconds per message, and bytes on the wire per message in
#     each direction;
#   - resident memory (VmRSS) per idle connection at 10 000 connections that negotiated
#     compression: once right after the opening handshake, and once after each connection
#     sent one compressed 1 KiB message and got its echo (so both sides' inflate and deflate
#     state has been used), for our three policies (lean, keep, off) and npm ws.
#
# Usage:
#   bash scripts/bench-deflate.sh
#
# Descriptors: each idle connection is one descriptor in the server and one in the client,
# so both need RLIMIT_NOFILE above BENCH_IDLE_CONNECTIONS + 64. The servers inherit this
# script's soft limit, so the script raises its soft limit to what is needed when the hard
# limit allows (`ulimit -Sn`), and stops at once, saying so, when the hard limit is too low:
# raise it first (`ulimit -Hn` as root, limits.conf, LimitNOFILE=) or set
# BENCH_IDLE_CONNECTIONS lower. Without that, our server fails `accept` with EMFILE past its
# limit and answers the connections it cannot take with 503 (src/listener.rs), node's
# `accept` fails the same way, and idle_conns stops with the refusal it got. The local port
# range (/proc/sys/net/ipv4/ip_local_port_range) must hold that many ports too.
#
# What it does:
#   1. Checks for node and npm ws (8.x) under $CONFORMANCE_HOME/node/node_modules (default
#      /tmp/ws-conformance); if ws is missing it runs `bash ../shared/conformance/install.sh
#      node` (npm registry; that is the command to run by hand if this fails). Then
#      `cargo build --release --bin omniws --example loadgen --example idle_conns`.
#   2. Echo. Starts, each in its own process group, pinned with `taskset -c BENCH_SERVER_CPU`
#      (every thread: our loops, node's main thread and its libuv pool where ws's zlib work
#      runs):
#        lean   target/release/omniws --host 127.0.0.1 --port P BENCH_OURS_ARGS
#               (our defaults: --compression lean, no context kept either way)
#        keep   the same with --compression keep (context kept both ways)
#        ws     node scripts/ws_deflate_echo.js P (npm ws, perMessageDeflate: true, its
#               defaults: context kept both ways, zlib level 6, threshold 1024)
#      then BENCH_ROUNDS rounds of target/release/examples/loadgen --deflate --json --text
#      --size BENCH_SIZE (pinned to BENCH_CLIENT_CPU; BENCH_CONNECTIONS connections,
#      BENCH_WINDOW messages in flight each, BENCH_WARMUP + BENCH_SECONDS s) against each in
#      turn (lean, keep, ws, lean, ...). The generator offers
#      `permessage-deflate; client_max_window_bits` (npm ws's and browsers' default offer),
#      compresses every message with zlib-rs level 6 (context kept unless the server's answer
#      forbids it) and checks every echo after inflating it. Then stops the three servers.
#   3. Idle memory. For each of lean, keep, off (our server with --compression off: it
#      declines, so nothing is compressed) and ws, and for each of two modes:
#        negotiated  idle_conns --deflate: the opening handshake only;
#        after-one   idle_conns --deflate --send-first: one 1 KiB JSON message each way;
#      BENCH_IDLE_ROUNDS rounds, each with a fresh server (ours with --max-connections N + 16,
#      every other option at its default, except BENCH_OURS_ARGS), pinned like the echo's:
#      idle_conns reads the server's VmRSS before the first connection and BENCH_SETTLE
#      seconds after the last one is open (and idle), and prints (after - before) / N.
#   4. Prints Markdown tables: the echo medians with ratios to ws measured in this run, and
#      the idle bytes per connection (medians) with ratios to ws; the 1-minute load average
#      before and after, the date and the commit.
#   Every run is bounded in time; a failed run (a wrong echo, a refused connection, a
#   server gone, an agreement other than the one expected) stops the benchmark with status
#   1. It stops only the process groups it started (trap on exit).
#
# Settings (environment): BENCH_ROUNDS [3], BENCH_CONNECTIONS [100], BENCH_WINDOW [16],
# BENCH_SIZE [1024], BENCH_SECONDS [4], BENCH_WARMUP [1], BENCH_IDLE_CONNECTIONS [10000],
# BENCH_IDLE_ROUNDS [3], BENCH_SETTLE [2] seconds, BENCH_HOLD [0] seconds to hold the idle
# connections after the measurement and measure again (past our 30 s keepalive interval the
# write buffers left by the first message have been given back), BENCH_PARTS ["echo idle"],
# BENCH_SERVER_CPU [0] and BENCH_CLIENT_CPU [1] (taskset CPU lists), BENCH_OURS_ARGS [none]:
# extra arguments for every omniws (e.g. `--threads 1`; by default it runs one loop per core,
# all pinned to BENCH_SERVER_CPU), BENCH_LOG_DIR [a new temporary directory] for the
# servers' output and every run's line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -gt 0 ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 2
fi

ROUNDS=${BENCH_ROUNDS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-100}
WINDOW=${BENCH_WINDOW:-16}
SIZE=${BENCH_SIZE:-1024}
RUN_SECONDS=${BENCH_SECONDS:-4}
WARMUP=${BENCH_WARMUP:-1}
IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-10000}
IDLE_ROUNDS=${BENCH_IDLE_ROUNDS:-3}
SETTLE=${BENCH_SETTLE:-2}
HOLD=${BENCH_HOLD:-0}
PARTS=${BENCH_PARTS:-"echo idle"}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
read -r -a OURS_ARGS <<<"${BENCH_OURS_ARGS:-}"
LOG_DIR=${BENCH_LOG_DIR:-$(mktemp -d -t bench-deflate.XXXXXX)}
mkdir -p "$LOG_DIR"
START_TIMEOUT_TENTHS=300 # 30 s for a server to listen
# A loadgen run: connecting, warm-up, measuring, draining (<= 10 s). An idle run: opening N
# connections (bounded inside idle_conns by 120 s), settling, holding.
RUN_TIMEOUT=$(awk -v s="$RUN_SECONDS" -v w="$WARMUP" 'BEGIN { printf "%d", s + w + 60 }')
IDLE_TIMEOUT=$(awk -v s="$SETTLE" -v h="$HOLD" 'BEGIN { printf "%d", s + h + 180 }')

OURS=target/release/omniws
LOADGEN=target/release/examples/loadgen
IDLE=target/release/examples/idle_conns
CONFORMANCE_HOME=${CONFORMANCE_HOME:-/tmp/ws-conformance}
export CONFORMANCE_HOME
WS_MODULES=$CONFORMANCE_HOME/node/node_modules
KIT=../shared/conformance

log() { echo "bench-deflate: $*" >&2; }

for n in ROUNDS CONNECTIONS WINDOW SIZE IDLE_CONNECTIONS IDLE_ROUNDS; do
    if ! [[ "${!n}" =~ ^[1-9][0-9]*$ ]]; then
        log "BENCH_$n must be a positive integer"
        exit 2
    fi
done
want() { [[ " $PARTS " == *" $1 "* ]]; }

# --- processes we started, and only those; free ports ---------------------------------
. scripts/bench-lib.sh

# --- npm ws ------------------------------------------------------------------------------
if ! command -v node >/dev/null; then
    log "node is not installed (npm ws runs on it); install nodejs, then" \
        "bash $KIT/install.sh node"
    exit 1
fi
if [[ ! -f "$WS_MODULES/ws/package.json" ]]; then
    log "npm ws is not under $WS_MODULES: running bash $KIT/install.sh node"
    if ! bash "$KIT/install.sh" node >&2; then
        log "installing npm ws failed; run by hand: bash $KIT/install.sh node" \
            "(CONFORMANCE_HOME=$CONFORMANCE_HOME)"
        exit 1
    fi
fi
WS_VERSION=$(node -p "require('$WS_MODULES/ws/package.json').version")

# --- limits ------------------------------------------------------------------------------
if want idle; then
    needed_fds=$((IDLE_CONNECTIONS + 64))
    soft=$(ulimit -Sn)
    hard=$(ulimit -Hn)
    if [[ "$soft" != unlimited ]] && ((soft < needed_fds)); then
        if [[ "$hard" != unlimited ]] && ((hard < needed_fds)); then
            log "RLIMIT_NOFILE: hard limit $hard, but $IDLE_CONNECTIONS connections need" \
                "$needed_fds descriptors in the server and in the client. Raise the hard limit" \
                "(limits.conf, LimitNOFILE=, or ulimit -Hn as root) or set" \
                "BENCH_IDLE_CONNECTIONS below $((hard - 64)). Past its limit our server answers" \
                "new connections 503 (EMFILE; src/listener.rs) and node's accept fails."
            exit 1
        fi
        ulimit -Sn "$needed_fds"
        log "raised the soft descriptor limit from $soft to $needed_fds (hard limit: $hard)"
    fi
    read -r port_lo port_hi </proc/sys/net/ipv4/ip_local_port_range || true
    if [[ -n "${port_lo:-}" ]] && ((port_hi - port_lo + 1 < IDLE_CONNECTIONS)); then
        log "only $((port_hi - port_lo + 1)) local ports ($port_lo-$port_hi in" \
            "/proc/sys/net/ipv4/ip_local_port_range) for $IDLE_CONNECTIONS connections"
        exit 1
    fi
fi

# --- build -------------------------------------------------------------------------------
log "building (release)"
cargo build --release --quiet --bin omniws --example loadgen --example idle_conns

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
log "logs in $LOG_DIR; load average (1 min) $LOAD_BEFORE; ws@$WS_VERSION; commit $COMMIT"

# server_cmd NAME PORT [EXTRA...] : the command of server NAME (lean, keep, off, ws).
server_cmd() {
    local name=$1 port=$2
    shift 2
    case "$name" in
        lean) CMD=("$OURS" --host 127.0.0.1 --port "$port" "${OURS_ARGS[@]}" "$@") ;;
        keep | off)
            CMD=("$OURS" --host 127.0.0.1 --port "$port" --compression "$name" "${OURS_ARGS[@]}" "$@")
            ;;
        ws) CMD=(node scripts/ws_deflate_echo.js "$port") ;;
    esac
}

# stop_server PID : stop the process group start_server started (and forget it).
stop_server() {
    local pgid=$1 kept=() g
    kill -TERM -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 -- "-$pgid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$pgid" 2>/dev/null || true
    for g in "${STARTED_PGIDS[@]}"; do
        if [[ "$g" != "$pgid" ]]; then kept+=("$g"); fi
    done
    STARTED_PGIDS=("${kept[@]}")
}

# The group of the server started last (start_server's STARTED_PID may be a child).
last_pgid() { echo "${STARTED_PGIDS[${#STARTED_PGIDS[@]} - 1]}"; }

ECHO_SERVERS=(lean keep ws)
IDLE_SERVERS=(lean keep off ws)
IDLE_MODES=(negotiated after-one)

# --- echo --------------------------------------------------------------------------------
if want echo; then
    declare -A PORT=() PID=() PGID=()
    next_port=24000
    for name in "${ECHO_SERVERS[@]}"; do
        PORT[$name]=$(free_port "$next_port")
        server_cmd "$name" "${PORT[$name]}"
        start_server "$name" "${PORT[$name]}" "$SERVER_CPU" "${CMD[@]}"
        PID[$name]=$STARTED_PID
        PGID[$name]=$(last_pgid)
        next_port=$((PORT[$name] + 1))
    done
    log "echo: $CONNECTIONS connections, window $WINDOW, $SIZE-byte JSON text, ${RUN_SECONDS}s" \
        "(+${WARMUP}s warm-up) per run, $ROUNDS rounds"
    : >"$LOG_DIR/echo.txt"
    for round in $(seq 1 "$ROUNDS"); do
        for name in "${ECHO_SERVERS[@]}"; do
            status=0
            line=$(timeout "$RUN_TIMEOUT" taskset -c "$CLIENT_CPU" "$LOADGEN" \
                --url "ws://127.0.0.1:${PORT[$name]}/echo" --connections "$CONNECTIONS" \
                --window "$WINDOW" --size "$SIZE" --seconds "$RUN_SECONDS" --warmup "$WARMUP" \
                --json --text --deflate --server-pid "${PID[$name]}" \
                2>"$LOG_DIR/loadgen.err") || status=$?
            check_run "echo $name, round $round" "$status" "$line" "$LOG_DIR/loadgen.err" \
                "$name" "${PID[$name]}"
            echo "$name $line" >>"$LOG_DIR/echo.txt"
            printf '%-5s %s\n' "$name" "$line" >&2
            sleep 0.5 # let the closed connections' sockets go before the next run
        done
    done
    for name in "${ECHO_SERVERS[@]}"; do stop_server "${PGID[$name]}"; done
fi

# --- idle --------------------------------------------------------------------------------
if want idle; then
    log "idle: $IDLE_CONNECTIONS connections, settle ${SETTLE}s, hold ${HOLD}s, $IDLE_ROUNDS rounds"
    : >"$LOG_DIR/idle.txt"
    for round in $(seq 1 "$IDLE_ROUNDS"); do
        for mode in "${IDLE_MODES[@]}"; do
            for name in "${IDLE_SERVERS[@]}"; do
                port=$(free_port 24100)
                server_cmd "$name" "$port" --max-connections $((IDLE_CONNECTIONS + 16))
                start_server "$name" "$port" "$SERVER_CPU" "${CMD[@]}"
                pid=$STARTED_PID
                args=(--deflate)
                [[ "$mode" == after-one ]] && args+=(--send-first --first-size "$SIZE")
                status=0
                line=$(timeout "$IDLE_TIMEOUT" taskset -c "$CLIENT_CPU" "$IDLE" --port "$port" \
                    --connections "$IDLE_CONNECTIONS" --settle "$SETTLE" --hold "$HOLD" \
                    --server-pid "$pid" "${args[@]}" 2>"$LOG_DIR/idle.err") || status=$?
                check_run "idle $name $mode, round $round" "$status" "$line" \
                    "$LOG_DIR/idle.err" "$name" "$pid"
                echo "$name $mode $line" >>"$LOG_DIR/idle.txt"
                printf '%-5s %-10s %s\n' "$name" "$mode" "$line" >&2
                stop_server "$(last_pgid)"
            done
        done
    done
fi

# --- report ------------------------------------------------------------------------------
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
# med FILE NAME FIELD [MODE] : the median of FIELD over the lines of server NAME (and MODE).
med() {
    local file=$1 name=$2 key=$3 mode=${4:-}
    awk -v n="$name" -v m="$mode" '$1 == n && (m == "" || $2 == m)' "$file" |
        while read -r line; do field "$key" "$line"; done | median
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }

echo
echo "Compression benchmark, $STARTED_AT, commit $COMMIT, ws@$WS_VERSION (node $(node --version));" \
    "load average (1 min) $LOAD_BEFORE before, $LOAD_AFTER after"
if want echo; then
    echo
    echo "Echo of $SIZE-byte JSON text, permessage-deflate, $CONNECTIONS connections x $WINDOW in" \
        "flight, medians of $ROUNDS runs (ratios: ours / ws, same run)"
    echo
    echo "| server | agreed (client, server) | msgs/s | msgs/server-CPU-s | server CPU µs/msg | ratio | wire B/msg client→server | wire B/msg server→client | wire B per echo | ratio |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    ws_us=$(med "$LOG_DIR/echo.txt" ws server_us_per_msg)
    ws_out=$(med "$LOG_DIR/echo.txt" ws wire_out_per_msg)
    ws_in=$(med "$LOG_DIR/echo.txt" ws wire_in_per_msg)
    ws_wire=$(awk -v a="$ws_out" -v b="$ws_in" 'BEGIN { print a + b }')
    for name in "${ECHO_SERVERS[@]}"; do
        rate=$(med "$LOG_DIR/echo.txt" "$name" msgs_per_sec)
        us=$(med "$LOG_DIR/echo.txt" "$name" server_us_per_msg)
        out=$(med "$LOG_DIR/echo.txt" "$name" wire_out_per_msg)
        in=$(med "$LOG_DIR/echo.txt" "$name" wire_in_per_msg)
        agreed=$(awk -v n="$name" '$1 == n' "$LOG_DIR/echo.txt" | head -n 1 |
            sed -n 's/.*agreed=\([^ ]*\).*/\1/p')
        wire=$(awk -v a="$out" -v b="$in" 'BEGIN { print a + b }')
        printf '| %s | %s | %.0f | %.0f | %.1f | %s | %.1f | %.1f | %.1f | %s |\n' \
            "$name" "$agreed" "$rate" "$(awk -v u="$us" 'BEGIN { print (u > 0 ? 1e6 / u : 0) }')" \
            "$us" "$(ratio "$us" "$ws_us")" "$out" "$in" "$wire" "$(ratio "$wire" "$ws_wire")"
    done
fi
if want idle; then
    echo
    echo "RSS per idle connection (bytes) at $IDLE_CONNECTIONS connections offering permessage-deflate," \
        "medians of $IDLE_ROUNDS rounds (ratios: ours / ws, same run)"
    echo
    echo "| server | agreed (client, server) | after the handshake | ratio | after one $SIZE-byte message each way | ratio |"
    echo "|---|---|---:|---:|---:|---:|"
    ws_neg=$(med "$LOG_DIR/idle.txt" ws bytes_per_conn negotiated)
    ws_one=$(med "$LOG_DIR/idle.txt" ws bytes_per_conn after-one)
    for name in "${IDLE_SERVERS[@]}"; do
        neg=$(med "$LOG_DIR/idle.txt" "$name" bytes_per_conn negotiated)
        one=$(med "$LOG_DIR/idle.txt" "$name" bytes_per_conn after-one)
        agreed=$(awk -v n="$name" '$1 == n' "$LOG_DIR/idle.txt" | head -n 1 |
            sed -n 's/.*agreed=\([^ ]*\).*/\1/p')
        printf '| %s | %s | %.0f | %s | %.0f | %s |\n' "$name" "$agreed" "$neg" \
            "$(ratio "$neg" "$ws_neg")" "$one" "$(ratio "$one" "$ws_one")"
    done
    if [[ "$HOLD" != 0 ]]; then
        echo
        echo "After holding them ${HOLD}s more (medians of bytes_per_conn_after_hold):"
        for name in "${IDLE_SERVERS[@]}"; do
            for mode in "${IDLE_MODES[@]}"; do
                echo "- $name, $mode: $(med "$LOG_DIR/idle.txt" "$name" bytes_per_conn_after_hold "$mode")"
            done
        done
    fi
fi
echo
echo "Every run's line: $LOG_DIR/echo.txt, $LOG_DIR/idle.txt"
