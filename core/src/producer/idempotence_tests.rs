//! The idempotent producer's decisions, sequence numbering and epochs,
//! checked against the rules a broker applies (the mock broker's
//! `check_sequence`, after Kafka's `ProducerStateManager`).

use super::*;
use crate::protocol::frame::encode_response;
use crate::protocol::messages::{PartitionProduceResponse, ProduceResponse, TopicProduceResponse};
use crate::protocol::Message;
use crate::wire::{Array, Reader, Wire};
use crate::ErrorCode;

const PID: ProducerIdAndEpoch = ProducerIdAndEpoch::new(7, 0);

#[test]
fn each_error_code_has_one_decision_per_batch_position() {
    use BatchPosition::{Behind, Next};
    use ProduceRecovery::*;
    let known = Some(0);
    let cases = [
        (ErrorCode::NONE, Next, known, Done),
        (ErrorCode::NONE, Behind, known, Done),
        (ErrorCode::DUPLICATE_SEQUENCE_NUMBER, Next, known, Duplicate),
        (
            ErrorCode::DUPLICATE_SEQUENCE_NUMBER,
            Behind,
            known,
            Duplicate,
        ),
        // A gap right after the last acknowledged batch: the broker lost
        // or never got something; a new epoch restarts the numbers.
        (
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
            Next,
            known,
            BumpEpoch,
        ),
        // An earlier batch is still unresolved: wait for it.
        (
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
            Behind,
            known,
            Retry,
        ),
        (ErrorCode::UNKNOWN_PRODUCER_ID, Next, known, BumpEpoch),
        (ErrorCode::UNKNOWN_PRODUCER_ID, Behind, known, BumpEpoch),
        (ErrorCode::UNKNOWN_PRODUCER_ID, Next, None, BumpEpoch),
        // The broker does not know the log start yet: ask again.
        (ErrorCode::UNKNOWN_PRODUCER_ID, Next, Some(-1), Retry),
        (ErrorCode::INVALID_PRODUCER_EPOCH, Next, known, Fail),
        (ErrorCode::PRODUCER_FENCED, Next, known, Fail),
        (
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            Next,
            known,
            RefreshMetadata,
        ),
        (
            ErrorCode::FENCED_LEADER_EPOCH,
            Behind,
            known,
            RefreshMetadata,
        ),
        (ErrorCode::NOT_CONTROLLER, Next, known, RefreshMetadata),
        (ErrorCode::REQUEST_TIMED_OUT, Next, known, Retry),
        (
            ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            Next,
            known,
            Retry,
        ),
        (ErrorCode::MESSAGE_TOO_LARGE, Next, known, Fail),
        (ErrorCode::CORRUPT_MESSAGE, Behind, known, Retry),
        (ErrorCode::INVALID_RECORD, Behind, known, Fail),
        (ErrorCode::TOPIC_AUTHORIZATION_FAILED, Next, known, Fail),
    ];
    for (code, position, log_start, decision) in cases {
        assert_eq!(
            ProduceRecovery::idempotent(code, position, log_start),
            decision,
            "{code:?} {position:?} {log_start:?}"
        );
    }
    // Without idempotence a sequence error is not this producer's to mend.
    assert_eq!(ProduceRecovery::plain(ErrorCode::NONE), Done);
    assert_eq!(
        ProduceRecovery::plain(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
        Fail
    );
    assert_eq!(
        ProduceRecovery::plain(ErrorCode::DUPLICATE_SEQUENCE_NUMBER),
        Fail
    );
    assert_eq!(
        ProduceRecovery::plain(ErrorCode::LEADER_NOT_AVAILABLE),
        RefreshMetadata
    );
    assert!(Duplicate.is_written() && Done.is_written() && !Retry.is_written());
    assert!(BumpEpoch.is_retriable() && RefreshMetadata.is_retriable());
    assert!(!Fail.is_retriable() && !Done.is_retriable());
}

#[test]
fn batches_are_numbered_in_order_and_acknowledged() {
    let mut s = PartitionSequence::new();
    assert_eq!(s.producer(), None);
    assert_eq!(s.assign(PID, 5), 0);
    assert_eq!(s.producer(), Some(PID));
    assert_eq!(s.position(0), BatchPosition::Next);
    s.acknowledged(0, 5);
    assert_eq!(s.assign(PID, 3), 5);
    assert_eq!(s.position(5), BatchPosition::Next);
    // A batch numbered after one still unresolved.
    assert_eq!(s.assign(PID, 2), 8);
    assert_eq!(s.position(8), BatchPosition::Behind);
    s.acknowledged(5, 3);
    assert_eq!(s.position(8), BatchPosition::Next);
    assert_eq!(s.next(), 10);
}

#[test]
fn sequences_wrap_at_i32_max() {
    assert_eq!(next_sequence(i32::MAX, 1), 0);
    assert_eq!(next_sequence(i32::MAX - 2, 5), 2);
    assert_eq!(next_sequence(i32::MAX, i32::MAX), i32::MAX - 1);
    assert_eq!(next_sequence(0, 0), 0);
    let mut s = PartitionSequence::new();
    s.assign(PID, i32::MAX - 1);
    s.acknowledged(0, i32::MAX - 1);
    // The batch spanning the wrap: MAX-1, MAX, 0, 1.
    let base = s.assign(PID, 4);
    assert_eq!(base, i32::MAX - 1);
    assert_eq!(s.position(base), BatchPosition::Next);
    s.acknowledged(base, 4);
    assert_eq!(s.next(), 2);
    assert_eq!(s.position(2), BatchPosition::Next);
    assert_eq!(s.assign(PID, 1), 2);
}

#[test]
fn the_last_batch_keeps_its_number_across_the_wrap() {
    let mut s = PartitionSequence::new();
    assert_eq!(s.assign(PID, 3), 0);
    assert_eq!(s.last_base(3), 0);
    s.acknowledged(0, 3);
    s.assign(PID, i32::MAX - 4);
    s.acknowledged(3, i32::MAX - 4);
    // MAX-1, MAX, 0: the batch sent again has the number it was given.
    let base = s.assign(PID, 3);
    assert_eq!(base, i32::MAX - 1);
    assert_eq!(s.last_base(3), base);
    assert_eq!(s.position(s.last_base(3)), BatchPosition::Next);
}

#[test]
fn a_new_epoch_restarts_every_partition_at_zero() {
    let mut a = PartitionSequence::new();
    let mut b = PartitionSequence::new();
    a.assign(PID, 10);
    a.acknowledged(0, 10);
    b.assign(PID, 4);
    b.acknowledged(0, 4);
    let bumped = PID.bumped().unwrap();
    assert_eq!(bumped, ProducerIdAndEpoch::new(7, 1));
    // The batch that asked for the epoch, assigned again: from 0.
    assert_eq!(a.assign(bumped, 3), 0);
    assert_eq!(a.position(0), BatchPosition::Next);
    a.acknowledged(0, 3);
    assert_eq!(a.assign(bumped, 1), 3);
    // Another partition's next batch moves to the new epoch from 0 too.
    assert_eq!(b.assign(bumped, 2), 0);
    // A new producer id restarts the numbers as well.
    assert_eq!(b.assign(ProducerIdAndEpoch::new(8, 0), 1), 0);
    // An exhausted epoch needs a new producer id.
    assert_eq!(ProducerIdAndEpoch::new(7, i16::MAX).bumped(), None);
}

/// What a broker does with an idempotent batch (Kafka's
/// `ProducerStateManager`, as the mock broker's `check_sequence`): the
/// last batch's (epoch, last sequence), per producer id.
struct Broker {
    last: Option<(i16, i32)>,
}

impl Broker {
    fn append(&mut self, p: ProducerIdAndEpoch, first: i32, count: i32) -> ErrorCode {
        let last = next_sequence(first, count - 1);
        let Some((epoch, prev)) = self.last else {
            self.last = Some((p.epoch, last));
            return ErrorCode::NONE;
        };
        if p.epoch < epoch {
            return ErrorCode::INVALID_PRODUCER_EPOCH;
        }
        if p.epoch > epoch && first != 0 {
            return ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER;
        }
        if p.epoch == epoch && first != next_sequence(prev, 1) {
            if last == prev {
                return ErrorCode::DUPLICATE_SEQUENCE_NUMBER;
            }
            return ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER;
        }
        self.last = Some((p.epoch, last));
        ErrorCode::NONE
    }
}

/// Sends one batch through the policy until it is written, the way a
/// client does: each decision applied, at most 5 attempts.
fn send(
    broker: &mut Broker,
    producer: &mut ProducerIdAndEpoch,
    seq: &mut PartitionSequence,
    count: i32,
    lose_first_answer: bool,
) -> (ProduceRecovery, u32) {
    let mut batch = (*producer, seq.assign(*producer, count));
    for attempt in 1..=5 {
        let mut code = broker.append(batch.0, batch.1, count);
        if lose_first_answer && attempt == 1 {
            // Written, but the answer was lost: the client retries.
            code = ErrorCode::REQUEST_TIMED_OUT;
        }
        let decision = ProduceRecovery::idempotent(code, seq.position(batch.1), Some(0));
        match decision {
            ProduceRecovery::Done | ProduceRecovery::Duplicate => {
                seq.acknowledged(batch.1, count);
                return (decision, attempt);
            }
            ProduceRecovery::BumpEpoch => {
                *producer = producer.bumped().unwrap();
                batch = (*producer, seq.assign(*producer, count));
            }
            ProduceRecovery::Fail => return (decision, attempt),
            ProduceRecovery::Retry | ProduceRecovery::RefreshMetadata => {}
        }
    }
    (ProduceRecovery::Fail, 5)
}

#[test]
fn the_decisions_lead_to_what_the_broker_accepts() {
    let mut broker = Broker { last: None };
    let mut producer = PID;
    let mut seq = PartitionSequence::new();
    assert_eq!(
        send(&mut broker, &mut producer, &mut seq, 3, false).0,
        ProduceRecovery::Done
    );
    // A lost answer: the retry is a duplicate, written once.
    assert_eq!(
        send(&mut broker, &mut producer, &mut seq, 2, true),
        (ProduceRecovery::Duplicate, 2)
    );
    assert_eq!(seq.next(), 5);
    // The broker lost acknowledged batches (an unclean leader election):
    // the next batch is a gap, takes a new epoch and is written from 0.
    broker.last = Some((0, 2));
    assert_eq!(
        send(&mut broker, &mut producer, &mut seq, 2, false),
        (ProduceRecovery::Done, 2)
    );
    assert_eq!(producer.epoch, 1);
    assert_eq!(broker.last, Some((1, 1)));
    assert_eq!(
        send(&mut broker, &mut producer, &mut seq, 1, false).0,
        ProduceRecovery::Done
    );
    assert_eq!(broker.last, Some((1, 2)));
    // A batch given up after it was sent (it may be written): the next
    // batch starts a new epoch instead of reusing or skipping its numbers.
    seq.assign(producer, 4);
    producer = producer.bumped().unwrap();
    assert_eq!(
        send(&mut broker, &mut producer, &mut seq, 2, false),
        (ProduceRecovery::Done, 1)
    );
    assert_eq!(broker.last, Some((2, 1)));
    // An older epoch is refused, and that is not retried.
    let mut stale = PartitionSequence::new();
    let mut old = PID;
    assert_eq!(
        send(&mut broker, &mut old, &mut stale, 1, false),
        (ProduceRecovery::Fail, 1)
    );
}

#[test]
fn a_partition_answer_is_found_with_its_log_start_offset() {
    let partitions = [
        PartitionProduceResponse {
            index: 1,
            error_code: ErrorCode::NONE,
            base_offset: 40,
            log_start_offset: 3,
            ..Default::default()
        },
        PartitionProduceResponse {
            index: 2,
            error_code: ErrorCode::UNKNOWN_PRODUCER_ID,
            base_offset: -1,
            log_start_offset: -1,
            error_message: Some("gone"),
            ..Default::default()
        },
    ];
    let topics = [TopicProduceResponse {
        name: "t",
        partition_responses: Array::new(&partitions),
    }];
    let response = ProduceResponse {
        responses: Array::new(&topics),
        ..Default::default()
    };
    for version in [3, 5, 9] {
        let mut buf = [0u8; 256];
        let n = encode_response(&mut buf, 1, version, &response).unwrap();
        // The body after the size prefix and the header's correlation id
        // (and, flexible, its tagged fields).
        let header = if version >= 9 { 9 } else { 8 };
        let wire = ProduceResponse::wire_version(version).unwrap();
        let decoded = ProduceResponse::decode(&mut Reader::new(&buf[header..n]), wire).unwrap();
        let one = ProducedPartition::find(&decoded, version, "t", 1).unwrap();
        assert_eq!(one.base_offset, 40);
        assert_eq!(one.error, ErrorCode::NONE);
        let two = ProducedPartition::find(&decoded, version, "t", 2).unwrap();
        assert_eq!(two.error, ErrorCode::UNKNOWN_PRODUCER_ID);
        if version >= 5 {
            assert_eq!(one.log_start_offset, Some(3));
            assert_eq!(two.log_start_offset, Some(-1));
        } else {
            assert_eq!(two.log_start_offset, None);
        }
        assert_eq!(two.message, (version >= 8).then_some("gone"));
        assert!(ProducedPartition::find(&decoded, version, "t", 3).is_err());
        assert!(ProducedPartition::find(&decoded, version, "u", 1).is_err());
    }
}
