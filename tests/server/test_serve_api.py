#!/usr/bin/env python3
"""plexus serve end to end over HTTP, with the python standard library only.

Starts `plexus serve --port 0` on stories260K and checks the OpenAI and Ollama
routes, streaming, errors, concurrency (64 streaming clients), clients that
vanish mid-stream, /health under load, auth, 429 and the metrics.
Usage: test_serve_api.py --plexus BIN --model stories260K.gguf
"""
import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print(f"FAIL {what}", flush=True)
    return cond


class Server:
    """One `plexus serve` process; its stderr (the request log) is kept for failures."""

    def __init__(self, plexus, model, *extra):
        # --ctx 512: the longest generations (max_tokens clamped to the context) stay short.
        cmd = [plexus, "serve", "-m", model, "--port", "0", "-t", "1", "--ctx", "512", *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.log = []
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()
        line = self._first_line(30)
        m = re.match(r"plexus: serving (\S+) at http://([^/]+):(\d+)/ \(dashboard\)", line or "")
        if not m:
            self.proc.kill()
            raise RuntimeError(f"no 'serving' line (got {line!r}); stderr:\n" + "".join(self.log[-20:]))
        self.model_id, self.port = m.group(1), int(m.group(3))
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()

    def _first_line(self, timeout):
        box = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        return box[0] if box else None

    def _drain(self, pipe):
        for line in pipe:
            self.log.append(line)

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers, body bytes). `body` may be bytes, str or a JSON-able object."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def json(self, method, path, body=None, headers=None, timeout=60):
        status, hdrs, data = self.request(method, path, body, headers, timeout)
        try:
            return status, hdrs, json.loads(data) if data else None
        except ValueError:
            return status, hdrs, {"_raw": data.decode(errors="replace")}

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None


def sse_events(data):
    """The payloads of `data: ...` events, in order."""
    return [line[6:] for line in data.decode().split("\n") if line.startswith("data: ")]


def chat_body(content, **kw):
    body = {"model": "stories260K", "messages": [{"role": "user", "content": content}]}
    body.update(kw)
    return body


def streamed_chat(srv, body):
    """(text, finish_reason, events) of a streamed chat completion."""
    status, _, data = srv.request("POST", "/v1/chat/completions", dict(body, stream=True))
    if status != 200:
        return None, f"HTTP {status}: {data[:200]!r}", []
    events = sse_events(data)
    text, finish = "", None
    for e in events[:-1]:
        j = json.loads(e)
        for c in j.get("choices", []):
            text += c["delta"].get("content") or ""
            finish = c.get("finish_reason") or finish
    return text, finish, events


class HealthWatch:
    """Polls /health every 100 ms from its own thread; records the slowest answer and any failure."""

    def __init__(self, srv):
        self.srv, self.worst, self.errors, self.stop_flag = srv, 0.0, [], False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag:
            t0 = time.time()
            try:
                status, _, _ = self.srv.request("GET", "/health", timeout=5)
                if status != 200:
                    self.errors.append(f"status {status}")
            except OSError as e:
                self.errors.append(str(e))
            self.worst = max(self.worst, time.time() - t0)
            time.sleep(0.1)

    def finish(self):
        self.stop_flag = True
        self.thread.join()


def test_basics(srv):
    status, _, j = srv.json("GET", "/health")
    check(status == 200 and j == {"status": "ok"}, f"/health: {status} {j}")
    status, _, j = srv.json("GET", "/v1/models")
    check(status == 200 and j["data"][0]["id"] == "stories260K", f"/v1/models: {j}")
    check(srv.json("GET", "/v1/models/stories260K")[0] == 200, "/v1/models/stories260K")
    status, _, j = srv.json("GET", "/v1/models/nope")
    check(status == 404 and j["error"]["code"] == "model_not_found", f"/v1/models/nope: {status} {j}")
    status, hdrs, _ = srv.request("OPTIONS", "/v1/chat/completions",
                                  headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"})
    check(status == 204 and hdrs.get("access-control-allow-origin") == "*", f"CORS preflight: {status} {hdrs}")
    status, _, j = srv.json("GET", "/api/config")
    check(status == 200 and j["auth_required"] is False, f"/api/config: {j}")
    status, _, j = srv.json("GET", "/api/cluster")
    check(status == 200 and j["model"]["n_vocab"] == 512 and len(j["nodes"]) == 1 and j["split"] == "1",
          f"/api/cluster: {j}")
    status, _, j = srv.json("GET", "/api/stats")
    check(status == 200 and j["max_active"] == 8 and j["max_queue"] == 64, f"/api/stats: {j}")
    status, hdrs, data = srv.request("GET", "/")
    check(status == 200 and "text/html" in hdrs.get("content-type", ""), f"GET /: {status}")


def test_chat(srv):
    body = chat_body("Tell me a story.", temperature=0, max_tokens=24)
    status, _, j = srv.json("POST", "/v1/chat/completions", body)
    if not check(status == 200, f"chat: {status} {j}"):
        return None
    c = j["choices"][0]
    text = c["message"]["content"]
    u = j["usage"]
    check(j["object"] == "chat.completion" and c["message"]["role"] == "assistant", f"chat object: {j}")
    check(c["finish_reason"] in ("stop", "length") and len(text) > 0, f"chat finish/text: {c}")
    check(u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["completion_tokens"] <= 24,
          f"chat usage: {u}")
    s_text, s_finish, events = streamed_chat(srv, body)
    check(s_text == text, f"streamed text {s_text!r} != non-streamed {text!r}")
    check(s_finish == c["finish_reason"], f"streamed finish {s_finish} != {c['finish_reason']}")
    check(events and events[-1] == "[DONE]", "stream ends with [DONE]")
    check(json.loads(events[0])["choices"][0]["delta"].get("role") == "assistant", "first chunk has the role")
    # include_usage: a last chunk with empty choices and the usage.
    _, _, events = streamed_chat(srv, dict(body, stream_options={"include_usage": True}))
    usage = [json.loads(e) for e in events[:-1] if json.loads(e).get("usage")]
    check(len(usage) == 1 and usage[0]["choices"] == [] and usage[0]["usage"] == u, f"include_usage: {usage} vs {u}")
    return text


def test_completions_vs_cli(srv, plexus, model):
    n = 24
    status, _, j = srv.json("POST", "/v1/completions",
                            {"prompt": "Once upon a time", "max_tokens": n, "temperature": 0})
    if not check(status == 200, f"completions: {status} {j}"):
        return None
    text = j["choices"][0]["text"]
    cli = subprocess.run([plexus, "generate", "-m", model, "-p", "Once upon a time", "-n", str(n), "-t", "1",
                          "--output", "json"], capture_output=True, text=True, timeout=60)
    if check(cli.returncode == 0, f"plexus generate: {cli.stderr}"):
        expected = json.loads(cli.stdout)["text"]
        check(text == expected, f"server greedy {text!r} != CLI greedy {expected!r}")
    check(j["object"] == "text_completion" and j["usage"]["completion_tokens"] <= n, f"completion object: {j}")
    return text


def test_sampling_and_logprobs(srv, greedy_text):
    body = {"prompt": "Once upon a time", "max_tokens": 20, "temperature": 1.0, "seed": 1234}
    a = srv.json("POST", "/v1/completions", body)[2]["choices"][0]["text"]
    b = srv.json("POST", "/v1/completions", body)[2]["choices"][0]["text"]
    check(a == b, f"same seed, different text: {a!r} vs {b!r}")
    others = {srv.json("POST", "/v1/completions", dict(body, seed=s))[2]["choices"][0]["text"] for s in range(1, 5)}
    check(len(others | {a}) > 1, "different seeds all gave the same text: sampling is not random")
    status, _, j = srv.json("POST", "/v1/chat/completions",
                            chat_body("Hi", temperature=0, max_tokens=8, logprobs=True, top_logprobs=3))
    content = j["choices"][0]["logprobs"]["content"] if status == 200 else []
    check(len(content) == j["usage"]["completion_tokens"] and content, f"logprobs content: {j}")
    for entry in content:
        top = entry["top_logprobs"]
        check(len(top) == 3 and entry["logprob"] <= 0 and isinstance(entry["bytes"], list), f"logprob entry {entry}")
        check(abs(entry["logprob"] - top[0]["logprob"]) < 1e-5, f"greedy pick is not the top logprob: {entry}")
    status, _, j = srv.json("POST", "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 5,
                                                         "temperature": 0, "logprobs": 2})
    lp = j["choices"][0]["logprobs"] if status == 200 else None
    check(lp and len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) > 0,
          f"completions logprobs: {lp}")
    # A stop string from the middle of the greedy text: the output ends right before it.
    words = greedy_text.split()
    stop = next((w for w in words[2:] if len(w) >= 3 and greedy_text.find(w) > 3), None)
    if check(stop is not None, f"no stop word in {greedy_text!r}"):
        j = srv.json("POST", "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0,
                                                  "stop": [stop]})[2]
        c = j["choices"][0]
        check(c["text"] == greedy_text[:greedy_text.find(stop)] and c["finish_reason"] == "stop",
              f"stop {stop!r}: {c['text']!r} (finish {c['finish_reason']}) from {greedy_text!r}")


def expect_error(srv, path, body, status, param=None, code=None, message_part=None):
    got, _, j = srv.json("POST", path, body)
    err = (j or {}).get("error", {}) if isinstance(j, dict) else {}
    ok = got == status and isinstance(err, dict) and "message" in err and "type" in err
    ok = ok and (param is None or err.get("param") == param) and (code is None or err.get("code") == code)
    ok = ok and (message_part is None or message_part in err.get("message", ""))
    check(ok, f"{path} {str(body)[:80]}: expected {status} param={param} code={code}, got {got} {j}")
    return err


def test_errors(srv):
    path = "/v1/chat/completions"
    expect_error(srv, path, b'{"messages": [', 400, message_part="could not parse JSON body")
    err = expect_error(srv, path, chat_body("x", temperature="hot"), 400, param="temperature")
    check(err.get("message") == "'temperature' must be a number" and err.get("code") is None, f"type error: {err}")
    expect_error(srv, path, chat_body("x", model="gpt-4"), 404, param="model", code="model_not_found")
    for field, value in [("temperature", 3), ("top_p", 0), ("n", 2), ("max_tokens", -5), ("top_logprobs", 21),
                         ("presence_penalty", 9), ("stop", ["a", "b", "c", "d", "e"]), ("logit_bias", {"x": 1}),
                         ("logit_bias", {"5": 1000})]:
        extra = {field: value, "logprobs": True} if field == "top_logprobs" else {field: value}
        expect_error(srv, path, chat_body("x", **extra), 400, param=field)
    expect_error(srv, path, {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
                 400, param="messages[0].content[0]", message_part="text-only")
    expect_error(srv, "/v1/completions", {"prompt": ["a", "b"]}, 400, param="prompt")
    # The body limit: 413 with an error object.
    status, _, data = srv.request("POST", path, b"x" * (9 << 20))
    check(status == 413 and b"error" in data, f"9 MiB body: {status} {data[:200]!r}")


def eos_id(srv):
    return srv.json("POST", "/api/show", {"model": "stories260K"})[2]["model_info"]["tokenizer.ggml.eos_token_id"]


def test_context_limits(srv):
    eos = eos_id(srv)
    context = srv.json("GET", "/api/cluster")[2]["model"]["context"]
    status, _, j = srv.json("POST", "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 10 ** 9,
                                                        "temperature": 0, "logit_bias": {str(eos): -100}})
    if check(status == 200, f"max_tokens 1e9: {status} {j}"):
        u = j["usage"]
        check(j["choices"][0]["finish_reason"] == "length" and u["total_tokens"] == context,
              f"max_tokens 1e9 not clamped to the context {context}: {u} {j['choices'][0]['finish_reason']}")
    t0 = time.time()
    err = expect_error(srv, "/v1/chat/completions", chat_body("a " * 500000), 400, param="messages",
                       code="context_length_exceeded")
    check(str(context) in err.get("message", ""), f"1 MB prompt error does not name the context: {err}")
    check(time.time() - t0 < 5, f"1 MB prompt took {time.time() - t0:.1f} s to refuse")
    expect_error(srv, "/v1/completions", {"prompt": "Once upon a time " * (context // 2)}, 400, param="prompt",
                 code="context_length_exceeded")


def test_concurrent_streams(srv, n=64):
    body = chat_body("Once upon a time", temperature=0, max_tokens=32)
    expected = srv.json("POST", "/v1/chat/completions", body)[2]["choices"][0]["message"]["content"]
    results = [None] * n

    def client(i):
        try:
            results[i] = streamed_chat(srv, body)[:2]
        except OSError as e:
            results[i] = (None, str(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    bad = [(i, r) for i, r in enumerate(results) if r is None or r[0] != expected]
    check(not bad, f"{len(bad)} of {n} concurrent streams wrong, e.g. {bad[:2]} (expected {expected!r})")
    print(f"ok   {n} concurrent streams in {time.time() - t0:.1f} s", flush=True)


def test_vanishing_clients(srv, stream, n=8):
    """Clients that close their connection mid-request: streaming ones after a few chunks (the server's
    next writes fail), non-streaming ones while they wait (the server polls the socket)."""
    eos = eos_id(srv)  # banned: every request would run to the end of the context
    body = json.dumps(chat_body("Once upon a time", temperature=0, stream=stream, logit_bias={str(eos): -100}))
    before = srv.json("GET", "/api/stats")[2]
    room = srv.json("GET", "/api/cluster")[2]["model"]["context"] - 20
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=30)
        s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
        socks.append(s)
    if not stream:
        time.sleep(0.05)
    for s in socks:
        got = b""
        while stream and got.count(b"data: ") < 3:  # a few chunks, then vanish
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        s.close()
    deadline = time.time() + 5
    stats = None
    while time.time() < deadline:
        stats = srv.json("GET", "/api/stats")[2]
        if stats["active"] == 0 and stats["queued"] == 0:
            break
        time.sleep(0.05)
    check(stats["active"] == 0 and stats["queued"] == 0, f"vanished clients still running: {stats}")
    generated = stats["generated_tokens_total"] - before["generated_tokens_total"]
    check(generated < n * room // 2, f"vanished clients were not cancelled: {generated} tokens generated of "
                                     f"{n * room} they asked for")
    print(f"ok   {n} vanished {'streaming' if stream else 'waiting'} clients cancelled after {generated} of "
          f"{n * room} tokens", flush=True)


def test_ollama(srv, completion_text):
    msgs = [{"role": "user", "content": "Tell me a story."}]
    opts = {"temperature": 0, "num_predict": 16}
    status, _, j = srv.json("POST", "/api/chat", {"model": "stories260K", "messages": msgs, "stream": False,
                                                  "options": opts})
    if check(status == 200 and j["done"] is True and j["message"]["role"] == "assistant", f"/api/chat: {j}"):
        check(j["eval_count"] > 0 and j["prompt_eval_count"] > 0 and j["done_reason"] in ("stop", "length")
              and "total_duration" in j, f"/api/chat counts: {j}")
    status, hdrs, data = srv.request("POST", "/api/chat", {"model": "stories260K", "messages": msgs,
                                                           "options": opts})
    lines = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
    check(status == 200 and "ndjson" in hdrs.get("content-type", "") and lines and lines[-1]["done"] is True
          and all(not x["done"] for x in lines[:-1]), f"/api/chat stream: {status} {lines[-2:]}")
    streamed = "".join(x["message"]["content"] for x in lines)
    check(j and streamed == j["message"]["content"], f"/api/chat streamed {streamed!r} != {j['message']['content']!r}")
    status, _, g = srv.json("POST", "/api/generate", {"model": "stories260K", "prompt": "Once upon a time",
                                                      "raw": True, "stream": False,
                                                      "options": {"temperature": 0, "num_predict": 24}})
    check(status == 200 and g["response"] == completion_text, f"/api/generate raw {g} vs {completion_text!r}")
    status, _, g = srv.json("POST", "/api/generate", {"model": "stories260K", "prompt": "Hi", "stream": False,
                                                      "options": {"num_predict": 8}})
    check(status == 200 and g["done"] is True and isinstance(g["response"], str), f"/api/generate: {g}")
    status, _, t = srv.json("GET", "/api/tags")
    check(status == 200 and t["models"][0]["name"] == "stories260K" and t["models"][0]["details"]["format"] == "gguf",
          f"/api/tags: {t}")
    status, _, s = srv.json("POST", "/api/show", {"model": "stories260K"})
    check(status == 200 and s["details"]["family"] == "llama" and "model_info" in s, f"/api/show: {status}")
    status, _, v = srv.json("GET", "/api/version")
    check(status == 200 and "version" in v, f"/api/version: {v}")
    status, _, e = srv.json("POST", "/api/chat", {"model": "llama3", "messages": msgs})
    check(status == 404 and "error" in e and isinstance(e["error"], str), f"/api/chat unknown model: {status} {e}")


def test_metrics(srv):
    def scrape():
        status, hdrs, data = srv.request("GET", "/metrics")
        return status, data.decode()

    def count(text):
        m = re.search(r'plexus_requests_total\{endpoint="/v1/completions",status="200"\} (\d+)', text)
        return int(m.group(1)) if m else 0

    status, before = scrape()
    names = ["plexus_requests_total", "plexus_prompt_tokens_total", "plexus_generated_tokens_total",
             "plexus_decode_tokens_per_second", "plexus_time_to_first_token_seconds",
             "plexus_request_duration_seconds", "plexus_queue_depth", "plexus_active_sequences",
             "process_resident_memory_bytes"]
    for name in names:
        check(f"# TYPE {name} " in before and f"# HELP {name} " in before, f"/metrics lacks {name}")
    srv.json("POST", "/v1/completions", {"prompt": "Once", "max_tokens": 4})
    # httplib calls the server's request logger, which counts the request,
    # after the response is on the wire: a scrape right after the reply can
    # come first (seen under ctest -j2). Give the count up to 2 s to arrive.
    deadline = time.time() + 2
    _, after = scrape()
    while count(after) == count(before) and time.time() < deadline:
        time.sleep(0.01)
        _, after = scrape()
    check(count(after) == count(before) + 1, f"completions count did not move: {count(before)} -> {count(after)}")
    gen = [float(re.search(r"^plexus_generated_tokens_total (\S+)$", t, re.M).group(1)) for t in (before, after)]
    check(gen[1] > gen[0], f"generated tokens did not move: {gen}")
    check(re.search(r'plexus_time_to_first_token_seconds_bucket\{le="\+Inf"\} [1-9]', after), "TTFT histogram empty")


def test_auth_and_429(plexus, model):
    with tempfile.TemporaryDirectory() as tmp:
        key_file = os.path.join(tmp, "key")
        with open(key_file, "w") as f:
            f.write("s3cret-key\n")
        srv = Server(plexus, model, "--api-key-file", key_file, "--parallel", "1", "--queue", "1")
        try:
            status, _, j = srv.json("GET", "/v1/models")
            check(status == 401 and j["error"]["code"] == "invalid_api_key", f"no key: {status} {j}")
            status, _, j = srv.json("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
            check(status == 401, f"wrong key: {status}")
            auth = {"Authorization": "Bearer s3cret-key"}
            check(srv.json("GET", "/v1/models", headers=auth)[0] == 200, "right key refused")
            check(srv.json("GET", "/health")[0] == 200, "/health needs no key")
            check(srv.json("GET", "/api/config")[2].get("auth_required") is True, "/api/config auth_required")
            eos = srv.json("POST", "/api/show", {"model": "stories260K"}, headers=auth)[2]["model_info"][
                "tokenizer.ggml.eos_token_id"]
            body = {"prompt": "Once upon a time", "max_tokens": 400, "temperature": 0, "logit_bias": {str(eos): -100}}
            results = []

            def client():
                results.append(srv.request("POST", "/v1/completions", body, headers=auth))

            threads = [threading.Thread(target=client) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            statuses = sorted(r[0] for r in results)
            limited = [r for r in results if r[0] == 429]
            check(limited and statuses.count(200) >= 1 and set(statuses) <= {200, 429}, f"429 test: {statuses}")
            for r in limited:
                err = json.loads(r[2])["error"]
                check(err["code"] == "rate_limit_exceeded" and "retry-after" in r[1], f"429 body/headers: {r}")
            test_stop_mid_stream(srv, dict(body, stream=True), auth)
        finally:
            check(srv.stop() == 0, "auth server did not exit 0 on SIGTERM")


def test_stop_mid_stream(srv, body, headers):
    """SIGTERM while a stream runs: the client gets an error event and [DONE], the server exits 0."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers=dict(headers, **{"Content-Type": "application/json"}))
    resp = conn.getresponse()
    first = resp.readline()  # the first event: generation is under way
    t0 = time.time()
    code = srv.stop()
    rest = resp.read().decode()
    events = sse_events(first + rest.encode())
    check(code == 0 and time.time() - t0 < 10, f"exit code {code} after {time.time() - t0:.1f} s")
    check(len(events) >= 2 and events[-1] == "[DONE]" and "error" in json.loads(events[-2]),
          f"stream cut by SIGTERM did not end with an error event and [DONE]: {events[-2:]}")


def timed(name, fn, *args):
    t0 = time.time()
    result = fn(*args)
    print(f"---- {name}: {time.time() - t0:.1f} s", flush=True)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--model", required=True)
    args = ap.parse_args()
    t0 = time.time()
    srv = Server(args.plexus, args.model)
    try:
        timed("basics", test_basics, srv)
        timed("chat", test_chat, srv)
        completion = timed("completions vs CLI", test_completions_vs_cli, srv, args.plexus, args.model)
        if completion:
            timed("sampling, logprobs, stop", test_sampling_and_logprobs, srv, completion)
        timed("errors", test_errors, srv)
        watch = HealthWatch(srv)
        timed("context limits", test_context_limits, srv)
        timed("64 streams", test_concurrent_streams, srv)
        timed("vanishing clients", test_vanishing_clients, srv, True)
        timed("vanishing waiting clients", test_vanishing_clients, srv, False)
        watch.finish()
        check(not watch.errors and watch.worst < 1.0,
              f"/health under load: worst {watch.worst:.2f} s, errors {watch.errors[:3]}")
        print(f"ok   /health under load: worst {watch.worst * 1000:.0f} ms", flush=True)
        timed("ollama", test_ollama, srv, completion)
        timed("metrics", test_metrics, srv)
    finally:
        code = srv.stop()
        check(code == 0, f"server exit code on SIGTERM: {code}")
        if FAILURES:
            print("server log (last lines):\n" + "".join(srv.log[-30:]))
    timed("auth and 429", test_auth_and_429, args.plexus, args.model)
    print(f"{len(FAILURES)} failed ({time.time() - t0:.1f} s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
