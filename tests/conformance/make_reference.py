#!/usr/bin/env python3
"""Reference data for s2d's conformance tests, made with Hugging Face transformers.

For each model case it writes, under OUT/<case>/:
  model/                 random LlamaForCausalLM (or Mistral, Qwen2, Qwen3) via save_pretrained, plus
                         tokenizer.model, or for the Qwen cases the --tokenizer-json tokenizer
  reference.json         left-padded input ids, attention mask, 32 greedy tokens per row, margins
  logits.safetensors     fp32 logits [B, T, V] of the padded batch
and OUT/tokenizer.json: texts with their sentencepiece ids, for encode/decode parity.

The C++ test (tests/conformance/conformance_test.cpp) must reproduce these; check_saved.py then
loads what s2d saved back into transformers.
"""
import argparse
import json
import os

import sentencepiece as spm
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

GREEDY_STEPS = 32

CASES = {
    # name: (config kwargs, extra save_pretrained kwargs)
    "mha": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4), {}),
    "gqa": (dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=8,
                 num_key_value_heads=2), {}),
    "tied": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, tie_word_embeddings=True), {}),
    "theta1e6": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, rope_theta=1e6), {}),
    "odd": (dict(hidden_size=72, intermediate_size=100, num_hidden_layers=3, num_attention_heads=6,
                 num_key_value_heads=3, vocab_size=403, rms_norm_eps=1e-5), {"max_shard_size": "150KB"}),
    "linear_scaling": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, rope_scaling={"rope_type": "linear", "factor": 4.0}), {}),
    "llama3_scaling": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, rope_theta=500000.0, max_position_embeddings=256,
                            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 4.0, "original_max_position_embeddings": 32}), {}),
    "mistral": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=1, sliding_window=None, arch="mistral"), {}),
    # Qwen cases use a byte-level tokenizer.json (vocab from it). Qwen2: q/k/v biases; tied like
    # Qwen2.5-0.5B, and untied with an inactive sliding window as Qwen2.5-7B's config has.
    "qwen2_tied": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1e6, arch="qwen2"), {}),
    "qwen2": (dict(hidden_size=48, intermediate_size=112, num_hidden_layers=3, num_attention_heads=6,
                   num_key_value_heads=2, use_sliding_window=False, sliding_window=8, arch="qwen2"), {}),
    # Qwen3: head_dim independent of hidden / heads (here 32, not 16), per-head q/k norms.
    "qwen3": (dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=32, arch="qwen3"), {}),
    "qwen3_tied_bias": (dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
                             num_key_value_heads=4, head_dim=16, tie_word_embeddings=True, attention_bias=True,
                             arch="qwen3"), {}),
}
ARCHS = {"llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM),
         "qwen2": (Qwen2Config, Qwen2ForCausalLM), "qwen3": (Qwen3Config, Qwen3ForCausalLM)}

TOKENIZER_TEXTS = [
    "Take the last letters of the words in \"Mary John\" and concatenate them.",
    "A coin is heads up. Alice flips the coin. Is the coin still heads up?",
    "  leading spaces, trailing spaces  ",
    "Ünïcödé, 中文, emoji 🙂 and € signs",
    "tabs\tand\nnewlines\n\nand 12345 digits",
    "<s> looks special but is text </s> [INST] too [/INST]",
    "",
]


def train_tokenizer(out_dir):
    corpus = os.path.join(out_dir, "corpus.txt")
    with open(corpus, "w") as f:
        for i in range(300):
            f.write(TOKENIZER_TEXTS[i % 5] + f" {i} the quick brown fox jumps over the lazy dog\n")
    prefix = os.path.join(out_dir, "sp")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, vocab_size=400, model_type="bpe", byte_fallback=True,
        character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    return prefix + ".model"


def make_batch(encode, vocab):
    """Three left-padded prompts of different lengths (pad id 0, masked). encode: text -> ids."""
    prompts = ["Take the last letters of the words in \"Mary John\"",
               "A coin is heads up.",
               "the quick brown fox jumps over the lazy dog and then some more words"]
    rows = [encode(p) for p in prompts]
    rows = [[t % vocab for t in r] for r in rows]
    T = max(len(r) for r in rows)
    ids = [[0] * (T - len(r)) + r for r in rows]
    mask = [[0] * (T - len(r)) + [1] * len(r) for r in rows]
    return torch.tensor(ids), torch.tensor(mask)


def positions(mask):
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


@torch.no_grad()
def greedy(model, ids, mask):
    tokens, margins = [], []
    for _ in range(GREEDY_STEPS):
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask)).logits[:, -1].float()
        top2 = logits.topk(2, dim=-1).values
        margins.append((top2[:, 0] - top2[:, 1]).min().item())
        nxt = logits.argmax(-1, keepdim=True)
        tokens.append(nxt)
        ids = torch.cat([ids, nxt], 1)
        mask = torch.cat([mask, torch.ones_like(nxt)], 1)
    return torch.cat(tokens, 1), min(margins)


def build_model(name, kwargs, vocab):
    kwargs = dict(kwargs)
    arch = kwargs.pop("arch", "llama")
    kwargs.setdefault("vocab_size", vocab)
    # A wider init than HF's 0.02 so logits are well separated and greedy has no near-ties.
    common = dict(max_position_embeddings=kwargs.pop("max_position_embeddings", 512), initializer_range=0.2,
                  bos_token_id=1, eos_token_id=2, attn_implementation="sdpa")
    config_class, model_class = ARCHS[arch]
    model = model_class(config_class(**kwargs, **common))
    with torch.no_grad():  # norms are ones and biases zeros at init; perturb them so a wrong one shows
        for n, p in model.named_parameters():
            if "norm" in n or n.endswith(".bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cpu", help="where HF computes the reference (cpu | cuda)")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"],
                    help="reference precision; weights are always saved in fp32")
    ap.add_argument("--tokenizer-json", required=True,
                    help="a byte-level BPE tokenizer.json for the Qwen cases (make_tokenizer_reference.py's llama3)")
    args = ap.parse_args()
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    sp_path = train_tokenizer(args.out)
    sp = spm.SentencePieceProcessor(model_file=sp_path)

    cases = [{"text": t, "ids": sp.encode(t), "decoded": sp.decode(sp.encode(t))} for t in TOKENIZER_TEXTS]
    with open(os.path.join(args.out, "tokenizer.json"), "w") as f:
        json.dump({"model": sp_path, "cases": cases}, f, ensure_ascii=False, indent=1)

    hf_tok = Tokenizer.from_file(args.tokenizer_json)
    for name, (kwargs, save_kwargs) in CASES.items():
        case_dir = os.path.join(args.out, name)
        json_tok = kwargs.get("arch", "llama").startswith("qwen")
        model = build_model(name, kwargs, hf_tok.get_vocab_size() if json_tok else sp.get_piece_size())
        model.save_pretrained(os.path.join(case_dir, "model"), **save_kwargs)
        src_path, dst_name = (args.tokenizer_json, "tokenizer.json") if json_tok else (sp_path, "tokenizer.model")
        with open(src_path, "rb") as src, open(os.path.join(case_dir, "model", dst_name), "wb") as dst:
            dst.write(src.read())
        encode = (lambda p: hf_tok.encode(p).ids) if json_tok else (lambda p: [1] + sp.encode(p))
        ids, mask = make_batch(encode, model.config.vocab_size)
        ids, mask = ids.to(args.device), mask.to(args.device)
        extra = {}
        if dtype != torch.float32:
            # Reload the way users do (from_pretrained with a dtype), which keeps RoPE's inv_freq in
            # fp32; model.to(bf16) would round it. Also keep fp32 logits: HF's own bf16 noise.
            model = model.to(args.device)
            with torch.no_grad():
                extra["logits_fp32"] = model(input_ids=ids, attention_mask=mask,
                                             position_ids=positions(mask)).logits.float().cpu().contiguous()
            model = AutoModelForCausalLM.from_pretrained(os.path.join(case_dir, "model"), dtype=dtype).to(args.device).eval()
        else:
            model = model.to(args.device)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask)).logits.float()
        toks, margin = greedy(model, ids, mask)
        save_file({"logits": logits.cpu().contiguous(), **extra}, os.path.join(case_dir, "logits.safetensors"))
        with open(os.path.join(case_dir, "reference.json"), "w") as f:
            json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "greedy": toks.tolist(),
                       "greedy_min_margin": margin, "device": args.device, "dtype": args.dtype}, f)
        print(f"{name}: {sum(p.numel() for p in model.parameters())} params, logits {tuple(logits.shape)}, "
              f"greedy min top1-top2 margin {margin:.4f}")


if __name__ == "__main__":
    main()
