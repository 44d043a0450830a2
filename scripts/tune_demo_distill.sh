#!/usr/bin/env bash
# Chooses the demo's distillation epochs on the toy world's labelled dev split, so that the test
# split is only ever used to report. For each task and each epoch count, distils the toy model on
# the answers a finished demo run kept (runs/demo/TASK/sft.jsonl) and scores System 1 of the
# result on data/toy/tasks/TASK.dev.jsonl (200 questions, disjoint from corpus, distill and test).
# Biased QA is also scored on qa.dev.jsonl, the same dev questions without opinions.
# Prints one line per run and a table. Environment (all optional):
#   TUNE_TASKS   (last-letter coin-flip; or biased-qa, judge, arithmetic)   TUNE_EPOCHS (8 16 24)
#   TUNE_LR      (the plan's rate for the task; configs/toy/demo.json)
#   DEMO_OUT     the demo run to read (runs/demo)   TUNE_OUT (runs/tune)
#   S2D_BIN      an already built s2d binary
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/demo_plan.sh"
s2d_binary
MODEL="${TOY_MODEL:-$S2D_ROOT/data/toy/model}"
TASKS="${TOY_TASKS:-$S2D_ROOT/data/toy/tasks}"
RUNS="${DEMO_OUT:-$S2D_ROOT/runs/demo}"
OUT="${TUNE_OUT:-$S2D_ROOT/runs/tune}"
mkdir -p "$OUT"
mapfile -t EVAL < <(demo_plan eval)
table="task | epochs | dev accuracy"
for task in ${TUNE_TASKS:-last-letter coin-flip}; do
  [ -f "$RUNS/$task/sft.jsonl" ] || { s2d_log "no $RUNS/$task/sft.jsonl: run scripts/demo.sh first"; exit 2; }
  for ep in ${TUNE_EPOCHS:-8 16 24}; do
    run="$OUT/$task-ep$ep"
    demo_plan_distill_args "$task" "$ep" "${TUNE_LR:-}"  # the demo's flags for the task, these epochs (and lr)
    "$S2D" --log-level warn distill --model "$MODEL" --data "$RUNS/$task/sft.jsonl" "${DEMO_TASK_DISTILL[@]}" \
      --overwrite --out "$run/model" > "$run.log" 2>&1 || { cat "$run.log"; exit 1; }
    "$S2D" --log-level warn eval --model "$run/model" "${EVAL[@]}" --method system1 --role distilled \
      --tasks "$TASKS/$task.dev.jsonl" --out "$run/eval-dev" >> "$run.log" 2>&1 || { cat "$run.log"; exit 1; }
    acc="$(s2d_summary_accuracy "$run/eval-dev/summary.json")"
    if [ "$task" = biased-qa ]; then  # its second target: the same questions without opinions
      "$S2D" --log-level warn eval --model "$run/model" "${EVAL[@]}" --method system1 --role distilled \
        --tasks "$TASKS/qa.dev.jsonl" --out "$run/eval-dev-unbiased" >> "$run.log" 2>&1 || { cat "$run.log"; exit 1; }
      acc+=" (unbiased $(s2d_summary_accuracy "$run/eval-dev-unbiased/summary.json"))"
    fi
    echo "$task, $ep epochs: dev accuracy $acc"
    table+=$'\n'"$task | $ep | $acc"
  done
done
echo
echo "$table"
