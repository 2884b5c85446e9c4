"""`plexus pull` and `plexus ls` against a local fake hub (fake_hub.py): no internet.

Serves a copy of shared/models/stories260K.gguf (and a 3-part split of it
made by gguf_split.py) and checks: the pulled bytes, the cache layout,
"up to date", resume after a dropped connection (the second request starts
where the .part ended), servers that ignore Range, several connections,
SHA-256 mismatch, 404/401, the token staying on the hub's origin, split
models, non-GGUF files, network and write failures, and `plexus ls`.
"""
import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_hub import FakeHub  # noqa: E402
from gguf_split import split_gguf  # noqa: E402

REPO = "test-org/tiny-models"
MODEL = "stories260K.gguf"


class Env:
    def __init__(self, plexus, shared, tmp):
        self.plexus, self.tmp = plexus, tmp
        src = os.path.join(shared, "models", MODEL)
        self.model_path = os.path.join(tmp, MODEL)
        shutil.copyfile(src, self.model_path)  # never committed: copied at test time
        self.data = open(self.model_path, "rb").read()
        self.sha = hashlib.sha256(self.data).hexdigest()
        split_dir = os.path.join(tmp, "split")
        os.makedirs(split_dir)
        self.split_names = split_gguf(self.model_path, split_dir, "stories", 3)
        self.split_data = [open(os.path.join(split_dir, n), "rb").read() for n in self.split_names]
        self.hub = FakeHub()
        self.cdn = FakeHub()
        self.hub.add(REPO, MODEL, self.data)
        self.hub.add(REPO, "sub/dir/" + MODEL, self.data, revision="v1")
        for name, data in zip(self.split_names, self.split_data):
            self.hub.add(REPO, "split/" + name, data)
        self.hub.add(REPO, "junk.gguf", b"this is not a gguf file at all" * 100)
        self.hub.plain[MODEL] = self.data
        self.cdn.files = self.hub.files  # the CDN serves what the hub lists
        self.n = 0

    def fresh_cache(self):
        self.n += 1
        self.hub.reset()
        self.cdn.reset()
        self.hub.cdn = None
        path = os.path.join(self.tmp, f"cache{self.n}")
        os.makedirs(path)
        return path

    def run(self, args, cache, env_extra=None, limit_bytes=None, timeout=120):
        env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "PLEXUS_HF_ENDPOINT", "PLEXUS_CACHE_DIR")}
        env.update(env_extra or {})
        cmd = [self.plexus] + args[:1] + ["--cache-dir", cache] + args[1:]
        preexec = None
        if limit_bytes is not None:
            def preexec():
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, preexec_fn=preexec)
        return p

    def pull(self, ref, cache, *extra, **kw):
        return self.run(["pull", ref, "--endpoint", self.hub.url, *extra], cache, **kw)


class Skip(Exception):
    pass


def cached(cache, rel):
    return os.path.join(cache, "models", rel)


def expect(cond, what, proc=None):
    if not cond:
        detail = f"\n--- rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}" if proc else ""
        raise AssertionError(what + detail)


def expect_ok(p, what):
    expect(p.returncode == 0, f"{what}: expected success", p)


def expect_fail(p, what, *needles):
    expect(p.returncode == 1, f"{what}: expected exit code 1 (an error, not a crash)", p)
    for needle in needles:
        expect(needle in p.stderr, f"{what}: stderr should mention {needle!r}", p)


def ref(path=MODEL):
    return f"hf:{REPO}/{path}"


# ---- the tests ----

def test_pull_basic(e):
    cache = e.fresh_cache()
    p = e.pull(ref(), cache)
    expect_ok(p, "pull")
    dest = cached(cache, f"{REPO}/{MODEL}")
    expect(p.stdout.strip() == dest, f"stdout should be the cached path {dest}", p)
    expect(open(dest, "rb").read() == e.data, "pulled bytes differ from the served file")
    expect(not os.path.exists(dest + ".part") and not os.path.exists(dest + ".part.state"), "leftover .part files")
    expect("100%" in p.stderr, "a plain progress line ending at 100% (stderr is not a TTY)", p)
    heads = e.hub.requests("HEAD", f"/{REPO}/resolve/main/{MODEL}")
    expect(len(heads) == 1, "one HEAD on the resolve URL")
    expect(len(e.hub.requests("GET", "/cdn/")) == 1, "one GET on the CDN (after the 302 and the relative 307)")


def test_up_to_date(e):
    cache = e.fresh_cache()
    expect_ok(e.pull(ref(), cache), "first pull")
    e.hub.reset()
    p = e.pull(ref(), cache)
    expect_ok(p, "second pull")
    expect("up to date" in p.stderr, "second pull says up to date", p)
    expect(not e.hub.requests("GET"), "no GET when up to date")


def test_changed_file_is_fetched_again(e):
    cache = e.fresh_cache()
    dest = cached(cache, f"{REPO}/{MODEL}")
    os.makedirs(os.path.dirname(dest))
    with open(dest, "wb") as f:  # same size, other bytes: only the hash tells
        f.write(e.data[:-1] + b"\0")
    p = e.pull(ref(), cache)
    expect_ok(p, "pull over a stale file")
    expect("downloading again" in p.stderr, "says the file here differs", p)
    expect(open(dest, "rb").read() == e.data, "stale file replaced")


def test_revision_and_subdir(e):
    cache = e.fresh_cache()
    p = e.pull(f"hf:{REPO}@v1/sub/dir/{MODEL}", cache)
    expect_ok(p, "pull with revision and subdirectory")
    expect(e.hub.requests("HEAD", f"/{REPO}/resolve/v1/sub/dir/{MODEL}"), "resolve URL carries revision and path")
    expect(open(cached(cache, f"{REPO}/sub/dir/{MODEL}"), "rb").read() == e.data, "bytes at the subdirectory path")


def test_resume_after_drop(e):
    cache = e.fresh_cache()
    k = len(e.data) // 3
    e.hub.drop_after = [k]
    p = e.pull(ref(), cache, "--retries", "0")
    expect_fail(p, "interrupted pull", "/cdn/")
    part = cached(cache, f"{REPO}/{MODEL}") + ".part"
    expect(os.path.exists(part), "the .part stays after an interrupted pull", p)
    held = os.path.getsize(part)
    expect(0 < held <= k, f".part holds the bytes received ({held}, at most {k})")
    e.hub.reset()
    p = e.pull(ref(), cache)
    expect_ok(p, "resumed pull")
    ranges = [r["range"] for r in e.hub.requests("GET", "/cdn/")]
    expect(ranges == [f"bytes={held}-{len(e.data) - 1}"], f"one ranged GET from byte {held}, got {ranges}", p)
    expect("resuming" in p.stderr, "says it resumes", p)
    expect(open(cached(cache, f"{REPO}/{MODEL}"), "rb").read() == e.data, "resumed file is whole and right")


def test_retry_within_one_pull(e):
    cache = e.fresh_cache()
    k = len(e.data) // 2
    e.hub.drop_after = [k]
    p = e.pull(ref(), cache)
    expect_ok(p, "pull that retries a dropped connection")
    gets = e.hub.requests("GET", "/cdn/")
    expect(len(gets) == 2 and gets[0]["range"] is None, "a whole GET, then a retry", p)
    start = int(gets[1]["range"].split("=")[1].split("-")[0])
    expect(0 < start <= k, f"the retry starts where the data stopped (byte {start}, dropped at {k})", p)
    expect("retrying" in p.stderr, "says it retries", p)
    expect(open(cached(cache, f"{REPO}/{MODEL}"), "rb").read() == e.data, "file is right after the retry")


def test_server_ignores_range(e):
    cache = e.fresh_cache()
    e.hub.drop_after = [len(e.data) // 4]
    expect_fail(e.pull(ref(), cache, "--retries", "0"), "interrupted pull")
    e.hub.reset()
    e.hub.ignore_range = True
    p = e.pull(ref(), cache)
    expect_ok(p, "pull from a server that ignores Range")
    expect("ignored the Range request" in p.stderr, "says the server ignored Range", p)
    gets = e.hub.requests("GET", "/cdn/")
    expect(gets[0]["range"] is not None and gets[-1]["range"] is None, "ranged try, then a whole GET", p)
    expect(open(cached(cache, f"{REPO}/{MODEL}"), "rb").read() == e.data, "file is right after the restart")


def _covered(ranges, size):
    spans = sorted((int(a), int(b) + 1) for a, b in (r.split("=")[1].split("-") for r in ranges))
    pos = 0
    for a, b in spans:
        if a != pos:
            return False
        pos = b
    return pos == size


def test_parallel_connections(e):
    cache = e.fresh_cache()
    e.hub.barrier = 4
    p = e.pull(ref(), cache, "--connections", "4", "--parallel-threshold", "1000")
    expect_ok(p, "parallel pull")
    ranges = [r["range"] for r in e.hub.requests("GET", "/cdn/")]
    expect(len(ranges) == 4 and all(ranges), f"four ranged GETs, got {ranges}", p)
    expect(_covered(ranges, len(e.data)), f"the ranges tile the file exactly: {ranges}")
    expect(e.hub.max_active >= 2, f"ranged GETs ran at the same time (at most {e.hub.max_active} at once)")
    expect(open(cached(cache, f"{REPO}/{MODEL}"), "rb").read() == e.data, "parallel download is right")


def test_parallel_resume(e):
    cache = e.fresh_cache()
    e.hub.drop_after = [1000, 1000, 1000, 1000]
    p = e.pull(ref(), cache, "--connections", "4", "--parallel-threshold", "1000", "--retries", "0")
    expect_fail(p, "interrupted parallel pull")
    state = cached(cache, f"{REPO}/{MODEL}") + ".part.state"
    expect(os.path.exists(state), "state file kept", p)
    have = [tuple(map(int, line.split()[1:])) for line in open(state) if line.startswith("have ")]
    expect(have, "the state lists the ranges held")
    e.hub.reset()
    p = e.pull(ref(), cache, "--connections", "4", "--parallel-threshold", "1000")
    expect_ok(p, "resumed parallel pull")
    asked = sorted(tuple(int(x) for x in r["range"].split("=")[1].split("-"))
                   for r in (q for q in e.hub.requests("GET", "/cdn/")))
    asked = [(a, b + 1) for a, b in asked]
    # What was asked for, together with what was held, is the file, with no byte twice.
    spans = sorted(asked + have)
    expect(spans[0][0] == 0 and spans[-1][1] == len(e.data) and all(a[1] == b[0] for a, b in zip(spans, spans[1:])),
           f"the resumed ranges {asked} are exactly what the state {have} lacked", p)
    expect(open(cached(cache, f"{REPO}/{MODEL}"), "rb").read() == e.data, "resumed parallel download is right")


def test_wrong_hash(e):
    cache = e.fresh_cache()
    e.hub.wrong_hash = True
    p = e.pull(ref(), cache)
    expect_fail(p, "hash mismatch", "SHA-256 mismatch", "0" * 64, e.sha)
    dest = cached(cache, f"{REPO}/{MODEL}")
    expect(not os.path.exists(dest) and not os.path.exists(dest + ".part"), "nothing kept after a mismatch")


def test_no_hash(e):
    cache = e.fresh_cache()
    e.hub.no_hash = True
    p = e.pull(ref(), cache)
    expect_ok(p, "pull without a reported hash")
    expect("no SHA-256" in p.stderr, "says no hash was reported", p)
    expect(open(cached(cache, f"{REPO}/{MODEL}"), "rb").read() == e.data, "file kept")


def test_not_found(e):
    cache = e.fresh_cache()
    p = e.pull(ref("missing.gguf"), cache)
    expect_fail(p, "404", "404", f"{e.hub.url}/{REPO}/resolve/main/missing.gguf", "Entry not found")


def test_token(e):
    cache = e.fresh_cache()
    e.hub.require_token = "secret-token"
    e.hub.cdn = e.cdn  # a CDN on another origin: the token must not go there
    p = e.pull(ref(), cache)
    expect_fail(p, "401 without a token", "401", "HF_TOKEN")
    e.hub.clear_log()
    p = e.pull(ref(), cache, env_extra={"HF_TOKEN": "secret-token"})
    expect_ok(p, "pull with HF_TOKEN")
    expect(all(r["auth"] == "Bearer secret-token" for r in e.hub.requests(prefix=f"/{REPO}/")), "token sent to the hub")
    expect(e.cdn.requests("GET", "/cdn/"), "bytes came from the other origin")
    expect(all(r["auth"] is None for r in e.cdn.requests()), "the token never reaches the CDN's origin")


def test_split_model(e):
    cache = e.fresh_cache()
    p = e.pull(ref("split/" + e.split_names[0]), cache)
    expect_ok(p, "split pull")
    paths = p.stdout.split()
    expect(len(paths) == 3, "three paths printed", p)
    for name, data in zip(e.split_names, e.split_data):
        expect(open(cached(cache, f"{REPO}/split/{name}"), "rb").read() == data, f"{name} pulled")
    p = e.run(["ls", "--json"], cache)
    expect_ok(p, "ls --json")
    models = json.loads(p.stdout)["models"]
    expect(len(models) == 1 and models[0]["parts"] == 3 and models[0]["parts_present"] == 3, f"one 3-part entry: {models}")
    expect(models[0]["architecture"] == "llama", "split model's architecture")
    expect(models[0]["size"] == sum(len(d) for d in e.split_data), "split model's size is all parts")


def test_not_gguf(e):
    cache = e.fresh_cache()
    p = e.pull(ref("junk.gguf"), cache)
    expect_fail(p, "non-GGUF download", "not a GGUF file")
    dest = cached(cache, f"{REPO}/junk.gguf")
    expect(not os.path.exists(dest) and not os.path.exists(dest + ".part"), "non-GGUF file deleted")


def test_plain_url(e):
    cache = e.fresh_cache()
    url = f"{e.hub.url}/files/{MODEL}"
    p = e.run(["pull", url], cache)
    expect_ok(p, "URL pull")
    dest = cached(cache, f"url/127.0.0.1_{e.hub.port}/{MODEL}")
    expect(p.stdout.strip() == dest and open(dest, "rb").read() == e.data, f"URL pull lands in {dest}", p)
    expect("no SHA-256" in p.stderr, "plain URL: no hash", p)


def test_network_failure(e):
    cache = e.fresh_cache()
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = e.run(["pull", ref(), "--endpoint", f"http://127.0.0.1:{port}"], cache)
    expect_fail(p, "nothing listening", f"http://127.0.0.1:{port}/{REPO}/resolve/main/{MODEL}", "network error")


def test_stalled_transfer(e):
    cache = e.fresh_cache()
    e.hub.stall_after = 20000
    p = e.pull(ref(), cache, "--read-timeout", "1", "--retries", "0", timeout=60)
    expect_fail(p, "stalled transfer", "went silent", "/cdn/")
    e.hub.reset()
    expect(os.path.getsize(cached(cache, f"{REPO}/{MODEL}") + ".part") == 20000, "the bytes before the stall are kept")


def test_https(e):
    if not shutil.which("openssl"):
        raise Skip("no openssl command to make a test certificate")
    cert, key = os.path.join(e.tmp, "cert.pem"), os.path.join(e.tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    hub = FakeHub(tls=(cert, key))
    try:
        hub.files = e.hub.files
        cache = e.fresh_cache()
        p = e.run(["pull", ref(), "--endpoint", hub.url], cache)
        expect_fail(p, "untrusted certificate", "not trusted", hub.url)
        p = e.run(["pull", ref(), "--endpoint", hub.url], cache, env_extra={"SSL_CERT_FILE": cert})
        expect_ok(p, "https pull with the test CA trusted")
        expect(open(cached(cache, f"{REPO}/{MODEL}"), "rb").read() == e.data, "https bytes are right")
    finally:
        hub.close()


def test_write_failure(e):
    cache = e.fresh_cache()
    p = e.pull(ref(), cache, limit_bytes=100_000)
    expect_fail(p, "file size limit (disk full)", "cannot write", ".part", "File too large")


def test_bad_refs(e):
    cache = e.fresh_cache()
    for bad, needle in [("hf:onlyorg/file.gguf", "expected hf:ORG/REPO/FILE.gguf"),
                        (f"hf:{REPO}/model.bin", ".gguf"), (f"hf:{REPO}/../x.gguf", "bad path segment"),
                        ("ftp://x/y.gguf", "not a model reference")]:
        expect_fail(e.run(["pull", bad], cache), f"bad ref {bad}", needle)


def test_generate_pulls_hf_ref(e):
    """`plexus generate -m hf:...` pulls into the cache, then runs the model (here the fake hub's stories260K)."""
    cache = e.fresh_cache()
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    env.update({"PLEXUS_HF_ENDPOINT": e.hub.url, "PLEXUS_CACHE_DIR": cache})
    cmd = [e.plexus, "generate", "-m", ref(), "-p", "Once upon a time", "-n", "8", "-t", "1"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    expect_ok(p, "generate -m hf:...")
    expect(os.path.exists(cached(cache, f"{REPO}/{MODEL}")), "the model was pulled into the cache", p)
    expect(p.stdout.startswith("Once upon a time") and len(p.stdout) > len("Once upon a time") + 8,
           "generated text follows the prompt", p)
    e.hub.reset()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    expect_ok(p, "second generate")
    expect(not e.hub.requests("GET"), "the second run downloads nothing", p)


def test_ls(e):
    cache = e.fresh_cache()
    expect_ok(e.pull(ref(), cache), "pull")
    e.hub.drop_after = [5000]
    expect_fail(e.pull(ref("sub/dir/" + MODEL).replace(REPO, REPO + "@v1"), cache, "--retries", "0"), "partial pull")
    p = e.run(["ls"], cache)
    expect_ok(p, "ls")
    lines = p.stdout.splitlines()
    row = [line for line in lines if line.startswith(f"models/{REPO}/{MODEL}")]
    expect(row and "llama" in row[0] and "F32" in row[0] and "ok" in row[0], f"ls row for the model: {lines}", p)
    partial = [line for line in lines if f"sub/dir/{MODEL}" in line]
    expect(partial and "partial" in partial[0], f"partial download shown as partial: {lines}", p)
    p = e.run(["ls", "--json"], cache)
    expect_ok(p, "ls --json")
    models = {m["name"]: m for m in json.loads(p.stdout)["models"]}
    m = models[f"models/{REPO}/{MODEL}"]
    expect(m["architecture"] == "llama" and m["quantization"] == "F32" and m["parameters"] > 200_000,
           f"json entry: {m}")
    expect(m["ref"] == ref() and m["size"] == len(e.data) and not m["partial"], f"json entry: {m}")
    part = models[f"models/{REPO}/sub/dir/{MODEL}"]
    expect(part["partial"] and part["total"] == len(e.data) and 0 < part["downloaded"] < len(e.data), f"{part}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plexus", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("-k", default="", help="run only tests whose name contains this")
    args = ap.parse_args()
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and args.k in n]
    passed = failed = skipped = 0
    with tempfile.TemporaryDirectory(prefix="plexus-hub-") as tmp:
        e = Env(args.plexus, args.shared, tmp)
        try:
            for name, fn in tests:
                try:
                    fn(e)
                    passed += 1
                    print(f"ok   {name}", flush=True)
                except Skip as why:
                    skipped += 1
                    print(f"skip {name}: {why}", flush=True)
                except Exception:  # noqa: BLE001 - report and go on
                    failed += 1
                    print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)
        finally:
            e.hub.close()
            e.cdn.close()
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
