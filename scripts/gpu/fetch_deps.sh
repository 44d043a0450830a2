#!/usr/bin/env bash
# For a CUDA host that has torch, transformers, cmake, ninja and nvcc but cannot install Debian
# packages: run this on a Debian 12 machine with apt (it needs no root), then copy .deps to the
# host's checkout. It downloads the C++ dependencies and unpacks them into .deps/root, which
# scripts/gpu/build.sh puts on the compiler's and the loader's paths.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$ROOT/.deps/debs" "$ROOT/.deps/root"
cd "$ROOT/.deps/debs"
apt-get download libsentencepiece-dev libsentencepiece0 nlohmann-json3-dev libcli11-dev \
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev \
  libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libbrotli-dev libbrotli1 zlib1g-dev
for f in *.deb; do dpkg -x "$f" "$ROOT/.deps/root"; done
echo "unpacked into $ROOT/.deps/root; copy .deps to the GPU host's checkout"
