# Sourced by the GPU scripts: builds s2d on a bare CUDA machine that has torch (and transformers)
# in its python and the C++ dependencies unpacked in .deps/root (scripts/gpu/fetch_deps.sh).
# Sets ROOT, PY, BUILD, OUT, REPORT; appends the machine and build time to $REPORT.
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
} | tee -a "$REPORT"
_t0=$(date +%s)
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DS2D_USE_CCACHE=OFF \
  -DCMAKE_PREFIX_PATH="$("$PY" -c 'import torch;print(torch.utils.cmake_prefix_path)');$DEPS" \
  -DS2D_PYTHON="$(command -v "$PY")" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build "$BUILD" > "$OUT/build.log" 2>&1 || { grep -E "error|FAILED" -A3 "$OUT/build.log" | head -40; exit 1; }
echo "== build: $(( $(date +%s) - _t0 )) s" | tee -a "$REPORT"
