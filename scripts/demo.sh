#!/usr/bin/env bash
# The whole mission on the toy world (docs/toy-world.md): for each task, the toy model runs
# a System 2 method over unlabelled questions (generate), keeps self-consistent answers (filter),
# is fine-tuned to give them directly (distill), and System 1, System 2 and distilled System 1
# are measured on held-out questions (eval). Ends with the paper-style table and its targets in
# runs/demo/report.{md,json,svg}.
#
# What runs for each task (method, samples, questions, filter, distillation) is the plan's
# "pipeline", configs/toy/demo.json; the report reads its rows and targets from the same file.
#
# Installs what is missing and builds first. Environment (all optional):
#   DEMO_TASKS   tasks to run (default: every task of the plan)
#   DEMO_LIMIT   use only the first N distill and test questions of each task (quick runs)
#   DEMO_OUT     output directory (default: runs/demo)
#   DEMO_PLAN    the plan (default: configs/toy/demo.json)
#   TOY_MODEL    model directory (default: data/toy/model)
#   TOY_TASKS    task files directory (default: data/toy/tasks)
#   S2D_BIN      an already built s2d binary: skip installing and building (the test suite uses this)
# A rerun resumes: finished generations are kept, later stages are redone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/demo_plan.sh"
s2d_binary
MODEL="${TOY_MODEL:-$S2D_ROOT/data/toy/model}"
TASKS="${TOY_TASKS:-$S2D_ROOT/data/toy/tasks}"
OUT="${DEMO_OUT:-$S2D_ROOT/runs/demo}"
ALL_TASKS="$(demo_plan_tasks)"
DEMO_TASKS="${DEMO_TASKS:-$ALL_TASKS}"
mkdir -p "$OUT"
START=$SECONDS

mapfile -t GEN < <(demo_plan generate)
GEN=(--model "$MODEL" "${GEN[@]}")
mapfile -t EVAL < <(demo_plan eval)

# tasks file for this run: the first N questions of the shipped split (all when N is empty),
# cut further to DEMO_LIMIT when that is set
split() {  # split NAME SPLIT [RUN_DIR] [N] -> path (RUN_DIR defaults to NAME's)
  local src="$TASKS/$1.$2.jsonl" dst="$OUT/${3:-$1}/$1.$2.jsonl" n="${4:-}"
  mkdir -p "$OUT/${3:-$1}"
  if [ -n "${DEMO_LIMIT:-}" ] && { [ -z "$n" ] || [ "$DEMO_LIMIT" -lt "$n" ]; }; then n="$DEMO_LIMIT"; fi
  if [ -n "$n" ]; then head -n "$n" "$src" > "$dst"; else cp "$src" "$dst"; fi
  echo "$dst"
}

step() { s2d_log "[$(( (SECONDS - START) / 60 ))m$(( (SECONDS - START) % 60 ))s] $*"; }

# distill_and_eval TASK SFT NAME [EVAL FLAGS...]: distils the toy model on SFT as the plan says
# into TASK/NAME, and scores its System 1 on the test split into TASK/eval-NAME
distill_and_eval() {
  local task="$1" sft="$2" name="$3"; shift 3
  demo_plan_distill_args "$task"
  "$S2D" distill --model "$MODEL" "${DEMO_TASK_DISTILL[@]}" --overwrite --data "$sft" --out "$OUT/$task/$name"
  "$S2D" eval --model "$OUT/$task/$name" "${EVAL[@]}" --method system1 --role distilled "$@" \
    --tasks "$OUT/$task/$task.test.jsonl" --out "$OUT/$task/eval-$name"
}

# run_task TASK: the four stages for one task, with the plan's settings
run_task() {
  local task="$1" dir="$OUT/$1" method samples questions distill test filter swap=()
  method="$(demo_plan method "$task")"
  samples="$(demo_plan samples "$task")"
  questions="$(demo_plan questions "$task")"
  mapfile -t filter < <(demo_plan filter "$task")
  [ "${filter[1]:-}" = usc ] && filter+=(--model "$MODEL")  # USC asks the model which sample is most consistent
  [ "$method" = bsm ] && swap=(--swap)                      # the perturbation filter compares both orders
  distill="$(split "$task" distill "" "$questions")"
  test="$(split "$task" test)"
  step "$task: generate ($method, $samples samples per question)"
  "$S2D" generate "${GEN[@]}" --method "$method" --samples "$samples" "${swap[@]}" --tasks "$distill" --out "$dir/samples.jsonl"
  step "$task: filter"
  "$S2D" filter --in "$dir/samples.jsonl" --out "$dir/sft.jsonl" "${filter[@]}"
  step "$task: distill, then eval System 1, System 2 ($method) and distilled System 1"
  distill_and_eval "$task" "$dir/sft.jsonl" distilled
  "$S2D" eval --model "$MODEL" "${EVAL[@]}" --method system1 --tasks "$test" --out "$dir/eval-system1"
  "$S2D" eval --model "$MODEL" "${EVAL[@]}" --method "$method" --tasks "$test" --out "$dir/eval-$method"

  # Extras a plan entry may ask for.
  local ablation unbiased
  mapfile -t ablation < <(demo_plan ablation_filter "$task" 2>/dev/null || true)
  if [ "${#ablation[@]}" -gt 0 ]; then
    step "$task: ablation, the same samples filtered with ${ablation[*]}"
    "$S2D" filter --in "$dir/samples.jsonl" --out "$dir/sft-nofilter.jsonl" "${ablation[@]}"
    distill_and_eval "$task" "$dir/sft-nofilter.jsonl" distilled-nofilter --label "distilled, no filter"
  fi
  unbiased="$(demo_plan unbiased_test "$task" 2>/dev/null || true)"
  if [ -n "$unbiased" ]; then
    unbiased="$(split "$unbiased" test "$task")"
    step "$task: eval on the same questions without opinions"
    "$S2D" eval --model "$MODEL" "${EVAL[@]}" --method system1 --tasks "$unbiased" --out "$dir/eval-system1-unbiased"
    "$S2D" eval --model "$dir/distilled" "${EVAL[@]}" --method system1 --role distilled --tasks "$unbiased" \
      --out "$dir/eval-distilled-unbiased"
  fi
}

# The plan's question counts keep the pipeline within 15 minutes on 2 cores (docs/toy-world.md
# gives the measured times); coin flip's LoRA distillation and the judge's cost the most.
for task in $DEMO_TASKS; do
  case " $ALL_TASKS " in
    *" $task "*) run_task "$task" ;;
    *) s2d_log "unknown task '$task' (the plan's: $ALL_TASKS)"; exit 2 ;;
  esac
done

step "pipeline done in $(( (SECONDS - START) / 60 ))m$(( (SECONDS - START) % 60 ))s"
if [ "$DEMO_TASKS" = "$ALL_TASKS" ]; then
  "$S2D" eval --report "$DEMO_PLAN" --runs "$OUT" --out "$OUT"
  echo
  echo "The report is in $OUT/report.md, $OUT/report.json and $OUT/report.svg"
else
  echo "Partial run ($DEMO_TASKS): per-task results are in $OUT/<task>/eval-*/summary.json"
fi
