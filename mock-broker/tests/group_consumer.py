"""Consumer-group scenarios for mock-broker/tests/confluent.rs (confluent-kafka, librdkafka 2.16).

usage: group_consumer.py split BOOTSTRAP TOPIC GROUP PARTITIONS TOTAL FIRST
       group_consumer.py resume BOOTSTRAP TOPIC GROUP PARTITIONS

split:  two members join GROUP and must split TOPIC's partitions between them;
        then TOTAL messages are produced, the members consume at least FIRST of
        them, commit their positions synchronously and leave.
resume: one member of GROUP consumes from the committed offsets to the end of
        every partition, commits and leaves.

Output lines (stdout): ASSIGN <member> <p,p,...> | MSG <member> <partition> <offset> <value>
| LISTED <group> <state> (ListGroups) | DESCRIBED <group> <state> <members> <partitions assigned>
(DescribeGroups, through the AdminClient while the split group is stable)
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

DEADLINE_S = 60


def consumer(bootstrap, group, name, eof=False):
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "heartbeat.interval.ms": 250,
        "session.timeout.ms": 6000,
        "enable.partition.eof": eof,
    })


def record(name, msg):
    print(f"MSG {name} {msg.partition()} {msg.offset()} {msg.value().decode()}", flush=True)


def describe(bootstrap, group, members):
    """ListGroups and DescribeGroups through the AdminClient, members kept alive."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    listed = admin.list_consumer_groups(request_timeout=10)
    for _ in range(50):
        for c in members.values():
            c.poll(0.01)
        if listed.done():
            break
    for g in listed.result().valid:
        print(f"LISTED {g.group_id} {g.state.name}", flush=True)
    described = admin.describe_consumer_groups([group], request_timeout=10)[group]
    for _ in range(50):
        for c in members.values():
            c.poll(0.01)
        if described.done():
            break
    d = described.result()
    assigned = sum(len(m.assignment.topic_partitions) for m in d.members)
    print(f"DESCRIBED {d.group_id} {d.state.name} {len(d.members)} {assigned}", flush=True)


def split(bootstrap, topic, group, partitions, total, first):
    members = {name: consumer(bootstrap, group, name) for name in ("c1", "c2")}
    for c in members.values():
        c.subscribe([topic])
    deadline = time.time() + DEADLINE_S
    # Poll both until the group has settled with both members sharing the topic.
    while True:
        for name, c in members.items():
            msg = c.poll(0.05)
            if msg is not None and not msg.error():
                record(name, msg)
        owned = [{p.partition for p in c.assignment()} for c in members.values()]
        if all(owned) and not owned[0] & owned[1] and len(owned[0] | owned[1]) == partitions:
            break
        if time.time() > deadline:
            sys.exit(f"group did not settle: assignments {owned}")
    for name, c in members.items():
        print(f"ASSIGN {name} {','.join(str(p.partition) for p in sorted(c.assignment(), key=lambda p: p.partition))}", flush=True)
    describe(bootstrap, group, members)

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(total):
        producer.produce(topic, key=f"k{i}", value=f"m{i}")
    if producer.flush(30) != 0:
        sys.exit("produce did not complete")

    consumed = 0
    while consumed < first:
        for name, c in members.items():
            msg = c.poll(0.05)
            if msg is not None and not msg.error():
                record(name, msg)
                consumed += 1
        if time.time() > deadline:
            sys.exit(f"consumed only {consumed} of {first}")
    for c in members.values():
        try:
            c.commit(asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                raise
    for c in members.values():
        c.close()


def resume(bootstrap, topic, group, partitions):
    c = consumer(bootstrap, group, "c3", eof=True)
    c.subscribe([topic])
    at_end = set()
    deadline = time.time() + DEADLINE_S
    while len(at_end) < partitions:
        msg = c.poll(0.1)
        if msg is None:
            pass
        elif msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(msg.partition())
            else:
                sys.exit(f"consumer error: {msg.error()}")
        else:
            record("c3", msg)
            at_end.discard(msg.partition())
        if time.time() > deadline:
            sys.exit(f"only {sorted(at_end)} reached the end")
    print(f"ASSIGN c3 {','.join(str(p.partition) for p in sorted(c.assignment(), key=lambda p: p.partition))}", flush=True)
    try:
        c.commit(asynchronous=False)
    except KafkaException as e:
        if e.args[0].code() != KafkaError._NO_OFFSET:
            raise
    c.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "split":
        split(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
    elif mode == "resume":
        resume(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(__doc__)
