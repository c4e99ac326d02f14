"""AdminClient scenario for mock-broker/tests/confluent.rs (confluent-kafka, librdkafka 2.16).

usage: admin.py BOOTSTRAP

Creates adm-a (4 partitions) and adm-b (2 partitions, replication 2), fails to
create adm-a again, grows adm-a to 6 partitions, deletes adm-b, fails to delete
an unknown topic, listing topics between steps.

Output lines: CREATED t | ERROR op t CODE | GREW t | DELETED t | TOPICS t:n,t:n...
"""
import sys

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic


def topics(admin):
    md = admin.list_topics(timeout=10)
    listed = ",".join(f"{name}:{len(t.partitions)}" for name, t in sorted(md.topics.items()))
    print(f"TOPICS {listed}", flush=True)


def each(futures, ok, op):
    for name, f in sorted(futures.items()):
        try:
            f.result()
            print(f"{ok} {name}", flush=True)
        except KafkaException as e:
            print(f"ERROR {op} {name} {e.args[0].name()}", flush=True)


def main(bootstrap):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    each(admin.create_topics([NewTopic("adm-a", 4, 1), NewTopic("adm-b", 2, 2)], operation_timeout=10), "CREATED", "create")
    topics(admin)
    each(admin.create_topics([NewTopic("adm-a", 1, 1)], operation_timeout=10), "CREATED", "create")
    each(admin.create_partitions([NewPartitions("adm-a", 6)], operation_timeout=10), "GREW", "grow")
    topics(admin)
    each(admin.delete_topics(["adm-b"], operation_timeout=10), "DELETED", "delete")
    each(admin.delete_topics(["adm-nope"], operation_timeout=10), "DELETED", "delete")
    topics(admin)


if __name__ == "__main__":
    main(sys.argv[1])
