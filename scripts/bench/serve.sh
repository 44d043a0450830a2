#!/usr/bin/env bash
# Serving throughput: `s2d serve` under C concurrent HTTP clients against the same work done
# in-process by s2d's engine (no HTTP) and by HF transformers generate(), on the random ~21M
# Llama of generate.sh, on the CPU: C prompts of 32 tokens (the same ids for all three), 128 new
# tokens each, greedy, every row the full length. The serve/in-process ratio is the price of
# HTTP, JSON and the request batcher. Then latency: 7 short requests (16 tokens) sent while a long
# one (384 tokens) runs, against the same requests alone (about 1x when newcomers join the running
# batch). Writes build/bench/serve/results.md.
# Usage: scripts/bench/serve.sh [clients ...]   (default: 1 8 32)
#        scripts/bench/serve.sh --soak MINUTES [CLIENTS]   (default 8 clients): C clients for N
#        minutes against one server; p50/p99 latency, errors and resident memory at the start and
#        the end, appended to build/bench/serve/soak.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bootstrap.sh"
s2d_bootstrap >/dev/null
PY="$S2D_VENV/bin/python"
HERE="$(cd "$(dirname "$0")" && pwd)"
G="$BUILD_DIR/bench/generate" W="$BUILD_DIR/bench/serve"
mkdir -p "$G" "$W"
export TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=1
CONFIG='{"vocab_size": 32000, "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 6,
         "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 512,
         "initializer_range": 0.2}'
[ -f "$G/model/config.json" ] || "$PY" "$HERE/hf_generate.py" make --out "$G/model" --config "$CONFIG"
"$PY" "$HERE/serve_clients.py" prompts --tokenizer "$G/model/tokenizer.model" --out "$W/prompts.json" --n 32 --len 32
SERVER_PID=""
# start_server BATCH: s2d serve on any free port; sets SERVER_PID and URL once it listens.
source "$HERE/../lib/serve.sh"
# shellcheck disable=SC2034  # S2D is read by s2d_start_server
S2D="$BUILD_DIR/src/s2d"
start_server() {
  s2d_start_server "$W/serve" --model "$G/model" --chat-template plain --device cpu --dtype fp32 \
    --batch-size "$1" --port 0 --served-model-name model || exit 1
  URL="http://127.0.0.1:$SERVER_PORT/v1"
}
stop_server() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""; }
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true' EXIT
if [ "${1:-}" = --soak ]; then
  MINUTES="${2:?usage: serve.sh --soak MINUTES [CLIENTS]}" C="${3:-8}"
  start_server 8
  soak=$("$PY" "$HERE/serve_clients.py" soak --url "$URL" --prompts "$W/prompts.json" --clients "$C" --minutes "$MINUTES" \
    --pid "$SERVER_PID")
  stop_server
  "$PY" - "$soak" <<'PY' | tee -a "$W/soak.md"
import json, sys
s = json.loads(sys.argv[1])
print(f"soak, {s['clients']} clients for {s['minutes']} min: {s['requests']} requests, {s['ok']} answered 200, "
      f"{s['rejected_as_expected']} malformed ones rejected with 400, {s['errors']} errors {s['first_errors']}; "
      f"latency p50 {s['p50_s']:.3f} s, p99 {s['p99_s']:.3f} s; server RSS {s['rss_start_kb'] / 1024:.1f} MiB at the "
      f"start, {s['rss_end_kb'] / 1024:.1f} MiB at the end (max {s['rss_max_kb'] / 1024:.1f} MiB)")
PY
  exit 0
fi
CLIENTS=("${@:-1 8 32}")
{
  echo "# serve benchmark: $(nproc)-core $(uname -m), $(date -u +%F), torch $("$PY" -c 'import torch;print(torch.__version__)')"
  echo
  echo "| clients = batch | s2d serve tok/s | s2d in-process tok/s | HF tok/s | serve / in-process | serve / HF |"
  echo "|---|---|---|---|---|---|"
  for C in "${CLIENTS[@]}"; do
    start_server "$C"
    serve=$("$PY" "$HERE/serve_clients.py" load --url "$URL" --prompts "$W/prompts.json" --clients "$C" --new-tokens 128)
    stop_server
    local_run=$("$BUILD_DIR/tests/bench/s2d_bench_generate" --model "$G/model" --tokenizer "$G/model/tokenizer.model" \
      --prompts "$W/prompts.json" --batch "$C" --new-tokens 128 --device cpu --dtype fp32)
    hf=$("$PY" "$HERE/hf_generate.py" run --model "$G/model" --prompts "$W/prompts.json" --batch "$C" --new-tokens 128 \
      --device cpu --dtype fp32)
    "$PY" - "$serve" "$local_run" "$hf" <<'PY'
import json, sys
s, l, h = (json.loads(a) for a in sys.argv[1:4])
print(f"| {s['clients']} | {s['tok_s']:.0f} | {l['tok_s']:.0f} | {h['tok_s']:.0f} | {s['tok_s'] / l['tok_s']:.2f}x | "
      f"{s['tok_s'] / h['tok_s']:.2f}x |")
PY
  done
  echo
  start_server 8
  mixed=$("$PY" "$HERE/serve_clients.py" mixed --url "$URL" --prompts "$W/prompts.json")
  stop_server
  "$PY" - "$mixed" <<'PY'
import json, sys
m = json.loads(sys.argv[1])
print("| short requests (16 tokens) | alone | while a 384-token request runs | slowdown | the long request took |")
print("|---|---|---|---|---|")
print(f"| {m['short_clients']} at once | {m['short_alone_s']:.2f} s | {m['short_during_long_s']:.2f} s | "
      f"{m['slowdown']:.2f}x | {m['long_s']:.2f} s |")
PY
} | tee "$W/results.md"
