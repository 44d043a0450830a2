#!/usr/bin/env python3
"""HF transformers side of scripts/bench/rar2.sh: the paper's generation workload, Rephrase and
Respond in two calls with N samples per task, as `s2d generate --method rar2 --samples N` runs it.

  hf_rar2.py --model DIR --tasks FILE --method configs/methods/rar2.json --samples 8
             --temperature 0.7 --top-p 0.9 --max-new-tokens 256 --batch 64
             [--device cpu] [--dtype fp32] [--cache dynamic|static] [--template chat|plain]

Step 1 asks for N rephrasings of each task (num_return_sequences=N: one prompt, N rows); step 2
answers each task once per rephrasing, with the method file's prompts and format hints and each
rephrasing trimmed, as s2d fills them. Rows go through generate() in batches of --batch rows,
left-padded, each batch running until its last row stops (generate() has no continuous batching).
--template chat renders the checkpoint's chat template (tokenizer.json checkpoints); plain is
BOS + the prompt and llama-2 BOS + "[INST] prompt [/INST]", as s2d's --chat-template of that name. Prints one JSON line: samples, generated tokens (EOS not counted, as s2d
counts them) and the seconds of the two steps, after a warm-up call that is not counted.
"""
import argparse
import json
import os
import sys
import time

import torch

from hf_generate import DTYPES  # this script's folder is on sys.path when run as a script


class SentencepieceTokenizer:
    """A checkpoint with a tokenizer.model and no tokenizer.json, read with sentencepiece itself
    (transformers would convert it to a fast tokenizer, which needs protobuf)."""

    def __init__(self, path):
        import sentencepiece as spm
        self.sp = spm.SentencePieceProcessor(model_file=path)
        self.bos_token_id, self.eos_token_id = self.sp.bos_id(), self.sp.eos_id()
        self.pad_token_id, self.unk_token_id = None, self.sp.unk_id()

    def encode(self, text, add_special_tokens=False):
        return self.sp.encode(text)

    def decode(self, ids, skip_special_tokens=True):
        return self.sp.decode([i for i in ids if 0 <= i < self.sp.get_piece_size()])


def load_tokenizer(model_dir):
    if os.path.exists(os.path.join(model_dir, "tokenizer.json")):
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(model_dir)
    return SentencepieceTokenizer(os.path.join(model_dir, "tokenizer.model"))


def render(tok, text, template):
    """A user message -> prompt ids, as s2d's --chat-template of the same name renders it."""
    if template == "plain":
        return [tok.bos_token_id] + tok.encode(text, add_special_tokens=False)
    if template == "llama-2":
        return [tok.bos_token_id] + tok.encode("[INST] " + text.strip() + " [/INST]", add_special_tokens=False)
    chat = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False)
    return tok.encode(chat, add_special_tokens=False)


@torch.inference_mode()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tasks", required=True)
    ap.add_argument("--method", required=True, help="the rar2 method file (configs/methods/rar2.json)")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64, help="rows per generate() call")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    ap.add_argument("--cache", default="dynamic", choices=["dynamic", "static"])
    ap.add_argument("--template", default="chat", choices=["chat", "plain", "llama-2"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM
    torch.set_num_threads(int(os.environ.get("S2D_BENCH_THREADS", torch.get_num_threads())))
    torch.manual_seed(args.seed)
    tok = load_tokenizer(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=DTYPES[args.dtype]).to(args.device).eval()
    spec = json.load(open(args.method))
    tasks = [json.loads(line) for line in open(args.tasks) if line.strip()]
    hints = spec.get("format_hints", {})
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.unk_token_id or 0)
    kw = dict(do_sample=args.temperature > 0, temperature=args.temperature or None, top_p=args.top_p, top_k=0,
              pad_token_id=pad, eos_token_id=tok.eos_token_id)
    if args.cache == "static":
        kw["cache_implementation"] = "static"

    def sync():
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def generate(prompts, per_prompt):
        """prompts: token lists -> per_prompt texts each, and the tokens generated."""
        texts, generated = [], 0
        step = max(1, args.batch // per_prompt)  # prompts per call, so that a call holds --batch rows
        for i in range(0, len(prompts), step):
            chunk = prompts[i:i + step]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk], device=args.device)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk], device=args.device)
            out = model.generate(ids, attention_mask=mask, max_new_tokens=args.max_new_tokens,
                                 num_return_sequences=per_prompt, **kw)[:, width:]
            for row in out.tolist():
                n = len(row)
                if tok.eos_token_id in row:  # neither EOS nor the padding after it counts, as in s2d
                    n = row.index(tok.eos_token_id)
                generated += n
                texts.append(tok.decode(row[:n], skip_special_tokens=True))
        return texts, generated

    generate([render(tok, "Hello", args.template)], 1)  # warm-up: kernels, allocator, the static cache's code
    sync()
    t0 = time.perf_counter()
    steps = spec["steps"]
    first = [render(tok, steps["rephrase"].replace("{input}", t["input"]), args.template) for t in tasks]
    rephrased, gen1 = generate(first, args.samples)  # task i's rephrasings are rows [i * N, (i + 1) * N)
    second = []
    for i, t in enumerate(tasks):
        hint = hints.get(t.get("task", ""), hints.get("default", ""))
        for j in range(args.samples):
            text = (steps["respond"].replace("{input}", t["input"])
                    .replace("{rephrased}", rephrased[i * args.samples + j].strip()).replace("{format_hint}", hint))
            second.append(render(tok, text, args.template))
    _, gen2 = generate(second, 1)
    sync()
    seconds = time.perf_counter() - t0
    print(json.dumps({"engine": "hf", "tasks": len(tasks), "samples": len(tasks) * args.samples,
                      "generated_tokens": gen1 + gen2, "seconds": seconds, "tok_s": (gen1 + gen2) / seconds,
                      "device": args.device, "dtype": args.dtype, "cache": args.cache, "batch": args.batch}))


if __name__ == "__main__":
    sys.exit(main())
