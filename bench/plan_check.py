#!/usr/bin/env python3
"""Checks the placement planner's cost model against measured decode speed.

For each split (default: 1, tp2, pp2, tp2xpp2) it starts a local cluster of
`plexus node` processes on this machine with emulated links
(--emulate-link on every process), then

  * measures greedy decode tokens/s with `plexus generate --split S` (the
    median of --repeats runs), and
  * asks the planner for its prediction of the same split on the same live
    cluster: `plexus plan --peers ... --split S --only-split S --json` (the
    nodes take S as a provisional job, report their host, memory and cores,
    the links are measured, and the planner costs S with every process on
    this host sharing its bandwidth and cores: docs/PLACEMENT.md).

It prints predicted vs measured tokens/s and their ratio. A benchmark, not a
test: nothing is asserted; the timings depend on the machine's load.

  bench/plan_check.py --plexus build/plexus [--model M.gguf | --preset llama3.2-1b]
      [--emulate 300us,10gbit] [--tokens 48] [--threads 1] [--splits 1,tp2,pp2,tp2xpp2]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cluster"))
import cluster_harness as ch  # noqa: E402

PROMPT = "The quick brown fox jumps over the lazy dog. Once upon a time"


def world(split):
    n = 1
    for part in split.split("x"):
        if part != "1":
            n *= int(part[2:])
    return n


def measure(a, model, split, nodes, secret):
    cluster = ["--peers", ",".join(n.address for n in nodes[: world(split) - 1]), "--secret-file", secret,
               "--split", split, "--emulate-link", a.emulate] if split != "1" else []
    runs = []
    for _ in range(a.repeats):
        cmd = [a.plexus, "generate", "-m", model, "-p", PROMPT, "-n", str(a.tokens), "--output", "json",
               "--threads", str(a.threads), "--ignore-eos"] + cluster
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"generate {split} failed:\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout)["timings"]["decode_tokens_per_s"])
    return statistics.median(runs), runs


def predict(a, model, split, nodes, secret):
    cmd = [a.plexus, "plan", "-m", model, "--json", "--ctx", str(a.ctx), "--only-split", split,
           "-t", str(a.threads), "--alternatives", "0"]
    if split != "1":
        cmd += ["--peers", ",".join(n.address for n in nodes[: world(split) - 1]), "--secret-file", secret,
                "--split", split, "--emulate-link", a.emulate]
    else:
        # One process: this machine alone, its bandwidth measured with --threads.
        cmd += ["--peers", nodes[0].address, "--secret-file", secret, "--split", "tp2",
                "--emulate-link", a.emulate]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"plan {split} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--plexus", required=True)
    p.add_argument("--model", help="GGUF model (default: plexus synth --preset PRESET --type q4_0)")
    p.add_argument("--preset", default="llama3.2-1b")
    p.add_argument("--emulate", default="300us,10gbit", help="--emulate-link of every process")
    p.add_argument("--tokens", type=int, default=48)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--ctx", type=int, default=64, help="context the planner costs (the mean KV length read)")
    p.add_argument("--splits", default="1,tp2,pp2,tp2xpp2")
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="plan-check-")
    model = a.model or ch.synth(a.plexus, os.environ.get("PLAN_CHECK_MODELS", work), a.preset, "q4_0", sharp=False)
    secret = ch.write_secret(work, "plan-check-secret")
    splits = a.splits.split(",")
    need = max(max(world(s) for s in splits) - 1, 1)
    nodes = [ch.Node(a.plexus, secret, os.path.join(work, f"cache{i}"), extra=["--emulate-link", a.emulate])
             for i in range(need)]
    rows = []
    try:
        for split in splits:
            measured, runs = measure(a, model, split, nodes, secret)
            plan = predict(a, model, split, nodes, secret)
            predicted = plan["predicted_tps"]
            rows.append((split, predicted, measured, runs, plan))
            print(f"{split:8s} predicted {predicted:7.2f} t/s  measured {measured:7.2f} t/s "
                  f"(runs {', '.join(f'{r:.2f}' for r in runs)})  predicted/measured {predicted / measured:5.2f}",
                  flush=True)
    finally:
        for n in nodes:
            n.stop()
        shutil.rmtree(work, ignore_errors=True)
    inv = rows[-1][4]["inventory"] if rows else {}
    print(f"\nmodel {model}; links --emulate-link {a.emulate}; {a.threads} thread(s) per process; "
          f"{a.tokens} tokens, median of {a.repeats}")
    if inv.get("nodes"):
        n0 = inv["nodes"][0]
        hosts = inv.get("hosts") or [{}]
        print(f"planner inventory: {n0['membw_gbs']:.1f} GB/s per process, host {hosts[0].get('membw_gbs', 0):.1f} "
              f"GB/s, {hosts[0].get('cores', 0)} cores; link {inv['links'][0]['latency_us']:.0f} us one way, "
              f"{inv['links'][0]['bandwidth_gbps']:.2f} Gbit/s" if inv.get("links") else "")
    print("\n| split | predicted t/s | measured t/s | predicted / measured |")
    print("|---|---|---|---|")
    for split, predicted, measured, _, plan in rows:
        stage = plan["stages"]
        parts = ", ".join(f"{k[:-3]} {sum(s[k] for s in stage):.1f} ms" for k in stage[0])
        print(f"| {split} | {predicted:.2f} ({parts}) | {measured:.2f} | {predicted / measured:.2f} |")


if __name__ == "__main__":
    main()
