#!/usr/bin/env bash
# Runs every test: installs what is missing (apt packages, .venv with torch and transformers),
# builds with CMake + Ninja, then runs ctest: unit tests and the Hugging Face conformance checks,
# then replays the fuzz corpora (scripts/fuzz.sh --regress) and compiles the CUDA-only code
# against the GPU host's libtorch (scripts/gpu/compile_check.sh --quick; skipped without nvcc).
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
s2d_bootstrap
s2d_log "running tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" -LE sanitize "$@"  # sanitize: ctest -L sanitize
# The fuzz targets' seed corpora, once each, under ASan + UBSan (clang): a parser regression fails here.
bash "$(dirname "${BASH_SOURCE[0]}")/fuzz.sh" --regress
# The code only a CUDA build compiles, against the GPU host's libtorch (no GPU needed, only nvcc).
cuda_rc=0
bash "$(dirname "${BASH_SOURCE[0]}")/gpu/compile_check.sh" --quick || cuda_rc=$?
case $cuda_rc in
  0) ;;
  77) s2d_log "CUDA compile check skipped: no nvcc here, or torch's CUDA wheel could not be fetched" ;;
  *) exit "$cuda_rc" ;;
esac
if [ -f "$BUILD_DIR/conformance/report.txt" ]; then
  s2d_log "conformance report ($BUILD_DIR/conformance/report.txt):"
  cat "$BUILD_DIR/conformance/report.txt"
fi
