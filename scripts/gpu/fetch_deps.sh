#!/usr/bin/env bash
# For a CUDA host that has torch, transformers, cmake, ninja and nvcc but cannot install Debian
# packages: run this on a Debian 12 machine with apt (it needs no root), then copy .deps to the
# host's checkout. It downloads the C++ dependencies and unpacks them into .deps/root, which
# scripts/gpu/build.sh puts on the compiler's and the loader's paths; and the sentencepiece wheels
# (the reference scripts train their test tokenizers with it, and transformers does not bring it)
# into .deps/wheels, for CPython 3.10 to 3.13, which build.sh unpacks where the host's python lacks it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$ROOT/.deps/debs" "$ROOT/.deps/root"
cd "$ROOT/.deps/debs"
apt-get download libsentencepiece-dev libsentencepiece0 nlohmann-json3-dev libcli11-dev \
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev \
  libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libbrotli-dev libbrotli1 zlib1g-dev
for f in *.deb; do dpkg -x "$f" "$ROOT/.deps/root"; done
SENTENCEPIECE=$(sed -n 's/^sentencepiece==//p' "$ROOT/scripts/requirements-test.txt")
PIP=(python3 -m pip)
[ -x "$ROOT/.venv/bin/python" ] && PIP=("$ROOT/.venv/bin/python" -m pip)
for v in 310 311 312 313; do
  "${PIP[@]}" download --quiet --no-deps --only-binary=:all: --implementation cp --python-version "$v" \
    --platform manylinux_2_28_x86_64 "sentencepiece==$SENTENCEPIECE" -d "$ROOT/.deps/wheels"
done
echo "unpacked into $ROOT/.deps/root; copy .deps to the GPU host's checkout"
