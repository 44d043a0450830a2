# shellcheck shell=bash
# Sourced by scripts/test.sh and scripts/demo.sh: installs what is missing, then builds.
# Idempotent: a second run installs nothing and rebuilds only what changed.
#
# Environment overrides:
#   TORCH_SPEC   pip requirement for torch (default torch==2.13.0, the CPU wheel; e.g.
#                "torch==2.11.0 --index-url https://download.pytorch.org/whl/cu130" for CUDA)
#   S2D_VENV     venv path (default: <repo>/.venv)
#   BUILD_DIR    CMake build dir (default: <repo>/build)
#   CMAKE_BUILD_TYPE (default RelWithDebInfo)

S2D_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
S2D_VENV="${S2D_VENV:-$S2D_ROOT/.venv}"
BUILD_DIR="${BUILD_DIR:-$S2D_ROOT/build}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
S2D_APT_PACKAGES=(g++ cmake ninja-build ccache git python3 python3-venv
  libsentencepiece-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libgtest-dev libcpp-httplib-dev
  libpcre2-dev libutf8proc-dev librsvg2-bin fonts-dejavu-core shellcheck)

s2d_log() { printf '\033[1m[s2d setup]\033[0m %s\n' "$*" >&2; }

s2d_ensure_apt() {
  local missing=()
  for p in "${S2D_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  s2d_log "installing apt packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { s2d_log "need root or sudo to install: ${missing[*]}"; return 1; }
    sudo=(sudo -n)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

s2d_ensure_venv() {
  local stamp="$S2D_VENV/.s2d-installed"
  local want
  want="$(printf '%s\n' "$TORCH_SPEC"; cat "$S2D_ROOT/scripts/requirements-test.txt")"
  if [ -x "$S2D_VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if [ ! -x "$S2D_VENV/bin/python" ]; then
    s2d_log "creating venv at $S2D_VENV"
    python3 -m venv "$S2D_VENV"
  fi
  s2d_log "installing $TORCH_SPEC and the test requirements into $S2D_VENV"
  # shellcheck disable=SC2086  # TORCH_SPEC may carry pip options such as --index-url
  "$S2D_VENV/bin/pip" install -q --disable-pip-version-check $TORCH_SPEC
  "$S2D_VENV/bin/pip" install -q --disable-pip-version-check -r "$S2D_ROOT/scripts/requirements-test.txt"
  printf '%s' "$want" > "$stamp"
}

s2d_build() {
  local torch_prefix
  torch_prefix="$("$S2D_VENV/bin/python" -c 'import torch;print(torch.utils.cmake_prefix_path)')"
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    s2d_log "configuring $BUILD_DIR"
    cmake -S "$S2D_ROOT" -B "$BUILD_DIR" -G Ninja \
      -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
      -DCMAKE_PREFIX_PATH="$torch_prefix" -DS2D_PYTHON="$S2D_VENV/bin/python" >/dev/null
  fi
  s2d_log "building ${1:-everything} (ninja, $(nproc) cores)"
  cmake --build "$BUILD_DIR" ${1:+--target "$1"}
}

# s2d_bootstrap [TARGET]: install what is missing, then build TARGET (default: everything).
s2d_bootstrap() {
  s2d_ensure_apt
  s2d_ensure_venv
  s2d_build "${1:-}"
}

# Sets S2D to the s2d binary: $S2D_BIN when given (already built: install and build nothing),
# else installs what is missing and builds the s2d target.
s2d_binary() {
  # shellcheck disable=SC2034  # S2D is read by the scripts that call this
  if [ -n "${S2D_BIN:-}" ]; then
    S2D="$S2D_BIN"
  else
    s2d_bootstrap s2d
    S2D="$BUILD_DIR/src/s2d"
  fi
}

# Prints the accuracy an `s2d eval` summary.json records (e.g. 0.545), as the file writes it.
s2d_summary_accuracy() { grep -o '"accuracy": *[0-9.]*' "$1" | grep -o '[0-9.]*$'; }
