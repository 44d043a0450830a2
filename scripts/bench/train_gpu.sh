#!/usr/bin/env bash
# Training on a CUDA GPU, the shapes of DESIGN §6, s2d against the equivalent PyTorch/transformers
# loop in one run: TinyLlama-1.1B full fine-tune (8 x 1024 tokens) and Llama-2-7B LoRA r=16 on
# q, k, v, o (4 x 1024 tokens); random weights made on the GPU, fp32 master weights, bf16 autocast.
# Needs .deps (scripts/gpu/fetch_deps.sh); results in $OUT/gpu_report.txt.
# Not yet run on a GPU: written in the session that ran out of device time (see issue #6's note).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../gpu/build.sh"
B="$BUILD/bench"
mkdir -p "$B"
cat > "$B/tinyllama.json" <<'JSON'
{"vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
 "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5}
JSON
cat > "$B/llama2-7b.json" <<'JSON'
{"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
 "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}
JSON
"$PY" "$ROOT/scripts/bench/hf_train.py" batches --out "$B/b8.json" --n 2 --batch 8 --len 1024 --vocab 32000
"$PY" "$ROOT/scripts/bench/hf_train.py" batches --out "$B/b4.json" --n 2 --batch 4 --len 1024 --vocab 32000
for spec in "tinyllama b8 0" "llama2-7b b4 16"; do
  set -- $spec
  echo "== train $1, batches $2, lora rank $3" | tee -a "$REPORT"
  "$BUILD/tests/bench/s2d_bench_train" --random-config "$B/$1.json" --batches "$B/$2.json" --steps 4 --device cuda \
    --lora-rank "$3" | cut -c1-200 | tee -a "$REPORT"
  "$PY" "$ROOT/scripts/bench/hf_train.py" run --random-config "$B/$1.json" --batches "$B/$2.json" --steps 4 \
    --device cuda --lora-rank "$3" | cut -c1-200 | tee -a "$REPORT"
done
