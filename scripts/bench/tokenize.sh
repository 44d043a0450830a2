#!/usr/bin/env bash
# Encode throughput: s2d's tokenizer.json reader against the Python `tokenizers` package (Rust) in
# the same run, on the tokenizers and the 1 MB corpus of tests/conformance/make_tokenizer_reference.py.
# Both sides encode the corpus line by line on one thread (tokenizers: Tokenizer.encode in a loop,
# RAYON_NUM_THREADS=1), best of 3 rounds; encode_batch on all cores is reported too.
# Writes build/bench/tokenize/results.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/bootstrap.sh"
s2d_bootstrap s2d_bench_tokenize >/dev/null
PY="$S2D_VENV/bin/python"
W="$BUILD_DIR/bench/tokenize"
mkdir -p "$W"
"$PY" "$S2D_ROOT/tests/conformance/make_tokenizer_reference.py" "$W/ref" >/dev/null
{
  echo "# tokenize benchmark: $(nproc)-core $(uname -m), $(date -u +%F), tokenizers $("$PY" -c 'import tokenizers;print(tokenizers.__version__)')"
  echo
  echo "| tokenizer | s2d MB/s | tokenizers encode MB/s (1 thread) | s2d / tokenizers | tokenizers encode_batch MB/s ($(nproc) threads) |"
  echo "|---|---|---|---|---|"
  for name in gpt2 llama3 metaspace legacy; do
    s2d=$("$BUILD_DIR/tests/bench/s2d_bench_tokenize" --tokenizer "$W/ref/$name/tokenizer.json" --corpus "$W/ref/corpus.jsonl")
    ref=$(RAYON_NUM_THREADS=1 "$PY" - "$W/ref/$name/tokenizer.json" "$W/ref/corpus.jsonl" <<'PY'
import json, sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
lines = [json.loads(l)["text"] for l in open(sys.argv[2])]
n = sum(len(l.encode()) for l in lines)
best = min((lambda t0: (sum(len(tok.encode(l, add_special_tokens=False).ids) for l in lines), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
print(json.dumps({"mb_s": n / best / 1e6}))
PY
)
    batch=$("$PY" - "$W/ref/$name/tokenizer.json" "$W/ref/corpus.jsonl" <<'PY'
import json, sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
lines = [json.loads(l)["text"] for l in open(sys.argv[2])]
n = sum(len(l.encode()) for l in lines)
best = min((lambda t0: (tok.encode_batch(lines, add_special_tokens=False), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(3))
print(json.dumps({"mb_s": n / best / 1e6}))
PY
)
    "$PY" - "$name" "$s2d" "$ref" "$batch" <<'PY'
import json, sys
name, s, r, b = sys.argv[1], *(json.loads(a) for a in sys.argv[2:5])
print(f"| {name} | {s['mb_s']:.2f} | {r['mb_s']:.2f} | {s['mb_s'] / r['mb_s']:.2f}x | {b['mb_s']:.2f} |")
PY
  done
} | tee "$W/results.md"
