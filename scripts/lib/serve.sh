# shellcheck shell=bash
# Shell helper for scripts and tests that run `s2d serve` in the background.
# s2d_start_server LOG S2D_SERVE_ARGS...: starts "$S2D serve ARGS..." (stdout to LOG.out, stderr
# appended to LOG.err), waits until it listens (120 s at most) and sets SERVER_PID and SERVER_PORT.
# On failure it prints why (the server's stderr, and its process state when it never listened).
s2d_start_server() {
  local log=$1
  shift
  "$S2D" --log-level warn serve "$@" > "$log.out" 2>> "$log.err" &
  SERVER_PID=$!
  local deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    grep -q "listening on" "$log.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log.err" >&2; echo "FAIL: s2d serve exited" >&2; return 1; }
    sleep 0.1
  done
  SERVER_PORT=$(grep -o "127.0.0.1:[0-9]*" "$log.out" | cut -d: -f2)
  if [ -z "$SERVER_PORT" ]; then
    echo "FAIL: s2d serve (pid $SERVER_PID, args: $*) did not listen within 120 s; its stderr:" >&2
    tail -20 "$log.err" >&2
    grep -E "^(State|Threads|VmRSS)" "/proc/$SERVER_PID/status" >&2 2>/dev/null || true
    echo "load: $(cat /proc/loadavg 2>/dev/null)" >&2
    return 1
  fi
}

# s2d_free_port: prints a free loopback port below the kernel's ephemeral range, so that no other
# process's bind(port 0) or outgoing connection takes it while a test restarts a server there.
s2d_free_port() {
  local low
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 11000 ] || { echo 0; return 0; }  # no room below the range: let the kernel pick
  local port
  for _ in $(seq 1 50); do
    port=$((10000 + RANDOM % (low - 10000)))
    (exec 3<> "/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
  done
  echo "FAIL: no free port in 10000-$low" >&2
  return 1
}
