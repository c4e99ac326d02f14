//! The idempotent Writer follows core's policy (the Java client's after
//! KIP-360): a sequence gap or a refused epoch costs a new epoch, not the
//! batch; what the broker stores runs from sequence 0 under each epoch.

mod common;

use std::time::Duration;

use common::cluster;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::{Batch, RecordSet};
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Fault, MockCluster};
use microkafka_std::{Message, Writer, WriterConfig};

/// `(producer id, epoch, base sequence, records)` of every batch stored in
/// `topic`'s partition 0.
fn stored(c: &MockCluster, topic: &str) -> Vec<(i64, i16, i32, i32)> {
    let bytes = c.log_bytes(topic, 0, 0).unwrap();
    RecordSet::new(&bytes)
        .map(|b| match b.unwrap() {
            Batch::V2(b) => (
                b.producer_id(),
                b.producer_epoch(),
                b.base_sequence(),
                b.records_count(),
            ),
            Batch::Legacy(_) => panic!("a legacy message set"),
        })
        .collect()
}

fn writer(c: &MockCluster, topic: &str) -> Writer {
    Writer::new(WriterConfig {
        write_backoff_min: Duration::from_millis(1),
        ..WriterConfig::new(&[&c.bootstrap_servers()], topic)
    })
    .unwrap()
}

async fn write(w: &Writer, values: &[&str]) -> Result<(), microkafka_std::WriteErrors> {
    let msgs: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    w.write_messages(&msgs).await
}

/// `OUT_OF_ORDER_SEQUENCE_NUMBER` on the batch right after the last one
/// acknowledged is a real gap: the Writer takes the next epoch and writes
/// the batch from sequence 0 (it used to fail the batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequence_gap_takes_a_new_epoch_and_the_batch_is_written() {
    let c = cluster().await;
    c.create_topic("gap", 1).unwrap();
    let w = writer(&c, "gap");
    write(&w, &["a", "b"]).await.unwrap();
    c.inject(Fault::error(
        ApiKey::Produce,
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
    ));
    write(&w, &["c", "d", "e"]).await.unwrap();
    write(&w, &["f"]).await.unwrap();
    let batches = stored(&c, "gap");
    let pid = batches[0].0;
    assert!(pid >= 0);
    assert_eq!(
        batches,
        [(pid, 0, 0, 2), (pid, 1, 0, 3), (pid, 1, 3, 1)],
        "the gap's batch restarts at 0 under epoch 1"
    );
    assert_eq!(c.offsets("gap", 0).unwrap().1, 6, "each message once");
    let stats = w.stats();
    assert_eq!((stats.retries, stats.errors), (1, 0), "{stats:?}");
    w.close().await.unwrap();
}

/// `INVALID_PRODUCER_EPOCH` fails the batch (as the Java client's
/// InvalidProducerEpochException), and its numbers being in doubt, the
/// next batch starts a new epoch instead of colliding with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_epoch_fails_the_batch_and_the_next_one_takes_a_new_epoch() {
    let c = cluster().await;
    c.create_topic("epoch", 1).unwrap();
    let w = writer(&c, "epoch");
    write(&w, &["a"]).await.unwrap();
    c.inject(Fault::error(
        ApiKey::Produce,
        ErrorCode::INVALID_PRODUCER_EPOCH,
    ));
    let e = write(&w, &["b", "c"]).await.unwrap_err();
    assert_eq!(e.count(), 2);
    assert_eq!(
        e.first().unwrap().code(),
        Some(ErrorCode::INVALID_PRODUCER_EPOCH)
    );
    write(&w, &["d"]).await.unwrap();
    write(&w, &["e", "f"]).await.unwrap();
    let batches = stored(&c, "epoch");
    let pid = batches[0].0;
    assert_eq!(batches, [(pid, 0, 0, 1), (pid, 1, 0, 1), (pid, 1, 1, 2)]);
    w.close().await.unwrap();
}

/// A lost answer: the retry is the same batch (same epoch and sequence),
/// which the broker recognizes as a duplicate: stored once, and no new
/// epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_stored_batch_is_a_duplicate_not_a_gap() {
    let c = cluster().await;
    c.create_topic("dup", 1).unwrap();
    let w = writer(&c, "dup");
    write(&w, &["a", "b"]).await.unwrap();
    c.inject(Fault::lose_response(ApiKey::Produce, 1));
    write(&w, &["c"]).await.unwrap();
    write(&w, &["d"]).await.unwrap();
    let batches = stored(&c, "dup");
    let pid = batches[0].0;
    assert_eq!(batches, [(pid, 0, 0, 2), (pid, 0, 2, 1), (pid, 0, 3, 1)]);
    w.close().await.unwrap();
}
