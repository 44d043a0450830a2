#!/usr/bin/env bash
# Training on a CUDA GPU, the shapes of DESIGN §6, s2d against the equivalent PyTorch/transformers
# loop in one run on the same GPU: TinyLlama-1.1B full fine-tune (8 x 1024 tokens; fp32 master
# weights and AdamW state, bf16 autocast; again with bf16 weights and fp32 masters) and Llama-2-7B LoRA r=16 on q, k, v, o (4 x 1024
# tokens; frozen bf16 base, fp32 adapter, bf16 autocast; PEFT on the HF side). Random weights
# made on the GPU; then the 1.1B full fine-tune on rows of 256-1024 tokens (SFT examples of varied
# length), s2d packing them back to back (what distill does) against PyTorch padding them to the
# longest. Reports tok/s (real tokens, padding not counted), the s2d / PyTorch ratio, MFU (6N or
# 4N FLOPs per token over 989 TFLOP/s) and the peak GPU memory nvidia-smi saw (whole process:
# context and allocator cache). Each workload also runs with the training kernels
# (S2D_CUDA_FUSED=1), and with them as a CUDA graph; then the 1.1B full fine-tune's ablations: a profile, bf16 weights with fp32
# masters, the step as a CUDA graph, and the elementwise ops alone. PART=targets runs only the
# workloads, PART=ablations only the rest (comparing with the targets part's kept results).
# Needs .deps (scripts/gpu/fetch_deps.sh).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../gpu/build.sh"
B="$BUILD/bench"
mkdir -p "$B"
model_config "$B/tinyllama.json" '{"vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632,
  "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048,
  "rms_norm_eps": 1e-5}'
model_config "$B/llama2-7b.json" '{"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
  "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
  "rms_norm_eps": 1e-5}'
"$PY" "$ROOT/scripts/bench/hf_train.py" batches --out "$B/b8.json" --n 2 --batch 8 --len "$(scale 1024)" --vocab 32000
"$PY" "$ROOT/scripts/bench/hf_train.py" batches --out "$B/b4.json" --n 2 --batch 4 --len "$(scale 1024)" --vocab 32000
"$PY" "$ROOT/scripts/bench/hf_train.py" batches --out "$B/r8.json" --n 2 --batch 8 --len "$(scale 1024)" --vocab 32000 --ragged
STEPS=${TRAIN_BENCH_STEPS:-$(scale 6)}
# with_peak CMD...: runs CMD, prints its JSON line with "smi_peak_gib" (nvidia-smi's peak) added;
# fails, printing nothing more, where CMD printed no JSON line (its error is on stderr)
with_peak() {
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$B/smi.txt" 2>/dev/null &
  local smi=$! line
  line=$("$@" | tail -1)
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  local peak; peak=$(sort -n "$B/smi.txt" | tail -1)
  "$PY" - "$line" "${peak:-0}" <<'PY'
import json, sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    sys.exit(1)
d["smi_peak_gib"] = round(int(sys.argv[2] or 0) / 1024, 1)
d["losses"] = [round(x, 4) for x in d["losses"]]
print(json.dumps(d))
PY
}
# s2d_train CONFIG BATCHES LORA_RANK LAYOUT [FLAG...]: s2d's training bench, its JSON line
s2d_train() {
  local config=$1 batches=$2 rank=$3 layout=$4; shift 4
  with_peak "$BUILD/tests/bench/s2d_bench_train" --random-config "$B/$config.json" --batches "$B/$batches.json" \
    --steps "$STEPS" --device "$DEVICE" --lora-rank "$rank" --layout "$layout" "$@"
}
# compare LABEL RUN BASE [BASE_NAME]: RUN's tok/s, MFU and memory, and its ratio to BASE
compare() {
  "$PY" - "$@" <<'PY' || true
import json, sys
label = sys.argv[1]
base = sys.argv[4] if len(sys.argv) > 4 else "PyTorch/HF"
try:
    r, b = json.loads(sys.argv[2]), json.loads(sys.argv[3])
except ValueError:
    sys.exit(print(f"{label}: no figure, a run above failed (its log says why)"))
def mfu(d):  # on CUDA only (a rehearsal runs on the CPU)
    return f"MFU {100 * d['mfu']:.1f}%, " if "mfu" in d else ""
print(f"{label}: {r['tok_s']:,.0f} tok/s ({mfu(r)}{r['smi_peak_gib']} GiB), "
      f"{base} {b['tok_s']:,.0f} tok/s ({mfu(b)}{b['smi_peak_gib']} GiB); {r['tok_s'] / b['tok_s']:.3f}x"
      + (f"; losses within {max(abs(x - y) / abs(y) for x, y in zip(r['losses'], b['losses'])):.1e} (relative)"
         if base.startswith("s2d") else ""))
PY
}
# #23's workloads first, each s2d against PyTorch/transformers, then with the training kernels
# (silu·mul, RoPE, and the residual add with its RMSNorm, forward and backward,
# fused_autograd_ops.h; S2D_CUDA_FUSED=1); the TinyLlama ablations after, so that a time limit
# cuts those instead. The kernels' norm sums its rows in its own order, so losses may part in the
# last digits: the largest relative difference is printed.
declare -A S2D HF FUSED
if [ "$PART" != ablations ]; then
for spec in "tinyllama b8 0 1.1B-full-FT padded" "llama2-7b b4 16 7B-LoRA-r16 padded" \
            "tinyllama r8 0 1.1B-full-FT-ragged packed"; do
  read -r config batches rank name layout <<< "$spec"
  echo "== train $name: $config shape, batches $batches, lora rank $rank, s2d $layout, $STEPS timed steps after 1 warmup"
  S2D[$name]=$(s2d_train "$config" "$batches" "$rank" "$layout") && echo "s2d:       ${S2D[$name]}"
  HF[$name]=$(with_peak "$PY" "$ROOT/scripts/bench/hf_train.py" run --random-config "$B/$config.json" \
      --batches "$B/$batches.json" --steps "$STEPS" --device "$DEVICE" --lora-rank "$rank") && echo "PyTorch:   ${HF[$name]}"
  compare "$name, s2d" "${S2D[$name]}" "${HF[$name]}"
  keep "train-s2d-$name" "${S2D[$name]}"; keep "train-hf-$name" "${HF[$name]}"  # for PART=ablations
  FUSED[$name]=$(S2D_CUDA_FUSED=1 s2d_train "$config" "$batches" "$rank" "$layout") && echo "s2d fused: ${FUSED[$name]}"
  compare "$name, s2d with S2D_CUDA_FUSED=1" "${FUSED[$name]}" "${HF[$name]}"
  compare "$name, S2D_CUDA_FUSED=1 against without" "${FUSED[$name]}" "${S2D[$name]}" "s2d without"
  # Both with each step replayed as a CUDA graph (padded batches only): where the host's ~12,000
  # launches a step bound it, this is the figure that can reach the target.
  if [ "$layout" = padded ]; then
    both=$(S2D_CUDA_FUSED=1 s2d_train "$config" "$batches" "$rank" "$layout" --graph on) && echo "s2d fused graph: $both"
    compare "$name, s2d with S2D_CUDA_FUSED=1 and --graph on" "$both" "${HF[$name]}"
  fi
done
fi
[ "$PART" = targets ] && exit 0
name=1.1B-full-FT
echo "== ablations, $name"
[ -n "${S2D[$name]:-}" ] || S2D[$name]=$(kept "train-s2d-$name")
[ -n "${HF[$name]:-}" ] || HF[$name]=$(kept "train-hf-$name")
# Two steps under torch's profiler with the kernels: the kernels by device time to the log, the
# trace beside the report.
S2D_CUDA_FUSED=1 s2d_train tinyllama b8 0 padded --profile "$OUT/train-trace-$name.json" > /dev/null \
  && gzip -f "$OUT/train-trace-$name.json"
# bf16 weights with fp32 masters (--precision bf16): the residual stream, the norms and the casts
# before each GEMM in bf16, about half autocast's elementwise traffic. Not HF's autocast numerics,
# so its losses differ from autocast's in the later digits. Then the same with the training
# kernels, whose add+RMSNorm node then reads and writes bf16 only.
p=$(s2d_train tinyllama b8 0 padded --precision bf16) && echo "s2d bf16: $p"
compare "$name, bf16 weights with fp32 masters" "$p" "${HF[$name]}"
compare "$name, bf16 weights against autocast" "$p" "${S2D[$name]}" "s2d autocast"
pf=$(S2D_CUDA_FUSED=1 s2d_train tinyllama b8 0 padded --precision bf16) && echo "s2d bf16 fused: $pf"
compare "$name, bf16 weights and S2D_CUDA_FUSED=1" "$pf" "${HF[$name]}"
# The step replayed as a CUDA graph (captured_train_step.h): worth it if the host bounds the step.
# Its losses are not comparable one to one: it warms up for 3 steps and a capture, not 1.
# CapturedTrainStepCuda in the engine-cuda stage checks its bits against the eager step.
g=$(s2d_train tinyllama b8 0 padded --graph on) && echo "s2d graph: $g"
compare "$name as a CUDA graph" "$g" "${S2D[$name]}" "the eager step"
# silu·mul and RoPE alone, forward and backward: the chain, the autograd node, the node's kernels.
echo "== training's elementwise ops alone (s2d_bench_autograd_ops)"
"$BUILD/tests/bench/s2d_bench_autograd_ops" --device "$DEVICE"
