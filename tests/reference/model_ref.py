"""Float64 numpy reference forward for the `llama` (and Mixtral: llama with
experts), `qwen2`, `qwen3` and `qwen3moe` GGUF architectures: the oracle
plexus's logits are compared against.

Written from the architectures' definitions, one step at a time:
  x = embed(tokens)
  per layer: x += attn_output(attention(rope(q), rope(k), v)) on rms_norm(x)
             x += down(silu(gate(h)) * up(h)),  h = rms_norm(x)
             (MoE: x += sum over the router's top k experts e of w_e * expert_e(h))
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

ARCHS = ("llama", "qwen2", "qwen3", "qwen3moe")
NEOX_ROPE_ARCHS = ("qwen2", "qwen3", "qwen3moe")  # rotate halves; llama rotates adjacent pairs


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
        self.n_experts = int(key("expert_count", 0))
        self.n_experts_used = int(key("expert_used_count", 0)) if self.n_experts else 0
        self.n_ff = int(key("feed_forward_length", 0 if self.n_experts else None))
        # Gating: Mixtral (llama) softmaxes the k chosen logits; qwen3moe
        # softmaxes all E, keeps the k, and renormalises them (norm_topk_prob).
        self.softmax_all_experts = arch == "qwen3moe"
        self.expert_weights_norm = bool(key("expert_weights_norm", True))
        if arch == "qwen3moe" and not self.n_experts:
            raise ValueError("[reference] qwen3moe without qwen3moe.expert_count")
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
        self.min_route_margin = np.inf  # smallest gap between the k-th and (k+1)-th router logit
        embd = self.w("token_embd.weight")                     # [V, d]
        x = embd[np.asarray(tokens)]                           # [T, d]
        rope = rope_tables(cfg, len(tokens), self.w("rope_freqs.weight"))
        for layer in range(cfg.n_layers):
            p = f"blk.{layer}."
            h = rms_norm(x, self.w(p + "attn_norm.weight"), cfg.eps)
            x = x + self.attention(p, h, rope)
            h = rms_norm(x, self.w(p + "ffn_norm.weight"), cfg.eps)
            x = x + (self.moe(p, h) if cfg.n_experts else self.swiglu(p, h))
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

    def experts(self, p, kind):
        """(expert matrices [E, out, in], type name): the 3-D ffn_{kind}_exps
        tensor, or the per-expert 2-D ffn_{kind}.{e} of older Mixtral files."""
        name = f"{p}ffn_{kind}_exps.weight"
        if name in self.gguf.tensors:
            return self.w(name), self.gguf.tensors[name].type_name
        names = [f"{p}ffn_{kind}.{e}.weight" for e in range(self.cfg.n_experts)]
        return np.stack([self.w(n) for n in names]), self.gguf.tensors[names[0]].type_name

    def route(self, logits):
        """(expert ids, gate weights) of one token's router logits [E]: the k
        largest logits (equal ones: the lower index first), then the gating."""
        cfg = self.cfg
        chosen = sorted(range(cfg.n_experts), key=lambda e: (-logits[e], e))[:cfg.n_experts_used]
        if not cfg.softmax_all_experts:
            return chosen, softmax(logits[chosen])
        weights = softmax(logits)[chosen]
        if cfg.expert_weights_norm:
            weights = weights / np.sum(weights)
        return chosen, weights

    def moe(self, p, h):
        """Mixture of SwiGLU experts: [T, d] -> [T, d], one token at a time."""
        logits = self.linear(p + "ffn_gate_inp.weight", h)    # [T, E]
        k = self.cfg.n_experts_used
        if k < self.cfg.n_experts:  # how close routing came to a tie (a discontinuity)
            top = -np.sort(-logits, axis=1)                    # [T, E] descending
            self.min_route_margin = min(self.min_route_margin, float(np.min(top[:, k - 1] - top[:, k])))
        (gate, tg), (up, tu), (down, td) = (self.experts(p, k) for k in ("gate", "up", "down"))
        out = np.zeros_like(h)                                 # [T, d]
        for t in range(len(h)):
            x = h[t]                                           # [d]
            for e, w in zip(*self.route(logits[t])):
                g = (self.f16(x) if tg == "f16" else x) @ gate[e].T   # [f_e]
                u = (self.f16(x) if tu == "f16" else x) @ up[e].T     # [f_e]
                a = g / (1.0 + np.exp(-g)) * u
                out[t] += w * ((self.f16(a) if td == "f16" else a) @ down[e].T)  # [d]
        return out


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
