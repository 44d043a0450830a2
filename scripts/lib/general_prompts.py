#!/usr/bin/env python3
"""General prompts for scripts/real_model.sh: what the student should keep doing after distillation.

  general_prompts.py OUT_DIR  writes three disjoint task files (task "open", no labels):
    general.probe.jsonl   the six fixed questions the report shows before and after
    general.dev.jsonl     held-out prompts: how many of the base model's answers a setting keeps
                          (the settings sweep reads it; never trained on)
    general.replay.jsonl  the replay pool: the student's own answers to these are mixed into the
                          SFT set, so that distillation has something to keep besides the new skill

The prompts are built from templates over fixed word lists, in a fixed order; no one-digit
addition appears anywhere, so the one-digit-sums probe stays unseen.
"""
import itertools
import json
import os
import random
import sys

PROBE = ["What is the capital of France?", "Name three primary colours.", "Write one sentence about the sea.",
         "What is 7 times 8?", "Who wrote Romeo and Juliet?", "Translate 'thank you' into Spanish."]

COUNTRIES = ["Germany", "Italy", "Spain", "Japan", "Canada", "Brazil", "Egypt", "India", "Kenya", "Norway", "Peru",
             "Greece", "Turkey", "Mexico", "Sweden", "Poland", "Chile", "Ireland", "Portugal", "Australia"]
CATEGORIES = ["fruits", "animals that live in the ocean", "musical instruments", "planets", "kinds of trees",
              "vegetables", "European rivers", "sports played with a ball", "birds", "programming languages",
              "metals", "shapes", "insects", "flowers", "board games"]
TOPICS = ["the moon", "a forest", "winter", "a library", "the desert", "a train journey", "rain", "mountains",
          "a city at night", "the wind", "a garden", "friendship", "a river", "autumn", "a lighthouse"]
BOOKS = ["Hamlet", "Pride and Prejudice", "Don Quixote", "War and Peace", "The Odyssey", "Moby-Dick",
         "Oliver Twist", "Macbeth", "Frankenstein", "The Divine Comedy", "Les Miserables", "Great Expectations"]
PHRASES = ["good morning", "please", "goodbye", "I love you", "how are you", "good night", "excuse me", "welcome"]
LANGUAGES = ["French", "German", "Italian", "Portuguese", "Spanish"]
WORDS = ["hot", "fast", "happy", "light", "early", "strong", "open", "full", "young", "loud", "soft", "rich"]
CONCEPTS = ["gravity", "photosynthesis", "inflation", "a rainbow", "democracy", "an eclipse", "evaporation",
            "a volcano", "electricity", "recycling"]


def prompts():
    out = [f"What is the capital of {c}?" for c in COUNTRIES]
    out += [f"Name three {c}." for c in CATEGORIES]
    out += [f"Write one sentence about {t}." for t in TOPICS]
    out += [f"Who wrote {b}?" for b in BOOKS]
    out += [f"Translate '{p}' into {lang}." for p, lang in itertools.product(PHRASES, LANGUAGES)]
    out += [f"What is the opposite of {w}?" for w in WORDS]
    out += [f"Explain {c} in one sentence." for c in CONCEPTS]
    out += [f"What is {a} times {b}?" for a, b in itertools.product(range(2, 10), range(2, 10)) if a <= b]
    out += [f"What is {a} minus {b}?" for a, b in itertools.product(range(20, 100, 9), range(3, 19, 5))]
    return [p for p in dict.fromkeys(out) if p not in PROBE]  # unique, in order, never a probe question


def write(path, items, prefix):
    with open(path, "w") as f:
        for i, q in enumerate(items):
            f.write(json.dumps({"id": f"{prefix}-{i:03d}", "task": "open", "input": q}) + "\n")


def main():
    out = sys.argv[1]
    pool = prompts()
    random.Random(0).shuffle(pool)
    dev, replay = pool[:40], pool[40:]
    write(os.path.join(out, "general.probe.jsonl"), PROBE, "general")
    write(os.path.join(out, "general.dev.jsonl"), dev, "general-dev")
    write(os.path.join(out, "general.replay.jsonl"), replay, "general-replay")
    print(f"general prompts: {len(PROBE)} probe, {len(dev)} dev, {len(replay)} replay")


if __name__ == "__main__":
    main()
