#!/usr/bin/env bash
# Every GPU check and benchmark in one command, for a device lease (15 minutes in all, so one
# call does everything): build, then each stage under its own time limit, cut to what is left
# of S2D_GPU_BUDGET seconds, so that a slow stage cannot starve the rest and the report always
# comes back. On the GPU machine, with .deps carried (scripts/gpu/fetch_deps.sh):
#   bash scripts/gpu/run_all.sh
# Results: $OUT/gpu_report.txt (the summary), $OUT/logs.tar.gz, $OUT/gpu-bin.tar.gz (the built
# programs: with S2D_GPU_PREBUILT=that file, a rerun on a fresh machine skips the build).
# S2D_GPU_STAGES="conformance train-bench" runs only the stages named.
set -uo pipefail
START=$(date +%s)
BUDGET=${S2D_GPU_BUDGET:-290}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -n "${S2D_GPU_PREBUILT:-}" ]; then
  BUILD="${BUILD_DIR:-$HERE/../../build-gpu}"; mkdir -p "$BUILD" && tar xzf "$S2D_GPU_PREBUILT" -C "$BUILD"
  export S2D_GPU_BUILT=1 BUILD_DIR="$BUILD"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
source "$HERE/build.sh"
export S2D_GPU_BUILT=1 BUILD_DIR="$BUILD" OUT PYTHON="$PY"
[ -n "${S2D_GPU_PREBUILT:-}" ] || tar czf "$OUT/gpu-bin.tar.gz" -C "$BUILD" src/s2d tests/conformance/s2d_conformance_tests \
  tests/conformance/s2d_train_conformance_tests tests/bench/s2d_bench_train tests/bench/s2d_bench_generate
stage() {  # stage NAME SECONDS CMD...: at most SECONDS, and never past the budget
  local name=$1 limit=$2; shift 2
  # S2D_GPU_STAGES="conformance train-bench" runs only those (a rerun after a fix)
  if [ -n "${S2D_GPU_STAGES:-}" ] && [[ " $S2D_GPU_STAGES " != *" $name "* ]]; then return; fi
  local left=$(( BUDGET - ($(date +%s) - START) - 8 ))
  (( left < limit )) && limit=$left
  if (( limit < 15 )); then echo "== $name: skipped, $left s of the budget left" | tee -a "$REPORT"; return; fi
  echo "== $name (limit $limit s)" | tee -a "$REPORT"
  local t0; t0=$(date +%s)
  timeout -k 5 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log" | grep -vE "^(distill|eval|generate) +[0-9]+/" | tee -a "$REPORT"
  echo "-- $name: exit ${PIPESTATUS[0]}, $(( $(date +%s) - t0 )) s" | tee -a "$REPORT"
}
stage conformance 150 bash "$HERE/check.sh"
stage train-bench 150 bash "$HERE/../bench/train_gpu.sh"
stage distill-cli 90 bash "$HERE/distill_cuda.sh" "$BUILD/src/s2d" "$BUILD/distill-cuda"
stage generate-bench 90 bash "$HERE/../bench/generate_gpu.sh"
echo "== total $(( $(date +%s) - START )) s" | tee -a "$REPORT"
tar czf "$OUT/logs.tar.gz" -C "$LOGS" .
