#!/usr/bin/env python3
"""Minimal single-broker Kafka imitation that records what real clients send.

Stdlib only. It listens on HOST:PORT, answers just enough of the protocol for
librdkafka-based clients (kcat, confluent-kafka) to list metadata and produce:

  * ApiVersions v0-v3 (a higher version gets KIP-511 UNSUPPORTED_VERSION + v0 body),
  * Metadata v0-v12 (one broker = this listener, node id 1; every requested topic exists),
  * Produce v0-v11 (success, increasing base offsets; acks=0 gets no response),
  * InitProducerId v0-v4 (in case a client enables idempotence).

Every request frame (4-byte size prefix included) is saved to --out as
  <client>-<ApiName>-v<version>[-<variant>]-req.bin
and our answer as the matching ...-resp.bin. The variant is --tag for Produce
(e.g. the codec), "unsupported" for an ApiVersions request above our max and, for Metadata, what was asked: "all" (null topic array),
"brokers" (empty topic array) or "topics" (named topics). A repeated request whose
bytes (ignoring the correlation id) equal an already saved one with the same name
is not saved again; a different one is saved as ...-<variant>-2-req.bin etc.
(at most --max-extras extras). Files already in --out count, so consecutive runs
with the same --client only add what is new.

Each record batch inside a Produce request is extracted into
  <client>-record-batch-<tag>.bin
with a JSON sidecar <client>-record-batch-<tag>.json describing the request,
the batch header and (when --records is given) the records the driver sent.
"""

import argparse
import hashlib
import json
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkawire as kw  # noqa: E402

# Version ranges advertised in ApiVersions: a Kafka 3.x broker (3.7/3.8 era), trimmed to
# what a client might look at. We only *serve* ApiVersions, Metadata, Produce, InitProducerId.
ADVERTISED = {
    0: (0, 11),   # Produce (v9+ flexible; v10/v11 same request layout as v9)
    1: (0, 11),   # Fetch (not served)
    2: (0, 7),    # ListOffsets
    3: (0, 12),   # Metadata
    8: (0, 8),    # OffsetCommit
    9: (0, 8),    # OffsetFetch
    10: (0, 4),   # FindCoordinator
    11: (0, 9),   # JoinGroup
    12: (0, 4),   # Heartbeat
    13: (0, 5),   # LeaveGroup
    14: (0, 5),   # SyncGroup
    15: (0, 5),   # DescribeGroups
    16: (0, 4),   # ListGroups
    17: (0, 1),   # SaslHandshake
    18: (0, 3),   # ApiVersions
    19: (0, 7),   # CreateTopics
    20: (0, 6),   # DeleteTopics
    21: (0, 2),   # DeleteRecords
    22: (0, 4),   # InitProducerId
    23: (0, 4),   # OffsetForLeaderEpoch
    24: (0, 3),   # AddPartitionsToTxn
    25: (0, 3),   # AddOffsetsToTxn
    26: (0, 3),   # EndTxn
    28: (0, 3),   # TxnOffsetCommit
    32: (0, 4),   # DescribeConfigs
    33: (0, 2),   # AlterConfigs
    36: (0, 2),   # SaslAuthenticate
    37: (0, 3),   # CreatePartitions
    42: (0, 2),   # DeleteGroups
    44: (0, 1),   # IncrementalAlterConfigs
    47: (0, 0),   # OffsetDelete
}

NODE_ID = 1
CLUSTER_ID = "microkafka-golden"
UNSUPPORTED_VERSION = 35


def log(msg):
    print("[listener] " + msg, file=sys.stderr, flush=True)


class Broker:
    def __init__(self, args, host, port):
        self.args = args
        self.host = host
        self.port = port
        self.lock = threading.Lock()
        self.next_offset = {}      # (topic, partition) -> next base offset
        self.saved = {}            # base name -> list of dedupe keys
        self.records_spec = None
        if args.records:
            with open(args.records) as f:
                self.records_spec = json.load(f)
        os.makedirs(args.out, exist_ok=True)

    # ---------------------------------------------------------------- saving
    @staticmethod
    def dedupe_key(frame):
        # size + api_key + api_version, skip correlation id, rest of the frame
        return frame[:8] + frame[12:]

    def _existing_keys(self, base):
        keys = []
        n = 1
        while True:
            name = base if n == 1 else "%s-%d" % (base, n)
            path = os.path.join(self.args.out, name + "-req.bin")
            if not os.path.exists(path):
                return keys
            with open(path, "rb") as f:
                keys.append(self.dedupe_key(f.read()))
            n += 1

    def save_request(self, hdr, frame, variant=None):
        """Returns the file stem to use for the response, or None when not saved."""
        base = "%s-%s-v%d" % (self.args.client, hdr["api_name"], hdr["api_version"])
        if variant:
            base += "-" + variant
        key = self.dedupe_key(frame)
        with self.lock:
            if base not in self.saved:
                self.saved[base] = self._existing_keys(base)
            keys = self.saved[base]
            if key in keys:
                log("  (same bytes as an already saved %s, not saved again)" % base)
                return None
            if len(keys) > self.args.max_extras:
                log("  (extra %s not saved: --max-extras %d)" % (base, self.args.max_extras))
                return None
            keys.append(key)
            stem = base if len(keys) == 1 else "%s-%d" % (base, len(keys))
            self._write(stem + "-req.bin", frame)
            return stem

    def _write(self, name, data):
        path = os.path.join(self.args.out, name)
        mode = "w" if isinstance(data, str) else "wb"
        with open(path, mode) as f:
            f.write(data)
        log("  saved %s (%d bytes)" % (name, len(data)))

    def _unique_name(self, base, ext):
        n = 1
        while True:
            name = base if n == 1 else "%s-%d" % (base, n)
            if not os.path.exists(os.path.join(self.args.out, name + ext)):
                return name
            n += 1

    # ------------------------------------------------------------- handlers
    def handle(self, frame):
        payload = frame[4:]
        hdr, r = kw.parse_request_header(payload)
        log("request %s v%d corr=%d client_id=%r (%d bytes)" % (
            hdr["api_name"], hdr["api_version"], hdr["correlation_id"], hdr["client_id"], len(frame)))
        key, ver = hdr["api_key"], hdr["api_version"]
        variant = None
        if key == 18 and ver > ADVERTISED[18][1]:
            variant = "unsupported"  # answered with the KIP-511 error response
        elif key == 0:
            variant = self.args.tag
        elif key == 3:
            md_req = self.parse_metadata_request(ver, r, hdr["flexible"])
            variant = md_req["variant"]
        stem = self.save_request(hdr, frame, variant)
        header_v0 = key == 18  # ApiVersions responses always use response header v0
        if key == 18:
            body = self.api_versions(ver)
        elif key == 3:
            body = self.metadata(ver, md_req)
        elif key == 0:
            body = self.produce(ver, r, hdr["flexible"], stem, frame)
        elif key == 22:
            body = self.init_producer_id(ver, hdr["flexible"])
        else:
            log("  !! no handler for %s v%d; not answering" % (hdr["api_name"], ver))
            return None
        if body is None:
            return None  # acks=0 produce
        resp_hdr = struct.pack(">i", hdr["correlation_id"])
        if hdr["flexible"] and not header_v0:
            resp_hdr += b"\x00"  # response header v1: empty tagged fields
        resp = struct.pack(">i", len(resp_hdr) + len(body)) + resp_hdr + body
        if stem:
            self._write(stem + "-resp.bin", resp)
        return resp

    def api_versions(self, ver):
        lo, hi = ADVERTISED[18]
        if ver > hi:
            # KIP-511: v0 body, UNSUPPORTED_VERSION, ApiKeys lists only ApiVersions itself.
            log("  ApiVersions v%d unsupported -> error 35, v0 body" % ver)
            w = kw.Writer(False)
            w.i16(UNSUPPORTED_VERSION).array_len(1).i16(18).i16(lo).i16(hi)
            return w.bytes()
        flexible = ver >= 3
        w = kw.Writer(flexible)
        w.i16(0)
        w.array_len(len(ADVERTISED))
        for k in sorted(ADVERTISED):
            lo_k, hi_k = ADVERTISED[k]
            w.i16(k).i16(lo_k).i16(hi_k).tags()
        if ver >= 1:
            w.i32(0)  # throttle_time_ms
        w.tags()
        return w.bytes()

    def topic_id(self, name):
        return hashlib.md5(("microkafka-golden/" + name).encode()).digest()

    @staticmethod
    def parse_metadata_request(ver, r, flexible):
        """variant: 'all' (null topics, or empty in v0), 'brokers' (empty list), 'topics'."""
        n = r.array_len(flexible)
        requested = None
        if n >= 0:
            requested = []
            for _ in range(n):
                if ver >= 10:
                    r.uuid()
                requested.append(r.str_(flexible))
                if flexible:
                    r.tagged_fields()
        extras = {}
        if ver >= 4:
            extras["allow_auto_topic_creation"] = r.boolean()
        if 8 <= ver <= 10:
            extras["include_cluster_authorized_operations"] = r.boolean()
        if ver >= 8:
            extras["include_topic_authorized_operations"] = r.boolean()
        if flexible:
            r.tagged_fields()
        if requested is None or (ver == 0 and not requested):
            variant = "all"
        elif not requested:
            variant = "brokers"
        else:
            variant = "topics"
        return {"topics": requested, "variant": variant, "extras": extras, "flexible": flexible}

    def metadata(self, ver, md_req):
        flexible = md_req["flexible"]
        if md_req["variant"] == "all":
            topics = list(self.args.topics)
        else:
            topics = md_req["topics"]
        log("  metadata %s: answering topics %r %s" % (md_req["variant"], topics, md_req["extras"]))

        w = kw.Writer(flexible)
        if ver >= 3:
            w.i32(0)  # throttle
        w.array_len(1)
        w.i32(NODE_ID).string(self.host).i32(self.port)
        if ver >= 1:
            w.string(None)  # rack
        w.tags()
        if ver >= 2:
            w.string(CLUSTER_ID)
        if ver >= 1:
            w.i32(NODE_ID)  # controller id
        w.array_len(len(topics))
        for name in topics:
            w.i16(0).string(name)
            if ver >= 10:
                w.raw(self.topic_id(name or ""))
            if ver >= 1:
                w.boolean(False)
            w.array_len(self.args.partitions)
            for p in range(self.args.partitions):
                w.i16(0).i32(p).i32(NODE_ID)
                if ver >= 7:
                    w.i32(0)  # leader epoch
                w.int32_array([NODE_ID]).int32_array([NODE_ID])
                if ver >= 5:
                    w.int32_array([])
                w.tags()
            if ver >= 8:
                w.i32(-2147483648)  # topic authorized operations: not requested
            w.tags()
        if 8 <= ver <= 10:
            w.i32(-2147483648)
        w.tags()
        return w.bytes()

    def produce(self, ver, r, flexible, stem, frame):
        req = kw.parse_produce_request(ver, r, flexible)
        log("  produce acks=%d timeout=%d txn=%r" % (
            req["acks"], req["timeout_ms"], req.get("transactional_id")))
        results = []
        for t in req["topics"]:
            parts = []
            for p in t["partitions"]:
                blob = p["records"] or b""
                batches = kw.split_batches(blob)
                count = 0
                pos = 0
                for batch in batches:
                    h = kw.parse_batch_header(batch)
                    count += h["records_count"]
                    log("  %s[%d] batch magic=%d records=%d codec=%s crc_ok=%s" % (
                        t["name"], p["index"], h["magic"], h["records_count"],
                        h["compression"], h["crc_ok"]))
                    if stem:
                        self.save_batch(ver, req, t["name"], p["index"], batch, h,
                                        4 + p["records_offset"] + pos, stem)
                    pos += len(batch)
                with self.lock:
                    k = (t["name"], p["index"])
                    base = self.next_offset.get(k, 0)
                    self.next_offset[k] = base + count
                parts.append((p["index"], base))
            results.append((t["name"], parts))
        if req["acks"] == 0:
            return None
        w = kw.Writer(flexible)
        w.array_len(len(results))
        for name, parts in results:
            w.string(name)
            w.array_len(len(parts))
            for index, base in parts:
                w.i32(index).i16(0).i64(base)
                if ver >= 2:
                    w.i64(-1)  # log append time
                if ver >= 5:
                    w.i64(0)   # log start offset
                if ver >= 8:
                    w.array_len(0)     # record errors
                    w.string(None)     # error message
                w.tags()
            w.tags()
        if ver >= 1:
            w.i32(0)  # throttle
        w.tags()
        return w.bytes()

    def save_batch(self, ver, req, topic, partition, batch, h, offset_in_frame, stem):
        tag = self.args.tag or "produce"
        name = self._unique_name("%s-record-batch-%s" % (self.args.client, tag), ".bin")
        self._write(name + ".bin", batch)
        header = {k: v for k, v in h.items() if k not in ("crc_computed",)}
        sidecar = {
            "description": "Record batch (magic 2) extracted from a Produce request sent by a real client",
            "client": self.args.client,
            "client_software": self.args.client_software,
            "command": self.args.command,
            "request_file": stem + "-req.bin",
            "response_file": (stem + "-resp.bin") if req["acks"] != 0 else None,
            "batch_offset_in_request_file": offset_in_frame,
            "batch_size": len(batch),
            "produce": {
                "api_version": ver,
                "transactional_id": req.get("transactional_id"),
                "acks": req["acks"],
                "timeout_ms": req["timeout_ms"],
                "topic": topic,
                "partition": partition,
            },
            "batch_header": header,
            "records": None,
        }
        if self.records_spec is not None:
            sidecar["records"] = self.records_spec
        self._write(name + ".json", kw.dump_sidecar(sidecar))

    def init_producer_id(self, ver, flexible):
        w = kw.Writer(flexible)
        w.i32(0).i16(0).i64(1000).i16(0).tags()
        return w.bytes()

    # ------------------------------------------------------------ transport
    def serve_conn(self, conn, addr):
        log("connection from %s:%d" % addr)
        try:
            while True:
                size_b = recv_exact(conn, 4)
                if size_b is None:
                    break
                (size,) = struct.unpack(">i", size_b)
                body = recv_exact(conn, size)
                if body is None:
                    break
                resp = self.handle(size_b + body)
                if resp is not None:
                    conn.sendall(resp)
        except Exception as e:  # keep the listener alive for other connections
            log("connection %s:%d error: %r" % (addr[0], addr[1], e))
            import traceback
            traceback.print_exc()
        finally:
            conn.close()
            log("connection from %s:%d closed" % addr)


def recv_exact(conn, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--client", required=True, help="file name prefix, e.g. kcat2.0.2")
    ap.add_argument("--client-software", default=None, help="free text for sidecars")
    ap.add_argument("--command", default=None, help="client command line, for sidecars")
    ap.add_argument("--tag", default=None, help="suffix for Produce captures, e.g. the codec")
    ap.add_argument("--topics", default="golden", help="comma list answered for all-topic metadata")
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--records", help="JSON file with the records the driver sends (for sidecars)")
    ap.add_argument("--max-extras", type=int, default=3,
                    help="how many differing extra requests per API+version to keep")
    ap.add_argument("--max-version", action="append", default=[], metavar="KEY=N",
                    help="cap an advertised max version, e.g. 0=9 for Produce v9")
    args = ap.parse_args()
    args.topics = [t for t in args.topics.split(",") if t]
    for cap in args.max_version:
        k, v = cap.split("=")
        lo, _ = ADVERTISED[int(k)]
        ADVERTISED[int(k)] = (lo, int(v))

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, args.port))
    srv.listen(16)
    port = srv.getsockname()[1]
    broker = Broker(args, args.host, port)
    log("listening on %s:%d, client prefix %s" % (args.host, port, args.client))
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    try:
        while True:
            conn, addr = srv.accept()
            threading.Thread(target=broker.serve_conn, args=(conn, addr), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
