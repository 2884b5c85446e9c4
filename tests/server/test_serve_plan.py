#!/usr/bin/env python3
"""`plexus serve` without --split plans for the live cluster: with one
`plexus node` on this machine it starts a provisional job, plans with the
reported inventory and measured link, logs the plan, serves it, and shows it
(chosen tp/pp/ep, predicted tokens/s, runner-ups with why they lost) at
/api/plan and in /api/cluster; POST /v1/cluster/replan plans again."""
import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request


def pump(stream, lines):
    for line in stream:
        lines.append(line.rstrip("\n"))


def wait_for(lines, pattern, what, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            m = re.search(pattern, line)
            if m:
                return m
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"FAIL: {what} did not appear; log:\n" + "\n".join(lines[-40:]))


def get(url, path):
    with urllib.request.urlopen(url + path, timeout=30) as r:
        return json.load(r)


def post(url, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def check(cond, message):
    if not cond:
        raise SystemExit("FAIL: " + message)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--model", required=True)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="plexus-serve-plan-")
    secret = os.path.join(tmp, "secret")
    with open(secret, "w") as f:
        f.write("serve-plan-test-secret-0123456789")
    os.chmod(secret, 0o600)
    procs = []
    try:
        node_log, serve_log, serve_out = [], [], []
        node = subprocess.Popen([a.plexus, "node", "--listen", "127.0.0.1:0", "--secret-file", secret,
                                 "--cache-dir", os.path.join(tmp, "cache")], stderr=subprocess.PIPE, text=True)
        procs.append(node)
        threading.Thread(target=pump, args=(node.stderr, node_log), daemon=True).start()
        addr = wait_for(node_log, r"listening on (\S+:\d+)", "the node", node).group(1)
        srv = subprocess.Popen([a.plexus, "serve", "-m", a.model, "--port", "0", "--peers", addr, "--secret-file",
                                secret, "-t", "1", "--ctx", "256", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(srv)
        threading.Thread(target=pump, args=(srv.stderr, serve_log), daemon=True).start()
        threading.Thread(target=pump, args=(srv.stdout, serve_out), daemon=True).start()
        url = wait_for(serve_out, r"at (http://\S+?)/", "serve", srv, timeout=120).group(1)
        logged = wait_for(serve_log, r"plan: (\S+) on (.+?): ([\d.]+) tokens/s predicted", "the plan's log line", srv)

        plan = get(url, "/api/plan")
        check(plan.get("planned") is True, f"/api/plan is not planned: {plan}")
        for key in ("split", "tp", "pp", "ep", "predicted_tps", "nodes", "reasons", "alternatives", "inventory"):
            check(key in plan, f"/api/plan lacks {key!r}: {sorted(plan)}")
        check(plan["split"] == logged.group(1), f"logged {logged.group(1)} but /api/plan says {plan['split']}")
        check(plan["predicted_tps"] > 0, "no predicted tokens/s")
        check(plan["ep"] == 1, "a dense model got an expert-parallel plan")
        check(plan["nodes"][0]["name"] == "local", f"rank 0 is not this process: {plan['nodes'][0]}")
        alts = plan["alternatives"]
        check(len(alts) >= 1 and all(alt.get("why") for alt in alts), f"runner-ups without reasons: {alts}")
        check({plan["split"]} | {alt["split"] for alt in alts} >= {"1", "tp2", "pp2"},
              f"plans considered: {plan['split']} and {[alt['split'] for alt in alts]}")
        inv = plan["inventory"]
        check(len(inv["nodes"]) == 2 and inv["links"], f"inventory of the live cluster: {inv}")
        check(inv["nodes"][0].get("host") == inv["nodes"][1].get("host"), "both processes run on this host")

        cluster = get(url, "/api/cluster")
        check(cluster.get("plan", {}).get("split") == plan["split"], f"/api/cluster plan: {cluster.get('plan')}")
        check(cluster["split"] == plan["split"], f"serving {cluster['split']} but planned {plan['split']}")
        check(len(cluster["nodes"]) == len(plan["nodes"]), "served ranks differ from the plan's")

        done = post(url, "/v1/completions", {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0})
        check(done["choices"][0]["text"], "empty completion")

        replanned = post(url, "/v1/cluster/replan", {})
        check(replanned.get("planned") is True and replanned.get("predicted_tps", 0) > 0, f"replan: {replanned}")
        check(replanned["split"] == plan["split"], f"replan chose {replanned['split']}, first {plan['split']}")
        print(f"PASS: planned {plan['split']} at {plan['predicted_tps']:.0f} tokens/s predicted; runner-ups "
              f"{', '.join(alt['split'] for alt in alts)}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
