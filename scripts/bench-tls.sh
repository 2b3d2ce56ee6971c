#!/usr/bin/env bash
# TLS benchmark: the command-line server over wss:// beside tokio-tungstenite behind a
# tokio-rustls acceptor (the same rustls 0.23 and ring provider), in one run:
#   - full TLS + WebSocket handshakes per second and per server CPU-second;
#   - echo of 20-byte binary messages over wss://, per second and per server CPU-second;
#   - one 256 MiB binary message through a /sessions/NAME session: ours over ws:// and over
#     wss:// (the same server process, which serves both on one port), and the tokio-tungstenite
#     store-and-forward relay over wss://.
#
# Usage:
#   bash scripts/bench-tls.sh
#
# What it does:
#   1. `cargo build --release --bins --example loadgen --example tungstenite_echo
#      --example pipe_bench`.
#   2. Makes a CA and a leaf certificate for 127.0.0.1 signed by it (ECDSA P-256, openssl) in
#      $LOG_DIR/certs.
#   3. Starts, each in its own process group on its own free port, with `--tls-cert` and
#      `--tls-key`:
#        ours         target/release/omniws --host 127.0.0.1   pinned to BENCH_SERVER_CPU
#        tungstenite  target/release/examples/tungstenite_echo  pinned to BENCH_SERVER_CPU
#        ours-pipe    target/release/omniws --host 127.0.0.1   not pinned (as bench-pipe.sh)
#        relay        target/release/examples/pipe_bench tungstenite-relay   not pinned
#      and waits (bounded) until each listens.
#   4. Handshakes: target/release/examples/loadgen --handshakes (pinned to BENCH_CLIENT_CPU;
#      BENCH_HS_CONNECTIONS connections at a time, each looping connect, TLS handshake, opening
#      handshake, closing handshake; the client never resumes a TLS session) against ours and
#      tungstenite in turn, BENCH_ROUNDS rounds.
#   5. Echo: loadgen over wss:// (BENCH_CONNECTIONS connections, BENCH_WINDOW messages in
#      flight each, BENCH_SIZE bytes, binary), ours and tungstenite in turn, BENCH_ROUNDS rounds.
#   6. Pipe: `pipe_bench drive` (both members over the same scheme) against ours-pipe over ws://,
#      ours-pipe over wss://, and the relay over wss://, one warm-up round that is not counted
#      and BENCH_PIPE_ROUNDS measured rounds.
#   7. Prints two Markdown tables: medians and the ratios ours / tungstenite for steps 4 and 5
#      (rates per second, and per CPU-second of the server: its CPU time over the measured
#      window, less sensitive to other work on a shared machine); medians of MB/s (10^6 bytes),
#      of the per-round ratio to the same server's MB/s over ws:// (the relay's: to ours over
#      ws://), of the time to first byte and of the server's CPU time per transfer for step 6,
#      and the highest peak RSS of each transfer kind.
#   Every run is bounded in time; a failed run (a wrong echo, a failed handshake, wrong
#   bytes, a server gone) stops the benchmark with status 1. It stops only the process groups
#   it started (trap on exit).
#
# Settings (environment): BENCH_ROUNDS [3], BENCH_SECONDS [4] measured per loadgen run,
# BENCH_WARMUP [1], BENCH_HS_CONNECTIONS [32], BENCH_CONNECTIONS [100], BENCH_WINDOW [16],
# BENCH_SIZE [20], BENCH_MIB [256], BENCH_PIPE_ROUNDS [5], BENCH_SERVER_CPU [0] and
# BENCH_CLIENT_CPU [1] (taskset CPU lists), BENCH_PORT [free ports from 22000 up],
# BENCH_OURS [target/release/omniws] (another build of the server), BENCH_OURS_B [none]: a
# second build measured beside it in every test of the same run ("ours-b"; an A/B of a change:
# build the other version into another target directory and name its omniws here),
# BENCH_LOG_DIR [a new temporary directory] for the certificates, the servers' output and
# every run's line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -gt 0 ]]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 2
fi

ROUNDS=${BENCH_ROUNDS:-3}
RUN_SECONDS=${BENCH_SECONDS:-4}
WARMUP=${BENCH_WARMUP:-1}
HS_CONNECTIONS=${BENCH_HS_CONNECTIONS:-32}
CONNECTIONS=${BENCH_CONNECTIONS:-100}
WINDOW=${BENCH_WINDOW:-16}
SIZE=${BENCH_SIZE:-20}
MIB=${BENCH_MIB:-256}
PIPE_ROUNDS=${BENCH_PIPE_ROUNDS:-5}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
OURS=${BENCH_OURS:-target/release/omniws}
LOG_DIR=${BENCH_LOG_DIR:-$(mktemp -d -t bench-tls.XXXXXX)}
mkdir -p "$LOG_DIR"
START_TIMEOUT_TENTHS=300 # 30 s for a server to listen
# A loadgen run: connecting, warm-up, measuring, draining (<= 10 s); a transfer of 256 MiB
# takes well under 2 s even store-and-forward over TLS. Anything past these is hung.
RUN_TIMEOUT=$(awk -v s="$RUN_SECONDS" -v w="$WARMUP" 'BEGIN { printf "%d", s + w + 60 }')
PIPE_TIMEOUT=$((60 + MIB / 4))

LOADGEN=target/release/examples/loadgen
PIPE=target/release/examples/pipe_bench

log() { echo "bench-tls: $*" >&2; }

. scripts/bench-lib.sh

# --- build and certificates --------------------------------------------------------------
log "building (release)"
cargo build --release --quiet --bins --example loadgen --example tungstenite_echo \
    --example pipe_bench

# make_certs DIR : a CA (ca.pem) and a leaf for 127.0.0.1 it signed (leaf.pem, leaf.key).
make_certs() {
    local dir=$1
    mkdir -p "$dir"
    local p256=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${p256[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
        -subj "/CN=bench-tls CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign" 2>/dev/null
    openssl req "${p256[@]}" -keyout "$dir/leaf.key" -out "$dir/leaf.csr" \
        -subj "/CN=127.0.0.1" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$dir/leaf.ext"
    openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/leaf.ext" -out "$dir/leaf.pem" 2>/dev/null
}
command -v openssl >/dev/null || { log "needs the openssl command (apt-get install openssl)"; exit 1; }
make_certs "$LOG_DIR/certs"
CA=$LOG_DIR/certs/ca.pem
TLS=(--tls-cert "$LOG_DIR/certs/leaf.pem" --tls-key "$LOG_DIR/certs/leaf.key")

# --- servers -----------------------------------------------------------------------------
declare -A PORT=() PID=()
next_port=${BENCH_PORT:-22000}
# serve NAME CPUS CMD... : start CMD (every {PORT} replaced by a free port) as NAME.
serve() {
    local name=$1 cpus=$2 arg cmd=()
    shift 2
    PORT[$name]=$(free_port "$next_port")
    for arg in "$@"; do cmd+=("${arg//\{PORT\}/${PORT[$name]}}"); done
    start_server "$name" "${PORT[$name]}" "$cpus" "${cmd[@]}"
    PID[$name]=$STARTED_PID
    next_port=$((PORT[$name] + 1))
}
serve ours "$SERVER_CPU" "$OURS" --host 127.0.0.1 --port {PORT} "${TLS[@]}"
serve tungstenite "$SERVER_CPU" target/release/examples/tungstenite_echo --port {PORT} "${TLS[@]}"
serve ours-pipe "" "$OURS" --host 127.0.0.1 --port {PORT} "${TLS[@]}"
serve relay "" "$PIPE" tungstenite-relay --port {PORT} "${TLS[@]}"
OURS_NAMES=(ours)
# The transfers of the pipe test: label, server, scheme, and the label whose MB/s is the
# ratio's base.
TRANSFERS=("ours-ws ours-pipe ws ours-ws" "ours-wss ours-pipe wss ours-ws")
if [[ -n "${BENCH_OURS_B:-}" ]]; then
    serve ours-b "$SERVER_CPU" "$BENCH_OURS_B" --host 127.0.0.1 --port {PORT} "${TLS[@]}"
    serve ours-b-pipe "" "$BENCH_OURS_B" --host 127.0.0.1 --port {PORT} "${TLS[@]}"
    OURS_NAMES+=(ours-b)
    TRANSFERS+=("ours-b-ws ours-b-pipe ws ours-b-ws" "ours-b-wss ours-b-pipe wss ours-b-ws")
fi
TRANSFERS+=("relay-wss relay wss ours-ws")

# --- handshakes and echo -----------------------------------------------------------------
# load TEST NAME RATE_FIELD LOADGEN_ARGS... : one loadgen run against server NAME over wss://;
# appends "rate rate_per_server_cpu_second" to $LOG_DIR/TEST-NAME.txt.
load() {
    local test=$1 name=$2 rate_field=$3 line status=0
    shift 3
    line=$(timeout "$RUN_TIMEOUT" taskset -c "$CLIENT_CPU" "$LOADGEN" \
        --url "wss://127.0.0.1:${PORT[$name]}/echo" --ca "$CA" --seconds "$RUN_SECONDS" \
        --warmup "$WARMUP" --server-pid "${PID[$name]}" "$@" 2>"$LOG_DIR/loadgen.err") ||
        status=$?
    echo "$test $name $line" >>"$LOG_DIR/runs.txt"
    check_run "$test, $name: load generator" "$status" "$line" "$LOG_DIR/loadgen.err" \
        "$name" "${PID[$name]}"
    printf '%-10s %-12s %s\n' "$test" "$name" "$line" >&2
    awk -v r="$(field "$rate_field" "$line")" -v c="$(field server_cpu "$line")" \
        'BEGIN { printf "%s %.0f\n", r, (c > 0 ? r / c : 0) }' >>"$LOG_DIR/$test-$name.txt"
    sleep 0.5 # let the closed connections' sockets go before the next run
}

LOADED=("${OURS_NAMES[@]}" tungstenite)
for test in handshakes echo; do
    for name in "${LOADED[@]}"; do rm -f "$LOG_DIR/$test-$name.txt"; done
done
log "handshakes: $HS_CONNECTIONS connections at a time; echo: $CONNECTIONS connections," \
    "window $WINDOW, $SIZE bytes; ${RUN_SECONDS}s (+${WARMUP}s warm-up) per run, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
    log "handshakes, round $round/$ROUNDS"
    for name in "${LOADED[@]}"; do
        load handshakes "$name" handshakes_per_sec --handshakes --connections "$HS_CONNECTIONS"
    done
done
for round in $(seq 1 "$ROUNDS"); do
    log "echo, round $round/$ROUNDS"
    for name in "${LOADED[@]}"; do
        load echo "$name" msgs_per_sec --connections "$CONNECTIONS" --window "$WINDOW" \
            --size "$SIZE" --binary
    done
done

# --- pipe ----------------------------------------------------------------------------------
# transfer LABEL SERVER SCHEME ROUND : one driver run; appends "ROUND line" to
# $LOG_DIR/pipe-LABEL.txt.
transfer() {
    local label=$1 name=$2 scheme=$3 round=$4 line status=0 tls=()
    [[ $scheme == wss ]] && tls=(--ca "$CA")
    line=$(timeout "$PIPE_TIMEOUT" "$PIPE" drive \
        --url "$scheme://127.0.0.1:${PORT[$name]}/sessions/$label-$round" "${tls[@]}" \
        --mib "$MIB" --server-pid "${PID[$name]}" 2>"$LOG_DIR/driver.err") || status=$?
    echo "pipe $label $round $line" >>"$LOG_DIR/runs.txt"
    check_run "pipe, $label, round $round: the driver" "$status" "$line" \
        "$LOG_DIR/driver.err" "$name" "${PID[$name]}"
    printf '%-10s %-12s %-7s %s\n' pipe "$label" "$round" "$line" >&2
    echo "$round $line" >>"$LOG_DIR/pipe-$label.txt"
    sleep 0.2 # let the closed connections go before the next transfer
}

log "pipe: one binary message of $MIB MiB per transfer, 1 warm-up + $PIPE_ROUNDS rounds"
for t in "${TRANSFERS[@]}"; do rm -f "$LOG_DIR/pipe-${t%% *}.txt"; done
for round in warmup $(seq 1 "$PIPE_ROUNDS"); do
    for t in "${TRANSFERS[@]}"; do
        read -r label name scheme _ <<<"$t"
        transfer "$label" "$name" "$scheme" "$round"
    done
done

# --- report --------------------------------------------------------------------------------
# column TEST NAME N : the median of column N of $LOG_DIR/TEST-NAME.txt.
column() { cut -d' ' -f"$3" "$LOG_DIR/$1-$2.txt" | median; }

# pipe_values LABEL FIELD [all] : FIELD of every measured transfer (every one with "all").
pipe_values() {
    local round line
    while read -r round line; do
        [[ $round == warmup && ${3:-} != all ]] && continue
        field "$2" "$line"
    done <"$LOG_DIR/pipe-$1.txt"
}

echo
echo "TLS: ours = $OURS${BENCH_OURS_B:+, ours-b = $BENCH_OURS_B}, peer = tokio-tungstenite 0.29 behind tokio-rustls 0.26 (current-thread" \
    "runtime); rustls 0.23 with ring on both; ECDSA P-256 leaf; $(date -u +%Y-%m-%dT%H:%MZ)," \
    "$(nproc) cores"
echo
echo "Handshakes ($HS_CONNECTIONS connections at a time, full handshakes) and echo ($CONNECTIONS" \
    "connections, window $WINDOW, $SIZE-byte binary messages), medians of $ROUNDS runs of" \
    "${RUN_SECONDS}s:"
echo
header="| over wss:// |"
rule="|---|"
for name in "${OURS_NAMES[@]}"; do
    header+=" $name |"
    rule+="---:|"
done
header+=" tungstenite |"
rule+="---:|"
for name in "${OURS_NAMES[@]}"; do
    header+=" $name/tungstenite |"
    rule+="---:|"
done
echo "$header"
echo "$rule"
for row in "handshakes 1 handshakes/s" "handshakes 2 handshakes/server-CPU-s" \
    "echo 1 echo msgs/s" "echo 2 echo msgs/server-CPU-s"; do
    read -r test col label <<<"$row"
    theirs=$(column "$test" tungstenite "$col")
    line="| $label |"
    ratios=""
    for name in "${OURS_NAMES[@]}"; do
        ours=$(column "$test" "$name" "$col")
        line+=$(awk -v a="$ours" 'BEGIN { printf " %.0f |", a }')
        ratios+=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf " %.2f |", (b > 0 ? a / b : 0) }')
    done
    line+=$(awk -v b="$theirs" 'BEGIN { printf " %.0f |", b }')
    echo "$line$ratios"
done
echo
echo "Pipe: one $MIB MiB binary message per transfer (premasked), medians of $PIPE_ROUNDS" \
    "rounds; MB = 10^6 bytes:"
echo
echo "| transfer | MB/s | ratio to plain ws:// | TTFB ms | server CPU s | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|"
for t in "${TRANSFERS[@]}"; do
    read -r label name scheme base <<<"$t"
    rate=$(pipe_values "$label" mb_per_sec | median)
    ratio=$(paste -d' ' <(pipe_values "$label" mb_per_sec) <(pipe_values "$base" mb_per_sec) |
        awk '{ printf "%.4f\n", ($2 > 0 ? $1 / $2 : 0) }' | median)
    ttfb=$(pipe_values "$label" ttfb_ms | median)
    cpu=$(pipe_values "$label" server_cpu_s | median)
    peak=$(pipe_values "$label" peak_rss_kib all | sort -g | tail -n 1)
    case $label in
        ours-ws) what="omniws /sessions, ws://" ;;
        ours-wss) what="omniws /sessions, wss://" ;;
        ours-b-ws) what="ours-b /sessions, ws://" ;;
        ours-b-wss) what="ours-b /sessions, wss:// (ratio to ours-b ws://)" ;;
        relay-wss) what="tokio-tungstenite + tokio-rustls store-and-forward, wss:// (ratio to ours ws://)" ;;
    esac
    printf '| %s | %.0f | %.2f | %.2f | %.3f | %.1f |\n' "$what" "$rate" "$ratio" "$ttfb" \
        "$cpu" "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')"
done
echo
echo "Every run's line: $LOG_DIR/runs.txt"
