"""Producer for mock-broker/tests/confluent.rs (confluent-kafka, librdkafka 2.16).

usage: idempotent_producer.py BOOTSTRAP TOPIC MESSAGES IDEMPOTENT(0|1)

Produces MESSAGES values m0..m(N-1) one batch at a time and waits for every
delivery. Output: DELIVERED n FAILED n
"""
import sys

from confluent_kafka import Producer


def main(bootstrap, topic, count, idempotent):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": idempotent,
        "acks": "all",
        "linger.ms": 0,
        "retry.backoff.ms": 20,
        "reconnect.backoff.ms": 20,
        "message.timeout.ms": 30000,
    })
    delivered = failed = 0

    def report(err, _msg):
        nonlocal delivered, failed
        if err is None:
            delivered += 1
        else:
            failed += 1

    for i in range(count):
        p.produce(topic, value=f"m{i}", on_delivery=report)
        # One message in flight at a time, so each lost answer hits one batch.
        p.flush(30)
    print(f"DELIVERED {delivered} FAILED {failed}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
