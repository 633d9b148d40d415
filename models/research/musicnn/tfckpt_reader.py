#!/usr/bin/env python3
"""Minimal TensorFlow checkpoint (TensorBundle V2) reader -- no tensorflow needed.

Format (tensorflow/core/util/tensor_bundle):
  <prefix>.index : LevelDB-style SSTable. Key "" -> BundleHeaderProto,
                   every other key (variable name) -> BundleEntryProto.
  <prefix>.data-00000-of-00001 : raw little-endian tensor bytes; an entry's
                   (shard_id, offset, size) point into it; crc32c is masked.

Only numpy + the standard library. Supports uncompressed tables (what TF writes),
single or multiple data shards, numeric dtypes. Verifies block and tensor CRCs.

Usage:  python tfckpt_reader.py /path/to/ckpt_prefix  [--npz out.npz] [--all]
        (prefix "…/MTT_musicnn/" works because musicnn's files are named ".index")
"""
import struct
import sys

import numpy as np

# ---------------------------------------------------------------- crc32c ----
_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc_mask(c):
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# -------------------------------------------------------------- varints ----
def varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


# ------------------------------------------------------- protobuf (wire) ----
def pb_fields(buf):
    """Yield (field_number, wire_type, value) for a serialized message."""
    pos, n = 0, len(buf)
    while pos < n:
        key, pos = varint(buf, pos)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = varint(buf, pos)
        elif wt == 1:
            v = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wt == 2:
            ln, pos = varint(buf, pos)
            v = bytes(buf[pos:pos + ln])
            pos += ln
        elif wt == 5:
            v = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield fn, wt, v


DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16,
          6: np.int8, 9: np.int64, 10: np.bool_, 14: np.uint16, 17: np.uint16,
          19: np.float16, 22: np.uint32, 23: np.uint64}
DTYPE_NAMES = {1: "float32", 2: "float64", 3: "int32", 7: "string", 9: "int64",
               10: "bool", 14: "bfloat16", 19: "float16"}


def parse_shape(buf):
    dims = []
    for fn, _, v in pb_fields(buf):
        if fn == 2:  # Dim
            size = 0
            for f2, _, v2 in pb_fields(v):
                if f2 == 1:
                    size = v2 if v2 < (1 << 63) else v2 - (1 << 64)
            dims.append(size)
    return tuple(dims)


def parse_entry(buf):
    e = {"dtype": 0, "shape": (), "shard_id": 0, "offset": 0, "size": 0,
         "crc32c": None, "slices": 0}
    for fn, _, v in pb_fields(buf):
        if fn == 1:
            e["dtype"] = v
        elif fn == 2:
            e["shape"] = parse_shape(v)
        elif fn == 3:
            e["shard_id"] = v
        elif fn == 4:
            e["offset"] = v
        elif fn == 5:
            e["size"] = v
        elif fn == 6:
            e["crc32c"] = v
        elif fn == 7:
            e["slices"] += 1
    return e


def parse_header(buf):
    h = {"num_shards": 1, "endianness": 0}
    for fn, _, v in pb_fields(buf):
        if fn == 1:
            h["num_shards"] = v
        elif fn == 2:
            h["endianness"] = v  # 0 = LITTLE
        elif fn == 3:
            h["version"] = v
    return h


# -------------------------------------------------------------- SSTable ----
TABLE_MAGIC = 0xDB4775248B80FB57


def read_block(data, offset, size, verify=True):
    block = data[offset:offset + size]
    ctype = data[offset + size]
    if ctype != 0:
        raise ValueError("compressed table block (type %d) not supported" % ctype)
    if verify:
        stored = struct.unpack_from("<I", data, offset + size + 1)[0]
        actual = crc_mask(crc32c(data[offset:offset + size + 1]))
        if stored != actual:
            raise ValueError("block crc mismatch at %d" % offset)
    return block


def block_entries(block):
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * num_restarts
    pos, key = 0, b""
    while pos < limit:
        shared, pos = varint(block, pos)
        non_shared, pos = varint(block, pos)
        vlen, pos = varint(block, pos)
        key = key[:shared] + bytes(block[pos:pos + non_shared])
        pos += non_shared
        value = bytes(block[pos:pos + vlen])
        pos += vlen
        yield key, value


def read_table(path):
    with open(path, "rb") as f:
        data = f.read()
    footer = data[-48:]
    if struct.unpack_from("<Q", footer, 40)[0] != TABLE_MAGIC:
        raise ValueError("not an SSTable (bad magic)")
    _mi_off, p = varint(footer, 0)
    _mi_size, p = varint(footer, p)
    idx_off, p = varint(footer, p)
    idx_size, p = varint(footer, p)
    index_block = read_block(data, idx_off, idx_size)
    for _last_key, handle in block_entries(index_block):
        off, p = varint(handle, 0)
        size, p = varint(handle, p)
        for k, v in block_entries(read_block(data, off, size)):
            yield k, v


# --------------------------------------------------------------- bundle ----
class Checkpoint:
    def __init__(self, prefix, verify=True):
        self.prefix = prefix
        self.verify = verify
        self.header = None
        self.entries = {}
        for k, v in read_table(prefix + ".index"):
            if k == b"":
                self.header = parse_header(v)
            else:
                self.entries[k.decode()] = parse_entry(v)
        if self.header and self.header.get("endianness", 0) != 0:
            raise ValueError("big-endian bundle not supported")
        n = (self.header or {}).get("num_shards", 1)
        self._shards = {}
        self._nshards = n

    def _shard(self, i):
        if i not in self._shards:
            path = "%s.data-%05d-of-%05d" % (self.prefix, i, self._nshards)
            self._shards[i] = np.memmap(path, dtype=np.uint8, mode="r")
        return self._shards[i]

    def names(self):
        return sorted(self.entries)

    def get(self, name):
        e = self.entries[name]
        if e["slices"]:
            raise ValueError("partitioned (sliced) variables not supported")
        dt = DTYPES.get(e["dtype"])
        if dt is None:
            raise ValueError("dtype %s not supported" % DTYPE_NAMES.get(e["dtype"], e["dtype"]))
        raw = self._shard(e["shard_id"])[e["offset"]:e["offset"] + e["size"]]
        raw = bytes(raw)
        if self.verify and e["crc32c"] is not None:
            if crc_mask(crc32c(raw)) != e["crc32c"]:
                raise ValueError("tensor crc mismatch for %s" % name)
        return np.frombuffer(raw, dtype=dt).reshape(e["shape"]).copy()


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    prefix = argv[1]
    show_all = "--all" in argv
    ck = Checkpoint(prefix, verify=True)
    print("header:", ck.header)
    total = model = 0
    arrays = {}
    for name in ck.names():
        e = ck.entries[name]
        n = int(np.prod(e["shape"])) if e["shape"] else 1
        total += n
        optimizer_slot = name.endswith("/Adam") or name.endswith("/Adam_1") or "power" in name
        if not optimizer_slot:
            model += n
        if show_all or not optimizer_slot:
            print("%-60s %-9s %-18s %d" % (name, DTYPE_NAMES.get(e["dtype"], e["dtype"]),
                                           e["shape"], n))
        if "--npz" in argv and not optimizer_slot:
            arrays[name] = ck.get(name)
    print("variables:", len(ck.entries), " elements total:", total,
          " model (excl. Adam slots):", model)
    if "--npz" in argv:
        out = argv[argv.index("--npz") + 1]
        np.savez(out, **arrays)
        print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
