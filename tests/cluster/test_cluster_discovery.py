#!/usr/bin/env python3
"""Zero-config discovery across network namespaces.

Five namespaces on a bridge (10.77.0.x/24, multicast on): a coordinator, three
`plexus node --secret-file S` and one node with another secret. The
coordinator runs `plexus generate --secret-file S` with NO --peers: it must
find the three good nodes by multicast, generate the same greedy tokens as a
single-process run, leave the wrong-secret node out and name its address in
its log. Also: too few nodes for --split is a clear error, and the
wrong-secret node named in --peers is refused by the handshake, by address.
Needs root; exits 77 (skipped) where namespaces cannot be made.
Usage: test_cluster_discovery.py --plexus BIN --shared DIR
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_harness import generate, write_secret  # noqa: E402

PREFIX = f"pxd{os.getpid()}"
BRIDGE_NS = PREFIX + "br"
N_HOSTS = 5  # coordinator, 3 nodes, 1 node with the wrong secret
WRONG = 4
PROMPT = "Once upon a time"


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True, timeout=30)


def host_ns(i):
    return f"{PREFIX}h{i}"


def address(i):
    return f"10.77.0.{i + 1}"


def setup():
    sh("ip", "netns", "add", BRIDGE_NS)
    sh("ip", "-n", BRIDGE_NS, "link", "add", "br0", "type", "bridge")
    # No IGMP querier on this bridge: without snooping it floods the group to every port.
    sh("ip", "-n", BRIDGE_NS, "link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
    sh("ip", "-n", BRIDGE_NS, "link", "set", "br0", "up")
    for i in range(N_HOSTS):
        ns = host_ns(i)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}", "netns", BRIDGE_NS)
        sh("ip", "-n", BRIDGE_NS, "link", "set", f"p{i}", "master", "br0", "multicast", "on", "up")
        sh("ip", "-n", ns, "addr", "add", address(i) + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "multicast", "on", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")


def teardown():
    for ns in [BRIDGE_NS] + [host_ns(i) for i in range(N_HOSTS)]:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


class NodeProc:
    """`plexus node` in namespace `ns`; ready once it logs where it listens."""

    def __init__(self, plexus, ns, secret, cache_dir, listen=None):
        cmd = ["ip", "netns", "exec", ns, plexus, "node", "--secret-file", secret, "--cache-dir", cache_dir]
        if listen:
            cmd += ["--listen", listen]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines = []
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                if re.search(r"listening on \S+:\d+", line):
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(20) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("node did not start: " + "\n".join(self.lines))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def check(name, ok, detail=""):
    print(("ok  " if ok else "FAIL") + " " + name + ("" if ok else ": " + detail))
    return 0 if ok else 1


def check_serve(args, model, secret):
    """`plexus serve` without --peers forms the same cluster before it starts serving."""
    cmd = ["ip", "netns", "exec", host_ns(0), args.plexus, "serve", "-m", model, "--port", "0", "--threads", "1",
           "--secret-file", secret, "--nodes", "3", "--discover-wait", "20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    done = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "plexus: serving" in line:
                done.set()
        done.set()

    threading.Thread(target=pump, daemon=True).start()
    done.wait(60)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log = "\n".join(lines)
    ok = "discovery: found 3 nodes" in log and "cluster of 4 ranks ready" in log and "plexus: serving" in log
    return check("serve discovers the nodes and serves on a cluster of 4", ok, log[-2000:])


def run_cases(args, tmp, single):
    model = os.path.join(args.shared, "models", "stories260K.gguf")
    secret = write_secret(tmp, "discovery-cluster-secret")
    wrong_dir = os.path.join(tmp, "wrong")
    os.makedirs(wrong_dir)
    wrong_secret = write_secret(wrong_dir, "some-other-secret")
    failures = 0
    # Three ways to listen: one address, every address, and the default (every address, with a secret).
    nodes = [NodeProc(args.plexus, host_ns(1), secret, os.path.join(tmp, "c1"), f"{address(1)}:7700"),
             NodeProc(args.plexus, host_ns(2), secret, os.path.join(tmp, "c2"), "0.0.0.0:7700"),
             NodeProc(args.plexus, host_ns(3), secret, os.path.join(tmp, "c3")),
             NodeProc(args.plexus, host_ns(WRONG), wrong_secret, os.path.join(tmp, "c4"))]
    try:
        # No --split, no --nodes: listens the whole window, takes every node that authenticates (tp4).
        got, err, rc, secs = generate(args.plexus, model, PROMPT, 32, secret_file=None, netns=host_ns(0),
                                      extra=["--secret-file", secret, "--discover-wait", "3", "--describe"])
        ok = got is not None and got["tokens"] == single["tokens"]
        failures += check(f"discovered tp4 matches single-node tokens ({secs:.1f} s)", ok, f"rc {rc}\n{err[-2000:]}")
        ranks = [ln for ln in err.splitlines() if ln.startswith("describe: rank=")]
        names = sorted(re.search(r"name=(\S+)", ln).group(1) for ln in ranks)
        want = sorted(["local"] + [f"{address(i)}:7700" for i in (1, 2, 3)])
        failures += check("the three good nodes are the peers", names == want, f"{names} != {want}")
        failures += check("found line", "discovery: found 3 nodes" in err, err[-2000:])
        wrong_line = (f"discovery: ignoring {address(WRONG)}:7700: beacon for cluster 'plexus' fails authentication "
                      "(wrong secret?)")
        failures += check("wrong-secret node named in the coordinator's log", err.count(wrong_line) == 1, err[-2000:])

        # --split: stops listening as soon as enough nodes answered.
        got, err, rc, secs = generate(args.plexus, model, PROMPT, 32, netns=host_ns(0),
                                      extra=["--secret-file", secret, "--split", "tp2xpp2", "--discover-wait", "30"])
        ok = got is not None and got["tokens"] == single["tokens"] and secs < 25
        failures += check(f"discovered tp2xpp2 matches single-node tokens ({secs:.1f} s)", ok,
                          f"rc {rc}\n{err[-2000:]}")

        got, err, rc, _ = generate(args.plexus, model, PROMPT, 4, netns=host_ns(0),
                                   extra=["--secret-file", secret, "--split", "tp2xpp3", "--discover-wait", "1.5"])
        failures += check("too few nodes for --split is a clear error",
                          rc != 0 and "--split tp2xpp3 needs 5 nodes but discovery found 3" in err, f"rc {rc}\n{err}")

        got, err, rc, _ = generate(args.plexus, model, PROMPT, 4, [f"{address(WRONG)}:7700"], secret, "tp2",
                                   netns=host_ns(0), timeout=60)
        failures += check("wrong-secret node in --peers is refused by address",
                          rc != 0 and f"{address(WRONG)}:7700" in err and "authentication" in err, f"rc {rc}\n{err}")

        got, err, rc, _ = generate(args.plexus, model, PROMPT, 32, netns=host_ns(0),
                                   extra=["--secret-file", secret, "--no-discovery"])
        ok = got is not None and got["tokens"] == single["tokens"] and "discovery" not in err
        failures += check("--no-discovery runs on this machine only", ok, f"rc {rc}\n{err[-1000:]}")
        failures += check_serve(args, model, secret)
        announced = [n for n in nodes[:3] if any("discovery: announcing node" in ln for ln in n.lines)]
        failures += check("every good node logged where it announces", len(announced) == 3,
                          "\n".join("\n".join(n.lines) for n in nodes))
    finally:
        for n in nodes:
            n.stop()
    return failures


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
    try:
        model = os.path.join(args.shared, "models", "stories260K.gguf")
        single, err, rc, _ = generate(args.plexus, model, PROMPT, 32)
        if single is None:
            print(f"FAIL single-node run: rc {rc} {err[-1000:]}")
            return 1
        with tempfile.TemporaryDirectory(prefix="plexus-discovery-") as tmp:
            failures = run_cases(args, tmp, single)
    finally:
        teardown()
    print(f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
