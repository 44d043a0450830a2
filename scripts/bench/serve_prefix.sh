#!/usr/bin/env bash
# Requests that start as earlier ones did: `s2d serve` on SmolLM2-135M-Instruct (CPU, fp32) under
# C clients, each sending R chat requests back to back, greedy, 1 to 2 x NEW new tokens (so that
# the clients fall out of step). MODE picks the load (serve_clients.py):
#   shared-prefix  one shared system message of worked examples (about WORDS words), as an
#                  evaluation harness sends it, and a question of each request's own; a newcomer
#                  takes the shared start from a busy slot or the prefix cache;
#   chat           one conversation per client: each turn sends the whole history again, each user
#                  message about WORDS words of the client's own facts; a turn takes the earlier
#                  turns, answers included, from the prefix cache.
# With BASELINE="path/to/another/s2d ..." (binaries, or scripts that run one with other flags), the
# same load runs on each in alternating rounds (an A/B of an engine change). Writes
# build/bench/serve-prefix/results-MODE.md. BATCH is the server's --batch-size (CLIENTS unless
# given: a larger one shows what idle slots cost).
# Environment (all optional): MODE=shared-prefix CLIENTS=8 BATCH=CLIENTS REQUESTS=8 WORDS=400 NEW=16 ROUNDS=2
# BASELINE=
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bootstrap.sh"
s2d_bootstrap >/dev/null
PY="$S2D_VENV/bin/python"
HERE="$(cd "$(dirname "$0")" && pwd)"
W="$BUILD_DIR/bench/serve-prefix"
mkdir -p "$W"
MODE=${MODE:-shared-prefix} CLIENTS=${CLIENTS:-8} REQUESTS=${REQUESTS:-8} WORDS=${WORDS:-400} NEW=${NEW:-16} ROUNDS=${ROUNDS:-2} BASELINE=${BASELINE:-}
BATCH=${BATCH:-$CLIENTS}
source "$S2D_ROOT/scripts/lib/smollm2.sh"
s2d_import_smollm2 "$W/smollm2" "$BUILD_DIR/src/s2d"
source "$HERE/../lib/serve.sh"
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true' EXIT
# one NAME BINARY: a server on BINARY, the load, one table row.
one() {
  local name=$1
  S2D=$2 s2d_start_server "$W/serve-$name" --model "$W/smollm2" --device cpu --dtype fp32 --batch-size "$BATCH" \
    --port 0 --served-model-name model || exit 1
  out=$("$PY" "$HERE/serve_clients.py" "$MODE" --url "http://127.0.0.1:$SERVER_PORT/v1" --clients "$CLIENTS" \
    --requests "$REQUESTS" --system-words "$WORDS" --new-tokens "$NEW")
  local rss_kb
  rss_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
  "$PY" - "$name" "$out" "$rss_kb" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
rss = f" {int(sys.argv[3]) / 2**20:.2f} |"
ttft = "" if r["ttft_p50_s"] is None else f" {r['ttft_p50_s']:.2f} |"
print(f"| {sys.argv[1]} | {r['requests']} | {r['prompt_tokens']:.0f} | {r['cached_tokens']:.0f} | {r['seconds']:.1f} | "
      f"{r['req_s']:.2f} | {r['p50_s']:.2f} |{ttft}{rss}")
PY
}
{
  echo "# $MODE serving: $(nproc)-core $(uname -m), $(date -u +%F), build $(git -C "$S2D_ROOT" rev-parse --short HEAD)"
  echo
  if [ "$MODE" = chat ]; then
    echo "$CLIENTS clients x $REQUESTS turns of one conversation each, user messages of about $WORDS words, 1 to $((2 * NEW)) new tokens, greedy."
  else
    echo "$CLIENTS clients x $REQUESTS requests, a shared system message of about $WORDS words, 1 to $((2 * NEW)) new tokens ($NEW on average), greedy."
  fi
  echo "The server runs with --batch-size $BATCH."
  echo
  if [ "$MODE" = chat ]; then
    echo "| binary | requests | prompt tokens each | of them cached | seconds | requests/s | p50 latency s | p50 time to first text s | server peak RSS GiB |"
    echo "|---|---|---|---|---|---|---|---|---|"
  else
    echo "| binary | requests | prompt tokens each | of them cached | seconds | requests/s | p50 latency s | server peak RSS GiB |"
    echo "|---|---|---|---|---|---|---|---|"
  fi
  for ((r = 1; r <= ROUNDS; r++)); do
    one "s2d (round $r)" "$BUILD_DIR/src/s2d"
    for b in $BASELINE; do one "baseline $(basename "$b") (round $r)" "$b"; done
  done
} | tee "$W/results-$MODE.md"
