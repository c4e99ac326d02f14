//! The producer's response handling in core, as the std Writer and the
//! embassy producer use it: a Produce request goes out on a `Connection`,
//! the input is the answer frame (byte 0 picks the negotiated version, byte
//! 1 the partition, byte 2 bit 0 keeps the input's correlation id instead of
//! the expected one). The general decoder (std) and the fixed Produce v3 /
//! InitProducerId v0 decoders (embassy) must agree where both read it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microkafka_core::client::Connection;
use microkafka_core::producer::ProduceErrorAction;
use microkafka_core::protocol::fixed::{InitProducerIdV0, ProducedV3};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::versions::client_versions;
use microkafka_core::protocol::{ApiKey, Message, NegotiatedVersions, VersionRange};
use microkafka_core::wire::{Array, Reader};
use microkafka_core_fuzz::Input;

const TOPIC: &str = "golden";

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let range = client_versions(ApiKey::Produce);
    let version = range.min + (i16::from(input.u8()) % (range.max - range.min + 1));
    let partition = i32::from(input.u8() % 4);
    let keep_correlation = input.u8() & 1 == 1;
    let mut frame = input.rest().to_vec();

    let mut conn: Connection<2> = Connection::new(Some("fuzz")).unwrap();
    let advertised = [(ApiKey::Produce.key(), VersionRange::new(version, version))];
    conn.set_versions(NegotiatedVersions::from_ranges(advertised));
    let parts = [PartitionProduceData {
        index: partition,
        records: Some(&[]),
    }];
    let topics = [TopicProduceData {
        name: TOPIC,
        partition_data: Array::new(&parts),
    }];
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: Array::new(&topics),
        ..Default::default()
    };
    let sent = conn
        .encode(&mut [0u8; 128], &request)
        .expect("a small request");
    if !keep_correlation && frame.len() >= 4 {
        frame[..4].copy_from_slice(&sent.correlation_id.to_be_bytes());
    }
    let Ok(received) = conn.receive(&frame) else {
        return;
    };
    assert_eq!((received.api, received.version), (ApiKey::Produce, version));
    let body = received.body;

    // std: the general decoder, the partition's first answer, its retry class.
    let general = received.decode::<ProduceResponse<'_>>().ok();
    let answers: Vec<_> = general
        .iter()
        .flat_map(|r| r.responses.iter())
        .filter(|t| t.name == TOPIC)
        .flat_map(|t| t.partition_responses.iter())
        .filter(|p| p.index == partition)
        .collect();
    if let Some(first) = answers.first() {
        let _ = ProduceErrorAction::classify(first.error_code).is_retriable();
    }
    // embassy: the fixed v3 decoder reads the same answer (its last one).
    if version == 3 {
        match ProducedV3::decode(body, TOPIC, partition) {
            Ok(fixed) => {
                if general.is_some() {
                    let last = answers.last().expect("the general decoder finds it too");
                    assert_eq!(
                        (fixed.error_code, fixed.base_offset),
                        (last.error_code, last.base_offset)
                    );
                }
            }
            Err(_) => assert!(
                answers.is_empty(),
                "the fixed decoder refused what the general one read"
            ),
        }
    }
    // embassy's InitProducerId v0 answer, against the general decoder.
    let v0 = <InitProducerIdResponse as Message>::wire_version(0).unwrap();
    let general =
        <InitProducerIdResponse as microkafka_core::wire::Wire>::decode(&mut Reader::new(body), v0);
    match (InitProducerIdV0::decode(body), general) {
        (Ok(fixed), Ok(general)) => assert_eq!(
            (fixed.error_code, fixed.producer_id, fixed.producer_epoch),
            (
                general.error_code,
                general.producer_id,
                general.producer_epoch
            )
        ),
        (Err(_), Ok(_)) => {
            panic!("the fixed InitProducerId decoder refused what the general one read")
        }
        _ => {}
    }
});
