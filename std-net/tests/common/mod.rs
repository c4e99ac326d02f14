//! Shared helpers: a 3-broker mock cluster and reading partitions back.

#![allow(dead_code)] // each test file uses its own subset

use std::collections::HashMap;
use std::time::Duration;

use microkafka_mock_broker::{Config, MockCluster};
use microkafka_std::{Reader, ReaderConfig};

/// A 3-broker in-process cluster.
pub(crate) async fn cluster() -> MockCluster {
    MockCluster::start(Config::with_brokers(3)).await.unwrap()
}

/// `(offset, key, value)` of each message read.
pub(crate) type Read = Vec<(i64, Option<Vec<u8>>, Vec<u8>)>;

/// Reads `partition` from the first offset until `count` messages are in;
/// returns `(offset, key, value)`.
pub(crate) async fn read_partition(
    brokers: &str,
    topic: &str,
    partition: i32,
    count: usize,
) -> Read {
    let mut reader = Reader::new(ReaderConfig::new(&[brokers], topic, partition)).unwrap();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let m = tokio::time::timeout(Duration::from_secs(20), reader.fetch_message())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{topic}[{partition}]: only {} of {count} messages",
                    out.len()
                )
            })
            .unwrap();
        out.push((
            m.offset,
            m.key.map(<[u8]>::to_vec),
            m.value.unwrap_or_default().to_vec(),
        ));
    }
    reader.close().await.unwrap();
    out
}

/// Every message of every partition, by partition.
pub(crate) async fn read_all(
    cluster: &MockCluster,
    topic: &str,
    partitions: i32,
) -> HashMap<i32, Read> {
    let brokers = cluster.bootstrap_servers();
    let mut out = HashMap::new();
    for p in 0..partitions {
        let (_, end) = cluster.offsets(topic, p).unwrap();
        out.insert(p, read_partition(&brokers, topic, p, end as usize).await);
    }
    out
}
