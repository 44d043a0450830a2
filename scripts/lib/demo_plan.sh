# shellcheck shell=bash
# Reads the demo plan, configs/toy/demo.json: its "pipeline" (what scripts/demo.sh runs, per
# task, and what scripts/tune_demo_distill.sh tunes) and, for `s2d eval --report`, its rows and
# targets. One file, so the demo, its tuning and its report cannot drift apart.
DEMO_PLAN="${DEMO_PLAN:-$S2D_ROOT/configs/toy/demo.json}"

# demo_plan KEY [TASK]: pipeline.KEY, or the KEY of TASK's entry in pipeline.tasks; a list prints
# one item per line (for mapfile), null prints nothing. Exit 2 naming the key when it is missing.
demo_plan() {
  python3 - "$DEMO_PLAN" "$@" <<'PY'
import json, sys
path, key = sys.argv[1], sys.argv[2]
pipeline = json.load(open(path))["pipeline"]
node = pipeline
if len(sys.argv) > 3:
    tasks = {t["task"]: t for t in pipeline["tasks"]}
    if sys.argv[3] not in tasks:
        sys.exit(f"{path}: no task '{sys.argv[3]}' in pipeline.tasks (tasks: {' '.join(tasks)})")
    node = tasks[sys.argv[3]]
if key not in node:
    sys.exit(f"{path}: pipeline{'.tasks[' + sys.argv[3] + ']' if len(sys.argv) > 3 else ''} has no '{key}'")
value = node[key]
for v in value if isinstance(value, list) else ([] if value is None else [value]):
    print(v)
PY
}

# demo_plan_tasks: the plan's task names, in order, on one line; exit 2 naming the task and key
# when an entry lacks one (call it in an assignment, so that set -e stops there).
demo_plan_tasks() {
  python3 - "$DEMO_PLAN" <<'PY'
import json, sys
path = sys.argv[1]
tasks = json.load(open(path))["pipeline"]["tasks"]
for t in tasks:
    for key in ("task", "method", "samples", "questions", "filter", "epochs", "lr", "distill_flags"):
        if key not in t:
            print(f"{path}: pipeline.tasks entry {t.get('task', '?')} has no '{key}'", file=sys.stderr)
            sys.exit(2)
print(" ".join(t["task"] for t in tasks))
PY
}

# demo_plan_distill_args TASK [EPOCHS] [LR]: the flags the demo distils TASK with (the shared ones,
# then the task's epochs, lr and own flags; EPOCHS and LR override the plan's), into the array
# DEMO_TASK_DISTILL.
demo_plan_distill_args() {
  local shared own
  mapfile -t shared < <(demo_plan distill)
  mapfile -t own < <(demo_plan distill_flags "$1")
  # shellcheck disable=SC2034  # read by the scripts that source this
  DEMO_TASK_DISTILL=("${shared[@]}" --epochs "${2:-$(demo_plan epochs "$1")}" --lr "${3:-$(demo_plan lr "$1")}" "${own[@]}")
}
