//! Topics and partitions: names, ids, replica placement, leaders, logs, and
//! the idempotent-producer sequence state of each partition.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use microkafka_core::wire::Uuid;
use microkafka_core::ErrorCode;

use crate::log::PartitionLog;
use crate::topic_config::TopicConfigs;

/// One partition: its log and who leads it.
#[derive(Debug)]
pub(crate) struct Partition {
    pub(crate) log: PartitionLog,
    /// The leader's node id, -1 when every replica is down.
    pub(crate) leader: i32,
    /// Bumped on every leader change, so clients holding an old epoch are fenced.
    pub(crate) leader_epoch: i32,
    /// Node ids holding a replica; the first live one leads after a failure.
    pub(crate) replicas: Vec<i32>,
    producers: HashMap<i64, ProducerState>,
    /// Open transactions with data here: producer id → the offset of its
    /// first batch in the transaction (what holds the last stable offset).
    pub(crate) open_txns: BTreeMap<i64, i64>,
    /// Aborted transactions, in the order their markers were written:
    /// `(producer id, first offset, marker offset)` (Kafka's transaction
    /// index). Entries below the log start go with retention, so they are
    /// bounded by the markers the log holds.
    pub(crate) aborted_txns: VecDeque<(i64, i64, i64)>,
    /// Transactional producers whose batch here is being verified with the
    /// transaction coordinator (KIP-890), with the lowest first sequence
    /// tried: until one is appended, a batch starting above it is out of
    /// order (Kafka's `VerificationStateEntry`). At most as many as the
    /// producers kept per partition.
    verifying: HashMap<i64, i32>,
}

/// The last batches an idempotent producer wrote to a partition (Kafka keeps 5).
#[derive(Debug)]
struct ProducerState {
    epoch: i16,
    /// `(first sequence, last sequence, base offset)`, oldest first.
    recent: VecDeque<(i32, i32, i64)>,
    /// When it last wrote here (expiry and least-recently-used eviction).
    last_write: Instant,
}

/// How long and how many producers' sequence state a partition keeps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProducerRetention {
    pub(crate) max_producers: usize,
    pub(crate) expiration: Duration,
}

/// What the sequence check says about an idempotent batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sequence {
    /// Append it.
    Append,
    /// Already written at this base offset: answer success without appending.
    Duplicate(i64),
    /// Refuse it with this error.
    Reject(ErrorCode),
}

/// How many recent batches per producer are remembered for duplicate detection.
const PRODUCER_BATCHES_KEPT: usize = 5;

impl Partition {
    /// The last stable offset: the first offset of the oldest open
    /// transaction, else the high watermark.
    pub(crate) fn last_stable_offset(&self) -> i64 {
        self.open_txns
            .values()
            .copied()
            .min()
            .unwrap_or_else(|| self.log.end_offset())
    }

    /// The aborted transactions a read_committed fetch of `from..upper`
    /// must hear of: those that end at or after `from` and start below
    /// `upper`, oldest first (Kafka's `collectAbortedTransactions`).
    pub(crate) fn aborted_between(&self, from: i64, upper: i64) -> Vec<(i64, i64)> {
        self.aborted_txns
            .iter()
            .filter(|&&(_, first, last)| last >= from && first < upper)
            .map(|&(producer, first, _)| (producer, first))
            .collect()
    }

    /// A transaction marker of `producer` at `offset` (epoch `epoch`) ends
    /// its open transaction here; an abort is indexed. A marker's epoch
    /// also fences the producer's older epochs, as Kafka's producer state.
    pub(crate) fn end_txn(&mut self, producer: i64, epoch: i16, offset: i64, commit: bool) {
        if let Some(first) = self.open_txns.remove(&producer) {
            if !commit {
                self.aborted_txns.push_back((producer, first, offset));
            }
        }
        let log_start = self.log.log_start();
        while self
            .aborted_txns
            .front()
            .is_some_and(|&(_, _, last)| last < log_start)
        {
            self.aborted_txns.pop_front();
        }
        self.verifying.remove(&producer);
        if let Some(state) = self.producers.get_mut(&producer) {
            if epoch > state.epoch {
                state.epoch = epoch;
                state.recent.clear();
            }
        }
    }

    /// A transactional batch of `producer` starting at sequence `first`
    /// is being verified here.
    pub(crate) fn start_verification(&mut self, producer: i64, first: i32, max: usize) {
        if !self.verifying.contains_key(&producer) && self.verifying.len() >= max.max(1) {
            if let Some(&any) = self.verifying.keys().next() {
                self.verifying.remove(&any);
            }
        }
        let lowest = self.verifying.entry(producer).or_insert(first);
        *lowest = (*lowest).min(first);
    }

    /// False when a batch of `producer` starting at `first` skips past the
    /// lowest sequence verified and not appended yet.
    pub(crate) fn verified_sequence(&self, producer: i64, first: i32) -> bool {
        self.verifying
            .get(&producer)
            .is_none_or(|&lowest| first <= lowest)
    }

    /// Checks an idempotent batch's producer epoch and sequence against the
    /// batches this producer wrote before, as Kafka's `ProducerStateManager`.
    pub(crate) fn check_sequence(
        &self,
        producer_id: i64,
        epoch: i16,
        first: i32,
        last: i32,
    ) -> Sequence {
        let Some(state) = self.producers.get(&producer_id) else {
            // A producer new to this partition may start anywhere (its earlier
            // batches may have been removed by retention).
            return Sequence::Append;
        };
        if epoch < state.epoch {
            return Sequence::Reject(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        if epoch > state.epoch {
            return if first == 0 {
                Sequence::Append
            } else {
                Sequence::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        if let Some(&(_, _, base)) = state
            .recent
            .iter()
            .find(|(f, l, _)| *f == first && *l == last)
        {
            return Sequence::Duplicate(base);
        }
        match state.recent.back() {
            Some(&(_, prev_last, _)) if first != (prev_last.wrapping_add(1) & i32::MAX) => {
                Sequence::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            }
            _ => Sequence::Append,
        }
    }

    /// Remembers an appended idempotent batch. A producer new to the
    /// partition first makes room: states idle past their expiration go (as
    /// Kafka's `producer.id.expiration.ms`), then, at the limit, the least
    /// recently used one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_sequence(
        &mut self,
        producer_id: i64,
        epoch: i16,
        first: i32,
        last: i32,
        base: i64,
        now: Instant,
        keep: ProducerRetention,
    ) {
        self.verifying.remove(&producer_id);
        if !self.producers.contains_key(&producer_id) {
            self.producers
                .retain(|_, s| now.saturating_duration_since(s.last_write) < keep.expiration);
            while self.producers.len() >= keep.max_producers.max(1) {
                let oldest = self
                    .producers
                    .iter()
                    .min_by_key(|(_, s)| s.last_write)
                    .map(|(&id, _)| id);
                match oldest {
                    Some(id) => self.producers.remove(&id),
                    None => break,
                };
            }
        }
        let state = self.producers.entry(producer_id).or_insert(ProducerState {
            epoch,
            recent: VecDeque::new(),
            last_write: now,
        });
        state.last_write = now;
        if epoch != state.epoch {
            state.epoch = epoch;
            state.recent.clear();
        }
        if state.recent.len() == PRODUCER_BATCHES_KEPT {
            state.recent.pop_front();
        }
        state.recent.push_back((first, last, base));
    }
}

/// A topic.
#[derive(Debug)]
pub(crate) struct Topic {
    pub(crate) name: String,
    pub(crate) id: Uuid,
    pub(crate) partitions: Vec<Partition>,
    /// Per-topic `retention.bytes` from CreateTopics configs, if set.
    retention_bytes: Option<usize>,
    /// Per-topic `max.message.bytes` from CreateTopics configs, if set
    /// (otherwise Kafka's default, `DEFAULT_MAX_MESSAGE_BYTES`).
    pub(crate) max_message_bytes: Option<usize>,
    /// The config overrides (CreateTopics, AlterConfigs,
    /// IncrementalAlterConfigs); the two fields above follow them.
    pub(crate) configs: TopicConfigs,
}

impl Topic {
    /// Replaces the topic's config overrides and applies what the broker
    /// acts on at once: `max.message.bytes` for the next Produce,
    /// `retention.bytes` on every partition (`default_retention` when not
    /// set: the broker's per-partition limit). Returns the log bytes
    /// `(before, after)`, for the cluster's retained-bytes count.
    pub(crate) fn set_configs(
        &mut self,
        configs: TopicConfigs,
        default_retention: usize,
    ) -> (usize, usize) {
        self.max_message_bytes = configs.max_message_bytes();
        self.retention_bytes = configs
            .retention_bytes()
            .map(|limit| limit.unwrap_or(usize::MAX));
        self.configs = configs;
        let retention = self.retention_bytes.unwrap_or(default_retention);
        let mut before = 0;
        let mut after = 0;
        for p in &mut self.partitions {
            before += p.log.size_bytes();
            p.log.set_retention_bytes(retention);
            after += p.log.size_bytes();
        }
        (before, after)
    }
}

/// Settings a new partition's log needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogSettings {
    pub(crate) retention_bytes: usize,
    pub(crate) segment_bytes: usize,
}

/// All topics, by name and by id.
#[derive(Debug, Default)]
pub(crate) struct Topics {
    by_name: BTreeMap<String, Topic>,
    names_by_id: HashMap<Uuid, String>,
    /// Rotates the first replica of each new topic across brokers, as Kafka does.
    next_placement: usize,
    /// Partitions across every topic (kept, not summed: limits check it per topic created).
    partition_count: usize,
    /// Log bytes across every partition.
    retained_bytes: usize,
    /// Topics whose configs give the log cleaner work (see
    /// [`TopicConfigs::needs_cleaning`]), so an idle pass costs nothing.
    cleaning: BTreeSet<String>,
}

impl Topics {
    pub(crate) fn get(&self, name: &str) -> Option<&Topic> {
        self.by_name.get(name)
    }

    /// How many topics there are.
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Log bytes held across every partition.
    pub(crate) fn retained_bytes(&self) -> usize {
        self.retained_bytes
    }

    /// Records that a partition's log went from `before` to `after` bytes,
    /// then drops the oldest closed segments of the largest logs while the
    /// total is over `max` (retention across partitions).
    pub(crate) fn log_changed(&mut self, before: usize, after: usize, max: usize) {
        self.retained_bytes = (self.retained_bytes + after).saturating_sub(before);
        while self.retained_bytes > max {
            let largest = self
                .by_name
                .values_mut()
                .flat_map(|t| t.partitions.iter_mut())
                .max_by_key(|p| p.log.size_bytes());
            let freed = largest.map_or(0, |p| p.log.drop_oldest_segment());
            if freed == 0 {
                break; // only active segments left
            }
            self.retained_bytes -= freed;
        }
    }

    /// The log cleaner's pass, run on the cluster's timer: for each topic
    /// with work ([`TopicConfigs::needs_cleaning`]), rolls active segments
    /// older than `segment.ms`, drops segments past `retention.ms` (policy
    /// `delete`) and compacts closed segments (policy `compact`, tombstones
    /// kept `delete.retention.ms`). Returns true when a log changed.
    pub(crate) fn clean(&mut self, now_ms: i64, max_inflated: usize) -> bool {
        let mut changed = false;
        let mut before = 0;
        let mut after = 0;
        for name in &self.cleaning {
            let Some(topic) = self.by_name.get_mut(name) else {
                continue;
            };
            let configs = &topic.configs;
            let retention = configs.retention_ms().filter(|_| configs.delete());
            let compact = configs
                .compact()
                .then(|| now_ms.saturating_sub(configs.delete_retention_ms()));
            let segment_ms = configs.segment_ms();
            for p in &mut topic.partitions {
                let size = p.log.size_bytes();
                p.log.roll_if_older(now_ms, segment_ms);
                if let Some(ms) = retention {
                    changed |= p.log.expire_before(now_ms.saturating_sub(ms));
                }
                if let Some(horizon) = compact {
                    changed |= p.log.compact(horizon, max_inflated);
                }
                before += size;
                after += p.log.size_bytes();
            }
        }
        self.retained_bytes = (self.retained_bytes + after).saturating_sub(before);
        changed
    }

    /// True when some topic has work for [`clean`](Self::clean).
    pub(crate) fn needs_cleaning(&self) -> bool {
        !self.cleaning.is_empty()
    }

    /// Replaces a topic's config overrides ([`Topic::set_configs`]); false
    /// for an unknown topic.
    pub(crate) fn set_configs(
        &mut self,
        name: &str,
        configs: TopicConfigs,
        default_retention: usize,
    ) -> bool {
        let Some(topic) = self.by_name.get_mut(name) else {
            return false;
        };
        if configs.needs_cleaning() {
            self.cleaning.insert(name.to_owned());
        } else {
            self.cleaning.remove(name);
        }
        let (before, after) = topic.set_configs(configs, default_retention);
        self.shrunk(before, after);
        true
    }

    /// Records that logs went from `before` to `after` bytes (a config
    /// change or DeleteRecords shrank them).
    pub(crate) fn shrunk(&mut self, before: usize, after: usize) {
        self.retained_bytes = (self.retained_bytes + after).saturating_sub(before);
    }

    /// How many partitions there are, across every topic.
    pub(crate) fn partition_count(&self) -> usize {
        self.partition_count
    }

    pub(crate) fn name_of(&self, id: Uuid) -> Option<&str> {
        self.names_by_id.get(&id).map(String::as_str)
    }

    pub(crate) fn partition(&self, name: &str, index: i32) -> Option<&Partition> {
        let i = usize::try_from(index).ok()?;
        self.by_name.get(name)?.partitions.get(i)
    }

    pub(crate) fn partition_mut(&mut self, name: &str, index: i32) -> Option<&mut Partition> {
        let i = usize::try_from(index).ok()?;
        self.by_name.get_mut(name)?.partitions.get_mut(i)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Topic> {
        self.by_name.values()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Topic> {
        self.by_name.values_mut()
    }

    /// Creates a topic of `partitions` partitions placed by `placement`.
    pub(crate) fn create(
        &mut self,
        name: &str,
        id: Uuid,
        partitions: usize,
        retention_bytes: Option<usize>,
        placement: &Placement<'_>,
    ) -> &Topic {
        let mut topic = Topic {
            name: name.to_owned(),
            id,
            partitions: Vec::new(),
            retention_bytes,
            max_message_bytes: None,
            configs: TopicConfigs::default(),
        };
        let first = self.next_placement;
        self.next_placement = self.next_placement.wrapping_add(1);
        topic.grow(partitions, first, placement);
        self.partition_count += partitions;
        self.names_by_id.insert(id, topic.name.clone());
        self.by_name.entry(topic.name.clone()).or_insert(topic)
    }

    /// Grows a topic to `count` partitions.
    pub(crate) fn add_partitions(&mut self, name: &str, count: usize, placement: &Placement<'_>) {
        let first = self.next_placement;
        if let Some(topic) = self.by_name.get_mut(name) {
            let more = count.saturating_sub(topic.partitions.len());
            topic.grow(more, first, placement);
            self.partition_count += more;
        }
    }

    /// Deletes a topic; returns it.
    pub(crate) fn delete(&mut self, name: &str) -> Option<Topic> {
        let topic = self.by_name.remove(name)?;
        self.names_by_id.remove(&topic.id);
        self.cleaning.remove(name);
        self.partition_count -= topic.partitions.len();
        let bytes: usize = topic.partitions.iter().map(|p| p.log.size_bytes()).sum();
        self.retained_bytes = self.retained_bytes.saturating_sub(bytes);
        Some(topic)
    }
}

/// Where new partitions go.
pub(crate) struct Placement<'a> {
    /// Every broker's node id and whether it is up (the first live replica
    /// leads), in node-id order.
    pub(crate) brokers: Vec<(i32, bool)>,
    /// Replicas per partition when `assignments` does not say.
    pub(crate) replication: usize,
    /// Explicit replica lists for the new partitions, in order.
    pub(crate) assignments: Option<&'a [Vec<i32>]>,
    /// Log settings of the new partitions.
    pub(crate) log: LogSettings,
}

impl Topic {
    /// Appends `count` partitions; `first` rotates where automatic placement starts.
    fn grow(&mut self, count: usize, first: usize, placement: &Placement<'_>) {
        let retention = self
            .retention_bytes
            .unwrap_or(placement.log.retention_bytes);
        let brokers = &placement.brokers;
        let live = |node: i32| brokers.contains(&(node, true));
        for i in 0..count {
            let index = self.partitions.len();
            let replicas: Vec<i32> = match placement.assignments.and_then(|a| a.get(i)) {
                Some(list) => list.clone(),
                None if brokers.is_empty() => Vec::new(),
                None => (0..placement.replication.clamp(1, brokers.len()))
                    .map(|r| brokers[(first + index + r) % brokers.len()].0)
                    .collect(),
            };
            let leader = replicas.iter().copied().find(|&b| live(b)).unwrap_or(-1);
            self.partitions.push(Partition {
                log: PartitionLog::new(retention, placement.log.segment_bytes),
                leader,
                leader_epoch: 0,
                replicas,
                producers: HashMap::new(),
                open_txns: BTreeMap::new(),
                aborted_txns: VecDeque::new(),
                verifying: HashMap::new(),
            });
        }
    }
}

/// Kafka's topic-name rule: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LogSettings {
        LogSettings {
            retention_bytes: 1 << 20,
            segment_bytes: 1 << 20,
        }
    }

    #[test]
    fn placement_spreads_leaders_and_skips_down_brokers() {
        let mut topics = Topics::default();
        let placement = Placement {
            brokers: vec![(1, true), (2, false), (3, true)],
            replication: 2,
            assignments: None,
            log: settings(),
        };
        let t = topics.create("t", Uuid([1; 16]), 6, None, &placement);
        let replicas: Vec<_> = t.partitions.iter().map(|p| p.replicas.clone()).collect();
        assert_eq!(replicas[0], [1, 2]);
        assert_eq!(replicas[1], [2, 3]);
        assert_eq!(replicas[2], [3, 1]);
        let leaders: Vec<_> = t.partitions.iter().map(|p| p.leader).collect();
        assert_eq!(leaders, [1, 3, 3, 1, 3, 3]);
        assert_eq!(topics.name_of(Uuid([1; 16])), Some("t"));
        assert!(topics.delete("t").is_some());
        assert_eq!(topics.name_of(Uuid([1; 16])), None);
    }

    #[test]
    fn topic_names() {
        assert!(valid_topic_name("a.b_c-D9"));
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert!(!valid_topic_name(bad), "{bad}");
        }
    }

    const KEEP: ProducerRetention = ProducerRetention {
        max_producers: 3,
        expiration: Duration::from_secs(60),
    };

    #[test]
    fn producer_state_is_bounded_and_expires() {
        let mut topics = Topics::default();
        let placement = Placement {
            brokers: vec![(1, true)],
            replication: 1,
            assignments: None,
            log: settings(),
        };
        topics.create("t", Uuid([3; 16]), 1, None, &placement);
        let p = topics.partition_mut("t", 0).unwrap();
        let t0 = Instant::now();
        // 10,000 producers, one batch each: never more than 3 kept.
        for id in 0..10_000 {
            p.record_sequence(id, 0, 0, 0, id, t0 + Duration::from_millis(id as u64), KEEP);
            assert!(p.producers.len() <= 3);
        }
        // The most recent ones are those kept: a retry of 9999 is a duplicate.
        assert_eq!(p.check_sequence(9_999, 0, 0, 0), Sequence::Duplicate(9_999));
        assert_eq!(
            p.check_sequence(0, 0, 5, 5),
            Sequence::Append,
            "0 was forgotten"
        );
        // A producer idle past the expiration is forgotten when a new one arrives.
        let later = t0 + Duration::from_secs(3600);
        p.record_sequence(20_000, 0, 0, 0, 1, later, KEEP);
        assert_eq!(p.producers.len(), 1);
    }

    #[test]
    fn idempotent_sequences() {
        let mut topics = Topics::default();
        let placement = Placement {
            brokers: vec![(1, true)],
            replication: 1,
            assignments: None,
            log: settings(),
        };
        topics.create("t", Uuid([2; 16]), 1, None, &placement);
        let p = topics.partition_mut("t", 0).unwrap();
        assert_eq!(p.check_sequence(7, 0, 0, 4), Sequence::Append);
        p.record_sequence(7, 0, 0, 4, 100, Instant::now(), KEEP);
        assert_eq!(p.check_sequence(7, 0, 0, 4), Sequence::Duplicate(100));
        assert_eq!(
            p.check_sequence(7, 0, 6, 9),
            Sequence::Reject(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(p.check_sequence(7, 0, 5, 9), Sequence::Append);
        assert_eq!(
            p.check_sequence(7, 1, 0, 0),
            Sequence::Append,
            "epoch bump restarts at 0"
        );
        p.record_sequence(7, 1, 0, 0, 200, Instant::now(), KEEP);
        assert_eq!(
            p.check_sequence(7, 0, 5, 9),
            Sequence::Reject(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
    }
}
