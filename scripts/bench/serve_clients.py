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
  shared-prefix --url URL --clients C --requests R --system-words W [--new-tokens N]
      C clients, each sending R chat requests back to back (greedy, 1 to 2N new tokens, so that the
      clients fall out of step as real ones do) that share one
      system message of W words of worked examples (the few-shot block an evaluation harness
      sends) and differ in the question. Prints one JSON line: seconds, requests per second,
      median latency, prompt tokens per request and how many of them the server reported cached.
  chat --url URL --clients C --requests R --system-words W [--new-tokens N]
      C clients, each holding one conversation of R turns (greedy, 1 to 2N new tokens): every
      turn sends the whole history again, each user message about W words of the client's own
      facts and a question on them, each assistant message the server's earlier reply. A server
      that keeps earlier turns' keys and values computes only the new message. Replies are
      streamed; the JSON line adds the median time to the first piece of text.
  soak --url URL --prompts FILE --clients C --minutes M --pid PID
      C clients for M minutes, each sending requests back to back (chat and completions in turn,
      2 to 64 new tokens, every 10th one streamed, every 7th one malformed on purpose and expected
      to get a 4xx). Samples the server's resident memory (/proc/PID) each 10 s. Prints one JSON
      line: requests, errors, p50/p99 latency, RSS at the start and the end.
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


def chat_clients(args, request_of, stream=False):
    """args.clients clients at once, each sending args.requests chat requests back to back on its
    own keep-alive connection. request_of(c, r, replies) gives request r of client c (the body
    without "model"), replies being that client's earlier answers. With `stream`, each reply is
    streamed and the time to its first piece of text is kept too. Prints one JSON line."""
    url = urllib.parse.urlparse(args.url)
    lat, ttft, prompt_tokens, cached_tokens = [], [], [], []
    lock = threading.Lock()

    def ask(conn, body):  # (reply text, usage, seconds to the first text or None)
        t0 = time.perf_counter()
        conn.request("POST", url.path + "/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        if not stream:
            out = json.loads(resp.read())
            assert resp.status == 200, out
            return out["choices"][0]["message"]["content"], out["usage"], None
        assert resp.status == 200, resp.read()
        text, usage, first = [], None, None
        for line in resp:
            line = line.strip()
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            usage = chunk.get("usage") or usage
            for choice in chunk["choices"]:
                piece = choice["delta"].get("content") or ""
                if piece and first is None:
                    first = time.perf_counter() - t0
                text.append(piece)
        return "".join(text), usage, first

    def client(c):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        replies = []
        for r in range(args.requests):
            body = {"model": args.model, **request_of(c, r, replies)}
            if stream:
                body.update({"stream": True, "stream_options": {"include_usage": True}})
            t0 = time.perf_counter()
            reply, usage, first = ask(conn, body)
            replies.append(reply)
            with lock:
                lat.append(time.perf_counter() - t0)
                if first is not None:
                    ttft.append(first)
                prompt_tokens.append(usage["prompt_tokens"])
                cached_tokens.append((usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0))
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    lat.sort()
    ttft.sort()
    print(json.dumps({"clients": args.clients, "requests": len(lat), "seconds": seconds, "req_s": len(lat) / seconds,
                      "p50_s": lat[len(lat) // 2], "ttft_p50_s": ttft[len(ttft) // 2] if ttft else None,
                      "prompt_tokens": sum(prompt_tokens) / len(prompt_tokens),
                      "cached_tokens": sum(cached_tokens) / len(cached_tokens)}))


def shared_prefix(args):
    examples = [f"Q: what is {i} plus {i * 3}? A: {i} plus {i * 3} is {i * 4}." for i in range(1, 400)]
    words, system = 0, []
    for e in examples:  # whole examples, about W words
        if words >= args.system_words:
            break
        system.append(e)
        words += len(e.split())
    system = "Answer in the style of these worked examples.\n" + "\n".join(system)

    def request_of(c, r, replies):
        n = 1000 + c * args.requests + r
        # Answers of 1 to 2N tokens (N on average), so that the clients fall out of step.
        return {"max_tokens": 1 + (n * 7) % (2 * args.new_tokens), "temperature": 0, "ignore_eos": True,
                "messages": [{"role": "system", "content": system},
                             {"role": "user", "content": f"Q: what is {n} plus {n % 97}?"}]}

    chat_clients(args, request_of)


def chat(args):
    def note(c, r):  # about W words of the client's own facts, then a question on them
        facts = " ".join(f"Box {c}-{r}-{i} holds {(c * 31 + r * 7 + i * 13) % 50} red and {(i * 17 + r) % 40} blue "
                         "marbles." for i in range(max(1, args.system_words // 9)))
        return f"{facts}\nThink step by step: how many marbles do boxes {c}-{r}-0 and {c}-{r}-1 hold together?"

    def request_of(c, r, replies):
        messages = [{"role": "system", "content": "You are a careful assistant. Answer briefly."}]
        for t, reply in enumerate(replies):
            messages += [{"role": "user", "content": note(c, t)}, {"role": "assistant", "content": reply}]
        messages.append({"role": "user", "content": note(c, r)})
        return {"max_tokens": 1 + (1000 + c * args.requests + r) * 7 % (2 * args.new_tokens), "temperature": 0,
                "messages": messages}

    chat_clients(args, request_of, stream=True)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def soak(args):
    url = urllib.parse.urlparse(args.url)
    texts = json.load(open(args.prompts))["texts"]
    deadline = time.monotonic() + args.minutes * 60
    lock = threading.Lock()
    lat, errors, counts = [], [], {"requests": 0, "rejected_as_expected": 0}

    def client(c):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        i = 0
        while time.monotonic() < deadline:
            i += 1
            text = texts[(c + i) % len(texts)]
            n = 2 + (c * 31 + i * 17) % 63
            bad = i % 7 == 0
            if i % 2 == 0:
                path, body = "/chat/completions", {"messages": [{"role": "user", "content": text}], "max_tokens": n}
            else:
                path, body = "/completions", {"prompt": text, "max_tokens": n}
            body.update({"model": args.model, "temperature": 0.7, "seed": i, "stream": i % 10 == 0})
            raw = json.dumps(body)
            if bad:
                raw = raw.replace('"max_tokens": %d' % n, '"max_tokens": 1e400')
            t0 = time.perf_counter()
            try:
                conn.request("POST", url.path + path, raw, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                status = repr(e)
                conn.close()
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
            dt = time.perf_counter() - t0
            with lock:
                counts["requests"] += 1
                if bad and status == 400:
                    counts["rejected_as_expected"] += 1
                elif not bad and status == 200:
                    lat.append(dt)
                else:
                    errors.append(f"{path} bad={bad}: {status}")
        conn.close()

    rss = [rss_kb(args.pid)]
    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        time.sleep(min(10, max(0.1, deadline - time.monotonic())))
        rss.append(rss_kb(args.pid))
    for t in threads:
        t.join()
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
    print(json.dumps({"clients": args.clients, "minutes": args.minutes, "requests": counts["requests"],
                      "ok": len(lat), "rejected_as_expected": counts["rejected_as_expected"],
                      "errors": len(errors), "first_errors": errors[:5], "p50_s": pick(0.5), "p99_s": pick(0.99),
                      "rss_start_kb": rss[0], "rss_end_kb": rss[-1], "rss_max_kb": max(rss)}))


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
    chats = argparse.ArgumentParser(add_help=False)  # what both chat modes need
    chats.add_argument("--url", required=True)
    chats.add_argument("--model", default="model")
    chats.add_argument("--clients", type=int, default=8)
    chats.add_argument("--requests", type=int, default=8)
    chats.add_argument("--system-words", type=int, default=400)
    chats.add_argument("--new-tokens", type=int, default=16)
    sub.add_parser("shared-prefix", parents=[chats])
    sub.add_parser("chat", parents=[chats])
    sk = sub.add_parser("soak", parents=[server])
    sk.add_argument("--clients", type=int, default=8)
    sk.add_argument("--minutes", type=float, default=10)
    sk.add_argument("--pid", type=int, required=True)
    args = ap.parse_args()
    {"prompts": prompts, "load": load, "mixed": mixed, "shared-prefix": shared_prefix,
     "chat": chat, "soak": soak}[args.cmd](args)


if __name__ == "__main__":
    main()
