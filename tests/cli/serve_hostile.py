"""A hostile client against `s2d serve`, on loopback only, every loop bounded in count and time.

Starts the server on the toy model, then sends: malformed HTTP, deep and huge JSON, oversized
numbers, invalid UTF-8, auth edge cases (a NUL byte inside the bearer token among them), a few
hundred held connections with slow senders, and finally requests racing SIGTERM. It checks that
the server stays up, never answers 5xx to a client's mistake, keeps its resident memory flat,
answers a normal request after each round, and exits 0 on SIGTERM.

Usage: serve_hostile.py S2D_BINARY MODEL_DIR WORKDIR
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

S2D, MODEL, WORK = sys.argv[1:4]
KEY = "sk-hostile-%d" % os.getpid()
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def start_server():
    os.makedirs(WORK, exist_ok=True)
    out = open(os.path.join(WORK, "serve.out"), "w")
    err = open(os.path.join(WORK, "serve.err"), "w")
    proc = subprocess.Popen([S2D, "--log-level", "warn", "serve", "--model", MODEL, "--port", "0", "--api-key", KEY,
                             "--served-model-name", "toy", "--max-body-bytes", "1000000"],
                            stdout=out, stderr=err)
    for _ in range(600):
        text = open(os.path.join(WORK, "serve.out")).read()
        m = re.search(r"127\.0\.0\.1:(\d+)", text)
        if m:
            return proc, int(m.group(1))
        if proc.poll() is not None:
            sys.exit("FAIL: serve exited: " + open(os.path.join(WORK, "serve.err")).read())
        time.sleep(0.1)
    sys.exit("FAIL: serve did not start")


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def raw(port, data, timeout=10.0):
    """Sends raw bytes; returns the HTTP status of the reply (0 when the server closed without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)  # no shutdown(SHUT_WR): the server would take the half-close for a hang-up
        except OSError:
            pass  # the server may close early on garbage: that is an answer too
        reply = b""
        try:
            while len(reply) < 1 << 20:
                chunk = s.recv(65536)
                if not chunk:
                    break
                reply += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return int(m.group(1)) if m else 0


def post(port, body, key=KEY, path="/v1/chat/completions", extra=b"", timeout=10.0):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogateescape")
    head = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    if key is not None:
        head += b"Authorization: Bearer " + (key if isinstance(key, bytes) else key.encode()) + b"\r\n"
    head += extra + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n"
    return raw(port, head + body, timeout)


CHAT = '{"messages": [{"role": "user", "content": "Is the coin still heads up?"}], "max_tokens": 8}'


def normal_request_ok(port, what):
    t0 = time.time()
    status = post(port, CHAT)
    check(status == 200, "%s: a normal request answers 200 (got %d in %.1f s)" % (what, status, time.time() - t0))


def expect_4xx(port, status, what):
    check(400 <= status < 500 or status == 0, "%s -> %d (4xx, or closed, never 5xx)" % (what, status))


proc, port = start_server()
normal_request_ok(port, "warm-up")
rss0 = rss_kb(proc.pid)

# --- malformed HTTP ---------------------------------------------------------------------------------
malformed = {
    "garbage bytes": b"\x00\xff\xfe GARBAGE \x01\r\n\r\n",
    "no request line": b"\r\n\r\n",
    "bad method": b"BREW /v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
    "HTTP/9.9": b"GET /v1/models HTTP/9.9\r\nHost: x\r\n\r\n",
    "100 KB request line": b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",

    "64 KB header": b"GET /health HTTP/1.1\r\nX-Big: " + b"y" * 65536 + b"\r\n\r\n",
    "negative Content-Length": b"POST /v1/completions HTTP/1.1\r\nAuthorization: Bearer " + KEY.encode() +
                               b"\r\nContent-Length: -5\r\n\r\n{}",
    "huge Content-Length": b"POST /v1/completions HTTP/1.1\r\nAuthorization: Bearer " + KEY.encode() +
                           b"\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
    "short body": b"POST /v1/completions HTTP/1.1\r\nAuthorization: Bearer " + KEY.encode() +
                  b"\r\nContent-Length: 100\r\n\r\n{\"prompt\":",
    "bad chunk size": b"POST /v1/completions HTTP/1.1\r\nAuthorization: Bearer " + KEY.encode() +
                      b"\r\nTransfer-Encoding: chunked\r\n\r\nZZZZ\r\nabc\r\n0\r\n\r\n",
    "huge chunk size": b"POST /v1/completions HTTP/1.1\r\nAuthorization: Bearer " + KEY.encode() +
                       b"\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n",
}
for what, data in malformed.items():
    expect_4xx(port, raw(port, data), "malformed HTTP: " + what)
many = b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(1000)) + b"Connection: close\r\n\r\n"
got = raw(port, many)
check(got == 200 or 400 <= got < 500 or got == 0, "1,000 headers (legal HTTP) -> %d (an answer, never 5xx)" % got)
normal_request_ok(port, "after malformed HTTP")

# --- deep, huge and mistyped JSON -------------------------------------------------------------------
deep = '{"messages": ' + "[" * 100000 + "]" * 100000 + "}"
check(post(port, deep) == 400, "100,000-deep JSON (%d KB) with the key -> 400" % (len(deep) // 1024))
expect_4xx(port, post(port, deep, key=None), "100,000-deep JSON without the key")
check(post(port, "x" * 1100000) == 413, "a body over --max-body-bytes -> 413")
check(post(port, '{"messages": [{"role": "user", "content": "' + "a" * 900000 + '"}], "max_tokens": 4}') == 400,
      "a 900 KB prompt that cannot fit the context -> 400")
numbers = {
    "max_tokens 1e400": ('{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e400}', 400),
    "max_tokens 1e9": ('{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000000000}', 422),
    "n 1e20": ('{"messages": [{"role": "user", "content": "hi"}], "n": 100000000000000000000}', 422),
    "temperature 1e308": ('{"messages": [{"role": "user", "content": "hi"}], "temperature": 1e308}', 422),
    "seed 2^64+1": ('{"messages": [{"role": "user", "content": "hi"}], "seed": 18446744073709551617}', 422),
    "top_k -2^63": ('{"messages": [{"role": "user", "content": "hi"}], "top_k": -9223372036854775808}', 422),
    "include_usage a string": ('{"messages": [{"role": "user", "content": "hi"}], "stream": true, '
                               '"stream_options": {"include_usage": "yes"}}', 422),
    "content part of the wrong type": ('{"messages": [{"role": "user", "content": [{"type": 5}]}]}', 422),
}
for what, (body, want) in numbers.items():
    got = post(port, body)
    check(got == want, "%s -> %d (want %d)" % (what, got, want))
for what, body in {"invalid UTF-8 in a string": b'{"messages": [{"role": "user", "content": "\xff\xfe\xc3"}]}',
                   "invalid UTF-8 outside strings": b'{"messages": \xff}',
                   "a NUL in the body": b'{"messages": [{"role": "user", "content": "a\x00b"}]}'}.items():
    got = post(port, body)
    check(got == 400, "%s -> %d (want 400)" % (what, got))
normal_request_ok(port, "after bad JSON")

# --- authentication edge cases ----------------------------------------------------------------------
auth_cases = {
    "no header": None,
    "empty token": b"",
    "NUL inside the token": KEY.encode()[:5] + b"\x00" + KEY.encode()[5:],
    "a prefix of the key": KEY.encode()[:-1],
    "the key plus a byte": KEY.encode() + b"x",
    "8 KB token": b"k" * 8192,
}
for what, token in auth_cases.items():
    got = post(port, CHAT, key=token)
    check(got == 401 or got == 400 or got == 0, "auth, %s -> %d (401)" % (what, got))
# The HTTP parser ends a header value at a NUL, so "KEY\0" reads as KEY: accepted, which gives nothing
# away (the sender holds the key); anything else after the key, or a NUL inside it, is refused.
got = post(port, CHAT, key=KEY.encode() + b"\x00")
check(got in (200, 401), "auth, the key plus a trailing NUL -> %d (200: the header ends at the NUL; or 401)" % got)
got = raw(port, b"POST /v1/chat/completions HTTP/1.1\r\nauthorization: bearer " + KEY.encode() +
          b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
expect_4xx(port, got, "auth, lower-case scheme")
normal_request_ok(port, "after auth cases")

# --- held connections and slow senders (bounded: 300 sockets, 20 senders for 6 s) -------------------
held = []
for _ in range(300):
    try:
        held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    except OSError:
        break
stop = threading.Event()


def slow_sender():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for b in b"POST /v1/completions HTTP/1.1\r\nContent-Length: 1000\r\n\r\n":
                if stop.is_set():
                    return
                s.send(bytes([b]))
                time.sleep(0.1)
    except OSError:
        pass


senders = [threading.Thread(target=slow_sender) for _ in range(20)]
for t in senders:
    t.start()
time.sleep(1)
t0 = time.time()
status = post(port, CHAT, timeout=60)  # thread-per-connection: it waits for a free worker (at most the 5 s read timeout)
check(status == 200, "%d held connections + 20 slow senders: a normal request answers 200 (%d in %.1f s)" %
      (len(held), status, time.time() - t0))
stop.set()
for t in senders:
    t.join(timeout=10)
for s in held:
    s.close()
time.sleep(1)
normal_request_ok(port, "after held connections")

# --- memory stays flat ----------------------------------------------------------------------------
for _ in range(3):  # the same attacks again: growth between rounds would be a leak
    post(port, deep)
    post(port, numbers["max_tokens 1e400"][0])
    post(port, b'{"messages": [{"role": "user", "content": "\xff"}]}')
rss1 = rss_kb(proc.pid)
check(rss1 - rss0 < 64 * 1024, "resident memory flat: %d KiB before the attacks, %d KiB after (+%d KiB)" %
      (rss0, rss1, rss1 - rss0))
check(proc.poll() is None, "the server is still up")

# --- requests racing SIGTERM ------------------------------------------------------------------------
results = []


def racer():
    try:
        results.append(post(port, CHAT))
    except OSError:
        results.append(-1)  # refused once the server stopped listening: fine


racers = [threading.Thread(target=racer) for _ in range(16)]
for t in racers:
    t.start()
time.sleep(0.05)
proc.send_signal(signal.SIGTERM)
for t in racers:
    t.join(timeout=60)
try:
    rc = proc.wait(timeout=60)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = -9
check(all(r in (200, 0, -1) or 400 <= r < 500 for r in results) and len(results) == 16,
      "16 requests racing SIGTERM: %s (200, or refused, never 5xx)" % sorted(results))
check(rc == 0, "SIGTERM: the server exits 0 (got %d)" % rc)
err = open(os.path.join(WORK, "serve.err")).read()
check("Segmentation" not in err and "terminate called" not in err, "no crash in the server's stderr")

if failures:
    print("serve_hostile: %d checks FAILED" % len(failures))
    sys.exit(1)
print("serve_hostile: all checks passed")
