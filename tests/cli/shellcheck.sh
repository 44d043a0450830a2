#!/usr/bin/env bash
# Every shell script of the tree through shellcheck (configuration: .shellcheckrc at the root).
# Usage: shellcheck.sh SOURCE_DIR
set -euo pipefail
cd "$1"
command -v shellcheck >/dev/null || { echo "shellcheck is not installed (scripts/test.sh installs it)"; exit 1; }
mapfile -t scripts < <(find scripts tests experiments .ci -name '*.sh' -o -path .ci/run | sort)
shellcheck "${scripts[@]}"
echo "shellcheck: ${#scripts[@]} scripts clean"
