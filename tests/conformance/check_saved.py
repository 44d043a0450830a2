#!/usr/bin/env python3
"""Loads every model directory that s2d saved (OUT/<case>/saved) back into transformers and
requires the same logits as the reference, within 1e-4. Exit 1 on any mismatch."""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

TOL = 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    failed, n = 0, 0
    for name in sorted(os.listdir(args.dir)):
        case = os.path.join(args.dir, name)
        if not os.path.exists(os.path.join(case, "reference.json")):
            continue
        saved = os.path.join(case, "saved")
        if not os.path.isdir(saved):
            print(f"{name}: s2d saved nothing at {saved}", file=sys.stderr)
            failed += 1
            continue
        ref = json.load(open(os.path.join(case, "reference.json")))
        ids, mask = torch.tensor(ref["input_ids"]), torch.tensor(ref["attention_mask"])
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        model = AutoModelForCausalLM.from_pretrained(saved, dtype=torch.float32).eval()
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.float()
        want = load_file(os.path.join(case, "logits.safetensors"))["logits"]
        diff = (logits - want).abs().amax(-1)[mask.bool()].max().item()
        ok = diff <= TOL
        failed += not ok
        n += 1
        line = f"conformance {name:<15} s2d-saved dir loaded by transformers: logits max-abs-diff {diff:.3g} {'ok' if ok else 'FAIL'}"
        print(line)
        with open(os.path.join(args.dir, "report.txt"), "a") as f:
            f.write(line + "\n")
    print(f"{n - failed} passed, {failed} failed")
    sys.exit(1 if failed or n == 0 else 0)


if __name__ == "__main__":
    main()
