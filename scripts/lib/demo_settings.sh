# shellcheck shell=bash
# The demo's distillation and evaluation settings, shared by scripts/demo.sh and
# scripts/tune_demo_distill.sh, so that the tuning scores models as the demo does.
# Epochs are chosen by scripts/tune_demo_distill.sh on the dev split (200 labelled questions per
# task, disjoint from the test split), on the CI machine. 16 was chosen with the previous toy
# model (last-letter 54.5% at 8 epochs, 65.0% at 16, 63.5% at 24; coin flip 100% at 8, 16, 24).
# The batch, lr 1e-3 and schedule were kept from earlier demos.
DEMO_DISTILL_EPOCHS="${DEMO_DISTILL_EPOCHS:-16}"  # tasks without their own count below
DEMO_DISTILL_LR="${DEMO_DISTILL_LR:-1e-3}"
# With the primer-built toy model (2026-11-26, a later session; same machine, same dev files):
# - last-letter: 8 epochs, 98.0% on dev (16 gave 98.5% on test in the first demo of this model).
# - coin flip: 32 epochs, 91.0% on dev; 16 gave 67.5%, 48 gave 56.0%, 16 at lr 2e-3 54.5%.
# - biased QA, on its two dev files (biased-qa.dev, 600 biased prompts, and qa.dev, the same 200
#   questions without opinions): at lr 1e-3 every epoch count cost unbiased accuracy (1, 2, 4, 8
#   epochs: 93.5%, 94.5%, 94.5%, 92.5% unbiased, against System 1's 100%); 2 epochs at 3e-4 gave
#   100% biased and 100% unbiased (4 at 2e-4 and 8 at 1e-4: 99.8% and 100% both).
# The judge (2026-11-27, the toy model rebuilt with off-topic false answers): 16 epochs at lr 1e-3
# on 200 questions taught in both orders, 75.5% agreement and 73.5% position consistency on dev;
# 8 and 24 epochs gave 56.5%/48.0% and 61.0%/53.0% (docs/toy-world.md "How the rows got here").
DEMO_LL_DISTILL_EPOCHS="${DEMO_LL_DISTILL_EPOCHS:-8}"
# Coin flip, rechecked 2026-11-27 (a later session, CI machine, runs/demo14's kept answers): LoRA
# at 16 epochs is 100% on dev with --seed 1 and with --seed 0 (32 epochs were chosen with an
# earlier toy model); half the steps of 32.
DEMO_CF_DISTILL_EPOCHS="${DEMO_CF_DISTILL_EPOCHS:-16}"
DEMO_QA_DISTILL_EPOCHS="${DEMO_QA_DISTILL_EPOCHS:-2}"
DEMO_QA_DISTILL_LR="${DEMO_QA_DISTILL_LR:-3e-4}"
demo_distill_epochs() {  # demo_distill_epochs TASK -> the epochs the demo distils TASK for
  case "$1" in
    last-letter) echo "$DEMO_LL_DISTILL_EPOCHS" ;;
    coin-flip) echo "$DEMO_CF_DISTILL_EPOCHS" ;;
    biased-qa) echo "$DEMO_QA_DISTILL_EPOCHS" ;;
    *) echo "$DEMO_DISTILL_EPOCHS" ;;
  esac
}
demo_distill_lr() {  # demo_distill_lr TASK -> its peak learning rate
  case "$1" in
    biased-qa) echo "$DEMO_QA_DISTILL_LR" ;;
    coin-flip) echo "$DEMO_CF_DISTILL_LR" ;;
    *) echo "$DEMO_DISTILL_LR" ;;
  esac
}
# Coin flip distils a LoRA adapter (merged into the weights), not the whole model. Its direct
# answer is the parity of 4 flips, which a full fine-tune mostly memorised instead of learning: on
# dev, 32 epochs at lr 1e-3 gave 91.0% with --seed 0 and 51.5% with --seed 1 (the data order), 52%
# with weight decay 0.1, 55.5% at lr 5e-4. Rank-16 LoRA on every projection, 32 epochs at lr 2e-3:
# 84.5% (seed 0) and 100% (seed 1); 48 epochs 88.0% and lr 4e-3 53.5% (seed 0). Seed 1 it is: chosen
# on dev like the rest (--seed sets the data order and the adapter's initial weights), and the README
# says how much the seed moves it.
DEMO_CF_DISTILL_LR="${DEMO_CF_DISTILL_LR:-2e-3}"
# The judge distils with --seed 2 (the data order), chosen on dev with the verdicts the demo kept
# (runs/demo11: 199 pairs, both orders): seeds 0, 1, 2 gave 67.0/63.0%, 76.5/87.0% and
# 95.5/94.0% dev agreement/consistency.
demo_distill_task_flags() {  # demo_distill_task_flags TASK -> further distill flags for TASK, one per line
  case "$1" in
    coin-flip) printf '%s\n' --lora-rank 16 --lora-targets q k v o gate up down --merge --seed 1 ;;
    judge) printf '%s\n' --seed 2 ;;
  esac
}
# demo_distill_args TASK: the flags the demo distils TASK with, into the array DEMO_TASK_DISTILL
demo_distill_args() {
  mapfile -t DEMO_TASK_DISTILL < <(demo_distill_task_flags "$1")
  DEMO_TASK_DISTILL=(--epochs "$(demo_distill_epochs "$1")" --lr "$(demo_distill_lr "$1")" "${DEMO_TASK_DISTILL[@]}")
}
# shellcheck disable=SC2034  # read by demo.sh and the tuning scripts that source this
DEMO_DISTILL_FLAGS=(--batch-size 16 --warmup-steps 10 --schedule cosine --max-seq-len 256)
# Greedy evaluation.
# shellcheck disable=SC2034
DEMO_EVAL_FLAGS=(--batch-size 64 --max-new-tokens 160)
