"""Float64 numpy reference forward for the `llama`, `qwen2` and `qwen3` GGUF
architectures: the oracle plexus's logits are compared against.

Written from the architectures' definitions, one step at a time:
  x = embed(tokens)
  per layer: x += attn_output(attention(rope(q), rope(k), v)) on rms_norm(x)
             x += down(silu(gate(h)) * up(h)),  h = rms_norm(x)
  logits = output(rms_norm(x))
GGUF stores a weight as [ne0=in, ne1=out]; loaded in numpy order it is
[out, in], so y = x @ W.T for a batch of rows x [n_tokens, in].
Usage: /usr/bin/python3 model_ref.py MODEL.gguf 1,5,9  (prints the argmax ids)
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dequant import load_tensor  # noqa: E402
from gguf_read import GgufFile  # noqa: E402

ARCHS = ("llama", "qwen2", "qwen3")
NEOX_ROPE_ARCHS = ("qwen2", "qwen3")  # rotate halves; llama rotates adjacent pairs


class Config:
    def __init__(self, gguf):
        arch = gguf.get("general.architecture")
        if arch not in ARCHS:
            raise ValueError(f"[reference] unsupported architecture {arch!r}")

        def key(name, default=None):
            v = gguf.get(f"{arch}.{name}", default)
            if v is None:
                raise ValueError(f"[reference] missing key {arch}.{name}")
            return v

        self.arch = arch
        self.n_embd = int(key("embedding_length"))
        self.n_layers = int(key("block_count"))
        self.n_ff = int(key("feed_forward_length"))
        self.n_heads = int(key("attention.head_count"))
        self.n_kv_heads = int(key("attention.head_count_kv", self.n_heads))
        self.eps = float(key("attention.layer_norm_rms_epsilon"))
        self.head_dim = int(key("attention.key_length", self.n_embd // self.n_heads))
        self.n_rot = int(key("rope.dimension_count", self.head_dim))
        self.rope_base = float(key("rope.freq_base", 10000.0))
        self.pos_scale = 1.0
        if key("rope.scaling.type", "none") == "linear":
            self.pos_scale = 1.0 / float(key("rope.scaling.factor", 1.0))
        self.neox = arch in NEOX_ROPE_ARCHS
        if self.n_heads % self.n_kv_heads:
            raise ValueError("[reference] head_count not a multiple of head_count_kv")


class Model:
    """`f16_like_llamacpp` rounds what llama.cpp's CPU path rounds to f16 by
    default (its f16 KV cache: q, k, v and the attention probabilities; and
    activations entering a matmul with f16 weights). Only the golden test uses
    it, to show that the remaining gap to llama.cpp is that rounding."""

    def __init__(self, path, f16_like_llamacpp=False):
        self.gguf = GgufFile(path)
        self.cfg = Config(self.gguf)
        self.f16_like_llamacpp = f16_like_llamacpp

    def f16(self, x):
        if not self.f16_like_llamacpp:
            return x
        return x.astype(np.float16).astype(np.float64)

    def linear(self, name, x):
        """x [..., in] @ W.T -> [..., out] for weight `name` [out, in]."""
        if self.gguf.tensors[name].type_name == "f16":
            x = self.f16(x)
        return x @ self.w(name).T

    def w(self, name):
        """Tensor `name` as float64 in numpy order, or None when absent."""
        if name not in self.gguf.tensors:
            return None
        return load_tensor(self.gguf, name).astype(np.float64)

    def forward(self, tokens):
        """Logits [n_tokens, n_vocab] for a causal pass over `tokens`."""
        cfg = self.cfg
        embd = self.w("token_embd.weight")                     # [V, d]
        x = embd[np.asarray(tokens)]                           # [T, d]
        rope = rope_tables(cfg, len(tokens), self.w("rope_freqs.weight"))
        for layer in range(cfg.n_layers):
            p = f"blk.{layer}."
            h = rms_norm(x, self.w(p + "attn_norm.weight"), cfg.eps)
            x = x + self.attention(p, h, rope)
            h = rms_norm(x, self.w(p + "ffn_norm.weight"), cfg.eps)
            x = x + self.swiglu(p, h)
        x = rms_norm(x, self.w("output_norm.weight"), cfg.eps)
        out = "output.weight" if "output.weight" in self.gguf.tensors else "token_embd.weight"
        return self.linear(out, x)                             # [T, V]

    def project(self, prefix, h, n_heads):
        """[T, d] -> [T, n_heads, dh]: matmul, optional bias, optional head norm."""
        cfg = self.cfg
        y = self.linear(prefix + ".weight", h)                 # [T, n_heads*dh]
        bias = self.w(prefix + ".bias")
        if bias is not None:
            y = y + bias
        y = y.reshape(len(h), n_heads, -1)                     # [T, n_heads, dh]
        norm = self.w(prefix + "_norm.weight")                 # qwen3: [dh]
        if norm is not None:
            y = rms_norm(y, norm, cfg.eps)
        return y

    def attention(self, p, h, rope):
        cfg = self.cfg
        T = len(h)
        q = apply_rope(self.project(p + "attn_q", h, cfg.n_heads), rope, cfg)     # [T, H, dh]
        k = apply_rope(self.project(p + "attn_k", h, cfg.n_kv_heads), rope, cfg)  # [T, Hkv, dh]
        v = self.project(p + "attn_v", h, cfg.n_kv_heads)                         # [T, Hkv, dv]
        q, k, v = self.f16(q), self.f16(k), self.f16(v)
        group = cfg.n_heads // cfg.n_kv_heads
        k = np.repeat(k, group, axis=1)                        # [T, H, dh]: head i uses kv i//group
        v = np.repeat(v, group, axis=1)                        # [T, H, dv]
        scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(q.shape[-1])  # [H, T, T]
        future = np.triu(np.ones((T, T), bool), k=1)           # key s > query t is masked
        scores = np.where(future, -np.inf, scores)
        probs = self.f16(softmax(scores))                      # [H, T, T]
        heads = np.einsum("hts,shd->thd", probs, v)            # [T, H, dv]
        return self.linear(p + "attn_output.weight", heads.reshape(T, -1))  # [T, d]

    def swiglu(self, p, h):
        """down(silu(gate h) * up h): [T, d] -> [T, d]."""
        g = self.linear(p + "ffn_gate.weight", h)              # [T, ff]
        u = self.linear(p + "ffn_up.weight", h)                # [T, ff]
        return self.linear(p + "ffn_down.weight", g / (1.0 + np.exp(-g)) * u)


def rms_norm(x, weight, eps):
    """Normalizes over the last axis: x / sqrt(mean(x^2) + eps) * weight."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def log_softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def rope_tables(cfg, n_tokens, freq_factors):
    """(cos, sin), each [T, n_rot/2]: angle = pos * base^(-2i/n_rot) / factor[i]."""
    i = np.arange(cfg.n_rot // 2)
    freq = cfg.rope_base ** (-2.0 * i / cfg.n_rot)             # [n_rot/2]
    if freq_factors is not None:
        freq = freq / freq_factors
    pos = np.arange(n_tokens) * cfg.pos_scale                  # [T]
    angle = pos[:, None] * freq[None, :]                       # [T, n_rot/2]
    return np.cos(angle), np.sin(angle)


def apply_rope(x, rope, cfg):
    """Rotates the first n_rot values of each head of x [T, heads, dh].
    Pairs are (2i, 2i+1) for llama ("normal") and (i, i + n_rot/2) for neox."""
    cos, sin = (t[:, None, :] for t in rope)                   # [T, 1, n_rot/2]
    n, half = cfg.n_rot, cfg.n_rot // 2
    out = x.copy()
    if cfg.neox:
        a, b = x[..., :half], x[..., half:n]
        out[..., :half] = a * cos - b * sin
        out[..., half:n] = a * sin + b * cos
    else:
        a, b = x[..., 0:n:2], x[..., 1:n:2]
        out[..., 0:n:2] = a * cos - b * sin
        out[..., 1:n:2] = a * sin + b * cos
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 1
    tokens = [int(t) for t in sys.argv[2].split(",")]
    logits = Model(sys.argv[1]).forward(tokens)
    print(" ".join(str(int(i)) for i in np.argmax(logits, axis=-1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
