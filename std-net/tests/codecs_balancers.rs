//! Every codec end to end, and keyed messages landing where core's
//! balancers (the other clients' partitioners) say.

mod common;

use common::{cluster, read_all};
use microkafka_core::balancer::{Balancer, Crc32, Hash, MessageRef, Murmur2, ReferenceHash};
use microkafka_core::record::compression::Compression;
use microkafka_core::record::RecordBatch;
use microkafka_std::{BalancerKind, Message, Writer, WriterConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_writes_and_reads_back() {
    let c = cluster().await;
    for codec in Compression::ALL {
        let topic = format!("codec-{}", codec.name());
        c.create_topic(&topic, 2).unwrap();
        let writer = Writer::new(WriterConfig {
            compression: codec,
            balancer: BalancerKind::Hash,
            batch_size: 400,
            ..WriterConfig::new(&[&c.bootstrap_servers()], &topic)
        })
        .unwrap();
        let values: Vec<String> = (0..2000)
            .map(|i| {
                format!(
                    "{i:05} the quick brown fox jumps over the lazy dog {}",
                    i % 7
                )
            })
            .collect();
        let keys: Vec<String> = (0..2000).map(|i| format!("key-{}", i % 13)).collect();
        let msgs: Vec<Message<'_>> = values
            .iter()
            .zip(&keys)
            .map(|(v, k)| Message::new(v.as_bytes()).with_key(k.as_bytes()))
            .collect();
        writer.write_messages(&msgs).await.unwrap();
        let stats = writer.stats();
        writer.close().await.unwrap();

        // The broker stored batches with this codec...
        for p in 0..2 {
            let stored = c.log_bytes(&topic, p, 0).unwrap();
            let batch = RecordBatch::new_checked(&stored[..]).unwrap();
            assert_eq!(batch.attributes().compression(), Ok(codec), "{topic}[{p}]");
        }
        // ...that shrank the data (the values repeat a lot)...
        let raw = values.iter().map(|v| v.len() + 10).sum::<usize>() as u64;
        let sent = stats.batch_bytes.avg * stats.batch_bytes.count;
        if codec != Compression::None {
            assert!(
                sent * 2 < raw,
                "{}: {sent} bytes sent for {raw}",
                codec.name()
            );
        }
        // ...and every message reads back in order per key.
        let all = read_all(&c, &topic, 2).await;
        let mut got: Vec<(Vec<u8>, Vec<u8>)> = all
            .values()
            .flatten()
            .map(|(_, k, v)| (k.clone().unwrap(), v.clone()))
            .collect();
        assert_eq!(got.len(), 2000, "{}", codec.name());
        got.sort_by(|a, b| a.1.cmp(&b.1));
        for (i, (k, v)) in got.iter().enumerate() {
            assert_eq!(
                (k.as_slice(), v.as_slice()),
                (keys[i].as_bytes(), values[i].as_bytes())
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_messages_land_where_the_balancer_says() {
    let c = cluster().await;
    let ids: Vec<i32> = (0..6).collect();
    let cases: [(BalancerKind, Box<dyn Balancer>); 4] = [
        (BalancerKind::Hash, Box::new(Hash::default())),
        (
            BalancerKind::ReferenceHash,
            Box::new(ReferenceHash::default()),
        ),
        (BalancerKind::Crc32, Box::new(Crc32::default())),
        (BalancerKind::Murmur2, Box::new(Murmur2::default())),
    ];
    for (kind, mut reference) in cases {
        let topic = format!("keyed-{kind:?}");
        c.create_topic(&topic, 6).unwrap();
        let writer = Writer::new(WriterConfig {
            balancer: kind.clone(),
            ..WriterConfig::new(&[&c.bootstrap_servers()], &topic)
        })
        .unwrap();
        let keys: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
        let msgs: Vec<Message<'_>> = keys
            .iter()
            .map(|k| Message::new(k.as_bytes()).with_key(k.as_bytes()))
            .collect();
        writer.write_messages(&msgs).await.unwrap();
        writer.close().await.unwrap();
        let all = read_all(&c, &topic, 6).await;
        let mut used = 0;
        for (p, msgs) in &all {
            used += usize::from(!msgs.is_empty());
            for (_, key, _) in msgs {
                let key = key.as_deref().unwrap();
                let want = reference.balance(&MessageRef::new(Some(key), None), &ids);
                assert_eq!(want, Some(*p), "{kind:?}: {}", String::from_utf8_lossy(key));
            }
        }
        assert_eq!(all.values().map(Vec::len).sum::<usize>(), 300);
        assert!(used >= 5, "{kind:?} spreads keys");
    }
}
