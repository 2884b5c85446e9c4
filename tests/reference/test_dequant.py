#!/usr/bin/python3
"""Self-tests of dequant.py: hand-made blocks with values worked out by hand,
and random blocks against a scalar twin written straight from ggml's block
formulas (one element at a time, in float32)."""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dequant  # noqa: E402

F = np.float32


def h(x):
    """float -> f16 bytes."""
    return np.float16(x).tobytes()


def hv(b):
    return F(np.frombuffer(bytes(b), np.float16)[0])


# ---- scalar twins, one block at a time (bytes -> list of float32) ----

def ref_q4_0(b):
    d, qs = hv(b[0:2]), b[2:18]
    y = [F(0)] * 32
    for j in range(16):
        y[j] = F((qs[j] & 0xF) - 8) * d
        y[j + 16] = F((qs[j] >> 4) - 8) * d
    return y


def ref_q4_1(b):
    d, m, qs = hv(b[0:2]), hv(b[2:4]), b[4:20]
    y = [F(0)] * 32
    for j in range(16):
        y[j] = F(qs[j] & 0xF) * d + m
        y[j + 16] = F(qs[j] >> 4) * d + m
    return y


def ref_q5(b, has_min):
    d = hv(b[0:2])
    m = hv(b[2:4]) if has_min else F(0)
    o = 4 if has_min else 2
    qh32 = struct.unpack("<I", bytes(b[o:o + 4]))[0]
    qs = b[o + 4:o + 20]
    off = 0 if has_min else 16
    y = [F(0)] * 32
    for j in range(16):
        xh0 = ((qh32 >> j) << 4) & 0x10
        xh1 = (qh32 >> (j + 12)) & 0x10
        y[j] = F(((qs[j] & 0xF) | xh0) - off) * d + m
        y[j + 16] = F(((qs[j] >> 4) | xh1) - off) * d + m
    return y


def ref_q8_0(b):
    d = hv(b[0:2])
    return [F(v) * d for v in np.frombuffer(bytes(b[2:34]), np.int8)]


def get_scale_min(k, s):
    if k < 4:
        return s[k] & 63, s[k + 4] & 63
    return (s[k + 4] & 0xF) | ((s[k - 4] >> 6) << 4), (s[k + 4] >> 4) | ((s[k] >> 6) << 4)


def ref_k(b, five_bit):
    d, dmin, s = hv(b[0:2]), hv(b[2:4]), b[4:16]
    qh = b[16:48] if five_bit else None
    ql = b[48:176] if five_bit else b[16:144]
    y, q, is_, u1, u2 = [], 0, 0, 1, 2
    for _ in range(0, 256, 64):
        sc1, m1 = get_scale_min(is_, s)
        sc2, m2 = get_scale_min(is_ + 1, s)
        d1, mm1, d2, mm2 = d * F(sc1), dmin * F(m1), d * F(sc2), dmin * F(m2)
        for l in range(32):
            hi = (16 if qh[l] & u1 else 0) if five_bit else 0
            y.append(d1 * F((ql[q + l] & 0xF) + hi) - mm1)
        for l in range(32):
            hi = (16 if qh[l] & u2 else 0) if five_bit else 0
            y.append(d2 * F((ql[q + l] >> 4) + hi) - mm2)
        q, is_, u1, u2 = q + 32, is_ + 2, u1 << 2, u2 << 2
    return y


def ref_q6_k(b):
    ql, qh = b[0:128], b[128:192]
    sc = np.frombuffer(bytes(b[192:208]), np.int8)
    d = hv(b[208:210])
    y = [F(0)] * 256
    for half in range(2):
        yo, qlo, qho, so = 128 * half, 64 * half, 32 * half, 8 * half
        for l in range(32):
            is_ = l // 16
            q1 = ((ql[qlo + l] & 0xF) | (((qh[qho + l] >> 0) & 3) << 4)) - 32
            q2 = ((ql[qlo + l + 32] & 0xF) | (((qh[qho + l] >> 2) & 3) << 4)) - 32
            q3 = ((ql[qlo + l] >> 4) | (((qh[qho + l] >> 4) & 3) << 4)) - 32
            q4 = ((ql[qlo + l + 32] >> 4) | (((qh[qho + l] >> 6) & 3) << 4)) - 32
            for k, qv in enumerate((q1, q2, q3, q4)):
                y[yo + l + 32 * k] = d * F(sc[so + is_ + 2 * k]) * F(qv)
    return y


CASES = [  # (name, vectorized, scalar twin, block bytes, offsets of f16 fields)
    ("q4_0", dequant.q4_0, ref_q4_0, 18, [0]),
    ("q4_1", dequant.q4_1, ref_q4_1, 20, [0, 2]),
    ("q5_0", dequant.q5_0, lambda b: ref_q5(b, False), 22, [0]),
    ("q5_1", dequant.q5_1, lambda b: ref_q5(b, True), 24, [0, 2]),
    ("q8_0", dequant.q8_0, ref_q8_0, 34, [0]),
    ("q4_K", dequant.q4_k, lambda b: ref_k(b, False), 144, [0, 2]),
    ("q5_K", dequant.q5_k, lambda b: ref_k(b, True), 176, [0, 2]),
    ("q6_K", dequant.q6_k, ref_q6_k, 210, [208]),
]


def random_blocks(rng, block_bytes, f16_offsets, n_blocks):
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for o in f16_offsets:  # finite scales
        raw[:, o:o + 2] = np.frombuffer(
            rng.uniform(-2, 2, n_blocks).astype(np.float16).tobytes(), np.uint8).reshape(-1, 2)
    return raw


def check_random(failures):
    rng = np.random.default_rng(1234)
    for name, fast, slow, block_bytes, f16_offsets in CASES:
        raw = random_blocks(rng, block_bytes, f16_offsets, 5)
        assert len(np.unique(raw[:, -8:])) > 8, "inputs are not random"
        got = fast(raw.ravel())                             # [5 * block_size]
        want = np.array([v for blk in raw for v in slow(list(blk))], np.float32)
        if got.shape != want.shape or not np.array_equal(got, want):
            bad = np.flatnonzero(got != want)[:5] if got.shape == want.shape else "shape"
            failures.append(f"{name}: random blocks differ from scalar twin at {bad}")
        else:
            print(f"ok   {name}: {got.size} random elements match the scalar twin")


def expect(failures, name, got, want):
    want = np.asarray(want, np.float32)
    if not np.array_equal(got, want):
        failures.append(f"{name}: got {got[:8]}... want {want[:8]}...")
    else:
        print(f"ok   {name}")


def check_hand_made(failures):
    # Q4_0: d=0.5, qs[j] = j | (15-j)<<4 -> x[j]=(j-8)/2, x[j+16]=(7-j)/2.
    qs = bytes(j | ((15 - j) << 4) for j in range(16))
    want = [(j - 8) * 0.5 for j in range(16)] + [(7 - j) * 0.5 for j in range(16)]
    expect(failures, "q4_0 hand-made", dequant.q4_0(np.frombuffer(h(0.5) + qs, np.uint8)), want)
    # Q4_1: d=2, m=-1 on the same nibbles.
    want = [j * 2 - 1 for j in range(16)] + [(15 - j) * 2 - 1 for j in range(16)]
    expect(failures, "q4_1 hand-made",
           dequant.q4_1(np.frombuffer(h(2) + h(-1) + qs, np.uint8)), want)
    # Q5_0: all nibbles 0, qh with bits 0 and 31 set -> x[0]=0, x[31]=0, rest -16 (d=1).
    qh = struct.pack("<I", (1 << 0) | (1 << 31))
    want = [-16.0] * 32
    want[0] = want[31] = 0.0
    expect(failures, "q5_0 hand-made",
           dequant.q5_0(np.frombuffer(h(1) + qh + bytes(16), np.uint8)), want)
    # Q5_1: nibbles 15, bit 17 set -> x[17]=31*d+m, rest 15*d+m (d=1, m=0.5).
    qh = struct.pack("<I", 1 << 17)
    want = [15.5] * 32
    want[17] = 31.5
    expect(failures, "q5_1 hand-made",
           dequant.q5_1(np.frombuffer(h(1) + h(0.5) + qh + bytes([0xFF] * 16), np.uint8)), want)
    # Q8_0: d=0.25, qs = -16..15.
    qs = np.arange(-16, 16, dtype=np.int8).tobytes()
    expect(failures, "q8_0 hand-made", dequant.q8_0(np.frombuffer(h(0.25) + qs, np.uint8)),
           [v * 0.25 for v in range(-16, 16)])
    # Q4_K: scales give sub-block s scale s+1 and min s; all nibbles 1; d=1, dmin=0.5.
    # Packed: bytes 0..3 = sc 1..4, 4..7 = m 0..3, 8..11 = (sc 5..8 low) | (m 4..7 low)<<4,
    # high 2 bits of sc/m 4..7 are 0.
    scales = bytes([1, 2, 3, 4, 0, 1, 2, 3] + [(s + 1) | (s << 4) for s in range(4, 8)])
    want = np.repeat([(s + 1) * 1 - 0.5 * s for s in range(8)], 32)
    raw = h(1) + h(0.5) + scales + bytes([0x11] * 128)
    expect(failures, "q4_K hand-made", dequant.q4_k(np.frombuffer(raw, np.uint8)), want)
    # Q4_K with a 6-bit scale > 15 in sub-block 4: sc = 0x3 | (2 << 4) = 35.
    scales2 = bytearray(12)
    scales2[8], scales2[0] = 0x03, 2 << 6
    got = dequant.q4_k(np.frombuffer(h(1) + h(0) + bytes(scales2) + bytes([0x11] * 128), np.uint8))
    want = np.zeros(256)
    want[128:160] = 35.0
    want[0:32] = 0x80 & 63  # sub-block 0 scale = 0x80 & 63 = 0
    expect(failures, "q4_K hand-made (6-bit scale)", got, want)
    # Q5_K: same scales, nibbles 0, qh = 0xFF -> every element's 5th bit set (q=16).
    raw = h(1) + h(0.5) + scales + bytes([0xFF] * 32) + bytes(128)
    want = np.repeat([(s + 1) * 16 - 0.5 * s for s in range(8)], 32)
    expect(failures, "q5_K hand-made", dequant.q5_k(np.frombuffer(raw, np.uint8)), want)
    # Q6_K: ql=0, qh=0 -> q=-32 everywhere; scales 1..16, d=0.5 -> run r = -16*(r+1).
    raw = bytes(128) + bytes(64) + np.arange(1, 17, dtype=np.int8).tobytes() + h(0.5)
    want = np.repeat([-16.0 * (r + 1) for r in range(16)], 16)
    expect(failures, "q6_K hand-made", dequant.q6_k(np.frombuffer(raw, np.uint8)), want)
    # Plain floats.
    vals = np.array([1.5, -2.25, 65504.0, 0.0], np.float32)
    expect(failures, "f32", dequant.f32(np.frombuffer(vals.tobytes(), np.uint8)), vals)
    expect(failures, "f16", dequant.f16(np.frombuffer(vals.astype(np.float16).tobytes(), np.uint8)), vals)
    bf = (vals.view(np.uint32) >> 16).astype(np.uint16)  # these values are exact in bf16 but 65504
    expect(failures, "bf16", dequant.bf16(np.frombuffer(bf.tobytes(), np.uint8)),
           (bf.astype(np.uint32) << 16).view(np.float32))
    expect(failures, "bf16 1.5", dequant.bf16(np.frombuffer(bytes([0xC0, 0x3F]), np.uint8)), [1.5])


def main():
    failures = []
    check_hand_made(failures)
    check_random(failures)
    for f in failures:
        print("FAIL", f)
    print("dequant self-test:", "FAILED" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
