# shellcheck shell=bash
# Shell helper for scripts and tests that run `s2d serve` in the background.
# s2d_start_server LOG S2D_SERVE_ARGS...: starts "$S2D serve ARGS..." (stdout to LOG.out, stderr
# appended to LOG.err), waits until it listens and sets SERVER_PID and SERVER_PORT. On failure it
# prints why (the server's stderr, and its process state when it never listened).
# A start that has not listened after 60 s is diagnosed (state, kernel stack, syscall, command
# line), killed and tried once more, for 120 s: in CI, on a loaded 2-core machine, a restarted
# server was twice seen running for minutes at ~10 MB RSS on one thread, before it had loaded
# the model; the diagnosis goes to stderr so the next occurrence says where it was.
s2d_start_server() {
  local log=$1
  shift
  local attempt
  for attempt in 1 2; do
    "$S2D" --log-level warn serve "$@" > "$log.out" 2>> "$log.err" &
    SERVER_PID=$!
    s2d_wait_listening "$log" $((attempt == 1 ? 60 : 120)) && return 0
    [ "$SERVER_PORT" = exited ] && return 1
    echo "s2d serve (pid $SERVER_PID, attempt $attempt, args: $*) did not listen; its stderr:" >&2
    tail -20 "$log.err" >&2
    s2d_diagnose "$SERVER_PID" >&2
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  done
  echo "FAIL: s2d serve did not listen in two attempts" >&2
  return 1
}

# s2d_wait_listening LOG SECONDS: 0 once LOG.out says it listens (SERVER_PORT set); 1 when the
# server exited (SERVER_PORT=exited, its stderr printed) or SECONDS passed (SERVER_PORT empty).
s2d_wait_listening() {
  local log=$1 deadline=$((SECONDS + $2))
  SERVER_PORT=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    if grep -q "listening on" "$log.out" 2>/dev/null; then
      SERVER_PORT=$(grep -o "127.0.0.1:[0-9]*" "$log.out" | cut -d: -f2)
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$log.err" >&2
      echo "FAIL: s2d serve exited" >&2
      SERVER_PORT=exited
      return 1
    fi
    sleep 0.1
  done
  return 1
}

# s2d_diagnose PID: what a process that hangs is doing, from /proc (and gdb where installed).
s2d_diagnose() {
  local pid=$1
  echo "  exe: $(readlink "/proc/$pid/exe" 2>/dev/null); cmdline: $(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)"
  grep -E "^(State|Threads|VmRSS|voluntary_ctxt|nonvoluntary_ctxt)" "/proc/$pid/status" 2>/dev/null | sed 's/^/  /'
  echo "  wchan: $(cat "/proc/$pid/wchan" 2>/dev/null); syscall: $(cat "/proc/$pid/syscall" 2>/dev/null)"
  echo "  kernel stack:"; sed 's/^/    /' "/proc/$pid/stack" 2>/dev/null | head -12
  if command -v gdb > /dev/null; then
    timeout 30 gdb -p "$pid" -batch -ex "thread apply all bt 12" 2>/dev/null | grep -E "^(#|Thread)" | head -30
  fi
  echo "  load: $(cat /proc/loadavg 2>/dev/null)"
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
