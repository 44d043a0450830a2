# shellcheck shell=bash
# Shell helper for scripts and tests that run `s2d serve` in the background.
# s2d_start_server LOG S2D_SERVE_ARGS...: starts "$S2D serve ARGS..." (stdout to LOG.out, stderr
# appended to LOG.err), waits until it listens (60 s at most) and sets SERVER_PID and SERVER_PORT.
s2d_start_server() {
  local log=$1
  shift
  "$S2D" --log-level warn serve "$@" > "$log.out" 2>> "$log.err" &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" "$log.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log.err" >&2; echo "FAIL: s2d serve exited" >&2; return 1; }
    sleep 0.1
  done
  SERVER_PORT=$(grep -o "127.0.0.1:[0-9]*" "$log.out" | cut -d: -f2)
  [ -n "$SERVER_PORT" ] || { echo "FAIL: s2d serve did not listen within 60 s" >&2; return 1; }
}
