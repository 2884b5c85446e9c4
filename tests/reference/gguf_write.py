"""Tiny GGUF v3 writer for the reference's own tests (synthetic models, and
the stand-in for `plexus synth` in test_reference_synthetic.py).

Metadata values are given with their GGUF type id (see gguf_read.VALUE_TYPES);
arrays as (TYPE_ARRAY, (element type id, list)). Tensors are given as raw
bytes with their GGUF shape [ne0, ne1, ...] and ggml type id.
"""
import struct

import numpy as np

from gguf_read import DEFAULT_ALIGNMENT, TYPE_ARRAY, TYPE_STRING, VALUE_TYPES

U32, F32, STRING, ARRAY = 4, 6, TYPE_STRING, TYPE_ARRAY


def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(type_id, value):
    if type_id == TYPE_STRING:
        return _string(value)
    if type_id == TYPE_ARRAY:
        elem_type, items = value
        out = struct.pack("<IQ", elem_type, len(items))
        return out + b"".join(_value(elem_type, v) for v in items)
    return struct.pack(VALUE_TYPES[type_id][1], value)


def write_gguf(path, metadata, tensors, alignment=DEFAULT_ALIGNMENT):
    """metadata: [(key, type_id, value)]; tensors: [(name, type_id, shape, bytes)]."""
    if alignment != DEFAULT_ALIGNMENT:
        metadata = list(metadata) + [("general.alignment", U32, alignment)]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, type_id, value in metadata:
        head += _string(key) + struct.pack("<I", type_id) + _value(type_id, value)
    data, offsets = b"", []
    for _, _, _, raw in tensors:
        offsets.append(len(data))
        data += bytes(raw) + bytes(-len(raw) % alignment)
    for (name, type_id, shape, _), offset in zip(tensors, offsets):
        head += _string(name) + struct.pack("<I", len(shape))
        head += struct.pack(f"<{len(shape)}Q", *shape) + struct.pack("<IQ", type_id, offset)
    head += bytes(-len(head) % alignment)
    with open(path, "wb") as f:
        f.write(head + data)


# ---- encoders from float32 values (numpy order, ne0 last) to tensor bytes ----

def encode_f32(x):
    return np.ascontiguousarray(x, dtype="<f4").tobytes()


def encode_f16(x):
    return np.ascontiguousarray(x, dtype="<f2").tobytes()


def encode_bf16(x):
    """Round to nearest even on the upper 16 bits (finite inputs)."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype("<u2").tobytes()


def encode_q8_0(x):
    """Blocks of 32: d = max|x|/127 (f16), q = round(x/d)."""
    blocks = np.asarray(x, dtype=np.float32).reshape(-1, 32)       # [nb, 32]
    d = (np.max(np.abs(blocks), axis=1) / 127).astype(np.float16)  # [nb]
    inv = np.where(d == 0, 0, 1 / np.maximum(d.astype(np.float32), 1e-30))
    q = np.clip(np.rint(blocks * inv[:, None]), -127, 127).astype(np.int8)
    return np.concatenate([d.view(np.uint8).reshape(-1, 2), q.view(np.uint8)], axis=1).tobytes()


# ggml type id -> encoder
ENCODERS = {0: encode_f32, 1: encode_f16, 30: encode_bf16, 8: encode_q8_0}
