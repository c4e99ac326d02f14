//! What the core fuzz targets share: a reader for structured inputs, the
//! decompression limit, and the request/response round trips dispatched on
//! API key and version (`decode_request`, `decode_response`).

use std::cell::RefCell;

use microkafka_core::protocol::frame::{
    decode_request, decode_response, encode_request, encode_response, split_frame,
};
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::{ApiKey, Message, RequestHeader};
use microkafka_core::wire::{Reader, Wire, WireVersion, Writer};
use microkafka_core::Error;

/// The largest decompressed records section the targets accept (the length
/// of their scratch buffers): every codec must refuse more, not allocate it.
pub const SCRATCH_LEN: usize = 256 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0u8; SCRATCH_LEN]);
}

/// Runs `f` with a scratch buffer of [`SCRATCH_LEN`] bytes, reused from run
/// to run (allocating 256 KiB per run costs more than most runs under
/// AddressSanitizer). What an earlier run left in it is garbage that the
/// code under test must never read: it reads only what it decompressed.
pub fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// Reads the fields of a structured input from its front; zeros once it is used up.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// The bytes not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    /// A big-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) << 8 | u16::from(self.u8())
    }

    /// A big-endian `i32`.
    pub fn i32(&mut self) -> i32 {
        (u32::from(self.u16()) << 16 | u32::from(self.u16())) as i32
    }

    /// A big-endian `i64`.
    pub fn i64(&mut self) -> i64 {
        (u64::from(self.i32() as u32) << 32 | u64::from(self.i32() as u32)) as i64
    }

    /// A byte string whose length is the next byte.
    pub fn short_bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u8());
        self.take(n)
    }

    /// A byte string whose length is the next two bytes.
    pub fn long_bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.u16());
        self.take(n)
    }

    /// One of `items` (the first when the input is used up).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::from(self.u8()) % items.len()]
    }
}

/// A version in `T`'s range, chosen by `selector`.
pub fn version_of<'a, T: Message<'a>>(selector: u16) -> i16 {
    let r = T::VERSIONS;
    r.min + (selector % (r.max - r.min + 1) as u16) as i16
}

/// Encodes `value` at `v`, checking that `encoded_len` is what `encode`
/// writes. `None` when the encoder refuses a null the decoder accepted in a
/// version where the schema does not allow it (decoders are lenient there).
pub fn encode<'a, T: Wire<'a>>(value: &T, v: WireVersion) -> Option<Vec<u8>> {
    let len = match value.encoded_len(v) {
        Ok(len) => len,
        Err(Error::Malformed(m)) if m.starts_with("null ") => return None,
        Err(e) => panic!("a decoded value does not encode at {v:?}: {e}"),
    };
    let mut buf = vec![0u8; len];
    let mut w = Writer::new(&mut buf);
    value
        .encode(&mut w, v)
        .unwrap_or_else(|e| panic!("encode into encoded_len bytes at {v:?}: {e}"));
    assert_eq!(
        w.position(),
        len,
        "encoded_len differs from encode at {v:?}"
    );
    Some(buf)
}

/// Calls `$m!(Request, Response)` with the types of `$api`: exhaustive, so an
/// API added to core does not build here until its decoders are fuzzed too.
macro_rules! each_api {
    ($api:expr, $m:ident) => {
        match $api {
            ApiKey::Produce => $m!(ProduceRequest<'_>, ProduceResponse<'_>),
            ApiKey::Fetch => $m!(FetchRequest<'_>, FetchResponse<'_>),
            ApiKey::ListOffsets => $m!(ListOffsetsRequest<'_>, ListOffsetsResponse<'_>),
            ApiKey::Metadata => $m!(MetadataRequest<'_>, MetadataResponse<'_>),
            ApiKey::OffsetCommit => $m!(OffsetCommitRequest<'_>, OffsetCommitResponse<'_>),
            ApiKey::OffsetFetch => $m!(OffsetFetchRequest<'_>, OffsetFetchResponse<'_>),
            ApiKey::FindCoordinator => {
                $m!(FindCoordinatorRequest<'_>, FindCoordinatorResponse<'_>)
            }
            ApiKey::JoinGroup => $m!(JoinGroupRequest<'_>, JoinGroupResponse<'_>),
            ApiKey::Heartbeat => $m!(HeartbeatRequest<'_>, HeartbeatResponse),
            ApiKey::LeaveGroup => $m!(LeaveGroupRequest<'_>, LeaveGroupResponse<'_>),
            ApiKey::SyncGroup => $m!(SyncGroupRequest<'_>, SyncGroupResponse<'_>),
            ApiKey::DescribeGroups => $m!(DescribeGroupsRequest<'_>, DescribeGroupsResponse<'_>),
            ApiKey::ListGroups => $m!(ListGroupsRequest<'_>, ListGroupsResponse<'_>),
            ApiKey::SaslHandshake => $m!(SaslHandshakeRequest<'_>, SaslHandshakeResponse<'_>),
            ApiKey::ApiVersions => $m!(ApiVersionsRequest<'_>, ApiVersionsResponse<'_>),
            ApiKey::CreateTopics => $m!(CreateTopicsRequest<'_>, CreateTopicsResponse<'_>),
            ApiKey::DeleteTopics => $m!(DeleteTopicsRequest<'_>, DeleteTopicsResponse<'_>),
            ApiKey::InitProducerId => $m!(InitProducerIdRequest<'_>, InitProducerIdResponse),
            ApiKey::AddPartitionsToTxn => {
                $m!(
                    AddPartitionsToTxnRequest<'_>,
                    AddPartitionsToTxnResponse<'_>
                )
            }
            ApiKey::AddOffsetsToTxn => $m!(AddOffsetsToTxnRequest<'_>, AddOffsetsToTxnResponse),
            ApiKey::EndTxn => $m!(EndTxnRequest<'_>, EndTxnResponse),
            ApiKey::TxnOffsetCommit => {
                $m!(TxnOffsetCommitRequest<'_>, TxnOffsetCommitResponse<'_>)
            }
            ApiKey::SaslAuthenticate => {
                $m!(SaslAuthenticateRequest<'_>, SaslAuthenticateResponse<'_>)
            }
            ApiKey::CreatePartitions => {
                $m!(CreatePartitionsRequest<'_>, CreatePartitionsResponse<'_>)
            }
            ApiKey::DeleteRecords => $m!(DeleteRecordsRequest<'_>, DeleteRecordsResponse<'_>),
            ApiKey::DescribeConfigs => {
                $m!(DescribeConfigsRequest<'_>, DescribeConfigsResponse<'_>)
            }
            ApiKey::AlterConfigs => $m!(AlterConfigsRequest<'_>, AlterConfigsResponse<'_>),
            ApiKey::DeleteGroups => $m!(DeleteGroupsRequest<'_>, DeleteGroupsResponse<'_>),
            ApiKey::ElectLeaders => $m!(ElectLeadersRequest<'_>, ElectLeadersResponse<'_>),
            ApiKey::IncrementalAlterConfigs => {
                $m!(
                    IncrementalAlterConfigsRequest<'_>,
                    IncrementalAlterConfigsResponse<'_>
                )
            }
            ApiKey::OffsetDelete => $m!(OffsetDeleteRequest<'_>, OffsetDeleteResponse<'_>),
            ApiKey::DescribeCluster => $m!(DescribeClusterRequest, DescribeClusterResponse<'_>),
        }
    };
}

/// The API a raw key stands for: itself when known, else one chosen by it,
/// so every input reaches some decoder.
fn api_of(key: i16) -> ApiKey {
    ApiKey::from_key(key).unwrap_or(ApiKey::ALL[usize::from(key as u16) % ApiKey::ALL.len()])
}

/// A request frame body (after the size prefix) as a broker reads it: the
/// header, then the body of the API and version it names (an unknown API
/// or version is mapped onto a known one). What decodes must encode again
/// (as a whole frame) and decode to the same header and body, and that
/// body must encode to the same bytes.
pub fn check_request(frame: &[u8]) {
    let mut r = Reader::new(frame);
    let Ok(header) = RequestHeader::decode(&mut r) else {
        return;
    };
    let api = api_of(header.api_key);
    let body = r.rest();
    macro_rules! request {
        ($req:ty, $resp:ty) => {{
            let version = match <$req as Message>::VERSIONS.contains(header.api_version) {
                true => header.api_version,
                false => version_of::<$req>(header.api_version as u16),
            };
            let exact = header.api_key == api.key() && header.api_version == version;
            let v = <$req as Message>::wire_version(version).expect("a version in range");
            let Ok(first) = <$req as Wire>::decode(&mut Reader::new(body), v) else {
                assert!(!exact || decode_request::<$req>(frame).is_err());
                return;
            };
            if exact {
                let (_, same) = decode_request::<$req>(frame).expect("the broker's entry point");
                assert_eq!(same, first);
            }
            let Some(encoded) = encode(&first, v) else {
                return;
            };
            let client_id = header.client_id;
            let mut buf = vec![0u8; encoded.len() + 16 + client_id.map_or(0, str::len)];
            let n = encode_request(&mut buf, header.correlation_id, client_id, version, &first)
                .expect("a decoded request encodes as a frame");
            let (again, used) = split_frame(&buf[..n], usize::MAX)
                .expect("a valid size prefix")
                .expect("a whole frame");
            assert_eq!(used, n);
            let (h2, second) = decode_request::<$req>(again).expect("the frame decodes again");
            assert_eq!(
                (h2.api_key, h2.api_version, h2.correlation_id, h2.client_id),
                (api.key(), version, header.correlation_id, client_id)
            );
            assert_eq!(first, second, "{api:?} v{version} request round trip");
            assert_eq!(encode(&second, v).as_deref(), Some(&encoded[..]));
        }};
    }
    each_api!(api, request)
}

/// A response frame body after two selector bytes (API key, version): it must
/// decode, encode and decode again to the same header and body, and that
/// body must encode to the same bytes.
pub fn check_response(data: &[u8]) {
    let mut input = Input::new(data);
    let api = api_of(i16::from(input.u8()));
    let selector = u16::from(input.u8());
    let frame = input.rest();
    macro_rules! response {
        ($req:ty, $resp:ty) => {{
            let version = version_of::<$resp>(selector);
            let Ok((header, first)) = decode_response::<$resp>(frame, version) else {
                return;
            };
            let v = <$resp as Message>::wire_version(version).expect("a version in range");
            let Some(encoded) = encode(&first, v) else {
                return;
            };
            let mut buf = vec![0u8; encoded.len() + 16];
            let n = encode_response(&mut buf, header.correlation_id, version, &first)
                .expect("a decoded response encodes as a frame");
            let (again, _) = split_frame(&buf[..n], usize::MAX)
                .expect("a valid size prefix")
                .expect("a whole frame");
            let (h2, second) =
                decode_response::<$resp>(again, version).expect("the frame decodes again");
            assert_eq!(h2, header);
            assert_eq!(first, second, "{api:?} v{version} response round trip");
            assert_eq!(encode(&second, v).as_deref(), Some(&encoded[..]));
        }};
    }
    each_api!(api, response)
}

pub mod group;
