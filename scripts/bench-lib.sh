# Shared by the benchmark scripts (source it after defining `log`, `LOG_DIR` and
# `START_TIMEOUT_TENTHS`): the process groups a script started, and only those, are stopped
# on exit; servers are started in their own groups and awaited until they listen; free ports
# are found with `ss`; each run is checked for failure; `key=value` lines are read and
# medians taken.

STARTED_PGIDS=()
cleanup() {
    local pgid
    for pgid in "${STARTED_PGIDS[@]}"; do
        # The group, or the process alone if it was stopped before setsid made the group.
        kill -TERM -- "-$pgid" 2>/dev/null || kill -TERM "$pgid" 2>/dev/null || true
    done
    for pgid in "${STARTED_PGIDS[@]}"; do
        for _ in $(seq 1 30); do
            kill -0 -- "-$pgid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pgid" 2>/dev/null || kill -KILL "$pgid" 2>/dev/null || true
    done
    STARTED_PGIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_listening() { [[ -n "$(ss -ltnH "sport = :$1" 2>/dev/null)" ]]; }

# check_run WHAT STATUS LINE ERR_FILE NAME PID : after one measured run, exit with the run's
# output if it failed (STATUS non-zero), or with server NAME's last output if PID has died.
check_run() {
    local what=$1 status=$2 line=$3 err_file=$4 name=$5 pid=$6
    if ((status != 0)); then
        log "$what failed (status $status): $line"
        cat "$err_file" >&2
        exit 1
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        log "$name exited during the run; its output:"
        tail -n 20 "$LOG_DIR/$name.log" >&2
        exit 1
    fi
}

# await_listening NAME PORT PID : wait until PORT listens; exit with NAME's last output if
# PID dies first, or after START_TIMEOUT_TENTHS tenths of a second.
await_listening() {
    local name=$1 port=$2 pid=$3 tenths=0
    until port_listening "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited before listening; its output:"
            tail -n 20 "$LOG_DIR/$name.log" >&2
            exit 1
        fi
        if ((++tenths > START_TIMEOUT_TENTHS)); then
            log "$name did not listen on port $port within $((START_TIMEOUT_TENTHS / 10)) s"
            exit 1
        fi
        sleep 0.1
    done
}

# free_port FROM : the first port from FROM up that nothing listens on.
free_port() {
    local port=$1
    while port_listening "$port"; do
        port=$((port + 1))
        ((port < 65000)) || { log "no free port"; exit 1; }
    done
    echo "$port"
}

# start_server NAME PORT CPUS CMD... : starts CMD in its own process group, pinned with
# `taskset -c CPUS` unless CPUS is empty, its output in $LOG_DIR/NAME.log; waits until PORT
# listens; sets STARTED_PID to the process to watch (the end of a single chain of children,
# so that a wrapper such as `cargo run` is looked through).
start_server() {
    local name=$1 port=$2 cpus=$3
    shift 3
    if port_listening "$port"; then
        log "port $port is already in use"
        exit 1
    fi
    local pin=()
    [[ -n "$cpus" ]] && pin=(taskset -c "$cpus")
    log "starting $name on port $port${cpus:+ (CPU $cpus)}: $*"
    # A background job of a script is not a group leader, so setsid runs CMD in place: $! is
    # the new session and process group.
    setsid "${pin[@]}" "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
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

# field NAME LINE : the value of NAME=... in a `key=value` line.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }

# median : the median of the numbers on standard input, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
