#!/usr/bin/env python3
"""Drivers and checks for the golden capture (used by capture.sh).

  golden.py kcat-spec  SPEC.json INPUT.txt     records for the kcat runs (+ the stdin file)
  golden.py confluent-spec SPEC.json           records for the confluent-kafka producer
  golden.py confluent-produce PORT SPEC.json CODEC
  golden.py confluent-admin PORT
  golden.py verify DIR                          decode everything, CRC-check, compare, enrich sidecars

The record definitions here are the ground truth the sidecars are built from.
"""

import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkawire as kw  # noqa: E402

KCAT_HEADERS = [["trace", "abc"], ["app", "microkafka"]]


def kcat_records():
    """20 records, ~100-byte repetitive values so every codec really compresses.
    kcat -K: semantics (checked against kcat 1.7.1): a line without ':' -> null key,
    'key:' -> empty (not null) value, ':value' -> empty (not null) key, empty lines are skipped.
    kcat -H headers apply to every record of the run, in command-line order."""
    recs = []
    filler = "lorem ipsum dolor sit amet, consectetur adipiscing elit; "
    for i in range(20):
        key = "key-%02d" % i
        value = ("record %02d " % i) + filler + filler[: 30 + i]
        if i in (3, 11, 17):
            key = None                      # line without delimiter
        if i == 7:
            value = ""                      # 'key-07:'
        if i == 13:
            key = ""                        # ':value'
        recs.append({"key": key, "value": value, "headers": KCAT_HEADERS, "timestamp": None})
    return recs


def kcat_input(recs):
    lines = []
    for r in recs:
        assert ":" not in r["value"] and "\n" not in r["value"]
        if r["key"] is None:
            assert r["value"], "null key needs a non-empty value (empty lines are skipped)"
            lines.append(r["value"])
        else:
            lines.append("%s:%s" % (r["key"], r["value"]))
    return "\n".join(lines) + "\n"


CONFLUENT_TS = 1700000000000  # fixed CreateTime timestamps => reproducible batches


def hexv(b):
    return {"hex": b.hex()}


def confluent_records():
    """Records the confluent-kafka producer sends (explicit timestamps, varied headers).
    JSON convention: a string is UTF-8 bytes, {"hex": ...} raw bytes, null = null."""
    return [
        {"key": "user-1", "value": "hello microkafka",
         "headers": [["trace", "abc"], ["app", "microkafka"]], "timestamp": CONFLUENT_TS},
        {"key": None, "value": "record without key",
         "headers": [["h", "1"]], "timestamp": CONFLUENT_TS + 1},
        {"key": hexv(b"\x00\x01\x02\xff"), "value": hexv(b"\xde\xad\xbe\xef"),
         "headers": [], "timestamp": CONFLUENT_TS + 1},
        {"key": "tombstone", "value": None,
         "headers": [["null-header", None]], "timestamp": CONFLUENT_TS + 10},
        {"key": "earlier", "value": "timestamp before the first record",
         "headers": [["dup", "1"], ["dup", "2"]], "timestamp": CONFLUENT_TS - 3},
        {"key": "", "value": "",
         "headers": [["empty", ""]], "timestamp": CONFLUENT_TS + 100},
        {"key": "long-value", "value": "microkafka " * 30,
         "headers": [["unicode", "h\u00e9llo \u2603"]], "timestamp": CONFLUENT_TS + 200},
    ]


def to_bytes(v):
    if v is None:
        return None
    if isinstance(v, dict):
        return bytes.fromhex(v["hex"])
    return v.encode("utf-8")


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


# ---------------------------------------------------------------- confluent
def confluent_produce(port, spec_path, codec):
    import confluent_kafka
    with open(spec_path) as f:
        recs = json.load(f)
    p = confluent_kafka.Producer({
        "bootstrap.servers": "127.0.0.1:%d" % port,
        "linger.ms": 100,
        "acks": 1,
        "enable.idempotence": False,
        "compression.type": codec,
        "socket.timeout.ms": 10000,
        "message.timeout.ms": 20000,
    })
    # Connect and learn the topic first so that all records land in one batch
    # (otherwise a first record can race ahead alone while the others are enqueued).
    p.list_topics("golden", timeout=20)
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(err)

    for r in recs:
        headers = [(k, to_bytes(v)) for k, v in r["headers"]]
        p.produce("golden", key=to_bytes(r["key"]), value=to_bytes(r["value"]),
                  headers=headers, timestamp=r["timestamp"], partition=0, on_delivery=cb)
    left = p.flush(30)
    if left or errors:
        sys.exit("confluent produce failed: left=%d errors=%r" % (left, errors))
    print("confluent-kafka %s / librdkafka %s produced %d records (%s)" % (
        confluent_kafka.__version__, confluent_kafka.libversion()[0], len(recs), codec))


def confluent_admin(port):
    import confluent_kafka.admin as admin
    a = admin.AdminClient({"bootstrap.servers": "127.0.0.1:%d" % port})
    md = a.list_topics(timeout=20)
    print("AdminClient.list_topics: brokers=%r topics=%r" % (
        {b.id: "%s:%d" % (b.host, b.port) for b in md.brokers.values()}, sorted(md.topics)))


# ------------------------------------------------------------------- verify
def check_frame(path):
    with open(path, "rb") as f:
        data = f.read()
    (size,) = struct.unpack(">i", data[:4])
    assert size == len(data) - 4, "%s: size prefix %d != %d" % (path, size, len(data) - 4)
    assert len(data) < 16 * 1024, "%s too big" % path
    return data


def verify(d):
    names = sorted(os.listdir(d))
    failures = 0
    print("%-48s %6s  %s" % ("file", "bytes", "decoded"))
    for n in names:
        p = os.path.join(d, n)
        if n.endswith("-req.bin"):
            data = check_frame(p)
            hdr, _ = kw.parse_request_header(data[4:])
            print("%-48s %6d  %s v%d corr=%d client_id=%r header_v%d" % (
                n, len(data), hdr["api_name"], hdr["api_version"], hdr["correlation_id"],
                hdr["client_id"], hdr["header_version"]))
        elif n.endswith("-resp.bin"):
            data = check_frame(p)
            (corr,) = struct.unpack(">i", data[4:8])
            print("%-48s %6d  response corr=%d" % (n, len(data), corr))
    for n in names:
        if not (n.endswith(".json") and "-record-batch-" in n):
            continue
        sc_path = os.path.join(d, n)
        with open(sc_path) as f:
            sc = json.load(f)
        with open(sc_path[:-5] + ".bin", "rb") as f:
            batch = f.read()
        with open(os.path.join(d, sc["request_file"]), "rb") as f:
            req = f.read()
        off = sc["batch_offset_in_request_file"]
        problems = []
        if req[off:off + len(batch)] != batch:
            problems.append("batch bytes differ from the request slice")
        h = kw.decode_batch(batch)
        if not h["crc_ok"]:
            problems.append("CRC-32C mismatch %08x != %08x" % (h["crc"], h["crc_computed"]))
        if not h["batch_length_ok"]:
            problems.append("batchLength mismatch")
        tag = n[:-5].split("-record-batch-")[1]
        if h["compression"] != tag.split("-")[0]:
            problems.append("codec %s != tag %s" % (h["compression"], tag))
        expected = sc["records"]
        got = h["records"]
        if expected is None:
            problems.append("sidecar has no expected records")
        elif len(expected) != len(got):
            problems.append("record count %d != %d" % (len(got), len(expected)))
        else:
            for i, (e, g) in enumerate(zip(expected, got)):
                ts = h["base_timestamp"] + g["timestamp_delta"]
                for field in ("key", "value"):
                    if to_bytes(e[field]) != to_bytes(g[field]):
                        problems.append("record %d %s %r != %r" % (i, field, g[field], e[field]))
                gh = [[k, v] for k, v in g["headers"]]
                eh = [[k, v] for k, v in e["headers"]]
                if [[k, to_bytes(v)] for k, v in gh] != [[k, to_bytes(v)] for k, v in eh]:
                    problems.append("record %d headers %r != %r" % (i, gh, eh))
                if e.get("timestamp") is not None and e["timestamp"] != ts:
                    problems.append("record %d timestamp %d != %d" % (i, ts, e["timestamp"]))
                if g["offset_delta"] != i:
                    problems.append("record %d offset delta %d" % (i, g["offset_delta"]))
        status = "OK" if not problems else "FAIL: " + "; ".join(problems)
        if problems:
            failures += 1
        print("%-48s %6d  %s records=%d codec=%s(%s) %d->%d bytes crc=%08x pid=%d ts=%d..%d %s" % (
            n[:-5] + ".bin", len(batch), "batch", h["records_count"], h["compression"],
            h["compression_framing"], h["uncompressed_records_size"], h["compressed_size"],
            h["crc"], h["producer_id"], h["base_timestamp"], h["max_timestamp"], status))
        if not problems:
            # Enrich the sidecar with what the client chose (deltas, timestamps, lengths).
            header = {k: v for k, v in h.items() if k not in ("records", "crc_computed")}
            sc["batch_header"] = header
            sc["records"] = [
                dict(e, timestamp=h["base_timestamp"] + g["timestamp_delta"],
                     timestamp_delta=g["timestamp_delta"], offset_delta=g["offset_delta"],
                     record_length=g["length"], record_attributes=g["attributes"])
                for e, g in zip(expected, got)]
            sc["verified"] = "decoded, CRC-32C checked and compared with the driver's records by golden.py verify"
            with open(sc_path, "w") as f:
                f.write(kw.dump_sidecar(sc))
    for n in names:
        assert os.path.getsize(os.path.join(d, n)) < 16 * 1024, n
    if failures:
        sys.exit("%d record batch(es) failed verification" % failures)


def main():
    cmd = sys.argv[1]
    if cmd == "kcat-spec":
        recs = kcat_records()
        write_json(sys.argv[2], recs)
        with open(sys.argv[3], "w") as f:
            f.write(kcat_input(recs))
    elif cmd == "confluent-spec":
        write_json(sys.argv[2], confluent_records())
    elif cmd == "confluent-produce":
        confluent_produce(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif cmd == "confluent-admin":
        confluent_admin(int(sys.argv[2]))
    elif cmd == "verify":
        verify(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
