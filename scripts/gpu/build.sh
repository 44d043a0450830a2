# shellcheck shell=bash
# Sourced by the GPU scripts: builds s2d on a bare CUDA machine that has torch (and transformers)
# in its python and the C++ dependencies unpacked in .deps/root (scripts/gpu/fetch_deps.sh).
# Sets ROOT, PY, BUILD, OUT, LOGS, REPORT; appends the machine and build time to $REPORT.
# Builds only the programs the GPU checks run: of the unit tests, s2d_model_tests, whose sampler
# and engine tests use CUDA where they find it (the rest run on the CPU in CI).
# S2D_GPU_BUILT=1 (set by run_all.sh after its build) skips the build in the scripts it calls.
# S2D_GPU_REHEARSAL=1 rehearses the GPU run on a machine without one: every stage on the CPU, each
# model shrunk to two narrow layers (model_config), token counts and steps cut 16-fold (scale), with
# the programs of a CPU build (S2D_REHEARSAL_PROGRAMS, default build/) linked into BUILD_DIR (default
# build/gpu-rehearsal) and this tree's .venv, and CUDA graphs emulated and audited on the CPU
# (S2D_CUDA_GRAPHS_EMULATED, capture_audit.h; the engine then also takes CUDA's default width and
# sampler, so graphs apply). It tries the scripts end to end; its figures mean nothing.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REHEARSAL="${S2D_GPU_REHEARSAL:-0}"
DEVICE=cuda
if [ "$REHEARSAL" = 1 ]; then
  DEVICE=cpu S2D_GPU_BUILT=1 BUILD_DIR="${BUILD_DIR:-$ROOT/build/gpu-rehearsal}" PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
  export S2D_CUDA_GRAPHS_EMULATED=1
fi
PY="${PYTHON:-python3}"
DEPS="$ROOT/.deps/root/usr"
BUILD="${BUILD_DIR:-$ROOT/build-gpu}"
OUT="${OUT:-$BUILD/out}"
LOGS="$OUT/logs"  # beside the report, each written as it goes: a run cut short keeps what it logged
mkdir -p "$OUT" "$LOGS"
REPORT="$OUT/gpu_report.txt"
# A bench in two parts (PART=targets, then PART=ablations, as run_all.sh runs them so that a
# budget reaches every target first): the first keeps the results the second compares against.
# keep NAME JSON; kept NAME prints what was kept (nothing if the first part did not run).
KEPT="$BUILD/bench/kept"
keep() { mkdir -p "$KEPT" && printf '%s' "$2" > "$KEPT/$1.json"; }
kept() { cat "$KEPT/$1.json" 2>/dev/null || true; }
PART="${PART:-all}"  # targets | ablations | all
# model_config FILE JSON: writes a model's config.json; in a rehearsal, two layers of width 128 with
# the vocabulary and the grouping of the heads kept (8 query heads, as many key heads as the ratio gives).
model_config() {
  "$PY" - "$1" "$2" "$REHEARSAL" <<'PY'
import json, sys
c = json.loads(sys.argv[2])
if sys.argv[3] == "1":
    kv = max(1, 8 * c.get("num_key_value_heads", c["num_attention_heads"]) // c["num_attention_heads"])
    c.update(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=kv)
json.dump(c, open(sys.argv[1], "w"))
PY
}
scale() { if [ "$REHEARSAL" = 1 ]; then echo $(( ($1 + 15) / 16 )); else echo "$1"; fi; }  # a count, cut in a rehearsal
gpu_name() { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "no GPU: $DEVICE"; }
# libtorch from the python's torch, and the CUDA runtime its wheel loads (site-packages/nvidia/...):
# programs built elsewhere (compile_check.sh) find them here, and load the same runtime as libtorch.
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
CUDART_DIR=$(find "$TORCH_LIB/../../nvidia" -name 'libcudart.so.*' -printf '%h\n' 2>/dev/null | head -1 || true)
export LD_LIBRARY_PATH="$DEPS/lib/x86_64-linux-gnu:$TORCH_LIB${CUDART_DIR:+:$CUDART_DIR}:${LD_LIBRARY_PATH:-}"
# The reference scripts train their test tokenizers with sentencepiece's python module, which
# transformers does not bring: where the host's python lacks it, unpack fetch_deps.sh's wheel.
if ! "$PY" -c 'import sentencepiece' 2>/dev/null; then
  _tag=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
  _wheel=$(find "$ROOT/.deps/wheels" -name "sentencepiece-*-$_tag-*.whl" 2>/dev/null | head -1)
  if [ -n "$_wheel" ] && "$PY" -m zipfile -e "$_wheel" "$BUILD/pylib"; then
    export PYTHONPATH="$BUILD/pylib${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "warning: this python ($_tag) has no sentencepiece and .deps/wheels none for it (scripts/gpu/fetch_deps.sh):" \
      "the HF references and the bench tokenizers will fail" >&2
  fi
fi
# Programs built elsewhere would look for the method files and data in the tree they were built from.
export S2D_CONFIG_DIR="$ROOT/configs" S2D_DATA_DIR="$ROOT/data"
export TRANSFORMERS_VERBOSITY=error HF_HUB_DISABLE_PROGRESS_BARS=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
source "$ROOT/scripts/gpu/programs.sh"
if [ "$REHEARSAL" = 1 ]; then
  for _p in "${S2D_GPU_PROGRAMS[@]}"; do
    mkdir -p "$(dirname "$BUILD/$_p")" && ln -sfn "${S2D_REHEARSAL_PROGRAMS:-$ROOT/build}/$_p" "$BUILD/$_p"
  done
fi
S2D_GPU_TARGETS="${S2D_GPU_TARGETS:-$(for p in "${S2D_GPU_PROGRAMS[@]}"; do printf '%s ' "${p##*/}"; done)}"
if [ "${S2D_GPU_BUILT:-0}" != 1 ]; then
  {
    echo "== machine"; gpu_name
    "$PY" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  } | tee -a "$REPORT"
  _t0=$(date +%s)
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DS2D_USE_CCACHE=OFF \
    -DCMAKE_PREFIX_PATH="$("$PY" -c 'import torch;print(torch.utils.cmake_prefix_path)');$DEPS" \
    -DS2D_PYTHON="$(command -v "$PY")" > "$LOGS/configure.log" 2>&1 || { tail -30 "$LOGS/configure.log"; exit 1; }
  grep "s2d:" "$LOGS/configure.log" | tee -a "$REPORT"
  # shellcheck disable=SC2086
  cmake --build "$BUILD" --target $S2D_GPU_TARGETS > "$LOGS/build.log" 2>&1 \
    || { grep -E "error|FAILED" -A3 "$LOGS/build.log" | head -40; exit 1; }
  echo "== build: $(( $(date +%s) - _t0 )) s" | tee -a "$REPORT"
fi
