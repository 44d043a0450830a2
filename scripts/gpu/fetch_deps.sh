#!/usr/bin/env bash
# Run here (Debian, with network to the Debian mirror): downloads the C++ dependencies that a
# bare GPU machine lacks and unpacks them into .deps/root, which scripts/gpu/check.sh uses.
# The GPU machine has torch, transformers, cmake, ninja and nvcc but no apt network.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
mkdir -p "$ROOT/.deps/debs" "$ROOT/.deps/root"
cd "$ROOT/.deps/debs"
apt-get download libsentencepiece-dev libsentencepiece0 nlohmann-json3-dev libcli11-dev \
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libgtest-dev \
  libcpp-httplib-dev libcpp-httplib0.11 libssl-dev libbrotli-dev libbrotli1 zlib1g-dev
for f in *.deb; do dpkg -x "$f" "$ROOT/.deps/root"; done
echo "unpacked into $ROOT/.deps/root; pass .deps in the device run's carry"
