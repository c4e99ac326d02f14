//! Every message handed to a Writer gets exactly one outcome, whatever
//! happens: a panicking completion callback, the runtime shutting down with
//! batches queued, a broker that never answers. `close` reports the errors
//! nobody was told about, and returns in bounded time.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster;
use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;
use microkafka_mock_broker::{Config, Fault, MockCluster};
use microkafka_std::{Completion, Dialer, Message, Writer, WriterConfig};

/// How long a test waits before calling a write or a close hung.
const PATIENCE: Duration = Duration::from_secs(30);

/// Counts the messages of the batches reported to a completion callback.
#[derive(Default)]
struct Outcomes {
    written: AtomicUsize,
    failed: AtomicUsize,
}

impl Outcomes {
    fn callback(self: &Arc<Self>) -> microkafka_std::CompletionFn {
        let me = self.clone();
        Arc::new(move |c: &Completion<'_>| {
            let n = if c.error.is_none() {
                &me.written
            } else {
                &me.failed
            };
            n.fetch_add(c.messages, Ordering::SeqCst);
        })
    }

    fn total(&self) -> usize {
        self.written.load(Ordering::SeqCst) + self.failed.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_completion_callback_does_not_wedge_the_writer() {
    let c = cluster().await;
    c.create_topic("wo-panic", 1).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let writer = Writer::new(WriterConfig {
        // The queue fills after two batches: a wedged sender blocks writes.
        max_buffered_batches: 1,
        batch_size: 1,
        completion: Some(Arc::new(move |_: &Completion<'_>| {
            seen.fetch_add(1, Ordering::SeqCst);
            panic!("a callback with a bug");
        })),
        ..WriterConfig::new(&[&c.bootstrap_servers()], "wo-panic")
    })
    .unwrap();
    for round in 0..3 {
        tokio::time::timeout(PATIENCE, writer.write_messages(&[Message::new(b"x")]))
            .await
            .unwrap_or_else(|_| panic!("round {round}: the write never returned"))
            .unwrap();
    }
    let values: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let msgs: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
    tokio::time::timeout(PATIENCE, writer.write_messages(&msgs))
        .await
        .expect("a batch of 20 one-message batches never returned")
        .unwrap();
    assert_eq!(c.offsets("wo-panic", 0).unwrap().1, 23);
    let closed = tokio::time::timeout(PATIENCE, writer.close())
        .await
        .expect("close never returned");
    let e = closed.expect_err("the panics are reported by close");
    assert!(e.to_string().contains("a callback with a bug"), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 23, "one call per batch");
}

/// An async Writer's runtime shuts down while batches are queued and being
/// sent: each message still gets its one outcome (an error for those not
/// written).
#[test]
fn queued_messages_get_an_outcome_when_the_runtime_shuts_down() {
    let c = MockCluster::start_in_background(Config::with_brokers(1)).unwrap();
    c.create_topic("wo-shutdown", 3).unwrap();
    // Answers come late, so the shutdown finds every batch unwritten: in a
    // sender's hands (waiting for its producer id) or queued behind it.
    c.set_latency(1, Duration::from_millis(300)).unwrap();
    let outcomes = Arc::new(Outcomes::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let brokers = c.bootstrap_servers();
    let writer = runtime.block_on(async {
        let writer = Writer::new(WriterConfig {
            async_: true,
            batch_size: 100,
            completion: Some(outcomes.callback()),
            ..WriterConfig::new(&[&brokers], "wo-shutdown")
        })
        .unwrap();
        let values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
        let msgs: Vec<Message<'_>> = values.iter().map(|v| Message::new(v.as_bytes())).collect();
        writer.write_messages(&msgs).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        writer
    });
    drop(runtime);
    drop(writer);
    eprintln!(
        "written {}, failed {}",
        outcomes.written.load(Ordering::SeqCst),
        outcomes.failed.load(Ordering::SeqCst)
    );
    assert!(
        outcomes.failed.load(Ordering::SeqCst) > 0,
        "the shutdown caught batches unwritten"
    );
    assert_eq!(outcomes.total(), 1000, "one outcome per message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_reports_the_errors_nobody_was_told_about() {
    let c = cluster().await;
    c.create_topic("wo-close", 1).unwrap();
    let brokers = c.bootstrap_servers();

    // Async, no callback: only close can tell.
    c.inject(Fault::error(
        ApiKey::Produce,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED,
    ));
    let writer = Writer::new(WriterConfig {
        async_: true,
        ..WriterConfig::new(&[&brokers], "wo-close")
    })
    .unwrap();
    writer
        .write_messages(&[Message::new(b"lost")])
        .await
        .unwrap();
    let e = writer
        .close()
        .await
        .expect_err("the failed batch is reported");
    assert_eq!(e.code(), Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED), "{e}");
    assert_eq!(e.context().topic.as_deref(), Some("wo-close"), "{e}");

    // Synchronous: the caller was told, close has nothing to add.
    c.inject(Fault::error(
        ApiKey::Produce,
        ErrorCode::TOPIC_AUTHORIZATION_FAILED,
    ));
    let writer = Writer::new(WriterConfig::new(&[&brokers], "wo-close")).unwrap();
    let told = writer
        .write_messages(&[Message::new(b"refused")])
        .await
        .unwrap_err();
    assert_eq!(
        told.first().and_then(|e| e.code()),
        Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED)
    );
    writer.close().await.unwrap();
}

#[test]
fn zero_timeouts_mean_the_defaults() {
    let writer = Writer::new(WriterConfig {
        write_timeout: Duration::ZERO,
        read_timeout: Duration::ZERO,
        close_timeout: Duration::ZERO,
        dialer: Dialer {
            timeout: Duration::ZERO,
            request_timeout: Duration::ZERO,
            ..Dialer::default()
        },
        ..WriterConfig::new(&["127.0.0.1:9"], "t")
    })
    .unwrap();
    let cfg = writer.config();
    let defaults = WriterConfig::default();
    assert_eq!(cfg.write_timeout, Duration::from_secs(10));
    assert_eq!(cfg.read_timeout, Duration::from_secs(10));
    assert_eq!(cfg.close_timeout, defaults.close_timeout);
    assert!(!cfg.close_timeout.is_zero());
    assert_eq!(cfg.dialer.timeout, Dialer::default().timeout);
    assert_eq!(cfg.dialer.request_timeout, cfg.read_timeout);
}

/// A broker that never answers a Produce: with a zero `write_timeout` (the
/// default, 10 s) the write fails with a timeout instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_broker_does_not_hang_a_write() {
    let c = cluster().await;
    c.create_topic("wo-silent", 1).unwrap();
    c.inject(Fault::no_response(ApiKey::Produce, 100));
    let writer = Writer::new(WriterConfig {
        write_timeout: Duration::ZERO,
        max_attempts: 1,
        ..WriterConfig::new(&[&c.bootstrap_servers()], "wo-silent")
    })
    .unwrap();
    let started = Instant::now();
    let e = tokio::time::timeout(PATIENCE, writer.write_messages(&[Message::new(b"x")]))
        .await
        .expect("the write never returned")
        .unwrap_err();
    assert!(e.first().unwrap().is_timeout(), "{e}");
    assert!(started.elapsed() >= Duration::from_secs(9));
    tokio::time::timeout(PATIENCE, writer.close())
        .await
        .expect("close never returned")
        .unwrap();
}

/// `close` waits at most `close_timeout` for a broker that never answers;
/// what it could not flush fails (and is reported) instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_bounded_by_close_timeout() {
    let c = cluster().await;
    c.create_topic("wo-close-bound", 1).unwrap();
    c.inject(Fault::no_response(ApiKey::Produce, 100));
    let config = |completion| WriterConfig {
        async_: true,
        write_timeout: Duration::from_secs(60),
        close_timeout: Duration::from_secs(1),
        completion,
        ..WriterConfig::new(&[&c.bootstrap_servers()], "wo-close-bound")
    };

    // No callback: close reports what it gave up on.
    let writer = Writer::new(config(None)).unwrap();
    writer.write_messages(&[Message::new(b"x")]).await.unwrap();
    let started = Instant::now();
    let e = tokio::time::timeout(PATIENCE, writer.close())
        .await
        .expect("close never returned")
        .expect_err("the batch close gave up on is reported");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(e.is_timeout(), "{e}");

    // With a callback: the callback hears of it, once.
    let outcomes = Arc::new(Outcomes::default());
    let writer = Writer::new(config(Some(outcomes.callback()))).unwrap();
    writer.write_messages(&[Message::new(b"y")]).await.unwrap();
    let started = Instant::now();
    tokio::time::timeout(PATIENCE, writer.close())
        .await
        .expect("close never returned")
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(outcomes.failed.load(Ordering::SeqCst), 1);
    assert_eq!(outcomes.total(), 1);
}
