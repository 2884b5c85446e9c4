#!/usr/bin/env python3
"""Cluster robustness: shards streamed and cached, wrong secrets refused, and
a node killed mid-generation reported within 5 s with nothing left hanging.

Usage: test_cluster_failures.py --plexus BIN --shared DIR
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Node, generate, synth, write_secret  # noqa: E402

failures = 0


def check(ok, label, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + label + ("" if ok else f": {detail}"))
    failures += 0 if ok else 1


def sent_mib(stderr):
    """MiB the coordinator reports sending to nodes (sum over ranks)."""
    return sum(float(m) for m in re.findall(r"sending ([\d.]+) MiB", stderr))


def test_streaming_and_cache(plexus, model, tmp, secret):
    node = Node(plexus, secret, os.path.join(tmp, "stream-cache"))
    try:
        first, err1, rc1, _ = generate(plexus, model, "the", 8, [node.address], secret, "tp2")
        check(first is not None, "first run with a node that lacks the file", err1[-1500:])
        mib1 = sent_mib(err1)
        size_mib = os.path.getsize(model) / 1048576
        check(0 < mib1 < size_mib, f"node is sent only its shard ({mib1:.2f} of {size_mib:.2f} MiB)", err1[-800:])
        second, err2, rc2, _ = generate(plexus, model, "the", 8, [node.address], secret, "tp2")
        check(second is not None and sent_mib(err2) == 0.0, "second run sends no weights (cached)", err2[-800:])
        if first and second:
            check(first["tokens"] == second["tokens"], "cached shard computes the same tokens")
    finally:
        node.stop()
    # A node that holds the same file maps it and is sent nothing.
    node = Node(plexus, secret, os.path.join(tmp, "local-cache"), models=[model])
    try:
        run, err, rc, _ = generate(plexus, model, "the", 8, [node.address], secret, "pp2")
        check(run is not None and sent_mib(err) == 0.0, "node with the same file is sent nothing", err[-800:])
    finally:
        node.stop()


def test_wrong_secret(plexus, model, tmp, secret):
    os.makedirs(os.path.join(tmp, "wrong"), exist_ok=True)
    wrong = write_secret(os.path.join(tmp, "wrong"), "not-the-cluster-secret")
    node = Node(plexus, wrong, os.path.join(tmp, "wrong-cache"))
    try:
        run, err, rc, secs = generate(plexus, model, "the", 4, [node.address], secret, "tp2", timeout=60)
        check(run is None and rc != 0, "coordinator refuses a node with the wrong secret")
        check("secret" in err.lower() and node.address.split(":")[1] in err,
              "the refusal names the node and the secret", err[-800:])
        time.sleep(0.5)
        check("secret" in node.log().lower(), "the node logs the failed authentication", node.log()[-800:])
    finally:
        node.stop()


def test_killed_node(plexus, model, tmp, secret):
    # Emulated 1 ms links keep the generation running long enough to kill a node mid-way.
    nodes = [Node(plexus, secret, os.path.join(tmp, f"kill-cache{i}"), extra=["--emulate-link", "1ms,1gbit"])
             for i in range(2)]
    try:
        cmd = [plexus, "generate", "-m", model, "-p", "the", "-n", "100000", "--output", "json", "--threads", "1",
               "--ignore-eos", "--peers", ",".join(n.address for n in nodes), "--secret-file", secret,
               "--split", "tp3"]
        coord = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "job " not in " ".join(nodes[1].lines) and coord.poll() is None:
            time.sleep(0.1)
        time.sleep(2.0)  # mid-generation
        check(coord.poll() is None, "generation still running when the node is killed")
        nodes[1].proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        try:
            _, err = coord.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            coord.kill()
            _, err = coord.communicate()
            check(False, "coordinator exits after a node dies", "still running after 30 s")
            return
        elapsed = time.monotonic() - killed_at
        check(coord.returncode != 0, "coordinator fails when a node dies")
        check(elapsed < 5.0, f"coordinator reports within 5 s ({elapsed:.2f} s)")
        port = nodes[1].address.split(":")[1]
        check(port in err or "rank 2" in err, "the error names the dead node", err[-800:])
        # The surviving node frees the job and goes back to waiting; it still stops promptly.
        time.sleep(1.0)
        check("job ended" in nodes[0].log() or "job finished" in nodes[0].log(),
              "surviving node ends the job", nodes[0].log()[-800:])
        took = nodes[0].stop(timeout=5)
        check(took < 5, f"surviving node exits promptly ({took:.2f} s)")
    finally:
        for n in nodes:
            n.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--shared", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="plexus-cluster-") as tmp:
        secret = write_secret(tmp, "test-cluster-secret")
        model = synth(args.plexus, tmp, "tiny-llama", "q8_0")
        test_streaming_and_cache(args.plexus, model, tmp, secret)
        test_wrong_secret(args.plexus, model, tmp, secret)
        test_killed_node(args.plexus, model, tmp, secret)
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
