"""Minimal GGUF v2/v3 reader for the numpy reference (no gguf package).

Layout (little endian): b"GGUF", u32 version, u64 n_tensors, u64 n_kv,
n_kv x (string key, u32 value type, value), n_tensors x (string name,
u32 n_dims, u64 ne[n_dims], u32 dtype, u64 offset), padding up to
`general.alignment` (default 32), then the data section. Strings are a u64
length followed by UTF-8 bytes. Every read is bounds-checked; a bad file
raises GgufError with a message that names the field.
"""
import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# Metadata value types: id -> (name, struct format or None).
VALUE_TYPES = {
    0: ("u8", "<B"), 1: ("i8", "<b"), 2: ("u16", "<H"), 3: ("i16", "<h"),
    4: ("u32", "<I"), 5: ("i32", "<i"), 6: ("f32", "<f"), 7: ("bool", "<?"),
    8: ("string", None), 9: ("array", None),
    10: ("u64", "<Q"), 11: ("i64", "<q"), 12: ("f64", "<d"),
}
TYPE_STRING, TYPE_ARRAY = 8, 9

# ggml tensor types: id -> (name, elements per block, bytes per block).
DTYPES = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20),
    6: ("q5_0", 32, 22), 7: ("q5_1", 32, 24), 8: ("q8_0", 32, 34),
    12: ("q4_K", 256, 144), 13: ("q5_K", 256, 176), 14: ("q6_K", 256, 210),
    30: ("bf16", 1, 2),
}


class GgufError(Exception):
    pass


class _Cursor:
    """Reads little-endian values from a byte buffer, checking every bound."""

    def __init__(self, buf, what):
        self.buf, self.pos, self.what = buf, 0, what

    def take(self, n, field):
        if n < 0 or self.pos + n > len(self.buf):
            raise GgufError(f"[gguf] {self.what}: truncated reading {field} "
                            f"(need {n} bytes at offset {self.pos}, size {len(self.buf)})")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt, field):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), field))[0]

    def string(self, field):
        n = self.scalar("<Q", field + " length")
        return bytes(self.take(n, field)).decode("utf-8", errors="replace")

    def value(self, type_id, field):
        if type_id == TYPE_STRING:
            return self.string(field)
        if type_id == TYPE_ARRAY:
            elem_type = self.scalar("<I", field + " element type")
            n = self.scalar("<Q", field + " array length")
            if elem_type not in VALUE_TYPES:
                raise GgufError(f"[gguf] {self.what}: {field}: unknown array type {elem_type}")
            fmt = VALUE_TYPES[elem_type][1]
            if fmt is not None:  # fixed-size elements: one bulk read
                size = struct.calcsize(fmt)
                raw = self.take(n * size, field)
                return np.frombuffer(raw, dtype=np.dtype(fmt)).tolist()
            return [self.value(elem_type, f"{field}[{i}]") for i in range(n)]
        if type_id not in VALUE_TYPES:
            raise GgufError(f"[gguf] {self.what}: {field}: unknown value type {type_id}")
        return self.scalar(VALUE_TYPES[type_id][1], field)


class TensorInfo:
    def __init__(self, name, shape, type_id, offset):
        self.name = name
        self.shape = shape          # GGUF order: ne[0] (contiguous) first
        self.type_id = type_id
        self.offset = offset        # relative to the data section
        type_name, block, block_bytes = DTYPES[type_id]
        self.type_name = type_name
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if shape and shape[0] % block:
            raise GgufError(f"[gguf] tensor {name}: ne0={shape[0]} not a multiple of {block}")
        self.n_elements = n
        self.n_bytes = n // block * block_bytes

    def __repr__(self):
        return f"TensorInfo({self.name}, {self.type_name}, {self.shape})"


class GgufFile:
    """A parsed GGUF file: .version, .metadata (dict, file order), .tensors
    (dict name -> TensorInfo), .alignment, .data_offset, and raw bytes."""

    def __init__(self, path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        cur = _Cursor(memoryview(self.buf), path)
        if bytes(cur.take(4, "magic")) != GGUF_MAGIC:
            raise GgufError(f"[gguf] {path}: bad magic")
        self.version = cur.scalar("<I", "version")
        if self.version not in (2, 3):
            raise GgufError(f"[gguf] {path}: unsupported version {self.version}")
        n_tensors = cur.scalar("<Q", "tensor count")
        n_kv = cur.scalar("<Q", "metadata count")
        self.metadata = {}
        self.metadata_types = {}
        for i in range(n_kv):
            key = cur.string(f"key #{i}")
            type_id = cur.scalar("<I", f"type of {key}")
            self.metadata[key] = cur.value(type_id, key)
            self.metadata_types[key] = type_id
        self.tensors = {}
        for i in range(n_tensors):
            name = cur.string(f"tensor name #{i}")
            n_dims = cur.scalar("<I", f"{name} n_dims")
            if n_dims > 4:
                raise GgufError(f"[gguf] {path}: tensor {name}: {n_dims} dims")
            shape = [cur.scalar("<Q", f"{name} ne[{d}]") for d in range(n_dims)]
            type_id = cur.scalar("<I", f"{name} type")
            if type_id not in DTYPES:
                raise GgufError(f"[gguf] {path}: tensor {name}: unsupported type {type_id}")
            offset = cur.scalar("<Q", f"{name} offset")
            self.tensors[name] = TensorInfo(name, shape, type_id, offset)
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise GgufError(f"[gguf] {path}: bad alignment {self.alignment}")
        self.data_offset = -(-cur.pos // self.alignment) * self.alignment
        for t in self.tensors.values():
            end = self.data_offset + t.offset + t.n_bytes
            if t.offset % self.alignment or end > len(self.buf):
                raise GgufError(f"[gguf] {path}: tensor {t.name} data out of bounds")

    def get(self, key, default=None):
        return self.metadata.get(key, default)

    def raw(self, name):
        """The tensor's bytes as a uint8 array (a view of the mapped file)."""
        t = self.tensors[name]
        start = self.data_offset + t.offset
        return self.buf[start:start + t.n_bytes]
