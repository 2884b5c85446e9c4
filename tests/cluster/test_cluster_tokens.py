#!/usr/bin/env python3
"""Distributed runs produce the same tokens as a single-node run (up to a
near-tie of the single-node run's two best tokens: cluster_harness.same_greedy).

Covers tp2, tp3, pp2, pp3, tp2xpp2 and uneven tp 3:1, each as separate
processes on 127.0.0.1, on stories260K and on sharp synthetic models of each
architecture (mixtures of experts included); stories260K also under tp2 and
tp3 over each transport (tcp, shm, ucx when built). Usage: test_cluster_tokens.py --plexus BIN --shared DIR [--quick]
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import (MOE_NEAR_TIE_NATS, NEAR_TIE_NATS, Node, generate, same_greedy, synth,  # noqa: E402
                             write_secret)

SPLITS = [  # (split, shares, nodes besides the coordinator)
    ("tp2", None, 1),
    ("tp3", None, 2),
    ("pp2", None, 1),
    ("pp3", None, 2),
    ("tp2xpp2", None, 3),
    ("tp2", "3,1", 1),
]


def check_transports(args, model, nodes, secret):
    """tp2 and tp3 over each transport (forced with --transport) equal one node."""
    name, path, prompt = model
    single, err, rc, _ = generate(args.plexus, path, prompt, 24)
    if single is None:
        print(f"FAIL {name}: single-node run failed (rc {rc}): {err}")
        return 1
    failures = 0
    for transport in ("tcp", "shm", "ucx"):
        for split, n_nodes in (("tp2", 1), ("tp3", 2)):
            peers = [n.address for n in nodes[:n_nodes]]
            got, err, rc, secs = generate(args.plexus, path, prompt, 24, peers, secret, split,
                                          extra=["--transport", transport])
            label = f"{name} {split} over {transport}"
            if got is None and transport == "ucx" and "built without UCX" in err:
                print(f"skip {label}: this build has no UCX")
                break
            if got is None:
                print(f"FAIL {label}: rc {rc}: {err.strip()[-2000:]}")
                failures += 1
                continue
            same, note = same_greedy(single, got)
            if not same:
                print(f"FAIL {label}: {note}")
                failures += 1
            elif f"over {transport}" not in err:
                print(f"FAIL {label}: the log does not say the all-reduce ran over {transport}:\n{err[-1500:]}")
                failures += 1
            else:
                print(f"ok   {label}: {note} ({secs:.1f} s)")
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--quick", action="store_true", help="stories260K only")
    args = ap.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="plexus-cluster-") as tmp:
        secret = write_secret(tmp, "test-cluster-secret")
        models = [("stories260K", os.path.join(args.shared, "models", "stories260K.gguf"), "Once upon a time")]
        if not args.quick:
            # The MoE presets split their experts over the TP ranks (expert parallel).
            for preset, type_ in [("tiny-llama", "q8_0"), ("tiny-qwen2", "f32"), ("tiny-qwen3", "q4_0"),
                                  ("tiny-qwen3moe", "q8_0"), ("tiny-mixtral", "q4_0"),
                                  ("tiny-deepseek2", "q8_0")]:
                models.append((f"{preset}-{type_}", synth(args.plexus, tmp, preset, type_), "the"))
        nodes = [Node(args.plexus, secret, os.path.join(tmp, f"cache{i}")) for i in range(3)]
        try:
            for name, path, prompt in models:
                single, err, rc, _ = generate(args.plexus, path, prompt, 24)
                if single is None:
                    print(f"FAIL {name}: single-node run failed (rc {rc}): {err}")
                    failures += 1
                    continue
                for split, shares, n_nodes in SPLITS:
                    peers = [n.address for n in nodes[:n_nodes]]
                    got, err, rc, secs = generate(args.plexus, path, prompt, 24, peers, secret, split, shares)
                    label = f"{name} {split}{' shares ' + shares if shares else ''}"
                    if got is None:
                        print(f"FAIL {label}: rc {rc}: {err.strip()[-2000:]}")
                        failures += 1
                        continue
                    moe = any(p in name for p in ("moe", "mixtral", "deepseek2"))
                    same, note = same_greedy(single, got, MOE_NEAR_TIE_NATS if moe else NEAR_TIE_NATS)
                    if not same:
                        print(f"FAIL {label}: {note}")
                        failures += 1
                    else:
                        print(f"ok   {label}: {note} ({secs:.1f} s)")
            failures += check_transports(args, models[0], nodes, secret)
        finally:
            for n in nodes:
                n.stop()
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
