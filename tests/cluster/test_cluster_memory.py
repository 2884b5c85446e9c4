#!/usr/bin/env python3
"""Each node's memory holds its shard, not the model.

Two runs, each on a synthetic model of over 4 GB that only the coordinator
has on disk: the three other nodes are streamed their shards, then all four
ranks decode a few tokens, and every process's peak RSS must stay under 35%
of the file size.
  dense: tp4 on a model shaped like Llama 3.1 8B (Q4_0, ~4.5 GB);
  moe:   expert parallelism on 4 nodes (MOE_SPLIT) on 12 layers of the
         Qwen3-30B-A3B shape (128 experts of width 768, top 8; Q4_0, ~4.3 GB),
         so each node holds the replicated attention and a quarter of the
         experts.
Usage: test_cluster_memory.py --plexus BIN [--only dense|moe] [--model FILE] [--moe-model FILE]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Node, write_secret  # noqa: E402

LIMIT = 0.35
MOE_SPLIT = "ep4"


def peak_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def tree_bytes(path):
    """Bytes allocated on disk (a shard cache is a sparse file of the model's size)."""
    return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for d, _, files in os.walk(path) for f in files)


def synthesize(plexus, path, synth_args):
    # Memory is what this test checks, not the values: each matrix repeats 256
    # generated rows (--distinct-rows), which writes the same shapes and bytes
    # per tensor ~10x faster than generating every row.
    start = time.monotonic()
    subprocess.run([plexus, "synth", *synth_args, "--type", "q4_0", "--seed", "3", "--sharp", "--distinct-rows", "256",
                    "-o", path], check=True, capture_output=True, timeout=900)
    print(f"synthesized {os.path.basename(path)}: {os.path.getsize(path) / 2**30:.2f} GiB "
          f"in {time.monotonic() - start:.0f} s")
    return path


def run_split(plexus, tmp, model, split, label):
    """Generates 3 tokens on 4 processes; returns the number of failed checks."""
    failures = 0
    size = os.path.getsize(model)
    secret = write_secret(tmp, f"memory-test-secret-{label}")
    caches = [os.path.join(tmp, f"cache-{label}{i}") for i in range(3)]
    nodes = [Node(plexus, secret, cache) for cache in caches]
    try:
        cmd = [plexus, "generate", "-m", model, "-p", "the", "-n", "3", "--output", "json", "--threads", "1",
               "--ignore-eos", "--peers", ",".join(n.address for n in nodes), "--secret-file", secret,
               "--split", split]
        start = time.monotonic()
        err_path = os.path.join(tmp, f"err-{label}")
        with open(os.path.join(tmp, f"out-{label}"), "w") as out, open(err_path, "w") as errf:
            proc = subprocess.Popen(cmd, stdout=out, stderr=errf)
            _, status, usage = os.wait4(proc.pid, 0)
        returncode = os.waitstatus_to_exitcode(status)
        print(f"{label} {split} generate: exit {returncode}, {time.monotonic() - start:.0f} s")
        if returncode != 0:
            print("FAIL generate:", open(err_path).read()[-2000:])
            failures += 1
        peaks = [("coordinator", usage.ru_maxrss * 1024)]
        peaks += [(f"node {i + 1}", peak_rss_bytes(n.proc.pid)) for i, n in enumerate(nodes)]
        for name, peak in peaks:
            ok = 0 < peak < LIMIT * size
            failures += 0 if ok else 1
            print(("ok  " if ok else "FAIL") + f" {label} {name}: peak RSS {peak / 2**20:.0f} MiB = "
                  f"{100 * peak / size:.1f}% of the {size / 2**20:.0f} MiB file (limit {100 * LIMIT:.0f}%)")
        # Mapped weights count in RSS only once touched, and a few tokens touch
        # few experts: what each node was streamed and keeps is the other half.
        # Only for expert parallelism: a dense tp node is streamed whole rows of
        # its column-split matrices (wo, ffn_down), ~47% of the file at tp4,
        # of which it maps and touches only its columns.
        for i, cache in enumerate(caches if label == "moe" else []):
            held = tree_bytes(cache)
            ok = 0 < held < LIMIT * size
            failures += 0 if ok else 1
            print(("ok  " if ok else "FAIL") + f" {label} node {i + 1}: cached shard {held / 2**20:.0f} MiB = "
                  f"{100 * held / size:.1f}% of the file")
    finally:
        for n in nodes:
            n.stop()
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--only", choices=["dense", "moe"])
    ap.add_argument("--model", help="an existing llama3.1-8b-shaped Q4_0 file (default: synthesize one)")
    ap.add_argument("--moe-model", help="an existing qwen3moe file of >= 4 GB (default: synthesize one)")
    args = ap.parse_args()
    failures = 0
    # One model on disk at a time: each is deleted before the next is made.
    with tempfile.TemporaryDirectory(prefix="plexus-mem-") as tmp:
        if args.only in (None, "dense"):
            path = os.path.join(tmp, "llama8b-q4_0.gguf")
            model = args.model or synthesize(args.plexus, path, ["--preset", "llama3.1-8b"])
            failures += run_split(args.plexus, tmp, model, "tp4", "dense")
            if not args.model:
                os.remove(path)
        if args.only in (None, "moe"):
            path = os.path.join(tmp, "qwen3moe-12l-q4_0.gguf")
            model = args.moe_model or synthesize(
                args.plexus, path, ["--preset", "qwen3-30b-a3b", "--layers", "12", "--vocab", "32000"])
            if os.path.getsize(model) < 4e9:
                print(f"FAIL moe model is {os.path.getsize(model)} bytes, the check wants >= 4 GB")
                failures += 1
            failures += run_split(args.plexus, tmp, model, MOE_SPLIT, "moe")
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
