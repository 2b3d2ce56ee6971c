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

# make_certs DIR: a CA (DIR/ca.pem) and a leaf it signs for localhost and 127.0.0.1
# (DIR/cert.pem, DIR/key.pem), made with openssl; no key is ever checked in. Fails if openssl
# made nothing.
make_certs() {
  local d="$1"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=omniws conformance CA" -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout "$d/key.pem" -out "$d/leaf.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$d/ext"
  openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
    -CAcreateserial -days 2 -extfile "$d/ext" -out "$d/cert.pem" 2>/dev/null
  [ -s "$d/cert.pem" ] || { echo "openssl could not make certificates" >&2; return 1; }
}
