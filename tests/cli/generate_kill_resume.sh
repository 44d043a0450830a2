#!/usr/bin/env bash
# Kills `s2d generate --method rar2` (two steps per sample) mid-run with SIGKILL, reruns it, and requires the result to equal an
# uninterrupted run: no sample lost, none duplicated, identical content (timings aside). Then
# edits one question of the tasks file, keeping its id: a rerun into the same output must refuse
# (stale samples of the old question would be kept as if they answered the new one) and leave the
# output as it was.
# Usage: generate_kill_resume.sh S2D_BINARY MODEL_DIR PYTHON WORKDIR
set -euo pipefail
S2D=$1 MODEL=$2 PY=$3 WORK=$4
rm -rf "$WORK" && mkdir -p "$WORK"
"$S2D" data coin-flip --n 200 --people 3 --seed 5 --out "$WORK/tasks.jsonl" >/dev/null
ARGS=(--log-level warn generate --method rar2 --chunk 16 --model "$MODEL" --tasks "$WORK/tasks.jsonl" --samples 2
      --temperature 0.9 --top-p 0.95 --seed 3 --max-new-tokens 24 --batch-size 8 --chat-template llama-2)
gen() { "$S2D" "${ARGS[@]}" --out "$1"; }

gen "$WORK/clean.jsonl"

"$S2D" "${ARGS[@]}" --out "$WORK/killed.jsonl" &  # not via gen(): $! must be s2d itself
pid=$!
for _ in $(seq 1 400); do  # wait until part of the work is on disk, then kill hard
  [ -f "$WORK/killed.jsonl" ] && [ "$(wc -l < "$WORK/killed.jsonl")" -ge 60 ] && break
  sleep 0.01
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
lines_at_kill=$(wc -l < "$WORK/killed.jsonl")
# Simulate the worst case too: a torn last line.
printf '{"id":"coin-flip-k3-s5-000001","sample":0,"fin' >> "$WORK/killed.jsonl"
gen "$WORK/killed.jsonl"

"$PY" - "$WORK/clean.jsonl" "$WORK/killed.jsonl" "$lines_at_kill" <<'PY'
import json, sys
def load(p):
    recs = {}
    for line in open(p):
        r = json.loads(line)
        key = (r["id"], r["sample"])
        assert key not in recs, f"duplicate record {key} in {p}"
        r.pop("seconds")
        recs[key] = r
    return recs
clean, resumed = load(sys.argv[1]), load(sys.argv[2])
assert len(clean) == 400, len(clean)
missing = set(clean) - set(resumed)
extra = set(resumed) - set(clean)
assert not missing and not extra, (missing, extra)
diff = [k for k in clean if clean[k] != resumed[k]]
assert not diff, f"{len(diff)} records differ, e.g. {diff[:3]}"
print(f"killed after {sys.argv[3]} of 400 lines; resumed run equals the clean run: 1 passed, 0 failed")
PY

sed -i '3s/"input":"/"input":"Edited. /' "$WORK/tasks.jsonl"
cp "$WORK/clean.jsonl" "$WORK/before.jsonl"
if gen "$WORK/clean.jsonl" 2> "$WORK/edited.err"; then echo "FAIL: resumed over an edited question"; exit 1; fi
grep -q "task_fingerprint of task" "$WORK/edited.err" || { echo "FAIL: unclear error:"; cat "$WORK/edited.err"; exit 1; }
cmp "$WORK/before.jsonl" "$WORK/clean.jsonl" || { echo "FAIL: the refused rerun changed its output"; exit 1; }
echo "an edited question with a kept id is refused: $(grep -o 'error.*' "$WORK/edited.err" | head -c 160)"
