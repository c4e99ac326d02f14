//! A measurement, not an example: every microkafka-core call the producer
//! firmware makes (negotiation, Metadata, InitProducerId, Produce encode and
//! decode with core's fixed-version codecs, batching), driven synchronously from opaque inputs with
//! no network, no executor and no async code. Its size over an empty image
//! is the floor of what the Kafka protocol itself costs the producer.
#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use microkafka_core::balancer::{Balancer, MessageRef, Murmur2};
use microkafka_core::client::{Connection, MetadataCache};
use microkafka_core::producer::{Accumulator, ProduceErrorAction};
use microkafka_core::protocol::fixed::{
    self, ApiVersionsV0, InitProducerIdV0, MetadataV4, ProducedV3,
};
use microkafka_core::protocol::frame::extend_frame;
use microkafka_core::protocol::{ApiKey, NegotiatedVersions};
use microkafka_core::record::BatchOptions;
use panic_halt as _;

fn run(rx: &mut [u8], head: &mut [u8], batches: &mut [u8]) -> Option<()> {
    let mut conn = Connection::<1>::new(Some("microkafka")).ok()?;
    let api = ApiKey::ApiVersions;
    let sent = conn
        .encode_with(head, api, fixed::API_VERSIONS, true, &mut |_| Ok(()))
        .ok()?;
    black_box(&head[..sent.len]);
    let n = black_box(rx.len());
    let answer = ApiVersionsV0::decode(conn.receive_unapplied(&rx[..n]).ok()?.body).ok()?;
    conn.set_versions(NegotiatedVersions::from_ranges(answer.ranges()));

    let sent = conn
        .encode_with(head, ApiKey::Metadata, fixed::METADATA, true, &mut |w| {
            fixed::encode_metadata_request(w, "telemetry")
        })
        .ok()?;
    black_box(&head[..sent.len]);
    let body = conn.receive_unapplied(&rx[..n]).ok()?.body;
    let mut cache = MetadataCache::<3, 8>::new();
    cache
        .update_fixed(&MetadataV4::decode(body, "telemetry").ok()?)
        .ok()?;

    let sent = conn
        .encode_with(
            head,
            ApiKey::InitProducerId,
            fixed::INIT_PRODUCER_ID,
            true,
            &mut fixed::encode_init_producer_id_request,
        )
        .ok()?;
    black_box(&head[..sent.len]);
    let pid = InitProducerIdV0::decode(conn.receive_unapplied(&rx[..n]).ok()?.body).ok()?;

    let mut acc = Accumulator::<1>::new(batches, 5, usize::MAX).ok()?;
    let partition = Murmur2::default().balance(
        &MessageRef::new(Some(b"sensor-1"), Some(b"1")),
        cache.partitions(),
    )?;
    let now = black_box(1u64);
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
    let records = batch.len();
    let sent = conn
        .encode_with(head, ApiKey::Produce, fixed::PRODUCE, true, &mut |w| {
            fixed::encode_produce_request_head(w, -1, 10_000, "telemetry", partition, records)
        })
        .ok()?;
    extend_frame(head, records).ok()?;
    black_box((&head[..sent.len], &*batch));
    let body = conn.receive_unapplied(&rx[..n]).ok()?.body;
    let produced = ProducedV3::decode(body, "telemetry", partition).ok()?;
    black_box(ProduceErrorAction::classify(produced.error_code));
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
