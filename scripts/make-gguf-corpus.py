#!/usr/bin/env python3
"""Write the seed corpus of the GGUF fuzz target: small valid files that
cover every value type, nested arrays, several tensor types and alignments,
plus broken variants (truncated, bad magic, huge counts, ...), each a few
hundred bytes. The files are our own data, generated here; rerun to refresh:

    scripts/make-gguf-corpus.py [OUT_DIR]   (default fuzz/corpus/fuzz_format_gguf)
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
          BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}
# tensor type id -> (block size, bytes per block), as fixed by the format
TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210),
         30: (1, 2)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def array_body(elem_type, items):
    out = struct.pack("<IQ", elem_type, len(items))
    for it in items:
        if elem_type == STR:
            out += gstr(it)
        elif elem_type == ARR:
            out += array_body(*it)
        else:
            out += struct.pack(SCALAR[elem_type], it)
    return out


def value(vtype, v):
    if vtype == STR:
        return gstr(v)
    if vtype == ARR:
        return array_body(*v)
    return struct.pack(SCALAR[vtype], v)


def gguf(kvs, tensors=(), version=3, align=32, n_kv=None, n_tensors=None, pad_end=True):
    """kvs: [(key, type, value)]; tensors: [(name, type, ne)], data filled with a pattern."""
    out = b"GGUF" + struct.pack("<IQQ", version,
                                len(tensors) if n_tensors is None else n_tensors,
                                len(kvs) if n_kv is None else n_kv)
    for key, vtype, v in kvs:
        out += gstr(key) + struct.pack("<I", vtype) + value(vtype, v)
    offset, blobs = 0, []
    for name, ttype, ne in tensors:
        block, size = TYPES[ttype]
        rows = 1
        for d in ne[1:]:
            rows *= d
        nbytes = ne[0] // block * size * rows
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", ttype, offset)
        blobs.append(bytes((i * 7 + len(blobs)) & 0xFF for i in range(nbytes)))
        offset += (nbytes + align - 1) // align * align
    if tensors:
        out += b"\0" * (-len(out) % align)
        for i, blob in enumerate(blobs):
            out += blob
            if pad_end or i + 1 < len(blobs):
                out += b"\0" * (-len(blob) % align)
    return out


def all_values():
    return [
        ("general.architecture", STR, "llama"),
        ("t.u8", U8, 200), ("t.i8", I8, -100), ("t.u16", U16, 60000), ("t.i16", I16, -30000),
        ("t.u32", U32, 0xDEADBEEF), ("t.i32", I32, -123456), ("t.f32", F32, 0.25),
        ("t.bool", BOOL, 1), ("t.u64", U64, 1 << 40), ("t.i64", I64, -(1 << 40)),
        ("t.f64", F64, 3.5), ("t.str", STR, "h\u00e9llo"),
        ("tokenizer.ggml.tokens", ARR, (STR, ["<unk>", "<s>", "</s>", "a", ""])),
        ("tokenizer.ggml.scores", ARR, (F32, [0.0, -1.0, -2.0, -3.5, 1.0])),
        ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3, 1, 1])),
        ("a.bool", ARR, (BOOL, [1, 0])), ("a.u64", ARR, (U64, [1, 2])),
        ("a.nested", ARR, (ARR, [(U32, [1, 2, 3]), (STR, ["x", "yy"]),
                                 (ARR, [(F64, [0.5])]), (I8, [])])),
    ]


def seeds():
    small_tensors = [("a.weight", 0, (4, 2)), ("b.weight", 1, (8,))]
    valid = gguf(all_values(), small_tensors)
    yield "valid-all-values", valid
    yield "valid-quant-types", gguf(
        [("general.alignment", U32, 64), ("general.name", STR, "q")],
        [("q4_0", 2, (32, 2)), ("q8_0", 8, (32, 1, 2)), ("q4_k", 12, (256,)),
         ("q6_k", 14, (256,)), ("bf16", 30, (2, 1, 1, 3))], align=64)
    yield "valid-v2", gguf([("general.name", STR, "v2")], small_tensors, version=2)
    yield "valid-vocab-only", gguf(all_values()[:1] + all_values()[13:16])
    yield "valid-no-end-padding", gguf([("x", U8, 1)], small_tensors, pad_end=False)
    yield "valid-empty", gguf([])
    # broken variants
    yield "bad-truncated-header", valid[:20]
    yield "bad-truncated-kv", valid[:200]
    yield "bad-truncated-data", valid[:-20]  # cuts into the last tensor, not just padding
    yield "bad-magic", b"GGML" + valid[4:]
    yield "bad-version-1", gguf([("x", U8, 1)], version=1)
    yield "bad-version-4", gguf([("x", U8, 1)], version=4)
    yield "bad-huge-n-kv", gguf([("x", U8, 1)], n_kv=1 << 63)
    yield "bad-huge-n-tensors", gguf([("x", U8, 1)], n_tensors=1 << 63)
    yield "bad-huge-string", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("k") + \
        struct.pack("<IQ", STR, (1 << 64) - 1) + b"abc"
    yield "bad-huge-array", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gstr("k") + \
        struct.pack("<IIQ", ARR, U32, 1 << 62) + b"abcd"
    deep = (U8, [1])
    for _ in range(9):
        deep = (ARR, [deep])
    yield "bad-depth-9", gguf([("x.deep", ARR, deep)])
    yield "bad-duplicate-key", gguf([("x", U8, 1), ("x", U8, 2)])
    yield "bad-duplicate-tensor", gguf([], [("t", 0, (8,)), ("t", 0, (8,))])
    yield "bad-tensor-type", b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + gstr("t") + \
        struct.pack("<IQIQ", 1, 8, 42, 0) + b"\0" * 64
    yield "bad-alignment-3", gguf([("general.alignment", U32, 3)])
    yield "bad-dims-overflow", b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + gstr("t") + \
        struct.pack("<IQQQIQ", 3, 1 << 32, 1 << 32, 1 << 32, 0, 0) + b"\0" * 64
    yield "bad-offset", b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + gstr("t") + \
        struct.pack("<IQIQ", 1, 8, 0, 4) + b"\0" * 64
    yield "bad-split", gguf([("split.count", U16, 3)])


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "corpus", "fuzz_format_gguf")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out_dir, name + ".in"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
