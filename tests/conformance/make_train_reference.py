#!/usr/bin/env python3
"""Training reference for s2d's trainer, made with transformers + torch.optim.AdamW.

For each case (Llama GQA untied, Llama tied, Qwen2 tied, Qwen3 with biases) it writes OUT/<case>/:
  model/              a random model (save_pretrained) + a tokenizer.model (Llama) or tokenizer.json (Qwen)
  batch.json          right-padded ids, attention mask, loss mask (assistant tokens only)
  reference.safetensors
      loss            masked mean next-token cross-entropy of one forward pass
      grad.<name>     its gradient for every parameter (HF names)
      param3.<name>   every parameter after 3 AdamW steps on that batch (clip 1.0, lr 1e-3,
                      weight decay 0.1 on matrices, none on norm weights)
--device cuda --autocast bf16 makes the same reference on the GPU under torch.autocast (bf16
compute, fp32 master weights and optimizer), for s2d's CUDA training path; the models are the
same (made on the CPU with the same seed).
--weights bf16 (any device) trains the model cast to bf16, with fp32 copies of its parameters
that AdamW updates and that are cast back after each step: s2d's --precision bf16. The saved
model stays fp32; s2d casts it to bf16 as it loads, with the same rounding.
"""
import argparse
import json
import os
import shutil

import torch
from tokenizers import Tokenizer
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM

CASES = {
    "gqa": dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=6,
                num_key_value_heads=2, vocab_size=400),
    "tied": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, vocab_size=400, tie_word_embeddings=True),
    # The Qwen cases train the new tensors too: q/k/v (and o) biases, q_norm and k_norm.
    "qwen2": dict(hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=6,
                  num_key_value_heads=2, tie_word_embeddings=True, arch="qwen2"),
    "qwen3": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=24, attention_bias=True, arch="qwen3"),
}
ARCHS = {"llama": (LlamaConfig, LlamaForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM),
         "qwen3": (Qwen3Config, Qwen3ForCausalLM)}


def build(kw, tokenizer, tokenizer_json, model_dir, seed):
    """A random model of case kw saved to model_dir with its tokenizer; returns (model, vocab)."""
    kw = dict(kw)
    arch = kw.pop("arch", "llama")
    if arch != "llama":  # a tokenizer.json model: the vocabulary is the tokenizer's
        kw["vocab_size"] = Tokenizer.from_file(tokenizer_json).get_vocab_size()
    torch.manual_seed(seed)
    config_class, model_class = ARCHS[arch]
    model = model_class(config_class(**kw, initializer_range=0.1, max_position_embeddings=64)).float()
    with torch.no_grad():  # biases start at zero and norms at one: perturb them so their gradients differ
        for n, p in model.named_parameters():
            if n.endswith(".bias") or "norm" in n:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(model_dir)
    if arch == "llama":
        shutil.copy(tokenizer, os.path.join(model_dir, "tokenizer.model"))
    else:
        shutil.copy(tokenizer_json, os.path.join(model_dir, "tokenizer.json"))
    return model, kw["vocab_size"]


LR, WD, CLIP, STEPS = 1e-3, 0.1, 1.0, 3


def batch(vocab, gen):
    lens, prompt = [11, 7, 14], [6, 4, 9]
    T = max(lens)
    ids = torch.zeros(len(lens), T, dtype=torch.long)
    att = torch.zeros_like(ids)
    lm = torch.zeros_like(ids)
    for b, (n, p) in enumerate(zip(lens, prompt)):
        ids[b, :n] = torch.randint(3, vocab, (n,), generator=gen)
        att[b, :n] = 1
        lm[b, p:n] = 1  # the "assistant" tokens
    return ids, att, lm


def loss_of(model, ids, att, lm, autocast=None):
    pos = (att.cumsum(-1) - 1).clamp(min=0)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast == "bf16"):
        logits = model(input_ids=ids, attention_mask=att, position_ids=pos).logits.float()
    labels = ids[:, 1:].masked_fill(lm[:, 1:] == 0, -100)
    s = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                          ignore_index=-100, reduction="sum")
    return s / lm[:, 1:].sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", required=True, help="a sentencepiece model to ship with the Llama models")
    ap.add_argument("--tokenizer-json", required=True, help="a tokenizer.json to ship with the Qwen models")
    ap.add_argument("--device", default="cpu", help="where PyTorch computes the reference (cpu | cuda)")
    ap.add_argument("--autocast", choices=["bf16"], help="bf16 autocast (CUDA only), as s2d trains on CUDA")
    ap.add_argument("--weights", choices=["bf16"], help="bf16 weights with fp32 masters for AdamW")
    args = ap.parse_args()
    if args.autocast and args.device == "cpu":
        ap.error("--autocast bf16 needs --device cuda")
    if args.autocast and args.weights:
        ap.error("--autocast and --weights are two precisions: pass one")
    dev = torch.device(args.device)
    for name, kw in CASES.items():
        d = os.path.join(args.out, name)
        model, vocab = build(kw, args.tokenizer, args.tokenizer_json, os.path.join(d, "model"), seed=1)
        gen = torch.Generator().manual_seed(2)
        ids, att, lm = batch(vocab, gen)
        with open(os.path.join(d, "batch.json"), "w") as f:
            json.dump({"ids": ids.tolist(), "attention": att.tolist(), "loss_mask": lm.tolist()}, f)
        model, ids, att, lm = model.to(dev), ids.to(dev), att.to(dev), lm.to(dev)
        if args.weights:
            model = model.to(torch.bfloat16)
        out = {}
        loss = loss_of(model, ids, att, lm, args.autocast)
        loss.backward()
        out["loss"] = loss.detach().reshape(1)
        named = dict(model.named_parameters())
        for n, p in named.items():
            out["grad." + n] = p.grad.detach().clone()
        # What AdamW updates: the parameters, or with --weights bf16 their fp32 copies, which take the
        # bf16 gradients cast up and are cast back down after each step.
        masters = {n: p.detach().float().clone().requires_grad_() for n, p in named.items()} if args.weights else named
        decay = [p for n, p in masters.items() if p.dim() > 1]
        no_decay = [p for n, p in masters.items() if p.dim() <= 1]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                                lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
        for step in range(STEPS):
            if step > 0:
                opt.zero_grad()
                model.zero_grad()
                loss_of(model, ids, att, lm, args.autocast).backward()
            if args.weights:
                for n, m in masters.items():
                    m.grad = named[n].grad.float()
            torch.nn.utils.clip_grad_norm_(masters.values(), CLIP)
            opt.step()
            if args.weights:
                with torch.no_grad():
                    for n, m in masters.items():
                        named[n].copy_(m)
        for n, p in named.items():
            out["param3." + n] = p.detach().clone()
        save_file({k: v.float().cpu().contiguous() for k, v in out.items()}, os.path.join(d, "reference.safetensors"))
        precision = f"autocast {args.autocast}" if args.autocast else f"{args.weights} weights" if args.weights else "fp32"
        print(f"{name} ({args.device}, {precision}): loss {loss.item():.6f}, {len(named)} parameters")


if __name__ == "__main__":
    main()
