#!/usr/bin/env bash
# Every GPU check and benchmark in one command, on any CUDA host with torch and transformers in
# its python: build, check, benchmark.
#   bash scripts/gpu/run_all.sh
# The C++ dependencies come from the system, or from .deps/root where the host has no apt
# (scripts/gpu/fetch_deps.sh, run on a Debian 12 machine, then copy .deps over).
# Results go to $OUT (default build-gpu/out): gpu_report.txt (the summary), logs/ (a log per stage), and
# gpu-bin.tar.gz (the built programs: with S2D_GPU_PREBUILT=that file, another host skips the build).
# scripts/gpu/compile_check.sh makes that file on a machine without a GPU (against the GPU host's
# torch version), which saves the GPU host the build: carry it with .deps.
# Environment (all optional):
#   S2D_GPU_STAGES="conformance train-bench"  only the stages named
#   S2D_GPU_BUDGET=SECONDS  a wall-clock budget for the whole run: each stage then runs under its
#     own limit, cut to what is left, so that a slow stage cannot starve the rest and the report
#     always gets written (unset: no limits)
#   S2D_GPU_REHEARSAL=1  the same stages on this machine's CPU at toy shapes, with the programs of
#     build/ (see build.sh): tries the scripts before a GPU's minutes are spent on them
set -uo pipefail
START=$(date +%s)
BUDGET=${S2D_GPU_BUDGET:-}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -n "${S2D_GPU_PREBUILT:-}" ]; then
  BUILD="${BUILD_DIR:-$HERE/../../build-gpu}"; mkdir -p "$BUILD" && tar xzf "$S2D_GPU_PREBUILT" -C "$BUILD"
  export BUILD_DIR="$BUILD"
  # Programs built against another libtorch than this python's would fail to load: build them here.
  want=$(cat "$BUILD/torch-version.txt" 2>/dev/null || echo unknown)
  have=$("${PYTHON:-python3}" -c 'import torch; print(torch.__version__)')
  if [ "$want" = "$have" ]; then
    export S2D_GPU_BUILT=1
    echo "== prebuilt programs, from commit $(tr '\n' ' ' < "$BUILD/source-version.txt" 2>/dev/null), torch $want"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  else
    echo "== prebuilt programs are for torch $want, this python has $have: building here"
    unset S2D_GPU_PREBUILT
  fi
fi
source "$HERE/build.sh"
export S2D_GPU_BUILT=1 BUILD_DIR="$BUILD" OUT PYTHON="$PY"
if [ "$REHEARSAL" = 1 ]; then
  echo "== rehearsal on the CPU at toy shapes (S2D_GPU_REHEARSAL=1), programs from $BUILD: its figures mean nothing" | tee -a "$REPORT"
elif [ -z "${S2D_GPU_PREBUILT:-}" ]; then
  tar czf "$OUT/gpu-bin.tar.gz" -C "$BUILD" "${S2D_GPU_PROGRAMS[@]}"
fi
stage() {  # stage NAME SECONDS CMD...: with a budget, at most SECONDS and never past the budget
  local name=$1 limit=$2; shift 2
  if [ -n "${S2D_GPU_STAGES:-}" ] && [[ " $S2D_GPU_STAGES " != *" $name "* ]]; then return; fi
  local timer=()
  if [ -n "$BUDGET" ]; then
    local left=$(( BUDGET - ($(date +%s) - START) - 8 ))
    (( left < limit )) && limit=$left
    if (( limit < 15 )); then echo "== $name: skipped, $left s of the budget left" | tee -a "$REPORT"; return; fi
    timer=(timeout -k 5 "$limit")
    echo "== $name (limit $limit s)" | tee -a "$REPORT"
  else
    echo "== $name" | tee -a "$REPORT"
  fi
  local t0; t0=$(date +%s)
  "${timer[@]}" "$@" 2>&1 | tee "$LOGS/$name.log" | grep -vE "^(distill|eval|generate) +[0-9]+/" | tee -a "$REPORT"
  echo "-- $name: exit ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s" | tee -a "$REPORT"
}
# The device sampler's draws, the engine one step behind, the fused kernels and flash decode, on
# CUDA (the first two run on the CPU in CI; the kernels need a GPU).
stage engine-cuda 60 "$BUILD/tests/unit/s2d_model_tests" --gtest_filter='DeviceSampling.*:CutSampling*:OneStepBehind.*:FusedCuda.*:FusedAutograd*:RopeTable*:RmsNorm*:CapturedTrainStep*:FixedBatch.*:FlashDecode*:MaskedAttention*:PackingCuda.*:LlamaCuda.*'
# #23's targets first (decode, then training), then the rest in order of what it needs measured:
# the decode ablations, the weight layout, conformance, the training ablations, the end-to-end
# workload and the CLI. Under a budget the last ones are skipped first. Each bench's second part
# compares with what its first part kept.
stage generate-targets 200 env PART=targets bash "$HERE/../bench/generate_gpu.sh"
stage train-targets 300 env PART=targets bash "$HERE/../bench/train_gpu.sh"
stage generate-ablations 300 env PART=ablations bash "$HERE/../bench/generate_gpu.sh"
# s2d's [in, out] weights against HF's [out, in] under cuBLAS at decode's row counts (never compared).
LAYOUT_ROWS=(1 8 64); [ "$REHEARSAL" = 1 ] && LAYOUT_ROWS=(1)
stage layout-bench 45 "$PY" "$HERE/../bench/weight_layout_gpu.py" --device "$DEVICE" --rows "${LAYOUT_ROWS[@]}" \
  --iters "$(scale 200)"
stage conformance 150 bash "$HERE/check.sh"
stage train-ablations 150 env PART=ablations bash "$HERE/../bench/train_gpu.sh"
# The paper's workload end to end: s2d generate --method rar2, 8 samples at temperature 0.7 and
# top-p 0.9 on 256 tasks, against the same steps through HF generate(), on a random
# TinyLlama-1.1B-shaped model (no network here to fetch a real one).
mkdir -p "$BUILD/bench"
model_config "$BUILD/bench/rar2-model.json" '{"vocab_size": 300, "hidden_size": 2048, "intermediate_size": 5632,
  "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048,
  "rms_norm_eps": 1e-5}'
stage rar2-bench 240 env DEVICE="$DEVICE" MODEL=random RANDOM_CONFIG="$(cat "$BUILD/bench/rar2-model.json")" \
  TASKS="$(scale 256)" SAMPLES=8 MAX_NEW="$(scale 128)" BATCH=256 bash "$HERE/../bench/rar2.sh"
stage distill-cli 90 bash "$HERE/distill_cuda.sh" "$BUILD/src/s2d" "$BUILD/distill-cuda" "$DEVICE" "$(scale 400)"
echo "== total $(( $(date +%s) - START )) s" | tee -a "$REPORT"
