#!/usr/bin/env python3
"""Decode the record batches microkafka compressed (core/tests/data/microkafka/)
with implementations that share no code with microkafka, and compare every
record with the JSON sidecars.

    .ci/install-compression-check-deps      # pip: lz4, zstandard, python-snappy, cramjam
    core/tests/data/capture/verify_microkafka_batches.py [DIR]

Decoders per codec (each must give back exactly the sidecar's records):
  gzip    Python gzip module and zlib.decompress(wbits=31)   (C zlib)
  snappy  python-snappy, cramjam.snappy.decompress_raw, and kafkawire's
          pure-Python decoder; the xerial framing is parsed here
  lz4     lz4.frame (C liblz4) and, when installed, the lz4 CLI
  zstd    zstandard (C libzstd) and, when installed, the zstd CLI
Batch headers are parsed and CRC-32C checked by kafkawire.py (pure Python).
Exit status 0 only if every decoder agrees on every batch.
"""

import glob
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kafkawire as kw  # noqa: E402

try:
    import cramjam
    import lz4
    import lz4.frame
    import snappy
    import zstandard
except ImportError as e:  # pragma: no cover
    sys.exit("missing %s: run .ci/install-compression-check-deps" % e.name)

XERIAL_MAGIC = b"\x82SNAPPY\x00"


def cli(tool):
    if shutil.which(tool) is None:
        return None
    return lambda data: subprocess.run([tool, "-d", "-c", "-q"], input=data,
                                       stdout=subprocess.PIPE, check=True).stdout


def xerial(raw_decoder):
    """A decoder for xerial-framed snappy (as snappy-java writes it) using
    `raw_decoder` for each chunk; falls back to one raw block without the magic."""
    def decode(data):
        if not data.startswith(XERIAL_MAGIC):
            return raw_decoder(data)
        version, compatible = struct.unpack_from(">ii", data, 8)
        if version < 1 or compatible != 1:
            raise ValueError("xerial version %d/%d" % (version, compatible))
        pos, out = 16, bytearray()
        while pos < len(data):
            (n,) = struct.unpack_from(">i", data, pos)
            pos += 4
            if n <= 0 or pos + n > len(data):
                raise ValueError("bad xerial chunk length %d" % n)
            out += raw_decoder(data[pos:pos + n])
            pos += n
        return bytes(out)
    return decode


def decoders(codec):
    if codec == "none":
        return [("none", lambda d: d)]
    if codec == "gzip":
        return [("python gzip (zlib %s)" % zlib.ZLIB_RUNTIME_VERSION, gzip.decompress),
                ("zlib.decompress wbits=31", lambda d: zlib.decompress(d, 31))]
    if codec == "snappy":
        return [("python-snappy %s" % snappy_version(), xerial(snappy.decompress)),
                ("cramjam %s decompress_raw" % cramjam.__version__,
                 xerial(lambda d: bytes(cramjam.snappy.decompress_raw(d)))),
                ("kafkawire pure-Python snappy", xerial(kw.snappy_raw_decompress))]
    if codec == "lz4":
        out = [("lz4.frame %s (liblz4 %s)" % (lz4.__version__, lz4.library_version_string()),
                lz4.frame.decompress)]
        if cli("lz4"):
            out.append(("lz4 CLI", cli("lz4")))
        return out
    if codec == "zstd":
        out = [("zstandard %s (libzstd %s)" % (zstandard.__version__, zstandard.ZSTD_VERSION),
                lambda d: zstandard.ZstdDecompressor().decompressobj().decompress(d))]
        if cli("zstd"):
            out.append(("zstd CLI", cli("zstd")))
        return out
    raise ValueError(codec)


def snappy_version():
    try:
        from importlib.metadata import version
        return version("python-snappy")
    except Exception:  # pragma: no cover
        return "?"


def compare(records, want, base_timestamp):
    if len(records) != len(want):
        return "%d records, sidecar has %d" % (len(records), len(want))
    for i, (r, w) in enumerate(zip(records, want)):
        got = {"key": r["key"], "value": r["value"], "headers": r["headers"],
               "timestamp": base_timestamp + r["timestamp_delta"], "offset_delta": r["offset_delta"]}
        for k in ("key", "value", "headers", "timestamp", "offset_delta"):
            if got[k] != w[k]:
                return "record %d: %s %r != sidecar %r" % (i, k, got[k], w[k])
    return None


def verify(directory):
    failures, rows = 0, []
    for side in sorted(glob.glob(os.path.join(directory, "microkafka-record-batch*.json"))):
        meta = json.load(open(side))
        batch = open(os.path.join(directory, meta["file"]), "rb").read()
        want = json.load(open(os.path.join(directory, meta["records_file"])))
        h = kw.parse_batch_header(batch)
        problems = []
        if not h["crc_ok"] or not h["batch_length_ok"]:
            problems.append("CRC-32C or batch length wrong")
        for k, v in meta["batch_header"].items():
            if k in h and h[k] != v:
                problems.append("header %s %r != sidecar %r" % (k, h[k], v))
        payload = batch[kw.BATCH_HEADER_LEN:]
        for name, decode in decoders(h["compression"]):
            try:
                raw = decode(payload)
                records = kw.decode_records(raw, h["records_count"])
                err = compare(records, want, h["base_timestamp"])
                if len(raw) != meta["batch_header"]["uncompressed_records_size"]:
                    err = err or "uncompressed size %d" % len(raw)
            except Exception as e:  # any failure to decode is a finding
                err = "%s: %s" % (type(e).__name__, e)
            result = "ok" if not err and not problems else "FAIL " + "; ".join(problems + ([err] if err else []))
            failures += result != "ok"
            rows.append((meta["file"], meta["batch_header"]["compression_framing"], name,
                         len(want), result))
    w = max(len(r[0]) for r in rows)
    for f, framing, name, n, result in rows:
        print("%-*s  %-11s  %-40s  %4d records  %s" % (w, f, framing, name, n, result))
    print("%d decodes, %d failures" % (len(rows), failures))
    return failures


if __name__ == "__main__":
    default = os.path.join(HERE, "..", "microkafka")
    sys.exit(1 if verify(sys.argv[1] if len(sys.argv) > 1 else default) else 0)
