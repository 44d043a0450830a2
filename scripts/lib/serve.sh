# shellcheck shell=bash
# Shell helper for scripts and tests that run `s2d serve` in the background.
# s2d_start_server LOG S2D_SERVE_ARGS...: starts "$S2D serve ARGS..." (stdout to LOG.out, stderr
# appended to LOG.err), waits until it listens (120 s at most) and sets SERVER_PID and SERVER_PORT.
# On failure it prints why: the server's stderr, and what the process was doing if it never listened.
#
# LOG.out is emptied here, before the server starts, and the server appends to it. A restart that
# let the server's own `>` truncate it raced with the first read below: the read could come before
# the child's truncation, see the previous server's "listening on" line, and then find no port
# once the truncation landed (CI failed so, with the new process caught early in its start).
s2d_start_server() {
  local log=$1
  shift
  : > "$log.out"
  "$S2D" --log-level warn serve "$@" >> "$log.out" 2>> "$log.err" &
  SERVER_PID=$!
  SERVER_PORT=""
  local deadline=$((SECONDS + 120)) line
  while [ "$SECONDS" -lt "$deadline" ]; do
    line=$(grep -o "listening on http://127.0.0.1:[0-9]*/v1" "$log.out" 2>/dev/null | head -1 || true)  # callers may run set -e -o pipefail
    if [ -n "$line" ]; then
      SERVER_PORT=${line##*:}
      SERVER_PORT=${SERVER_PORT%/v1}
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log.err" >&2; echo "FAIL: s2d serve exited" >&2; return 1; }
    sleep 0.1
  done
  echo "FAIL: s2d serve (pid $SERVER_PID, args: $*) did not listen within 120 s; its stderr:" >&2
  tail -20 "$log.err" >&2
  s2d_diagnose "$SERVER_PID" >&2
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
