#!/usr/bin/env python3
"""LoRA training reference made with PEFT, for s2d's trainer and adapter I/O.

OUT/lora/: model/ (random LlamaForCausalLM + tokenizer.model), adapter/ (PEFT save_pretrained,
LoRA r=4 alpha=8 on all seven projections, B randomised so both A and B get gradients),
batch.json, and reference.safetensors with the loss, grad.<peft name>, and param1.<peft name>
after one AdamW step (lr 1e-3, weight decay 0.1, clip 1.0).
  --check DIR: loads DIR (an adapter s2d wrote after that step) with PeftModel and requires its
  weights to equal param1 within 1e-4.
"""
import argparse
import json
import os
import shutil
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
from make_train_reference import batch, loss_of  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def saved_name(n):  # PEFT's saved names drop the adapter name
    return n.replace(".default", "")


def make(out, tokenizer):
    torch.manual_seed(3)
    d = os.path.join(out, "lora")
    base = LlamaForCausalLM(LlamaConfig(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=6,
                                        num_key_value_heads=2, vocab_size=400, initializer_range=0.1,
                                        max_position_embeddings=64)).float()
    base.save_pretrained(os.path.join(d, "model"))
    shutil.copy(tokenizer, os.path.join(d, "model", "tokenizer.model"))
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS, task_type="CAUSAL_LM"))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    model.save_pretrained(os.path.join(d, "adapter"))
    ids, att, lm = batch(400, torch.Generator().manual_seed(4))
    with open(os.path.join(d, "batch.json"), "w") as f:
        json.dump({"ids": ids.tolist(), "attention": att.tolist(), "loss_mask": lm.tolist()}, f)
    params = {saved_name(n): p for n, p in model.named_parameters() if p.requires_grad}
    loss = loss_of(model, ids, att, lm)
    loss.backward()
    out_t = {"loss": loss.detach().reshape(1)}
    out_t.update({"grad." + n: p.grad.detach().clone() for n, p in params.items()})
    opt = torch.optim.AdamW(list(params.values()), lr=1e-3, weight_decay=0.1, foreach=False)
    torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
    opt.step()
    out_t.update({"param1." + n: p.detach().clone() for n, p in params.items()})
    save_file({k: v.contiguous() for k, v in out_t.items()}, os.path.join(d, "reference.safetensors"))
    print(f"lora: loss {loss.item():.6f}, {len(params)} adapter tensors")


def check(out, adapter_dir):
    d = os.path.join(out, "lora")
    ref = load_file(os.path.join(d, "reference.safetensors"))
    base = LlamaForCausalLM.from_pretrained(os.path.join(d, "model"), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter_dir)
    worst = 0.0
    for n, p in model.named_parameters():
        if "lora_" in n:
            worst = max(worst, (p.detach() - ref["param1." + saved_name(n)]).abs().max().item())
    ok = worst <= 1e-4
    line = f"lora: adapter written by s2d loads in PEFT; max diff to PEFT's weights after one AdamW step {worst:.3g}"
    print(line)
    with open(os.path.join(out, "report.txt"), "a") as f:
        f.write(line + "\n")
    print(f"{int(ok)} passed, {int(not ok)} failed")
    sys.exit(0 if ok else 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer")
    ap.add_argument("--check")
    a = ap.parse_args()
    if a.check:
        check(a.out, a.check)
    else:
        make(a.out, a.tokenizer)


if __name__ == "__main__":
    main()
