"""A today-style checkpoint for s2d's end-to-end conformance: a random LlamaForCausalLM whose
tokenizer is a byte-level tokenizer.json (built with the tokenizers package) and whose chat
template is tests/data/templates/thinking.jinja, with generation_config.json listing two
end-of-turn ids. For each conversation x add_generation_prompt x enable_thinking it records what
transformers gives: apply_chat_template(tokenize=True) ids, and 16 greedy tokens from the
generation prompt, stopping at the generation config's eos ids.

Usage: make_checkpoint_reference.py TOKENIZER_DIR TEMPLATE OUT
  TOKENIZER_DIR: a directory with tokenizer.json (make_tokenizer_reference.py's gpt2/)
"""
import json
import os
import shutil
import sys

import torch
from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

CONVERSATIONS = [
    [{"role": "user", "content": "What is 2 + 2?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a colour."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nsay hi\n</think>\n\nHello!"},
     {"role": "user", "content": "Äpfel 日本 👍?"}],
]


def main():
    tok_dir, template, out = sys.argv[1:4]
    model_dir = os.path.join(out, "model")
    os.makedirs(model_dir, exist_ok=True)
    shutil.copy(os.path.join(tok_dir, "tokenizer.json"), model_dir)
    chat_template = open(template).read()
    with open(os.path.join(model_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "chat_template": chat_template, "tokenizer_class": "PreTrainedTokenizerFast"}, f)
    tok = AutoTokenizer.from_pretrained(model_dir)
    im_end, eot = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True, bos_token_id=None, eos_token_id=[im_end, eot], initializer_range=0.2)
    model = LlamaForCausalLM(cfg).eval()
    model.save_pretrained(model_dir, safe_serialization=True)
    GenerationConfig(eos_token_id=[im_end, eot], pad_token_id=eot).save_pretrained(model_dir)
    cases = []
    for msgs in CONVERSATIONS:
        for gen in (True, False):
            for kwargs in ({}, {"enable_thinking": False}):
                ids = tok.apply_chat_template(msgs, tokenize=True, add_generation_prompt=gen, return_dict=False, **kwargs)
                if isinstance(ids, dict):
                    ids = ids["input_ids"]
                case = {"messages": msgs, "add_generation_prompt": gen, "kwargs": kwargs, "ids": list(ids)}
                if gen:
                    with torch.no_grad():
                        x = torch.tensor([ids])
                        y = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=16, do_sample=False,
                                           eos_token_id=[im_end, eot], pad_token_id=eot)
                    case["greedy"] = y[0, len(ids):].tolist()
                cases.append(case)
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"cases": cases, "stop_ids": [im_end, eot]}, f, ensure_ascii=False)
    print(f"checkpoint reference: {len(cases)} cases, vocab {len(tok)}")


if __name__ == "__main__":
    main()
