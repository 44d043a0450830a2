#!/usr/bin/env bash
# Every GPU check in one command, for a CUDA machine with torch + transformers installed and the
# C++ dependencies unpacked in .deps/root (scripts/gpu/fetch_deps.sh):
#   1. builds s2d against that machine's CUDA torch;
#   2. runs the unit tests there;
#   3. conformance against HF transformers on the GPU, in fp32 (tolerance 1e-4) and bf16
#      (top-1 agreement and max logit difference reported).
# Results go to $OUT (or build-gpu/out) as gpu_report.txt.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/build.sh"

echo "== unit tests" | tee -a "$REPORT"
ctest --test-dir "$BUILD" -L unit -j 8 --output-on-failure > "$OUT/unit.log" 2>&1
grep -E "tests passed|Failed|\*\*\*" "$OUT/unit.log" | tee -a "$REPORT"

status=0
for dt in fp32 bf16; do
  echo "== conformance on cuda, $dt" | tee -a "$REPORT"
  "$PY" "$ROOT/tests/conformance/make_reference.py" --out "$BUILD/conf-$dt" --device cuda --dtype "$dt" > "$OUT/ref-$dt.log" 2>&1 \
    || { tail -20 "$OUT/ref-$dt.log"; status=1; continue; }
  "$BUILD/tests/conformance/s2d_conformance_tests" --dir "$BUILD/conf-$dt" --device cuda --dtype "$dt" > "$OUT/conf-$dt.log" 2>&1 || status=1
  grep -E "^conformance |FAILED|Failure" "$OUT/conf-$dt.log" | tee -a "$REPORT"
done
exit $status
