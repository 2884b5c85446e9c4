#!/usr/bin/python3
"""A stand-in for the `plexus synth` / `plexus logits` commands, so the
reference and compare_plexus.py can be tested before (or without) plexus.

  fake_plexus.py synth --arch A --preset tiny-A --type T --seed S -o M.gguf
  fake_plexus.py logits -m M.gguf --tokens 1,5,9 -o L.bin [--noise X]
Only the types gguf_write can encode (f32, f16, bf16, q8_0) are supported.
`--noise X` adds X * max|logit| to one logit, to prove the harness notices.
Also exports make_model(), the synthetic models of the reference's tests.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_write import ARRAY, ENCODERS, F32, STRING, U32, write_gguf  # noqa: E402
from model_ref import Model  # noqa: E402

TYPE_IDS = {"f32": 0, "f16": 1, "bf16": 30, "q8_0": 8}
# Head dims differ from n_embd / n_heads on purpose (16 vs 8).
PRESETS = {
    "tiny-llama": dict(arch="llama", n_embd=32, n_layers=2, n_ff=64, n_heads=4,
                       n_kv_heads=2, head_dim=16, n_vocab=96),
    "tiny-qwen2": dict(arch="qwen2", n_embd=32, n_layers=2, n_ff=64, n_heads=4,
                       n_kv_heads=2, head_dim=16, n_vocab=96, bias=True),
    "tiny-qwen3": dict(arch="qwen3", n_embd=32, n_layers=2, n_ff=64, n_heads=4,
                       n_kv_heads=2, head_dim=16, n_vocab=96, qk_norm=True),
    # Mixtures of experts: 6 experts, 2 per token, expert width 32.
    "tiny-qwen3moe": dict(arch="qwen3moe", n_embd=32, n_layers=2, n_ff=64, n_heads=4,
                          n_kv_heads=2, head_dim=16, n_vocab=96, qk_norm=True,
                          n_experts=6, n_experts_used=2, n_ff_expert=32),
    "tiny-mixtral": dict(arch="llama", n_embd=32, n_layers=2, n_ff=32, n_heads=4,
                         n_kv_heads=2, head_dim=16, n_vocab=96,
                         n_experts=6, n_experts_used=2, n_ff_expert=32),
}


def make_model(seed, arch, n_embd, n_layers, n_ff, n_heads, n_kv_heads, head_dim, n_vocab,
               bias=False, qk_norm=False, tied=False, n_rot=None, rope_freqs=False,
               linear_factor=None, n_experts=0, n_experts_used=0, n_ff_expert=0,
               per_expert_tensors=False):
    """(metadata, {name: float32 array in numpy order [out, in]})."""
    rng = np.random.default_rng(seed)

    def mat(n_out, n_in):
        return (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)

    def norm(n):
        return (1 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    meta = [("general.architecture", STRING, arch),
            (f"{arch}.embedding_length", U32, n_embd), (f"{arch}.block_count", U32, n_layers),
            (f"{arch}.feed_forward_length", U32, n_ff),
            (f"{arch}.attention.head_count", U32, n_heads),
            (f"{arch}.attention.head_count_kv", U32, n_kv_heads),
            (f"{arch}.attention.key_length", U32, head_dim),
            (f"{arch}.attention.value_length", U32, head_dim),
            (f"{arch}.attention.layer_norm_rms_epsilon", F32, 1e-6),
            (f"{arch}.rope.freq_base", F32, 1000.0),
            ("tokenizer.ggml.tokens", ARRAY, (STRING, [f"t{i}" for i in range(n_vocab)]))]
    if n_experts:
        meta += [(f"{arch}.expert_count", U32, n_experts),
                 (f"{arch}.expert_used_count", U32, n_experts_used)]
        if arch != "llama":  # Mixtral's expert width is its feed_forward_length
            meta.append((f"{arch}.expert_feed_forward_length", U32, n_ff_expert))
    if n_rot is not None:
        meta.append((f"{arch}.rope.dimension_count", U32, n_rot))
    if linear_factor is not None:
        meta += [(f"{arch}.rope.scaling.type", STRING, "linear"),
                 (f"{arch}.rope.scaling.factor", F32, linear_factor)]
    w = {"token_embd.weight": mat(n_vocab, n_embd) * 4, "output_norm.weight": norm(n_embd)}
    if not tied:
        w["output.weight"] = mat(n_vocab, n_embd)
    if rope_freqs:
        w["rope_freqs.weight"] = rng.uniform(1, 4, (n_rot or head_dim) // 2).astype(np.float32)
    for layer in range(n_layers):
        p = f"blk.{layer}."
        w[p + "attn_norm.weight"], w[p + "ffn_norm.weight"] = norm(n_embd), norm(n_embd)
        w[p + "attn_q.weight"] = mat(n_heads * head_dim, n_embd)
        w[p + "attn_k.weight"] = mat(n_kv_heads * head_dim, n_embd)
        w[p + "attn_v.weight"] = mat(n_kv_heads * head_dim, n_embd)
        w[p + "attn_output.weight"] = mat(n_embd, n_heads * head_dim)
        if n_experts:
            add_experts(w, p, mat, n_embd, n_experts, n_ff_expert, per_expert_tensors)
        else:
            w[p + "ffn_gate.weight"], w[p + "ffn_up.weight"] = mat(n_ff, n_embd), mat(n_ff, n_embd)
            w[p + "ffn_down.weight"] = mat(n_embd, n_ff)
        if bias:
            for name, n in (("attn_q", n_heads), ("attn_k", n_kv_heads), ("attn_v", n_kv_heads)):
                w[p + name + ".bias"] = (0.3 * rng.standard_normal(n * head_dim)).astype(np.float32)
        if qk_norm:
            w[p + "attn_q_norm.weight"], w[p + "attn_k_norm.weight"] = norm(head_dim), norm(head_dim)
    return meta, w


def add_experts(w, p, mat, n_embd, n_experts, n_ff_expert, per_expert_tensors):
    """Router [E, d] (x3: decisive routing) and experts: 3-D [E, out, in]
    stacks, or (older Mixtral files) one 2-D tensor per expert."""
    w[p + "ffn_gate_inp.weight"] = mat(n_experts, n_embd) * 3
    shapes = {"gate": (n_ff_expert, n_embd), "up": (n_ff_expert, n_embd), "down": (n_embd, n_ff_expert)}
    for kind, shape in shapes.items():
        stack = np.stack([mat(*shape) for _ in range(n_experts)])
        if per_expert_tensors:
            for e in range(n_experts):
                w[f"{p}ffn_{kind}.{e}.weight"] = stack[e]
        else:
            w[f"{p}ffn_{kind}_exps.weight"] = stack


def save_model(path, meta, weights, type_name="f32"):
    """Matrices in `type_name`; vectors (norms, biases, rope_freqs) and the
    MoE router (as llama.cpp's quantizer leaves it) stay f32."""
    tensors = []
    for name, x in weights.items():
        type_id = TYPE_IDS[type_name] if x.ndim >= 2 and "ffn_gate_inp" not in name else 0
        tensors.append((name, type_id, list(reversed(x.shape)), ENCODERS[type_id](x)))
    write_gguf(path, meta, tensors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["synth", "logits"])
    ap.add_argument("--arch"), ap.add_argument("--preset"), ap.add_argument("--type")
    ap.add_argument("--seed", type=int, default=0), ap.add_argument("--sharp", action="store_true")
    ap.add_argument("-m"), ap.add_argument("--tokens"), ap.add_argument("-o", required=True)
    ap.add_argument("--noise", type=float, default=0.0)
    ap.add_argument("--kv-type", choices=["f16", "f32"], default="f16")  # ignored: the fake is exact
    args = ap.parse_args()
    if args.command == "synth":
        if args.type not in TYPE_IDS:
            print(f"[fake_plexus] type {args.type} not supported", file=sys.stderr)
            return 1
        meta, weights = make_model(args.seed, **PRESETS[args.preset])
        save_model(args.o, meta, weights, args.type)
        return 0
    logits = Model(args.m).forward([int(t) for t in args.tokens.split(",")]).astype("<f4")
    logits.flat[3] += args.noise * np.max(np.abs(logits))
    logits.tofile(args.o)
    return 0


if __name__ == "__main__":
    sys.exit(main())
