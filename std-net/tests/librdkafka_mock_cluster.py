"""Starts librdkafka's own mock cluster (confluent-kafka, `test.mock.num.brokers`)
and serves it until stdin closes: prints `BOOTSTRAP host:port,...` first.

A third-party broker for the std client's bootstrap: its answer to an
ApiVersions version it does not know is not a valid v0 body (KIP-511), which
the client must survive. Usage: python3 librdkafka_mock_cluster.py BROKERS [TOPIC...]
"""
import sys

from confluent_kafka import Producer

brokers = int(sys.argv[1])
# The producer owns the mock cluster; it lives as long as this process.
producer = Producer({"test.mock.num.brokers": brokers, "log_level": 0})
metadata = producer.list_topics(timeout=10)
addrs = ",".join(f"{b.host}:{b.port}" for b in sorted(metadata.brokers.values(), key=lambda b: b.id))
# The mock cluster creates a topic only for a client that allows it in
# Metadata (librdkafka's producer does): one `seed` message creates each.
for topic in sys.argv[2:]:
    producer.produce(topic, b"seed")
if producer.flush(10):
    sys.exit("the seed messages were not delivered")
print(f"BOOTSTRAP {addrs}", flush=True)
sys.stdin.read()
