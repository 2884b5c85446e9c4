#!/usr/bin/env python3
"""A cluster describes itself: `plexus generate --describe` prints the
coordinator's ClusterView (one line per rank) after the run.

On stories260K, single-node, tp2, pp2 and tp2 over an emulated 2 ms link:
every rank appears with its layer / head ranges, non-zero memory and cores,
its weights, and the node's link measured at join (the emulated latency
shows in the round trip). Usage: test_cluster_describe.py --plexus BIN --shared DIR
"""
import argparse
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Node, generate, write_secret  # noqa: E402


def parse_view(stderr):
    """'describe:' lines -> (header dict, [rank dicts])."""
    header, ranks = None, []
    for line in stderr.splitlines():
        if not line.startswith("describe: "):
            continue
        fields = dict(item.split("=", 1) for item in line[len("describe: "):].split(" "))
        if "rank" in fields:
            ranks.append(fields)
        else:
            header = fields
    return header, ranks


def span(text):
    begin, end = text.split(":")
    return int(begin), int(end)


class Checker:
    def __init__(self):
        self.failures = 0

    def check(self, label, ok, detail=""):
        if not ok:
            print(f"FAIL {label} {detail}")
            self.failures += 1
        return ok


def check_inventory(c, label, r):
    for key in ("mem_total", "mem_available", "rss", "weight_bytes", "cores"):
        c.check(f"{label}: rank {r['rank']} {key} > 0", int(r[key]) > 0, r[key])
    c.check(f"{label}: rank {r['rank']} simd", r["simd"] != "", r)
    c.check(f"{label}: rank {r['rank']} host", r["host"] != "", r)


def run(c, args, label, peers=(), secret=None, split=None, extra=()):
    model = os.path.join(args.shared, "models", "stories260K.gguf")
    got, err, rc, secs = generate(args.plexus, model, "Once upon a time", 4, peers, secret, split,
                                  extra=["--describe"] + list(extra), timeout=120)
    if not c.check(label, got is not None, f"rc {rc}: {err.strip()[-2000:]}"):
        return None, []
    header, ranks = parse_view(err)
    if not c.check(f"{label}: view printed", header is not None and len(ranks) == int(header["ranks"]), err):
        return None, []
    print(f"ok   {label}: {len(ranks)} ranks described ({secs:.1f} s)")
    return header, ranks


def check_split(c, args, full, node, secret, split, extra=(), min_rtt_us=0.0):
    label = split + (" " + " ".join(extra) if extra else "")
    header, ranks = run(c, args, label, [node.address], secret, split, extra)
    if header is None:
        return
    c.check(f"{label}: split", header["split"] == split, header)
    c.check(f"{label}: two ranks", [int(r["rank"]) for r in ranks] == [0, 1], ranks)
    if len(ranks) != 2:
        return
    r0, r1 = ranks
    c.check(f"{label}: rank 0 is the coordinator", (r0["role"], r0["name"]) == ("coordinator", "local"), r0)
    c.check(f"{label}: rank 1 is the node", (r1["role"], r1["name"]) == ("node", node.address), r1)
    for r in ranks:
        check_inventory(c, label, r)
        # Measured once at start by the node (READY) and by the coordinator itself.
        for key in ("membw_gbs", "gflops"):
            c.check(f"{label}: rank {r['rank']} {key} > 0", float(r[key]) > 0, r)
    layers, heads = span(full["layers"]), span(full["heads"])
    if split == "tp2":
        half = (heads[0] + heads[1]) // 2
        c.check(f"{label}: heads", (span(r0["heads"]), span(r1["heads"])) == ((0, half), (half, heads[1])), ranks)
        c.check(f"{label}: layers", span(r0["layers"]) == layers and span(r1["layers"]) == layers, ranks)
        c.check(f"{label}: shares", float(r0["share"]) == 0.5 and float(r1["share"]) == 0.5, ranks)
    else:
        (a0, a1), (b0, b1) = span(r0["layers"]), span(r1["layers"])  # stage 0 gets the odd layer, if any
        c.check(f"{label}: layers", a0 == layers[0] and a0 < a1 == b0 < b1 == layers[1] and a1 - a0 >= b1 - b0, ranks)
        c.check(f"{label}: heads", span(r0["heads"]) == heads and span(r1["heads"]) == heads, ranks)
        # Stages split the layers and only the last holds the LM head: together, the whole model.
        c.check(f"{label}: weights add up", int(r0["weight_bytes"]) + int(r1["weight_bytes"]) ==
                int(full["weight_bytes"]), ranks)
    c.check(f"{label}: rank 0 has no link", float(r0["rtt_us"]) < 0, r0)
    c.check(f"{label}: link rtt measured", float(r1["rtt_us"]) > max(0.0, min_rtt_us), r1)
    c.check(f"{label}: link bandwidth measured", float(r1["gbps"]) > 0, r1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--shared", required=True)
    args = ap.parse_args()
    c = Checker()
    with tempfile.TemporaryDirectory(prefix="plexus-describe-") as tmp:
        secret = write_secret(tmp, "test-describe-secret")
        header, single = run(c, args, "single node")
        if header is None:
            print(f"{c.failures} failed")
            return 1
        c.check("single: split 1", header["split"] == "1" and single[0]["role"] == "coordinator", single)
        check_inventory(c, "single", single[0])
        full = single[0]
        node = Node(args.plexus, secret, os.path.join(tmp, "cache"))
        try:
            check_split(c, args, full, node, secret, "tp2")
            check_split(c, args, full, node, secret, "pp2")
            # The coordinator's sends wait 2 ms: every round trip to the node pays it.
            check_split(c, args, full, node, secret, "tp2", ["--emulate-link", "2ms"], min_rtt_us=2000)
        finally:
            node.stop()
    print(f"{c.failures} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
