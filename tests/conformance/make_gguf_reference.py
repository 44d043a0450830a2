#!/usr/bin/env python3
"""GGUF references for s2d's import-gguf, made with the gguf package and transformers.

  make_gguf_reference.py OUT --tokenizer-json T [--corpus JSONL] [--real GGUF]

OUT/types/      types.gguf: one tensor of each type s2d dequantises (F32, F16, BF16, Q4_0, Q4_1,
                Q5_0, Q5_1, Q8_0 quantised by the gguf package; Q4_K, Q5_K, Q6_K random blocks with
                sane scales), and reference.safetensors: gguf.quants.dequantize of each, in fp32.
OUT/<case>/     model.gguf (or case.json naming --real's file), written as llama.cpp's converter
                writes one (Llama's Q/K rows permuted, tokenizer metadata from T), and what
                transformers gives for it loaded with from_pretrained(gguf_file=...):
                logits.safetensors (a left-padded batch), reference.json: input_ids, attention_mask,
                greedy tokens through the cache, the corpus lines' ids (--corpus), and chats: the
                ids apply_chat_template gives 8 conversations and 64 greedy tokens after each.
Cases: llama (untied, Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/F16), qwen2 (tied, biases, F16/BF16) and, with --real,
smollm2 (SmolLM2-135M-Instruct.Q4_1).
"""
import argparse
import warnings
import json
import os
import shutil
import sys

import numpy as np
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGUFWriter
from gguf.quants import dequantize, quantize
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

warnings.filterwarnings("ignore", category=FutureWarning)  # transformers renaming past_key_values

PROMPTS = ["Take the last letters of the words in \"Mary John\"", "A coin is heads up.",
           "the quick brown fox jumps over the lazy dog and then 12345 more words"]
CHATS = [
    [{"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "user", "content": "Name three colours."}],
    [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "Explain gravity."}],
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"},
     {"role": "user", "content": "Tell me a joke."}],
    [{"role": "user", "content": "Translate 'good morning' to French."}],
    [{"role": "user", "content": "Write a haiku about the sea."}],
    [{"role": "user", "content": "Is 17 a prime number? Answer yes or no."}],
    [{"role": "user", "content": "Äpfel und Birnen: 日本語 👍"}],
]


def write_types(out):
    d = os.path.join(out, "types")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    w = GGUFWriter(os.path.join(d, "types.gguf"), "llama")
    ref = {}
    rows, cols = 4, 512
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    for qt in (Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0):
        data = quantize(x, qt) if qt != Q.F32 else x
        w.add_tensor(qt.name, data, raw_dtype=qt)
        ref[qt.name] = torch.from_numpy(np.ascontiguousarray(dequantize(data, qt)))
    # K-quants: the package writes no K-quant blocks, so the blocks are random bytes whose scale
    # fields are set to finite halves (d, dmin for Q4_K/Q5_K, d last for Q6_K).
    for qt, size, scale_at in ((Q.Q4_K, 144, (0, 2)), (Q.Q5_K, 176, (0, 2)), (Q.Q6_K, 210, (208,))):
        blocks = rng.integers(0, 256, (rows * cols // 256, size), dtype=np.uint8)
        for at in scale_at:
            blocks[:, at:at + 2] = (rng.standard_normal(blocks.shape[0]) * 0.01).astype(np.float16).view(np.uint8).reshape(-1, 2)
        data = blocks.reshape(rows, cols // 256 * size)
        w.add_tensor(qt.name, data, raw_dtype=qt)
        ref[qt.name] = torch.from_numpy(np.ascontiguousarray(dequantize(data, qt)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file({k: v.contiguous() for k, v in ref.items()}, os.path.join(d, "reference.safetensors"))
    print(f"types: {len(ref)} tensors")


def tokenizer_metadata(w, tok_json, pre):
    j = json.load(open(tok_json))
    vocab = dict(j["model"]["vocab"])
    special = {}
    for t in j["added_tokens"]:
        vocab[t["content"]] = t["id"]
        if t["special"]:
            special[t["id"]] = t["content"]
    tokens = [None] * (max(vocab.values()) + 1)
    for t, i in vocab.items():
        tokens[i] = t
    merges = [m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([3 if i in special else 1 for i in range(len(tokens))])
    w.add_token_merges(merges)
    eos = next(i for i, t in special.items() if t == "<|im_end|>")
    w.add_bos_token_id(next(iter(special)))
    w.add_eos_token_id(eos)
    w.add_pad_token_id(eos)
    w.add_add_bos_token(False)
    w.add_chat_template(
        "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    return len(tokens)


def llama_permute(w, n_head):  # what llama.cpp's converter does to Q and K rows
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
# The types the gguf package can quantise (it writes no K-quants; those are in types.gguf).
TYPES = {"llama": {"attn_q": Q.Q4_0, "attn_k": Q.Q5_0, "attn_v": Q.Q5_1, "attn_output": Q.Q4_1, "ffn_gate": Q.Q8_0,
                   "ffn_up": Q.Q4_1, "ffn_down": Q.Q5_0, "token_embd": Q.Q8_0, "output": Q.F16},
         "qwen2": {"attn_q": Q.F16, "attn_k": Q.BF16, "attn_v": Q.F16, "attn_output": Q.BF16, "ffn_gate": Q.Q8_0,
                   "ffn_up": Q.F16, "ffn_down": Q.F16, "token_embd": Q.BF16}}


def gguf_name(n):
    if n == "model.embed_tokens.weight":
        return "token_embd.weight"
    if n == "model.norm.weight":
        return "output_norm.weight"
    if n == "lm_head.weight":
        return "output.weight"
    parts = n.split(".")  # model.layers.i.<module...>.weight|bias
    return f"blk.{parts[2]}.{GGUF_NAMES['.'.join(parts[3:-1])]}.{parts[-1]}"


def write_model_gguf(path, model, arch, tok_json, pre):
    c = model.config
    w = GGUFWriter(path, arch)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_block_count(c.num_hidden_layers)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(c.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    tokenizer_metadata(w, tok_json, pre)
    for n, p in model.state_dict().items():
        if n == "lm_head.weight" and c.tie_word_embeddings:
            continue
        t = p.detach().float().numpy()
        g = gguf_name(n)
        if arch == "llama" and (".q_proj." in n or ".k_proj." in n):
            t = llama_permute(t, c.num_attention_heads if ".q_proj." in n else c.num_key_value_heads)
        qt = TYPES[arch].get(g.split(".")[-2] if g.startswith("blk.") else g.split(".")[0], Q.F32) if t.ndim == 2 else Q.F32
        data = quantize(np.ascontiguousarray(t), qt) if qt != Q.F32 else np.ascontiguousarray(t)
        w.add_tensor(g, data, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@torch.no_grad()
def greedy(model, ids, mask, steps):
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
    past, toks = out.past_key_values, []
    nxt = out.logits[:, -1].argmax(-1, keepdim=True)
    for _ in range(steps):
        toks.append(nxt)
        mask = torch.cat([mask, torch.ones_like(nxt)], 1)
        pos = pos[:, -1:] + 1
        out = model(input_ids=nxt, attention_mask=mask, position_ids=pos, past_key_values=past, use_cache=True)
        past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
    return torch.cat(toks, 1)


def reference(case_dir, gguf_path, corpus, greedy_steps, chats):
    d, f = os.path.dirname(gguf_path), os.path.basename(gguf_path)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    rows = [tok(p).input_ids for p in PROMPTS]
    T = max(len(r) for r in rows)
    ids = torch.tensor([[0] * (T - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (T - len(r)) + [1] * len(r) for r in rows])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits.float()
    ref = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "greedy": greedy(model, ids, mask, greedy_steps).tolist()}
    if corpus:
        lines = [json.loads(l)["text"] for l in open(corpus)]
        ref["corpus"] = {"texts": lines, "ids": [tok(t).input_ids for t in lines]}
    if chats:
        ref["chats"] = []
        for msgs in CHATS:
            x = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True, return_dict=False)
            x = torch.tensor([list(x["input_ids"] if isinstance(x, dict) else x)])
            ref["chats"].append({"messages": msgs, "ids": x[0].tolist(), "greedy": greedy(model, x, torch.ones_like(x), 64)[0].tolist()})
    os.makedirs(case_dir, exist_ok=True)
    save_file({"logits": logits.contiguous()}, os.path.join(case_dir, "logits.safetensors"))
    with open(os.path.join(case_dir, "reference.json"), "w") as fh:
        json.dump(ref, fh, ensure_ascii=False)
    print(f"{os.path.basename(case_dir)}: logits {tuple(logits.shape)}, {len(ref.get('corpus', {}).get('texts', []))} corpus lines, "
          f"{len(ref.get('chats', []))} chats")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tokenizer-json", required=True, help="a byte-level tokenizer.json (make_tokenizer_reference.py's gpt2)")
    ap.add_argument("--corpus", help="JSONL of {\"text\"} lines whose ids are recorded")
    ap.add_argument("--real", help="a real GGUF (SmolLM2-135M-Instruct.Q4_1) for the smollm2 case")
    a = ap.parse_args()
    write_types(a.out)
    vocab = Tokenizer.from_file(a.tokenizer_json).get_vocab_size()
    torch.manual_seed(0)
    for name, arch, model, pre in (
        ("llama", "llama", LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=256, intermediate_size=512,
                                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                       max_position_embeddings=256, rope_theta=1e5, initializer_range=0.1)),
         "llama-bpe"),
        ("qwen2", "qwen2", Qwen2ForCausalLM(Qwen2Config(vocab_size=vocab, hidden_size=128, intermediate_size=256,
                                                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                       max_position_embeddings=256, rope_theta=1e6, tie_word_embeddings=True,
                                                       initializer_range=0.1)),
         "qwen2")):
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith(".bias") or "norm" in n:
                    p.add_(0.1 * torch.randn_like(p))
        case = os.path.join(a.out, name)
        os.makedirs(case, exist_ok=True)
        write_model_gguf(os.path.join(case, "model.gguf"), model.eval(), arch, a.tokenizer_json, pre)
        reference(case, os.path.join(case, "model.gguf"), a.corpus, 32, chats=False)
    if a.real:
        case = os.path.join(a.out, "smollm2")
        os.makedirs(case, exist_ok=True)
        with open(os.path.join(case, "case.json"), "w") as fh:
            json.dump({"gguf": os.path.abspath(a.real)}, fh)
        reference(case, a.real, a.corpus, 32, chats=True)


if __name__ == "__main__":
    sys.exit(main())
