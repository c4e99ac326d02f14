"""Produce and consume in a group over a secured listener, for mock-broker/tests/confluent.rs
(confluent-kafka, librdkafka 2.16).

usage: secure_clients.py BOOTSTRAP TOPIC GROUP COUNT SETTINGS_JSON

SETTINGS_JSON is an object of librdkafka settings added to every client
(security.protocol, sasl.*, ssl.*). COUNT messages are produced (acks all),
then one consumer in GROUP reads them all from the earliest offset, commits
synchronously and leaves.

Output lines (stdout): PRODUCED <n> | CONSUMED <n> | VALUES <first>..<last> | COMMITTED <offset>
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer

DEADLINE_S = 60


def main(bootstrap, topic, group, count, settings):
    common = {"bootstrap.servers": bootstrap, **settings}
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)

    producer = Producer({**common, "acks": "all", "linger.ms": 5})
    for i in range(count):
        producer.produce(topic, key=f"k{i}", value=f"m{i}", on_delivery=delivered)
        producer.poll(0)
    if producer.flush(30) != 0 or errors:
        sys.exit(f"produce did not complete: {errors[:3]}")
    print(f"PRODUCED {count}", flush=True)

    consumer = Consumer({
        **common,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    })
    consumer.subscribe([topic])
    values = []
    deadline = time.time() + DEADLINE_S
    while len(values) < count:
        if time.time() > deadline:
            sys.exit(f"consumed only {len(values)} of {count}")
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            sys.exit(f"consumer error: {msg.error()}")
        values.append(msg.value().decode())
    committed = consumer.commit(asynchronous=False)
    consumer.close()
    print(f"CONSUMED {len(values)}", flush=True)
    print(f"VALUES {values[0]}..{values[-1]}", flush=True)
    print(f"COMMITTED {max(tp.offset for tp in committed)}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5]))
