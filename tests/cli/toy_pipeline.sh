#!/usr/bin/env bash
# The toy world end to end, reduced to fit CI: scripts/demo.sh on last-letter alone, as the demo
# runs it (500 distill and 200 test questions; generate 2-step RaR x4 -> majority filter ->
# distill -> eval, plus the no-filter ablation; about 3 minutes on 2 cores), then requires
# distilled System 1 to beat the toy model's System 1 by at least 15 points, as issue #8 asks.
# (150 distill questions were too few: distilled 13.3% against System 1's 0%.)
# Also checks that the shipped task files are exactly what `s2d data toy-corpus --seed 0` draws
# (the corpus the model was trained on excluded precisely these questions). At full scale: the
# extra distill questions are drawn after the corpus, around its questions.
# Then runs scripts/tune_demo_distill.sh on that demo run for one short setting (about 10 seconds)
# and checks that it scores the dev split.
# Usage: toy_pipeline.sh S2D_BINARY PYTHON SOURCE_DIR WORKDIR
set -euo pipefail
S2D=$1 PY=$2 SRC=$3 WORK=$4
rm -rf "$WORK" && mkdir -p "$WORK"

"$S2D" --log-level warn data toy-corpus --seed 0 --out "$WORK/world" >/dev/null
cmp <("$PY" -m json.tool "$SRC/data/toy/corpus_manifest.json") <("$PY" -m json.tool "$WORK/world/manifest.json") ||
  { echo "data/toy/corpus_manifest.json differs from toy-corpus --seed 0"; exit 1; }
for f in "$SRC"/data/toy/tasks/*.jsonl; do
  cmp "$f" "$WORK/world/tasks/$(basename "$f")" || { echo "shipped $f differs from toy-corpus --seed 0"; exit 1; }
done

S2D_BIN="$S2D" DEMO_OUT="$WORK/demo" DEMO_TASKS=last-letter bash "$SRC/scripts/demo.sh"

"$PY" - "$WORK/demo/last-letter" <<'PY'
import json, sys
d = sys.argv[1]
acc = lambda run: json.load(open(f"{d}/{run}/summary.json"))["accuracy"]
s1, s2, dist = acc("eval-system1"), acc("eval-rar2"), acc("eval-distilled")
print(f"last-letter (200 test questions): System 1 {s1:.1%}, 2-step RaR {s2:.1%}, distilled {dist:.1%}")
assert dist >= s1 + 0.15, f"distilled System 1 ({dist:.1%}) does not beat System 1 ({s1:.1%}) by 15 points"
PY

# scripts/tune_demo_distill.sh on the run above (one short setting): it must score the distilled
# model on the labelled dev split, never on test.
S2D_BIN="$S2D" DEMO_OUT="$WORK/demo" TUNE_OUT="$WORK/tune" TUNE_TASKS=last-letter TUNE_EPOCHS=2 \
  bash "$SRC/scripts/tune_demo_distill.sh" | tee "$WORK/tune.txt"
"$PY" - "$WORK/tune/last-letter-ep2/eval-dev/summary.json" "$WORK/tune.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["tasks"].endswith("/last-letter.dev.jsonl"), f"tuning scored {s['tasks']}, not the dev split"
assert s["examples"] == 200, f"tuning scored {s['examples']} dev questions, not 200"
assert f"last-letter | 2 | {s['accuracy']}" in open(sys.argv[2]).read(), "the tuning table does not show the dev accuracy"
PY
