#!/usr/bin/env bash
# Idle-connection memory benchmark: what one open, idle WebSocket connection costs the
# command-line server in resident memory (VmRSS), at N connections.
#
# Usage:
#   bash scripts/bench-idle.sh [SERVER_ARG...]
#
#   Any SERVER_ARGs are appended to the server's command line, e.g. `--keepalive 0` (but not
#   --host, --port or --max-connections, which the script sets). The server's environment is
#   this script's, so `MALLOC_ARENA_MAX=1 bash scripts/bench-idle.sh` or `RUST_LOG=warn ...`
#   reach it.
#
# What it does:
#   1. `cargo build --release --bin omniws --example idle_conns`.
#   2. Checks the limits (below): descriptors, and local ports for N connections.
#   3. ROUNDS times, each with a fresh server:
#      - starts `target/release/omniws --host 127.0.0.1 --port PORT --max-connections N+16`
#        in its own process group and waits (bounded) until it listens. Everything else is the
#        server's default; `--max-connections` is needed because its default, 4096, answers
#        every connection past the 4096th with 503 (BENCH_MAX_CONNECTIONS sets another value,
#        to see that happen);
#      - runs `target/release/examples/idle_conns --port PORT --connections N --server-pid PID`,
#        which reads the server's VmRSS from /proc/PID/status, opens N connections to /echo
#        (at most BENCH_IN_FLIGHT handshakes under way at once, well under the server's
#        --max-handshaking of 1024) and completes every opening handshake, checking each
#        answer; once every 101 is in it waits BENCH_SETTLE seconds, reads VmRSS again and
#        prints one line: bytes_per_conn = (rss_after - rss_before) / N, and the raw numbers
#        (see examples/idle_conns.rs);
#      - stops the server (its process group, and only that).
#   4. Prints every round's line and the median bytes_per_conn.
#   A round that fails (a refused or broken handshake, a server that died) stops the benchmark
#   with status 1 and the client's message; the server's log stays in BENCH_LOG_DIR.
#
# Limits. Each connection is one descriptor in the server and one in the client, so both need
# RLIMIT_NOFILE above N + 64. The server does not raise its own limit: it inherits this
# script's soft limit. So the script raises the soft limit to the hard one when it is too low
# (`ulimit -Sn`), and stops at once, saying so, when the hard limit is too low as well. Without
# that check, a server short of descriptors fails `accept` with EMFILE; it then answers the
# connections it cannot take with 503 on a descriptor it keeps in reserve (src/listener.rs),
# and the client stops with "answered ... 503". The local port range
# (/proc/sys/net/ipv4/ip_local_port_range) must hold N ports too.
#
# Settings (environment): BENCH_CONNECTIONS [10000]; BENCH_DIALECTS [rfc6455], a comma list
# used round-robin, of rfc6455, hybi-08, hybi-07, hybi-03, hixie-76, hixie-75;
# BENCH_HEADERS [minimal] or browser (a browser's ~490-byte request head instead of ~160
# bytes); BENCH_ROUNDS [3]; BENCH_SETTLE [1] seconds between the last 101 and the second
# reading; BENCH_HOLD [0] seconds to hold the connections after it and read VmRSS once more
# (past 30 s the server's keepalive pings have gone out and been answered);
# BENCH_IN_FLIGHT [256]; BENCH_MAX_CONNECTIONS [N + 16]; BENCH_PORT [a free port from 21000
# up]; BENCH_LOG_DIR [a new temporary directory] for the server's output and every round's
# line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 2
fi

CONNECTIONS=${BENCH_CONNECTIONS:-10000}
DIALECTS=${BENCH_DIALECTS:-rfc6455}
HEADERS=${BENCH_HEADERS:-minimal}
ROUNDS=${BENCH_ROUNDS:-3}
SETTLE=${BENCH_SETTLE:-1}
HOLD=${BENCH_HOLD:-0}
IN_FLIGHT=${BENCH_IN_FLIGHT:-256}
MAX_CONNECTIONS=${BENCH_MAX_CONNECTIONS:-$((${BENCH_CONNECTIONS:-10000} + 16))}
LOG_DIR=${BENCH_LOG_DIR:-$(mktemp -d -t bench-idle.XXXXXX)}
mkdir -p "$LOG_DIR"
START_TIMEOUT_TENTHS=300 # 30 s for the server to listen
# Opening N connections (bounded inside the client by its --timeout, 120 s), settling, holding.
RUN_TIMEOUT=$(awk -v s="$SETTLE" -v h="$HOLD" 'BEGIN { printf "%d", s + h + 180 }')

CLIENT=target/release/examples/idle_conns
SERVER=target/release/omniws

log() { echo "bench-idle: $*" >&2; }

if ! [[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ && "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
    log "BENCH_CONNECTIONS and BENCH_ROUNDS must be positive integers"
    exit 2
fi

# --- processes we started, and only those; free ports ---------------------------------
. scripts/bench-lib.sh

# --- limits ------------------------------------------------------------------------------
needed_fds=$((CONNECTIONS + 64))
soft=$(ulimit -Sn)
hard=$(ulimit -Hn)
if [[ "$soft" != unlimited ]] && ((soft < needed_fds)); then
    if [[ "$hard" != unlimited ]] && ((hard < needed_fds)); then
        log "RLIMIT_NOFILE: hard limit $hard, but $CONNECTIONS connections need $needed_fds" \
            "descriptors in the server and in the client. Raise the hard limit (limits.conf," \
            "LimitNOFILE=, or ulimit -Hn as root) or set BENCH_CONNECTIONS below $((hard - 64))." \
            "Past its limit the server answers new connections 503 (EMFILE; src/listener.rs)."
        exit 1
    fi
    # The server inherits this (it does not raise its own limit); the client raises its own
    # soft limit too.
    ulimit -Sn "$needed_fds"
    log "raised the soft descriptor limit from $soft to $needed_fds (hard limit: $hard)"
fi
read -r port_lo port_hi </proc/sys/net/ipv4/ip_local_port_range || true
if [[ -n "${port_lo:-}" ]] && ((port_hi - port_lo + 1 < CONNECTIONS)); then
    log "only $((port_hi - port_lo + 1)) local ports ($port_lo-$port_hi in" \
        "/proc/sys/net/ipv4/ip_local_port_range) for $CONNECTIONS connections"
    exit 1
fi

# --- build -------------------------------------------------------------------------------
log "building (release)"
cargo build --release --quiet --bin omniws --example idle_conns

# --- rounds ------------------------------------------------------------------------------
# start_server PORT [ARG...] : the server, with ARGs appended, in its own process group; sets
# SERVER_PID once it listens.
start_server() {
    local port=$1
    shift
    if port_listening "$port"; then
        log "port $port is already in use; set BENCH_PORT to a free port"
        exit 1
    fi
    local cmd=("$SERVER" --host 127.0.0.1 --port "$port" --max-connections "$MAX_CONNECTIONS")
    cmd+=("$@")
    log "starting: ${cmd[*]}"
    # A background job of a script is not a group leader, so setsid runs the server in place:
    # $! is the server itself, and its process group.
    setsid "${cmd[@]}" >"$LOG_DIR/omniws.log" 2>&1 </dev/null &
    SERVER_PID=$!
    STARTED_PGIDS+=("$SERVER_PID")
    await_listening omniws "$port" "$SERVER_PID"
}

# stop_server : stop the group start_server started (and forget it).
stop_server() {
    kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 -- "-$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    local kept=() pgid
    for pgid in "${STARTED_PGIDS[@]}"; do
        if [[ "$pgid" != "$SERVER_PID" ]]; then kept+=("$pgid"); fi
    done
    STARTED_PGIDS=("${kept[@]}")
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

log "$CONNECTIONS idle connections ($DIALECTS, $HEADERS headers), $ROUNDS rounds; logs in $LOG_DIR"
: >"$LOG_DIR/rounds.txt"
for round in $(seq 1 "$ROUNDS"); do
    port=${BENCH_PORT:-$(free_port 21000)}
    start_server "$port" "$@"
    status=0
    line=$(timeout "$RUN_TIMEOUT" "$CLIENT" --port "$port" --connections "$CONNECTIONS" \
        --dialects "$DIALECTS" --headers "$HEADERS" --in-flight "$IN_FLIGHT" \
        --settle "$SETTLE" --hold "$HOLD" --server-pid "$SERVER_PID" \
        2>"$LOG_DIR/client.err") || status=$?
    check_run "round $round: idle_conns" "$status" "$line" "$LOG_DIR/client.err" omniws \
        "$SERVER_PID"
    echo "$line" >>"$LOG_DIR/rounds.txt"
    log "round $round/$ROUNDS: $line"
    stop_server
done

# --- report ------------------------------------------------------------------------------
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p"; }
echo
echo "Idle connections: $CONNECTIONS, dialects $DIALECTS, $HEADERS headers; server:" \
    "$SERVER --max-connections $MAX_CONNECTIONS $*"
cat "$LOG_DIR/rounds.txt"
echo "median bytes_per_conn=$(field bytes_per_conn <"$LOG_DIR/rounds.txt" | median) over $ROUNDS rounds"
if [[ "$HOLD" != 0 ]]; then
    echo "median bytes_per_conn_after_hold=$(field bytes_per_conn_after_hold <"$LOG_DIR/rounds.txt" | median)" \
        "(after ${HOLD}s held)"
fi
