# Shared by the benchmark scripts (source it after defining `log`, `LOG_DIR` and
# `START_TIMEOUT_TENTHS`): the process groups a script started, and only those, are stopped
# on exit; free ports are found with `ss`; servers are awaited until they listen; each run is
# checked for failure.

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
