#!/usr/bin/env bash
# The paper's generation workload, end to end: `s2d generate --method rar2` (rephrase, then respond
# with the rephrasing), SAMPLES samples per task at temperature 0.7 and top-p 0.9, against the same
# two steps through HF transformers' generate() (hf_rar2.py), on the same tasks and model, one
# after the other on the same machine. Both count generated tokens without the EOS; s2d's seconds
# are its whole `generate` after the model loads (first-call set-up included), HF's exclude a
# warm-up call. Writes $W/results.md (W: build/bench/rar2, or build-gpu/bench/rar2 on CUDA).
# Environment (all optional):
#   MODEL=smollm2   SmolLM2-135M-Instruct from its GGUF, with its own chat template (the default)
#   MODEL=toy       the demo's toy model (data/toy/model), llama-2 template
#   MODEL=random    a random Llama of RANDOM_CONFIG's shape (default TinyLlama-1.1B's, with the
#                   bench tokenizer's 300 pieces as its vocabulary), plain prompts: for a GPU,
#                   which has no network to fetch SmolLM2 with
#   TASKS=16 SAMPLES=8 MAX_NEW=128 BATCH=64 (decode slots; HF's rows per call)
#   DEVICE=cpu|cuda DTYPE=fp32|bf16 (CUDA: bf16, HF with its static cache)
# Usage: [MODEL=...] [TASKS=256] scripts/bench/rar2.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEVICE=${DEVICE:-cpu}
GPU_RUN=0  # the GPU run's settings: on CUDA, or rehearsed on the CPU (S2D_GPU_REHEARSAL=1, scripts/gpu/build.sh)
if [ "$DEVICE" = cuda ] || [ "${S2D_GPU_REHEARSAL:-0}" = 1 ]; then GPU_RUN=1; fi
if [ "$GPU_RUN" = 1 ]; then
  source "$HERE/../gpu/build.sh"  # sets ROOT, PY, BUILD; builds unless S2D_GPU_BUILT=1 (and DEVICE in a rehearsal)
  S2D_ROOT=$ROOT BUILD_DIR=$BUILD S2D_VENV=$(dirname "$(dirname "$(command -v "$PY")")")
  DTYPE=${DTYPE:-bf16} CACHE=static
else
  source "$HERE/../lib/bootstrap.sh"
  s2d_bootstrap >/dev/null
  PY="$S2D_VENV/bin/python"
  DTYPE=${DTYPE:-fp32} CACHE=dynamic
fi
S2D="$BUILD_DIR/src/s2d"
W="$BUILD_DIR/bench/rar2"
mkdir -p "$W"
export TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
TASKS=${TASKS:-16} SAMPLES=${SAMPLES:-8} MAX_NEW=${MAX_NEW:-128} BATCH=${BATCH:-64} MODEL=${MODEL:-smollm2}
TEMPLATE=chat S2D_TEMPLATE=auto
case "$MODEL" in
  smollm2)
    source "$S2D_ROOT/scripts/lib/smollm2.sh"
    s2d_import_smollm2 "$W/smollm2" "$S2D"
    M="$W/smollm2" ;;
  toy) M="$S2D_ROOT/data/toy/model" TEMPLATE=llama-2 S2D_TEMPLATE=llama-2 ;;
  random)
    CONFIG=${RANDOM_CONFIG:-'{"vocab_size": 300, "hidden_size": 2048, "intermediate_size": 5632,
      "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048,
      "rms_norm_eps": 1e-5}'}
    M="$W/random-$(echo "$CONFIG" | md5sum | cut -c1-8)"  # a new shape gets a new model
    [ -f "$M/config.json" ] || "$PY" "$HERE/hf_generate.py" make --out "$M" --config "$CONFIG" >/dev/null
    TEMPLATE=plain S2D_TEMPLATE=plain ;;
  *) echo "MODEL must be smollm2, toy or random, not '$MODEL'" >&2; exit 2 ;;
esac
# TASKS tasks taken in turn from the toy world's distillation sets (not the pairwise judge set).
"$PY" - "$S2D_ROOT/data/toy/tasks" "$TASKS" > "$W/tasks.jsonl" <<'PY'
import glob, itertools, sys
files = [open(f) for f in sorted(glob.glob(sys.argv[1] + "/*.distill.jsonl")) if "judge" not in f]
rows = (line for group in itertools.zip_longest(*files) for line in group if line)
sys.stdout.write("".join(itertools.islice(rows, int(sys.argv[2]))))
PY
# run_s2d NAME [VAR=VALUE ...]: one `s2d generate` run with that environment; prints "NAME<TAB>summary line".
run_s2d() {
  local name=$1; shift
  rm -f "$W/samples.jsonl"
  env "$@" "$S2D" generate --model "$M" --chat-template "$S2D_TEMPLATE" --tasks "$W/tasks.jsonl" \
    --out "$W/samples.jsonl" --method rar2 --samples "$SAMPLES" --temperature 0.7 --top-p 0.9 \
    --max-new-tokens "$MAX_NEW" --batch-size "$BATCH" --device "$DEVICE" --dtype "$DTYPE" --seed 0 2> "$W/s2d.log"
  printf '%s\t%s\n' "$name" "$(grep -E "generated tokens in" "$W/s2d.log" | tail -1)"
}
runs=("$(run_s2d s2d)")
# On CUDA also with the GPU speed switches that stay off until measured (docs/notes/gpu-speed.md).
# Its figure must be the graphs' (in a rehearsal, emulated): a run that replayed none is an error.
if [ "$GPU_RUN" = 1 ]; then
  runs+=("$(run_s2d "s2d, S2D_CUDA_GRAPHS + FUSED + FLASH_DECODE + PACKED_PREFILL" \
    S2D_CUDA_GRAPHS=1 S2D_CUDA_FUSED=1 S2D_CUDA_FLASH_DECODE=1 S2D_CUDA_PACKED_PREFILL=1)")
  grep -E "steps replayed as CUDA graphs" "$W/s2d.log" || { echo "rar2: the S2D_CUDA_GRAPHS run replayed no graph step" >&2; exit 1; }
fi
hf=$("$PY" "$HERE/hf_rar2.py" --model "$M" --tasks "$W/tasks.jsonl" --method "$S2D_ROOT/configs/methods/rar2.json" \
  --samples "$SAMPLES" --temperature 0.7 --top-p 0.9 --max-new-tokens "$MAX_NEW" --batch "$BATCH" \
  --device "$DEVICE" --dtype "$DTYPE" --cache "$CACHE" --template "$TEMPLATE")
{
  echo "# rar2 workload ($MODEL model): $TASKS tasks x $SAMPLES samples, temperature 0.7, top-p 0.9, at most $MAX_NEW new tokens per step, batch $BATCH"
  echo
  echo "$(nproc)-core $(uname -m), $DEVICE $DTYPE, $(date -u +%F), torch $("$PY" -c 'import torch;print(torch.__version__)')"
  echo
  "$PY" - "$hf" "${runs[@]}" <<'PY'
import json, re, sys
h = json.loads(sys.argv[1])
rows = []
for run in sys.argv[2:]:
    name, line = run.split("\t", 1)
    m = re.search(r"(\d+) samples written .* (\d+) generated tokens in [\d.]+ s \((\d+) tok/s\)", line)
    if not m:
        sys.exit(f"no summary line in s2d's log for {name}: {line!r}")
    # The log prints seconds to 0.1 s; its tok/s is exact to the token.
    r = {"samples": int(m[1]), "generated_tokens": int(m[2]), "tok_s": float(m[3])}
    r["seconds"] = r["generated_tokens"] / r["tok_s"]
    rows.append((name, r))
print("| engine | samples | generated tokens | seconds | tok/s |")
print("|---|---|---|---|---|")
for name, r in rows + [("HF transformers", h)]:
    print(f"| {name} | {r['samples']} | {r['generated_tokens']} | {r['seconds']:.1f} | {r['tok_s']:.0f} |")
print()
for name, r in rows:
    print(f"{name} / HF: {r['tok_s'] / h['tok_s']:.2f}x tokens per second, {h['seconds'] / r['seconds']:.2f}x less time")
PY
} | tee "$W/results.md"
