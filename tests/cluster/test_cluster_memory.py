#!/usr/bin/env python3
"""Each node's memory holds its shard, not the model.

tp4 on a synthetic model shaped like Llama 3.1 8B (Q4_0, ~4.5 GB): three
nodes that lack the file are streamed their shards, then all four ranks
decode a few tokens; every process's peak RSS must stay under 35% of the
file size. Expert parallelism: `--preset qwen3-30b-a3b --split ep4` (a 17 GB
Q4_0 file: each node holds a quarter of the experts and the replicated
attention). Usage: test_cluster_memory.py --plexus BIN [--model FILE]
[--preset NAME] [--split SPLIT]
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


def peak_rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--model", help="an existing Q4_0 file of --preset's shape (default: synthesize one)")
    ap.add_argument("--preset", default="llama3.1-8b", help="plexus synth preset to synthesize")
    ap.add_argument("--split", default="tp4", help="a split of 4 processes: tp4, ep4, tp2xep2, ...")
    args = ap.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="plexus-mem-") as tmp:
        model = args.model
        if not model:
            model = os.path.join(tmp, f"{args.preset}-q4_0.gguf")
            start = time.monotonic()
            subprocess.run([args.plexus, "synth", "--preset", args.preset, "--type", "q4_0", "--seed", "3",
                            "--sharp", "-o", model], check=True, capture_output=True, timeout=900)
            print(f"synthesized {os.path.getsize(model) / 2**30:.2f} GiB in {time.monotonic() - start:.0f} s")
        size = os.path.getsize(model)
        secret = write_secret(tmp, "memory-test-secret")
        nodes = [Node(args.plexus, secret, os.path.join(tmp, f"cache{i}")) for i in range(3)]
        try:
            cmd = [args.plexus, "generate", "-m", model, "-p", "the", "-n", "3", "--output", "json", "--threads", "1",
                   "--ignore-eos", "--peers", ",".join(n.address for n in nodes), "--secret-file", secret,
                   "--split", args.split]
            start = time.monotonic()
            with open(os.path.join(tmp, "out"), "w") as out, open(os.path.join(tmp, "err"), "w") as errf:
                proc = subprocess.Popen(cmd, stdout=out, stderr=errf)
                _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            err = open(os.path.join(tmp, "err")).read()
            print(f"{args.split} generate: exit {proc.returncode}, {time.monotonic() - start:.0f} s")
            if proc.returncode != 0:
                print("FAIL generate:", err[-2000:])
                failures += 1
            peaks = [("coordinator", usage.ru_maxrss * 1024)]
            peaks += [(f"node {i + 1}", peak_rss_bytes(n.proc.pid)) for i, n in enumerate(nodes)]
            for name, peak in peaks:
                ok = 0 < peak < LIMIT * size
                failures += 0 if ok else 1
                print(("ok  " if ok else "FAIL") + f" {name}: peak RSS {peak / 2**20:.0f} MiB = "
                      f"{100 * peak / size:.1f}% of the {size / 2**20:.0f} MiB file (limit {100 * LIMIT:.0f}%)")
        finally:
            for n in nodes:
                n.stop()
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
