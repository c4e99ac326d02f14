"""A librdkafka group member for std-net/tests/mixed_group.rs (confluent-kafka 2.16).

usage: mixed_group_member.py BOOTSTRAP TOPIC GROUP STRATEGY

Joins GROUP with partition.assignment.strategy STRATEGY (range,
cooperative-sticky...) and consumes TOPIC from the committed offsets (else
the earliest), committing each message synchronously after it is printed,
until a line "stop" arrives on stdin; then it closes (leaving the group).

Output lines (stdout, flushed):
  ASSIGN p,p,...        the full assignment after every change
  MSG partition offset value
  CLOSED
"""
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

DEADLINE_S = 120


def main(bootstrap, topic, group, strategy):
    stop = threading.Event()

    def watch_stdin():
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": "librdkafka-member",
        "partition.assignment.strategy": strategy,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "heartbeat.interval.ms": 100,
        "session.timeout.ms": 6000,
        "max.poll.interval.ms": 10000,
    })
    owned = set()

    def report():
        print("ASSIGN " + ",".join(str(p) for p in sorted(owned)), flush=True)

    def on_assign(c, partitions):
        owned.update(p.partition for p in partitions)
        if strategy == "cooperative-sticky":
            c.incremental_assign(partitions)
        else:
            c.assign(partitions)
        report()

    def on_revoke(c, partitions):
        owned.difference_update(p.partition for p in partitions)
        if strategy == "cooperative-sticky":
            c.incremental_unassign(partitions)
        else:
            c.unassign()
        report()

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    deadline = time.time() + DEADLINE_S
    while not stop.is_set():
        if time.time() > deadline:
            sys.exit("never told to stop")
        msg = consumer.poll(0.05)
        if msg is None:
            continue
        if msg.error():
            print(f"ERROR {msg.error()}", file=sys.stderr, flush=True)
            continue
        print(f"MSG {msg.partition()} {msg.offset()} {msg.value().decode()}", flush=True)
        try:
            consumer.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            print(f"COMMIT FAILED {e}", file=sys.stderr, flush=True)
    consumer.close()
    print("CLOSED", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
