#!/usr/bin/env bash
# Every GPU check in one command, for a CUDA machine with torch + transformers installed and the
# C++ dependencies unpacked in .deps/root (scripts/gpu/fetch_deps.sh):
#   1. builds s2d against that machine's CUDA torch;
#   2. runs the unit tests there;
#   3. conformance against HF transformers on the GPU, in fp32 (tolerance 1e-4) and bf16
#      (top-1 agreement and max logit difference reported).
# Results go to $OUT (or build-gpu/out) as gpu_report.txt.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-python3}"
DEPS="$ROOT/.deps/root/usr"
BUILD="${BUILD_DIR:-$ROOT/build-gpu}"
OUT="${OUT:-$BUILD/out}"
mkdir -p "$OUT"
REPORT="$OUT/gpu_report.txt"
export LD_LIBRARY_PATH="$DEPS/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
export TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=1
{
  echo "== machine"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PY" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
} | tee "$REPORT"

TORCH_PREFIX="$("$PY" -c 'import torch;print(torch.utils.cmake_prefix_path)')"
t0=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DS2D_USE_CCACHE=OFF \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$DEPS" -DS2D_PYTHON="$(command -v "$PY")" > "$OUT/configure.log" 2>&1 \
  || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build "$BUILD" > "$OUT/build.log" 2>&1 || { grep -E "error|FAILED" -A3 "$OUT/build.log" | head -40; exit 1; }
echo "== build: $(( $(date +%s) - t0 )) s" | tee -a "$REPORT"

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
