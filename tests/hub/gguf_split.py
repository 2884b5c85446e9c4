"""Splits a GGUF file the way gguf-split lays out its parts, for the pull tests.

Part i of n (file PREFIX-0000i-of-0000n.gguf) is a complete GGUF v3 file:
the first holds every metadata key of the source, the others none, and each
adds split.no (u16, 0-based), split.count (u16) and split.tensors.count (i32,
tensors of the whole model); the tensors are dealt out in order, each part
with its own data section. Metadata values are copied as raw bytes, so no
type is lost.
"""
import struct

U16, I32, U32 = 2, 5, 4
FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9
# ggml type id -> (elements per block, bytes per block)
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
          12: (256, 144), 13: (256, 176), 14: (256, 210), 30: (1, 2)}


class _Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError(f"truncated GGUF at offset {self.pos}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def u32(self):
        return struct.unpack("<I", self.take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self.take(8))[0]

    def string(self):
        return self.take(self.u64()).decode("utf-8")

    def skip_value(self, type_id):
        if type_id == STRING:
            self.take(self.u64())
        elif type_id == ARRAY:
            elem, n = self.u32(), self.u64()
            if elem in FIXED:
                self.take(FIXED[elem] * n)
            else:
                for _ in range(n):
                    self.skip_value(elem)
        else:
            self.take(FIXED[type_id])


def _kv(key, type_id, fmt, value):
    k = key.encode()
    return struct.pack("<Q", len(k)) + k + struct.pack("<I", type_id) + struct.pack(fmt, value)


def read_gguf(path):
    """(raw metadata entries, tensors [(name, dims, type, bytes)], alignment)."""
    buf = open(path, "rb").read()
    r = _Reader(buf)
    if r.take(4) != b"GGUF":
        raise ValueError(f"{path}: not GGUF")
    r.u32()
    n_tensors, n_kv = r.u64(), r.u64()
    kvs, alignment = [], 32
    for _ in range(n_kv):
        start = r.pos
        key = r.string()
        type_id = r.u32()
        value_at = r.pos
        r.skip_value(type_id)
        if key == "general.alignment":
            alignment = struct.unpack("<I", buf[value_at:value_at + 4])[0]
        kvs.append((key, buf[start:r.pos]))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.u64() for _ in range(r.u32())]
        type_id, offset = r.u32(), r.u64()
        infos.append((name, dims, type_id, offset))
    data_at = -(-r.pos // alignment) * alignment
    tensors = []
    for name, dims, type_id, offset in infos:
        n = 1
        for d in dims:
            n *= d
        block, block_bytes = BLOCKS[type_id]
        size = n // block * block_bytes
        tensors.append((name, dims, type_id, buf[data_at + offset:data_at + offset + size]))
    return kvs, tensors, alignment


def write_part(path, raw_kvs, extra_kvs, tensors, alignment):
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(raw_kvs) + len(extra_kvs))
    head += b"".join(raw for _, raw in raw_kvs) + b"".join(extra_kvs)
    data, offsets = b"", []
    for _, _, _, raw in tensors:
        offsets.append(len(data))
        data += raw + bytes(-len(raw) % alignment)
    for (name, dims, type_id, _), offset in zip(tensors, offsets):
        n = name.encode()
        head += struct.pack("<Q", len(n)) + n + struct.pack("<I", len(dims))
        head += struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", type_id, offset)
    head += bytes(-len(head) % alignment)
    with open(path, "wb") as f:
        f.write(head + data)


def split_gguf(src, out_dir, prefix, count):
    """Writes out_dir/PREFIX-0000i-of-0000n.gguf for i in 1..count; returns their names."""
    kvs, tensors, alignment = read_gguf(src)
    kept = [(k, raw) for k, raw in kvs if not k.startswith("split.")]
    align_kv = [(k, raw) for k, raw in kept if k == "general.alignment"]
    per = -(-len(tensors) // count)
    names = []
    for i in range(count):
        name = f"{prefix}-{i + 1:05d}-of-{count:05d}.gguf"
        extra = [_kv("split.no", U16, "<H", i), _kv("split.count", U16, "<H", count),
                 _kv("split.tensors.count", I32, "<i", len(tensors))]
        write_part(f"{out_dir}/{name}", kept if i == 0 else align_kv, extra,
                   tensors[i * per:(i + 1) * per], alignment)
        names.append(name)
    return names
