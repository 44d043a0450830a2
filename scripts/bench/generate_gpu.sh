#!/usr/bin/env bash
# Generation on a CUDA GPU, Llama-2-7B shape (random bf16 weights made on the GPU, no checkpoint):
# 64 prompts of 128 tokens, 256 new tokens, greedy; s2d's engine against HF transformers'
# generate() with its static cache (each warmed up at the same shapes, decode ms/step reported
# apart from prefill), in one run on the same machine. Also s2d at batch 1, and s2d at
# batch 64 sampling at temperature 0.7 with top-p 0.9.
# Needs .deps (scripts/gpu/fetch_deps.sh); results in $OUT/gpu_report.txt.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../gpu/build.sh"
B="$BUILD/bench"
mkdir -p "$B"
cat > "$B/llama2-7b.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
 "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "max_position_embeddings": 4096,
 "rms_norm_eps": 1e-5, "rope_theta": 10000.0}
JSON
"$PY" "$ROOT/scripts/bench/hf_generate.py" tokenizer --out "$B/tok"
"$PY" "$ROOT/scripts/bench/hf_generate.py" prompts --out "$B/prompts.json" --n 64 --len 128 --vocab 32000
run_s2d() {
  "$BUILD/tests/bench/s2d_bench_generate" --random-config "$B/llama2-7b.json" --tokenizer "$B/tok/tokenizer.model" \
    --prompts "$B/prompts.json" --device cuda --dtype bf16 --repeat 1 "$@"
}
echo "== generate, Llama-2-7B shape, bf16, prompt 128"
s64=$(run_s2d --batch 64 --new-tokens 256) && echo "s2d batch 64: $s64" | cut -c1-160
s1=$(run_s2d --batch 1 --new-tokens 64) && echo "s2d batch 1:  $s1" | cut -c1-160
# The paper's workload: sampling at temperature 0.7 with top-p 0.9 (target: within 10% of greedy).
s64t=$(run_s2d --batch 64 --new-tokens 256 --temperature 0.7 --top-p 0.9) \
  && echo "s2d batch 64, temperature 0.7, top-p 0.9: $s64t" | cut -c1-160
h64=$("$PY" "$ROOT/scripts/bench/hf_generate.py" run --random-config "$B/llama2-7b.json" --prompts "$B/prompts.json" \
      --batch 64 --new-tokens 256 --device cuda --dtype bf16 --cache static --repeat 1) \
  && echo "HF static batch 64: $h64" | cut -c1-160
"$PY" - "$s64" "$h64" <<'PY'
import json, sys
s, h = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"batch 64: s2d {s['tok_s']:.0f} tok/s, HF static cache {h['tok_s']:.0f} tok/s, ratio {s['tok_s'] / h['tok_s']:.2f}x; "
      f"decode {s['decode_ms']:.2f} vs {h['decode_ms']:.2f} ms/step, prefill {s['prefill_s']:.3f} vs {h['prefill_s']:.3f} s")
PY
"$PY" - "$s64" "$s64t" <<'PY'
import json, sys
g, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"batch 64 sampled (0.7, top-p 0.9): {t['tok_s']:.0f} tok/s, {t['tok_s'] / g['tok_s']:.2f} of greedy")
PY
