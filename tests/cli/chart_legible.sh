#!/usr/bin/env bash
# The report chart stays legible when runs crowd together: 30 eval summaries shaped like the demo's
# (10 tasks x System 1, System 2, distilled; many between 85% and 100%, a few at the same point)
# go through `s2d eval --compare`, and chart_check.py finds no two text boxes of report.svg
# intersecting, with widths measured in the font rsvg-convert renders, and renders it to PNG.
# Usage: chart_legible.sh S2D_BINARY PYTHON SOURCE_DIR WORKDIR
set -euo pipefail
S2D=$1 PY=$2 SRC=$3 WORK=$4
rm -rf "$WORK" && mkdir -p "$WORK"
"$PY" - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
tasks = ["last-letter (2 names)", "last-letter (4 names)", "coin flip (3 people)", "toy QA, biased opinion",
         "toy QA, unbiased", "judge (position-swapped)", "two-digit sums", "one-digit sums (kept skill)",
         "multi-hop toy QA", "last-letter (4 names), student full fine-tune"]
roles = {"system1": (0.0, 4.0), "system2": (0.9, 180.0), "distilled": (0.9, 4.0)}
n = 0
for i, task in enumerate(tasks):
    for role, (acc, tok) in roles.items():
        d = os.path.join(work, f"run{n:02d}")
        os.makedirs(d)
        accuracy = min(1.0, acc + 0.01 * (i % 4)) if role != "system1" else 0.1 * (i % 3)
        tokens = tok * (1 + 0.05 * (i % 3)) if i != 3 else tok  # tasks 3 and 4 share points
        json.dump({"schema": "s2d.eval/1", "label": f"{task}: {role}", "role": role, "method": "x",
                   "accuracy": accuracy, "generated_tokens_per_answer": tokens, "prompt_tokens_per_answer": 50.0,
                   "seconds_per_example": 0.1, "examples": 200, "tasks": "t.jsonl", "tasks_fingerprint": "f"},
                  open(os.path.join(d, "summary.json"), "w"))
        n += 1
PY
"$S2D" --log-level warn eval --compare "$WORK"/run* --out "$WORK/report" >/dev/null
"$PY" "$SRC/tests/cli/chart_check.py" "$WORK/report/report.svg" "$WORK/report/report.png"
