#!/usr/bin/env python3
"""A reader of diffprune sparse-diff files (format version 1.1), written from docs/format.md alone.

Needs Python 3.8+ and numpy. Usage:

    python3 read_diff.py DIFF                      # summary
    python3 read_diff.py DIFF --json               # every tensor's positions and values, as JSON
    python3 read_diff.py DIFF --fingerprint MODEL  # also the fingerprint of a safetensors file
    python3 read_diff.py DIFF --apply BASE OUT     # OUT.npz = BASE (safetensors) + DIFF

As a library: read_diff(path) -> dict, apply_diff(base_arrays, diff) -> dict, fingerprint(path) -> str.
"""
import hashlib
import json
import struct
import sys

import numpy as np

FORMAT = "diffprune.sparse-diff"
VERSION = "1"
MAX_HEADER = 64 * 2**20
DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2), "U8": ("u1", 1), "I64": ("<i8", 8),
          "I32": ("<i4", 4), "F64": ("<f8", 8), "I8": ("i1", 1), "U16": ("<u2", 2), "I16": ("<i2", 2),
          "U32": ("<u4", 4), "U64": ("<u8", 8), "BOOL": ("u1", 1)}


class DiffFormatError(ValueError):
    pass


def read_safetensors(path):
    """Returns (metadata, {name: (dtype, shape, raw bytes)}), checking the container (spec §1)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise DiffFormatError(f"{path}: expected at least 8 bytes; found {len(data)}")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or n > len(data) - 8:
        raise DiffFormatError(f"{path}: header length {n} beyond the file or the cap")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors, ranges = {}, []
    for name, entry in header.items():
        dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        size = DTYPES[dtype][1] * int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(body) or end - begin != size:
            raise DiffFormatError(f"{path}: {name}: bad data_offsets {begin}, {end}")
        ranges.append((begin, end, name))
        tensors[name] = (dtype, [int(d) for d in shape], body[begin:end])
    if max((end for _, end, _ in ranges), default=0) != len(body):
        raise DiffFormatError(f"{path}: trailing bytes after the data")
    ranges.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise DiffFormatError(f"{path}: {n1} overlaps {n0}")
    return metadata, tensors


def to_float32(dtype, raw, count, scale=None):
    if dtype == "I8":
        return (np.frombuffer(raw, dtype="i1", count=count).astype(np.float32) * np.float32(scale)).astype(np.float32)
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2", count=count).astype(np.uint32) << 16
        return bits.view(np.float32)
    return np.frombuffer(raw, dtype=DTYPES[dtype][0], count=count).astype(np.float32)


def read_varints(stream, nnz, n):
    """varint-delta (spec §4): LEB128 deltas, d0 = p0, di = pi - p(i-1) >= 1."""
    out = np.empty(nnz, dtype=np.int64)
    pos, prev = 0, -1
    for i in range(nnz):
        value, shift = 0, 0
        while True:
            if pos >= len(stream):
                raise DiffFormatError("truncated varint stream")
            b = stream[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        p = value if i == 0 else prev + value
        if (i > 0 and value == 0) or p >= n:
            raise DiffFormatError(f"position {p} unsorted or out of range")
        out[i] = prev = p
    if pos != len(stream):
        raise DiffFormatError("trailing bytes in varint stream")
    return out


def read_elias_fano(stream, nnz, n):
    """elias-fano (spec §4): l low bits LSB-first, then the unary high part."""
    if nnz == 0:
        if len(stream):
            raise DiffFormatError("non-empty stream for nnz 0")
        return np.empty(0, dtype=np.int64)
    l = 0
    while nnz * 2 ** (l + 1) <= n:
        l += 1
    low_bytes = (nnz * l + 7) // 8
    high_bits = nnz + (n - 1) // 2**l + 1
    if len(stream) != low_bytes + (high_bits + 7) // 8:
        raise DiffFormatError("elias-fano stream of the wrong size")
    buf = np.frombuffer(stream, dtype=np.uint8)
    high = np.unpackbits(buf[low_bytes:], bitorder="little")
    ones = np.flatnonzero(high)
    if len(ones) != nnz:
        raise DiffFormatError("wrong number of set bits in the high part")
    positions = (ones - np.arange(nnz)).astype(np.int64) << l
    if l:
        bits = np.unpackbits(buf[:low_bytes], bitorder="little")[: nnz * l].reshape(nnz, l).astype(np.int64)
        positions += bits @ (1 << np.arange(l, dtype=np.int64))
    if np.any(np.diff(positions) <= 0) or positions[-1] >= n:
        raise DiffFormatError("positions unsorted or out of range")
    return positions


def check_integrity(path, metadata):
    """Spec section 7: data_sha256 (since 1.1) is the sha256 of every byte after the header."""
    expected = metadata.get("data_sha256")
    if expected is None:
        if int(metadata.get("format_minor_version", "0")) >= 1:
            raise DiffFormatError(f"{path}: format 1.{metadata['format_minor_version']} without data_sha256")
        print(f"warning: {path}: a format 1.0 diff without a data checksum", file=sys.stderr)
        return
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if hashlib.sha256(data[8 + n:]).hexdigest() != expected:
        raise DiffFormatError(f"{path}: the data does not match data_sha256 (corrupt file)")


def read_diff(path):
    metadata, stored = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise DiffFormatError(f"{path}: not a {FORMAT} file")
    if metadata.get("format_version") != VERSION:
        raise DiffFormatError(f"{path}: format_version {metadata.get('format_version')!r}, this reader knows {VERSION}")
    check_integrity(path, metadata)
    table = json.loads(metadata["tensors"])
    tensors, used = {}, set()
    for name, e in table.items():
        shape = e["shape"]
        n = int(np.prod(shape, dtype=np.int64))
        nnz = e["nnz"]
        if e["value_dtype"] not in ("F32", "F16", "BF16", "I8"):
            raise DiffFormatError(f"{name}: unknown value_dtype {e['value_dtype']}")
        scale = e.get("scale")
        if e["value_dtype"] == "I8" and not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
            raise DiffFormatError(f"{name}: I8 values need a finite positive scale; found {scale!r}")
        if e["storage"] == "sparse":
            idx_dtype, _, stream = stored[name + ".indices"]
            val_dtype, val_shape, raw = stored[name + ".values"]
            if idx_dtype != "U8" or val_dtype != e["value_dtype"] or val_shape != [nnz]:
                raise DiffFormatError(f"{name}: stored tensors disagree with the table")
            decode = {"varint-delta": read_varints, "elias-fano": read_elias_fano}.get(e["index_encoding"])
            if decode is None:
                raise DiffFormatError(f"{name}: unknown index_encoding {e['index_encoding']}")
            tensors[name] = {"kind": "sparse", "shape": shape, "indices": decode(stream, nnz, n),
                             "values": to_float32(val_dtype, raw, nnz, scale)}
            used.update([name + ".indices", name + ".values"])
        elif e["storage"] == "dense":
            dtype, s, raw = stored[name]
            if dtype != e["value_dtype"] or s != shape or nnz != n:
                raise DiffFormatError(f"{name}: stored tensor disagrees with the table")
            kind = "replace" if e["replaces_base"] else "add"
            tensors[name] = {"kind": kind, "shape": shape, "values": to_float32(dtype, raw, n, scale).reshape(shape)}
            used.add(name)
        else:
            raise DiffFormatError(f"{name}: unknown storage {e['storage']}")
    if set(stored) != used:
        raise DiffFormatError(f"{path}: unlisted tensors {sorted(set(stored) - used)}")
    return {"metadata": metadata, "table": table, "tensors": tensors}


def apply_diff(base, diff):
    """base: {name: float32 ndarray}. Returns a new dict (spec §6)."""
    out = dict(base)
    for name, t in diff["tensors"].items():
        if t["kind"] == "sparse":
            if list(base[name].shape) != t["shape"]:
                raise DiffFormatError(f"{name}: base shape {base[name].shape}, diff {t['shape']}")
            flat = base[name].astype(np.float32).reshape(-1).copy()
            flat[t["indices"]] += t["values"]
            out[name] = flat.reshape(t["shape"])
        else:
            if (t["kind"] == "replace") != (name in base):
                raise DiffFormatError(f"{name}: {t['kind']} does not fit the base")
            out[name] = t["values"].copy()
    return out


def fingerprint(path):
    """sha256 over the tensors in UTF-8 name order (spec §5)."""
    _, tensors = read_safetensors(path)
    h = hashlib.sha256()
    for name in sorted(tensors, key=lambda s: s.encode("utf-8")):
        dtype, shape, raw = tensors[name]
        for part in (name.encode("utf-8"), dtype.encode("ascii")):
            h.update(struct.pack("<Q", len(part)))
            h.update(part)
        h.update(struct.pack("<Q", len(shape)))
        for d in shape:
            h.update(struct.pack("<Q", d))
        h.update(struct.pack("<Q", len(raw)))
        h.update(raw)
    return h.hexdigest()


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    diff = read_diff(argv[0])
    if "--json" in argv or "--fingerprint" in argv:
        result = {"metadata": diff["metadata"], "tensors": {}}
        for name, t in diff["tensors"].items():
            entry = {"kind": t["kind"], "shape": t["shape"], "values": [float(v) for v in t["values"].reshape(-1)]}
            if t["kind"] == "sparse":
                entry["indices"] = [int(i) for i in t["indices"]]
            result["tensors"][name] = entry
        if "--fingerprint" in argv:
            result["fingerprint"] = fingerprint(argv[argv.index("--fingerprint") + 1])
        json.dump(result, sys.stdout)
        return 0
    if "--apply" in argv:
        base_path, out = argv[argv.index("--apply") + 1: argv.index("--apply") + 3]
        _, stored = read_safetensors(base_path)
        base = {k: to_float32(d, raw, int(np.prod(s, dtype=np.int64))).reshape(s)
                for k, (d, s, raw) in stored.items() if d in ("F32", "F16", "BF16", "F64")}
        np.savez(out, **apply_diff(base, diff))
        return 0
    m = diff["metadata"]
    nnz = sum(int(e["nnz"]) for e in diff["table"].values())
    total = sum(int(np.prod(e["shape"], dtype=np.int64)) for e in diff["table"].values())
    print(f"{argv[0]}: task {m['task']}, base {m['base_model_id']}@{m['base_model_revision']}, "
          f"{len(diff['tensors'])} tensors, {nnz} stored of {total} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
