//! Topics and partitions: names, ids, replica placement, leaders, logs, and
//! the idempotent-producer sequence state of each partition.

use std::collections::{BTreeMap, HashMap, VecDeque};

use microkafka_core::wire::Uuid;
use microkafka_core::ErrorCode;

use crate::log::PartitionLog;

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
}

/// The last batches an idempotent producer wrote to a partition (Kafka keeps 5).
#[derive(Debug)]
struct ProducerState {
    epoch: i16,
    /// `(first sequence, last sequence, base offset)`, oldest first.
    recent: VecDeque<(i32, i32, i64)>,
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

    /// Remembers an appended idempotent batch.
    pub(crate) fn record_sequence(
        &mut self,
        producer_id: i64,
        epoch: i16,
        first: i32,
        last: i32,
        base: i64,
    ) {
        let state = self.producers.entry(producer_id).or_insert(ProducerState {
            epoch,
            recent: VecDeque::new(),
        });
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
}

impl Topics {
    pub(crate) fn get(&self, name: &str) -> Option<&Topic> {
        self.by_name.get(name)
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
        };
        let first = self.next_placement;
        self.next_placement = self.next_placement.wrapping_add(1);
        topic.grow(partitions, first, placement);
        self.names_by_id.insert(id, topic.name.clone());
        self.by_name.entry(topic.name.clone()).or_insert(topic)
    }

    /// Grows a topic to `count` partitions.
    pub(crate) fn add_partitions(&mut self, name: &str, count: usize, placement: &Placement<'_>) {
        let first = self.next_placement;
        if let Some(topic) = self.by_name.get_mut(name) {
            let more = count.saturating_sub(topic.partitions.len());
            topic.grow(more, first, placement);
        }
    }

    /// Deletes a topic; returns it.
    pub(crate) fn delete(&mut self, name: &str) -> Option<Topic> {
        let topic = self.by_name.remove(name)?;
        self.names_by_id.remove(&topic.id);
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
        p.record_sequence(7, 0, 0, 4, 100);
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
        p.record_sequence(7, 1, 0, 0, 200);
        assert_eq!(
            p.check_sequence(7, 0, 5, 9),
            Sequence::Reject(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
    }
}
