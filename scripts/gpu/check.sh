#!/usr/bin/env bash
# Conformance on a CUDA GPU, against PyTorch/transformers computing on the same GPU:
#   1. inference: s2d's logits and greedy tokens against HF, in fp32 (tolerance 1e-4) and bf16
#      (top-1 agreement and max logit difference reported), with and without the fused kernels;
#   2. training in fp32 on CUDA: loss, every gradient and 3 AdamW steps against the fp32 reference
#      (1e-4), and a LoRA step against PEFT; the adapter s2d saves loads in PEFT;
#   3. training in bf16 autocast on CUDA against torch.autocast on CUDA, and with bf16 weights and
#      fp32 masters (--precision bf16) against PyTorch's bf16 model with fp32 masters on CUDA
#      (relative bounds, see tests/conformance/train_conformance_test.cpp), each with and
#      without the training kernels.
# Needs .deps (scripts/gpu/fetch_deps.sh). Prints its results; logs go to $LOGS (build.sh).
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/build.sh"
C="$ROOT/tests/conformance"
status=0
run() {  # run LOG CMD...: the command's output to $OUT/LOG; a failure marks the whole check failed
  local log="$LOGS/$1"; shift
  "$@" > "$log" 2>&1 || { echo "FAILED: $* (tail of $log below)"; tail -15 "$log"; status=1; }
}
run tok-ref.log "$PY" "$C/make_tokenizer_reference.py" "$BUILD/tokenizers"  # the Qwen cases' tokenizer.json
TOKJ="$BUILD/tokenizers/llama3/tokenizer.json"
for dt in fp32 bf16; do
  echo "== inference conformance on $DEVICE, $dt"
  run "ref-$dt.log" "$PY" "$C/make_reference.py" --out "$BUILD/conf-$dt" --device "$DEVICE" --dtype "$dt" \
      --tokenizer-json "$TOKJ" || continue
  run "conf-$dt.log" "$BUILD/tests/conformance/s2d_conformance_tests" --dir "$BUILD/conf-$dt" --device "$DEVICE" --dtype "$dt"
  grep -hE "^conformance " "$LOGS/conf-$dt.log"
  echo "== inference conformance on $DEVICE, $dt, fused kernels (S2D_CUDA_FUSED=1)"
  S2D_CUDA_FUSED=1 run "conf-$dt-fused.log" "$BUILD/tests/conformance/s2d_conformance_tests" --dir "$BUILD/conf-$dt" \
    --device "$DEVICE" --dtype "$dt"
  grep -hE "^conformance " "$LOGS/conf-$dt-fused.log"
done

echo "== training conformance on $DEVICE, fp32 (reference: PyTorch fp32 on the CPU)"
T="$BUILD/train-conf-fp32"
run train-ref-fp32.log "$PY" "$C/make_train_reference.py" --out "$T" --tokenizer "$BUILD/conf-fp32/sp.model" --tokenizer-json "$TOKJ"
run lora-ref.log "$PY" "$C/make_lora_reference.py" --out "$T" --tokenizer "$BUILD/conf-fp32/sp.model" --tokenizer-json "$TOKJ"
run train-conf-fp32.log "$BUILD/tests/conformance/s2d_train_conformance_tests" --dir "$T" --device "$DEVICE" --precision fp32
run peft-check.log "$PY" "$C/make_lora_reference.py" --out "$T" --check
cat "$T/report.txt" 2>/dev/null

if [ "$DEVICE" = cuda ]; then  # s2d trains under autocast on CUDA only (the CPU's bf16 is --precision bf16)
echo "== training conformance on $DEVICE, bf16 autocast (reference: torch.autocast bf16 on $DEVICE)"
T="$BUILD/train-conf-bf16"
run train-ref-bf16.log "$PY" "$C/make_train_reference.py" --out "$T" --tokenizer "$BUILD/conf-fp32/sp.model" --tokenizer-json "$TOKJ" --device "$DEVICE" --autocast bf16
run train-conf-bf16.log "$BUILD/tests/conformance/s2d_train_conformance_tests" --dir "$T" --device "$DEVICE" --precision autocast
cat "$T/report.txt" 2>/dev/null
echo "== the same with the training kernels (S2D_CUDA_FUSED=1: silu·mul, RoPE, the residual add and RMSNorm)"
S2D_CUDA_FUSED=1 run train-conf-bf16-fused.log "$BUILD/tests/conformance/s2d_train_conformance_tests" --dir "$T" \
  --device "$DEVICE" --precision autocast
cat "$T/report.txt" 2>/dev/null
fi

echo "== training conformance on $DEVICE, bf16 weights with fp32 masters (reference: the same in PyTorch on $DEVICE)"
T="$BUILD/train-conf-bf16w"
run train-ref-bf16w.log "$PY" "$C/make_train_reference.py" --out "$T" --tokenizer "$BUILD/conf-fp32/sp.model" --tokenizer-json "$TOKJ" --device "$DEVICE" --weights bf16
run train-conf-bf16w.log "$BUILD/tests/conformance/s2d_train_conformance_tests" --dir "$T" --device "$DEVICE" --precision bf16
cat "$T/report.txt" 2>/dev/null
echo "== the same with the training kernels (S2D_CUDA_FUSED=1)"
S2D_CUDA_FUSED=1 run train-conf-bf16w-fused.log "$BUILD/tests/conformance/s2d_train_conformance_tests" --dir "$T" \
  --device "$DEVICE" --precision bf16
cat "$T/report.txt" 2>/dev/null
grep -hE "tests? ran|PASSED|FAILED" "$LOGS"/conf-*.log "$LOGS"/train-conf-*.log
exit $status
