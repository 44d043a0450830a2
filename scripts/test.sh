#!/usr/bin/env bash
# Runs every test: installs what is missing (apt packages, .venv with torch and transformers),
# builds with CMake + Ninja, then runs ctest: unit tests and the Hugging Face conformance checks,
# then replays the fuzz corpora (scripts/fuzz.sh --regress).
# Extra arguments go to ctest, e.g. scripts/test.sh -L unit
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
s2d_bootstrap
s2d_log "running tests"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" -LE sanitize "$@"  # sanitize: ctest -L sanitize
# The fuzz targets' seed corpora, once each, under ASan + UBSan (clang): a parser regression fails here.
bash "$(dirname "${BASH_SOURCE[0]}")/fuzz.sh" --regress
if [ -f "$BUILD_DIR/conformance/report.txt" ]; then
  s2d_log "conformance report ($BUILD_DIR/conformance/report.txt):"
  cat "$BUILD_DIR/conformance/report.txt"
fi
