#!/usr/bin/env bash
# Builds s2d on a machine without a GPU against the CUDA libtorch that the GPU host runs (PyPI's
# torch==2.11.0, +cu130), with this machine's CUDA toolkit, so that the CUDA-only code (CUDA
# graphs, the fused kernels, the stream and event code) compiles and links before a GPU session
# spends its minutes on it. Nothing runs. The toolkit need not hold the libraries that libtorch_cuda
# loads (cuBLAS, cuDNN, ...): the link leaves their symbols to load time.
# Environment: TORCH_VERSION (2.11.0), CUDA_HOME (/usr/local/cuda), TORCH_CUDA_ARCH_LIST (8.0;9.0:
# A100, H100/H200). The wheel is unpacked into .cache/torch-cuda-VERSION, the build goes to
# build-cuda-check.
# Usage: scripts/gpu/compile_check.sh [--quick | ninja target ...]
#   (nothing)  the GPU scripts' programs (programs.sh), packed into build-cuda-check/gpu-bin.tar.gz,
#              which run_all.sh takes as S2D_GPU_PREBUILT instead of building
#   --quick    only the translation units whose code differs in a CUDA build (what scripts/test.sh
#              runs: a few minutes where the full build takes ten)
# Exit status 77: no nvcc, or the wheel could not be fetched (nothing was checked).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bootstrap.sh"
s2d_ensure_apt  # the C++ dependencies
s2d_ensure_venv  # pip and python
QUICK=0
if [ "${1:-}" = --quick ]; then QUICK=1; shift; fi
TORCH_VERSION=${TORCH_VERSION:-2.11.0}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC="$CUDA_HOME/bin/nvcc"
[ -x "$NVCC" ] || { echo "compile_check: no nvcc at $NVCC (set CUDA_HOME); nothing checked" >&2; exit 77; }
TORCH="$S2D_ROOT/.cache/torch-cuda-$TORCH_VERSION"
if [ ! -d "$TORCH/torch/share/cmake" ]; then
  s2d_log "fetching torch $TORCH_VERSION (the CUDA wheel, about 530 MB) into $TORCH"
  "$S2D_VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: "torch==$TORCH_VERSION" -d "$TORCH/wheel" \
    || { echo "compile_check: could not fetch torch $TORCH_VERSION; nothing checked" >&2; exit 77; }
  unzip -q -o "$TORCH"/wheel/torch-*.whl 'torch/*' -d "$TORCH"
  rm -rf "$TORCH/wheel"
fi
# libtorch's CMake config asks for NVRTC, which a trimmed toolkit may lack; the link never needs it.
NVRTC=$(find "$CUDA_HOME/lib64/" -name 'libnvrtc.so*' 2>/dev/null | head -1)
[ -n "$NVRTC" ] || NVRTC="$CUDA_HOME/lib64/libcudart.so"
B="$S2D_ROOT/build-cuda-check"
mkdir -p "$B"
TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-8.0;9.0} cmake -S "$S2D_ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DS2D_USE_CCACHE=ON \
  -DCMAKE_PREFIX_PATH="$TORCH/torch/share/cmake" -DS2D_PYTHON="$S2D_VENV/bin/python" \
  -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_HOME" -DCMAKE_CUDA_COMPILER="$NVCC" -DCUDA_nvrtc_LIBRARY="$NVRTC" \
  -DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST \
  > "$B/configure.log" 2>&1 || { tail -30 "$B/configure.log"; exit 1; }
grep "s2d:" "$B/configure.log"
grep -q "fused CUDA kernels compiled in: 1" "$B/configure.log" \
  || { echo "compile_check: configure did not enable the CUDA kernels (see $B/configure.log)" >&2; exit 1; }
if [ "$QUICK" = 1 ]; then
  # The objects of the sources that test the CUDA build's macros, and the .cu files.
  mapfile -t sources < <(grep -rlE "S2D_HAS_CUDA_BUILD|S2D_CUDA_KERNELS_BUILD" "$S2D_ROOT/src"; find "$S2D_ROOT/src" -name '*.cu')
  objects=()
  for f in "${sources[@]}"; do
    objects+=("$(awk -v src=" $f " '$1 == "build" && index($0, src) { sub(":$", "", $2); print $2; exit }' "$B/build.ninja")")
  done
  ninja -C "$B" "${objects[@]}"
  s2d_log "compiled against torch $TORCH_VERSION's CUDA build: ${sources[*]#"$S2D_ROOT/"}"
  exit 0
fi
source "$S2D_ROOT/scripts/gpu/programs.sh"
TARGETS=("$@")
[ $# -gt 0 ] || TARGETS=("${S2D_GPU_PROGRAMS[@]##*/}")
ninja -C "$B" "${TARGETS[@]}"
s2d_log "compiled and linked against torch $TORCH_VERSION's CUDA build: ${TARGETS[*]}"
if [ $# -eq 0 ]; then  # the programs as run_all.sh packs them: S2D_GPU_PREBUILT=this file skips the GPU host's build
  "$S2D_VENV/bin/python" -c "exec(open('$TORCH/torch/version.py').read()); print(__version__)" > "$B/torch-version.txt"
  # The commit the programs were built from (+ "dirty" for uncommitted changes), for the report.
  { git -C "$S2D_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown; } > "$B/source-version.txt"
  git -C "$S2D_ROOT" diff --quiet HEAD 2>/dev/null || echo dirty >> "$B/source-version.txt"
  tar czf "$B/gpu-bin.tar.gz" -C "$B" "${S2D_GPU_PROGRAMS[@]}" torch-version.txt source-version.txt
  s2d_log "packed for a GPU host: $B/gpu-bin.tar.gz ($(du -h "$B/gpu-bin.tar.gz" | cut -f1)); carry it with .deps and run" \
    "S2D_GPU_PREBUILT=build-cuda-check/gpu-bin.tar.gz bash scripts/gpu/run_all.sh"
fi
