//! The transactional Writer and the read_committed Reader against the mock
//! broker's transaction coordinator: committed transactions visible,
//! aborted ones hidden (partition and group Readers), offsets committed
//! only with their transaction, a newer producer fencing the older, a
//! zombie group member's offsets refused (KIP-447), and the coordinator's
//! faults (moved, unavailable, connections dropped) ridden through.

mod common;

use std::time::Duration;

use common::cluster;
use microkafka_core::protocol::ApiKey;
use microkafka_core::record::{Batch, RecordSet};
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Fault, MockCluster};
use microkafka_std::{
    BalancerKind, ConsumerGroupMetadata, ErrorKind, Message, Reader, ReaderConfig,
    TransactionalConfig, TransactionalWriter, TxnError, TxnState,
};

fn writer(c: &MockCluster, topic: &str, id: &str) -> TransactionalWriter {
    let mut config = TransactionalConfig::new(&[&c.bootstrap_servers()], topic, id);
    config.writer.balancer = BalancerKind::Hash;
    config.writer.write_backoff_min = Duration::from_millis(5);
    config.writer.write_backoff_max = Duration::from_millis(50);
    config.max_block = Duration::from_secs(20);
    TransactionalWriter::new(config).unwrap()
}

/// Writes `values` (keyed by themselves) in one transaction, then commits
/// or aborts it.
async fn transaction(w: &mut TransactionalWriter, values: &[String], commit: bool) {
    w.begin_transaction().unwrap();
    let messages: Vec<Message<'_>> = values
        .iter()
        .map(|v| Message::new(v.as_bytes()).with_key(v.as_bytes()))
        .collect();
    w.write_messages(&messages).await.unwrap();
    if commit {
        w.commit_transaction().await.unwrap();
    } else {
        w.abort_transaction().await.unwrap();
    }
}

fn values(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}{i}")).collect()
}

/// Reads `partition` until `want` messages came, then checks nothing more
/// comes within `quiet`. Returns the values.
async fn read(reader: &mut Reader, want: usize, quiet: Duration) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < want {
        let m = tokio::time::timeout(Duration::from_secs(20), reader.fetch_message())
            .await
            .unwrap_or_else(|_| panic!("only {} of {want} messages: {out:?}", out.len()))
            .unwrap();
        out.push(String::from_utf8(m.value.unwrap_or_default().to_vec()).unwrap());
    }
    if let Ok(extra) = tokio::time::timeout(quiet, reader.fetch_message()).await {
        let m = extra.unwrap();
        panic!(
            "an extra message at {}: {:?} (after {out:?})",
            m.offset,
            m.value.map(String::from_utf8_lossy)
        );
    }
    out
}

fn partition_reader(c: &MockCluster, topic: &str, partition: i32, committed: bool) -> Reader {
    Reader::new(ReaderConfig {
        read_committed: committed,
        max_wait: Duration::from_millis(200),
        ..ReaderConfig::new(&[&c.bootstrap_servers()], topic, partition)
    })
    .unwrap()
}

/// Committed, aborted, committed: read_committed partition Readers and a
/// read_committed group Reader see exactly the committed values, in order;
/// read_uncommitted sees all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_hides_aborted_transactions() {
    let c = cluster().await;
    c.create_topic("txn", 1).unwrap();
    let mut w = writer(&c, "txn", "txn-1");
    w.init_transactions().await.unwrap();
    transaction(&mut w, &values("a", 10), true).await;
    transaction(&mut w, &values("b", 10), false).await;
    transaction(&mut w, &values("c", 10), true).await;
    let stats = w.stats();
    assert_eq!((stats.committed, stats.aborted, stats.messages), (2, 1, 20));

    let mut committed: Vec<String> = values("a", 10);
    committed.extend(values("c", 10));
    let mut all = values("a", 10);
    all.extend(values("b", 10));
    all.extend(values("c", 10));

    let mut r = partition_reader(&c, "txn", 0, true);
    assert_eq!(
        read(&mut r, 20, Duration::from_millis(500)).await,
        committed
    );
    let mut r = partition_reader(&c, "txn", 0, false);
    assert_eq!(read(&mut r, 30, Duration::from_millis(500)).await, all);

    let mut g = Reader::new(ReaderConfig {
        read_committed: true,
        max_wait: Duration::from_millis(200),
        ..ReaderConfig::group(&[&c.bootstrap_servers()], "txn-readers", &["txn"])
    })
    .unwrap();
    assert_eq!(
        read(&mut g, 20, Duration::from_millis(500)).await,
        committed
    );
    g.close().await.unwrap();
    w.close().await.unwrap();
}

/// An open transaction holds read_committed readers back at its first
/// offset (the last stable offset) until it commits; read_uncommitted
/// readers see its records at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_waits_at_the_last_stable_offset() {
    let c = cluster().await;
    c.create_topic("lso", 1).unwrap();
    let mut w = writer(&c, "lso", "lso-1");
    w.init_transactions().await.unwrap();
    transaction(&mut w, &values("a", 3), true).await;
    w.begin_transaction().unwrap();
    let open = values("o", 3);
    let messages: Vec<Message<'_>> = open.iter().map(|v| Message::new(v.as_bytes())).collect();
    w.write_messages(&messages).await.unwrap();
    // Sent (the partition is idle, so the open batch went at once).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.offsets("lso", 0).unwrap().1 < 7 {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch was not sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut committed = partition_reader(&c, "lso", 0, true);
    assert_eq!(
        read(&mut committed, 3, Duration::from_millis(500)).await,
        values("a", 3)
    );
    let mut uncommitted = partition_reader(&c, "lso", 0, false);
    let mut all = values("a", 3);
    all.extend(open.iter().cloned());
    assert_eq!(
        read(&mut uncommitted, 6, Duration::from_millis(300)).await,
        all
    );
    w.commit_transaction().await.unwrap();
    assert_eq!(
        read(&mut committed, 3, Duration::from_millis(300)).await,
        open
    );
}

/// Offsets sent in a transaction are the group's only once it commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_commit_with_their_transaction_only() {
    let c = cluster().await;
    c.create_topic("in", 1).unwrap();
    c.create_topic("out", 1).unwrap();
    let mut w = writer(&c, "out", "offsets-1");
    w.init_transactions().await.unwrap();
    let group = ConsumerGroupMetadata::new("g");

    w.begin_transaction().unwrap();
    w.write_messages(&[Message::new(b"x")]).await.unwrap();
    w.send_offsets_to_transaction(&[("in", 0, 5)], &group)
        .await
        .unwrap();
    assert_eq!(c.committed_offset("g", "in", 0), None, "pending");
    w.abort_transaction().await.unwrap();
    assert_eq!(c.committed_offset("g", "in", 0), None, "aborted");

    w.begin_transaction().unwrap();
    w.write_messages(&[Message::new(b"y")]).await.unwrap();
    w.send_offsets_to_transaction(&[("in", 0, 7)], &group)
        .await
        .unwrap();
    w.commit_transaction().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.committed_offset("g", "in", 0) != Some(7) {
        assert!(std::time::Instant::now() < deadline, "offset not committed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A second producer with the same transactional id fences the first: its
/// open transaction is aborted and its commit fails for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_producer_fences_the_old_one() {
    let c = cluster().await;
    c.create_topic("fence", 1).unwrap();
    let mut old = writer(&c, "fence", "fence-1");
    old.init_transactions().await.unwrap();
    old.begin_transaction().unwrap();
    old.write_messages(&[Message::new(b"zombie")])
        .await
        .unwrap();

    let mut new = writer(&c, "fence", "fence-1");
    new.init_transactions().await.unwrap();
    let (old_id, old_epoch) = old.producer_id_and_epoch().unwrap();
    let (new_id, new_epoch) = new.producer_id_and_epoch().unwrap();
    assert_eq!(old_id, new_id);
    assert!(new_epoch > old_epoch, "{new_epoch} > {old_epoch}");

    let e = old.commit_transaction().await.unwrap_err();
    assert!(e.is_fatal(), "{e}");
    assert!(!e.is_abortable(), "{e}");
    assert!(
        matches!(
            e.code(),
            Some(ErrorCode::PRODUCER_FENCED | ErrorCode::INVALID_PRODUCER_EPOCH)
        ),
        "{e}"
    );
    assert_eq!(old.state(), TxnState::FatalError);
    // Every later call says the same.
    let again = old.begin_transaction().unwrap_err();
    assert!(again.is_fatal(), "{again}");

    transaction(&mut new, &["fresh".to_owned()], true).await;
    let mut r = partition_reader(&c, "fence", 0, true);
    assert_eq!(read(&mut r, 1, Duration::from_millis(500)).await, ["fresh"]);
}

/// KIP-447: offsets sent with a generation the group has left behind are
/// refused (ILLEGAL_GENERATION): the transaction is abortable, and the
/// member's current metadata commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_generation_makes_the_transaction_abortable() {
    let c = cluster().await;
    c.create_topic("src", 1).unwrap();
    c.create_topic("dst", 1).unwrap();
    let brokers = c.bootstrap_servers();
    let mut input = Reader::new(ReaderConfig {
        read_committed: true,
        max_wait: Duration::from_millis(200),
        ..ReaderConfig::group(&[&brokers], "kip447", &["src"])
    })
    .unwrap();
    let mut seed = writer(&c, "src", "seed");
    seed.init_transactions().await.unwrap();
    transaction(&mut seed, &values("s", 2), true).await;
    let m = tokio::time::timeout(Duration::from_secs(20), input.fetch_message())
        .await
        .unwrap()
        .unwrap();
    let next = m.offset + 1;
    let meta = input.group_metadata().unwrap();
    assert_eq!(meta.group_id, "kip447");
    assert!(meta.generation_id >= 1, "{meta:?}");
    assert!(!meta.member_id.is_empty(), "{meta:?}");

    let mut w = writer(&c, "dst", "kip447-1");
    w.init_transactions().await.unwrap();
    w.begin_transaction().unwrap();
    w.write_messages(&[Message::new(b"out")]).await.unwrap();
    let stale = ConsumerGroupMetadata {
        generation_id: meta.generation_id - 1,
        ..meta.clone()
    };
    let e = w
        .send_offsets_to_transaction(&[("src", 0, next)], &stale)
        .await
        .unwrap_err();
    assert!(e.is_abortable(), "{e}");
    assert!(
        matches!(
            e.kind(),
            ErrorKind::Transaction(TxnError::Abortable {
                api: ApiKey::TxnOffsetCommit,
                error: ErrorCode::ILLEGAL_GENERATION
            })
        ),
        "{e:?}"
    );
    let refused = w.commit_transaction().await.unwrap_err();
    assert!(refused.is_abortable(), "{refused}");
    w.abort_transaction().await.unwrap();

    w.begin_transaction().unwrap();
    w.write_messages(&[Message::new(b"out")]).await.unwrap();
    w.send_offsets_to_transaction(&[("src", 0, next)], &meta)
        .await
        .unwrap();
    w.commit_transaction().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while c.committed_offset("kip447", "src", 0) != Some(next) {
        assert!(std::time::Instant::now() < deadline, "offset not committed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    input.close().await.unwrap();
}

/// A batch the broker refuses for good makes the transaction abortable;
/// after the abort the next transaction commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_makes_the_transaction_abortable() {
    let c = cluster().await;
    c.create_topic("bad", 1).unwrap();
    let mut w = writer(&c, "bad", "bad-1");
    w.init_transactions().await.unwrap();
    c.inject(Fault::error(ApiKey::Produce, ErrorCode::INVALID_RECORD));
    w.begin_transaction().unwrap();
    // The failure may surface at the write (the batch went at once) or at
    // the commit.
    let failed = match w.write_messages(&[Message::new(b"lost")]).await {
        Err(e) => e,
        Ok(()) => w.commit_transaction().await.unwrap_err(),
    };
    assert!(failed.is_abortable(), "{failed}");
    assert_eq!(failed.code(), Some(ErrorCode::INVALID_RECORD), "{failed}");
    w.abort_transaction().await.unwrap();
    let before = w.producer_id_and_epoch();
    transaction(&mut w, &["kept".to_owned()], true).await;
    assert_eq!(w.producer_id_and_epoch(), before, "no new epoch needed");
    let mut r = partition_reader(&c, "bad", 0, true);
    assert_eq!(read(&mut r, 1, Duration::from_millis(500)).await, ["kept"]);
    // The refused batch took no sequence numbers: the next starts at 0
    // (a gap would have cost another abort and a new epoch).
    let bytes = c.log_bytes("bad", 0, 0).unwrap();
    let data: Vec<(i32, bool)> = RecordSet::new(&bytes)
        .filter_map(|b| match b.unwrap() {
            Batch::V2(b) if !b.attributes().is_control() => {
                Some((b.base_sequence(), b.attributes().is_transactional()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(data, [(0, true)]);
}

/// The coordinator moves, answers NOT_COORDINATOR and
/// COORDINATOR_NOT_AVAILABLE, drops connections and loses an EndTxn
/// answer: every transaction still commits exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_faults_are_ridden_through() {
    let c = cluster().await;
    c.create_topic("faulty", 3).unwrap();
    let mut w = writer(&c, "faulty", "faulty-1");
    w.init_transactions().await.unwrap();
    let mut expected = Vec::new();
    for round in 0..6 {
        match round {
            0 => c.move_coordinator("faulty-1", 2).unwrap(),
            1 => c.inject(Fault::errors(
                ApiKey::AddPartitionsToTxn,
                [
                    ErrorCode::NOT_COORDINATOR,
                    ErrorCode::CONCURRENT_TRANSACTIONS,
                ],
            )),
            2 => c.inject(Fault::error(
                ApiKey::EndTxn,
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
            )),
            3 => c.inject(Fault::disconnect(ApiKey::EndTxn, 1)),
            4 => c.inject(Fault::lose_response(ApiKey::AddPartitionsToTxn, 1)),
            _ => c.drop_all_connections(),
        }
        let vs = values(&format!("r{round}-"), 20);
        transaction(&mut w, &vs, true).await;
        expected.extend(vs);
        if round == 2 {
            c.move_coordinator("faulty-1", 3).unwrap();
        }
    }
    assert!(w.stats().coordinator_retries > 0, "{:?}", w.stats());
    let mut seen = Vec::new();
    for p in 0..3 {
        let (_, end) = c.offsets("faulty", p).unwrap();
        let mut r = partition_reader(&c, "faulty", p, true);
        // Markers take offsets too: read until the reader has nothing more.
        let mut got = Vec::new();
        while let Ok(m) = tokio::time::timeout(Duration::from_millis(700), r.fetch_message()).await
        {
            let m = m.unwrap();
            assert!(m.offset < end);
            got.push(String::from_utf8(m.value.unwrap().to_vec()).unwrap());
        }
        seen.extend(got);
    }
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
}
