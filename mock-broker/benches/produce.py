"""Produce throughput from librdkafka (confluent-kafka) into a broker.

usage: produce.py BOOTSTRAP TOPIC MESSAGES VALUE_BYTES [COMPRESSION]

Prints one line: `produced N messages of B bytes in S s: R msgs/s, M MB/s`,
timed from the first produce() to the end of flush() (every delivery acknowledged).
"""
import sys
import time

from confluent_kafka import Producer


def main(bootstrap, topic, count, size, compression="none"):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": 1,
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 2_000_000,
        "queue.buffering.max.kbytes": 2_000_000,
        "compression.type": compression,
    })
    failed = 0

    def on_delivery(err, _msg):
        nonlocal failed
        if err is not None:
            failed += 1

    value = b"x" * size
    # Connect and learn the metadata before the clock starts.
    p.list_topics(topic, timeout=10)
    start = time.perf_counter()
    for i in range(count):
        while True:
            try:
                p.produce(topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.001)
        if i % 10_000 == 0:
            p.poll(0)
    p.flush(60)
    elapsed = time.perf_counter() - start
    if failed:
        sys.exit(f"{failed} deliveries failed")
    print(f"produced {count} messages of {size} bytes in {elapsed:.3f} s: "
          f"{count / elapsed:,.0f} msgs/s, {count * size / elapsed / 1e6:,.1f} MB/s")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], args[1], int(args[2]), int(args[3]), *args[4:5])
