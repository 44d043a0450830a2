#!/usr/bin/env bash
# Training on a CUDA GPU, the shapes of DESIGN §6, s2d against the equivalent PyTorch/transformers
# loop in one run on the same GPU: TinyLlama-1.1B full fine-tune (8 x 1024 tokens; fp32 master
# weights and AdamW state, bf16 autocast; again with bf16 weights and fp32 masters) and Llama-2-7B LoRA r=16 on q, k, v, o (4 x 1024
# tokens; frozen bf16 base, fp32 adapter, bf16 autocast; PEFT on the HF side). Random weights
# made on the GPU; then the 1.1B full fine-tune on rows of 256-1024 tokens (SFT examples of varied
# length), s2d packing them back to back (what distill does) against PyTorch padding them to the
# longest. Reports tok/s (real tokens, padding not counted), the s2d / PyTorch ratio, MFU (6N or
# 4N FLOPs per token over 989 TFLOP/s) and the peak GPU memory nvidia-smi saw (whole process:
# context and allocator cache).
# Needs .deps (scripts/gpu/fetch_deps.sh).
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
"$PY" "$ROOT/scripts/bench/hf_train.py" batches --out "$B/r8.json" --n 2 --batch 8 --len 1024 --vocab 32000 --ragged
STEPS=${TRAIN_BENCH_STEPS:-6}
# silu·mul and RoPE alone, forward and backward: the chain, the autograd node, the node's kernels.
echo "== training's elementwise ops alone (s2d_bench_autograd_ops)"
"$BUILD/tests/bench/s2d_bench_autograd_ops" --device cuda
# with_peak CMD...: runs CMD, prints its JSON line with "smi_peak_gib" (nvidia-smi's peak) added
with_peak() {
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$B/smi.txt" 2>/dev/null &
  local smi=$! line
  line=$("$@" | tail -1)
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  local peak; peak=$(sort -n "$B/smi.txt" | tail -1)
  "$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); d["smi_peak_gib"]=round(int(sys.argv[2] or 0)/1024,1); d["losses"]=[round(x,4) for x in d["losses"]]; print(json.dumps(d))' "$line" "${peak:-0}"
}
# config, batches, LoRA rank, name, s2d's layout
for spec in "tinyllama b8 0 1.1B-full-FT padded" "llama2-7b b4 16 7B-LoRA-r16 padded" \
            "tinyllama r8 0 1.1B-full-FT-ragged packed"; do
  read -r -a words <<< "$spec"
  set -- "${words[@]}"
  echo "== train $4: $1 shape, batches $2, lora rank $3, s2d $5, $STEPS timed steps after 1 warmup"
  s=$(with_peak "$BUILD/tests/bench/s2d_bench_train" --random-config "$B/$1.json" --batches "$B/$2.json" --steps "$STEPS" \
      --device cuda --lora-rank "$3" --layout "$5") && echo "s2d:     $s"
  h=$(with_peak "$PY" "$ROOT/scripts/bench/hf_train.py" run --random-config "$B/$1.json" --batches "$B/$2.json" \
      --steps "$STEPS" --device cuda --lora-rank "$3") && echo "PyTorch: $h"
  "$PY" - "$4" "$s" "$h" <<'PY' || true
import json, sys
s, h = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{sys.argv[1]}: s2d {s['tok_s']:,.0f} tok/s (MFU {100 * s['mfu']:.1f}%, {s['smi_peak_gib']} GiB), "
      f"PyTorch/HF {h['tok_s']:,.0f} tok/s (MFU {100 * h['mfu']:.1f}%, {h['smi_peak_gib']} GiB; allocator peak {h['peak_gib']:.1f} GiB); "
      f"s2d / PyTorch {s['tok_s'] / h['tok_s']:.2f}x")
PY
  if [ "$3" = 0 ] && [ "$5" = padded ]; then
    # The training kernels (silu·mul, RoPE, and the residual add with its RMSNorm, forward and
    # backward, fused_autograd_ops.h) against the same run without them. silu·mul's and RoPE's are
    # the chain's bits; the norm's row sums run in its own order, so the losses may part in the
    # last digits: the largest relative difference is printed.
    # Two more steps under torch's profiler: the kernels by device time to the log, the trace beside the report.
    f=$(S2D_CUDA_FUSED=1 with_peak "$BUILD/tests/bench/s2d_bench_train" --random-config "$B/$1.json" \
        --batches "$B/$2.json" --steps "$STEPS" --device cuda --lora-rank "$3" --layout "$5" \
        --profile "$OUT/train-trace-$4.json") && echo "s2d fused: $f"
    gzip -f "$OUT/train-trace-$4.json" 2>/dev/null
    "$PY" - "$4" "$f" "$s" <<'PY' || true
import json, sys
f, s = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{sys.argv[1]} with S2D_CUDA_FUSED=1: {f['tok_s']:,.0f} tok/s (MFU {100 * f['mfu']:.1f}%, {f['smi_peak_gib']} GiB), "
      f"{f['tok_s'] / s['tok_s']:.3f}x the run without; losses within "
      f"{max(abs(a - b) / abs(b) for a, b in zip(f['losses'], s['losses'])):.1e} of its (relative)")
PY
    # bf16 weights with fp32 masters (--precision bf16): the residual stream, the norms and the
    # casts before each GEMM in bf16, about half autocast's elementwise traffic. Not HF's autocast
    # numerics, so its losses differ from the run above in the later digits.
    p=$(with_peak "$BUILD/tests/bench/s2d_bench_train" --random-config "$B/$1.json" --batches "$B/$2.json" \
        --steps "$STEPS" --device cuda --lora-rank "$3" --layout "$5" --precision bf16) && echo "s2d bf16: $p"
    "$PY" - "$4" "$p" "$s" "$h" <<'PY' || true
import json, sys
p, s, h = json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"{sys.argv[1]} with bf16 weights and fp32 masters: {p['tok_s']:,.0f} tok/s (MFU {100 * p['mfu']:.1f}%, "
      f"{p['smi_peak_gib']} GiB), {p['tok_s'] / s['tok_s']:.3f}x autocast, {p['tok_s'] / h['tok_s']:.2f}x PyTorch/HF autocast")
PY
    # The same with the training kernels, whose add+RMSNorm node then reads and writes bf16 only.
    pf=$(S2D_CUDA_FUSED=1 with_peak "$BUILD/tests/bench/s2d_bench_train" --random-config "$B/$1.json" \
        --batches "$B/$2.json" --steps "$STEPS" --device cuda --lora-rank "$3" --layout "$5" --precision bf16) \
      && echo "s2d bf16 fused: $pf"
    "$PY" - "$4" "$pf" "$p" "$h" <<'PY' || true
import json, sys
pf, p, h = json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"{sys.argv[1]} with bf16 weights and S2D_CUDA_FUSED=1: {pf['tok_s']:,.0f} tok/s (MFU {100 * pf['mfu']:.1f}%), "
      f"{pf['tok_s'] / p['tok_s']:.3f}x bf16 without the kernels, {pf['tok_s'] / h['tok_s']:.2f}x PyTorch/HF autocast")
PY
    # The step replayed as a CUDA graph (captured_train_step.h): worth it if the host bounds the
    # step. Its losses are not comparable one to one: it warms up for 3 steps and a capture, not 1.
    # CapturedTrainStepCuda in the engine-cuda stage checks its bits against the eager step.
    g=$(with_peak "$BUILD/tests/bench/s2d_bench_train" --random-config "$B/$1.json" --batches "$B/$2.json" \
        --steps "$STEPS" --device cuda --lora-rank "$3" --layout "$5" --graph on) && echo "s2d graph: $g"
    "$PY" - "$4" "$g" "$s" <<'PY' || true
import json, sys
g, s = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(f"{sys.argv[1]} as a CUDA graph: {g['tok_s']:,.0f} tok/s (MFU {100 * g['mfu']:.1f}%, {g['smi_peak_gib']} GiB), "
      f"{g['tok_s'] / s['tok_s']:.3f}x the eager step")
PY
  fi
done
