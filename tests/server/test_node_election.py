#!/usr/bin/env python3
"""The same command on every machine: `plexus node --api-port` on three nodes
(two given the model, one not) in one network namespace whose loopback carries
the discovery multicast. Checks that every node names the same coordinator
(the lowest node id among those with the model), that a greedy chat completion
sent to a node that does not coordinate (plain and streamed) equals one sent
to the coordinator, that errors (bad JSON, a missing API key) come back with
their status, that the link measurements refresh while idle, and that killing
the coordinator leads to the other candidate coordinating within seconds
(with a clear 503 meanwhile) and the same text again.

Usage: test_node_election.py --plexus BIN --model stories260K.gguf
"""
import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

NS = f"pxe{os.getpid()}"
KEY = "election-test-key"
PROMPT = "Once upon a time"
failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)[:1500]), flush=True)
    if not ok:
        failures.append(name)
    return ok


class NodeProc:
    """`plexus node --api-port 0`; ready once it logs its API address."""

    def __init__(self, plexus, tmp, name, model=None):
        self.name = name
        cmd = [plexus, "node", "--listen", "0.0.0.0:0", "--secret-file", os.path.join(tmp, "secret"),
               "--cache-dir", os.path.join(tmp, "cache-" + name), "--api-port", "0", "--api-key-file",
               os.path.join(tmp, "key"), "--threads", "1", "--discover-wait", "1.5", "--link-refresh", "0.5",
               "--forward-timeout", "60", "--quiet", "--split", "tp3",  # all three; the planner once one is gone
               "--join-check", "1"]
        if model:
            cmd += ["-m", model]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines, self.port = [], None
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"serving the API at http://\S+:(\d+)/", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(20) or self.port is None:
            self.stop()
            raise RuntimeError(f"node {name} did not start:\n" + self.log())

    def log(self):
        return "\n".join(self.lines[-40:])

    def request(self, method, path, body=None, key=KEY, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if key:
            headers["Authorization"] = "Bearer " + key
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, data

    def json(self, method, path, body=None, **kw):
        status, data = self.request(method, path, body, **kw)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, {"_raw": data.decode(errors="replace")}

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def chat(node, stream=False):
    body = {"model": "stories260K", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 24,
            "temperature": 0, "stream": stream}
    status, data = node.request("POST", "/v1/chat/completions", body)
    if status != 200:
        return status, data.decode(errors="replace"), 0
    if not stream:
        return status, json.loads(data)["choices"][0]["message"]["content"], 1
    events = [ln[6:] for ln in data.decode().split("\n") if ln.startswith("data: ")]
    text = ""
    for e in events[:-1]:
        for c in json.loads(e).get("choices", []):
            text += c["delta"].get("content") or ""
    return status, text if events and events[-1] == "[DONE]" else "(no [DONE])", len(events)


def wait_agreement(nodes, timeout):
    """The coordinator's node id once every node names the same one and it serves; else None."""
    deadline, views = time.time() + timeout, []
    while time.time() < deadline:
        views = []
        for n in nodes:
            try:
                views.append(n.json("GET", "/api/election")[1])
            except OSError as e:
                views.append({"error": str(e)})
        ids = {(v.get("coordinator") or {}).get("node_id") for v in views}
        roles = [v.get("role") for v in views]
        if len(ids) == 1 and None not in ids and "serving" in roles:
            return ids.pop(), views
        time.sleep(0.2)
    return None, views


def run(a, tmp):
    with open(os.path.join(tmp, "secret"), "w") as f:
        f.write("election-test-secret-0123456789")
    os.chmod(os.path.join(tmp, "secret"), 0o600)
    with open(os.path.join(tmp, "key"), "w") as f:
        f.write(KEY + "\n")
    nodes = [NodeProc(a.plexus, tmp, "a", a.model), NodeProc(a.plexus, tmp, "b", a.model), NodeProc(a.plexus, tmp, "c")]
    try:
        t0 = time.time()
        leader, views = wait_agreement(nodes, 30)
        if not check("all nodes agree on one serving coordinator", leader is not None, views):
            return
        print(f"     coordinator {leader} after {time.time() - t0:.1f} s", flush=True)
        members = views[0]["members"]
        candidates = sorted(m["node_id"] for m in members if m["candidate"])
        check("three members, two candidates", len(members) == 3 and len(candidates) == 2, members)
        check("the lowest candidate id coordinates", candidates and leader == candidates[0], (leader, candidates))
        selves = {v["self"]: n for v, n in zip(views, nodes)}
        coord = selves[leader]
        plain = [n for n in nodes if n is not coord and n.name == "c"][0]  # no model: never coordinates
        s1, want, _ = chat(coord)
        s2, got, _ = chat(plain)
        print(f"     greedy text {want!r}", flush=True)
        check("non-streamed chat through a forwarding node = the coordinator's", s1 == 200 and s2 == 200 and got == want,
              (s1, want, s2, got))
        s3, streamed, events = chat(plain, stream=True)
        check("streamed chat through a forwarding node = the non-streamed text", s3 == 200 and streamed == want
              and events > 3, (s3, streamed, events))
        st, err = plain.json("POST", "/v1/chat/completions", "{not json")
        st0, err0 = coord.json("POST", "/v1/chat/completions", "{not json")
        check("bad JSON: the coordinator's 400 and error body pass through", st == 400 and err == err0
              and "error" in err, (st, err, st0, err0))
        st, err = plain.json("GET", "/v1/models", key=None)
        check("a missing API key gets 401", st == 401, (st, err))
        st, models = plain.json("GET", "/v1/models")
        check("GET /v1/models through a forwarding node", st == 200 and models.get("data"), (st, models))
        conn = http.client.HTTPConnection("127.0.0.1", plain.port, timeout=10)
        conn.request("GET", "/health", headers={"Authorization": "Bearer " + KEY})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        header = resp.getheader("X-Plexus-Coordinator") or ""
        check("forwarded answers name the coordinator (X-Plexus-Coordinator)",
              resp.status == 200 and header.split(" ")[0] == leader, (resp.status, header))
        st, c1 = plain.json("GET", "/api/cluster")
        time.sleep(1.6)
        _, c2 = plain.json("GET", "/api/cluster")
        ok = (st == 200 and c1.get("links") and (c2.get("links_rounds") or 0) > (c1.get("links_rounds") or 0)
              and c2["links_measured_at_ms"] > c1["links_measured_at_ms"])
        print(f"     split {c2.get('split')}, {len(c2.get('links') or [])} links, rounds {c1.get('links_rounds')} -> "
              f"{c2.get('links_rounds')}", flush=True)
        check("links are measured again while idle (rounds and time advance)", ok,
              (c1.get("links_rounds"), c2.get("links_rounds"), c1.get("links_measured_at_ms"),
               c2.get("links_measured_at_ms"), c2.get("links")))

        # A node that joins while the cluster is idle is taken in by a re-plan, unasked.
        nodes.append(NodeProc(a.plexus, tmp, "d"))
        joined = time.time()
        while time.time() - joined < 20 and not any("a node joined while idle" in ln for ln in coord.lines):
            time.sleep(0.2)
        line = next((ln for ln in coord.lines if "a node joined while idle" in ln), None)
        print(f"     {line}", flush=True)
        check("a node that joins while idle is taken in by a re-plan", line is not None, coord.lines[-5:])
        s4, again, _ = chat(plain)
        check("the re-placed cluster gives the same greedy text", s4 == 200 and again == want, (s4, again))

        coord.stop(signal.SIGKILL)
        killed = time.time()
        others = [n for n in nodes if n is not coord]
        saw_503, answer, clear = False, None, True
        while time.time() - killed < 25:
            try:
                st, text, _ = chat(plain)
            except OSError as e:
                st, text = 0, str(e)
            if st == 200:
                answer = text
                break
            saw_503 = saw_503 or st == 503
            clear = clear and st == 503 and "coordinator" in text
            time.sleep(0.3)
        took = time.time() - killed
        print(f"     503 answers while re-electing: {saw_503}", flush=True)
        check("after the coordinator dies: only clear 503s until the next one serves", clear, text)
        check(f"after the coordinator dies: the same text again ({took:.1f} s)", answer == want, (answer, want))
        leader2, views = wait_agreement(others, 5)
        check("the other candidate coordinates now", leader2 is not None and leader2 != leader and
              leader2 in candidates, (leader2, views))
    finally:
        for n in nodes:
            n.stop()
        if failures:
            for n in nodes:
                print(f"--- node {n.name} log tail ---\n{n.log()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        with tempfile.TemporaryDirectory(prefix="plexus-election-") as tmp:
            run(a, tmp)
        print(f"{len(failures)} failed")
        return 1 if failures else 0
    if os.geteuid() != 0:
        print("skipped: the network namespace needs root")
        return 77
    try:
        for cmd in (["ip", "netns", "add", NS], ["ip", "-n", NS, "link", "set", "lo", "multicast", "on", "up"],
                    ["ip", "-n", NS, "route", "add", "224.0.0.0/4", "dev", "lo"]):
            subprocess.run(cmd, check=True, capture_output=True, timeout=30)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True, timeout=30)
        print(f"skipped: cannot create a network namespace ({e})")
        return 77
    try:
        return subprocess.run(["ip", "netns", "exec", NS, sys.executable, os.path.abspath(__file__), "--inside",
                               "--plexus", a.plexus, "--model", a.model], timeout=170).returncode
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True, timeout=30)


if __name__ == "__main__":
    sys.exit(main())
