# The demo's distillation and evaluation settings, shared by scripts/demo.sh and
# scripts/tune_demo_distill.sh, so that the tuning scores models as the demo does.
# 16 epochs was chosen by scripts/tune_demo_distill.sh on the dev split (200 labelled questions
# per task, disjoint from the test split), 2026-11-26, on the CI machine, with the previous toy
# model: last-letter 54.5% at 8 epochs, 65.0% at 16, 63.5% at 24; coin flip 100% at 8, 16 and 24.
# The batch, lr and schedule were kept from earlier demos.
DEMO_DISTILL_EPOCHS="${DEMO_DISTILL_EPOCHS:-16}"
DEMO_DISTILL_LR="${DEMO_DISTILL_LR:-1e-3}"
# Biased QA's own settings, chosen on its two dev files (biased-qa.dev, 600 biased prompts, and
# qa.dev, the same 200 questions without opinions), 2026-11-26, CI machine, shipped toy model:
# at lr 1e-3 every epoch count cost unbiased accuracy (1, 2, 4, 8 epochs: 93.5%, 94.5%, 94.5%,
# 92.5% unbiased, against System 1's 100%); 2 epochs at 3e-4 gave 100% biased and 100% unbiased
# (4 at 2e-4 and 8 at 1e-4: 99.8% and 100% both).
DEMO_QA_DISTILL_EPOCHS="${DEMO_QA_DISTILL_EPOCHS:-2}"
DEMO_QA_DISTILL_LR="${DEMO_QA_DISTILL_LR:-3e-4}"
demo_distill_epochs() {  # demo_distill_epochs TASK -> the epochs the demo distils TASK for
  if [ "$1" = biased-qa ]; then echo "$DEMO_QA_DISTILL_EPOCHS"; else echo "$DEMO_DISTILL_EPOCHS"; fi
}
demo_distill_lr() {  # demo_distill_lr TASK -> its peak learning rate
  if [ "$1" = biased-qa ]; then echo "$DEMO_QA_DISTILL_LR"; else echo "$DEMO_DISTILL_LR"; fi
}
DEMO_DISTILL_FLAGS=(--batch-size 16 --warmup-steps 10 --schedule cosine --max-seq-len 256)
# Greedy evaluation.
DEMO_EVAL_FLAGS=(--batch-size 64 --max-new-tokens 160)
