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
             timeout=300, netns=None):
    """Runs `plexus generate --output json`; returns (json or None, stderr, returncode, seconds)."""
    cmd = [plexus, "generate", "-m", model, "-p", prompt, "-n", str(n), "--output", "json", "--threads", "1",
           "--ignore-eos"]
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


def synth(plexus, directory, preset, type_, seed=5, sharp=True, extra=()):
    path = os.path.join(directory, f"{preset}-{type_}-{seed}{'-sharp' if sharp else ''}.gguf")
    if not os.path.exists(path):
        cmd = [plexus, "synth", "--preset", preset, "--type", type_, "--seed", str(seed), "-o", path] + list(extra)
        if sharp:
            cmd.append("--sharp")
        subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return path
