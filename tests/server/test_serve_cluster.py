#!/usr/bin/env python3
"""Continuous batching across a cluster: `plexus serve --split tp2` with one
`plexus node`, five concurrent greedy completions (they share batched forward
steps), each equal to a single-node `plexus generate` of the same prompt."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request

PROMPTS = ["Once upon a time", "The cat sat", "Lily went to the park", "Tom had a ball", "One day a bird"]
N = 40


def first_match(stream, pattern, what, timeout_lines=200):
    for _ in range(timeout_lines):
        line = stream.readline()
        if not line:
            break
        m = re.search(pattern, line)
        if m:
            threading.Thread(target=lambda: [0 for _ in stream], daemon=True).start()  # keep draining
            return m.group(1)
    raise SystemExit(f"FAIL: {what} did not start")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="plexus-serve-cluster-")
    secret = os.path.join(tmp, "secret")
    with open(secret, "w") as f:
        f.write("serve-cluster-test-secret-0123456789")
    os.chmod(secret, 0o600)
    procs = []
    try:
        node = subprocess.Popen([a.plexus, "node", "--listen", "127.0.0.1:0", "--secret-file", secret,
                                 "--cache-dir", os.path.join(tmp, "cache")], stderr=subprocess.PIPE, text=True)
        procs.append(node)
        addr = first_match(node.stderr, r"listening on (\S+:\d+)", "node")
        srv = subprocess.Popen([a.plexus, "serve", "-m", a.model, "--port", "0", "--peers", addr, "--secret-file",
                                secret, "--split", "tp2", "-t", "1", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(srv)
        url = first_match(srv.stdout, r"at (http://\S+?)/", "serve")
        got, errors = {}, []

        def complete(prompt):
            body = {"prompt": prompt, "max_tokens": N, "temperature": 0}
            req = urllib.request.Request(url + "/v1/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    got[prompt] = json.load(r)["choices"][0]["text"]
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{prompt!r}: {e}")

        threads = [threading.Thread(target=complete, args=(p,)) for p in PROMPTS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        if errors:
            raise SystemExit("FAIL: " + "; ".join(errors))
        with urllib.request.urlopen(url + "/api/cluster", timeout=10) as r:
            cluster = json.load(r)
        if cluster["split"] != "tp2" or len(cluster["nodes"]) != 2:
            raise SystemExit(f"FAIL: /api/cluster shows {cluster['split']} with {len(cluster['nodes'])} nodes")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    failed = 0
    for prompt in PROMPTS:
        ref = subprocess.run([a.plexus, "generate", "-m", a.model, "-p", prompt, "-n", str(N), "-t", "1"],
                             capture_output=True, text=True, timeout=60).stdout
        if ref.strip() != (prompt + got[prompt]).strip():
            failed += 1
            print(f"FAIL {prompt!r}:\n  single node: {ref.strip()!r}\n  tp2 batched: {(prompt + got[prompt]).strip()!r}")
        else:
            print(f"ok   {prompt!r}")
    if failed:
        return 1
    print(f"PASS: {len(PROMPTS)} concurrent tp2 completions equal single-node generate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
