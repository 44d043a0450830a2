#!/usr/bin/env bash
# Every C++ file git tracks is as clang-format formats it (.clang-format at the root), with the
# clang-format that scripts/requirements-test.txt pins, so that every machine agrees.
# Usage: clang_format.sh SOURCE_DIR PYTHON   (the clang-format beside PYTHON, in the venv)
# To format the tree: .venv/bin/clang-format -i $(git ls-files '*.cpp' '*.h')
set -euo pipefail
cd "$1"
cf="$(dirname "$2")/clang-format"
[ -x "$cf" ] || { echo "$cf is missing (scripts/test.sh installs it from scripts/requirements-test.txt)"; exit 1; }
mapfile -t files < <(git ls-files '*.cpp' '*.h')
"$cf" --dry-run -Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
