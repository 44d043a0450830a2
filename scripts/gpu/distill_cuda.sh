#!/usr/bin/env bash
# `s2d distill` through the CLI on CUDA (bf16 autocast, fp32 master weights), on the toy model:
#   1. an uninterrupted full fine-tune (progress line with MFU, metrics.jsonl);
#   2. the same run killed with SIGKILL after its checkpoint at step 200, then --resume: its
#      metrics must hold one line per step, and the loss curve must equal run 1's (to 1e-3 of
#      the loss: CUDA kernels need not be bitwise deterministic);
#   3. run 1 again with --cuda-graph (each step replayed as a CUDA graph, every micro-batch padded
#      to one shape): its first steps' losses must be run 1's to bf16's rounding at another shape,
#      and the two runs' tok/s are printed side by side;
#   4. a LoRA run with --merge, whose merged model then answers through `s2d eval` on CUDA.
# Usage: distill_cuda.sh S2D_BINARY WORKDIR [DEVICE=cuda] [STEPS=400]  (DEVICE cpu tries it here)
set -euo pipefail
S2D=$1 W=$2 DEV=${3:-cuda} STEPS=${4:-400}
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-python3}"
rm -rf "$W" && mkdir -p "$W"
"$S2D" --log-level warn data toy-corpus --seed 1 --scale 0.02 --distill-n 20 --test-n 40 --out "$W/world" >/dev/null
common=(--model "$ROOT/data/toy/model" --data "$W/world/corpus.jsonl" --device "$DEV" --batch-size 32 --lr 1e-3
        --warmup-steps 20 --save-every $((STEPS / 4)) --keep-checkpoints 2 --seed 0 --max-seq-len 256)

echo "-- uninterrupted"
"$S2D" distill "${common[@]}" --max-steps "$STEPS" --out "$W/full" 2>&1 | tail -4
echo "-- killed after the checkpoint at step $((STEPS / 2)), then resumed"
"$S2D" --log-level warn distill "${common[@]}" --max-steps "$STEPS" --out "$W/cut" > "$W/cut.log" 2>&1 &
pid=$!
ckpt="$W/cut/checkpoints/step-$(printf %06d $((STEPS / 2)))"
while [ ! -f "$ckpt/trainer_state.json" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
# a few steps past the checkpoint, so that the resume has logged steps to redo
while [ "$(wc -l < "$W/cut/metrics.jsonl")" -lt $((STEPS / 2 + 5)) ] && kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
[ ! -f "$W/cut/model.safetensors" ] || { echo "FAIL: the run finished before it could be killed"; exit 1; }
echo "killed at metrics line $(wc -l < "$W/cut/metrics.jsonl")"
"$S2D" distill "${common[@]}" --max-steps "$STEPS" --out "$W/cut" --resume 2>&1 | tail -2
"$PY" - "$W/full/metrics.jsonl" "$W/cut/metrics.jsonl" "$STEPS" <<'PY'
import json, sys
def losses(path):
    rows = [json.loads(l) for l in open(path)]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r], rows
(full, frows), (cut, crows) = losses(sys.argv[1]), losses(sys.argv[2])
steps = int(sys.argv[3])
assert [s for s, _ in cut] == list(range(1, steps + 1)), f"resumed metrics.jsonl steps are not 1..{steps} once each"
worst = max(abs(a - b) for (_, a), (_, b) in zip(full, cut))
last = frows[-2] if "loss" not in frows[-1] else frows[-1]
mfu = [r["mfu"] for r in frows if "mfu" in r]
print(f"loss {full[0][1]:.4f} -> {full[-1][1]:.4f}; resumed vs uninterrupted: max loss difference {worst:.2e} over {steps} steps;"
      f" {last['tokens_per_second']:.0f} tok/s" + (f", MFU {100 * mfu[-1]:.2f}%" if mfu else ""))
assert worst <= 1e-3 * max(1.0, abs(full[-1][1])), "the resumed loss curve differs"
PY
echo "-- uninterrupted, --cuda-graph"
"$S2D" distill "${common[@]}" --max-steps "$STEPS" --out "$W/graph" --cuda-graph 2>&1 | tail -3
"$PY" - "$W/full/metrics.jsonl" "$W/graph/metrics.jsonl" <<'PY'
import json, sys
def run(path):
    rows = [json.loads(l) for l in open(path)]
    return [r for r in rows if "loss" in r]
eager, graph = run(sys.argv[1]), run(sys.argv[2])
assert len(graph) == len(eager), f"{len(graph)} graph steps against {len(eager)}"
first = 10  # later steps drift apart as training amplifies bf16's rounding differences
worst = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(eager[:first], graph[:first]))
speed = graph[-1]["tokens_per_second"] / eager[-1]["tokens_per_second"]
print(f"--cuda-graph: {graph[-1]['tokens_per_second']:.0f} tok/s against {eager[-1]['tokens_per_second']:.0f} eager "
      f"({speed:.2f}x; tokens counted without padding); first {first} losses within {worst:.2e} of eager's")
assert worst <= 2e-2, "the captured steps' losses differ from the eager steps'"
PY
echo "-- LoRA r=8 on q k v o gate up down, --merge, then eval of the merged model"
"$S2D" distill "${common[@]}" --out "$W/lora" --lora-rank 8 --lora-alpha 16 --lora-targets q k v o gate up down \
  --merge --max-steps $((STEPS / 2)) 2>&1 | tail -2
ls "$W/lora/adapter/adapter_config.json" "$W/lora/adapter/adapter_model.safetensors" "$W/lora/model.safetensors" >/dev/null
"$S2D" --log-level warn eval --model "$W/lora" --tasks "$W/world/tasks/coin-flip.test.jsonl" --device "$DEV" \
  --out "$W/eval-lora" 2>&1 | tail -2
