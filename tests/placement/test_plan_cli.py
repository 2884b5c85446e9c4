#!/usr/bin/env python3
"""`plexus plan` end to end: inventories in, JSON and text plans out.

Runs the planner on stories260K (and a synthesized tiny Qwen3) with hand-made
inventories, checks the JSON against what the inventory allows, and checks
that bad inventories and models too large give errors naming the problem.
Usage: test_plan_cli.py --plexus BIN --shared DIR
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print(f"FAIL: {what}")


def run(plexus, args, expect_ok=True):
    p = subprocess.run([plexus, "plan"] + args, capture_output=True, text=True, timeout=120)
    if expect_ok and p.returncode != 0:
        raise SystemExit(f"plexus plan {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


def write(tmp, name, obj):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def mesh(nodes, latency_us, gbps):
    links = [{"a": a["name"], "b": b["name"], "latency_us": latency_us, "bandwidth_gbps": gbps}
             for i, a in enumerate(nodes) for b in nodes[i + 1:]]
    return {"nodes": nodes, "links": links}


def check_plan(plan, inventory, n_layers, label):
    """The JSON promises: degrees, one entry per rank, layers inclusive and contiguous, memory within bounds."""
    for key in ("tp", "pp", "ep", "nodes", "predicted_tps", "alternatives", "reasons", "split"):
        check(key in plan, f"{label}: key '{key}' in the plan")
    check(plan["ep"] == 1, f"{label}: ep is 1")
    check(len(plan["nodes"]) == plan["tp"] * plan["pp"], f"{label}: tp*pp entries in nodes")
    check(plan["predicted_tps"] > 0, f"{label}: predicted_tps > 0")
    names = {n["name"] for n in inventory["nodes"]}
    next_layer = 0
    for stage in range(plan["pp"]):
        ranks = [n for n in plan["nodes"] if n["stage"] == stage]
        check(len(ranks) == plan["tp"], f"{label}: stage {stage} has tp ranks")
        first, last = ranks[0]["layers"]
        check(first == next_layer, f"{label}: stage {stage} starts at layer {next_layer} (inclusive ranges)")
        check(all(r["layers"] == [first, last] for r in ranks), f"{label}: a stage's ranks share its layers")
        check(abs(sum(r["share"] for r in ranks) - 1) < 1e-9, f"{label}: stage {stage} shares sum to 1")
        next_layer = last + 1
    check(next_layer == n_layers, f"{label}: the stages cover all {n_layers} layers")
    for n in plan["nodes"]:
        check(n["name"] in names, f"{label}: node {n['name']} is in the inventory")
        check(n["memory"]["total"] <= n["memory"]["usable"], f"{label}: node {n['name']} within its memory")
    for alt in plan["alternatives"]:
        check(alt["why"].startswith(("slower by", "does not fit", "ties at")), f"{label}: alternative explains: {alt['why']}")
        check("nodes" in alt and "split" in alt, f"{label}: alternative has nodes and split")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--shared", required=True)
    args = ap.parse_args()
    stories = os.path.join(args.shared, "models", "stories260K.gguf")
    gib = 1 << 30
    with tempfile.TemporaryDirectory(prefix="plexus-plan-") as tmp:
        # Plenty of memory, fast links: a model this small is all communication, so one node wins.
        inv = mesh([{"name": f"n{i}", "memory_bytes": 4 * gib, "membw_gbs": 50} for i in range(3)], 10, 100)
        plan = json.loads(run(args.plexus, ["-m", stories, "--inventory", write(tmp, "roomy.json", inv),
                                            "--ctx", "256", "--json"]).stdout)
        check_plan(plan, inv, 5, "roomy")
        check(plan["split"] == "1" and plan["nodes"][0]["name"] == "n0", f"roomy: one node (n0), got {plan['split']}")
        check(plan["nodes"][0]["layers"] == [0, 4], "roomy: one node holds layers [0, 4]")
        check(any(r.startswith("node n1 left out") for r in plan["reasons"]), "roomy: says why n1 is left out")

        # Nodes of 420 KB with no margin: the ~1.2 MB model needs several of them.
        small = mesh([{"name": f"s{i}", "memory_bytes": 420_000, "membw_gbs": 20} for i in range(4)], 10, 100)
        plan = json.loads(run(args.plexus, ["-m", stories, "--inventory", write(tmp, "small.json", small),
                                            "--ctx", "256", "--margin-mib", "0", "--json"]).stdout)
        check_plan(plan, small, 5, "small")
        check(len(plan["nodes"]) >= 3, f"small: spread over several nodes, got {plan['split']}")

        # A synthesized Qwen3 (tiny preset: cheap to make) on two racks of two.
        qwen = os.path.join(tmp, "tiny-qwen3.gguf")
        subprocess.run([args.plexus, "synth", "--preset", "tiny-qwen3", "--type", "q8_0", "-o", qwen], check=True,
                       capture_output=True, timeout=300)
        racks = {"nodes": [{"name": n, "memory_bytes": 2_000_000, "membw_gbs": 200, "gflops": 500}
                           for n in ("a0", "a1", "b0", "b1")],
                 "links": [{"a": "a0", "b": "a1", "latency_us": 5, "bandwidth_gbps": 100},
                           {"a": "b0", "b": "b1", "latency_us": 5, "bandwidth_gbps": 100}] +
                          [{"a": x, "b": y, "latency_us": 300, "bandwidth_gbps": 10}
                           for x in ("a0", "a1") for y in ("b0", "b1")]}
        plan = json.loads(run(args.plexus, ["-m", qwen, "--inventory", write(tmp, "racks.json", racks),
                                            "--ctx", "512", "--margin-mib", "0", "--json"]).stdout)
        check_plan(plan, racks, 4, "qwen3")
        text = run(args.plexus, ["-m", qwen, "--inventory", os.path.join(tmp, "racks.json"), "--ctx", "512",
                                 "--margin-mib", "0"]).stdout
        check(text.count("plan: ") == 1 and "why:" in text, "qwen3: text output has the plan and why")
        check(plan["split"] in text, "qwen3: text output names the split")

        # An MoE model: expert-parallel plans, asked for by --only-split; --no-ep leaves them out.
        moe = os.path.join(tmp, "tiny-qwen3moe.gguf")
        subprocess.run([args.plexus, "synth", "--preset", "tiny-qwen3moe", "--type", "q8_0", "-o", moe], check=True,
                       capture_output=True, timeout=300)
        pair = write(tmp, "pair.json", mesh([{"name": f"e{i}", "memory_bytes": gib, "membw_gbs": 20}
                                             for i in range(2)], 300, 10))
        plan = json.loads(run(args.plexus, ["-m", moe, "--inventory", pair, "--ctx", "256", "--only-split", "ep2",
                                            "--json"]).stdout)
        check(plan["split"] == "ep2" and plan["ep"] == 2 and plan["tp"] == 1, f"moe: ep2 plan, got {plan['split']}")
        check(plan["run_flags"] == "--split ep2", f"moe: run flags {plan['run_flags']}")
        experts = [n["experts"] for n in plan["nodes"]]
        check(experts[0][0] == 0 and experts[-1][1] == 7 and experts[0][1] + 1 == experts[1][0],
              f"moe: whole experts 0-7 over the ranks, got {experts}")
        p = run(args.plexus, ["-m", moe, "--inventory", pair, "--only-split", "ep2", "--no-ep"], False)
        check(p.returncode == 1 and "no arrangement" in p.stderr, f"moe --no-ep: {p.stderr.strip()}")

        # Two processes on one host: "host" and "hosts" are read and change the prediction.
        apart = mesh([{"name": f"h{i}", "memory_bytes": gib, "membw_gbs": 20, "threads": 1} for i in range(2)], 10, 40)
        shared = json.loads(json.dumps(apart))
        for n in shared["nodes"]:
            n["host"] = "box"
        shared["hosts"] = [{"name": "box", "membw_gbs": 20, "cores": 2}]
        tps = {}
        for name, inventory in (("apart", apart), ("shared", shared)):
            out = json.loads(run(args.plexus, ["-m", qwen, "--inventory", write(tmp, f"{name}.json", inventory),
                                               "--ctx", "256", "--only-split", "tp2", "--json"]).stdout)
            tps[name] = out["predicted_tps"]
            check(out["inventory"]["nodes"][0].get("host") == inventory["nodes"][0].get("host"),
                  f"{name}: the inventory is echoed")
        check(tps["shared"] < tps["apart"], f"tp2 on one host is predicted slower than apart: {tps}")

        # This machine alone, bandwidth given (no measurement).
        plan = json.loads(run(args.plexus, ["-m", stories, "--membw-gbs", "10", "--ctx", "128", "--json"]).stdout)
        check(plan["split"] == "1" and len(plan["nodes"]) == 1, "this machine: a one-node plan")

        # Errors name what is wrong.
        bad_inventories = [
            ({"nodes": [{"name": "a", "memory_bytes": gib, "membw_gbs": 1},
                        {"name": "b", "memory_bytes": -5, "membw_gbs": 1}]},
             "nodes[1].memory_bytes must be a positive number"),
            ({"nodes": [{"name": "a", "memory_bytes": gib, "membw_gbs": "fast"}]},
             "nodes[0].membw_gbs must be a positive number"),
            ({"nodes": [{"name": "a", "memory_bytes": gib, "membw_gbs": 1, "memory": 3}]},
             "nodes[0]: unknown key 'memory'"),
            ({"nodes": [{"name": "a", "memory_bytes": gib, "membw_gbs": 1}],
              "links": [{"a": "a", "b": "zz", "latency_us": 1, "bandwidth_gbps": 1}]},
             "links[0].b 'zz' is not a node"),
            ({"nodes": {}}, "nodes must be an array"),
            ({"nodes": [{"name": "a", "memory_bytes": gib, "membw_gbs": 1, "host": "x"}],
              "hosts": [{"name": "y", "cores": 2}]},
             "hosts[0].name 'y' is no node's host"),
            ({"nodes": [{"name": "a", "memory_bytes": gib, "membw_gbs": 1}], "hosts": [{"name": "a", "ram": 1}]},
             "hosts[0]: unknown key 'ram'"),
            ("{not json", "not valid JSON"),
        ]
        for i, (inventory, message) in enumerate(bad_inventories):
            p = run(args.plexus, ["-m", stories, "--inventory", write(tmp, f"bad{i}.json", inventory)], False)
            check(p.returncode == 1 and message in p.stderr, f"bad inventory {i}: '{message}' in: {p.stderr.strip()}")
        p = run(args.plexus, ["-m", stories, "--inventory", os.path.join(tmp, "missing.json")], False)
        check(p.returncode == 1 and "cannot open" in p.stderr, f"missing inventory: {p.stderr.strip()}")

        tiny = mesh([{"name": "t0", "memory_bytes": 100_000, "membw_gbs": 1},
                     {"name": "t1", "memory_bytes": 100_000, "membw_gbs": 1}], 10, 10)
        p = run(args.plexus, ["-m", stories, "--inventory", write(tmp, "tiny.json", tiny), "--margin-mib", "0"], False)
        check(p.returncode == 1 and "does not fit" in p.stderr and "bytes short in total" in p.stderr and
              "tightest node" in p.stderr, f"too large: {p.stderr.strip()}")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("plan CLI: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
