#!/usr/bin/env bash
# `s2d serve` and the HTTP teacher, as real processes on loopback, on the toy model:
#   1. generate (CoT) and eval through --endpoint give the same greedy results and token counts
#      as the in-process backend; filter --by usc runs through it too;
#   2. the official `openai` package is a client: chat, completions, streaming, n, errors, and
#      64 concurrent clients x 10 requests (openai_client_check.py);
#   3. the server is SIGKILLed mid-generate and restarted: generate retries and finishes; and
#      with retries exhausted it fails, then a rerun resumes; both equal the in-process run, with
#      nothing lost or duplicated;
#   4. a second server on the same port exits 2 with a clear error; SIGTERM stops the first (exit 0).
# Usage: serve_http.sh S2D_BINARY MODEL_DIR PYTHON WORKDIR SOURCE_DIR
set -euo pipefail
S2D=$1 MODEL=$2 PY=$3 WORK=$4 SRC=$5
rm -rf "$WORK" && mkdir -p "$WORK"
KEY="sk-s2d-test-$$"
SERVER_PID=""
cleanup() { if [ -n "$SERVER_PID" ]; then kill -9 "$SERVER_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

# start_server PORT: sets SERVER_PID and PORT once it listens. The port lies below the ephemeral
# range (s2d_free_port), so that while the server is down in step 3 no other process takes it.
source "$SRC/scripts/lib/serve.sh"
start_server() {
  s2d_start_server "$WORK/serve" --model "$MODEL" --port "$1" --api-key "$KEY" --served-model-name toy || exit 1
  PORT=$SERVER_PORT
  URL="http://127.0.0.1:$PORT/v1"
}
# Lines in a file (0 when it does not exist yet).
lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
# same_records A B N: the two sample files hold the same N (id, sample) records with the same outputs and tokens.
same_records() {
  "$PY" - "$1" "$2" "$3" <<'PY'
import json, sys
def load(p):
    out = {}
    for line in open(p):
        r = json.loads(line)
        key = (r["id"], r["sample"])
        assert key not in out, f"duplicate record {key} in {p}"
        out[key] = ([s["output"] for s in r["steps"]], r["tokens"])
    return out
a, b, n = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
assert len(a) == n and len(b) == n, f"{sys.argv[1]}: {len(a)}, {sys.argv[2]}: {len(b)}, want {n}"
diff = [k for k in a if a[k] != b.get(k)]
assert not diff, f"{len(diff)} records differ, e.g. {diff[0]}: {a[diff[0]]} vs {b.get(diff[0])}"
print(f"  {n} records identical: {sys.argv[1]} = {sys.argv[2]}")
PY
}

head -40 "$SRC/data/toy/tasks/coin-flip.test.jsonl" > "$WORK/coin40.jsonl"
head -120 "$SRC/data/toy/tasks/coin-flip.test.jsonl" > "$WORK/coin120.jsonl"
GEN=(--log-level warn generate --method cot --max-new-tokens 96 --chunk 8)
port=$(s2d_free_port) || exit 1
start_server "$port"
export S2D_API_KEY="$KEY"

echo "== 1. the HTTP backend equals the in-process one (greedy)"
"$S2D" "${GEN[@]}" --model "$MODEL" --tasks "$WORK/coin40.jsonl" --out "$WORK/local40.jsonl"
"$S2D" "${GEN[@]}" --endpoint "$URL" --concurrency 8 --tasks "$WORK/coin40.jsonl" --out "$WORK/http40.jsonl"
same_records "$WORK/local40.jsonl" "$WORK/http40.jsonl" 40
# The server's usage.prompt_tokens_details.cached_tokens reaches generate's prefill line: the same
# tasks again, whose prompts the server's prefix cache holds, so at most 1 token a prompt is computed.
"$S2D" --log-level info generate --method cot --max-new-tokens 8 --endpoint "$URL" --tasks "$WORK/coin40.jsonl" \
  --out "$WORK/again40.jsonl" > "$WORK/again40.log" 2>&1
"$PY" - "$WORK/again40.log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"prefill: (\d+) prompt tokens .*?, (\d+) computed", text)
assert m, f"no prefill line in {sys.argv[1]}:\n{text}"
prefilled, computed = int(m[1]), int(m[2])
assert prefilled > 0 and computed <= 40, f"{computed} of {prefilled} prompt tokens computed for 40 cached prompts"
print(f"  over HTTP, prompts sent again: {computed} of {prefilled} prompt tokens computed")
PY
"$S2D" --log-level warn eval --method system1 --model "$MODEL" --tasks "$WORK/coin40.jsonl" --out "$WORK/eval-local" >/dev/null
"$S2D" --log-level warn eval --method system1 --endpoint "$URL" --tasks "$WORK/coin40.jsonl" --out "$WORK/eval-http" >/dev/null
"$PY" - "$WORK/eval-local/summary.json" "$WORK/eval-http/summary.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for k in ("accuracy", "examples", "generated_tokens_per_answer"):
    assert a[k] == b[k], f"eval {k}: in-process {a[k]} vs http {b[k]}"
print(f"  eval equal: accuracy {a['accuracy']:.3f}, {a['generated_tokens_per_answer']:.2f} tokens per answer")
PY
"$S2D" "${GEN[@]}" --endpoint "$URL" --tasks "$WORK/coin40.jsonl" --out "$WORK/sampled.jsonl" --samples 4 --temperature 0.8 --seed 1
"$S2D" --log-level warn filter --by usc --endpoint "$URL" --in "$WORK/sampled.jsonl" --out "$WORK/usc.jsonl" > "$WORK/usc.log"
grep -q "filter usc: kept" "$WORK/usc.log" && echo "  filter --by usc over HTTP: $(head -1 "$WORK/usc.log")"

echo "== 2. the openai package as a client"
"$PY" "$SRC/tests/cli/openai_client_check.py" "$URL" "$KEY"

echo "== 3a. server killed mid-generate and restarted: generate retries and finishes"
"$S2D" "${GEN[@]}" --model "$MODEL" --tasks "$WORK/coin120.jsonl" --out "$WORK/local120.jsonl"
"$S2D" "${GEN[@]}" --endpoint "$URL" --concurrency 2 --max-retries 12 --tasks "$WORK/coin120.jsonl" \
  --out "$WORK/retried.jsonl" 2> "$WORK/retried.err" &
gen_pid=$!
for _ in $(seq 1 600); do [ "$(lines "$WORK/retried.jsonl")" -ge 16 ] && break; sleep 0.05; done
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
echo "  server killed with $(lines "$WORK/retried.jsonl") of 120 records written"
sleep 1
start_server "$PORT"
wait "$gen_pid" || { cat "$WORK/retried.err"; echo "FAIL: generate did not survive the restart"; exit 1; }
grep -q "retry" "$WORK/retried.err" || { echo "FAIL: generate never retried"; exit 1; }
same_records "$WORK/local120.jsonl" "$WORK/retried.jsonl" 120

echo "== 3b. retries exhausted: generate fails, the rerun resumes"
"$S2D" "${GEN[@]}" --endpoint "$URL" --concurrency 2 --max-retries 1 --tasks "$WORK/coin120.jsonl" \
  --out "$WORK/resumed.jsonl" 2> "$WORK/resumed.err" &
gen_pid=$!
for _ in $(seq 1 600); do [ "$(lines "$WORK/resumed.jsonl")" -ge 16 ] && break; sleep 0.05; done
kill -9 "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
if wait "$gen_pid"; then echo "FAIL: generate succeeded with the server down"; exit 1; fi
grep -q "is the server up" "$WORK/resumed.err" || { cat "$WORK/resumed.err"; echo "FAIL: unclear error"; exit 1; }
echo "  generate failed as it should, $(lines "$WORK/resumed.jsonl") of 120 records kept: $(grep -o 'error.*' "$WORK/resumed.err" | head -1 | cut -c1-150)"
start_server "$PORT"
"$S2D" "${GEN[@]}" --endpoint "$URL" --concurrency 2 --tasks "$WORK/coin120.jsonl" --out "$WORK/resumed.jsonl"
same_records "$WORK/local120.jsonl" "$WORK/resumed.jsonl" 120

echo "== 4. a second server on the same port fails clearly; SIGTERM stops the first cleanly"
rc=0; timeout 30 "$S2D" --log-level warn serve --model "$MODEL" --port "$PORT" > /dev/null 2> "$WORK/second.err" || rc=$?
if [ "$rc" -ne 2 ] || ! grep -q "cannot listen" "$WORK/second.err"; then
  cat "$WORK/second.err"; echo "FAIL: second server on port $PORT exited $rc"; exit 1
fi
echo "  second server: exit 2, $(grep -o 'cannot listen.*' "$WORK/second.err")"
kill -TERM "$SERVER_PID"
rc=0; wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[ "$rc" -eq 0 ] || { echo "FAIL: serve exited $rc on SIGTERM"; exit 1; }
echo "  exit 0"
echo "PASS"
