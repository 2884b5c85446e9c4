#!/usr/bin/env python3
"""Serving survives a lost node: `plexus serve --peers A,B --split tp3` on
stories260K streams a greedy completion; one node is killed with SIGKILL
mid-stream. The server re-places the model on the two ranks left (tp2),
prefills the request again from its prompt and the tokens it already sent,
and the stream goes on: it ends with finish_reason "length" and no error,
and its text equals the same request on a fresh single-node server.
Afterwards /health is ok, /api/cluster shows 2 ranks, a second request
works, and POST /v1/cluster/replan answers 200 (idle), 409 while a request
runs and 400 on the single-node server. Then the last node hangs (SIGSTOP) mid-stream: after
peer_timeout the model goes back onto the serving machine alone and the
stream still completes; once the node resumes, a re-plan takes it back.
(tcp is forced: the emulated link slows it, and it notices a hung peer.)

stories260K rather than a sharp synthetic model: a resumed request
prefills its generated tokens as one batch where they were first decoded
one by one, and on tiny-llama --sharp that alone (no cluster, no failure)
flips greedy near-ties some 10 tokens later; stories260K gives the same
tokens either way.

Usage: test_serve_recovery.py --plexus BIN --model stories260K.gguf"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
from cluster_harness import Node, write_secret  # noqa: E402

PROMPT = "Once upon a time"
N = 200
KILL_AFTER = 20


class Server:
    """One `plexus serve`; its URL from stdout, its stderr kept."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        url = []
        ready = threading.Event()

        def out():
            for line in self.proc.stdout:
                m = re.search(r"at (http://\S+?)/", line)
                if m and not url:
                    url.append(m.group(1))
                    ready.set()
            ready.set()

        def err():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))

        threading.Thread(target=out, daemon=True).start()
        threading.Thread(target=err, daemon=True).start()
        if not ready.wait(60) or not url:
            self.stop()
            raise SystemExit("FAIL: serve did not start:\n" + "\n".join(self.lines[-30:]))
        self.url = url[0]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def get(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            return e.code, json.load(e)

    def stream(self, body, on_chunk):
        """Streams a completion; on_chunk(n_text_chunks) after each chunk. (text, finish_reason, errors)"""
        req = urllib.request.Request(self.url + "/v1/completions", data=json.dumps(dict(body, stream=True)).encode(),
                                     headers={"Content-Type": "application/json"})
        text, finish, errors, chunks = "", None, [], 0
        with urllib.request.urlopen(req, timeout=60) as r:
            for raw in r:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                msg = json.loads(data)
                if "error" in msg:
                    errors.append(msg["error"])
                    continue
                for choice in msg.get("choices", []):
                    if choice.get("text"):
                        text += choice["text"]
                        chunks += 1
                        on_chunk(chunks)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
        return text, finish, errors


def check(cond, what, detail=""):
    if not cond:
        raise SystemExit(f"FAIL: {what}" + (f"\n{detail}" if detail else ""))
    print(f"ok   {what}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="plexus-serve-recovery-")
    secret = write_secret(tmp, "serve-recovery-test-secret-0123456789")
    model = a.model
    body = {"prompt": PROMPT, "max_tokens": N, "temperature": 0}
    servers, nodes = [], []
    try:
        # Reference: the same requests on one machine.
        single = Server([a.plexus, "serve", "-m", model, "--port", "0", "-t", "1", "--quiet"])
        servers.append(single)
        _, ref = single.post("/v1/completions", body)
        ref_text = ref["choices"][0]["text"]
        check(ref["choices"][0]["finish_reason"] == "length", "the reference runs to max_tokens")
        _, ref2 = single.post("/v1/completions", dict(body, prompt="Lily and Ben", max_tokens=40))
        code, _ = single.post("/v1/cluster/replan", {})
        check(code == 400, f"replan on a single-node server answers 400 ({code})")
        single.stop()

        # Emulated 1 ms links (tcp forced, so they apply) keep decode slow
        # enough for the kill to land mid-stream.
        nodes = [Node(a.plexus, secret, os.path.join(tmp, f"cache{i}"), extra=["--emulate-link", "1ms"])
                 for i in range(2)]
        srv = Server([a.plexus, "serve", "-m", model, "--port", "0", "-t", "1", "--quiet", "--peers",
                      ",".join(n.address for n in nodes), "--secret-file", secret, "--split", "tp3",
                      "--transport", "tcp"])
        servers.append(srv)
        _, cluster = srv.get("/api/cluster")
        check(cluster["split"] == "tp3" and len(cluster["nodes"]) == 3, "the cluster starts as tp3 over 3 ranks")

        killed, busy = [], []

        def on_chunk(n):
            if n == 5 and not busy:
                busy.append(srv.post("/v1/cluster/replan", {})[0])
            if n == KILL_AFTER and not killed:
                nodes[1].proc.send_signal(signal.SIGKILL)
                killed.append(time.monotonic())

        text, finish, errors = srv.stream(body, on_chunk)
        check(busy == [409], f"a replan while a request runs answers 409 ({busy})")
        check(bool(killed), f"a node was killed after {KILL_AFTER} streamed tokens")
        check(not errors, "the stream carries no error", str(errors))
        check(finish == "length", f"the stream ends with finish_reason length ({finish})")
        check(text == ref_text, "the streamed text equals the single-node text",
              f"  single: {ref_text!r}\n  served: {text!r}")
        lost = [l for l in srv.lines if "lost; re-placed on 2 ranks (split tp2)" in l and "resuming 1 request" in l]
        check(bool(lost), "the server logs the re-placement", "\n".join(srv.lines[-20:]))
        print("     " + lost[0])
        code, health = srv.get("/health")
        check(code == 200 and health.get("status") == "ok", f"/health is ok after recovery ({code} {health})")
        _, cluster = srv.get("/api/cluster")
        check(cluster["split"] == "tp2" and len(cluster["nodes"]) == 2, "/api/cluster shows tp2 over 2 ranks",
              json.dumps(cluster)[:400])
        code, second = srv.post("/v1/completions", dict(body, prompt="Lily and Ben", max_tokens=40))
        check(code == 200 and second["choices"][0]["text"] == ref2["choices"][0]["text"],
              "a second request after recovery equals single-node")
        code, replan = srv.post("/v1/cluster/replan", {})
        check(code == 200 and replan.get("split") == "tp2" and replan.get("ranks") == 2,
              f"an idle replan answers 200 with the split ({code} {replan})")

        # The last node hangs (SIGSTOP): silence past peer_timeout fails the
        # step and the model goes back onto this machine alone.
        stopped = []

        def on_chunk_stop(n):
            if n == KILL_AFTER and not stopped:
                nodes[0].proc.send_signal(signal.SIGSTOP)
                stopped.append(time.monotonic())

        text, finish, errors = srv.stream(body, on_chunk_stop)
        resumed_in = time.monotonic() - stopped[0] if stopped else -1
        check(not errors and finish == "length" and text == ref_text,
              f"a stream over a node that hangs completes with the single-node text ({resumed_in:.1f} s after SIGSTOP)",
              f"errors {errors}, finish {finish}\n  single: {ref_text!r}\n  served: {text!r}")
        check(any("re-placed on 1 rank (split 1)" in l for l in srv.lines), "re-placed on this machine alone",
              "\n".join(srv.lines[-20:]))
        # The node comes back: a re-plan takes it in again.
        nodes[0].proc.send_signal(signal.SIGCONT)
        time.sleep(0.5)
        code, replan = srv.post("/v1/cluster/replan", {})
        check(code == 200 and replan.get("split") == "tp2", f"a replan takes the returned node back ({code} {replan})")
        code, third = srv.post("/v1/completions", dict(body, prompt="Lily and Ben", max_tokens=40))
        check(code == 200 and third["choices"][0]["text"] == ref2["choices"][0]["text"],
              "a request after the node returned equals single-node")
    finally:
        for s in servers:
            s.stop()
        for n in nodes:
            if n.proc.poll() is None:
                n.proc.send_signal(signal.SIGCONT)  # a stopped node cannot take SIGTERM
            n.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"PASS: serving recovered from a killed node in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
