#!/usr/bin/python3
"""Exercises the reference's code paths that stories260K does not reach
(qwen2 biases, qwen3 q/k norms, neox rope, head_dim != n_embd/n_heads, partial
rotation, rope_freqs, linear rope scaling, tied output, qwen3moe and Mixtral
experts, stacked or one tensor per expert), the GGUF reader on
every metadata type, and compare_plexus.py itself against fake_plexus.py.

Checks:
  1. metadata of every value type and a 64-byte alignment read back exactly;
  2. model_ref.Model agrees with a token-by-token loop written separately here
     (KV cache, one head and one rotation pair at a time);
  3. llama (adjacent-pair rope) on Q/K rows permuted per head the way
     llama.cpp's converter does gives the same logits as qwen2 (neox rope) on
     the unpermuted weights: the two rope modes are consistent;
  4. causality: a prefix's logits equal the first rows of the full pass;
  5. f16/bf16/q8_0 files load and stay close to the f32 logits;
  6. compare_plexus.py passes on fake_plexus and fails when it adds noise.
"""
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare_plexus import MODELS  # noqa: E402
from fake_plexus import PRESETS, make_model, save_model  # noqa: E402
from gguf_read import GgufFile  # noqa: E402
from gguf_write import ARRAY, write_gguf  # noqa: E402
from model_ref import Model  # noqa: E402

TOKENS = [1, 17, 3, 95, 40, 40, 8, 61, 2, 77]


def loop_forward(model, tokens):
    """Token by token with a KV cache; one head and one rotation pair at a time."""
    cfg, w = model.cfg, model.w
    n_rot, dh = cfg.n_rot, cfg.head_dim
    factors = w("rope_freqs.weight")
    out = w("output.weight") if "output.weight" in model.gguf.tensors else w("token_embd.weight")

    def norm(x, weight):
        return x / math.sqrt(float(np.dot(x, x)) / len(x) + cfg.eps) * weight

    def rotate(vec, pos):  # vec [dh]
        vec = vec.copy()
        for i in range(n_rot // 2):
            theta = pos * cfg.pos_scale * cfg.rope_base ** (-2 * i / n_rot)
            if factors is not None:
                theta /= factors[i]
            a, b = (i, i + n_rot // 2) if cfg.neox else (2 * i, 2 * i + 1)
            c, s = math.cos(theta), math.sin(theta)
            vec[a], vec[b] = vec[a] * c - vec[b] * s, vec[a] * s + vec[b] * c
        return vec

    def head_proj(p, name, x, head):
        rows = slice(head * dh, (head + 1) * dh)
        y = w(f"{p}{name}.weight")[rows] @ x
        if f"{p}{name}.bias" in model.gguf.tensors:
            y = y + w(f"{p}{name}.bias")[rows]
        if f"{p}{name}_norm.weight" in model.gguf.tensors:
            y = norm(y, w(f"{p}{name}_norm.weight"))
        return y

    cache = [([], []) for _ in range(cfg.n_layers)]  # per layer: k, v lists of [Hkv, dh]
    logits = []
    for pos, tok in enumerate(tokens):
        x = w("token_embd.weight")[tok].copy()
        for layer in range(cfg.n_layers):
            p = f"blk.{layer}."
            h = norm(x, w(p + "attn_norm.weight"))
            ks, vs = cache[layer]
            ks.append([rotate(head_proj(p, "attn_k", h, j), pos) for j in range(cfg.n_kv_heads)])
            vs.append([head_proj(p, "attn_v", h, j) for j in range(cfg.n_kv_heads)])
            heads = []
            for i in range(cfg.n_heads):
                q = rotate(head_proj(p, "attn_q", h, i), pos)
                j = i // (cfg.n_heads // cfg.n_kv_heads)
                scores = np.array([q @ k[j] for k in ks]) / math.sqrt(dh)
                probs = np.exp(scores - scores.max())
                probs /= probs.sum()
                heads.append(sum(pr * v[j] for pr, v in zip(probs, vs)))
            x = x + w(p + "attn_output.weight") @ np.concatenate(heads)
            h = norm(x, w(p + "ffn_norm.weight"))
            if cfg.n_experts:
                x = x + loop_moe(model, p, h)
                continue
            g = w(p + "ffn_gate.weight") @ h
            x = x + w(p + "ffn_down.weight") @ (g / (1 + np.exp(-g)) * (w(p + "ffn_up.weight") @ h))
        logits.append(out @ norm(x, w("output_norm.weight")))
    return np.array(logits)


def loop_moe(model, p, h):
    """One token's mixture of experts, written apart from model_ref.moe: a
    stable argsort for the top k, gates from explicit exponentials."""
    cfg, w = model.cfg, model.w
    logits = w(p + "ffn_gate_inp.weight") @ h                       # [E]
    chosen = np.argsort(-logits, kind="stable")[:cfg.n_experts_used]  # ties: lower index first
    e_all = np.exp(logits - logits.max())
    if cfg.arch == "qwen3moe":  # softmax over all E, keep k, renormalise
        gates = e_all[chosen] / e_all.sum()
        gates = gates / gates.sum()
    else:  # Mixtral: softmax over the chosen k
        gates = e_all[chosen] / e_all[chosen].sum()

    def expert(kind, e):
        stacked = p + f"ffn_{kind}_exps.weight"
        if stacked in model.gguf.tensors:
            return w(stacked)[e]
        return w(p + f"ffn_{kind}.{e}.weight")

    out = np.zeros_like(h)
    for e, gate_w in zip(chosen, gates):
        g = expert("gate", e) @ h
        out += gate_w * (expert("down", e) @ (g / (1 + np.exp(-g)) * (expert("up", e) @ h)))
    return out


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def check(failures, name, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if not ok:
        failures.append(name)


def check_metadata(failures, tmp):
    path = os.path.join(tmp, "meta.gguf")
    meta = [("u8", 0, 200), ("i8", 1, -100), ("u16", 2, 60000), ("i16", 3, -30000),
            ("u32", 4, 4000000000), ("i32", 5, -2000000000), ("f32", 6, 1.5), ("bool", 7, True),
            ("str", 8, "héllo"), ("u64", 10, 2**63 + 5), ("i64", 11, -2**62), ("f64", 12, 0.1),
            ("arr.i32", ARRAY, (5, [1, -2, 3])), ("arr.str", ARRAY, (8, ["a", "", "bc"])),
            ("arr.arr", ARRAY, (ARRAY, [(4, [1, 2]), (4, [])]))]
    x = np.arange(6, dtype="<f4")
    write_gguf(path, meta, [("a", 0, [3], x[:3].tobytes()), ("b", 0, [1, 3], x[3:].tobytes())],
               alignment=64)
    g = GgufFile(path)
    want = {k: v for k, _, v in meta}
    want.update({"arr.i32": [1, -2, 3], "arr.str": ["a", "", "bc"], "arr.arr": [[1, 2], []]})
    got = {k: v for k, v in g.metadata.items() if k != "general.alignment"}
    ok = got == want and g.alignment == 64 and g.data_offset % 64 == 0
    ok = ok and list(g.raw("b").view("<f4")) == [3, 4, 5] and g.tensors["b"].offset == 64
    check(failures, "metadata round trip", ok, f"{len(got)} keys of every type, alignment 64")


def check_loop_agreement(failures, tmp):
    variants = {
        "qwen2 (bias, neox, head_dim 16 != 32/4)": PRESETS["tiny-qwen2"],
        "qwen3 (q/k norm)": PRESETS["tiny-qwen3"],
        "qwen3moe (experts, softmax then top k)": PRESETS["tiny-qwen3moe"],
        "mixtral (top k then softmax)": PRESETS["tiny-mixtral"],
        "mixtral, one tensor per expert": dict(PRESETS["tiny-mixtral"], per_expert_tensors=True),
        "llama (tied, n_rot 8 < 16, rope_freqs, linear x2)": dict(
            PRESETS["tiny-llama"], tied=True, n_rot=8, rope_freqs=True, linear_factor=2.0),
    }
    for label, preset in variants.items():
        path = os.path.join(tmp, "loop.gguf")
        save_model(path, *make_model(3, **preset))
        model = Model(path)
        err = rel_err(model.forward(TOKENS), loop_forward(model, TOKENS))
        check(failures, f"loop agreement {label}", err < 1e-12, f"rel err {err:.1e}")


def permute_for_llama(x, n_heads):
    """Per head, row (half, i) -> row (i, half): pairs (i, i+dh/2) become (2i, 2i+1)."""
    rows = x.shape[0]
    return x.reshape(n_heads, 2, rows // n_heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)


def check_rope_modes(failures, tmp):
    meta, w = make_model(5, **PRESETS["tiny-qwen2"])
    qwen_path, llama_path = os.path.join(tmp, "q.gguf"), os.path.join(tmp, "l.gguf")
    save_model(qwen_path, meta, w)
    cfg = PRESETS["tiny-qwen2"]
    perm = dict(w)
    for name in w:
        if ".attn_q." in name or ".attn_k." in name:
            perm[name] = permute_for_llama(w[name], cfg["n_heads" if "attn_q" in name else "n_kv_heads"])
    llama_meta = [(k.replace("qwen2", "llama"), t, "llama" if v == "qwen2" else v) for k, t, v in meta]
    save_model(llama_path, llama_meta, perm)
    err = rel_err(Model(llama_path).forward(TOKENS), Model(qwen_path).forward(TOKENS))
    check(failures, "llama rope on permuted Q/K == neox rope", err < 1e-12, f"rel err {err:.1e}")


def check_causal_and_types(failures, tmp):
    meta, w = make_model(9, **PRESETS["tiny-qwen3"])
    base = os.path.join(tmp, "f32.gguf")
    save_model(base, meta, w)
    full = Model(base).forward(TOKENS)
    err = rel_err(Model(base).forward(TOKENS[:4]), full[:4])
    check(failures, "causal prefix", err < 1e-12, f"rel err {err:.1e}")
    for type_name, bound in (("f16", 2e-3), ("bf16", 5e-2), ("q8_0", 5e-2)):
        path = os.path.join(tmp, type_name + ".gguf")
        save_model(path, meta, w, type_name)
        err = rel_err(Model(path).forward(TOKENS), full)
        check(failures, f"{type_name} file vs f32", 0 < err < bound, f"rel err {err:.1e}")


def check_harness(failures, tmp):
    for noise, want_rc in ((0.0, 0), (1e-3, 1)):
        fake = os.path.join(tmp, f"plexus-noise{noise}")
        with open(fake, "w") as f:
            f.write(f'#!/bin/sh\nexec {sys.executable} {HERE}/fake_plexus.py "$@" --noise {noise}\n')
        os.chmod(fake, 0o755)
        # Every architecture the fake can make (it has no deepseek2 model:
        # reference_deepseek2 runs the real plexus).
        archs = ",".join(a for a, preset in MODELS.items() if preset in PRESETS)
        cases = ["--type", "f32,bf16", "--arch", archs] if noise == 0 else ["--type", "f32", "--arch", "qwen3"]
        r = subprocess.run([sys.executable, os.path.join(HERE, "compare_plexus.py"), "--plexus",
                            fake, "--workdir", os.path.join(tmp, "cmp")] + cases,
                           capture_output=True, text=True, timeout=120)
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()
        check(failures, f"compare_plexus on fake plexus, noise {noise}", r.returncode == want_rc,
              f"exit {r.returncode} (want {want_rc}); {last}")


def main():
    failures = []
    with tempfile.TemporaryDirectory(prefix="plexus-ref-") as tmp:
        check_metadata(failures, tmp)
        check_loop_agreement(failures, tmp)
        check_rope_modes(failures, tmp)
        check_causal_and_types(failures, tmp)
        check_harness(failures, tmp)
    print("reference synthetic test:", f"FAILED ({', '.join(failures)})" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
