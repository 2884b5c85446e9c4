#!/usr/bin/env python3
"""The main cluster cases across separate network namespaces.

Each process gets its own namespace with one veth into a bridge namespace,
addresses 10.77.0.x/24 that exist only inside them. Needs root (CI runs as
root); exits 77 (skipped) where namespaces cannot be made.
Usage: test_cluster_netns.py --plexus BIN --shared DIR
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import Node, generate, write_secret  # noqa: E402

PREFIX = f"plx{os.getpid()}"
BRIDGE_NS = PREFIX + "br"
N_HOSTS = 4  # coordinator + 3 nodes


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True, timeout=30)


def host_ns(i):
    return f"{PREFIX}h{i}"


def address(i):
    return f"10.77.0.{i + 1}"


def setup():
    sh("ip", "netns", "add", BRIDGE_NS)
    sh("ip", "-n", BRIDGE_NS, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", BRIDGE_NS, "link", "set", "br0", "up")
    for i in range(N_HOSTS):
        ns = host_ns(i)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}", "netns", BRIDGE_NS)
        sh("ip", "-n", BRIDGE_NS, "link", "set", f"p{i}", "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", address(i) + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")


def teardown():
    for ns in [BRIDGE_NS] + [host_ns(i) for i in range(N_HOSTS)]:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--shared", required=True)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("skipped: network namespaces need root")
        return 77
    try:
        setup()
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        teardown()
        print(f"skipped: cannot create network namespaces ({e})")
        return 77
    failures = 0
    model = os.path.join(args.shared, "models", "stories260K.gguf")
    try:
        with tempfile.TemporaryDirectory(prefix="plexus-netns-") as tmp:
            secret = write_secret(tmp, "netns-cluster-secret")
            single, err, rc, _ = generate(args.plexus, model, "Once upon a time", 32)
            nodes = [Node(args.plexus, secret, os.path.join(tmp, f"c{i}"), listen=f"{address(i)}:7700",
                          netns=host_ns(i)) for i in range(1, N_HOSTS)]
            try:
                for split, n in [("tp2", 1), ("pp2", 1), ("tp2xpp2", 3)]:
                    got, err, rc, secs = generate(args.plexus, model, "Once upon a time", 32,
                                                  [x.address for x in nodes[:n]], secret, split, netns=host_ns(0))
                    ok = got is not None and single is not None and got["tokens"] == single["tokens"]
                    print(("ok  " if ok else "FAIL") + f" {split} across namespaces ({secs:.1f} s)"
                          + ("" if ok else f": rc {rc} {err.strip()[-1500:]}"))
                    failures += 0 if ok else 1
            finally:
                for x in nodes:
                    x.stop()
    finally:
        teardown()
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
