#!/usr/bin/env python3
"""Expert parallelism as separate processes: greedy tokens of sharp synthetic
mixtures of experts (tiny-qwen3moe, tiny-mixtral, tiny-deepseek2) are
identical on 1 node, ep2, ep3, tp2xep2, ep2xpp2 and ep3 with --shares 2,1,1
on 127.0.0.1 (up to a near-tie: cluster_harness.same_greedy). Each split's
log must show the expert group's all-reduce, and the experts placed by
memory unless --shares placed them.

Usage: test_cluster_ep.py --plexus BIN [--tokens N]
"""
import argparse
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import MOE_NEAR_TIE_NATS, Node, generate, same_greedy, synth, write_secret  # noqa: E402

MODELS = [("tiny-qwen3moe", "q8_0"), ("tiny-mixtral", "q4_0"), ("tiny-deepseek2", "q8_0")]
SPLITS = [  # (split, shares, nodes besides the coordinator)
    ("ep2", None, 1),
    ("ep3", None, 2),
    ("tp2xep2", None, 3),
    ("ep2xpp2", None, 3),
    ("ep3", "2,1,1", 2),
]


def shard_fractions(err, file_bytes):
    """Each node's shard (cached + sent) as a fraction of the file, from the coordinator's log."""
    out = []
    for m in re.finditer(r"rank \d+ \(\S+\): has ([\d.]+) MiB of its shard, sending ([\d.]+) MiB", err):
        out.append((float(m.group(1)) + float(m.group(2))) * 2**20 / file_bytes)
    return out


def check(label, single, got, err, rc, secs, shares, file_bytes, first):
    if got is None:
        print(f"FAIL {label}: rc {rc}: {err.strip()[-2000:]}")
        return 1
    same, note = same_greedy(single, got, MOE_NEAR_TIE_NATS)
    if not same:
        print(f"FAIL {label}: {note}")
        return 1
    wanted = ["expert-parallel all-reduce over"] + ([] if shares else ["experts by memory: rank 0: [0,"])
    for needed in wanted:
        if needed not in err:
            print(f"FAIL {label}: the log lacks '{needed}':\n{err[-1500:]}")
            return 1
    # A node holds its experts, not all of them: its shard is well under the
    # file (attention and the embeddings are replicated; the LM head's rows
    # are split over the expert group like the experts). A node whose
    # cache already holds its shard from an earlier split is sent nothing and
    # logs no line; the first split of each model finds every cache empty.
    fractions = shard_fractions(err, file_bytes)
    if (first and not fractions) or (fractions and max(fractions) > 0.8):
        print(f"FAIL {label}: node shards are {fractions} of the file")
        return 1
    sizes = ", ".join(f"{100 * f:.0f}%" for f in fractions) or "already cached"
    print(f"ok   {label}: {note} ({secs:.1f} s); node shards: {sizes}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--tokens", type=int, default=24)
    args = ap.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="plexus-ep-") as tmp:
        secret = write_secret(tmp, "test-ep-secret")
        nodes = [Node(args.plexus, secret, os.path.join(tmp, f"cache{i}")) for i in range(3)]
        try:
            for preset, type_ in MODELS:
                name = f"{preset}-{type_}"
                path = synth(args.plexus, tmp, preset, type_)
                single, err, rc, _ = generate(args.plexus, path, "the", args.tokens)
                if single is None:
                    print(f"FAIL {name}: single-node run failed (rc {rc}): {err}")
                    failures += 1
                    continue
                for i, (split, shares, n_nodes) in enumerate(SPLITS):
                    peers = [n.address for n in nodes[:n_nodes]]
                    got, err, rc, secs = generate(args.plexus, path, "the", args.tokens, peers, secret, split, shares)
                    label = f"{name} {split}{' shares ' + shares if shares else ''}"
                    failures += check(label, single, got, err, rc, secs, shares, os.path.getsize(path), i == 0)
        finally:
            for n in nodes:
                n.stop()
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
