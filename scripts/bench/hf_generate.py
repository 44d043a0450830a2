#!/usr/bin/env python3
"""HF transformers side of scripts/bench/generate.sh.

  make      --out DIR --config JSON    random LlamaForCausalLM (fp32 safetensors) + a tokenizer.model
  tokenizer --out DIR                  just the tokenizer.model
  prompts --out FILE --n N --len L --vocab V --seed S   random prompt ids (BOS first), same for both engines
  run     (--model DIR | --random-config FILE) --prompts FILE --batch B --new-tokens N
          [--device cpu] [--dtype fp32] [--cache dynamic|static] [--repeat 3]
          greedy generate(); prints one JSON line like s2d_bench_generate
"""
import argparse
import json
import os
import random
import sys
import time

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def tokenizer(args):
    """A small sentencepiece model: the benchmarks feed token ids, the engine only decodes."""
    import sentencepiece as spm
    os.makedirs(args.out, exist_ok=True)
    corpus = os.path.join(args.out, "corpus.txt")
    with open(corpus, "w") as f:
        for i in range(500):
            f.write(f"the quick brown fox {i} jumps over the lazy dog; a coin is heads up\n")
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(args.out, "tokenizer"), vocab_size=300,
                                   model_type="bpe", byte_fallback=True, minloglevel=2)
    for junk in ("tokenizer.vocab", "corpus.txt"):
        os.remove(os.path.join(args.out, junk))


def make(args):
    from transformers import LlamaConfig, LlamaForCausalLM
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**json.loads(args.config)))
    model.save_pretrained(args.out)
    tokenizer(args)
    n = sum(p.numel() for p in model.parameters())
    print(f"made {args.out}: {n / 1e6:.1f}M parameters")


def prompts(args):
    rng = random.Random(args.seed)
    rows = [[1] + [rng.randrange(3, args.vocab) for _ in range(args.len - 1)] for _ in range(args.n)]
    with open(args.out, "w") as f:
        json.dump({"prompts": rows}, f)


@torch.inference_mode()
def run(args):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.set_num_threads(int(os.environ.get("S2D_BENCH_THREADS", torch.get_num_threads())))
    dtype = DTYPES[args.dtype]
    if args.random_config:
        with torch.device(args.device):
            model = LlamaForCausalLM(LlamaConfig(**json.load(open(args.random_config)))).to(dtype)
    else:
        model = LlamaForCausalLM.from_pretrained(args.model, dtype=dtype).to(args.device)
    model.eval()
    rows = json.load(open(args.prompts))["prompts"][: args.batch]
    ids = torch.tensor(rows, device=args.device)
    mask = torch.ones_like(ids)
    kw = dict(attention_mask=mask, do_sample=False, pad_token_id=0, eos_token_id=None)
    if args.temperature > 0:  # HF's sampling: temperature, then top-p, then a multinomial draw
        kw.update(do_sample=True, temperature=args.temperature, top_p=args.top_p, top_k=0)
    if args.cache == "static":
        kw["cache_implementation"] = "static"

    def once(n):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=n, min_new_tokens=n, **kw)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0, out

    once(args.new_tokens)  # warmup at the same shapes: the static cache's size, any compilation
    best, out = min((once(args.new_tokens) for _ in range(args.repeat)), key=lambda r: r[0])
    # the prefill and one sampling (generate() stops after the first new token), as s2d's bench
    prefill = min(once(1)[0] for _ in range(args.repeat))
    new = out[:, ids.shape[1]:]
    print(json.dumps({"engine": "hf", "batch": args.batch, "new_tokens": args.new_tokens, "seconds": best,
                      "tok_s": args.batch * args.new_tokens / best, "prefill_s": prefill,
                      "decode_ms": 1e3 * (best - prefill) / max(1, args.new_tokens - 1), "tokens": [new[0].tolist()],
                      "device": args.device, "cache": args.cache, "temperature": args.temperature}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--config", required=True)
    t = sub.add_parser("tokenizer")
    t.add_argument("--out", required=True)
    p = sub.add_parser("prompts")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--len", type=int, default=32)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run")
    r.add_argument("--model")
    r.add_argument("--random-config")
    r.add_argument("--prompts", required=True)
    r.add_argument("--batch", type=int, default=1)
    r.add_argument("--new-tokens", type=int, default=128)
    r.add_argument("--device", default="cpu")
    r.add_argument("--dtype", default="fp32", choices=list(DTYPES))
    r.add_argument("--cache", default="dynamic", choices=["dynamic", "static"])
    r.add_argument("--repeat", type=int, default=3)
    r.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    r.add_argument("--top-p", type=float, default=1.0)
    args = ap.parse_args()
    {"make": make, "tokenizer": tokenizer, "prompts": prompts, "run": run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
