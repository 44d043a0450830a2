#!/usr/bin/env bash
# The whole mission on the toy world (docs/toy-world.md): for each task, the toy model runs
# a System 2 method over unlabelled questions (generate), keeps self-consistent answers (filter),
# is fine-tuned to give them directly (distill), and System 1, System 2 and distilled System 1
# are measured on held-out questions (eval). Ends with the paper-style table and its targets in
# runs/demo/report.{md,json,svg}.
#
# Installs what is missing and builds first. Environment (all optional):
#   DEMO_TASKS   tasks to run (default: last-letter coin-flip biased-qa judge arithmetic)
#   DEMO_LIMIT   use only the first N distill and test questions of each task (quick runs)
#   DEMO_OUT     output directory (default: runs/demo)
#   TOY_MODEL    model directory (default: data/toy/model)
#   TOY_TASKS    task files directory (default: data/toy/tasks)
#   S2D_BIN      an already built s2d binary: skip installing and building (the test suite uses this)
# A rerun resumes: finished generations are kept, later stages are redone.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
s2d_binary
MODEL="${TOY_MODEL:-$S2D_ROOT/data/toy/model}"
TASKS="${TOY_TASKS:-$S2D_ROOT/data/toy/tasks}"
OUT="${DEMO_OUT:-$S2D_ROOT/runs/demo}"
DEMO_TASKS="${DEMO_TASKS:-last-letter coin-flip biased-qa judge arithmetic}"
mkdir -p "$OUT"
START=$SECONDS

# System 2 generation samples at temperature 0.7: 8 per question for arithmetic's CoT, 4 for coin
# flip's CoT, last-letter's RaR and S2A, 2 for BSM (each sample judges both orders). Evaluation is greedy, and
# distillation a short full fine-tune per task from the toy model (scripts/lib/demo_settings.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib/demo_settings.sh"
GEN=(--model "$MODEL" --batch-size 64 --temperature 0.7 --seed 0 --max-new-tokens 160)
EVAL=("${DEMO_EVAL_FLAGS[@]}")
DISTILL=(--model "$MODEL" "${DEMO_DISTILL_FLAGS[@]}" --overwrite)

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

# run_task TASK METHOD SAMPLES QUESTIONS FILTER_ARGS... : the four stages for one task, distilling
# on its first QUESTIONS unlabelled questions (empty: all of them)
run_task() {
  local task="$1" method="$2" samples="$3" questions="$4"; shift 4
  local dir="$OUT/$task" distill test
  distill="$(split "$task" distill "" "$questions")"
  test="$(split "$task" test)"
  local swap=()
  [ "$task" = judge ] && swap=(--swap)
  step "$task: generate ($method, $samples samples per question)"
  "$S2D" generate "${GEN[@]}" --method "$method" --samples "$samples" "${swap[@]}" --tasks "$distill" --out "$dir/samples.jsonl"
  step "$task: filter"
  "$S2D" filter --in "$dir/samples.jsonl" --out "$dir/sft.jsonl" "$@"
  step "$task: distill"
  demo_distill_args "$task"
  "$S2D" distill "${DISTILL[@]}" "${DEMO_TASK_DISTILL[@]}" --data "$dir/sft.jsonl" --out "$dir/distilled"
  step "$task: eval System 1, System 2 ($method) and distilled System 1"
  "$S2D" eval --model "$MODEL" "${EVAL[@]}" --method system1 --tasks "$test" --out "$dir/eval-system1"
  "$S2D" eval --model "$MODEL" "${EVAL[@]}" --method "$method" --tasks "$test" --out "$dir/eval-$method"
  "$S2D" eval --model "$dir/distilled" "${EVAL[@]}" --method system1 --role distilled --tasks "$test" --out "$dir/eval-distilled"
}

# Coin flip distils on all 1,000 unlabelled questions of its split, last-letter on the first 500,
# biased QA on the first 402 biased prompts, the judge on the first 200 (taught in both orders) and
# arithmetic (no target) on the first 100: that keeps the pipeline within 15 minutes on 2 cores.
# The CI machine is not always the same: on 2026-11-27 one ran these steps (with 1,000 last-letter
# questions and coin flip's 8 CoT samples and 32 epochs) in 14 min 29 s, another in 22 min 25 s.
# Coin flip's LoRA distillation and the judge's cost the most. Coin flip's CoT needs no 8 votes:
# it is 99% right, and the first 4 samples of 8 keep the same answers for 998 of its 1,000
# questions. Last-letter's 500 questions distil to 97.0% on dev (scripts/tune_demo_distill.sh).
for task in $DEMO_TASKS; do
  case "$task" in
    last-letter)
      run_task last-letter rar2 4 500 --by self-consistency --min-agreement 0.5
      step "last-letter: ablation, the same samples without the filter"
      "$S2D" filter --in "$OUT/last-letter/samples.jsonl" --out "$OUT/last-letter/sft-nofilter.jsonl" --by none
      demo_distill_args last-letter
      "$S2D" distill "${DISTILL[@]}" "${DEMO_TASK_DISTILL[@]}" --data "$OUT/last-letter/sft-nofilter.jsonl" \
        --out "$OUT/last-letter/distilled-nofilter"
      "$S2D" eval --model "$OUT/last-letter/distilled-nofilter" "${EVAL[@]}" --method system1 --role distilled \
        --label "distilled, no filter" --tasks "$OUT/last-letter/last-letter.test.jsonl" --out "$OUT/last-letter/eval-distilled-nofilter"
      ;;
    coin-flip) run_task coin-flip cot 4 "" --by self-consistency --min-agreement 0.5 ;;
    arithmetic) run_task arithmetic cot 8 100 --by self-consistency --min-agreement 0.5 ;;
    biased-qa)
      run_task biased-qa s2a 4 402 --by usc --model "$MODEL"
      unbiased="$(split qa test biased-qa)"
      step "biased-qa: eval on the same questions without opinions"
      "$S2D" eval --model "$MODEL" "${EVAL[@]}" --method system1 --tasks "$unbiased" --out "$OUT/biased-qa/eval-system1-unbiased"
      "$S2D" eval --model "$OUT/biased-qa/distilled" "${EVAL[@]}" --method system1 --role distilled --tasks "$unbiased" \
        --out "$OUT/biased-qa/eval-distilled-unbiased"
      ;;
    judge) run_task judge bsm 2 200 --by perturbation --both-orders ;;
    *) s2d_log "unknown task '$task' (last-letter coin-flip biased-qa judge arithmetic)"; exit 2 ;;
  esac
done

step "pipeline done in $(( (SECONDS - START) / 60 ))m$(( (SECONDS - START) % 60 ))s"
if [ "$DEMO_TASKS" = "last-letter coin-flip biased-qa judge arithmetic" ]; then
  "$S2D" eval --report "$S2D_ROOT/configs/toy/demo.json" --runs "$OUT" --out "$OUT"
  echo
  echo "The report is in $OUT/report.md, $OUT/report.json and $OUT/report.svg"
else
  echo "Partial run ($DEMO_TASKS): per-task results are in $OUT/<task>/eval-*/summary.json"
fi
