#!/usr/bin/python3
"""Compares plexus's logits with the numpy reference on synthetic models.

For each model (an architecture's tiny preset: tiny-llama, tiny-qwen2,
tiny-qwen3, tiny-qwen3moe, tiny-mixtral, tiny-deepseek2) and weight type:
  plexus synth --preset tiny-A --type T --seed 7 -o A-T.gguf
  plexus logits -m A-T.gguf --tokens 1,5,9,... -o A-T.bin
(raw little-endian float32 logits [n_tokens, n_vocab], every position, no BOS
added), then the float64 reference on the same file. A case passes when
max|plexus - ref| / max|ref| is within the type's bound: 1e-4 for float types
(the weights are exactly what the reference reads), 1e-2 for quantized ones.

Usage: compare_plexus.py --plexus build/apps/plexus [--arch qwen2] [--type q4_k]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_read import GgufError  # noqa: E402
from model_ref import Model  # noqa: E402

FLOAT_TYPES = ("f32", "f16", "bf16")
QUANT_TYPES = ("q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k")
FLOAT_TOL, QUANT_TOL = 1e-4, 1e-2
# MoE routing is discontinuous: where the k-th and (k+1)-th router logits
# nearly tie, plexus's rounding (int8 activations for quantized weights) may
# pick the other expert, a different function rather than an error. Token
# sequences whose reference routing comes closer than this to a tie are
# replaced (next seed), so the comparison runs where routing is well defined.
FLOAT_ROUTE_MARGIN, QUANT_ROUTE_MARGIN = 1e-4, 1e-2
ROUTE_TRIES = 20
SUBPROCESS_TIMEOUT_S = 60
# --arch names -> the synth preset of each (mixtral is a llama file with experts).
MODELS = {"llama": "tiny-llama", "qwen2": "tiny-qwen2", "qwen3": "tiny-qwen3",
          "qwen3moe": "tiny-qwen3moe", "mixtral": "tiny-mixtral", "deepseek2": "tiny-deepseek2"}


def run(cmd):
    """Runs a plexus command; returns None or an error message."""
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{' '.join(cmd)}: {e}"
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        return f"{' '.join(cmd)}: exit {r.returncode}: {' | '.join(tail)}"
    return None


def pick_tokens(n_vocab, n_tokens, seed, bos=True):
    """BOS (1) then n_tokens-1 seeded ids in [0, n_vocab); without `bos`,
    n_tokens seeded ids (a retry: position 0 after BOS is the same for every
    seed, so a near-tie there would follow every BOS-led sequence)."""
    rng = np.random.default_rng(seed)
    ids = [int(t) for t in rng.integers(0, n_vocab, n_tokens - (1 if bos else 0))]
    return [1] + ids if bos else ids


def compare_case(args, arch, wtype):
    """Returns (relative error or None, error message or None)."""
    stem = os.path.join(args.workdir, f"{arch}-{wtype}")
    model_path, logits_path = stem + ".gguf", stem + ".bin"
    synth = [args.plexus, "synth", "--preset", MODELS[arch], "--type", wtype,
             "--seed", str(args.seed), "-o", model_path] + (["--sharp"] if args.sharp else [])
    err = run(synth)
    if err:
        return None, err
    model = Model(model_path)
    n_vocab = model.gguf.tensors["token_embd.weight"].shape[1]
    margin = FLOAT_ROUTE_MARGIN if wtype in FLOAT_TYPES else QUANT_ROUTE_MARGIN
    for attempt in range(ROUTE_TRIES):
        tokens = pick_tokens(n_vocab, args.n_tokens, args.seed + attempt, bos=attempt == 0)
        ref = model.forward(tokens)                              # [T, V]
        if model.min_route_margin >= margin:
            break
        print(f"[compare] {arch} {wtype}: tokens of seed {args.seed + attempt} route within "
              f"{model.min_route_margin:.1e} of a tie; next seed", flush=True)
    else:
        return None, f"every token sequence tried routes within {margin} of a tie"
    # An f32 KV cache: the reference checks the model's function, and the
    # default f16 cache would add its own rounding (about 3e-4 here).
    err = run([args.plexus, "logits", "-m", model_path, "--kv-type", "f32",
               "--tokens", ",".join(map(str, tokens)), "-o", logits_path])
    if err:
        return None, err
    got = np.fromfile(logits_path, dtype="<f4")
    if got.size != len(tokens) * n_vocab:
        return None, (f"{logits_path}: {got.size} floats, want {len(tokens)} x {n_vocab}")
    got = got.reshape(len(tokens), n_vocab).astype(np.float64)  # [T, V]
    if not np.all(np.isfinite(got)):
        return None, "plexus logits contain NaN or inf"
    return float(np.max(np.abs(got - ref)) / np.max(np.abs(ref))), None


def parse_list(text, allowed, what):
    items = allowed if text is None else [s.strip().lower() for s in text.split(",")]
    unknown = [s for s in items if s not in allowed]
    if unknown:
        raise SystemExit(f"[compare] unknown {what}: {', '.join(unknown)} "
                         f"(known: {', '.join(allowed)})")
    return items


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plexus", required=True, help="path of the plexus binary")
    ap.add_argument("--arch", help="comma-separated architectures (default: all)")
    ap.add_argument("--type", help="comma-separated weight types (default: all)")
    ap.add_argument("--workdir", help="where the models and logits go (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n-tokens", type=int, default=12)
    ap.add_argument("--sharp", action="store_true", help="pass --sharp to plexus synth")
    ap.add_argument("--keep", action="store_true",
                    help="keep the .gguf and .bin files of passing cases too")
    args = ap.parse_args()
    archs = parse_list(args.arch, list(MODELS), "architecture")
    types = parse_list(args.type, list(FLOAT_TYPES + QUANT_TYPES), "type")
    if not os.access(args.plexus, os.X_OK):
        print(f"[compare] {args.plexus} is not an executable")
        return 1
    with tempfile.TemporaryDirectory(prefix="plexus-compare-") as tmp:
        args.workdir = args.workdir or tmp
        os.makedirs(args.workdir, exist_ok=True)
        n_failed = 0
        for arch in archs:
            for wtype in types:
                tol = FLOAT_TOL if wtype in FLOAT_TYPES else QUANT_TOL
                try:
                    rel, err = compare_case(args, arch, wtype)
                except (GgufError, ValueError, KeyError) as e:  # a file the reference rejects
                    rel, err = None, f"reference: {e}"
                ok = err is None and rel <= tol
                n_failed += not ok
                if ok and not args.keep:  # a failing case's files stay for a look
                    for ext in (".gguf", ".bin"):
                        os.remove(os.path.join(args.workdir, f"{arch}-{wtype}{ext}"))
                shown = "    -    " if rel is None else f"{rel:.3e}"
                print(f"{arch:8} {wtype:5} rel_err {shown} (bound {tol:.0e}) "
                      f"{'PASS' if ok else 'FAIL'}{'  ' + err if err else ''}", flush=True)
    n_cases = len(archs) * len(types)
    print(f"[compare] {n_cases - n_failed}/{n_cases} cases passed")
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
