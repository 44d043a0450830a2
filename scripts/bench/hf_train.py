#!/usr/bin/env python3
"""PyTorch/transformers side of scripts/bench/train.sh.

  batches --out FILE --n N --batch B --len T --vocab V [--ragged]
      random token batches (shared by both); --ragged: each row's length uniform in [T/4, T]
      (SFT examples of varied length), else every row T tokens
  run (--model DIR | --random-config FILE) --batches FILE --steps N [--device cpu] [--lora-rank R]
      [--answer-tokens K]
      the equivalent training loop: same loss (mean next-token cross-entropy; with K, over each
      row's last K tokens only, the rest labelled -100 as HF's SFT trainers do), torch.optim.AdamW,
      clip 1.0, fp32 master weights (bf16 autocast on CUDA), LoRA via PEFT; prints one JSON line.
      Rows of unequal length are right-padded to the longest with an attention mask (the padding
      labelled -100), as HF's DataCollatorForSeq2Seq does; tok/s counts real tokens
"""
import argparse
import json
import random
import time

import torch


def batches(a):
    rng = random.Random(0)
    def length():
        return rng.randint(a.len // 4, a.len) if a.ragged else a.len
    out = [[[rng.randrange(3, a.vocab) for _ in range(length())] for _ in range(a.batch)] for _ in range(a.n)]
    json.dump({"batches": out}, open(a.out, "w"))


def run(a):
    from transformers import LlamaConfig, LlamaForCausalLM
    cuda = a.device.startswith("cuda")
    if a.random_config:
        with torch.device(a.device):
            model = LlamaForCausalLM(LlamaConfig(**json.load(open(a.random_config)))).float().train()
    else:
        model = LlamaForCausalLM.from_pretrained(a.model, dtype=torch.float32).to(a.device).train()
    if a.lora_rank > 0:
        from peft import LoraConfig, get_peft_model
        if cuda:  # the frozen base in bf16 (PEFT keeps the adapter in fp32), as s2d does
            model = model.to(torch.bfloat16)
        model = get_peft_model(model, LoraConfig(r=a.lora_rank, lora_alpha=2 * a.lora_rank,
                                                 target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    def padded(rows):  # ids, attention mask (None without padding), labels [B, T], real tokens
        T = max(len(r) for r in rows)
        ids = torch.tensor([r + [0] * (T - len(r)) for r in rows], device=a.device)
        att = torch.tensor([[1] * len(r) + [0] * (T - len(r)) for r in rows], device=a.device)
        labels = ids.masked_fill(att == 0, -100)
        if a.answer_tokens > 0:  # the SFT shape: only each row's last K tokens count (HF's -100)
            for b, r in enumerate(rows):
                labels[b, : len(r) - a.answer_tokens] = -100
        real = sum(len(r) for r in rows)
        return ids, (att if real < ids.numel() else None), labels, real
    data = [padded(b) for b in json.load(open(a.batches))["batches"]]
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.dim() > 1]
    rest = [p for p in trainable if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay}, {"params": rest, "weight_decay": 0.0}], lr=1e-4, weight_decay=0.0)

    def one(batch):
        ids, att, labels, _ = batch
        # fp32 master weights; on CUDA the forward and backward run under bf16 autocast, as s2d's do
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            logits = model(input_ids=ids, attention_mask=att).logits.float()
        labels = labels[:, 1:]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                 ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        opt.zero_grad()
        return loss.detach()

    one(data[0]).item()  # warmup
    queued, tokens = [], 0
    t0 = time.perf_counter()
    for s in range(a.steps):  # the losses read after the steps are queued, as HF's Trainer reads them at logging steps
        batch = data[s % len(data)]
        queued.append(one(batch))
        tokens += batch[3]
    losses = [l.item() for l in queued]
    if cuda:
        torch.cuda.synchronize()  # the last optimizer step, which no loss waits for
    sec = time.perf_counter() - t0
    out = {"engine": "torch", "tok_s": tokens / sec, "seconds": sec, "losses": losses}
    if cuda:
        out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        # the MFU s2d reports: 6N (full) or 4N (LoRA) FLOPs per token, N without the embedding
        base = model.get_base_model() if a.lora_rank > 0 else model
        n = sum(p.numel() for name, p in base.named_parameters() if "lora_" not in name and "embed_tokens" not in name)
        out["mfu"] = out["tok_s"] * (4 if a.lora_rank > 0 else 6) * n / 989e12
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("batches")
    b.add_argument("--out", required=True)
    b.add_argument("--n", type=int, default=4)
    b.add_argument("--batch", type=int, default=16)
    b.add_argument("--len", type=int, default=128)
    b.add_argument("--vocab", type=int, default=2000)
    b.add_argument("--ragged", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("--model")
    r.add_argument("--random-config")
    r.add_argument("--device", default="cpu")
    r.add_argument("--lora-rank", type=int, default=0)
    r.add_argument("--batches", required=True)
    r.add_argument("--steps", type=int, default=5)
    r.add_argument("--answer-tokens", type=int, default=0)
    a = ap.parse_args()
    {"batches": batches, "run": run}[a.cmd](a)


if __name__ == "__main__":
    main()
