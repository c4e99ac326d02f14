/*
 * JavaClientCheck: Apache Kafka's Java client (kafka-clients 4.4.0, the
 * reference client) against a Kafka cluster, normally microkafka's mock broker.
 *
 *   java -cp 'target/java-client-check.jar:target/lib/*' \
 *       microkafka.javaclient.JavaClientCheck BOOTSTRAP [PREFIX]
 *
 * What it does, in order (topic and group names start with PREFIX, default
 * "java", so a cluster should not already have them):
 *   1. AdminClient: describeCluster, createTopics (and TopicExistsException on
 *      a duplicate), describeTopics, createPartitions.
 *   2. An idempotent producer (enable.idempotence=true, acks=all) once per
 *      codec (none, gzip, snappy, lz4, zstd): MESSAGES keyed records to a
 *      topic of PARTITIONS partitions, every send's future checked, offsets
 *      increasing per key in send order; flush, close.
 *   3. Classic consumer groups (group.protocol=classic), once with the range
 *      and once with the cooperative-sticky assignor: two consumers in two
 *      threads split the partitions (no record is taken before both own some),
 *      read everything back (each record exactly once, offsets contiguous per
 *      partition, the value the producer was acknowledged at that offset),
 *      commit synchronously and close; the group is described while both are
 *      members; a third consumer resumes from the commits and finds nothing.
 *   4. AdminClient: listOffsets (earliest, latest, by timestamp inside the
 *      compressed batches of each codec and in plain records, max
 *      timestamp), listConsumerGroups, describeConsumerGroups (and
 *      GroupIdNotFoundException for an unknown group, as DescribeGroups v6+
 *      answers), listConsumerGroupOffsets, deleteTopics (and
 *      UnknownTopicOrPartitionException on an unknown topic).
 *
 * It prints one line per check, "OK <what>[: detail]" or "FAIL <what>: <why>",
 * then a summary line, and exits 1 if any check failed (2 on bad usage).
 * The client's own logging (slf4j-simple) goes to stderr at WARN unless
 * -Dorg.slf4j.simpleLogger.defaultLogLevel=debug is given.
 */
package microkafka.javaclient;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class JavaClientCheck {
    static final int PARTITIONS = 6;
    static final int MESSAGES = 2000;
    static final List<String> CODECS = List.of("none", "gzip", "snappy", "lz4", "zstd");
    static final Map<String, String> ASSIGNORS = Map.of(
            "range", "org.apache.kafka.clients.consumer.RangeAssignor",
            "cooperative-sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
    static final Duration GROUP_DEADLINE = Duration.ofSeconds(60);
    static final long TIMEOUT_S = 30;

    final String bootstrap;
    final String orders;   // the produced-to and consumed topic
    final String grow;     // created, grown, deleted
    final String times;    // records with chosen timestamps, for listOffsets
    final String prefix;
    int passed;
    int failed;

    /** What the producers were acknowledged: partition -> offset -> value. */
    final Map<Integer, TreeMap<Long, String>> acked = new ConcurrentHashMap<>();
    /** The timestamps the producers gave them: partition -> offset -> timestamp. */
    final Map<Integer, TreeMap<Long, Long>> ackedTimes = new ConcurrentHashMap<>();

    JavaClientCheck(String bootstrap, String prefix) {
        this.bootstrap = bootstrap;
        this.prefix = prefix;
        this.orders = prefix + "-orders";
        this.grow = prefix + "-grow";
        this.times = prefix + "-times";
    }

    public static void main(String[] args) {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: JavaClientCheck BOOTSTRAP [PREFIX]");
            System.exit(2);
        }
        JavaClientCheck c = new JavaClientCheck(args[0], args.length > 1 ? args[1] : "java");
        long start = System.nanoTime();
        c.runAll();
        System.out.printf("java-client: %d checks OK, %d FAIL in %.1f s%n",
                c.passed, c.failed, (System.nanoTime() - start) / 1e9);
        System.out.flush();
        System.exit(c.failed == 0 ? 0 : 1);
    }

    // ---- reporting ---------------------------------------------------------

    /** A check: returns a detail for the OK line (or null), throws to fail. */
    interface Check {
        String run() throws Exception;
    }

    static final class Failure extends Exception {
        Failure(String msg) {
            super(msg);
        }
    }

    static void expect(boolean ok, String fmt, Object... args) throws Failure {
        if (!ok) {
            throw new Failure(String.format(fmt, args));
        }
    }

    boolean check(String what, Check c) {
        try {
            String detail = c.run();
            System.out.println("OK " + what + (detail == null ? "" : ": " + detail));
            passed++;
            return true;
        } catch (Throwable e) {
            System.out.println("FAIL " + what + ": " + why(e));
            failed++;
            return false;
        } finally {
            System.out.flush();
        }
    }

    /** The exception's class and message, past ExecutionException and bare KafkaException wrappers. */
    static String why(Throwable e) {
        while (e.getCause() != null
                && (e instanceof ExecutionException || e.getClass() == org.apache.kafka.common.KafkaException.class)) {
            e = e.getCause();
        }
        if (e instanceof Failure) {
            return e.getMessage();
        }
        String s = e.getClass().getSimpleName() + ": " + e.getMessage();
        return e.getCause() != null && e.getCause() != e ? s + " (caused by " + why(e.getCause()) + ")" : s;
    }

    /** Fails unless the future fails with an exception of type `want`. */
    static String expectError(Future<?> f, Class<? extends Throwable> want) throws Exception {
        try {
            f.get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            expect(want.isInstance(e.getCause()), "expected %s, got %s", want.getSimpleName(), why(e));
            return want.getSimpleName() + ": " + e.getCause().getMessage();
        }
        throw new Failure("expected " + want.getSimpleName() + ", but it succeeded");
    }

    // ---- the checks ----------------------------------------------------------

    void runAll() {
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        ap.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        ap.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        try (Admin admin = Admin.create(ap)) {
            adminTopics(admin);
            for (String codec : CODECS) {
                check("produce " + codec, () -> produce(codec));
            }
            for (String assignor : List.of("range", "cooperative-sticky")) {
                group(admin, assignor);
            }
            listOffsets(admin);
            adminGroups(admin);
            check("deleteTopics", () -> {
                admin.deleteTopics(List.of(grow)).all().get(TIMEOUT_S, TimeUnit.SECONDS);
                Set<String> left = retry(() -> admin.listTopics().names().get(), s -> !s.contains(grow));
                expect(!left.contains(grow), "%s still listed: %s", grow, left);
                return grow + " deleted";
            });
            check("deleteTopics unknown", () ->
                    expectError(admin.deleteTopics(List.of(prefix + "-nope")).all(),
                            UnknownTopicOrPartitionException.class));
        }
    }

    void adminTopics(Admin admin) {
        check("describeCluster", () -> {
            DescribeClusterResult r = admin.describeCluster();
            Collection<Node> nodes = r.nodes().get(TIMEOUT_S, TimeUnit.SECONDS);
            Node controller = r.controller().get(TIMEOUT_S, TimeUnit.SECONDS);
            String id = r.clusterId().get(TIMEOUT_S, TimeUnit.SECONDS);
            expect(!nodes.isEmpty(), "no nodes");
            expect(id != null && !id.isEmpty(), "no cluster id");
            expect(controller != null && !controller.isEmpty(), "no controller");
            return nodes.size() + " nodes, controller " + controller.id() + ", cluster id " + id;
        });
        check("createTopics", () -> {
            admin.createTopics(List.of(
                    new NewTopic(orders, Optional.of(PARTITIONS), Optional.empty()),
                    new NewTopic(grow, 2, (short) 3),
                    new NewTopic(times, 1, (short) 1))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            return orders + ", " + grow + ", " + times;
        });
        check("createTopics duplicate", () ->
                expectError(admin.createTopics(List.of(new NewTopic(orders, 1, (short) 1))).all(),
                        TopicExistsException.class));
        check("describeTopics", () -> {
            Map<String, TopicDescription> d = admin.describeTopics(List.of(orders, grow, times))
                    .allTopicNames().get(TIMEOUT_S, TimeUnit.SECONDS);
            expect(d.get(orders).partitions().size() == PARTITIONS, "%s: %s", orders, d.get(orders));
            expect(d.get(grow).partitions().size() == 2, "%s: %s", grow, d.get(grow));
            expect(d.get(grow).partitions().get(0).replicas().size() == 3, "%s replicas: %s", grow, d.get(grow));
            for (TopicDescription t : d.values()) {
                expect(!t.topicId().equals(org.apache.kafka.common.Uuid.ZERO_UUID), "%s has no topic id", t.name());
                for (TopicPartitionInfo p : t.partitions()) {
                    expect(p.leader() != null && !p.leader().isEmpty(), "%s-%d has no leader", t.name(), p.partition());
                }
            }
            return d.values().stream().map(t -> t.name() + ":" + t.partitions().size())
                    .sorted().collect(Collectors.joining(" "));
        });
        check("createPartitions", () -> {
            admin.createPartitions(Map.of(grow, NewPartitions.increaseTo(4))).all().get(TIMEOUT_S, TimeUnit.SECONDS);
            int n = retry(() -> admin.describeTopics(List.of(grow)).allTopicNames().get().get(grow).partitions().size(),
                    k -> k == 4);
            expect(n == 4, "%s has %d partitions after growing to 4", grow, n);
            return grow + " 2 -> 4";
        });
    }

    String produce(String codec) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        List<Future<RecordMetadata>> sent = new ArrayList<>(MESSAGES);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            for (int i = 0; i < MESSAGES; i++) {
                sent.add(producer.send(new ProducerRecord<>(orders, key(i), codec + "-" + i)));
            }
            producer.flush();
        }
        Map<String, Long> lastByKey = new HashMap<>();
        Set<Integer> partitions = new TreeSet<>();
        for (int i = 0; i < MESSAGES; i++) {
            RecordMetadata m = sent.get(i).get(TIMEOUT_S, TimeUnit.SECONDS);
            expect(m.hasOffset(), "record %d has no offset", i);
            String prev = acked.computeIfAbsent(m.partition(), k -> new TreeMap<>()).put(m.offset(), codec + "-" + i);
            expect(prev == null, "offset %d of partition %d acknowledged twice (%s)", m.offset(), m.partition(), prev);
            ackedTimes.computeIfAbsent(m.partition(), k -> new TreeMap<>()).put(m.offset(), m.timestamp());
            Long last = lastByKey.put(key(i), m.offset());
            expect(last == null || last < m.offset(), "key %s: offset %d after %d", key(i), m.offset(), last);
            partitions.add(m.partition());
        }
        expect(partitions.size() == PARTITIONS, "keys spread over partitions %s only", partitions);
        return MESSAGES + " acknowledged over " + partitions.size() + " partitions";
    }

    static String key(int i) {
        return "key-" + (i % 97);
    }

    int totalProduced() {
        return acked.values().stream().mapToInt(Map::size).sum();
    }

    // ---- consumer groups -------------------------------------------------------

    Properties consumerProps(String group, String assignor) {
        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        c.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
        c.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, ASSIGNORS.get(assignor));
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
        c.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10000);
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return c;
    }

    String groupId(String assignor) {
        return prefix + "-group-" + assignor;
    }

    /** One of the two group members, polling in its own thread. */
    final class Member implements Runnable, ConsumerRebalanceListener {
        final String name;
        final KafkaConsumer<String, String> consumer;
        final Set<Integer> owned = ConcurrentHashMap.newKeySet();
        /** What it owned when it committed at the end (close revokes everything). */
        volatile Set<Integer> ownedAtEnd = Set.of();
        /** Records taken, in poll order: partition -> offsets. */
        final Map<Integer, List<Long>> taken = new HashMap<>();
        final Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
        final List<String> problems = new ArrayList<>();
        Member other;
        AtomicInteger consumed;
        CountDownLatch committed;
        CountDownLatch mayClose;
        volatile Throwable error;
        volatile boolean commitOk;

        Member(String name, Properties props) {
            this.name = name;
            this.consumer = new KafkaConsumer<>(props);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            parts.forEach(tp -> owned.add(tp.partition()));
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            // Commit what was taken from partitions that move, so the next owner
            // starts after it: nothing is read twice across a rebalance.
            Map<TopicPartition, OffsetAndMetadata> moving = new HashMap<>();
            for (TopicPartition tp : parts) {
                owned.remove(tp.partition());
                if (next.containsKey(tp)) {
                    moving.put(tp, next.get(tp));
                }
            }
            if (!moving.isEmpty()) {
                consumer.commitSync(moving);
            }
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            parts.forEach(tp -> owned.remove(tp.partition()));
        }

        @Override
        public void run() {
            long deadline = System.nanoTime() + GROUP_DEADLINE.toNanos();
            int total = totalProduced();
            try {
                while (consumed.get() < total && System.nanoTime() < deadline) {
                    ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(100));
                    if (owned.isEmpty() || other.owned.isEmpty()) {
                        // Until both members own partitions, take nothing: rewind.
                        for (TopicPartition tp : records.partitions()) {
                            consumer.seek(tp, records.records(tp).get(0).offset());
                        }
                        continue;
                    }
                    for (ConsumerRecord<String, String> r : records) {
                        taken.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.offset());
                        String want = acked.getOrDefault(r.partition(), new TreeMap<>()).get(r.offset());
                        if (!r.value().equals(want) && problems.size() < 5) {
                            problems.add(String.format("%s-%d@%d is %s, the producer was acknowledged %s",
                                    r.topic(), r.partition(), r.offset(), r.value(), want));
                        }
                        next.put(new TopicPartition(r.topic(), r.partition()),
                                new OffsetAndMetadata(r.offset() + 1, r.leaderEpoch(), ""));
                        consumed.incrementAndGet();
                    }
                }
                ownedAtEnd = new TreeSet<>(owned);
                consumer.commitSync(Duration.ofSeconds(TIMEOUT_S));
                commitOk = true;
                next.clear(); // committed: nothing more for the revocation at close
            } catch (Throwable e) {
                error = e;
            } finally {
                committed.countDown();
            }
            try {
                mayClose.await(TIMEOUT_S, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(TIMEOUT_S)));
            } catch (Throwable e) {
                if (error == null) {
                    error = e;
                }
            }
        }
    }

    void group(Admin admin, String assignor) {
        String group = groupId(assignor);
        String tag = "group " + assignor;
        int total = totalProduced();
        Member a = new Member("c1", consumerProps(group, assignor));
        Member b = new Member("c2", consumerProps(group, assignor));
        a.other = b;
        b.other = a;
        AtomicInteger consumed = new AtomicInteger();
        CountDownLatch committed = new CountDownLatch(2);
        CountDownLatch mayClose = new CountDownLatch(1);
        for (Member m : List.of(a, b)) {
            m.consumed = consumed;
            m.committed = committed;
            m.mayClose = mayClose;
            m.consumer.subscribe(List.of(orders), m);
        }
        Thread ta = new Thread(a, group + "-c1");
        Thread tb = new Thread(b, group + "-c2");
        ta.start();
        tb.start();
        try {
            committed.await(GROUP_DEADLINE.toSeconds() + TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // Both members are still in the group here: describe it.
        check(tag + " describe", () -> {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group))
                    .describedGroups().get(group).get(TIMEOUT_S, TimeUnit.SECONDS);
            expect(d.groupState() == GroupState.STABLE, "state %s", d.groupState());
            expect(d.members().size() == 2, "%d members: %s", d.members().size(), d.members());
            expect(d.partitionAssignor().equals(assignor), "assignor %s", d.partitionAssignor());
            Set<Integer> all = new TreeSet<>();
            for (MemberDescription m : d.members()) {
                m.assignment().topicPartitions().forEach(tp -> all.add(tp.partition()));
            }
            expect(all.size() == PARTITIONS, "assigned partitions %s", all);
            return "STABLE, 2 members, " + assignor + ", coordinator " + d.coordinator().id();
        });
        mayClose.countDown();
        try {
            ta.join(TIMEOUT_S * 2000);
            tb.join(TIMEOUT_S * 2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        check(tag + " split", () -> {
            Set<Integer> ownedA = a.ownedAtEnd;
            Set<Integer> ownedB = b.ownedAtEnd;
            expect(!ownedA.isEmpty() && !ownedB.isEmpty(), "c1 owned %s, c2 owned %s", ownedA, ownedB);
            Set<Integer> both = new TreeSet<>(ownedA);
            both.retainAll(ownedB);
            expect(both.isEmpty(), "both owned %s", both);
            Set<Integer> all = new TreeSet<>(ownedA);
            all.addAll(ownedB);
            expect(all.size() == PARTITIONS, "owned together: %s", all);
            return "c1 " + ownedA + " c2 " + ownedB;
        });
        check(tag + " consume", () -> {
            for (Member m : List.of(a, b)) {
                if (m.error != null && !m.commitOk) {
                    throw new Failure(m.name + ": " + why(m.error));
                }
                expect(m.problems.isEmpty(), "%s: %s", m.name, m.problems);
            }
            expect(consumed.get() == total, "%d records taken of %d", consumed.get(), total);
            // Every partition read once, in order: its offsets contiguous from 0.
            for (int p = 0; p < PARTITIONS; p++) {
                List<Long> offsets = new ArrayList<>();
                for (Member m : List.of(a, b)) {
                    offsets.addAll(m.taken.getOrDefault(p, List.of()));
                }
                int size = acked.getOrDefault(p, new TreeMap<>()).size();
                expect(offsets.size() == size, "partition %d: %d records taken, %d produced", p, offsets.size(), size);
                boolean oneMember = !(a.taken.containsKey(p) && b.taken.containsKey(p));
                if (oneMember) {
                    for (int i = 0; i < offsets.size(); i++) {
                        expect(offsets.get(i) == i, "partition %d: record %d has offset %d", p, i, offsets.get(i));
                    }
                } else {
                    expect(new TreeSet<>(offsets).size() == size && offsets.stream().allMatch(o -> o < size),
                            "partition %d taken by both members, with repeats or gaps", p);
                }
            }
            return String.format("%d records, each once, in order (c1 %d, c2 %d)", total,
                    a.taken.values().stream().mapToInt(List::size).sum(),
                    b.taken.values().stream().mapToInt(List::size).sum());
        });
        check(tag + " commit", () -> {
            for (Member m : List.of(a, b)) {
                if (m.error != null) {
                    throw new Failure(m.name + ": " + why(m.error));
                }
            }
            Map<TopicPartition, OffsetAndMetadata> got = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(TIMEOUT_S, TimeUnit.SECONDS);
            for (int p = 0; p < PARTITIONS; p++) {
                OffsetAndMetadata o = got.get(new TopicPartition(orders, p));
                long end = acked.getOrDefault(p, new TreeMap<>()).size();
                expect(o != null && o.offset() == end, "partition %d committed %s, end %d", p, o, end);
            }
            return "committed the end of all " + PARTITIONS + " partitions";
        });
        check(tag + " resume", () -> resume(group, assignor));
    }

    /** A third member of the group: resumes at the commits, finds nothing new. */
    String resume(String group, String assignor) throws Exception {
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(consumerProps(group, assignor))) {
            c.subscribe(List.of(orders));
            long deadline = System.nanoTime() + Duration.ofSeconds(TIMEOUT_S).toNanos();
            int records = 0;
            long quietUntil = Long.MAX_VALUE;
            while (System.nanoTime() < Math.min(deadline, quietUntil)) {
                records += c.poll(Duration.ofMillis(200)).count();
                if (c.assignment().size() == PARTITIONS && quietUntil == Long.MAX_VALUE) {
                    quietUntil = System.nanoTime() + Duration.ofSeconds(2).toNanos();
                }
            }
            expect(c.assignment().size() == PARTITIONS, "assigned %s", c.assignment());
            expect(records == 0, "%d records read again", records);
            for (TopicPartition tp : c.assignment()) {
                long end = acked.getOrDefault(tp.partition(), new TreeMap<>()).size();
                long pos = c.position(tp, Duration.ofSeconds(TIMEOUT_S));
                expect(pos == end, "%s at %d, end %d", tp, pos, end);
            }
        }
        return "all " + PARTITIONS + " partitions at their end, 0 records";
    }

    // ---- admin: offsets and groups ---------------------------------------------

    void listOffsets(Admin admin) {
        Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (int p = 0; p < PARTITIONS; p++) {
            earliest.put(new TopicPartition(orders, p), OffsetSpec.earliest());
            latest.put(new TopicPartition(orders, p), OffsetSpec.latest());
        }
        check("listOffsets earliest", () -> {
            Map<TopicPartition, ListOffsetsResultInfo> r = admin.listOffsets(earliest).all()
                    .get(TIMEOUT_S, TimeUnit.SECONDS);
            for (Map.Entry<TopicPartition, ListOffsetsResultInfo> e : r.entrySet()) {
                expect(e.getValue().offset() == 0, "%s: %d", e.getKey(), e.getValue().offset());
            }
            expect(r.size() == PARTITIONS, "%d answers", r.size());
            return "0 on all " + PARTITIONS + " partitions";
        });
        check("listOffsets latest", () -> {
            Map<TopicPartition, ListOffsetsResultInfo> r = admin.listOffsets(latest).all()
                    .get(TIMEOUT_S, TimeUnit.SECONDS);
            for (Map.Entry<TopicPartition, ListOffsetsResultInfo> e : r.entrySet()) {
                long end = acked.getOrDefault(e.getKey().partition(), new TreeMap<>()).size();
                expect(e.getValue().offset() == end, "%s: %d, produced %d", e.getKey(), e.getValue().offset(), end);
            }
            expect(r.size() == PARTITIONS, "%d answers", r.size());
            return "the end of all " + PARTITIONS + " partitions (" + totalProduced() + " records)";
        });

        // Inside compressed batches: for each codec, the timestamp of the
        // middle record it wrote to each partition; the answer is the first
        // offset with that timestamp (records share milliseconds).
        check("listOffsets timestamp compressed", () -> {
            int lookups = 0;
            for (String codec : CODECS) {
                Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
                Map<TopicPartition, Long> want = new HashMap<>();
                for (int p = 0; p < PARTITIONS; p++) {
                    List<Long> mine = acked.get(p).entrySet().stream()
                            .filter(e -> e.getValue().startsWith(codec + "-")).map(Map.Entry::getKey).toList();
                    long target = ackedTimes.get(p).get(mine.get(mine.size() / 2));
                    long first = ackedTimes.get(p).entrySet().stream()
                            .filter(e -> e.getValue() >= target).findFirst().orElseThrow().getKey();
                    specs.put(new TopicPartition(orders, p), OffsetSpec.forTimestamp(target));
                    want.put(new TopicPartition(orders, p), first);
                }
                Map<TopicPartition, ListOffsetsResultInfo> got = admin.listOffsets(specs).all()
                        .get(TIMEOUT_S, TimeUnit.SECONDS);
                for (Map.Entry<TopicPartition, Long> e : want.entrySet()) {
                    long o = got.get(e.getKey()).offset();
                    expect(o == e.getValue(), "%s %s: offset %d, want %d", codec, e.getKey(), o, e.getValue());
                    lookups++;
                }
            }
            return lookups + " lookups, one per codec and partition";
        });

        // Ten records one second apart, in the past, for the timestamp lookups.
        TopicPartition tp = new TopicPartition(times, 0);
        long base = System.currentTimeMillis() - 60_000;
        boolean timed = check("produce timestamps", () -> {
            Properties p = new Properties();
            p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ProducerConfig.ACKS_CONFIG, "all");
            p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                for (int i = 0; i < 10; i++) {
                    RecordMetadata m = producer.send(new ProducerRecord<>(times, 0, base + i * 1000L, null, "t" + i))
                            .get(TIMEOUT_S, TimeUnit.SECONDS);
                    expect(m.offset() == i, "record %d at offset %d", i, m.offset());
                }
            }
            return "10 records at base+0s..base+9s";
        });
        if (!timed) {
            return;
        }
        check("listOffsets timestamp", () -> {
            ListOffsetsResultInfo mid = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(base + 2500)))
                    .partitionResult(tp).get(TIMEOUT_S, TimeUnit.SECONDS);
            expect(mid.offset() == 3 && mid.timestamp() == base + 3000,
                    "base+2.5s: offset %d timestamp base%+d, want offset 3 at base+3000", mid.offset(),
                    mid.timestamp() - base);
            ListOffsetsResultInfo first = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(base - 5000)))
                    .partitionResult(tp).get(TIMEOUT_S, TimeUnit.SECONDS);
            expect(first.offset() == 0, "before the first: offset %d, want 0", first.offset());
            ListOffsetsResultInfo after = admin.listOffsets(Map.of(tp, OffsetSpec.forTimestamp(base + 60_000)))
                    .partitionResult(tp).get(TIMEOUT_S, TimeUnit.SECONDS);
            expect(after.offset() == -1, "after the last: offset %d timestamp %d, want -1", after.offset(),
                    after.timestamp());
            return "base+2.5s -> 3, before -> 0, after -> -1";
        });
        check("listOffsets max-timestamp", () -> {
            ListOffsetsResultInfo max = admin.listOffsets(Map.of(tp, OffsetSpec.maxTimestamp()))
                    .partitionResult(tp).get(TIMEOUT_S, TimeUnit.SECONDS);
            expect(max.offset() == 9 && max.timestamp() == base + 9000, "offset %d timestamp base%+d",
                    max.offset(), max.timestamp() - base);
            return "offset 9";
        });
    }

    @SuppressWarnings("deprecation") // listConsumerGroups: the brief's API, still in 4.x
    void adminGroups(Admin admin) {
        Set<String> ours = new TreeSet<>();
        ASSIGNORS.keySet().forEach(a -> ours.add(groupId(a)));
        check("listConsumerGroups", () -> {
            Collection<ConsumerGroupListing> all = admin.listConsumerGroups().all().get(TIMEOUT_S, TimeUnit.SECONDS);
            Map<String, ConsumerGroupListing> byId = all.stream()
                    .collect(Collectors.toMap(ConsumerGroupListing::groupId, g -> g));
            for (String g : ours) {
                expect(byId.containsKey(g), "%s not listed: %s", g, byId.keySet());
                ConsumerGroupListing l = byId.get(g);
                expect(l.groupState().isEmpty() || l.groupState().get() == GroupState.EMPTY, "%s: state %s", g,
                        l.groupState());
                expect(l.type().isEmpty() || l.type().get() == GroupType.CLASSIC, "%s: type %s", g, l.type());
                expect(!l.isSimpleConsumerGroup(), "%s: listed as a simple group", g);
            }
            return ours.stream().map(g -> g + ":" + byId.get(g).groupState().map(Object::toString).orElse("?"))
                    .collect(Collectors.joining(" "));
        });
        check("describeConsumerGroups", () -> {
            Map<String, ConsumerGroupDescription> d = admin.describeConsumerGroups(ours).all()
                    .get(TIMEOUT_S, TimeUnit.SECONDS);
            for (String g : ours) {
                ConsumerGroupDescription g1 = d.get(g);
                expect(g1 != null, "%s not described", g);
                expect(g1.groupState() == GroupState.EMPTY, "%s: state %s", g, g1.groupState());
                expect(g1.members().isEmpty(), "%s: members %s", g, g1.members());
                expect(!g1.isSimpleConsumerGroup(), "%s: described as a simple group", g);
            }
            return "both EMPTY, no members";
        });
        // DescribeGroups v6 (KIP-1043) answers GROUP_ID_NOT_FOUND for an unknown
        // group; up to v5 (Kafka 3.x, and the mock broker, whose codecs end at
        // the 3.9 schemas) the group is described as DEAD, which the Java
        // client passes on as such. Either is what Kafka does at that version.
        check("describeConsumerGroups unknown", () -> {
            String nope = prefix + "-group-nope";
            try {
                ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(nope)).all()
                        .get(TIMEOUT_S, TimeUnit.SECONDS).get(nope);
                expect(d.groupState() == GroupState.DEAD, "%s: %s", nope, d);
                return "DEAD (DescribeGroups v5 or older)";
            } catch (ExecutionException e) {
                expect(e.getCause() instanceof GroupIdNotFoundException, "got %s", why(e));
                return "GroupIdNotFoundException (DescribeGroups v6)";
            }
        });
        check("listConsumerGroupOffsets", () -> {
            for (String g : ours) {
                Map<TopicPartition, OffsetAndMetadata> got = admin.listConsumerGroupOffsets(g)
                        .partitionsToOffsetAndMetadata().get(TIMEOUT_S, TimeUnit.SECONDS);
                expect(got.size() == PARTITIONS, "%s: %d partitions: %s", g, got.size(), got);
                for (Map.Entry<TopicPartition, OffsetAndMetadata> e : got.entrySet()) {
                    long end = acked.getOrDefault(e.getKey().partition(), new TreeMap<>()).size();
                    expect(e.getValue().offset() == end, "%s %s: %d, end %d", g, e.getKey(), e.getValue().offset(), end);
                }
            }
            return "both groups at the end of all " + PARTITIONS + " partitions";
        });
    }

    // ---- helpers ----------------------------------------------------------------

    interface Get<T> {
        T get() throws Exception;
    }

    /** Metadata settles asynchronously in Kafka: asks again for up to 10 s. */
    static <T> T retry(Get<T> get, java.util.function.Predicate<T> done) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        T v = get.get();
        while (!done.test(v) && System.nanoTime() < deadline) {
            Thread.sleep(200);
            v = get.get();
        }
        return v;
    }
}
