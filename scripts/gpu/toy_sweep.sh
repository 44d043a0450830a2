#!/usr/bin/env bash
# Toy-model recipes side by side on one GPU, for choosing scripts/build_toy_model.sh's settings
# in minutes instead of an hour per recipe on 2 CPU cores. Each experiment is that script with its
# own environment; they train in parallel (the toy model is launch-bound, so one GPU has room for
# several), under one deadline. Then the demo's biased-qa, judge, last-letter and coin-flip tasks
# run on each model, in parallel, under a second deadline.
#   bash scripts/gpu/toy_sweep.sh "NAME:VAR=VALUE,VAR=VALUE" ...
#   e.g. bash scripts/gpu/toy_sweep.sh "primer:TOY_PRIMER=1" "none:TOY_PRIMER=0"
# On the GPU machine with .deps carried (scripts/gpu/fetch_deps.sh). SWEEP_TRAIN_LIMIT (240 s) and
# SWEEP_DEMO_LIMIT (150 s) are the deadlines; SWEEP_DEMO_TASKS picks the demo's tasks, in order; SWEEP_DEMO_ONLY=1 reruns the demos on the models
# a previous sweep trained. A model whose training missed the deadline is
# scored at its newest checkpoint, and the table says so.
# Results: $OUT/toy_sweep.txt (the table), $OUT/toy-NAME.tar.gz (the model, the build and demo
# logs, every eval summary).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
S2D_GPU_TARGETS="${S2D_GPU_TARGETS:-s2d}" source "$HERE/build.sh"
S2D="$BUILD/src/s2d"
W="$BUILD/toy-sweep"
TABLE="$OUT/toy_sweep.txt"
[ "${SWEEP_DEMO_ONLY:-0}" = 1 ] || rm -rf "$W"  # SWEEP_DEMO_ONLY=1: score the models trained before
mkdir -p "$W"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"  # several processes share the machine's cores
t0=$(date +%s)

names=()
declare -A vars_of  # NAME -> its VAR=VALUE list, for the training and the demo alike
for spec in "$@"; do
  name=${spec%%:*} vars_of[${spec%%:*}]=${spec#*:}
  names+=("$name")
  mkdir -p "$W/$name"
  [ "${SWEEP_DEMO_ONLY:-0}" = 1 ] && continue
  IFS=, read -r -a assigns <<< "${vars_of[$name]}"
  env "${assigns[@]}" S2D_BIN="$S2D" TOY_WORK="$W/$name/work" TOY_OUT="$W/$name/out" \
    timeout -k 5 "${SWEEP_TRAIN_LIMIT:-240}" bash "$HERE/../build_toy_model.sh" > "$W/$name/build.log" 2>&1 &
done
wait
echo "== trained in $(( $(date +%s) - t0 )) s" | tee -a "$TABLE"

# model_of NAME: the installed model, or else the newest checkpoint (with the tokenizer it lacks)
model_of() {
  local w="$W/$1/work" ck
  if [ -f "$W/$1/out/model/model.safetensors" ]; then echo "$W/$1/out/model"; return; fi
  ck=$(find "$w/train/checkpoints" -maxdepth 1 -name 'step-*' 2>/dev/null | sort -V | tail -1)
  [ -n "$ck" ] || ck=$(find "$w/primer/checkpoints" -maxdepth 1 -name 'step-*' 2>/dev/null | sort -V | tail -1)
  [ -n "$ck" ] || return 1
  mkdir -p "$W/$1/partial" && cp "$ck"/config.json "$ck"/model.safetensors "$w"/init/tokenizer* "$W/$1/partial/"
  echo "$W/$1/partial"
}

t0=$(date +%s)
for name in "${names[@]}"; do
  rm -rf "$W/$name/demo" "$W/$name/partial"
  model=$(model_of "$name") || { echo "$name: no checkpoint" | tee -a "$TABLE"; continue; }
  echo "$name: $(basename "$(dirname "$model")")/$(basename "$model"), $(grep -o 'distill [0-9]*/[0-9]* steps' "$W/$name/build.log" | tail -1)" | tee -a "$TABLE"
  IFS=, read -r -a assigns <<< "${vars_of[$name]}"
  # one demo.sh per task, so that a task that fails (nothing survives its filter) skips only itself;
  # the inner bash expands $SWEEP_DEMO_TASKS, hence the single quotes
  # shellcheck disable=SC2016
  env "${assigns[@]}" TOY_MODEL="$model" TOY_TASKS="$W/$name/work/world/tasks" DEMO_OUT="$W/$name/demo" S2D_BIN="$S2D" \
    SWEEP_DEMO_TASKS="${SWEEP_DEMO_TASKS:-biased-qa judge last-letter coin-flip}" timeout -k 5 "${SWEEP_DEMO_LIMIT:-150}" bash -c 'for t in $SWEEP_DEMO_TASKS; do
      DEMO_TASKS=$t bash "$0" || echo "demo $t: failed"; done' "$HERE/../demo.sh" > "$W/$name/demo.log" 2>&1 &
done
wait
echo "== demos in $(( $(date +%s) - t0 )) s" | tee -a "$TABLE"

for name in "${names[@]}"; do
  for s in "$W/$name"/demo/*/eval-*/summary.json; do
    [ -f "$s" ] || continue
    echo "$name $(basename "$(dirname "$(dirname "$s")")") $(basename "$(dirname "$s")"): $(tr -d ' \n' < "$s" |
      grep -oE '"(accuracy|position_consistency|generated_tokens_per_answer)":[0-9.]+' | tr '\n' ' ')"
  done | tee -a "$TABLE"
  mapfile -t extras < <(cd "$W/$name" && ls -d demo/*/eval-*/summary.json work/train/metrics.jsonl work/primer/metrics.jsonl 2>/dev/null)
  model=$(model_of "$name") && tar czf "$OUT/toy-$name.tar.gz" -C "$W/$name" "$(realpath --relative-to="$W/$name" "$model")" \
    build.log demo.log "${extras[@]}"
done
