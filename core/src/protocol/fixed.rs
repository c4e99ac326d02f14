//! Fixed-version codecs: the four exchanges a producer needs, each at the one
//! version every broker from Kafka 0.11 through 4.x accepts, for clients where
//! flash is the limit (the embassy port).
//!
//! Why a second form: the codecs in [`messages`](super::messages) decode
//! every version of a message into a typed struct, choosing fields at run
//! time. That generality costs code: on a Cortex-M4 (opt-level "z", LTO) the
//! embassy producer firmware was 14 KiB larger on the general ApiVersions,
//! Metadata, InitProducerId and Produce codecs than on these (61.1 vs 47.1
//! KiB, `.ci/firmware-embassy`), whose every field is known at compile time
//! and which read responses in one pass, keeping only what a producer acts
//! on. The general codecs
//! stay the reference: tests below check that both read and write the same
//! bytes, field for field.
//!
//! The versions, and why each is accepted everywhere:
//! - ApiVersions [`API_VERSIONS`] = 0: every broker answers v0 (Kafka 4.x
//!   still accepts it, and a v0 answer carries no tagged fields).
//! - Metadata [`METADATA`] = 4: Kafka 0.11's newest, still accepted by 4.x;
//!   the first with `allow_auto_topic_creation`.
//! - InitProducerId [`INIT_PRODUCER_ID`] = 0: the only one Kafka 0.11 has.
//! - Produce [`PRODUCE`] = 3: the lowest Kafka 4.x accepts, the newest 0.11 has.
//!
//! Negotiation still happens: the broker's ApiVersions answer is checked with
//! [`NegotiatedVersions::require`], which names the API a broker does not
//! accept at these versions.
//!
//! [`NegotiatedVersions::require`]: super::NegotiatedVersions::require

use crate::error::{Error, Result};
use crate::protocol::VersionRange;
use crate::wire::Writer;
use crate::ErrorCode;

/// ApiVersions version used by [fixed-version](self) clients.
pub const API_VERSIONS: i16 = 0;
/// Metadata version used by [fixed-version](self) clients.
pub const METADATA: i16 = 4;
/// InitProducerId version used by [fixed-version](self) clients.
pub const INIT_PRODUCER_ID: i16 = 0;
/// Produce version used by [fixed-version](self) clients.
pub const PRODUCE: i16 = 3;

/// A reader whose reads cannot fail: past the end (or on a negative count)
/// they yield zeros or nothing and remember the first error, which
/// [`finish`](Scan::finish) reports once, so a decoder never acts on what it
/// read from bad bytes.
///
/// Why not [`Reader`](crate::wire::Reader): there, each read returns a `Result` the decoder
/// checks and passes on; on a microcontroller that checking was most of these
/// decoders' flash.
struct Scan<'a> {
    buf: &'a [u8],
    pos: usize,
    error: Option<Error>,
}

impl<'a> Scan<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Scan {
            buf,
            pos: 0,
            error: None,
        }
    }

    /// Records `error` unless an earlier one is recorded; reads stop.
    fn fail(&mut self, error: Error) {
        self.error.get_or_insert(error);
        self.pos = self.buf.len();
    }

    /// The next `n` bytes (empty past the end).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        match rest.get(..n) {
            Some(bytes) => {
                self.pos += n;
                bytes
            }
            None => {
                self.fail(Error::Truncated);
                &[]
            }
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let bytes = self.bytes(N).first_chunk().copied();
        bytes.unwrap_or([0; N])
    }

    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.array())
    }

    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.array())
    }

    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.array())
    }

    /// An array count (non-flexible form). Null (-1) reads as empty: the
    /// arrays read here are not nullable in these versions, and Kafka
    /// brokers never send null for them.
    fn count(&mut self) -> usize {
        let n = self.i32();
        if n < -1 {
            self.fail(Error::InvalidLength);
        }
        let n = n.max(0) as usize;
        // Every element takes at least one byte: a count above the bytes
        // left is a lie, refused before any work is spent on it.
        if n > self.buf.len() - self.pos {
            self.fail(Error::Truncated);
            return 0;
        }
        n
    }

    /// A `string` as bytes (null is an error: [`Error::InvalidLength`]).
    fn string(&mut self) -> &'a [u8] {
        self.string_or_null(0)
    }

    /// A `nullable_string` as bytes (null reads as empty).
    fn nullable_string(&mut self) -> &'a [u8] {
        self.string_or_null(-1)
    }

    /// A string whose length may not be below `min_len` (-1: nullable).
    fn string_or_null(&mut self, min_len: i16) -> &'a [u8] {
        let n = self.i16();
        if n < min_len {
            self.fail(Error::InvalidLength);
        }
        self.bytes(n.max(0) as usize)
    }

    /// Skips an `[]int32` array.
    fn skip_int32s(&mut self) {
        let n = self.count();
        self.bytes(n.saturating_mul(4));
    }

    /// The bytes read since `start` (an earlier position).
    fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or_default()
    }

    /// `value`, or the first error met.
    fn finish<T>(self, value: T) -> Result<T> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

/// An ApiVersions v0 response: its error code and the advertised ranges.
#[derive(Clone, Copy, Debug)]
pub struct ApiVersionsV0<'a> {
    /// The broker's error code (`NONE` when the ranges are valid).
    pub error_code: ErrorCode,
    /// `(api_key, min, max)` entries, 6 bytes each, validated.
    entries: &'a [u8],
}

impl<'a> ApiVersionsV0<'a> {
    /// Reads a response body (after the response header).
    pub fn decode(body: &'a [u8]) -> Result<Self> {
        let mut r = Scan::new(body);
        let error_code = ErrorCode(r.i16());
        let n = r.count();
        let entries = r.bytes(n.saturating_mul(6));
        r.finish(ApiVersionsV0 {
            error_code,
            entries,
        })
    }

    /// The `(api key, versions)` pairs the broker advertised, in its order
    /// (what [`NegotiatedVersions::from_ranges`](super::NegotiatedVersions::from_ranges) takes).
    pub fn ranges(&self) -> impl Iterator<Item = (i16, VersionRange)> + 'a {
        self.entries.chunks_exact(6).map(|e| {
            let at = |i: usize| i16::from_be_bytes([e[i], e[i + 1]]);
            (at(0), VersionRange::new(at(2), at(4)))
        })
    }
}

/// Writes a Metadata v4 request body asking for one topic (created by the
/// broker if it allows auto-creation).
pub fn encode_metadata_request(w: &mut Writer<'_>, topic: &str) -> Result<()> {
    w.i32(1)?;
    w.string(topic)?;
    w.bool(true)
}

/// A broker from a Metadata response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataBroker<'a> {
    /// The broker's node id.
    pub node_id: i32,
    /// The host it advertises, as sent (a host name or IP literal: ASCII,
    /// checked where it is stored, [`MetadataCache`](crate::client::MetadataCache)).
    pub host: &'a [u8],
    /// Its port.
    pub port: i32,
}

/// A partition of the requested topic from a Metadata response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetadataPartition {
    /// The partition's error code.
    pub error_code: ErrorCode,
    /// The partition id.
    pub partition_index: i32,
    /// The leader's node id (-1 when none).
    pub leader_id: i32,
}

/// A Metadata v4 response, validated, seen through one topic.
#[derive(Clone, Copy, Debug)]
pub struct MetadataV4<'a> {
    brokers: &'a [u8],
    broker_count: usize,
    /// The topic's error code.
    pub error_code: ErrorCode,
    partitions: &'a [u8],
    partition_count: usize,
}

impl<'a> MetadataV4<'a> {
    /// Reads a response body and finds `topic` in it.
    ///
    /// Errors: truncated or malformed bytes, or [`Error::Malformed`] when the
    /// topic is not in the response.
    pub fn decode(body: &'a [u8], topic: &str) -> Result<Self> {
        let mut r = Scan::new(body);
        r.i32(); // throttle_time_ms
        let broker_count = r.count();
        let start = r.pos;
        for _ in 0..broker_count {
            read_broker(&mut r);
        }
        let brokers = r.since(start);
        r.nullable_string(); // cluster_id
        r.i32(); // controller_id
        let mut found = None;
        for _ in 0..r.count() {
            let error_code = ErrorCode(r.i16());
            let name = r.string();
            r.bytes(1); // is_internal
            let partition_count = r.count();
            let start = r.pos;
            for _ in 0..partition_count {
                read_partition(&mut r);
            }
            if name == topic.as_bytes() {
                found = Some((error_code, r.since(start), partition_count));
            }
        }
        let (error_code, partitions, partition_count) = r.finish(found)?.ok_or(
            Error::Malformed("the topic is not in the Metadata response"),
        )?;
        Ok(MetadataV4 {
            brokers,
            broker_count,
            error_code,
            partitions,
            partition_count,
        })
    }

    /// The brokers, in the response's order.
    pub fn brokers(&self) -> impl Iterator<Item = MetadataBroker<'a>> + 'a {
        // Validated by `decode`: reading again cannot fail.
        let mut r = Scan::new(self.brokers);
        (0..self.broker_count).map(move |_| read_broker(&mut r))
    }

    /// How many partitions the topic has.
    pub fn partition_count(&self) -> usize {
        self.partition_count
    }

    /// The topic's partitions, in the response's order.
    pub fn partitions(&self) -> impl Iterator<Item = MetadataPartition> + 'a {
        let mut r = Scan::new(self.partitions);
        (0..self.partition_count).map(move |_| read_partition(&mut r))
    }
}

fn read_broker<'a>(r: &mut Scan<'a>) -> MetadataBroker<'a> {
    let node_id = r.i32();
    let host = r.string();
    let port = r.i32();
    r.nullable_string(); // rack
    MetadataBroker {
        node_id,
        host,
        port,
    }
}

fn read_partition(r: &mut Scan<'_>) -> MetadataPartition {
    let error_code = ErrorCode(r.i16());
    let partition_index = r.i32();
    let leader_id = r.i32();
    r.skip_int32s(); // replica_nodes
    r.skip_int32s(); // isr_nodes
    MetadataPartition {
        error_code,
        partition_index,
        leader_id,
    }
}

/// Writes an InitProducerId v0 request body for an idempotent (not
/// transactional) producer.
pub fn encode_init_producer_id_request(w: &mut Writer<'_>) -> Result<()> {
    w.nullable_string(None)?; // transactional_id
    w.i32(0) // transaction_timeout_ms
}

/// What an InitProducerId v0 response says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitProducerIdV0 {
    /// The error code.
    pub error_code: ErrorCode,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
}

impl InitProducerIdV0 {
    /// Reads a response body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Scan::new(body);
        r.i32(); // throttle_time_ms
        let answer = InitProducerIdV0 {
            error_code: ErrorCode(r.i16()),
            producer_id: r.i64(),
            producer_epoch: r.i16(),
        };
        r.finish(answer)
    }
}

/// Writes a Produce v3 request body for one partition, up to and including
/// the length of its records: the `records_len` bytes of the record batch
/// follow, sent from where they lie (no copy into the request buffer).
pub fn encode_produce_request_head(
    w: &mut Writer<'_>,
    acks: i16,
    timeout_ms: i32,
    topic: &str,
    partition: i32,
    records_len: usize,
) -> Result<()> {
    let records_len = i32::try_from(records_len).map_err(|_| Error::TooLarge {
        what: crate::Limit::Records,
        size: records_len,
        limit: i32::MAX as usize,
    })?;
    w.nullable_string(None)?; // transactional_id
    w.i16(acks)?;
    w.i32(timeout_ms)?;
    w.i32(1)?;
    w.string(topic)?;
    w.i32(1)?;
    w.i32(partition)?;
    w.i32(records_len)
}

/// One partition's answer in a Produce v3 response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducedV3 {
    /// The error code.
    pub error_code: ErrorCode,
    /// The offset of the batch's first record.
    pub base_offset: i64,
}

impl ProducedV3 {
    /// Reads a response body and finds `topic`'s `partition` in it.
    ///
    /// Errors: truncated or malformed bytes, or [`Error::Malformed`] when the
    /// partition is not in the response.
    pub fn decode(body: &[u8], topic: &str, partition: i32) -> Result<Self> {
        let mut r = Scan::new(body);
        let mut found = None;
        for _ in 0..r.count() {
            let name = r.string();
            for _ in 0..r.count() {
                let index = r.i32();
                let error_code = ErrorCode(r.i16());
                let base_offset = r.i64();
                r.i64(); // log_append_time_ms
                if name == topic.as_bytes() && index == partition {
                    found = Some(ProducedV3 {
                        error_code,
                        base_offset,
                    });
                }
            }
        }
        r.i32(); // throttle_time_ms
        r.finish(found)?.ok_or(Error::Malformed(
            "the Produce response does not mention the partition",
        ))
    }
}

#[cfg(test)]
mod tests {
    //! Each fixed codec against the general one, on random values: they must
    //! write the same bytes and read the same fields.
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::protocol::messages::{
        ApiVersion, ApiVersionsResponse, InitProducerIdRequest, InitProducerIdResponse,
        MetadataRequest, MetadataRequestTopic, MetadataResponse, PartitionProduceData,
        PartitionProduceResponse, ProduceRequest, ProduceResponse, TopicProduceData,
        TopicProduceResponse,
    };
    use crate::protocol::{Message, NegotiatedVersions};
    use crate::wire::testing::{Arbitrary, Gen};
    use crate::wire::{Array, Uuid};

    fn general<'a, T: Message<'a>>(value: &T, version: i16) -> Vec<u8> {
        let v = T::wire_version(version).unwrap();
        let mut buf = vec![0u8; value.encoded_len(v).unwrap()];
        value.encode(&mut Writer::new(&mut buf), v).unwrap();
        buf
    }

    fn fixed(write: impl FnOnce(&mut Writer<'_>) -> Result<()>) -> Vec<u8> {
        let mut buf = vec![0u8; 512];
        let mut w = Writer::new(&mut buf);
        write(&mut w).unwrap();
        let n = w.position();
        buf.truncate(n);
        buf
    }

    fn arbitrary<T: Message<'static> + Arbitrary>(seed: u64, version: i16) -> T {
        T::arbitrary(&mut Gen::new(seed), T::wire_version(version).unwrap())
    }

    #[test]
    fn requests_are_the_general_codecs_bytes() {
        let topics = [MetadataRequestTopic {
            topic_id: Uuid::ZERO,
            name: Some("telemetry"),
        }];
        let metadata = MetadataRequest {
            topics: Some(Array::new(&topics)),
            allow_auto_topic_creation: true,
            ..Default::default()
        };
        assert_eq!(
            fixed(|w| encode_metadata_request(w, "telemetry")),
            general(&metadata, METADATA)
        );

        let init = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 0,
            ..Default::default()
        };
        assert_eq!(
            fixed(encode_init_producer_id_request),
            general(&init, INIT_PRODUCER_ID)
        );

        let batch = [7u8; 61];
        let parts = [PartitionProduceData {
            index: 5,
            records: Some(&batch),
        }];
        let topics = [TopicProduceData {
            name: "telemetry",
            partition_data: Array::new(&parts),
        }];
        let produce = ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 10_000,
            topic_data: Array::new(&topics),
        };
        let mut head = fixed(|w| encode_produce_request_head(w, -1, 10_000, "telemetry", 5, 61));
        head.extend_from_slice(&batch);
        assert_eq!(head, general(&produce, PRODUCE));
    }

    #[test]
    fn api_versions_v0_reads_every_range() {
        let keys = [
            ApiVersion {
                api_key: 0,
                min_version: 3,
                max_version: 11,
            },
            ApiVersion {
                api_key: 3,
                min_version: 0,
                max_version: 12,
            },
        ];
        let response = ApiVersionsResponse {
            error_code: ErrorCode::NONE,
            api_keys: Array::new(&keys),
            ..Default::default()
        };
        let body = general(&response, API_VERSIONS);
        let decoded = ApiVersionsV0::decode(&body).unwrap();
        assert_eq!(decoded.error_code, ErrorCode::NONE);
        let ranges: Vec<_> = decoded.ranges().collect();
        assert_eq!(
            ranges,
            [(0, VersionRange::new(3, 11)), (3, VersionRange::new(0, 12))]
        );
        let versions = NegotiatedVersions::from_ranges(decoded.ranges());
        assert!(versions
            .require(crate::protocol::ApiKey::Produce, PRODUCE)
            .is_ok());
        assert!(versions
            .require(crate::protocol::ApiKey::Metadata, METADATA)
            .is_ok());
        assert_eq!(
            versions.require(crate::protocol::ApiKey::InitProducerId, INIT_PRODUCER_ID),
            Err(Error::ApiNotSupported {
                api: crate::protocol::ApiKey::InitProducerId
            })
        );
    }

    /// Every truncation of `body` is an error, never a panic.
    fn truncations_fail(body: &[u8], decode: impl Fn(&[u8]) -> bool) {
        for cut in 0..body.len() {
            assert!(!decode(&body[..cut]), "truncated to {cut} decoded");
        }
    }

    /// A Metadata v4 body: no throttle, one broker (node 1, `host`, port
    /// 9092, no rack), cluster id, controller 1, then `topics` as given.
    fn metadata_body(host_len: i16, host: &[u8], topics: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
        b.extend_from_slice(&host_len.to_be_bytes());
        b.extend_from_slice(host);
        b.extend_from_slice(&[0, 0, 0x23, 0x84, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1]);
        b.extend_from_slice(topics);
        b
    }

    #[test]
    fn null_strings_and_negative_counts_are_refused() {
        // telemetry: no error, not internal, no partitions.
        let topic = b"\0\0\0\x01\0\0\0\x09telemetry\0\0\0\0\0";
        let good = metadata_body(4, b"kafk", topic);
        let m = MetadataV4::decode(&good, "telemetry").unwrap();
        assert_eq!(m.brokers().next().map(|b| b.host), Some(&b"kafk"[..]));
        // A null host (nullable only for the rack and cluster id).
        let null_host = metadata_body(-1, b"", topic);
        let e = MetadataV4::decode(&null_host, "telemetry").map(|_| ());
        assert_eq!(e, Err(Error::InvalidLength));
        // An array count below -1.
        let negative = metadata_body(4, b"kafk", &[0xff, 0xff, 0xff, 0xfe]);
        let e = MetadataV4::decode(&negative, "telemetry").map(|_| ());
        assert_eq!(e, Err(Error::InvalidLength));
        // A count larger than the bytes left.
        let lying = metadata_body(4, b"kafk", &[0, 0, 1, 0]);
        let e = MetadataV4::decode(&lying, "telemetry").map(|_| ());
        assert_eq!(e, Err(Error::Truncated));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn api_versions_agree_with_the_general_codec(seed: u64) {
            let response: ApiVersionsResponse<'static> = arbitrary(seed, API_VERSIONS);
            let body = general(&response, API_VERSIONS);
            let decoded = ApiVersionsV0::decode(&body).unwrap();
            prop_assert_eq!(decoded.error_code, response.error_code);
            let general: Vec<_> = response
                .api_keys
                .iter()
                .map(|k| (k.api_key, VersionRange::new(k.min_version, k.max_version)))
                .collect();
            prop_assert_eq!(decoded.ranges().collect::<Vec<_>>(), general);
            truncations_fail(&body, |b| ApiVersionsV0::decode(b).is_ok());
        }

        #[test]
        fn metadata_agrees_with_the_general_codec(seed: u64) {
            let response: MetadataResponse<'static> = arbitrary(seed, METADATA);
            let body = general(&response, METADATA);
            for topic in response.topics.iter() {
                let name = topic.name.unwrap();
                // The fixed codec reports the last topic of that name, as a
                // broker never repeats one.
                let last = response.topics.iter().filter(|t| t.name == Some(name)).last().unwrap();
                let decoded = MetadataV4::decode(&body, name).unwrap();
                prop_assert_eq!(decoded.error_code, last.error_code);
                let brokers: Vec<_> = response
                    .brokers
                    .iter()
                    .map(|b| MetadataBroker { node_id: b.node_id, host: b.host.as_bytes(), port: b.port })
                    .collect();
                prop_assert_eq!(decoded.brokers().collect::<Vec<_>>(), brokers);
                let partitions: Vec<_> = last
                    .partitions
                    .iter()
                    .map(|p| MetadataPartition {
                        error_code: p.error_code,
                        partition_index: p.partition_index,
                        leader_id: p.leader_id,
                    })
                    .collect();
                prop_assert_eq!(decoded.partition_count(), partitions.len());
                prop_assert_eq!(decoded.partitions().collect::<Vec<_>>(), partitions);
                truncations_fail(&body, |b| MetadataV4::decode(b, name).is_ok());
            }
            let absent = MetadataV4::decode(&body, "\u{0}absent");
            prop_assert!(absent.is_err());
        }

        #[test]
        fn init_producer_id_agrees_with_the_general_codec(seed: u64) {
            let response: InitProducerIdResponse = arbitrary(seed, INIT_PRODUCER_ID);
            let body = general(&response, INIT_PRODUCER_ID);
            let decoded = InitProducerIdV0::decode(&body).unwrap();
            prop_assert_eq!(
                decoded,
                InitProducerIdV0 {
                    error_code: response.error_code,
                    producer_id: response.producer_id,
                    producer_epoch: response.producer_epoch,
                }
            );
            truncations_fail(&body, |b| InitProducerIdV0::decode(b).is_ok());
        }

        #[test]
        fn produce_response_agrees_with_the_general_codec(seed: u64, index: i32, code: i16, base: i64) {
            let mut g = Gen::new(seed);
            let v = ProduceResponse::wire_version(PRODUCE).unwrap();
            let mut other = PartitionProduceResponse::arbitrary(&mut g, v);
            other.index = index.wrapping_add(1);
            let ours = PartitionProduceResponse {
                index,
                error_code: ErrorCode(code),
                base_offset: base,
                ..PartitionProduceResponse::arbitrary(&mut g, v)
            };
            let parts = std::boxed::Box::leak(std::boxed::Box::new([other, ours]));
            let topics = std::boxed::Box::leak(std::boxed::Box::new([TopicProduceResponse {
                name: "telemetry",
                partition_responses: Array::new(parts),
            }]));
            let response = ProduceResponse {
                responses: Array::new(topics),
                throttle_time_ms: 7,
                ..Default::default()
            };
            let body = general(&response, PRODUCE);
            let decoded = ProducedV3::decode(&body, "telemetry", index).unwrap();
            prop_assert_eq!(decoded, ProducedV3 { error_code: ErrorCode(code), base_offset: base });
            prop_assert!(ProducedV3::decode(&body, "other", index).is_err());
            truncations_fail(&body, |b| ProducedV3::decode(b, "telemetry", index).is_ok());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = ApiVersionsV0::decode(&bytes);
            if let Ok(m) = MetadataV4::decode(&bytes, "") {
                let _ = (m.brokers().count(), m.partitions().count());
            }
            let _ = InitProducerIdV0::decode(&bytes);
            let _ = ProducedV3::decode(&bytes, "", 0);
        }
    }
}
