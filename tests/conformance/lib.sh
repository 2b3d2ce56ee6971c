# Shared by the conformance scripts: source it.

# A free loopback port: bind to 0 and read it back.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [PID]: wait up to 10 s until PORT accepts connections (or PID has exited);
# succeeds only if it accepts.
wait_port() {
  local port="$1" pid="${2:-}"
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

# run NAME COMMAND...: run a peer driver with -q and a 20 s timeout, print NAME and the
# driver's last line, and count a failure in `failures` (the caller's) if it failed.
run() {
  local name="$1"; shift
  local line
  line=$("$@" -q --timeout 20 2>&1 | tail -n 1)
  local rc=${PIPESTATUS[0]}
  printf '%-36s %s\n' "$name" "$line"
  if [ "$rc" -ne 0 ]; then failures=$((failures + 1)); fi
}
