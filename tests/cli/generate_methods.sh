#!/usr/bin/env bash
# Every method end to end on a small random model: record counts, step names, BSM's perturbed
# samples, resume (a rerun writes nothing), --shard + merge equal to one run, and a task missing
# a field BSM needs (exit 2).
# The model is random, so the answers are nonsense; this checks shape, not quality.
# Usage: generate_methods.sh S2D_BINARY MODEL_DIR PYTHON WORKDIR SOURCE_DIR
set -euo pipefail
S2D=$1 MODEL=$2 PY=$3 WORK=$4 SRC=$5
rm -rf "$WORK" && mkdir -p "$WORK"
"$S2D" data coin-flip --n 6 --people 2 --out "$WORK/coin.jsonl" >/dev/null
gen() { "$S2D" --log-level warn generate --model "$MODEL" --chat-template llama-2 --max-new-tokens 12 \
          --temperature 0.8 --samples 2 "$@"; }
for m in system1 cot rar1 rar2 stepback s2a; do gen --method "$m" --tasks "$WORK/coin.jsonl" --out "$WORK/$m.jsonl" --chunk 4; done
gen --method bsm --swap --tasks "$SRC/tests/data/judge.jsonl" --out "$WORK/bsm.jsonl"
gen --method bsm --merge llm --tasks "$SRC/tests/data/judge.jsonl" --out "$WORK/bsm_llm.jsonl"
before=$(cat "$WORK"/*.jsonl | wc -l)
gen --method rar2 --tasks "$WORK/coin.jsonl" --out "$WORK/rar2.jsonl"   # resume: nothing left to do
[ "$(cat "$WORK"/*.jsonl | wc -l)" = "$before" ] || { echo "rerun duplicated records"; exit 1; }
set +e
err=$(gen --method bsm --tasks "$SRC/tests/data/judge_missing_field.jsonl" --out "$WORK/bad.jsonl" 2>&1); rc=$?
set -e
if ! { [ "$rc" = 2 ] && echo "$err" | grep -q "judge_missing_field.jsonl:1: 'response_b'"; }; then
  echo "expected exit 2 naming response_b, got $rc: $err"; exit 1
fi
# Scale-out: two shards merged equal one unsharded run (timings aside).
gen --method rar2 --tasks "$WORK/coin.jsonl" --out "$WORK/shard0.part" --shard 0/2
gen --method rar2 --tasks "$WORK/coin.jsonl" --out "$WORK/shard1.part" --shard 1/2
"$S2D" --log-level warn merge "$WORK/shard0.part" "$WORK/shard1.part" --out "$WORK/merged.part" >/dev/null
"$PY" - "$WORK/rar2.jsonl" "$WORK/merged.part" <<'PY'
import json, sys
def load(p):
    out = {}
    for line in open(p):
        r = json.loads(line); r.pop("seconds")
        for s in r["steps"]: s.pop("seconds", None)
        out[(r["id"], r["sample"])] = r
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
assert a == b, "merged shards differ from the unsharded run"
PY
filt() { "$S2D" --log-level warn filter "$@" > /dev/null; }
filt --by self-consistency --in "$WORK/rar2.jsonl" --out "$WORK/sft_sc.jsonl" --min-agreement 0
filt --by perturbation --in "$WORK/bsm.jsonl" --out "$WORK/sft_pert.jsonl"
filt --by perturbation --both-orders --in "$WORK/bsm.jsonl" --out "$WORK/sft_both.jsonl"
set +e
err=$("$S2D" filter --by self-consistency --both-orders --in "$WORK/rar2.jsonl" --out "$WORK/no.jsonl" 2>&1); rc=$?
set -e
if ! { [ "$rc" = 2 ] && echo "$err" | grep -q -- "--both-orders" && [ ! -e "$WORK/no.jsonl" ]; }; then
  echo "expected exit 2 naming --both-orders, got $rc: $err"; exit 1
fi
filt --by usc --in "$WORK/s2a.jsonl" --out "$WORK/sft_usc.jsonl" --model "$MODEL" --chat-template llama-2
"$PY" - "$WORK" <<'PY'
import json, os, sys
w = sys.argv[1]
def load(name):
    return [json.loads(l) for l in open(os.path.join(w, name + ".jsonl"))]
steps = {"system1": ["answer"], "cot": ["reason"], "rar1": ["respond"], "rar2": ["rephrase", "respond"],
         "stepback": ["abstract", "respond"], "s2a": ["extract", "answer"]}
for m, names in steps.items():
    recs = load(m)
    assert len(recs) == 12, (m, len(recs))
    assert len({(r["id"], r["sample"]) for r in recs}) == 12, m
    for r in recs:
        assert [s["name"] for s in r["steps"]] == names, (m, r["steps"])
        assert r["method"] == m and r["tokens"]["generated"] == sum(s["generated_tokens"] for s in r["steps"])
        assert r["answer"] is None or isinstance(r["answer"], str)
bsm = load("bsm")
assert len(bsm) == 12 and sum(r["perturbed"] for r in bsm) == 6, len(bsm)
for r in bsm:
    assert r["steps"][0]["name"] == "branch"
    if r["answer"] is not None:
        assert r["answer"] in ("A", "B", "tie") and r["steps"][-1]["name"] == "merge"
llm = load("bsm_llm")
assert len(llm) == 6 and all(not r["perturbed"] for r in llm)
run = json.load(open(os.path.join(w, "rar2.jsonl.run.json")))
assert run["method"] == "rar2" and run["flags"]["samples"] == "2" and "source" in run["template"], run
for name, inputs in (("sft_sc", 6), ("sft_pert", 3), ("sft_usc", 6)):
    summary = json.load(open(os.path.join(w, name + ".jsonl.summary.json")))
    assert summary["inputs"] == inputs and summary["kept"] + sum(summary["dropped"].values()) == inputs, (name, summary)
    for line in open(os.path.join(w, name + ".jsonl")):
        ex = json.loads(line)
        assert [m["role"] for m in ex["messages"]] == ["user", "assistant"] and ex["messages"][1]["content"], ex
# --both-orders: the shown-order examples of the plain run, plus each one swapped with its verdict mapped
both, pert = load("sft_both"), {e["id"]: e for e in load("sft_pert")}
summary = json.load(open(os.path.join(w, "sft_both.jsonl.summary.json")))
assert summary["examples"] == len(both) == 2 * summary["kept"] and summary["kept"] == len(pert), (summary, len(pert))
swap = {"[[A]]": "[[B]]", "[[B]]": "[[A]]", "[[C]]": "[[C]]"}
for ex in both:
    if ex["id"].endswith("#swapped"):
        shown = pert[ex["id"][:-len("#swapped")]]
        assert ex["messages"][1]["content"] == swap[shown["messages"][1]["content"]], (ex, shown)
        assert ex["messages"][0]["content"] != shown["messages"][0]["content"], ex
    else:
        assert ex["messages"] == pert[ex["id"]]["messages"], ex
usc = json.load(open(os.path.join(w, "sft_usc.jsonl.summary.json")))
print(f"filters: self-consistency, perturbation, usc ({usc['kept']} of 6 kept by usc);", end=" ")
print(f"methods: {', '.join(steps)} and bsm (swap, llm merge) wrote well-formed records; 1 passed, 0 failed")
PY
