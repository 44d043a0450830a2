#!/usr/bin/env bash
# Rebuilds the toy world's model (data/toy/model/) and its task files (data/toy/tasks/) from
# random initialisation, deterministically:
#   1. s2d data toy-corpus         the training corpus and the disjoint distill/test questions
#   2. s2d model train-tokenizer   a 1000-piece BPE sentencepiece model with byte fallback
#   3. s2d model init              configs/toy/model.json with random weights (seed 0)
#   4. s2d distill                 the primer (primer.jsonl, one epoch), then the corpus (3
#                                  epochs); CUDA when present, else the CPU; fp32 either way
#   5. copy the model files and the task files into data/toy/
# About 49 minutes on the 2-core CI machine (the shipped model, 2026-11-27: primer 458 s, corpus
# 2,468 s; docs/toy-world.md). A killed run resumes from its last
# checkpoint when rerun.
# Why a primer: biased QA and the judge need the model to look a fact up in its prompt. Mixed
# into the corpus, that skill formed only as the learning rate decayed (QA System 1 at 42% after
# 6,264 steps). Learnt first, alone (40,000 questions with every fact asked and restated), it is
# there when the corpus's methods build on it: System 1 on unbiased QA went from 34% without the
# primer to 99.5-100% with it, everything else equal (docs/toy-world.md "How the rows got here").
# The learning rate is 8e-4: at 2e-3 (the first fixture's) the model never learnt the lookup
# (experiments/probe_qa_lookup.sh: chance at 2e-3 after 2,800 steps, 100% at 5e-4 after 1,600); 5e-4
# and 8e-4 both learnt it, and 8e-4's distilled biased-QA model kept its unbiased accuracy better.
# Environment (all optional): TOY_LR (8e-4), TOY_EPOCHS (3), TOY_PRIMER (1; 0 skips the primer),
# TOY_SCALE (1.0: corpus size), TOY_OUT (data/toy), TOY_WORK (build/toy-build),
# S2D_BIN (an already built s2d: skip installing and building).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
s2d_binary
WORK="${TOY_WORK:-$BUILD_DIR/toy-build}"
OUT="${TOY_OUT:-$S2D_ROOT/data/toy}"
SEED=0
mkdir -p "$WORK"

s2d_log "1/5 corpus"
"$S2D" data toy-corpus --out "$WORK/world" --seed "$SEED" --scale "${TOY_SCALE:-1.0}" --overwrite
s2d_log "2/5 tokenizer"
"$S2D" model train-tokenizer --data "$WORK/world/corpus.jsonl" --vocab-size 1000 --out "$WORK/tokenizer.model"
s2d_log "3/5 initial weights"
"$S2D" model init --model-config "$S2D_ROOT/configs/toy/model.json" --tokenizer "$WORK/tokenizer.model" \
  --chat-template llama-2 --seed "$SEED" --out "$WORK/init" --overwrite
TRAIN=(--batch-size 32 --lr "${TOY_LR:-8e-4}" --warmup-steps 100 --schedule cosine --weight-decay 0.01
  --max-seq-len 256 --precision fp32 --save-every 500 --keep-checkpoints 1 --seed "$SEED" --resume)
BASE="$WORK/init"
if [ "${TOY_PRIMER:-1}" != 0 ]; then
  s2d_log "4/5 training: the lookup primer (resumes a killed run)"
  [ -f "$WORK/primer/model.safetensors" ] ||
    "$S2D" distill --model "$WORK/init" --data "$WORK/world/primer.jsonl" --out "$WORK/primer" --epochs 1 "${TRAIN[@]}"
  BASE="$WORK/primer"
fi
s2d_log "4/5 training: the corpus (resumes a killed run)"
"$S2D" distill --model "$BASE" --data "$WORK/world/corpus.jsonl" --out "$WORK/train" \
  --epochs "${TOY_EPOCHS:-3}" --val-fraction 0.01 "${TRAIN[@]}"
s2d_log "5/5 installing the model and task files into $OUT"
rm -rf "$OUT.tmp" && mkdir -p "$OUT.tmp/model"
cp "$WORK/train/config.json" "$WORK/train/model.safetensors" "$WORK/train/tokenizer.model" \
  "$WORK/train/tokenizer_config.json" "$OUT.tmp/model/"
cp -r "$WORK/world/tasks" "$OUT.tmp/tasks"
cp "$WORK/world/manifest.json" "$OUT.tmp/corpus_manifest.json"
rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
s2d_log "toy model written to $OUT ($(du -sh "$OUT" | cut -f1))"
