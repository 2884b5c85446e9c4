"""Vectorized numpy dequantization of ggml's weight types, byte for byte.

Each function takes the raw bytes of whole blocks (uint8 [n_bytes]) and
returns float32 [n_blocks * block_size] in element order. The arithmetic is
float32 in the order ggml's scalar code uses, so results match bit for bit.
"""
import numpy as np

QK = 32     # elements per block of the legacy types
QKK = 256   # elements per super-block of the K types


def _blocks(raw, block_bytes):
    raw = np.asarray(raw, dtype=np.uint8)
    if raw.size % block_bytes:
        raise ValueError(f"[dequant] {raw.size} bytes is not a whole number of "
                         f"{block_bytes}-byte blocks")
    return raw.reshape(-1, block_bytes)  # [n_blocks, block_bytes]


def _f16(cols):
    """f16 bytes [nb, 2] -> float32 [nb, 1]."""
    return np.ascontiguousarray(cols).view(np.float16).astype(np.float32)


def _nibbles(qs):
    """qs [nb, 16] -> [nb, 32]: low nibbles are elements 0..15, high 16..31."""
    return np.concatenate([qs & 0xF, qs >> 4], axis=1)


def _bits32(qh):
    """qh [nb, 4] (LE u32) -> [nb, 32] with bit i at column i."""
    qh32 = np.ascontiguousarray(qh).view("<u4")  # [nb, 1]
    return ((qh32 >> np.arange(32, dtype=np.uint32)) & 1).astype(np.uint8)


def f32(raw):
    return np.asarray(raw, dtype=np.uint8).view("<f4").astype(np.float32)


def f16(raw):
    return np.asarray(raw, dtype=np.uint8).view("<f2").astype(np.float32)


def bf16(raw):
    bits = np.asarray(raw, dtype=np.uint8).view("<u2").astype(np.uint32)
    return (bits << 16).view(np.float32)


def q4_0(raw):
    b = _blocks(raw, 18)
    d = _f16(b[:, 0:2])                                     # [nb, 1]
    q = _nibbles(b[:, 2:18]).astype(np.int32) - 8           # [nb, 32]
    return (q * d).astype(np.float32).ravel()


def q4_1(raw):
    b = _blocks(raw, 20)
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])                 # [nb, 1]
    q = _nibbles(b[:, 4:20]).astype(np.float32)             # [nb, 32]
    return (q * d + m).astype(np.float32).ravel()


def q5_0(raw):
    b = _blocks(raw, 22)
    d = _f16(b[:, 0:2])
    q = (_nibbles(b[:, 6:22]) | (_bits32(b[:, 2:6]) << 4)).astype(np.int32) - 16
    return (q * d).astype(np.float32).ravel()


def q5_1(raw):
    b = _blocks(raw, 24)
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    q = (_nibbles(b[:, 8:24]) | (_bits32(b[:, 4:8]) << 4)).astype(np.float32)
    return (q * d + m).astype(np.float32).ravel()


def q8_0(raw):
    b = _blocks(raw, 34)
    d = _f16(b[:, 0:2])
    q = b[:, 2:34].view(np.int8).astype(np.float32)         # [nb, 32]
    return (q * d).astype(np.float32).ravel()


def k_scales_mins(scales):
    """The 12 packed bytes [nb, 12] -> 6-bit (scale, min) [nb, 8] each."""
    s = scales.astype(np.int32)
    sc = np.empty((s.shape[0], 8), np.int32)
    mn = np.empty((s.shape[0], 8), np.int32)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def _k_apply(b, q):
    """y = d*sc*q - dmin*m per 32-element sub-block; q is [nb, 8, 32]."""
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])              # [nb, 1]
    sc, mn = k_scales_mins(b[:, 4:16])                      # [nb, 8]
    d1 = (d * sc.astype(np.float32))[:, :, None]            # [nb, 8, 1]
    m1 = (dmin * mn.astype(np.float32))[:, :, None]
    return (d1 * q.astype(np.float32) - m1).astype(np.float32).ravel()


def _k_nibbles(qs):
    """qs [nb, 128] -> [nb, 8, 32]: 32-byte chunk c gives sub-blocks 2c (low
    nibbles) and 2c+1 (high nibbles)."""
    chunks = qs.reshape(-1, 4, 32)                          # [nb, 4, 32]
    return np.stack([chunks & 0xF, chunks >> 4], axis=2).reshape(-1, 8, 32)


def q4_k(raw):
    b = _blocks(raw, 144)
    return _k_apply(b, _k_nibbles(b[:, 16:144]))


def q5_k(raw):
    b = _blocks(raw, 176)
    qh = b[:, 16:48]                                        # [nb, 32]
    # Sub-block s takes its 5th bit from bit s of qh[l].
    high = (qh[:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1  # [nb, 8, 32]
    q = _k_nibbles(b[:, 48:176]) | (high << 4)
    return _k_apply(b, q)


def q6_k(raw):
    b = _blocks(raw, 210)
    ql = b[:, 0:128].reshape(-1, 2, 2, 32)                  # [nb, half, a, 32]
    qh = b[:, 128:192].reshape(-1, 2, 32)                   # [nb, half, 32]
    sc = b[:, 192:208].view(np.int8).astype(np.float32)     # [nb, 16]
    d = _f16(b[:, 208:210])                                 # [nb, 1]
    # Within a half, output quarter k = 2*nibble + a: (ql[l]&F, ql[l+32]&F,
    # ql[l]>>4, ql[l+32]>>4), with 2 high bits from qh[l] >> 2k.
    low = np.stack([ql & 0xF, ql >> 4], axis=2).reshape(-1, 2, 4, 32)
    high = (qh[:, :, None, :] >> (2 * np.arange(4, dtype=np.uint8))[None, None, :, None]) & 3
    q = ((low | (high << 4)).astype(np.int32) - 32).reshape(-1, 16, 16)  # [nb, 16, 16]
    # Each run of 16 elements has its own scale, in order.
    return ((d * sc)[:, :, None] * q.astype(np.float32)).astype(np.float32).ravel()


# ggml type id -> dequantizer.
DEQUANT = {
    0: f32, 1: f16, 30: bf16, 2: q4_0, 3: q4_1, 6: q5_0, 7: q5_1, 8: q8_0,
    12: q4_k, 13: q5_k, 14: q6_k,
}


def load_tensor(gguf, name):
    """Tensor `name` of a GgufFile as float32 in numpy order: the GGUF shape
    [ne0, ne1, ...] reversed, so a weight [ne0=in, ne1=out] is [out, in]."""
    t = gguf.tensors[name]
    flat = DEQUANT[t.type_id](gguf.raw(name))               # [n_elements]
    return flat.reshape(list(reversed(t.shape)))
