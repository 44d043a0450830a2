"""The official `openai` package as a client of `s2d serve` (run by serve_http.sh).

Usage: openai_client_check.py BASE_URL API_KEY
Checks chat, completions and streaming (streamed text == the non-streamed greedy text), n with a
seed, stop strings, each 4xx, and 64 concurrent clients x 10 requests, all answered identically
to a lone request with the same prompt.
"""
import json
import sys
import threading
import urllib.error
import urllib.request

import openai
from openai import OpenAI

URL, KEY = sys.argv[1], sys.argv[2]
client = OpenAI(base_url=URL, api_key=KEY, max_retries=0, timeout=300)
# The CoT prompt the toy model was trained on: a long answer, so streaming has many pieces.
Q = ("A coin is heads up. Tom flips the coin. Maria does not flip the coin. Is the coin still heads up?\n"
     "Let's think step by step. Note that \"flip\" here means \"reverse\". "
     "Finish with \"The answer is Yes.\" or \"The answer is No.\"")


def user(text):
    return [{"role": "user", "content": text}]


# Models
assert [m.id for m in client.models.list().data] == ["toy"]

# Chat, then the same request streamed: the pieces must add up to the same text and usage.
chat = client.chat.completions.create(model="toy", messages=user(Q), temperature=0, max_tokens=96)
text = chat.choices[0].message.content
assert text and chat.choices[0].finish_reason in ("stop", "length"), chat
assert chat.usage.completion_tokens > 0 and chat.usage.prompt_tokens > 0, chat.usage
pieces, finish, usage = [], None, None
for chunk in client.chat.completions.create(model="toy", messages=user(Q), temperature=0, max_tokens=96, stream=True,
                                            stream_options={"include_usage": True}):
    usage = chunk.usage or usage
    for c in chunk.choices:
        pieces.append(c.delta.content or "")
        finish = c.finish_reason or finish
assert "".join(pieces) == text, (pieces, text)
assert sum(1 for p in pieces if p) > 1, f"not streamed incrementally: {pieces}"
assert finish == chat.choices[0].finish_reason and usage.completion_tokens == chat.usage.completion_tokens
print(f"  chat: {text!r} ({chat.usage.completion_tokens} tokens); streamed in {sum(1 for p in pieces if p)} pieces, same text")

# The next turn starts with the first turn's prompt and answer, whose keys and values the server
# kept: usage says how many prompt tokens it did not compute.
turn2 = client.chat.completions.create(
    model="toy", messages=user(Q) + [{"role": "assistant", "content": text}] + user("Are you sure?"), temperature=0,
    max_tokens=8)
cached = turn2.usage.prompt_tokens_details.cached_tokens
assert chat.usage.prompt_tokens < cached < turn2.usage.prompt_tokens, (chat.usage, turn2.usage)
print(f"  next turn: {cached} of {turn2.usage.prompt_tokens} prompt tokens cached (the first turn's prompt: "
      f"{chat.usage.prompt_tokens}, its answer {chat.usage.completion_tokens})")

# Completions, plain and streamed.
comp = client.completions.create(model="toy", prompt="[INST] " + Q + " [/INST]", temperature=0, max_tokens=24)
ctext = comp.choices[0].text
streamed = "".join(c.choices[0].text for c in client.completions.create(
    model="toy", prompt="[INST] " + Q + " [/INST]", temperature=0, max_tokens=24, stream=True) if c.choices)
assert streamed == ctext, (streamed, ctext)
print(f"  completions: {ctext!r}; streamed the same")

# n with a seed is reproducible; a stop string cuts the text before it.
r1 = client.chat.completions.create(model="toy", messages=user(Q), n=3, temperature=1.0, seed=123, max_tokens=24)
r2 = client.chat.completions.create(model="toy", messages=user(Q), n=3, temperature=1.0, seed=123, max_tokens=24)
assert len(r1.choices) == 3 and [c.message.content for c in r1.choices] == [c.message.content for c in r2.choices]
words = text.split()
if len(words) > 2:
    stop = " " + words[2]
    cut = client.chat.completions.create(model="toy", messages=user(Q), temperature=0, max_tokens=96, stop=[stop])
    assert cut.choices[0].message.content == text[:text.index(stop)], (cut.choices[0].message.content, text, stop)
    assert cut.choices[0].finish_reason == "stop"
print("  n=3 with a seed reproducible; stop strings cut the text")


# Errors: each gets its status and an OpenAI-shaped body.
def raw(path, data, key=KEY):
    req = urllib.request.Request(URL + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body)


cases = [
    ("malformed JSON", b'{"model": "toy", "messages": [', KEY, 400, None),
    ("missing messages", json.dumps({"model": "toy"}).encode(), KEY, 422, "messages"),
    ("huge max_tokens", json.dumps({"model": "toy", "messages": user(Q), "max_tokens": 10**9}).encode(), KEY, 422, "max_tokens"),
    ("wrong key", json.dumps({"model": "toy", "messages": user(Q)}).encode(), "sk-wrong", 401, None),
    ("no key", json.dumps({"model": "toy", "messages": user(Q)}).encode(), None, 401, None),
    ("unknown model", json.dumps({"model": "gpt-9", "messages": user(Q)}).encode(), KEY, 404, "model"),
    ("body over 1 MiB", json.dumps({"model": "toy", "messages": user("x" * (2 << 20))}).encode(), KEY, 413, None),
]
for name, data, key, status, param in cases:
    got, body = raw("/chat/completions", data, key)
    assert got == status, f"{name}: HTTP {got}, want {status}: {body}"
    assert "message" in body["error"] and body["error"]["param"] == param, f"{name}: {body}"
    print(f"  {name}: {got} {body['error']['message'][:70]!r}")
try:
    OpenAI(base_url=URL, api_key="sk-wrong", max_retries=0).models.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError:
    pass
try:
    client.chat.completions.create(model="toy", messages=user(Q), max_tokens=10**9)
    raise AssertionError("huge max_tokens was accepted")
except openai.UnprocessableEntityError:
    pass

# 64 concurrent clients x 10 requests: every answer equals a lone request's for the same prompt.
prompts = [f"A coin is heads up. {name} flips the coin. Is the coin still heads up?" for name in ("Ann", "Bob", "Cy", "Dee")]
alone = [client.chat.completions.create(model="toy", messages=user(p), temperature=0, max_tokens=16).choices[0].message.content
         for p in prompts]
errors, answered = [], []
lock = threading.Lock()


def worker(i):
    c = OpenAI(base_url=URL, api_key=KEY, max_retries=0, timeout=300)
    for k in range(10):
        j = (i + k) % len(prompts)
        try:
            out = c.chat.completions.create(model="toy", messages=user(prompts[j]), temperature=0, max_tokens=16)
            got = out.choices[0].message.content
            with lock:
                answered.append(got == alone[j] or f"prompt {j}: {got!r} != {alone[j]!r}")
        except Exception as e:  # noqa: BLE001 - every failure is reported below
            with lock:
                errors.append(f"client {i} request {k}: {type(e).__name__}: {e}")


threads = [threading.Thread(target=worker, args=(i,)) for i in range(64)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, f"{len(errors)} errors, e.g. {errors[:3]}"
mismatches = [a for a in answered if a is not True]
assert len(answered) == 640 and not mismatches, f"{len(answered)} answered, mismatches: {mismatches[:3]}"
print("  64 clients x 10 requests: 640 answered, 0 errors, all equal to the lone answers")
