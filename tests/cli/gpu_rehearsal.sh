#!/usr/bin/env bash
# scripts/gpu/run_all.sh rehearsed on the CPU (S2D_GPU_REHEARSAL=1: toy shapes, counts cut 16-fold),
# so that a slip in the GPU scripts fails here and not in a GPU session's few minutes. Every stage
# must exit 0, print no traceback, failure or missing figure, and give each of #23's target lines
# and the checks' verdicts. The figures themselves mean nothing on the CPU and are not checked.
# Usage: gpu_rehearsal.sh SOURCE_DIR BUILD_DIR PYTHON
set -uo pipefail
ROOT=$1 PROGRAMS=$2 PY=$3
W="$PROGRAMS/gpu-rehearsal"
rm -rf "$W"
S2D_GPU_REHEARSAL=1 S2D_REHEARSAL_PROGRAMS="$PROGRAMS" BUILD_DIR="$W" OUT="$W/out" PYTHON="$PY" \
  bash "$ROOT/scripts/gpu/run_all.sh" > "$W.log" 2>&1
report="$W/out/gpu_report.txt"
fail=0
bad() { echo "FAIL: $*"; fail=1; }
for stage in engine-cuda generate-targets train-targets generate-ablations layout-bench conformance \
             train-ablations rar2-bench distill-cli; do
  grep -qE "^-- $stage: exit 0," "$report" || bad "stage $stage: $(grep -E "^-- $stage:" "$report" || echo 'did not run')"
done
grep -nE "Traceback|no figure|DIFFER|FAILED|FAIL:" "$report" && bad "the lines above"
for line in "targets, all three switches: batch 64 " "targets, all three switches: batch 1 " \
            "targets, all three switches: batch 64 sampled" "^1.1B-full-FT, s2d: " "^7B-LoRA-r16, s2d: " \
            "^1.1B-full-FT-ragged, s2d: " "^1.1B-full-FT, s2d with S2D_CUDA_FUSED=1 and --graph on: " \
            "^7B-LoRA-r16, s2d with S2D_CUDA_FUSED=1 and --graph on: " "^1.1B-full-FT as a CUDA graph: " \
            "greedy tokens identical" "greedy and sampled tokens identical" "graph steps in every run" "Llama-3-8B shape: s2d " \
            "^rows 1: one layer's projections" "PASSED" "S2D_CUDA_GRAPHS \+ FUSED .* / HF: " \
            "resumed vs uninterrupted: max loss difference" "^--cuda-graph: .* first 10 losses within" \
            "system1 \(distilled\): accuracy"; do
  grep -qE -- "$line" "$report" || bad "no line matching '$line' in $report"
done
if [ $fail != 0 ]; then
  echo "-- the rehearsal's output ($W.log), last 60 lines:"
  tail -60 "$W.log"
fi
exit $fail
