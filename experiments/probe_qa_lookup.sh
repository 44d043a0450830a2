#!/usr/bin/env bash
# Can the toy model's architecture (configs/toy/model.json) learn to look a fact up in its prompt?
# Biased QA and the judge need exactly that, and the shipped toy model cannot do it (System 1 on
# unbiased questions is at chance). This probe isolates the skill: it trains a fresh model from
# random init on lookup questions alone, then scores each checkpoint's direct answers on 200
# held-out 3-fact questions (chance: 33%).
#   Facts: Muland has the river Dre. Fistan has the mountain Mar. ... Question: Which mountain
#   does Fistan have?   ->   Fistan has the mountain Mar.
# Entities and values come from a closed set of 40 + 60 invented words, each one tokenizer piece,
# and each question's relations are distinct, so restating the question ends on a relation word
# that occurs once in the facts: an induction head's one-token match finds the value.
# Environment (all optional):
#   PROBE_FORMAT     has (above) | is ("The mountain of Fistan is Mar.", where every value follows
#                    "is" and the match must span two tokens)
#   PROBE_QUESTIONS  one | all (every fact asked, in random order, in one example: denser signal)
#   PROBE_EXAMPLES (30000)  PROBE_EPOCHS (2)  PROBE_LR (2e-3)  PROBE_OUT (runs/probe-qa)
#   S2D_BIN          an already built s2d binary
# Takes about 6 minutes per epoch on 2 cores. Prints one accuracy per checkpoint (every 400 steps).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/bootstrap.sh"
s2d_binary
OUT="${PROBE_OUT:-$S2D_ROOT/runs/probe-qa}"
rm -rf "$OUT" && mkdir -p "$OUT"

python3 - "$OUT" "${PROBE_FORMAT:-has}" "${PROBE_QUESTIONS:-one}" "${PROBE_EXAMPLES:-30000}" <<'PY'
import json, random, sys
out, fmt, questions, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rng = random.Random(0)
def word(entity):
    w = rng.choice("b d f g k l m n p r s t v z br dr gr kl st tr".split()) + rng.choice("aeiou")
    w += rng.choice(["ia", "land", "ora", "mark", "stan"] if entity else ["", "", "n", "r", "sk", "l", "m", "x"])
    return w.capitalize()
def inventory(entity, size):
    words = []
    while len(words) < size:
        w = word(entity)
        if w not in words: words.append(w)
    return words
entities, values = inventory(True, 40), inventory(False, 60)
relations = ["capital", "river", "mountain", "language", "currency"]
def fact(r, e, v): return f"{e} has the {r} {v}." if fmt == "has" else f"The {r} of {e} is {v}."
def question(r, e): return f"Which {r} does {e} have?" if fmt == "has" else f"What is the {r} of {e}?"
def example(k, asked):
    rs, es, vs = rng.sample(relations, k), rng.sample(entities, k), rng.sample(values, k)
    order = rng.sample(range(k), asked)
    user = "Facts: " + " ".join(fact(*f) for f in zip(rs, es, vs)) + " Question: " + " ".join(question(rs[i], es[i]) for i in order)
    return user, " ".join(fact(rs[i], es[i], vs[i]) for i in order), vs[order[0]]
with open(f"{out}/corpus.jsonl", "w") as f:
    for i in range(n):
        k = rng.randint(2, 5)
        user, answer, _ = example(k, k if questions == "all" and i % 2 else 1)
        f.write(json.dumps({"id": f"c{i}", "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}) + "\n")
rng = random.Random(12345)  # the test questions: another stream, 3 facts, one asked
with open(f"{out}/test.jsonl", "w") as f:
    for i in range(200):
        user, _, value = example(3, 1)
        f.write(json.dumps({"id": f"t{i}", "task": "toy-qa", "input": user, "answer": value, "aliases": [value]}) + "\n")
PY

"$S2D" --log-level warn model train-tokenizer --data "$OUT/corpus.jsonl" --vocab-size 700 --out "$OUT/tokenizer.model"
"$S2D" --log-level warn model init --model-config "$S2D_ROOT/configs/toy/model.json" --tokenizer "$OUT/tokenizer.model" \
  --chat-template llama-2 --seed 0 --out "$OUT/init" --overwrite
"$S2D" distill --model "$OUT/init" --data "$OUT/corpus.jsonl" --out "$OUT/train" --epochs "${PROBE_EPOCHS:-2}" \
  --batch-size 32 --lr "${PROBE_LR:-2e-3}" --warmup-steps 100 --schedule cosine --weight-decay 0.01 --max-seq-len 256 \
  --seed 0 --save-every 400 --keep-checkpoints 100 --overwrite > "$OUT/train.log" 2>&1 || { tail -20 "$OUT/train.log"; exit 1; }

for ck in "$OUT"/train/checkpoints/step-* "$OUT/train"; do
  model="$OUT/eval/$(basename "$ck")"
  mkdir -p "$model" && cp "$ck/config.json" "$ck/model.safetensors" "$OUT"/init/tokenizer* "$model/"
  "$S2D" --log-level warn eval --model "$model" --batch-size 64 --max-new-tokens 40 --method system1 \
    --tasks "$OUT/test.jsonl" --out "$model/eval" > /dev/null
  echo "$(basename "$ck"): $(s2d_summary_accuracy "$model/eval/summary.json") on 200 questions (chance 0.33)"
done
