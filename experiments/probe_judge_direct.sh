#!/usr/bin/env bash
# Can the toy model learn to judge the toy world's pairs directly (System 1: one verdict, no
# reasoning) when it is shown the right verdicts? The demo's distilled judge must learn exactly
# that from BSM's verdicts. This probe gives it the labels instead, so a judge that fails here
# cannot be rescued by any System 2 method or filter.
# It draws PROBE_N labelled toy-judge questions (disjoint from the shipped distill, dev and test
# splits), renders each as the System 1 prompt that eval sends (configs/methods/system1.json,
# "judge_input") answered with the labelled verdict, distils the model on them with the demo's
# flags (configs/toy/demo.json's pipeline) and scores System 1 of the result on judge.dev.jsonl
# (200 questions; agreement and position consistency, as the demo reports them).
# Environment (all optional):
#   PROBE_MODEL (data/toy/model)  PROBE_N (1000)  PROBE_EPOCHS (4)  PROBE_LR (1e-3)
#   PROBE_OUT (runs/probe-judge)  S2D_BIN (an already built s2d binary)
# About 2 minutes on 2 cores with the defaults.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/bootstrap.sh"
source "$S2D_ROOT/scripts/lib/demo_plan.sh"
s2d_binary
mapfile -t DISTILL < <(demo_plan distill)
mapfile -t EVAL < <(demo_plan eval)
MODEL="${PROBE_MODEL:-$S2D_ROOT/data/toy/model}"
TASKS="$S2D_ROOT/data/toy/tasks"
OUT="${PROBE_OUT:-$S2D_ROOT/runs/probe-judge}"
rm -rf "$OUT" && mkdir -p "$OUT"

"$S2D" --log-level warn data toy-judge --n "${PROBE_N:-1000}" --facts 3 --seed 777 --out "$OUT/train.jsonl" \
  --exclude "$TASKS/judge.distill.jsonl" "$TASKS/judge.dev.jsonl" "$TASKS/judge.test.jsonl"
python3 - "$S2D_ROOT/configs/methods/system1.json" "$OUT/train.jsonl" "$OUT/sft.jsonl" <<'PY'
import json, sys
template = json.load(open(sys.argv[1]))["judge_input"]
with open(sys.argv[3], "w") as out:
    for line in open(sys.argv[2]):
        t = json.loads(line)
        user = template.format(question=t["question"], response_a=t["response_a"], response_b=t["response_b"])
        out.write(json.dumps({"id": t["id"], "messages": [{"role": "user", "content": user},
                                                          {"role": "assistant", "content": "[[" + t["label"] + "]]"}]}) + "\n")
PY
"$S2D" --log-level warn distill --model "$MODEL" --data "$OUT/sft.jsonl" --epochs "${PROBE_EPOCHS:-4}" \
  --lr "${PROBE_LR:-1e-3}" "${DISTILL[@]}" --out "$OUT/model" > "$OUT/distill.log" 2>&1 || { cat "$OUT/distill.log"; exit 1; }
for who in base distilled; do
  model="$MODEL"; [ "$who" = distilled ] && model="$OUT/model"
  "$S2D" --log-level warn eval --model "$model" "${EVAL[@]}" --method system1 \
    --tasks "$TASKS/judge.dev.jsonl" --out "$OUT/eval-$who" > "$OUT/eval-$who.log" 2>&1 || { cat "$OUT/eval-$who.log"; exit 1; }
  consistency="$(grep -o '"position_consistency": *[0-9.]*' "$OUT/eval-$who/summary.json" | grep -o '[0-9.]*$')"
  echo "$who System 1 on judge.dev: agreement $(s2d_summary_accuracy "$OUT/eval-$who/summary.json"), position consistency $consistency"
done
