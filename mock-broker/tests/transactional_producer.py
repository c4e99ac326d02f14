"""Transactions for mock-broker/tests/confluent.rs (confluent-kafka, librdkafka 2.16).

usage: transactional_producer.py BOOTSTRAP TOPIC PARTITIONS GROUP TRANSACTIONS

A transactional producer runs TRANSACTIONS transactions over every
partition of TOPIC, committing the even ones and aborting the odd ones;
each committed one also commits an offset for GROUP (a consumer group's
metadata, as a consume-transform-produce loop does). Values are
`c<txn>-<partition>-<k>` (committed) and `a<txn>-<partition>-<k>`
(aborted). Then the topic is read from the start twice, by assignment:
read_committed and read_uncommitted.

Output:
  COMMITTED v,v,...     what read_committed returned, in partition order
  UNCOMMITTED v,v,...   what read_uncommitted returned
  DONE
"""
import sys

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

PER_PARTITION = 3


def read_all(bootstrap, topic, partitions, isolation):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"reader-{isolation}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": isolation,
        "auto.offset.reset": "earliest",
    })
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    values, at_end = [], set()
    while len(at_end) < partitions:
        m = c.poll(10)
        if m is None:
            raise SystemExit(f"{isolation}: no end of partition after 10 s")
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_end.add(m.partition())
                continue
            raise SystemExit(f"{isolation}: {m.error()}")
        values.append((m.partition(), m.offset(), m.value().decode()))
    c.close()
    return [v for _, _, v in sorted(values)]


def main(bootstrap, topic, partitions, group, transactions):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": f"{topic}-producer",
        "transaction.timeout.ms": 30000,
        "linger.ms": 5,
        "retry.backoff.ms": 20,
        "reconnect.backoff.ms": 20,
    })
    p.init_transactions(30)
    # The consumer whose offsets the transactions commit (never subscribes:
    # its metadata has no member id or generation).
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
    })
    for txn in range(transactions):
        commit = txn % 2 == 0
        p.begin_transaction()
        for part in range(partitions):
            for k in range(PER_PARTITION):
                tag = "c" if commit else "a"
                p.produce(topic, value=f"{tag}{txn}-{part}-{k}", partition=part)
        if commit:
            offsets = [TopicPartition(topic, part, 100 + txn) for part in range(partitions)]
            p.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
            p.commit_transaction(30)
        else:
            # Delivered first, so the aborted records are in the log
            # (abort_transaction drops what is still queued).
            if p.flush(30) != 0:
                raise SystemExit("aborted transaction's records not delivered")
            p.abort_transaction(30)
    consumer.close()
    print("COMMITTED " + ",".join(read_all(bootstrap, topic, partitions, "read_committed")), flush=True)
    print("UNCOMMITTED " + ",".join(read_all(bootstrap, topic, partitions, "read_uncommitted")), flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
