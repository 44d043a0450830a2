#!/usr/bin/env bash
# Training throughput: s2d's Trainer (the engine of `s2d distill`) against the equivalent PyTorch +
# transformers loop (PEFT for LoRA): same weights, same batches, same loss, AdamW, clip 1.0, fp32,
# on the CPU. Prints tokens/s (every token of a batch counted), the ratio, and both loss curves
# (they should agree). The rounds alternate s2d and PyTorch (ROUNDS=2 by default) so that a slow
# spell of a shared machine does not land on one engine only; each engine's best round is reported.
# Writes build/bench/train[/smollm2]/results.md.
#   default         a random 6.1M-parameter Llama (vocab 2000, 6 layers), batch 16 x 128, full
#                   fine-tune; the loss on every token, then the SFT shape (a 4-token answer after
#                   a 124-token prompt, only the answer counted)
#   MODEL=smollm2   SmolLM2-135M-Instruct imported from its GGUF (30 layers, 49,152-entry head),
#                   batch 8 x 128 in the SFT shape, full fine-tune and LoRA r16 on q, k, v, o;
#                   then rows of varied length (32-128 tokens, as unbucketed SFT examples): s2d
#                   with the rows packed (what distill does) and padded, PyTorch padded
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bootstrap.sh"
s2d_bootstrap >/dev/null
PY="$S2D_VENV/bin/python"
HERE="$(dirname "$0")"
W="$BUILD_DIR/bench/train"
export TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=1
if [ "${MODEL:-random}" = smollm2 ]; then
  W="$W/smollm2"
  mkdir -p "$W"
  source "$S2D_ROOT/scripts/lib/smollm2.sh"
  s2d_import_smollm2 "$W/model"
  "$PY" "$HERE/hf_train.py" batches --out "$W/batches.json" --n 2 --batch 8 --len 128 --vocab 49152
  "$PY" "$HERE/hf_train.py" batches --out "$W/ragged.json" --n 2 --batch 8 --len 128 --vocab 49152 --ragged
  TITLE="SmolLM2-135M-Instruct (imported GGUF), batch 8 x 128 tokens"
  CASES=("full 4 batches" "16 4 batches" "full 4 ragged")  # "LORA_RANK|full ANSWER_TOKENS BATCHES"
  STEPS=3
else
  mkdir -p "$W"
  CONFIG='{"vocab_size": 2000, "hidden_size": 256, "intermediate_size": 768, "num_hidden_layers": 6,
           "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 512}'
  [ -f "$W/model/config.json" ] || "$PY" "$HERE/hf_generate.py" make --out "$W/model" --config "$CONFIG"
  "$PY" "$HERE/hf_train.py" batches --out "$W/batches.json" --n 4 --batch 16 --len 128 --vocab 2000
  TITLE="6.1M-parameter Llama (vocab 2000, hidden 256, 6 layers), batch 16 x 128 tokens"
  CASES=("full 0 batches" "full 4 batches")
  STEPS=6
fi
{
  echo "# train benchmark: $TITLE, fp32, AdamW; $(nproc)-core $(uname -m), $(date -u +%F), torch $("$PY" -c 'import torch;print(torch.__version__)')"
  for c in "${CASES[@]}"; do
    read -r kind answer data <<< "$c"
    rank=0; [ "$kind" = full ] || rank=$kind
    layouts=(padded); [ "$data" = ragged ] && layouts=(packed padded)
    runs=()
    for _ in $(seq 1 "${ROUNDS:-2}"); do
      for layout in "${layouts[@]}"; do
        runs+=("$("$BUILD_DIR/tests/bench/s2d_bench_train" --model "$W/model" --batches "$W/$data.json" --steps "$STEPS" \
                  --device cpu --answer-tokens "$answer" --lora-rank "$rank" --layout "$layout")")
      done
      runs+=("$("$PY" "$HERE/hf_train.py" run --model "$W/model" --batches "$W/$data.json" --steps "$STEPS" \
                --answer-tokens "$answer" --lora-rank "$rank" 2>/dev/null)")
    done
    "$PY" - "$kind" "$answer" "$data" "${runs[@]}" <<'PY'
import json, sys
kind, answer, data, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3], [json.loads(a) for a in sys.argv[4:]]
engines = list(dict.fromkeys(r["engine"] for r in runs))  # "s2d" (padded), "s2d packed", "torch"
best = {e: max((r for r in runs if r["engine"] == e), key=lambda r: r["tok_s"]) for e in engines}
h = best["torch"]
what = "full fine-tune" if kind == "full" else f"LoRA r{kind} (PEFT on the PyTorch side)"
shape = "loss on every token" if answer == 0 else f"loss on each row's last {answer} tokens (SFT)"
rows = "rows of 32-128 tokens, padded to the longest (s2d packed: back to back)" if data == "ragged" else "equal rows"
print(f"\n## {what}, {shape}, {rows}\n")
print("| engine | tok/s (best round) | all rounds | losses |")
print("|---|---|---|---|")
for e, r in best.items():
    rounds = " ".join(f"{x['tok_s']:.0f}" for x in runs if x["engine"] == e)
    print(f"| {e} | {r['tok_s']:.0f} | {rounds} | {' '.join(f'{x:.4f}' for x in r['losses'])} |")
print()
for e in [e for e in engines if e != "torch"]:
    s = best[e]
    diff = max(abs(a - b) for a, b in zip(s["losses"], h["losses"]))
    print(f"{e} / PyTorch: {s['tok_s'] / h['tok_s']:.2f}x; max loss difference {diff:.2e}  ")
PY
  done
} | tee "$W/results.md"
