#!/usr/bin/env python3
"""LoRA training reference made with PEFT, for s2d's trainer and adapter I/O.

For each case (lora: a Llama; lora_qwen3: a Qwen3 with biases and q/k norms) OUT/<case>/ gets
model/ (random model + its tokenizer), adapter/ (PEFT save_pretrained, LoRA r=4 alpha=8 on all
seven projections, B randomised so both A and B get gradients), batch.json, and
reference.safetensors with the loss, grad.<peft name>, and param1.<peft name> after one AdamW
step (lr 1e-3, weight decay 0.1, clip 1.0).
  --check: loads each OUT/<case>/s2d_adapter (what s2d wrote after that step) with PeftModel and
  requires its weights to equal param1 within 1e-4.
"""
import argparse
import json
import os
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(__file__))
from make_train_reference import batch, build, loss_of  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
CASES = {
    "lora": dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=6,
                 num_key_value_heads=2, vocab_size=400),
    "lora_qwen3": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=24, attention_bias=True, arch="qwen3"),
}


def saved_name(n):  # PEFT's saved names drop the adapter name
    return n.replace(".default", "")


def make(out, tokenizer, tokenizer_json):
    for name, kw in CASES.items():
        d = os.path.join(out, name)
        base, vocab = build(kw, tokenizer, tokenizer_json, os.path.join(d, "model"), seed=3)
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS,
                                                task_type="CAUSAL_LM"))
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "lora_B" in n:
                    p.normal_(0, 0.1)
        model.save_pretrained(os.path.join(d, "adapter"))
        ids, att, lm = batch(vocab, torch.Generator().manual_seed(4))
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
        print(f"{name}: loss {loss.item():.6f}, {len(params)} adapter tensors")


def check(out):
    failed = 0
    for name in CASES:
        d = os.path.join(out, name)
        ref = load_file(os.path.join(d, "reference.safetensors"))
        base = AutoModelForCausalLM.from_pretrained(os.path.join(d, "model"), dtype=torch.float32)
        model = PeftModel.from_pretrained(base, os.path.join(d, "s2d_adapter"))
        worst = 0.0
        for n, p in model.named_parameters():
            if "lora_" in n:
                worst = max(worst, (p.detach() - ref["param1." + saved_name(n)]).abs().max().item())
        failed += worst > 1e-4
        line = f"{name}: adapter written by s2d loads in PEFT; max diff to PEFT's weights after one AdamW step {worst:.3g}"
        print(line)
        with open(os.path.join(out, "report.txt"), "a") as f:
            f.write(line + "\n")
    print(f"{len(CASES) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", help="sentencepiece model for the Llama case")
    ap.add_argument("--tokenizer-json", help="tokenizer.json for the Qwen case")
    ap.add_argument("--check", action="store_true", help="check the adapters s2d saved instead of making references")
    a = ap.parse_args()
    if a.check:
        check(a.out)
    elif not (a.tokenizer and a.tokenizer_json):
        ap.error("making references needs --tokenizer and --tokenizer-json")
    else:
        make(a.out, a.tokenizer, a.tokenizer_json)


if __name__ == "__main__":
    main()
