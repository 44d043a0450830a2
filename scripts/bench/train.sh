#!/usr/bin/env bash
# Training throughput: s2d's Trainer against the equivalent PyTorch + transformers loop (same
# random Llama, same batches, same loss, AdamW, clip 1.0, fp32) on the CPU. Prints tokens/s, the
# ratio, and both loss curves (they should agree). Writes build/bench/train/results.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bootstrap.sh"
s2d_bootstrap >/dev/null
PY="$S2D_VENV/bin/python"
W="$BUILD_DIR/bench/train"
mkdir -p "$W"
export TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=1
CONFIG='{"vocab_size": 2000, "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 6,
         "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 512}'
[ -f "$W/model/config.json" ] || "$PY" "$(dirname "$0")/hf_generate.py" make --out "$W/model" --config "$CONFIG"
"$PY" "$(dirname "$0")/hf_train.py" batches --out "$W/batches.json" --n 4 --batch 16 --len 128 --vocab 2000
# Two loss shapes: every token counted (pretraining), and the SFT shape s2d distill trains on, a
# 4-token answer after a 124-token prompt (only the answer counted).
{
  echo "# train benchmark: 6.1M-parameter Llama (vocab 2000, hidden 256, 6 layers), batch 16 x 128 tokens, fp32 CPU, AdamW"
  for answer in 0 4; do
    s=$("$BUILD_DIR/tests/bench/s2d_bench_train" --model "$W/model" --batches "$W/batches.json" --steps 6 --device cpu --answer-tokens "$answer")
    h=$("$PY" "$(dirname "$0")/hf_train.py" run --model "$W/model" --batches "$W/batches.json" --steps 6 --answer-tokens "$answer")
    "$PY" - "$s" "$h" "$answer" <<'PY'
import json, sys
s, h, answer = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
print()
print("## loss on every token" if answer == 0 else f"## loss on each row's last {answer} tokens (SFT)")
print()
print("| engine | tok/s | losses |")
print("|---|---|---|")
for r in (s, h):
    print(f"| {r['engine']} | {r['tok_s']:.0f} | {' '.join(f'{x:.4f}' for x in r['losses'])} |")
print()
print(f"s2d / PyTorch: {s['tok_s'] / h['tok_s']:.2f}x; max loss difference {max(abs(a - b) for a, b in zip(s['losses'], h['losses'])):.2e}")
PY
  done
} | tee "$W/results.md"
