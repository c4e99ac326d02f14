//! Requests captured from real librdkafka clients (kcat 1.7.1 / librdkafka
//! 2.0.2, and confluent-kafka 2.16.1 / librdkafka 2.16.0): microkafka decodes
//! each field by field and re-encodes it byte for byte. Responses in the same
//! folder were written by the capture listener (an independent Python
//! encoder) and must decode too. See `tests/data/README.md`.

use microkafka_core::protocol::frame::{
    decode_request, decode_response, encode_request, encode_response, split_frame,
};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::{ApiKey, NegotiatedVersions, Request, Response};
use microkafka_core::ErrorCode;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/librdkafka");

fn read(name: &str) -> &'static [u8] {
    Vec::leak(std::fs::read(format!("{DATA}/{name}")).unwrap_or_else(|e| panic!("{name}: {e}")))
}

/// Decodes a captured request frame and checks that re-encoding it gives the
/// same bytes; returns the header's correlation id, client id and the body.
fn request<R: Request<'static>>(name: &str, version: i16) -> (i32, Option<&'static str>, R) {
    let frame = read(name);
    let (body, used) = split_frame(frame, 1 << 20).unwrap().expect("whole frame");
    assert_eq!(used, frame.len(), "{name}: one frame per file");
    let (header, decoded) = decode_request::<R>(body).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(header.api_key, R::API_KEY.key());
    assert_eq!(header.api_version, version);
    let mut out = vec![0u8; frame.len() + 64];
    let n = encode_request(
        &mut out,
        header.correlation_id,
        header.client_id,
        version,
        &decoded,
    )
    .unwrap();
    assert_eq!(&out[..n], frame, "{name}: re-encoded bytes differ");
    (header.correlation_id, header.client_id, decoded)
}

/// Decodes a response frame written by the capture listener and re-encodes it.
fn response<R: Response<'static>>(name: &str, version: i16) -> R {
    let frame = read(name);
    let (body, _) = split_frame(frame, 1 << 20).unwrap().expect("whole frame");
    let (_, decoded) =
        decode_response::<R>(body, version).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut out = vec![0u8; frame.len() + 64];
    let n = encode_response(
        &mut out,
        i32::from_be_bytes(body[..4].try_into().unwrap()),
        version,
        &decoded,
    )
    .unwrap();
    assert_eq!(&out[..n], frame, "{name}: re-encoded bytes differ");
    decoded
}

#[test]
fn api_versions_v3_from_both_clients() {
    for (client, software, version) in [
        ("kcat2.0.2", "librdkafka", "2.0.2"),
        (
            "librdkafka2.16",
            "confluent-kafka-python",
            "2.16.1-rdkafka-2.16.0",
        ),
    ] {
        let (_, client_id, req) =
            request::<ApiVersionsRequest<'_>>(&format!("{client}-ApiVersions-v3-req.bin"), 3);
        assert_eq!(client_id, Some("rdkafka"));
        assert_eq!(req.client_software_name, software, "{client}");
        assert_eq!(req.client_software_version, version, "{client}");
    }
}

#[test]
fn api_versions_v0_fallback_request() {
    // After a KIP-511 UNSUPPORTED_VERSION reply both clients retry at v0, whose body is empty.
    for client in ["kcat2.0.2", "librdkafka2.16"] {
        let (_, client_id, req) =
            request::<ApiVersionsRequest<'_>>(&format!("{client}-ApiVersions-v0-req.bin"), 0);
        assert_eq!(client_id, Some("rdkafka"));
        assert_eq!(req, ApiVersionsRequest::default());
    }
}

#[test]
fn api_versions_responses_negotiate() {
    let resp = response::<ApiVersionsResponse<'_>>("kcat2.0.2-ApiVersions-v3-resp.bin", 3);
    assert_eq!(resp.error_code, ErrorCode::NONE);
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert_eq!((produce.min_version, produce.max_version), (0, 11));
    let negotiated = NegotiatedVersions::from_response(&resp);
    assert_eq!(negotiated.version(ApiKey::Produce), Ok(11));
    assert_eq!(negotiated.version(ApiKey::Metadata), Ok(12));
    // The KIP-511 reply: error 35 and a v0 body listing the supported range.
    let unsupported =
        response::<ApiVersionsResponse<'_>>("kcat2.0.2-ApiVersions-v3-unsupported-resp.bin", 0);
    assert_eq!(unsupported.error_code, ErrorCode::UNSUPPORTED_VERSION);
    let av = unsupported
        .api_keys
        .iter()
        .find(|k| k.api_key == 18)
        .unwrap();
    assert_eq!((av.min_version, av.max_version), (0, 2));
}

#[test]
fn metadata_v4_from_kcat() {
    // `kcat -L`: null topics (all topics); librdkafka's broker probe: an empty list.
    let (_, _, all) = request::<MetadataRequest<'_>>("kcat2.0.2-Metadata-v4-all-req.bin", 4);
    assert_eq!(all.topics, None);
    assert!(all.allow_auto_topic_creation);
    let (_, _, brokers) =
        request::<MetadataRequest<'_>>("kcat2.0.2-Metadata-v4-brokers-req.bin", 4);
    assert_eq!(brokers.topics.map(|t| t.len()), Some(0));
    assert!(!brokers.allow_auto_topic_creation);
    let (_, _, topics) = request::<MetadataRequest<'_>>("kcat2.0.2-Metadata-v4-topics-req.bin", 4);
    let names: Vec<_> = topics.topics.unwrap().iter().map(|t| t.name).collect();
    assert_eq!(names, [Some("golden")]);
    assert!(topics.allow_auto_topic_creation);
}

#[test]
fn metadata_v12_from_librdkafka_2_16() {
    let (_, _, topics) =
        request::<MetadataRequest<'_>>("librdkafka2.16-Metadata-v12-topics-req.bin", 12);
    let topic = topics.topics.unwrap().iter().next().unwrap();
    assert_eq!(topic.name, Some("golden"));
    assert_eq!(topic.topic_id, microkafka_core::wire::Uuid::ZERO);
    assert!(topics.allow_auto_topic_creation);
    assert!(!topics.include_topic_authorized_operations);
    let (_, _, brokers) =
        request::<MetadataRequest<'_>>("librdkafka2.16-Metadata-v12-brokers-req.bin", 12);
    assert_eq!(brokers.topics.map(|t| t.len()), Some(0));
}

#[test]
fn metadata_v12_all_topics_with_librdkafkas_stray_bytes() {
    // librdkafka 2.16 follows a null-topics v12 body with three extra bytes.
    // Brokers ignore them and so does microkafka; re-encoding gives the
    // canonical form without them.
    let name = "librdkafka2.16-Metadata-v12-all-req.bin";
    let frame = read(name);
    let (body, _) = split_frame(frame, 1 << 20).unwrap().unwrap();
    let (header, req) = decode_request::<MetadataRequest<'_>>(body).unwrap();
    assert_eq!(req.topics, None);
    assert!(!req.allow_auto_topic_creation);
    let mut out = vec![0u8; frame.len()];
    let n = encode_request(&mut out, header.correlation_id, header.client_id, 12, &req).unwrap();
    assert_eq!(n, frame.len() - 3);
    assert_eq!(&out[4..n], &frame[4..frame.len() - 3]);
    assert_eq!(&frame[frame.len() - 3..], &[0x01, 0x00, 0x00]);
}

#[test]
fn produce_requests_carry_the_batch_byte_for_byte() {
    for (client, version) in [("kcat2.0.2", 7), ("librdkafka2.16", 10)] {
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
            let name = format!("{client}-Produce-v{version}-{codec}-req.bin");
            let (_, client_id, req) = request::<ProduceRequest<'_>>(&name, version);
            assert_eq!(client_id, Some("rdkafka"));
            assert_eq!(req.transactional_id, None);
            assert_eq!(req.acks, 1, "{name}");
            assert_eq!(req.timeout_ms, 30_000, "{name}");
            let topics: Vec<_> = req.topic_data.iter().collect();
            assert_eq!(topics.len(), 1);
            assert_eq!(topics[0].name, "golden");
            let partitions: Vec<_> = topics[0].partition_data.iter().collect();
            assert_eq!(partitions.len(), 1);
            assert_eq!(partitions[0].index, 0);
            let batch = read(&format!("{client}-record-batch-{codec}.bin"));
            assert_eq!(
                partitions[0].records,
                Some(batch),
                "{name}: records differ from the extracted batch"
            );
        }
    }
}

#[test]
fn produce_and_metadata_responses_from_the_listener_decode() {
    let resp = response::<ProduceResponse<'_>>("kcat2.0.2-Produce-v7-none-resp.bin", 7);
    let partition = resp
        .responses
        .iter()
        .next()
        .unwrap()
        .partition_responses
        .iter()
        .next()
        .unwrap();
    assert_eq!(partition.error_code, ErrorCode::NONE);
    let resp = response::<ProduceResponse<'_>>("librdkafka2.16-Produce-v10-none-resp.bin", 10);
    assert_eq!(resp.responses.len(), 1);
    let md = response::<MetadataResponse<'_>>("librdkafka2.16-Metadata-v12-topics-resp.bin", 12);
    let broker = md.brokers.iter().next().unwrap();
    assert_eq!(broker.host, "127.0.0.1");
    let topic = md.topics.iter().next().unwrap();
    assert_eq!(topic.name, Some("golden"));
    let md4 = response::<MetadataResponse<'_>>("kcat2.0.2-Metadata-v4-topics-resp.bin", 4);
    assert_eq!(
        md4.topics.iter().next().unwrap().partitions.len(),
        topic.partitions.len()
    );
}
