#!/usr/bin/env python3
"""Write core/tests/data/vectors/: the records section of
microkafka/microkafka-record-batch-large-none.bin (600 records, ~70 KB)
compressed by other implementations, with framing options librdkafka does not
use, for core/tests/compression_interop.rs to decode.

    .ci/install-compression-check-deps
    core/tests/data/capture/make_codec_vectors.py [OUT_DIR]

Output is deterministic for a given set of library versions (pinned in the
install script); the sidecars name the library and options of each file.
"""

import gzip
import io
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import kafkawire as kw  # noqa: E402

try:
    import lz4
    import lz4.frame
    import snappy
    import zstandard
except ImportError as e:  # pragma: no cover
    sys.exit("missing %s: run .ci/install-compression-check-deps" % e.name)

SOURCE = "microkafka-record-batch-large-none.bin"
RECORDS = "../microkafka/microkafka-records-large.json"
XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)


def xerial(section, chunk):
    """snappy-java's SnappyOutputStream framing, assembled by hand: header,
    then int32 BE length + raw snappy block per `chunk` bytes of input."""
    out = bytearray(XERIAL_HEADER)
    for i in range(0, len(section), chunk):
        block = snappy.compress(section[i:i + chunk])
        out += struct.pack(">i", len(block)) + block
    return bytes(out)


def gzip_all_header_fields(section):
    """One gzip member with FEXTRA, FNAME, FCOMMENT and FHCRC (RFC 1952),
    assembled by hand around zlib's raw DEFLATE."""
    flags = 0x02 | 0x04 | 0x08 | 0x10
    head = bytearray(b"\x1f\x8b\x08" + bytes([flags]) + struct.pack("<I", 1700000000) + b"\x00\x03")
    extra = b"MK" + struct.pack("<H", 4) + b"test"
    head += struct.pack("<H", len(extra)) + extra
    head += b"records.bin\x00" + b"written by make_codec_vectors.py\x00"
    head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(section) + c.flush()
    return bytes(head) + body + struct.pack("<II", zlib.crc32(section), len(section))


def gzip_with_name(section):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="records.bin", mode="wb", fileobj=buf, compresslevel=9,
                       mtime=1700000000) as f:
        f.write(section)
    return buf.getvalue()


def skippable(payload):
    return struct.pack("<II", 0x184D2A50, len(payload)) + payload


def main(out):
    batch = open(os.path.join(DATA, "microkafka", SOURCE), "rb").read()
    h = kw.parse_batch_header(batch)
    section = batch[kw.BATCH_HEADER_LEN:]
    half = len(section) // 2
    z = zstandard.ZstdCompressor
    lz = lz4.frame
    vectors = [
        ("gzip", "gzip-python-fname-level9", "python gzip.GzipFile(filename=, compresslevel=9, mtime=)",
         gzip_with_name(section)),
        ("gzip", "gzip-python-two-members", "two gzip.compress() members, one per half",
         gzip.compress(section[:half], mtime=0) + gzip.compress(section[half:], mtime=0)),
        ("gzip", "gzip-hand-all-header-fields", "FEXTRA+FNAME+FCOMMENT+FHCRC header by hand, zlib raw deflate",
         gzip_all_header_fields(section)),
        ("lz4", "lz4-python-linked-checksums", "lz4.frame 64 KiB linked blocks, block+content checksums, content size",
         lz.compress(section, block_size=lz.BLOCKSIZE_MAX64KB, block_linked=True, content_checksum=True,
                     block_checksum=True, store_size=True)),
        ("lz4", "lz4-python-hc-256k", "lz4.frame level 16 (HC), 256 KiB independent blocks, no size",
         lz.compress(section, compression_level=lz.COMPRESSIONLEVEL_MAX, block_size=lz.BLOCKSIZE_MAX256KB,
                     block_linked=False, store_size=False)),
        ("lz4", "lz4-python-4m-two-frames", "two lz4.frame frames (4 MiB blocks) with a skippable frame between",
         lz.compress(section[:half], block_size=lz.BLOCKSIZE_MAX4MB) + skippable(b"microkafka")
         + lz.compress(section[half:], block_size=lz.BLOCKSIZE_MAX4MB)),
        ("zstd", "zstd-python-level19-size-checksum", "zstandard level 19, content size, checksum",
         z(level=19, write_checksum=True, write_content_size=True).compress(section)),
        ("zstd", "zstd-python-stream-level3", "zstandard level 3 streamed (no content size, 2 MiB window)",
         (lambda c: c.compress(section) + c.flush())(z(level=3).compressobj())),
        ("zstd", "zstd-python-two-frames", "two zstandard frames with a skippable frame between",
         z(level=1).compress(section[:half]) + skippable(b"microkafka") + z(level=1).compress(section[half:])),
        ("snappy", "snappy-python-raw", "python-snappy snappy.compress (raw, like librdkafka)",
         snappy.compress(section)),
        ("snappy", "snappy-xerial-32k", "xerial framing by hand (snappy-java's format), 32 KiB chunks",
         xerial(section, 32 * 1024)),
        ("snappy", "snappy-xerial-8k", "xerial framing by hand, 8 KiB chunks", xerial(section, 8 * 1024)),
    ]
    os.makedirs(out, exist_ok=True)
    for codec, stem, how, data in vectors:
        open(os.path.join(out, stem + ".bin"), "wb").write(data)
        meta = {
            "description": "The records section of microkafka/%s compressed by another implementation" % SOURCE,
            "file": stem + ".bin",
            "kind": "section",
            "codec": codec,
            "made_by": how,
            "libraries": {"lz4": lz4.__version__, "liblz4": lz4.library_version_string(),
                          "zstandard": zstandard.__version__, "libzstd": zstandard.ZSTD_VERSION,
                          "zlib": zlib.ZLIB_RUNTIME_VERSION},
            "uncompressed_size": len(section),
            "base_timestamp": h["base_timestamp"],
            "records_file": RECORDS,
        }
        with open(os.path.join(out, stem + ".json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        print("%-36s %6d bytes  %s" % (stem, len(data), how))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(DATA, "vectors"))
