//! The transaction manager against a scripted coordinator: every request
//! checked, every answer encoded by hand, time passed in. No sockets, no clock.

extern crate std;

use std::string::String;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::protocol::messages::*;
use crate::protocol::versions::client_versions;
use crate::protocol::Message;
use crate::wire::{Array, Writer};

type T = TransactionManager<2, 4>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// What a transmit carried, owned (the transmit borrows the scratch buffer).
#[derive(Debug)]
struct Sent {
    id: TxnRequestId,
    request: TxnRequest<'static>,
    destination: TxnDestination<'static>,
}

impl Sent {
    fn api(&self) -> ApiKey {
        self.request.api()
    }
}

/// Every version the client may send of `body` encodes (the nested arrays
/// are converted from the version they were written at).
fn encodes<'a, R: Message<'a>>(body: &R) {
    let range = client_versions(R::API_KEY);
    for version in range.min..=range.max {
        let v = R::wire_version(version).unwrap();
        let mut buf = vec![0u8; body.encoded_len(v).unwrap()];
        body.encode(&mut Writer::new(&mut buf), v)
            .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", R::API_KEY));
    }
}

fn poll(t: &mut T, now: Duration) -> Option<Sent> {
    let buf: &'static mut [u8] = vec![0u8; t.transmit_buf_len()].leak();
    let tx = t.poll_transmit(now, buf).unwrap()?;
    match &tx.request {
        TxnRequest::FindCoordinator(r) => encodes(r),
        TxnRequest::InitProducerId(r) => encodes(r),
        TxnRequest::AddPartitionsToTxn(r) => encodes(r),
        TxnRequest::AddOffsetsToTxn(r) => encodes(r),
        TxnRequest::TxnOffsetCommit(r) => encodes(r),
        TxnRequest::EndTxn(r) => encodes(r),
    }
    Some(Sent {
        id: tx.id,
        request: tx.request,
        destination: tx.destination,
    })
}

fn expect(t: &mut T, now: Duration, api: ApiKey) -> Sent {
    let sent = poll(t, now).unwrap_or_else(|| panic!("expected {api:?}, nothing was sent"));
    assert_eq!(sent.api(), api, "{sent:?}");
    sent
}

fn answer<'x, R: Message<'x>>(
    t: &mut T,
    now: Duration,
    id: TxnRequestId,
    version: i16,
    response: &R,
) {
    let v = R::wire_version(version).unwrap();
    let mut body = vec![0u8; response.encoded_len(v).unwrap()];
    response.encode(&mut Writer::new(&mut body), v).unwrap();
    let received = Received {
        api: R::API_KEY,
        version,
        correlation_id: 0,
        body: &body,
    };
    t.handle_response(now, id, &received).unwrap();
}

fn events(t: &mut T) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(e) = t.poll_event() {
        out.push(match e {
            TxnEvent::Initialized {
                producer_id,
                producer_epoch,
            } => std::format!("initialized {producer_id}/{producer_epoch}"),
            TxnEvent::OffsetsAdded => "offsets added".into(),
            TxnEvent::Committed => "committed".into(),
            TxnEvent::Aborted => "aborted".into(),
            TxnEvent::Retrying { api, error } => std::format!("retry {api:?} {}", error.name()),
            TxnEvent::Abortable { api, error } => {
                std::format!("abortable {api:?} {}", error.name())
            }
            TxnEvent::Fatal { api, error } => std::format!("fatal {api:?} {}", error.name()),
        });
    }
    out
}

fn coordinator_response(node: i32) -> FindCoordinatorResponse<'static> {
    FindCoordinatorResponse {
        node_id: node,
        host: "127.0.0.1",
        port: 9090 + node,
        ..Default::default()
    }
}

/// FindCoordinator for the transactional id, answered with `node`.
fn find_txn_coordinator(t: &mut T, now: Duration, node: i32) {
    let sent = expect(t, now, ApiKey::FindCoordinator);
    assert_eq!(sent.destination, TxnDestination::AnyBroker);
    let TxnRequest::FindCoordinator(r) = sent.request else {
        unreachable!()
    };
    assert_eq!((r.key, r.key_type), ("tx-1", 1));
    assert_eq!(r.coordinator_keys.iter().collect::<Vec<_>>(), ["tx-1"]);
    answer(t, now, sent.id, 3, &coordinator_response(node));
}

fn init_answer(
    t: &mut T,
    now: Duration,
    error: ErrorCode,
    epoch: i16,
) -> InitProducerIdRequest<'static> {
    let sent = expect(t, now, ApiKey::InitProducerId);
    let TxnRequest::InitProducerId(r) = sent.request else {
        unreachable!()
    };
    let response = InitProducerIdResponse {
        error_code: error,
        producer_id: if error.is_ok() { 7 } else { -1 },
        producer_epoch: epoch,
        ..Default::default()
    };
    answer(t, now, sent.id, 4, &response);
    r
}

/// A manager with producer id 7, epoch 0, coordinator node 2.
fn ready(config: TransactionConfig<'_>) -> T {
    let now = Duration::ZERO;
    let mut t = T::new(&config, now).unwrap();
    assert_eq!(t.state(), TxnState::Uninitialized);
    assert!(poll(&mut t, now).is_none(), "nothing before init");
    t.init(now).unwrap();
    assert_eq!(t.state(), TxnState::Initializing);
    find_txn_coordinator(&mut t, now, 2);
    let sent = expect(&mut t, now, ApiKey::InitProducerId);
    assert_eq!(
        sent.destination,
        TxnDestination::TransactionCoordinator {
            node_id: 2,
            host: "127.0.0.1",
            port: 9092
        }
    );
    let TxnRequest::InitProducerId(r) = sent.request else {
        unreachable!()
    };
    assert_eq!(
        r,
        InitProducerIdRequest {
            transactional_id: Some("tx-1"),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        }
    );
    let response = InitProducerIdResponse {
        producer_id: 7,
        producer_epoch: 0,
        ..Default::default()
    };
    answer(&mut t, now, sent.id, 4, &response);
    assert_eq!(t.state(), TxnState::Ready);
    assert_eq!(t.producer_id_and_epoch(), Some((7, 0)));
    let options = t.batch_options(3).unwrap();
    assert_eq!(
        (
            options.producer_id,
            options.producer_epoch,
            options.base_sequence,
            options.transactional
        ),
        (7, 0, 3, true)
    );
    assert_eq!(events(&mut t), ["initialized 7/0"]);
    t
}

fn config() -> TransactionConfig<'static> {
    TransactionConfig::new("tx-1")
}

/// The partitions of an AddPartitionsToTxn request, as (topic, partition).
fn added(r: &AddPartitionsToTxnRequest<'_>) -> Vec<(String, i32)> {
    assert_eq!(r.v3_and_below_transactional_id, "tx-1");
    r.v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.into(), p)))
        .collect()
}

fn add_response(
    parts: &[(&'static str, i32, ErrorCode)],
) -> Vec<AddPartitionsToTxnTopicResult<'static>> {
    let mut topics: Vec<AddPartitionsToTxnTopicResult<'static>> = Vec::new();
    for &(name, partition, error) in parts {
        let results: &'static [AddPartitionsToTxnPartitionResult] =
            vec![AddPartitionsToTxnPartitionResult {
                partition_index: partition,
                partition_error_code: error,
            }]
            .leak();
        topics.push(AddPartitionsToTxnTopicResult {
            name,
            results_by_partition: Array::new(results),
        });
    }
    topics
}

/// Answers the AddPartitionsToTxn in flight: every partition with `error`.
fn answer_add(t: &mut T, now: Duration, sent: &Sent, error: ErrorCode) {
    let TxnRequest::AddPartitionsToTxn(r) = sent.request else {
        panic!("not AddPartitionsToTxn: {sent:?}")
    };
    let parts: Vec<(&'static str, i32, ErrorCode)> = added(&r)
        .into_iter()
        .map(|(n, p)| (&*std::boxed::Box::leak(n.into_boxed_str()), p, error))
        .collect();
    let topics: &'static [_] = add_response(&parts).leak();
    let response = AddPartitionsToTxnResponse {
        results_by_topic_v3_and_below: Array::new(topics),
        ..Default::default()
    };
    answer(t, now, sent.id, 3, &response);
}

fn end_txn(t: &mut T, now: Duration, committed: bool, error: ErrorCode) {
    let sent = expect(t, now, ApiKey::EndTxn);
    let TxnRequest::EndTxn(r) = sent.request else {
        unreachable!()
    };
    assert_eq!((r.transactional_id, r.committed), ("tx-1", committed));
    let response = EndTxnResponse {
        error_code: error,
        ..Default::default()
    };
    answer(t, now, sent.id, 3, &response);
}

#[test]
fn a_transaction_from_init_to_commit() {
    let mut t = ready(config());
    let now = ms(10);
    assert_eq!(
        t.batch_ready("t", 0),
        Err(TxnError::State {
            state: TxnState::Ready,
            call: "batch_ready"
        })
    );
    t.begin().unwrap();
    assert_eq!(t.batch_ready("t", 0), Ok(false));
    assert_eq!(t.batch_ready("t", 1), Ok(false));
    assert_eq!(t.batch_ready("u", 0), Ok(false));
    assert!(!t.may_send("t", 0));
    assert!(t.batch_sent("t", 0).is_err(), "not added yet");
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    let TxnRequest::AddPartitionsToTxn(r) = sent.request else {
        unreachable!()
    };
    assert_eq!(
        (r.v3_and_below_producer_id, r.v3_and_below_producer_epoch),
        (7, 0)
    );
    assert_eq!(
        added(&r),
        [("t".into(), 0), ("t".into(), 1), ("u".into(), 0)]
    );
    assert!(poll(&mut t, now).is_none(), "one request at a time");
    answer_add(&mut t, now, &sent, ErrorCode::NONE);
    for (topic, p) in [("t", 0), ("t", 1), ("u", 0)] {
        assert!(t.may_send(topic, p));
        t.batch_sent(topic, p).unwrap();
    }
    // Another batch for an added partition may go at once.
    assert_eq!(t.batch_ready("t", 0), Ok(true));
    t.batch_sent("t", 0).unwrap();
    t.commit(now).unwrap();
    assert_eq!(t.state(), TxnState::Committing);
    assert!(poll(&mut t, now).is_none(), "batches in flight");
    for _ in 0..3 {
        t.batch_done(ErrorCode::NONE);
        assert!(poll(&mut t, now).is_none());
    }
    t.batch_done(ErrorCode::NONE);
    end_txn(&mut t, now, true, ErrorCode::NONE);
    assert_eq!(t.state(), TxnState::Ready);
    assert_eq!(events(&mut t), ["committed"]);
    assert!(!t.may_send("t", 0), "the next transaction adds it again");
    // The next one adds its partitions again.
    t.begin().unwrap();
    assert_eq!(t.batch_ready("t", 0), Ok(false));
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::NONE);
    assert!(t.may_send("t", 0));
}

#[test]
fn offsets_in_a_transaction_go_to_the_group_coordinator_with_the_generation() {
    let mut t = ready(config());
    let now = ms(10);
    t.begin().unwrap();
    t.batch_ready("out", 0).unwrap();
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::NONE);
    t.batch_sent("out", 0).unwrap();
    let group = GroupMetadata {
        group_id: "g",
        generation_id: 4,
        member_id: "m-1",
        group_instance_id: None,
    };
    let offsets = [
        TxnOffset {
            topic: "in",
            partition: 0,
            offset: 42,
            leader_epoch: 3,
        },
        TxnOffset {
            topic: "in",
            partition: 1,
            offset: 7,
            leader_epoch: -1,
        },
    ];
    t.send_offsets(&group, &offsets).unwrap();
    assert_eq!(
        t.send_offsets(&GroupMetadata::new("other"), &offsets),
        Err(TxnError::State {
            state: TxnState::InTransaction,
            call: "send_offsets for a second group"
        })
    );
    let sent = expect(&mut t, now, ApiKey::AddOffsetsToTxn);
    let TxnRequest::AddOffsetsToTxn(r) = sent.request else {
        unreachable!()
    };
    assert_eq!(
        r,
        AddOffsetsToTxnRequest {
            transactional_id: "tx-1",
            producer_id: 7,
            producer_epoch: 0,
            group_id: "g",
        }
    );
    answer(&mut t, now, sent.id, 3, &AddOffsetsToTxnResponse::default());
    // The group's coordinator: key type 0.
    let sent = expect(&mut t, now, ApiKey::FindCoordinator);
    let TxnRequest::FindCoordinator(r) = sent.request else {
        unreachable!()
    };
    assert_eq!((r.key, r.key_type), ("g", 0));
    answer(&mut t, now, sent.id, 3, &coordinator_response(3));
    let sent = expect(&mut t, now, ApiKey::TxnOffsetCommit);
    assert_eq!(
        sent.destination,
        TxnDestination::GroupCoordinator {
            node_id: 3,
            host: "127.0.0.1",
            port: 9093
        }
    );
    let TxnRequest::TxnOffsetCommit(r) = sent.request else {
        unreachable!()
    };
    assert_eq!(
        (
            r.transactional_id,
            r.group_id,
            r.producer_id,
            r.producer_epoch
        ),
        ("tx-1", "g", 7, 0)
    );
    assert_eq!(
        (r.generation_id, r.member_id, r.group_instance_id),
        (4, "m-1", None)
    );
    let topic = r.topics.iter().next().unwrap();
    assert_eq!(topic.name, "in");
    let parts: Vec<(i32, i64, i32)> = topic
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
            )
        })
        .collect();
    assert_eq!(parts, [(0, 42, 3), (1, 7, -1)]);
    // Partition 1 is retried alone after COORDINATOR_LOAD_IN_PROGRESS.
    let results = [
        TxnOffsetCommitResponsePartition {
            partition_index: 0,
            error_code: ErrorCode::NONE,
        },
        TxnOffsetCommitResponsePartition {
            partition_index: 1,
            error_code: ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        },
    ];
    let topics = [TxnOffsetCommitResponseTopic {
        name: "in",
        partitions: Array::new(&results),
    }];
    let response = TxnOffsetCommitResponse {
        throttle_time_ms: 0,
        topics: Array::new(&topics),
    };
    answer(&mut t, now, sent.id, 3, &response);
    assert_eq!(
        events(&mut t),
        ["retry TxnOffsetCommit COORDINATOR_LOAD_IN_PROGRESS"]
    );
    assert!(poll(&mut t, now).is_none(), "backoff");
    assert_eq!(t.poll_timeout(), Some(now + ms(100)));
    let sent = expect(&mut t, now + ms(100), ApiKey::TxnOffsetCommit);
    let TxnRequest::TxnOffsetCommit(r) = sent.request else {
        unreachable!()
    };
    let topic = r.topics.iter().next().unwrap();
    assert_eq!(
        topic
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .collect::<Vec<_>>(),
        [1]
    );
    let results = [TxnOffsetCommitResponsePartition {
        partition_index: 1,
        error_code: ErrorCode::NONE,
    }];
    let topics = [TxnOffsetCommitResponseTopic {
        name: "in",
        partitions: Array::new(&results),
    }];
    let response = TxnOffsetCommitResponse {
        throttle_time_ms: 0,
        topics: Array::new(&topics),
    };
    answer(&mut t, now + ms(100), sent.id, 3, &response);
    assert_eq!(events(&mut t), ["offsets added"]);
    t.commit(now + ms(100)).unwrap();
    assert!(poll(&mut t, now + ms(100)).is_none(), "a batch in flight");
    t.batch_done(ErrorCode::NONE);
    end_txn(&mut t, now + ms(100), true, ErrorCode::NONE);
    assert_eq!(events(&mut t), ["committed"]);
}

#[test]
fn offsets_alone_start_a_transaction_and_a_rebalanced_member_aborts_it() {
    let mut t = ready(config());
    let now = ms(10);
    t.begin().unwrap();
    let offsets = [TxnOffset {
        topic: "in",
        partition: 0,
        offset: 1,
        leader_epoch: -1,
    }];
    let group = GroupMetadata {
        generation_id: 1,
        member_id: "old",
        ..GroupMetadata::new("g")
    };
    t.send_offsets(&group, &offsets).unwrap();
    let sent = expect(&mut t, now, ApiKey::AddOffsetsToTxn);
    answer(&mut t, now, sent.id, 3, &AddOffsetsToTxnResponse::default());
    let sent = expect(&mut t, now, ApiKey::FindCoordinator);
    answer(&mut t, now, sent.id, 3, &coordinator_response(2));
    let sent = expect(&mut t, now, ApiKey::TxnOffsetCommit);
    let results = [TxnOffsetCommitResponsePartition {
        partition_index: 0,
        error_code: ErrorCode::ILLEGAL_GENERATION,
    }];
    let topics = [TxnOffsetCommitResponseTopic {
        name: "in",
        partitions: Array::new(&results),
    }];
    answer(
        &mut t,
        now,
        sent.id,
        3,
        &TxnOffsetCommitResponse {
            throttle_time_ms: 0,
            topics: Array::new(&topics),
        },
    );
    assert_eq!(t.state(), TxnState::AbortableError);
    assert_eq!(
        events(&mut t),
        ["abortable TxnOffsetCommit ILLEGAL_GENERATION"]
    );
    assert_eq!(
        t.commit(now),
        Err(TxnError::Abortable {
            api: ApiKey::TxnOffsetCommit,
            error: ErrorCode::ILLEGAL_GENERATION
        })
    );
    t.abort(now).unwrap();
    // AddOffsetsToTxn started it at the coordinator: EndTxn ends it.
    end_txn(&mut t, now, false, ErrorCode::NONE);
    assert_eq!(t.state(), TxnState::Ready);
    assert_eq!(events(&mut t), ["aborted"]);
}

#[test]
fn an_empty_transaction_ends_without_a_request() {
    let mut t = ready(config());
    t.begin().unwrap();
    t.commit(ms(1)).unwrap();
    assert_eq!(t.state(), TxnState::Ready);
    assert!(poll(&mut t, ms(1)).is_none());
    t.begin().unwrap();
    t.abort(ms(1)).unwrap();
    assert_eq!(t.state(), TxnState::Ready);
    assert_eq!(events(&mut t), ["committed", "aborted"]);
    // A partition announced, never added: the abort drops it.
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    t.abort(ms(1)).unwrap();
    assert_eq!(t.state(), TxnState::Ready);
    assert!(poll(&mut t, ms(1)).is_none());
}

#[test]
fn retriable_errors_are_retried_and_a_moved_coordinator_is_found_again() {
    let mut t = ready(config());
    let mut now = ms(10);
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    // The previous transaction's markers are still being written.
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::CONCURRENT_TRANSACTIONS);
    assert_eq!(
        events(&mut t),
        ["retry AddPartitionsToTxn CONCURRENT_TRANSACTIONS"]
    );
    assert!(!t.may_send("t", 0));
    assert!(poll(&mut t, now).is_none());
    now += ms(100);
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    // The coordinator moved.
    answer_add(&mut t, now, &sent, ErrorCode::NOT_COORDINATOR);
    now += ms(200);
    find_txn_coordinator(&mut t, now, 3);
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    assert_eq!(
        sent.destination,
        TxnDestination::TransactionCoordinator {
            node_id: 3,
            host: "127.0.0.1",
            port: 9093
        }
    );
    answer_add(&mut t, now, &sent, ErrorCode::NONE);
    t.batch_sent("t", 0).unwrap();
    t.batch_done(ErrorCode::NONE);
    t.commit(now).unwrap();
    // EndTxn: the connection drops, then the coordinator is loading.
    let sent = expect(&mut t, now, ApiKey::EndTxn);
    t.handle_failure(now, sent.id);
    now += ms(100);
    find_txn_coordinator(&mut t, now, 3);
    let sent = expect(&mut t, now, ApiKey::EndTxn);
    answer(
        &mut t,
        now,
        sent.id,
        3,
        &EndTxnResponse {
            error_code: ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ..Default::default()
        },
    );
    // A late answer to the failed request is ignored.
    answer(&mut t, now, sent.id, 3, &EndTxnResponse::default());
    assert_eq!(t.state(), TxnState::Committing);
    now += ms(100);
    end_txn(&mut t, now, true, ErrorCode::NONE);
    assert_eq!(
        events(&mut t),
        [
            "retry AddPartitionsToTxn NOT_COORDINATOR",
            "retry EndTxn REQUEST_TIMED_OUT",
            "retry EndTxn COORDINATOR_LOAD_IN_PROGRESS",
            "committed"
        ]
    );
}

#[test]
fn an_unanswered_request_times_out_and_an_unknown_add_is_repeated_before_the_abort() {
    let mut t = ready(TransactionConfig {
        request_timeout: ms(1_000),
        ..config()
    });
    let now = ms(10);
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    let _lost = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    assert_eq!(t.poll_timeout(), Some(now + ms(1_000)));
    t.handle_timeout(now + ms(999));
    assert!(poll(&mut t, now + ms(999)).is_none());
    t.handle_timeout(now + ms(1_000));
    // Aborted before the add was known: it is sent again, then EndTxn.
    t.abort(now + ms(1_000)).unwrap();
    let later = now + ms(1_100);
    find_txn_coordinator(&mut t, later, 2);
    let sent = expect(&mut t, later, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, later, &sent, ErrorCode::NONE);
    assert!(!t.may_send("t", 0), "aborting: nothing more is sent");
    end_txn(&mut t, later, false, ErrorCode::NONE);
    assert_eq!(
        events(&mut t),
        ["retry AddPartitionsToTxn REQUEST_TIMED_OUT", "aborted"]
    );
}

#[test]
fn a_failed_batch_makes_the_transaction_abortable() {
    let mut t = ready(config());
    let now = ms(10);
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    t.batch_ready("t", 1).unwrap();
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::NONE);
    t.batch_sent("t", 0).unwrap();
    t.batch_sent("t", 1).unwrap();
    t.batch_done(ErrorCode::MESSAGE_TOO_LARGE);
    assert_eq!(t.state(), TxnState::AbortableError);
    assert_eq!(events(&mut t), ["abortable Produce MESSAGE_TOO_LARGE"]);
    assert!(!t.may_send("t", 0));
    assert_eq!(
        t.batch_ready("t", 0),
        Err(TxnError::Abortable {
            api: ApiKey::Produce,
            error: ErrorCode::MESSAGE_TOO_LARGE
        })
    );
    t.abort(now).unwrap();
    assert!(poll(&mut t, now).is_none(), "the other batch is in flight");
    t.batch_done(ErrorCode::NONE);
    end_txn(&mut t, now, false, ErrorCode::NONE);
    assert_eq!(t.state(), TxnState::Ready);
    assert_eq!(
        t.producer_id_and_epoch(),
        Some((7, 0)),
        "no new epoch needed"
    );
    assert_eq!(events(&mut t), ["aborted"]);
    // TRANSACTION_ABORTABLE (KIP-890) from the coordinator: the same.
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::TRANSACTION_ABORTABLE);
    assert_eq!(t.state(), TxnState::AbortableError);
    t.abort(now).unwrap();
    assert_eq!(t.state(), TxnState::Ready, "nothing was added: no EndTxn");
    assert_eq!(
        events(&mut t),
        [
            "abortable AddPartitionsToTxn TRANSACTION_ABORTABLE",
            "aborted"
        ]
    );
}

#[test]
fn lost_producer_state_bumps_the_epoch_after_the_abort() {
    let mut t = ready(config());
    let now = ms(10);
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::NONE);
    t.batch_sent("t", 0).unwrap();
    t.batch_done(ErrorCode::UNKNOWN_PRODUCER_ID);
    assert_eq!(events(&mut t), ["abortable Produce UNKNOWN_PRODUCER_ID"]);
    t.abort(now).unwrap();
    end_txn(&mut t, now, false, ErrorCode::NONE);
    assert_eq!(t.state(), TxnState::Initializing);
    // KIP-360: InitProducerId with the current id and epoch.
    let r = init_answer(&mut t, now, ErrorCode::NONE, 1);
    assert_eq!((r.producer_id, r.producer_epoch), (7, 0));
    assert_eq!(t.state(), TxnState::Ready);
    assert_eq!(t.producer_id_and_epoch(), Some((7, 1)));
    assert_eq!(events(&mut t), ["aborted", "initialized 7/1"]);
    // From the coordinator, too.
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::INVALID_PRODUCER_ID_MAPPING);
    t.abort(now).unwrap();
    let r = init_answer(&mut t, now, ErrorCode::NONE, 2);
    assert_eq!((r.producer_id, r.producer_epoch), (7, 1));
    assert_eq!(
        events(&mut t),
        [
            "abortable AddPartitionsToTxn INVALID_PRODUCER_ID_MAPPING",
            "aborted",
            "initialized 7/2"
        ]
    );
    // Without epoch bumps, fatal.
    let mut t = ready(TransactionConfig {
        epoch_bump: false,
        ..config()
    });
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::NONE);
    t.batch_sent("t", 0).unwrap();
    t.batch_done(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(t.state(), TxnState::FatalError);
}

#[test]
fn fencing_and_refusals_are_fatal() {
    let now = ms(10);
    for (api, error) in [
        (ApiKey::AddPartitionsToTxn, ErrorCode::PRODUCER_FENCED),
        (
            ApiKey::AddPartitionsToTxn,
            ErrorCode::INVALID_PRODUCER_EPOCH,
        ),
        (
            ApiKey::AddPartitionsToTxn,
            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ),
        (ApiKey::EndTxn, ErrorCode::PRODUCER_FENCED),
        (ApiKey::EndTxn, ErrorCode::INVALID_PRODUCER_EPOCH),
        (ApiKey::EndTxn, ErrorCode::INVALID_TXN_STATE),
        (ApiKey::EndTxn, ErrorCode::UNKNOWN_SERVER_ERROR),
        (ApiKey::Produce, ErrorCode::PRODUCER_FENCED),
        (
            ApiKey::Produce,
            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ),
    ] {
        let mut t = ready(config());
        t.begin().unwrap();
        t.batch_ready("t", 0).unwrap();
        let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
        if api == ApiKey::AddPartitionsToTxn {
            answer_add(&mut t, now, &sent, error);
        } else {
            answer_add(&mut t, now, &sent, ErrorCode::NONE);
            t.batch_sent("t", 0).unwrap();
            if api == ApiKey::Produce {
                t.batch_done(error);
            } else {
                t.batch_done(ErrorCode::NONE);
                t.commit(now).unwrap();
                end_txn(&mut t, now, true, error);
            }
        }
        assert_eq!(t.state(), TxnState::FatalError, "{api:?} {error:?}");
        assert_eq!(t.last_error(), Some((api, error)));
        assert_eq!(
            events(&mut t),
            [std::format!("fatal {api:?} {}", error.name())]
        );
        let fatal = Err(TxnError::Fatal { api, error });
        assert_eq!(t.abort(now), fatal);
        assert_eq!(t.begin(), fatal);
        assert!(poll(&mut t, now).is_none());
        assert_eq!(t.poll_timeout(), None);
    }
    // InitProducerId refused, and the transactional id not authorized.
    for (api, error) in [
        (ApiKey::InitProducerId, ErrorCode::PRODUCER_FENCED),
        (
            ApiKey::InitProducerId,
            ErrorCode::INVALID_TRANSACTION_TIMEOUT,
        ),
        (
            ApiKey::FindCoordinator,
            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        ),
    ] {
        let mut t = T::new(&config(), now).unwrap();
        t.init(now).unwrap();
        if api == ApiKey::InitProducerId {
            find_txn_coordinator(&mut t, now, 1);
            init_answer(&mut t, now, error, -1);
        } else {
            let sent = expect(&mut t, now, ApiKey::FindCoordinator);
            let response = FindCoordinatorResponse {
                error_code: error,
                ..coordinator_response(-1)
            };
            answer(&mut t, now, sent.id, 3, &response);
        }
        assert_eq!(t.state(), TxnState::FatalError, "{api:?} {error:?}");
    }
}

#[test]
fn init_retries_while_the_previous_transaction_ends() {
    let now = ms(10);
    let mut t = T::new(&config(), now).unwrap();
    t.init(now).unwrap();
    assert_eq!(
        t.init(now),
        Err(TxnError::State {
            state: TxnState::Initializing,
            call: "init"
        })
    );
    find_txn_coordinator(&mut t, now, 1);
    init_answer(&mut t, now, ErrorCode::CONCURRENT_TRANSACTIONS, -1);
    init_answer(
        &mut t,
        now + ms(100),
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
        -1,
    );
    init_answer(&mut t, now + ms(300), ErrorCode::NOT_COORDINATOR, -1);
    // v4+ FindCoordinator answers per key.
    let sent = expect(&mut t, now + ms(700), ApiKey::FindCoordinator);
    let coordinators = [FindCoordinatorCoordinator {
        key: "tx-1",
        node_id: 5,
        host: "b5",
        port: 9095,
        error_code: ErrorCode::NONE,
        error_message: None,
    }];
    let response = FindCoordinatorResponse {
        coordinators: Array::new(&coordinators),
        ..Default::default()
    };
    answer(&mut t, now + ms(700), sent.id, 4, &response);
    let sent = expect(&mut t, now + ms(700), ApiKey::InitProducerId);
    assert_eq!(
        sent.destination,
        TxnDestination::TransactionCoordinator {
            node_id: 5,
            host: "b5",
            port: 9095
        }
    );
    let response = InitProducerIdResponse {
        producer_id: 9,
        producer_epoch: 3,
        ..Default::default()
    };
    answer(&mut t, now + ms(700), sent.id, 4, &response);
    assert_eq!(t.producer_id_and_epoch(), Some((9, 3)));
    assert_eq!(
        events(&mut t),
        [
            "retry InitProducerId CONCURRENT_TRANSACTIONS",
            "retry InitProducerId COORDINATOR_LOAD_IN_PROGRESS",
            "retry InitProducerId NOT_COORDINATOR",
            "initialized 9/3"
        ]
    );
}

#[test]
fn end_txn_v5_hands_out_the_next_epoch() {
    let mut t = ready(config());
    let now = ms(10);
    t.begin().unwrap();
    t.batch_ready("t", 0).unwrap();
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    answer_add(&mut t, now, &sent, ErrorCode::NONE);
    t.commit(now).unwrap();
    assert!(
        poll(&mut t, now).is_none(),
        "the announced batch is not sent"
    );
    t.batch_sent("t", 0).unwrap();
    t.batch_done(ErrorCode::NONE);
    let sent = expect(&mut t, now, ApiKey::EndTxn);
    let response = EndTxnResponse {
        producer_id: 7,
        producer_epoch: 1,
        ..Default::default()
    };
    answer(&mut t, now, sent.id, 5, &response);
    assert_eq!(t.producer_id_and_epoch(), Some((7, 1)));
    assert_eq!(events(&mut t), ["committed", "initialized 7/1"]);
}

#[test]
fn limits_and_states() {
    let mut t = ready(config());
    assert_eq!(
        t.commit(ms(1)),
        Err(TxnError::State {
            state: TxnState::Ready,
            call: "commit"
        })
    );
    assert!(t.abort(ms(1)).is_err());
    t.begin().unwrap();
    assert!(t.begin().is_err());
    for p in 0..4 {
        t.batch_ready("t", p).unwrap();
    }
    assert_eq!(
        t.batch_ready("t", 4),
        Err(TxnError::Limit(Error::TooLarge {
            what: Limit::TransactionPartitions,
            size: 5,
            limit: 4
        }))
    );
    t.send_offsets(&GroupMetadata::new("g"), &[]).unwrap();
    t.batch_ready("t", 0).unwrap();
    assert_eq!(
        t.batch_ready("u", 0),
        Err(TxnError::Limit(Error::TooLarge {
            what: Limit::TransactionPartitions,
            size: 5,
            limit: 4
        }))
    );
    assert_eq!(
        t.batch_ready("v", 0),
        Err(TxnError::Limit(Error::TooLarge {
            what: Limit::Topics,
            size: 3,
            limit: 2
        }))
    );
    assert!(T::new(&TransactionConfig::new(""), ms(0)).is_err());
    let long = "x".repeat(256);
    assert!(T::new(&TransactionConfig::new(&long), ms(0)).is_err());
    // Everything a full transaction sends fits the scratch size it names.
    let now = ms(10);
    let sent = expect(&mut t, now, ApiKey::AddPartitionsToTxn);
    assert_eq!(added_count(&sent), 4);
}

fn added_count(sent: &Sent) -> usize {
    let TxnRequest::AddPartitionsToTxn(r) = sent.request else {
        unreachable!()
    };
    added(&r).len()
}
