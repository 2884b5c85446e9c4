"""Starts plexus nodes and coordinators as real processes for cluster tests.

Every process is bounded in time and killed at the end; nodes listen on
ephemeral loopback ports (or inside network namespaces the tests create).
"""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time


class Node:
    """One `plexus node` process; its port is read from its first log line."""

    def __init__(self, plexus, secret_file, cache_dir, listen="127.0.0.1:0", models=(), netns=None, extra=()):
        cmd = [plexus, "node", "--listen", listen, "--secret-file", secret_file, "--cache-dir", cache_dir]
        for m in models:
            cmd += ["-m", m]
        cmd += list(extra)
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.lines = []
        self.host = listen.rsplit(":", 1)[0]
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"listening on (\S+):(\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(2))
                    ready.set()
            ready.set()

        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()
        if not ready.wait(20) or self.port is None:
            self.stop()
            raise RuntimeError("node did not start: " + "\n".join(self.lines))

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def log(self):
        return "\n".join(self.lines)

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL; returns how long the node took to exit."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.monotonic() - start


def write_secret(directory, value):
    path = os.path.join(directory, "secret")
    with open(path, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return path


def generate(plexus, model, prompt, n, peers=(), secret_file=None, split=None, shares=None, extra=(),
             timeout=300, netns=None, top_logprobs=2):
    """Runs `plexus generate --output json`; returns (json or None, stderr, returncode, seconds).
    top_logprobs: the N most likely tokens per step, recorded for same_greedy."""
    cmd = [plexus, "generate", "-m", model, "-p", prompt, "-n", str(n), "--output", "json", "--threads", "1",
           "--ignore-eos", "--top-logprobs", str(top_logprobs)]
    if peers:
        cmd += ["--peers", ",".join(peers), "--secret-file", secret_file, "--split", split]
    if shares:
        cmd += ["--shares", shares]
    cmd += list(extra)
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - start
    result = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else None
    return result, proc.stderr, proc.returncode, seconds


# Greedy runs agree token for token except where the reference's two best
# tokens are this close (log-probability, nats). A split sums in another
# order, and with int8 activations a sum on a rounding edge quantizes to the
# neighbouring step; on the sharp models that moves a logit by up to ~0.1.
# Where two tokens are closer than that, either is a correct greedy choice.
NEAR_TIE_NATS = 0.3
# Mixtures of experts amplify such a step: where two experts' router scores
# nearly tie, it picks the other expert, and the sharp tiny models' next
# log-probabilities move by up to ~0.6 nats (tiny-deepseek2 q8_0 over tp3
# on AVX-512: -0.29 -> -0.68 two steps before the tokens parted).
MOE_NEAR_TIE_NATS = 1.0


def same_greedy(reference, got, near_tie=NEAR_TIE_NATS):
    """(ok, note): got's tokens equal the reference's, or equal up to the
    first step where they part and, at that step, the reference rated got's
    token within near_tie nats of its own choice (both runs from generate(),
    the reference with top_logprobs >= 2). From there on the contexts differ,
    so nothing later is compared."""
    want, have = reference["tokens"], got["tokens"]
    if want == have:
        return True, f"{len(have)} tokens identical"
    step = next((i for i, (a, b) in enumerate(zip(want, have)) if a != b), min(len(want), len(have)))
    if step >= min(len(want), len(have)):
        return False, f"lengths differ ({len(want)} vs {len(have)})"
    top = dict((tok, lp) for tok, lp in reference["top_logprobs"][step])
    gap = top[want[step]] - top[have[step]] if have[step] in top else float("inf")
    if gap <= near_tie:
        return True, f"{step} tokens identical, then a near-tie (gap {gap:.3f} nats) went the other way"
    return False, f"tokens differ at step {step} (gap {gap:.3f} nats)\n  single {want}\n  split  {have}"


def synth(plexus, directory, preset, type_, seed=5, sharp=True, extra=()):
    path = os.path.join(directory, f"{preset}-{type_}-{seed}{'-sharp' if sharp else ''}.gguf")
    if not os.path.exists(path):
        cmd = [plexus, "synth", "--preset", preset, "--type", type_, "--seed", str(seed), "-o", path] + list(extra)
        if sharp:
            cmd.append("--sharp")
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return path
