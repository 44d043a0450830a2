#!/usr/bin/env bash
# Requests that share a long start, as an evaluation harness sends them: `s2d serve` on
# SmolLM2-135M-Instruct (CPU, fp32) under C clients, each sending R chat requests back to back
# with one shared system message of worked examples (about WORDS words) and its own question,
# greedy, 1 to 32 new tokens (serve_clients.py shared-prefix). A newcomer whose prompt starts as a busy
# slot's takes those tokens' keys and values from the slot instead of computing them.
# With BASELINE="path/to/another/s2d ..." (binaries, or scripts that run one with other flags), the
# same load runs on each in alternating rounds (an A/B of an engine change). Writes
# build/bench/serve-prefix/results.md.
# Environment (all optional): CLIENTS=8 REQUESTS=8 WORDS=400 ROUNDS=2 BASELINE=
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bootstrap.sh"
s2d_bootstrap >/dev/null
PY="$S2D_VENV/bin/python"
HERE="$(cd "$(dirname "$0")" && pwd)"
W="$BUILD_DIR/bench/serve-prefix"
mkdir -p "$W"
CLIENTS=${CLIENTS:-8} REQUESTS=${REQUESTS:-8} WORDS=${WORDS:-400} ROUNDS=${ROUNDS:-2} BASELINE=${BASELINE:-}
source "$S2D_ROOT/scripts/lib/smollm2.sh"
s2d_import_smollm2 "$W/smollm2" "$BUILD_DIR/src/s2d"
source "$HERE/../lib/serve.sh"
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true' EXIT
# one NAME BINARY: a server on BINARY, the load, one table row.
one() {
  local name=$1
  S2D=$2 s2d_start_server "$W/serve-$name" --model "$W/smollm2" --device cpu --dtype fp32 --batch-size "$CLIENTS" \
    --port 0 --served-model-name model || exit 1
  out=$("$PY" "$HERE/serve_clients.py" shared-prefix --url "http://127.0.0.1:$SERVER_PORT/v1" --clients "$CLIENTS" \
    --requests "$REQUESTS" --system-words "$WORDS")
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
  "$PY" - "$name" "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[2])
print(f"| {sys.argv[1]} | {r['requests']} | {r['prompt_tokens']:.0f} | {r['seconds']:.1f} | {r['req_s']:.2f} | "
      f"{r['p50_s']:.2f} |")
PY
}
{
  echo "# shared-prefix serving: $(nproc)-core $(uname -m), $(date -u +%F), build $(git -C "$S2D_ROOT" rev-parse --short HEAD)"
  echo
  echo "$CLIENTS clients x $REQUESTS requests, a shared system message of about $WORDS words, 1 to 32 new tokens (16 on average), greedy."
  echo
  echo "| binary | requests | prompt tokens each | seconds | requests/s | p50 latency s |"
  echo "|---|---|---|---|---|---|"
  for ((r = 1; r <= ROUNDS; r++)); do
    one "s2d (round $r)" "$BUILD_DIR/src/s2d"
    for b in $BASELINE; do one "baseline $(basename "$b") (round $r)" "$b"; done
  done
} | tee "$W/results.md"
