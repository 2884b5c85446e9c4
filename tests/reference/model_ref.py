"""Float64 numpy reference forward for the `llama` (and Mixtral: llama with
experts), `qwen2`, `qwen3`, `qwen3moe` and `deepseek2` GGUF architectures:
the oracle plexus's logits are compared against. deepseek2's multi-head
latent attention is computed here the plain way (full per-head K and V from
kv_b), which checks plexus's compressed-cache (absorbed) form.

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

ARCHS = ("llama", "qwen2", "qwen3", "qwen3moe", "deepseek2")
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
        self.attn_scale = 1.0 / np.sqrt(self.head_dim)
        self.yarn = None
        if arch == "deepseek2":
            self.read_deepseek2(key)
        elif self.n_heads % self.n_kv_heads:
            raise ValueError("[reference] head_count not a multiple of head_count_kv")

    def read_deepseek2(self, key):
        """MLA dims, shared experts, leading dense layers, routing, YaRN."""
        self.q_lora = int(key("attention.q_lora_rank", 0))
        self.kv_lora = int(key("attention.kv_lora_rank"))
        self.n_rot = int(key("rope.dimension_count"))
        if key("attention.key_length_mla", 0):  # files with split attn_k_b / attn_v_b
            self.head_dim = int(key("attention.key_length_mla"))
            self.v_dim = int(key("attention.value_length_mla"))
        else:
            self.v_dim = int(key("attention.value_length"))
        self.nope = self.head_dim - self.n_rot
        self.n_shared = int(key("expert_shared_count", 0))
        self.n_dense = int(key("leading_dense_block_count", 0))
        self.weights_scale = float(key("expert_weights_scale", 1.0))
        self.expert_weights_norm = bool(key("expert_weights_norm", False))
        self.sigmoid = int(key("expert_gating_func", 1)) == 2
        self.n_groups = int(key("expert_group_count", 1))
        self.n_groups_used = int(key("expert_group_used_count", self.n_groups))
        self.attn_scale = 1.0 / np.sqrt(self.head_dim)
        if key("rope.scaling.type", "none") == "yarn":
            factor = float(key("rope.scaling.factor"))
            self.yarn = (factor, int(key("rope.scaling.original_context_length")))
            mscale = 1.0 + float(key("rope.scaling.yarn_log_multiplier", 0.0)) * np.log(factor)
            self.attn_scale *= mscale * mscale


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
            mla = cfg.arch == "deepseek2"
            x = x + (self.mla_attention(p, h, rope) if mla else self.attention(p, h, rope))
            h = rms_norm(x, self.w(p + "ffn_norm.weight"), cfg.eps)
            moe = cfg.n_experts and layer >= getattr(cfg, "n_dense", 0)
            x = x + (self.moe(p, h) if moe else self.swiglu(p, h))
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

    def mla_attention(self, p, h, rope):
        """deepseek2's multi-head latent attention, with K and V of every head
        expanded from the latent: [T, d] -> [T, d]."""
        cfg = self.cfg
        T, H = len(h), cfg.n_heads
        if cfg.q_lora:
            qa = rms_norm(self.linear(p + "attn_q_a.weight", h), self.w(p + "attn_q_a_norm.weight"), cfg.eps)
            q = self.linear(p + "attn_q_b.weight", qa)         # [T, H*dh]
        else:
            q = self.linear(p + "attn_q.weight", h)
        q = q.reshape(T, H, cfg.head_dim)
        q[..., cfg.nope:] = apply_rope(q[..., cfg.nope:], rope, cfg)
        kv = self.linear(p + "attn_kv_a_mqa.weight", h)       # [T, kv_lora + rope]
        c = rms_norm(kv[:, :cfg.kv_lora], self.w(p + "attn_kv_a_norm.weight"), cfg.eps)  # [T, kv_lora]
        k_pe = apply_rope(kv[:, None, cfg.kv_lora:], rope, cfg)  # [T, 1, rope]: one head for all
        if p + "attn_k_b.weight" in self.gguf.tensors:
            k_nope = np.einsum("hln,tl->thn", self.w(p + "attn_k_b.weight"), c)  # k_b: [H, kv_lora, nope]
            v = np.einsum("hvl,tl->thv", self.w(p + "attn_v_b.weight"), c)       # v_b: [H, v, kv_lora]
        else:
            kvb = self.linear(p + "attn_kv_b.weight", c).reshape(T, H, cfg.nope + cfg.v_dim)
            k_nope, v = kvb[..., :cfg.nope], kvb[..., cfg.nope:]
        k = np.concatenate([k_nope, np.repeat(k_pe, H, axis=1)], axis=-1)  # [T, H, dh]
        scores = np.einsum("thd,shd->hts", q, k) * cfg.attn_scale    # [H, T, T]
        future = np.triu(np.ones((T, T), bool), k=1)
        probs = softmax(np.where(future, -np.inf, scores))
        heads = np.einsum("hts,shd->thd", probs, v)            # [T, H, v]
        return self.linear(p + "attn_output.weight", heads.reshape(T, -1))

    def swiglu(self, p, h, suffix=".weight"):
        """down(silu(gate h) * up h): [T, d] -> [T, d]."""
        g = self.linear(p + "ffn_gate" + suffix, h)            # [T, ff]
        u = self.linear(p + "ffn_up" + suffix, h)              # [T, ff]
        return self.linear(p + "ffn_down" + suffix, g / (1.0 + np.exp(-g)) * u)

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

    def route_deepseek(self, logits, bias):
        """deepseek2: scores = sigmoid (or softmax) of the logits; choose on
        scores + bias among the experts of the best groups (a group's rank:
        the sum of its two best, or for softmax its best); weights = the
        chosen unbiased scores, normalised if asked, times the scale. Records
        how near each choice came to a tie, in logit units: a score gap over
        the score's slope there (sigmoid' = s (1 - s); softmax: at most 1/4)."""
        cfg = self.cfg
        E, G = cfg.n_experts, cfg.n_groups
        size = E // G
        scores = 1.0 / (1.0 + np.exp(-logits)) if cfg.sigmoid else softmax(logits)
        slope = scores * (1 - scores) if cfg.sigmoid else np.full(E, 0.25)
        sel = scores + (bias if bias is not None else 0.0)
        best = [sorted(range(g * size, (g + 1) * size), key=lambda e: (-sel[e], e))[:2 if cfg.sigmoid else 1]
                for g in range(G)]                              # each group's ranking experts
        gscore = np.array([sum(sel[e] for e in b) for b in best])
        groups = sorted(range(G), key=lambda g: (-gscore[g], g))
        kept = groups[:cfg.n_groups_used]
        if cfg.n_groups_used < G:
            a, b = groups[cfg.n_groups_used - 1], groups[cfg.n_groups_used]
            gslope = max(sum(slope[e] for e in best[a]), sum(slope[e] for e in best[b]))
            self.min_route_margin = min(self.min_route_margin, float(gscore[a] - gscore[b]) / gslope)
        allowed = [e for e in range(E) if e // size in kept]
        chosen = sorted(allowed, key=lambda e: (-sel[e], e))
        if len(chosen) > cfg.n_experts_used:
            a, b = chosen[cfg.n_experts_used - 1], chosen[cfg.n_experts_used]
            self.min_route_margin = min(self.min_route_margin, float(sel[a] - sel[b]) / max(slope[a], slope[b]))
        chosen = chosen[:cfg.n_experts_used]
        weights = scores[chosen]
        if cfg.expert_weights_norm:
            weights = weights / np.sum(weights)
        return chosen, weights * cfg.weights_scale

    def moe(self, p, h):
        """Mixture of SwiGLU experts: [T, d] -> [T, d], one token at a time."""
        logits = self.linear(p + "ffn_gate_inp.weight", h)    # [T, E]
        k = self.cfg.n_experts_used
        deepseek = self.cfg.arch == "deepseek2"
        bias = self.w(p + "exp_probs_b.bias")
        if k < self.cfg.n_experts and not deepseek:  # how close routing came to a tie (a discontinuity)
            top = -np.sort(-logits, axis=1)                    # [T, E] descending
            self.min_route_margin = min(self.min_route_margin, float(np.min(top[:, k - 1] - top[:, k])))
        (gate, tg), (up, tu), (down, td) = (self.experts(p, k) for k in ("gate", "up", "down"))
        out = np.zeros_like(h)                                 # [T, d]
        for t in range(len(h)):
            x = h[t]                                           # [d]
            route = self.route_deepseek(logits[t], bias) if deepseek else self.route(logits[t])
            for e, w in zip(*route):
                g = (self.f16(x) if tg == "f16" else x) @ gate[e].T   # [f_e]
                u = (self.f16(x) if tu == "f16" else x) @ up[e].T     # [f_e]
                a = g / (1.0 + np.exp(-g)) * u
                out[t] += w * ((self.f16(a) if td == "f16" else a) @ down[e].T)  # [d]
        if deepseek and self.cfg.n_shared:
            out += self.swiglu(p, h, "_shexp.weight")          # shared experts: every token
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
    if cfg.yarn is not None:  # DeepSeek's yarn: ramp between interpolated and original
        factor, orig = cfg.yarn

        def dim(rotations):  # the dim that turns `rotations` times over the original context
            return cfg.n_rot * np.log(orig / (rotations * 2 * np.pi)) / (2 * np.log(cfg.rope_base))
        low, high = max(np.floor(dim(32)), 0), min(np.ceil(dim(1)), cfg.n_rot - 1)
        ramp = np.clip((i - low) / max(high - low, 0.001), 0, 1)  # 0: original, 1: interpolated
        freq = freq / factor * ramp + freq * (1 - ramp)
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
