//! A measurement, not an example: every microkafka-core call the producer
//! firmware makes (negotiation, Metadata, InitProducerId, Produce encode and
//! decode, batching, splicing), driven synchronously from opaque inputs with
//! no network, no executor and no async code. Its size over an empty image
//! is the floor of what the Kafka protocol itself costs the producer.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use microkafka_core::balancer::{Balancer, MessageRef, Murmur2};
use microkafka_core::client::{Connection, MetadataCache};
use microkafka_core::producer::{splice_records, Accumulator, ProduceErrorAction};
use microkafka_core::protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, MetadataRequest, MetadataRequestTopic,
    MetadataResponse, PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use microkafka_core::record::BatchOptions;
use microkafka_core::wire::{Array, Uuid};
use panic_halt as _;

fn run(rx: &mut [u8], head: &mut [u8], batches: &mut [u8]) -> Option<()> {
    let mut conn = Connection::<1>::new(Some("microkafka")).ok()?;
    let sent = conn.start(head).ok()?;
    black_box(&head[..sent.len]);
    let n = black_box(rx.len());
    conn.receive(&rx[..n]).ok()?;

    let topics = [MetadataRequestTopic {
        topic_id: Uuid::ZERO,
        name: Some("telemetry"),
    }];
    let request = MetadataRequest {
        topics: Some(Array::new(&topics)),
        ..Default::default()
    };
    let sent = conn.encode(head, &request).ok()?;
    black_box(&head[..sent.len]);
    let metadata: MetadataResponse<'_> = conn.receive(&rx[..n]).ok()?.decode().ok()?;
    let mut cache = MetadataCache::<3, 8>::new();
    cache.update(&metadata, "telemetry").ok()?;

    let init = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 0,
        producer_id: -1,
        producer_epoch: -1,
    };
    let sent = conn.encode(head, &init).ok()?;
    black_box(&head[..sent.len]);
    let pid: InitProducerIdResponse = conn.receive(&rx[..n]).ok()?.decode().ok()?;

    let mut acc =
        Accumulator::<1>::new(batches, core::time::Duration::from_millis(5), usize::MAX).ok()?;
    let partition = Murmur2::default().balance(
        &MessageRef::new(Some(b"sensor-1"), Some(b"1")),
        cache.partitions(),
    )?;
    let now = core::time::Duration::from_millis(black_box(1));
    acc.append(
        now,
        partition,
        black_box(-1),
        Some(b"sensor-1"),
        Some(b"21.5"),
        &[],
    )
    .ok()?;
    let slot = acc.due(now)?;
    let options = BatchOptions {
        producer_id: pid.producer_id,
        producer_epoch: pid.producer_epoch,
        base_sequence: 0,
        ..Default::default()
    };
    let batch = acc.seal(slot, options).ok()?;
    let parts = [PartitionProduceData {
        index: partition,
        records: Some(&[]),
    }];
    let topics = [TopicProduceData {
        name: "telemetry",
        partition_data: Array::new(&parts),
    }];
    let produce = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: Array::new(&topics),
        ..Default::default()
    };
    let sent = conn.encode(head, &produce).ok()?;
    let spliced = splice_records(head, sent.len, sent.version, batch.len()).ok()?;
    black_box((&head[..spliced.head_len], &*batch));
    let response: ProduceResponse<'_> = conn.receive(&rx[..n]).ok()?.decode().ok()?;
    for t in response.responses.iter() {
        for p in t.partition_responses.iter() {
            black_box(ProduceErrorAction::classify(p.error_code));
        }
    }
    acc.release(slot);
    Some(())
}

#[entry]
fn main() -> ! {
    let mut rx = [0u8; 512];
    let mut head = [0u8; 256];
    let mut batches = [0u8; 1024];
    black_box(&mut rx);
    black_box(run(&mut rx, &mut head, &mut batches));
    loop {
        cortex_m::asm::nop();
    }
}
