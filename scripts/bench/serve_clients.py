#!/usr/bin/env python3
"""Client side of scripts/bench/serve.sh.

  prompts --tokenizer tokenizer.model --out FILE --n N --len L
      N text prompts that encode to exactly L ids (BOS included) and back to the same text, so
      s2d serve (text in) and the in-process engine and HF (ids in) run the same work; writes
      {"prompts": [[ids]], "texts": [...]}.
  load --url URL --prompts FILE --clients C --new-tokens N [--rounds R]
      C clients at once, each one /v1/completions request (greedy, ignore_eos, max_tokens N) on
      its own keep-alive connection; the best of R rounds. Prints one JSON line.
  mixed --url URL --prompts FILE [--short-clients K]
      Latency of short requests (16 tokens) sent while a long one (384 tokens) runs, against the
      same short requests alone: about 1x when they join the running batch, far more when they
      wait for it. Prints one JSON line.
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def prompts(args):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    texts, rows, i = [], [], 0
    while len(rows) < args.n:
        words = f"the quick brown fox {i} jumps over the lazy dog; a coin is heads up {i * 7} " * 8
        ids = sp.encode(words)[: args.len - 1]
        text = sp.decode(ids)
        if sp.encode(text) == ids:
            texts.append(text)
            rows.append([1] + ids)
        i += 1
    with open(args.out, "w") as f:
        json.dump({"prompts": rows, "texts": texts}, f)


def load(args):
    url = urllib.parse.urlparse(args.url)
    texts = json.load(open(args.prompts))["texts"][: args.clients]
    assert len(texts) == args.clients, f"need {args.clients} prompts"

    def one_round():
        results = [None] * args.clients
        start = threading.Barrier(args.clients + 1)

        def client(i):
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
            body = json.dumps({"model": args.model, "prompt": texts[i], "max_tokens": args.new_tokens,
                               "temperature": 0, "ignore_eos": True})
            start.wait()
            conn.request("POST", url.path + "/completions", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            results[i] = (r.status, json.loads(r.read()))
            conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        bad = [r for r in results if r[0] != 200]
        assert not bad, f"{len(bad)} failed: {bad[0]}"
        tokens = sum(r[1]["usage"]["completion_tokens"] for r in results)
        return seconds, tokens

    one_round()  # warm-up
    seconds, tokens = min((one_round() for _ in range(args.rounds)), key=lambda r: r[0])
    print(json.dumps({"engine": "s2d-serve", "clients": args.clients, "new_tokens": args.new_tokens,
                      "seconds": seconds, "tokens": tokens, "tok_s": tokens / seconds}))


def complete(url, text, max_tokens, model):
    """One greedy /v1/completions request; returns its latency in seconds."""
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    body = json.dumps({"model": model, "prompt": text, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True})
    t0 = time.perf_counter()
    conn.request("POST", url.path + "/completions", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200, r.read()
    r.read()
    conn.close()
    return time.perf_counter() - t0


def mixed(args):
    url = urllib.parse.urlparse(args.url)
    texts = json.load(open(args.prompts))["texts"]
    shorts = texts[1: 1 + args.short_clients]

    def short_latencies():
        lat = [0.0] * len(shorts)
        threads = [threading.Thread(target=lambda i=i: lat.__setitem__(i, complete(url, shorts[i], 16, args.model)))
                   for i in range(len(shorts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(lat) / len(lat)

    short_latencies()  # warm-up
    alone = min(short_latencies() for _ in range(3))
    long_latency = [0.0]
    long_thread = threading.Thread(target=lambda: long_latency.__setitem__(0, complete(url, texts[0], 384, args.model)))
    long_thread.start()
    time.sleep(0.3)  # the long request is decoding by now
    during = short_latencies()
    long_thread.join()
    print(json.dumps({"short_clients": len(shorts), "short_alone_s": alone, "short_during_long_s": during,
                      "long_s": long_latency[0], "slowdown": during / alone}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prompts")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--len", type=int, default=32)
    server = argparse.ArgumentParser(add_help=False)  # what both load modes need
    server.add_argument("--url", required=True)
    server.add_argument("--model", default="model")
    server.add_argument("--prompts", required=True)
    ld = sub.add_parser("load", parents=[server])
    ld.add_argument("--clients", type=int, default=32)
    ld.add_argument("--new-tokens", type=int, default=128)
    ld.add_argument("--rounds", type=int, default=3)
    mx = sub.add_parser("mixed", parents=[server])
    mx.add_argument("--short-clients", type=int, default=7)
    args = ap.parse_args()
    {"prompts": prompts, "load": load, "mixed": mixed}[args.cmd](args)


if __name__ == "__main__":
    main()
