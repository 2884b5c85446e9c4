#!/usr/bin/env python3
"""Load test for `plexus serve`: total generated tokens/s with 1 stream and
with N concurrent streams, measured in the same run against the same server.

Continuous batching should make N streams much faster in total than one:
the decode steps of all active sequences run as one batched forward, which
reads each weight once for the whole batch.

    bench/serve_load.py --url http://127.0.0.1:8080 --streams 1,8 --max-tokens 64
    bench/serve_load.py --plexus build/apps/plexus -m model.gguf --streams 1,8   # starts its own server
    ... --json      # one JSON object per stream count

Each stream sends a completion (or, with --chat, a chat completion) with
stream: true, sampled with its own seed, and reads it to [DONE]; usage from
stream_options.include_usage gives the exact completion token count. Total
tokens/s is all streams' generated tokens over the wall time of the round,
prefill included.
Stdlib only.
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

PROMPTS = [
    "Tell me a story about a dragon.",
    "Once upon a time there was a little girl.",
    "Write about a cat who found a hat.",
    "The boy went to the park and",
    "A long time ago, in a small town,",
    "Lily and Ben liked to play in the garden.",
    "The sun was shining and the birds",
    "Tom had a big red ball.",
]


def one_stream(url, model, prompt, max_tokens, api_key, out, idx, chat):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = {
        "model": model,
        "max_tokens": max_tokens,
        "temperature": 0.8,
        "seed": 1000 + idx,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = "Bearer " + api_key
    t0 = time.monotonic()
    conn.request("POST", "/v1/chat/completions" if chat else "/v1/completions", json.dumps(body), headers)
    resp = conn.getresponse()
    if resp.status != 200:
        out[idx] = {"error": f"HTTP {resp.status}: {resp.read()[:200]!r}"}
        return
    first = None
    tokens = 0
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        if "error" in chunk:
            out[idx] = {"error": chunk["error"]}
            return
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
        choice = chunk["choices"][0] if chunk.get("choices") else {}
        text = choice.get("delta", {}).get("content") if chat else choice.get("text")
        if text and first is None:
            first = time.monotonic()
    end = time.monotonic()
    out[idx] = {"tokens": tokens, "seconds": end - t0, "ttft": (first or end) - t0}
    conn.close()


def run_streams(url, model, n, max_tokens, api_key, chat):
    results = [None] * n
    threads = [threading.Thread(target=one_stream, args=(url, model, PROMPTS[i % len(PROMPTS)], max_tokens,
                                                          api_key, results, i, chat)) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    errors = [r["error"] for r in results if r is None or "error" in r]
    if errors:
        raise SystemExit(f"serve_load: {len(errors)} of {n} streams failed: {errors[0]}")
    tokens = sum(r["tokens"] for r in results)
    return {"streams": n, "tokens": tokens, "wall_s": round(wall, 3), "total_tps": round(tokens / wall, 2),
            "per_stream_tps": round(tokens / wall / n, 2),
            "mean_ttft_ms": round(1000 * sum(r["ttft"] for r in results) / n, 1)}


def start_server(plexus, model, threads, parallel, extra):
    cmd = [plexus, "serve", "-m", model, "--port", "0", "-t", str(threads), "--parallel", str(parallel)] + extra
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 300
    for line in proc.stdout:  # "plexus: serving MODEL at http://HOST:PORT/ (dashboard)"
        m = re.search(r"at (http://[^/\s]+)/", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, m.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit("serve_load: the server did not start")


def model_id(url, api_key):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request("GET", "/v1/models", headers={"Authorization": "Bearer " + api_key} if api_key else {})
    return json.loads(conn.getresponse().read())["data"][0]["id"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (else --plexus and -m start one)")
    ap.add_argument("--plexus", help="plexus binary to start a server with")
    ap.add_argument("-m", "--model")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--parallel", type=int, default=8, help="the started server's --parallel")
    ap.add_argument("--streams", default="1,8", help="comma-separated stream counts, run in order")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--api-key", default=os.environ.get("PLEXUS_API_KEY", ""))
    ap.add_argument("--chat", action="store_true", help="use /v1/chat/completions (default: /v1/completions, "
                    "whose short prompts keep prefill small)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("server_args", nargs="*", help="extra arguments for the started server (after --)")
    a = ap.parse_args()
    proc = None
    url = a.url
    if not url:
        if not (a.plexus and a.model):
            ap.error("give --url, or --plexus and -m")
        proc, url = start_server(a.plexus, a.model, a.threads, a.parallel, a.server_args)
    try:
        model = model_id(url, a.api_key)
        run_streams(url, model, 1, 8, a.api_key, a.chat)  # warm-up: page the weights in
        rows = [run_streams(url, model, int(n), a.max_tokens, a.api_key, a.chat) for n in a.streams.split(",")]
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
    base = rows[0]["total_tps"]
    for r in rows:
        r["speedup_vs_first"] = round(r["total_tps"] / base, 2) if base else None
        if a.json:
            print(json.dumps(r))
        else:
            print(f"{r['streams']:>3} streams: {r['tokens']:>5} tokens in {r['wall_s']:>7.2f} s = "
                  f"{r['total_tps']:>8.2f} t/s total, {r['per_stream_tps']:>7.2f} t/s per stream, "
                  f"ttft {r['mean_ttft_ms']:>7.1f} ms, x{r['speedup_vs_first']}")


if __name__ == "__main__":
    sys.exit(main())
