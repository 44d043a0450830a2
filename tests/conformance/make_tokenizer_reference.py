"""Builds tokenizer.json files with the Python `tokenizers` package and records its ids and
decodes on a varied corpus, for s2d's tokenizer conformance test.

Four tokenizers, each in OUT/NAME/ with tokenizer.json and tokenizer_config.json:
  gpt2      byte-level BPE, ByteLevel pre-tokenizer with GPT-2's regex, Digits (SmolLM2's form)
  llama3    byte-level BPE, Split with Llama-3's regex + ByteLevel(use_regex=false), NFC,
            ignore_merges, merges as pairs, "<|begin_of_text|> $A" template
  metaspace Metaspace BPE with byte_fallback and fuse_unk, prepend_scheme "first" (Mistral's form)
  legacy    Llama-2's export: Prepend + Replace normalizers, no pre-tokenizer, and the
            Replace/ByteFallback/Fuse/Strip decoder chain
Each also has special tokens (<|im_start|>, <|im_end|>, <|endoftext|>) and a non-special added
token with lstrip. The corpus (OUT/corpus.jsonl, at least 1 MB, one {"text": ...} per line) mixes
prose, code, digit and whitespace runs, CJK, emoji with ZWJ sequences, combining marks, RTL
scripts and text that looks like special tokens.
OUT/NAME/reference.jsonl holds, per corpus line, {"ids": encode(add_special_tokens=False),
"ids_special": encode(add_special_tokens=True), "decoded": decode(ids, skip_special_tokens=True)}.

Usage: make_tokenizer_reference.py OUT [--bytes N]
"""
import argparse
import json
import os
import random

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

WORDS = ("the quick brown fox jumps over a lazy dog while System two reasoning distils into System one answers "
         "coin flip heads tails Mary John concatenate letters don't can't we'll they're I'm you've it's").split()
CODE = ["def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
        "if __name__ == '__main__':\n\tmain()", "SELECT * FROM t WHERE id=42;", "x = {\"k\": [1, 2, 3]}"]
UNICODE = ["日本語のテキストです。", "中文文本，没有空格。", "한국어 텍스트", "👨‍👩‍👧‍👦 family", "👍🏽 ok", "🏳️‍🌈",
           "e\u0301 a\u0308 n\u0303", "café naïve Ångström", "مرحبا بالعالم", "שלום עולם", "Ελληνικά", "Привет, мир",
           "ﬁ ﬂ ① ² ℌ", "\u200b\u200d\ufeff", "𝐀𝐁𝐂 𝔘𝔫𝔦"]
TRICKY = ["<|im_start|>user\nhi<|im_end|>", "<|im_start", "<|im_end|> <|im_end|>", "a<|endoftext|>b", "<s> </s> [INST]",
          "<mask> x  <mask>", "<|im_start|><|im_start|>", "<0x41> <unk>"]


def corpus(n_bytes, seed=0):
    rnd = random.Random(seed)
    lines, size = [], 0
    while size < n_bytes:
        parts = []
        for _ in range(rnd.randint(1, 8)):
            k = rnd.random()
            if k < 0.4:
                parts.append(" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 12))))
            elif k < 0.5:
                parts.append(rnd.choice(CODE))
            elif k < 0.6:
                parts.append("".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 20))))
            elif k < 0.7:
                parts.append("".join(rnd.choice(" \t\n\r") for _ in range(rnd.randint(1, 6))))
            elif k < 0.88:
                parts.append(rnd.choice(UNICODE))
            else:
                parts.append(rnd.choice(TRICKY))
        text = "".join(p + rnd.choice(["", " ", "  ", "\n"]) for p in parts)
        lines.append(text)
        size += len(text.encode("utf-8"))
    return lines


def train(tok, lines, vocab_size):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
                                  if isinstance(tok.pre_tokenizer, (pre_tokenizers.ByteLevel, pre_tokenizers.Sequence)) else [])
    tok.train_from_iterator(lines, trainer=trainer)
    tok.add_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, single_word=False, normalized=False, special=False)])
    return tok


def with_byte_tokens(tok):
    """Adds <0x00>..<0xFF> to a BPE vocab (byte_fallback needs them), via the JSON."""
    j = json.loads(tok.to_str())
    vocab = j["model"]["vocab"]
    next_id = max(max(vocab.values()), max(a["id"] for a in j["added_tokens"])) + 1
    for b in range(256):
        name = "<0x%02X>" % b
        if name not in vocab:
            vocab[name] = next_id
            next_id += 1
    return j


def build(train_lines):
    out = {}
    # gpt2 / SmolLM2 form
    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.ByteLevel(trim_offsets=False)
    j = json.loads(train(t, train_lines, 2000).to_str())
    j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]  # the string form
    out["gpt2"] = (j, {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"})
    # llama3 form
    t = Tokenizer(models.BPE(ignore_merges=True))
    t.normalizer = normalizers.NFC()
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    t.decoder = decoders.ByteLevel()
    t = train(t, train_lines, 2500)
    t.add_special_tokens([AddedToken("<|begin_of_text|>", special=True, normalized=False)])
    bot = t.token_to_id("<|begin_of_text|>")
    t.post_processor = processors.Sequence([processors.ByteLevel(trim_offsets=False),
                                            processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                                                          pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                                                          special_tokens=[("<|begin_of_text|>", bot)])])
    j = json.loads(t.to_str())
    j["model"]["merges"] = [m.split(" ", 1) if isinstance(m, str) else m for m in j["model"]["merges"]]  # the pair form
    out["llama3"] = (j, {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"})
    # metaspace (Mistral) form
    t = Tokenizer(models.BPE(byte_fallback=True, fuse_unk=True))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    t.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
    t = train(t, train_lines, 1500)
    j = with_byte_tokens(t)
    j["model"]["byte_fallback"] = True
    t = Tokenizer.from_str(json.dumps(j))
    t.add_special_tokens([AddedToken("<s>", special=True, normalized=False), AddedToken("</s>", special=True, normalized=False)])
    t.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", t.token_to_id("<s>"))])
    meta = json.loads(t.to_str())
    out["metaspace"] = (meta, {"bos_token": "<s>", "eos_token": "</s>"})
    # legacy Llama-2 export: the same model with the older normalizer/decoder pipeline
    legacy = json.loads(json.dumps(meta))
    legacy["pre_tokenizer"] = None
    legacy["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                                {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    legacy["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    out["legacy"] = (legacy, {"bos_token": {"content": "<s>", "lstrip": False}, "eos_token": "</s>"})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--bytes", type=int, default=1 << 20)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    train_lines = corpus(300_000, seed=1)
    test_lines = corpus(args.bytes, seed=2)
    with open(os.path.join(args.out, "corpus.jsonl"), "w") as f:
        for line in test_lines:
            f.write(json.dumps({"text": line}, ensure_ascii=False) + "\n")
    for name, (j, cfg) in build(train_lines).items():
        d = os.path.join(args.out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(j, f, ensure_ascii=False)
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(cfg, f)
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))  # the reference reads what s2d reads
        encs = tok.encode_batch(test_lines, add_special_tokens=False)
        specials = tok.encode_batch(test_lines, add_special_tokens=True)
        with open(os.path.join(d, "reference.jsonl"), "w") as f:
            for e, s in zip(encs, specials):
                f.write(json.dumps({"ids": e.ids, "ids_special": s.ids,
                                    "decoded": tok.decode(e.ids, skip_special_tokens=True)}, ensure_ascii=False) + "\n")
        print(f"{name}: vocab {tok.get_vocab_size()}, {sum(len(e.ids) for e in encs)} tokens over {len(test_lines)} texts")


if __name__ == "__main__":
    main()
