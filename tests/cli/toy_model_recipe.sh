#!/usr/bin/env bash
# scripts/build_toy_model.sh on a 1% corpus for one short epoch, run twice into fresh
# directories: both must produce byte-identical weights, tokenizer and task files.
# Usage: toy_model_recipe.sh S2D_BINARY SOURCE_DIR WORKDIR
set -euo pipefail
S2D=$1 SRC=$2 WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
for run in a b; do
  S2D_BIN="$S2D" TOY_SCALE=0.01 TOY_EPOCHS=1 TOY_WORK="$WORK/$run-work" TOY_OUT="$WORK/$run" \
    bash "$SRC/scripts/build_toy_model.sh" 2>&1 | tail -n 3
done
for f in model/model.safetensors model/tokenizer.model model/config.json tasks/last-letter.test.jsonl; do
  cmp "$WORK/a/$f" "$WORK/b/$f" || { echo "not deterministic: $f differs between two builds"; exit 1; }
done
echo "two builds identical"
