"""Tiny Kafka wire helpers shared by capture_listener.py and verify.py (stdlib only).

Only what the golden-data capture needs: primitive readers/writers (classic and
compact/flexible forms), CRC-32C, record batch (magic 2) decoding and the
decompression of record batch payloads. Not a general Kafka implementation.
"""

import gzip
import shutil
import struct
import subprocess

# --------------------------------------------------------------------------
# API names and which request versions are flexible (header v2, compact types)
# --------------------------------------------------------------------------
API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 28: "TxnOffsetCommit",
    29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs",
    33: "AlterConfigs", 35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    42: "DeleteGroups", 44: "IncrementalAlterConfigs", 47: "OffsetDelete",
    50: "DescribeUserScramCredentials", 51: "AlterUserScramCredentials", 60: "DescribeCluster",
    61: "DescribeProducers", 65: "DescribeTransactions", 66: "ListTransactions",
    68: "ConsumerGroupHeartbeat", 69: "ConsumerGroupDescribe", 71: "GetTelemetrySubscriptions",
    72: "PushTelemetry",
}

# First flexible version per API key (from the official JSON schemas).
FLEXIBLE_FROM = {
    0: 9, 1: 12, 2: 6, 3: 9, 8: 8, 9: 6, 10: 3, 11: 6, 12: 4, 13: 4, 14: 4, 15: 5,
    16: 3, 17: 99, 18: 3, 19: 5, 20: 4, 21: 2, 22: 2, 23: 4, 24: 3, 25: 3, 26: 3,
    28: 3, 29: 2, 30: 2, 31: 2, 32: 4, 33: 2, 35: 2, 36: 2, 37: 2, 42: 2, 44: 1,
    47: 99, 50: 0, 51: 0, 60: 0, 61: 0, 65: 0, 66: 0, 68: 0, 69: 0, 71: 0, 72: 0,
}

COMPRESSION = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def api_name(key):
    return API_NAMES.get(key, "Api%d" % key)


def is_flexible(key, version):
    return version >= FLEXIBLE_FROM.get(key, 99)


# --------------------------------------------------------------------------
# CRC-32C (Castagnoli), table driven
# --------------------------------------------------------------------------
def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # standard check value


# --------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------
class Reader:
    def __init__(self, data, pos=0):
        self.data = data
        self.pos = pos

    def remaining(self):
        return len(self.data) - self.pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("short read: want %d at %d of %d" % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _unpack(self, fmt, n):
        return struct.unpack(fmt, self.take(n))[0]

    def i8(self):
        return self._unpack(">b", 1)

    def i16(self):
        return self._unpack(">h", 2)

    def i32(self):
        return self._unpack(">i", 4)

    def u32(self):
        return self._unpack(">I", 4)

    def i64(self):
        return self._unpack(">q", 8)

    def boolean(self):
        return self.i8() != 0

    def uvarint(self):
        shift = 0
        value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def varint(self):
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def string(self):  # nullable string, int16 length
        n = self.i16()
        return None if n < 0 else self.take(n).decode("utf-8")

    def compact_string(self):
        n = self.uvarint() - 1
        return None if n < 0 else self.take(n).decode("utf-8")

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def compact_bytes(self):
        n = self.uvarint() - 1
        return None if n < 0 else self.take(n)

    def array_len(self, flexible):
        if flexible:
            return self.uvarint() - 1
        return self.i32()

    def str_(self, flexible):
        return self.compact_string() if flexible else self.string()

    def uuid(self):
        return self.take(16)

    def tagged_fields(self):
        out = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            size = self.uvarint()
            out[tag] = self.take(size)
        return out


# --------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------
def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Writer:
    def __init__(self, flexible=False):
        self.buf = bytearray()
        self.flexible = flexible

    def raw(self, b):
        self.buf += b
        return self

    def i8(self, v):
        return self.raw(struct.pack(">b", v))

    def i16(self, v):
        return self.raw(struct.pack(">h", v))

    def i32(self, v):
        return self.raw(struct.pack(">i", v))

    def i64(self, v):
        return self.raw(struct.pack(">q", v))

    def boolean(self, v):
        return self.i8(1 if v else 0)

    def uvarint(self, v):
        return self.raw(uvarint(v))

    def string(self, s):
        """Nullable string in the classic or compact form depending on flexibility."""
        if s is None:
            return self.uvarint(0) if self.flexible else self.i16(-1)
        b = s.encode("utf-8")
        if self.flexible:
            self.uvarint(len(b) + 1)
        else:
            self.i16(len(b))
        return self.raw(b)

    def array_len(self, n):
        """Array length; n = None writes a null array."""
        if n is None:
            return self.uvarint(0) if self.flexible else self.i32(-1)
        return self.uvarint(n + 1) if self.flexible else self.i32(n)

    def int32_array(self, values):
        self.array_len(len(values))
        for v in values:
            self.i32(v)
        return self

    def tags(self):
        """Empty tagged-field section (only in flexible versions)."""
        if self.flexible:
            self.uvarint(0)
        return self

    def bytes(self):
        return bytes(self.buf)


# --------------------------------------------------------------------------
# Request header
# --------------------------------------------------------------------------
def parse_request_header(payload):
    """payload = frame without the 4-byte size. Returns (header dict, Reader at body)."""
    r = Reader(payload)
    key = r.i16()
    version = r.i16()
    corr = r.i32()
    client_id = r.string()
    flexible = is_flexible(key, version)
    # ApiVersions requests are parsed with header v2 from v3 on (like every flexible API).
    tags = r.tagged_fields() if flexible else None
    hdr = {
        "api_key": key, "api_name": api_name(key), "api_version": version,
        "correlation_id": corr, "client_id": client_id, "flexible": flexible,
        "header_version": 2 if flexible else 1,
        "header_tagged_fields": None if tags is None else {str(k): v.hex() for k, v in tags.items()},
    }
    return hdr, r


# --------------------------------------------------------------------------
# Produce request body
# --------------------------------------------------------------------------
def parse_produce_request(version, r, flexible):
    """Returns dict with transactional_id, acks, timeout_ms and topics -> partitions -> records
    (records = raw bytes, plus the offset of the records blob inside the request payload)."""
    out = {}
    if version >= 3:
        out["transactional_id"] = r.str_(flexible)
    out["acks"] = r.i16()
    out["timeout_ms"] = r.i32()
    topics = []
    for _ in range(r.array_len(flexible)):
        name = r.str_(flexible)
        parts = []
        for _ in range(r.array_len(flexible)):
            index = r.i32()
            if flexible:
                n = r.uvarint() - 1
            else:
                n = r.i32()
            start = r.pos
            records = None if n < 0 else r.take(n)
            if flexible:
                r.tagged_fields()
            parts.append({"index": index, "records": records, "records_offset": start})
        if flexible:
            r.tagged_fields()
        topics.append({"name": name, "partitions": parts})
    if flexible:
        r.tagged_fields()
    out["topics"] = topics
    return out


# --------------------------------------------------------------------------
# Record batches
# --------------------------------------------------------------------------
BATCH_HEADER_LEN = 61  # up to and including recordsCount


def split_batches(blob):
    """Split a records blob into record batch byte strings (each complete)."""
    out = []
    pos = 0
    while pos + 12 <= len(blob):
        (length,) = struct.unpack_from(">i", blob, pos + 8)
        end = pos + 12 + length
        if end > len(blob):
            break  # partial trailing batch (allowed on Fetch, not expected on Produce)
        out.append(blob[pos:end])
        pos = end
    return out


def parse_batch_header(batch):
    r = Reader(batch)
    h = {
        "base_offset": r.i64(),
        "batch_length": r.i32(),
        "partition_leader_epoch": r.i32(),
        "magic": r.i8(),
        "crc": r.u32(),
        "attributes": r.i16(),
        "last_offset_delta": r.i32(),
        "base_timestamp": r.i64(),
        "max_timestamp": r.i64(),
        "producer_id": r.i64(),
        "producer_epoch": r.i16(),
        "base_sequence": r.i32(),
        "records_count": r.i32(),
    }
    attrs = h["attributes"]
    h["compression"] = COMPRESSION.get(attrs & 7, "unknown-%d" % (attrs & 7))
    h["timestamp_type"] = "log_append" if attrs & 8 else "create"
    h["transactional"] = bool(attrs & 16)
    h["control"] = bool(attrs & 32)
    h["crc_computed"] = crc32c(batch[21:])
    h["crc_ok"] = h["crc"] == h["crc_computed"]
    h["batch_length_ok"] = h["batch_length"] == len(batch) - 12
    return h


def snappy_raw_decompress(data):
    r = Reader(data)
    expected = r.uvarint()
    out = bytearray()
    while r.remaining():
        tag = r.take(1)[0]
        kind = tag & 3
        if kind == 0:  # literal
            n = tag >> 2
            if n >= 60:
                extra = n - 59
                n = int.from_bytes(r.take(extra), "little")
            out += r.take(n + 1)
            continue
        if kind == 1:
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | r.take(1)[0]
        elif kind == 2:
            length = 1 + (tag >> 2)
            offset = int.from_bytes(r.take(2), "little")
        else:
            length = 1 + (tag >> 2)
            offset = int.from_bytes(r.take(4), "little")
        if offset == 0 or offset > len(out):
            raise ValueError("bad snappy copy offset")
        for _ in range(length):
            out.append(out[-offset])
    if len(out) != expected:
        raise ValueError("snappy length mismatch %d != %d" % (len(out), expected))
    return bytes(out)


XERIAL_MAGIC = b"\x82SNAPPY\x00"


def snappy_decompress(data):
    """Returns (bytes, framing) where framing is 'raw' or 'xerial'."""
    if data.startswith(XERIAL_MAGIC):
        r = Reader(data, 16)
        out = bytearray()
        while r.remaining():
            n = r.i32()
            out += snappy_raw_decompress(r.take(n))
        return bytes(out), "xerial"
    return snappy_raw_decompress(data), "raw"


def _cli_decompress(tool, data):
    if shutil.which(tool) is None:
        raise RuntimeError("%s CLI not installed (apt-get install %s)" % (tool, tool))
    return subprocess.run([tool, "-d", "-c", "-q"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


def decompress(codec, data):
    """Returns (bytes, framing description)."""
    if codec == "none":
        return data, "none"
    if codec == "gzip":
        return gzip.decompress(data), "gzip member"
    if codec == "snappy":
        return snappy_decompress(data)
    if codec == "lz4":
        if not data.startswith(b"\x04\x22\x4d\x18"):
            raise ValueError("not an LZ4 frame")
        return _cli_decompress("lz4", data), "lz4 frame"
    if codec == "zstd":
        if not data.startswith(b"\x28\xb5\x2f\xfd"):
            raise ValueError("not a zstd frame")
        return _cli_decompress("zstd", data), "zstd frame"
    raise ValueError("unknown codec " + codec)


def _b2s(b):
    """bytes -> JSON-able: UTF-8 text when it round-trips, otherwise {'hex': ...}."""
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"hex": b.hex()}


def decode_records(data, count):
    r = Reader(data)
    records = []
    for _ in range(count):
        length = r.varint()
        start = r.pos
        rec = {"length": length, "attributes": r.i8(), "timestamp_delta": r.varint(),
               "offset_delta": r.varint()}
        klen = r.varint()
        rec["key"] = _b2s(None if klen < 0 else r.take(klen))
        vlen = r.varint()
        rec["value"] = _b2s(None if vlen < 0 else r.take(vlen))
        headers = []
        for _ in range(r.varint()):
            hk = r.take(r.varint()).decode("utf-8")
            hvlen = r.varint()
            headers.append([hk, _b2s(None if hvlen < 0 else r.take(hvlen))])
        rec["headers"] = headers
        if r.pos - start != length:
            raise ValueError("record length mismatch")
        records.append(rec)
    if r.remaining():
        raise ValueError("%d trailing bytes after records" % r.remaining())
    return records


def decode_batch(batch):
    h = parse_batch_header(batch)
    payload = batch[BATCH_HEADER_LEN:]
    raw, framing = decompress(h["compression"], payload)
    h["compression_framing"] = framing
    h["compressed_size"] = len(payload)
    h["uncompressed_records_size"] = len(raw)
    h["records"] = decode_records(raw, h["records_count"])
    return h


def dump_sidecar(obj):
    """JSON text for a sidecar: indented, but one record per line to stay small and diffable."""
    import json
    records = obj.get("records")
    head = dict(obj)
    head["records"] = "@RECORDS@"
    text = json.dumps(head, indent=2, ensure_ascii=False)
    if records is None:
        body = "null"
    else:
        body = "[\n" + ",\n".join(
            "    " + json.dumps(r, ensure_ascii=False) for r in records) + "\n  ]"
    return text.replace('"@RECORDS@"', body) + "\n"
