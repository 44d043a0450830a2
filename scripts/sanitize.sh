#!/usr/bin/env bash
# The unit tests under sanitizers, in a build directory of their own (not part of scripts/test.sh:
# a second full build does not fit its CI budget on 2 cores).
#   scripts/sanitize.sh [address,undefined|thread] [ctest args...]
# address,undefined (default) runs the unit label; thread runs the batcher and server tests.
# libtorch itself is not instrumented: its own allocations are not checked, and leak checking is off
# because its static state is never freed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
s2d_ensure_apt
s2d_ensure_venv
KIND=${1:-address,undefined}
shift || true
DIR="$S2D_ROOT/build-${KIND//,/-}"
TORCH_PREFIX="$("$S2D_VENV/bin/python" -c 'import torch;print(torch.utils.cmake_prefix_path)')"
[ -f "$DIR/build.ninja" ] || cmake -S "$S2D_ROOT" -B "$DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DS2D_SANITIZE="$KIND" -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DS2D_PYTHON="$S2D_VENV/bin/python" >/dev/null
s2d_log "building with -fsanitize=$KIND in $DIR"
cmake --build "$DIR" --target s2d_unit_tests s2d_model_tests s2d
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 TSAN_OPTIONS="halt_on_error=1:suppressions=$S2D_ROOT/scripts/tsan.supp"
if [ "$KIND" = thread ]; then
  ctest --test-dir "$DIR" --output-on-failure -R "RequestBatcher|Server|Serve|Http" "$@"
else
  ctest --test-dir "$DIR" --output-on-failure -L unit "$@"
fi
