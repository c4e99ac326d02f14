//! Fetch: stored batches back to consumers, with Kafka's size rules and long-poll.
//!
//! - Whole stored entries are returned, never re-encoded; within the
//!   response-wide `max_bytes` (v3+) and each `partition_max_bytes`, except
//!   that the first entry of the first partition with data is always
//!   returned, however large (KIP-74), so a consumer never stalls on a big
//!   batch. (Kafka sent partial batches to v0-2 consumers instead; the mock
//!   gives them the whole batch too.)
//! - With fewer than `min_bytes` available and no error, the request waits
//!   (parked in the cluster) until data arrives or `max_wait_ms` passes.
//! - Topics by id from v13. Every Fetch is a full fetch: the response's
//!   session id is 0, which tells clients that fetch sessions (KIP-227) are
//!   not in use, as a Kafka broker without session slots does.
//! - Data is served in the format it was stored in: no down-conversion of
//!   magic-2 batches for v0-3 consumers.
//! - `read_committed` (v4+): batches below the last stable offset (the
//!   first offset of the oldest open transaction) only, with the aborted
//!   transactions that overlap what was read; every answer carries the
//!   last stable offset.

use std::collections::HashSet;
use std::time::Duration;

use microkafka_core::consumer::next_fetch_offset;
use microkafka_core::protocol::frame::decode_request_body;
use microkafka_core::protocol::messages::{
    FetchAbortedTransaction, FetchLeaderIdAndEpoch, FetchNodeEndpoint, FetchPartitionData,
    FetchRequest, FetchResponse, FetchableTopicResponse,
};
use microkafka_core::protocol::{ApiKey, RequestHeader};
use microkafka_core::wire::{Array, Reader, Uuid};
use microkafka_core::ErrorCode;

use super::{Answer, Cx};

/// Decodes a Fetch request body and handles it (also how parked fetches are
/// evaluated again).
pub(crate) fn handle_frame(
    cx: &mut Cx<'_>,
    header: &RequestHeader<'_>,
    r: &mut Reader<'_>,
) -> Answer {
    match decode_request_body::<FetchRequest<'_>>(header, r) {
        Ok(req) => handle(cx, &req),
        Err(_) => Answer::Close(None),
    }
}

/// The partitions a Fetch frame body asks for (what a parked fetch waits on).
pub(crate) fn interest(cluster: &crate::cluster::Cluster, frame: &[u8]) -> Vec<(String, i32)> {
    let mut r = Reader::new(frame);
    let Ok(header) = RequestHeader::decode(&mut r) else {
        return Vec::new();
    };
    let Ok(req) = decode_request_body::<FetchRequest<'_>>(&header, &mut r) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in req.topics.iter() {
        let name = if header.api_version >= 13 {
            cluster.topics.name_of(t.topic_id).map(str::to_owned)
        } else {
            Some(t.topic.to_owned())
        };
        if let Some(name) = name {
            out.extend(t.partitions.iter().map(|p| (name.clone(), p.partition)));
        }
    }
    out
}

/// One requested topic: its partitions end at `end` in the partition list.
struct TopicWanted<'a> {
    end: usize,
    /// The topic's name, `None` for an unknown topic id.
    name: Option<String>,
    /// As the request named it (v0-12).
    topic: &'a str,
    /// As the request named it (v13+).
    topic_id: Uuid,
}

/// One requested partition: where to read, or why not.
struct Wanted {
    partition: i32,
    offset: i64,
    max_bytes: usize,
    leader_epoch: i32,
    error: Option<ErrorCode>,
}

/// One partition's answer.
struct Served<'a> {
    error: ErrorCode,
    high_watermark: i64,
    last_stable: i64,
    log_start: i64,
    records: &'a [u8],
    leader: Option<(i32, i32)>,
    /// read_committed: the aborted transactions overlapping what was read.
    aborted: Vec<FetchAbortedTransaction>,
}

impl Served<'_> {
    fn error(error: ErrorCode) -> Self {
        Served {
            error,
            high_watermark: -1,
            last_stable: -1,
            log_start: -1,
            records: &[],
            leader: None,
            aborted: Vec::new(),
        }
    }
}

fn handle(cx: &mut Cx<'_>, req: &FetchRequest<'_>) -> Answer {
    let by_id = cx.version >= 13;
    let session_unknown = req.session_id != 0 || req.session_epoch > 0;
    // Pass 1, mutable: resolve topics, take partition faults.
    let mut wanted: Vec<Wanted> = Vec::new();
    let mut topic_ends = Vec::new();
    // A partition named twice is served once (Kafka keeps fetch data in a map
    // keyed by partition): repeats cannot multiply the response.
    let mut seen: HashSet<(&str, Uuid, i32)> = HashSet::new();
    for t in req.topics.iter() {
        let name = if by_id {
            cx.cluster.topics.name_of(t.topic_id).map(str::to_owned)
        } else {
            Some(t.topic.to_owned())
        };
        let first = wanted.len();
        for p in t.partitions.iter() {
            if !seen.insert((t.topic, t.topic_id, p.partition)) {
                continue;
            }
            let error = match &name {
                _ if session_unknown => Some(ErrorCode::FETCH_SESSION_ID_NOT_FOUND),
                None => Some(ErrorCode::UNKNOWN_TOPIC_ID),
                Some(n) => cx.partition_fault(ApiKey::Fetch, n, p.partition),
            };
            wanted.push(Wanted {
                partition: p.partition,
                offset: p.fetch_offset,
                max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
                leader_epoch: p.current_leader_epoch,
                error,
            });
        }
        if wanted.len() == first && !t.partitions.is_empty() {
            continue; // every partition of it was a repeat
        }
        topic_ends.push(TopicWanted {
            end: wanted.len(),
            name,
            topic: t.topic,
            topic_id: t.topic_id,
        });
    }
    // Pass 2, shared: read the logs.
    let read_committed = cx.version >= 4 && req.isolation_level == 1;
    let cluster = &*cx.cluster;
    // The broker's fetch.max.bytes bounds every response, v0-2 included
    // (they have no request-wide limit: repeats of a partition once made a
    // 6 KB request answer 105 MB).
    let broker_max = cluster.config.limits.fetch_max_bytes;
    let mut remaining = if cx.version >= 3 {
        usize::try_from(req.max_bytes).unwrap_or(0).min(broker_max)
    } else {
        broker_max
    };
    let mut total = 0usize;
    let mut any_error = session_unknown;
    let mut served = Vec::with_capacity(wanted.len());
    let mut start = 0;
    for t in &topic_ends {
        for w in &wanted[start..t.end] {
            let s = match (w.error, &t.name) {
                (Some(e), _) => Served::error(e),
                (None, None) => Served::error(ErrorCode::UNKNOWN_TOPIC_ID),
                (None, Some(name)) => match cluster.topics.partition(name, w.partition) {
                    None => Served::error(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                    Some(p) if p.leader != cx.broker => Served {
                        leader: Some((p.leader, p.leader_epoch)),
                        ..Served::error(ErrorCode::NOT_LEADER_OR_FOLLOWER)
                    },
                    Some(p) if w.leader_epoch >= 0 && w.leader_epoch < p.leader_epoch => {
                        Served::error(ErrorCode::FENCED_LEADER_EPOCH)
                    }
                    Some(p) if w.leader_epoch > p.leader_epoch => {
                        Served::error(ErrorCode::UNKNOWN_LEADER_EPOCH)
                    }
                    Some(p) => {
                        let (log_start, end) = (p.log.log_start(), p.log.end_offset());
                        if w.offset < log_start || w.offset > end {
                            // Kafka sends no offsets with this error (-1 each).
                            Served::error(ErrorCode::OFFSET_OUT_OF_RANGE)
                        } else {
                            // read_committed reads below the last stable offset only.
                            let stable = p.last_stable_offset();
                            let limit = if read_committed { stable } else { i64::MAX };
                            let max = w.max_bytes.min(remaining);
                            let records = p.log.read_below(w.offset, max, total == 0, limit);
                            total += records.len();
                            remaining = remaining.saturating_sub(records.len());
                            let aborted = if read_committed {
                                let upper = next_fetch_offset(records, w.offset)
                                    .map_or(w.offset, |(next, _)| next);
                                p.aborted_between(w.offset, upper)
                                    .into_iter()
                                    .map(|(producer_id, first_offset)| FetchAbortedTransaction {
                                        producer_id,
                                        first_offset,
                                    })
                                    .collect()
                            } else {
                                Vec::new()
                            };
                            Served {
                                error: ErrorCode::NONE,
                                high_watermark: end,
                                last_stable: stable,
                                log_start,
                                records,
                                leader: None,
                                aborted,
                            }
                        }
                    }
                },
            };
            any_error |= s.error.is_err();
            served.push(s);
        }
        start = t.end;
    }
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    if cx.may_wait && !any_error && total < min_bytes && req.max_wait_ms > 0 {
        let wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
        return Answer::Park(cx.now + wait);
    }
    respond(cx, req, &wanted, &topic_ends, &served)
}

fn respond(
    cx: &Cx<'_>,
    req: &FetchRequest<'_>,
    wanted: &[Wanted],
    topic_ends: &[TopicWanted<'_>],
    served: &[Served<'_>],
) -> Answer {
    let read_committed = req.isolation_level == 1;
    // An unknown fetch session: Kafka answers the top-level error alone,
    // without any partition.
    let session_unknown = req.session_id != 0 || req.session_epoch > 0;
    let topic_ends = if session_unknown { &[][..] } else { topic_ends };
    let partitions: Vec<FetchPartitionData<'_>> = wanted
        .iter()
        .zip(served)
        .map(|(w, s)| FetchPartitionData {
            partition_index: w.partition,
            error_code: s.error,
            high_watermark: s.high_watermark,
            last_stable_offset: s.last_stable,
            log_start_offset: s.log_start,
            current_leader: s
                .leader
                .map(|(leader_id, leader_epoch)| FetchLeaderIdAndEpoch {
                    leader_id,
                    leader_epoch,
                })
                .unwrap_or_default(),
            // Kafka sends an empty list (not null) to read_committed
            // consumers, and for partitions it refuses before reading any
            // log: unknown topics, topic ids and partitions.
            aborted_transactions: (read_committed
                || matches!(
                    s.error,
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION | ErrorCode::UNKNOWN_TOPIC_ID
                ))
            .then(|| Array::new(&s.aborted)),
            records: Some(s.records),
            ..Default::default()
        })
        .collect();
    let mut start = 0;
    let topics: Vec<FetchableTopicResponse<'_>> = topic_ends
        .iter()
        .map(|t| {
            let response = FetchableTopicResponse {
                topic: t.topic,
                topic_id: t.topic_id,
                partitions: Array::new(&partitions[start..t.end]),
            };
            start = t.end;
            response
        })
        .collect();
    let mut leaders: Vec<i32> = served
        .iter()
        .filter_map(|s| s.leader.map(|l| l.0))
        .filter(|&l| l >= 0)
        .collect();
    leaders.sort_unstable();
    leaders.dedup();
    let endpoints: Vec<FetchNodeEndpoint<'_>> = leaders
        .iter()
        .filter_map(|&id| cx.cluster.broker(id))
        .map(|b| FetchNodeEndpoint {
            node_id: b.node_id,
            host: &b.host,
            port: b.port,
            rack: None,
        })
        .collect();
    let top_error = if req.session_id != 0 || req.session_epoch > 0 {
        ErrorCode::FETCH_SESSION_ID_NOT_FOUND
    } else {
        cx.forced.unwrap_or(ErrorCode::NONE)
    };
    let body = FetchResponse {
        error_code: top_error,
        session_id: 0,
        responses: Array::new(&topics),
        node_endpoints: Array::new(&endpoints),
        throttle_time_ms: cx.throttle_ms,
    };
    cx.respond(&body)
}
