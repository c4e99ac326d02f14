//! One broker connection as a state machine: version negotiation, correlation, pipelining.

use heapless::{Deque, String};

use crate::error::{Error, Result};
use crate::protocol::frame::{
    encode_request, encode_request_with, peek_correlation_id, RequestHeader, ResponseHeader,
};
use crate::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::versions::codec_versions;
use crate::protocol::{ApiKey, Message, NegotiatedVersions, Request, Response};
use crate::wire::{Reader, Wire, Writer};
use crate::ErrorCode;

/// The name microkafka gives brokers in ApiVersions v3+ (KIP-511).
pub const CLIENT_SOFTWARE_NAME: &str = "microkafka";
/// The version microkafka gives brokers in ApiVersions v3+.
pub const CLIENT_SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Longest client id kept (Kafka's are short; longer ones are refused).
const MAX_CLIENT_ID: usize = 64;

/// A request that was encoded and is now awaiting its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sent {
    /// The correlation id written into the request header.
    pub correlation_id: i32,
    /// The API version used.
    pub version: i16,
    /// Bytes of the whole frame (size prefix included) at the start of the buffer.
    pub len: usize,
    /// False for `acks = 0` Produce requests: the broker will not answer.
    pub expects_response: bool,
}

/// A response frame matched to its request; decode the body with [`decode`](Self::decode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received<'b> {
    /// The API of the request this answers.
    pub api: ApiKey,
    /// The version the request was sent at (and the body is encoded at).
    pub version: i16,
    /// The correlation id.
    pub correlation_id: i32,
    /// The response body (after the response header).
    pub body: &'b [u8],
}

impl<'b> Received<'b> {
    /// Decodes the body as `R` (which must be this API's response type).
    pub fn decode<R: Response<'b>>(&self) -> Result<R> {
        if R::API_KEY != self.api {
            return Err(Error::Malformed(
                "response type does not match the request's API",
            ));
        }
        R::decode(&mut Reader::new(self.body), R::wire_version(self.version)?)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct InFlight {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Negotiation {
    /// ApiVersions must be sent (at this version) before anything else.
    Needed(i16),
    /// ApiVersions is in flight.
    Pending,
    /// Versions agreed.
    Done(NegotiatedVersions),
}

/// The protocol state of one connection to one broker.
///
/// Drive it like this: [`start`](Self::start) encodes the ApiVersions request;
/// feed every response frame body to [`receive`](Self::receive) (it handles
/// ApiVersions itself, including the KIP-511 fallback when the broker is older
/// than the request: then [`needs_api_versions`](Self::needs_api_versions) is
/// true again and `start` encodes the retry); once
/// [`is_ready`](Self::is_ready), [`encode`](Self::encode) picks the negotiated
/// version of each request. Up to `MAX_IN_FLIGHT` requests may be pipelined.
///
/// Any error from `receive` means the byte stream can no longer be trusted:
/// close the connection.
#[derive(Clone, Debug)]
pub struct Connection<const MAX_IN_FLIGHT: usize = 8> {
    client_id: Option<String<MAX_CLIENT_ID>>,
    next_correlation_id: i32,
    in_flight: Deque<InFlight, MAX_IN_FLIGHT>,
    negotiation: Negotiation,
}

impl<const MAX_IN_FLIGHT: usize> Connection<MAX_IN_FLIGHT> {
    /// A fresh connection state; `client_id` goes into every request header.
    pub fn new(client_id: Option<&str>) -> Result<Self> {
        let client_id = match client_id {
            None => None,
            Some(id) => Some(String::try_from(id).map_err(|_| Error::TooLarge {
                what: crate::Limit::ClientId,
                size: id.len(),
                limit: MAX_CLIENT_ID,
            })?),
        };
        Ok(Connection {
            client_id,
            next_correlation_id: 0,
            in_flight: Deque::new(),
            negotiation: Negotiation::Needed(codec_versions(ApiKey::ApiVersions).max),
        })
    }

    /// The client id sent in request headers.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// True until an ApiVersions exchange has completed (and after a KIP-511 fallback).
    pub fn needs_api_versions(&self) -> bool {
        matches!(self.negotiation, Negotiation::Needed(_))
    }

    /// True once versions are agreed and other requests may be sent.
    pub fn is_ready(&self) -> bool {
        matches!(self.negotiation, Negotiation::Done(_))
    }

    /// The agreed versions, once ready.
    pub fn versions(&self) -> Option<&NegotiatedVersions> {
        match &self.negotiation {
            Negotiation::Done(v) => Some(v),
            _ => None,
        }
    }

    /// Requests sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// True when another request may be pipelined.
    pub fn can_send(&self) -> bool {
        !self.in_flight.is_full()
    }

    /// Encodes the ApiVersions request that opens the connection (or retries
    /// after a KIP-511 fallback) into `buf`.
    pub fn start(&mut self, buf: &mut [u8]) -> Result<Sent> {
        let Negotiation::Needed(version) = self.negotiation else {
            return Err(Error::Malformed(
                "ApiVersions already sent on this connection",
            ));
        };
        let request = ApiVersionsRequest {
            client_software_name: CLIENT_SOFTWARE_NAME,
            client_software_version: CLIENT_SOFTWARE_VERSION,
        };
        let sent = self.send(buf, &request, version, true)?;
        self.negotiation = Negotiation::Pending;
        Ok(sent)
    }

    /// Encodes `request` at the negotiated version into `buf`.
    ///
    /// Errors: [`Error::Malformed`] before negotiation, the negotiation errors
    /// ([`Error::NoCommonVersion`], [`Error::ApiNotSupported`]) naming the API,
    /// [`Error::BufferTooSmall`], or [`Error::TooLarge`] when `MAX_IN_FLIGHT`
    /// requests are already waiting.
    pub fn encode<'r, R: Request<'r>>(&mut self, buf: &mut [u8], request: &R) -> Result<Sent> {
        let version = self.negotiated(R::API_KEY)?;
        self.send(buf, request, version, true)
    }

    /// Like [`encode`](Self::encode) at a given `version` (lower than the
    /// highest agreed, e.g. Fetch below v13 when the topic id is unknown).
    ///
    /// Errors: as [`encode`](Self::encode), and [`Error::NoCommonVersion`]
    /// when the broker or microkafka does not accept `version`.
    pub fn encode_at<'r, R: Request<'r>>(
        &mut self,
        buf: &mut [u8],
        request: &R,
        version: i16,
    ) -> Result<Sent> {
        self.require(R::API_KEY, version)?;
        self.send(buf, request, version, true)
    }

    /// Like [`encode`](Self::encode) for a request the broker will not answer
    /// (Produce with `acks = 0`): nothing is queued for it.
    pub fn encode_unanswered<'r, R: Request<'r>>(
        &mut self,
        buf: &mut [u8],
        request: &R,
    ) -> Result<Sent> {
        let version = self.negotiated(R::API_KEY)?;
        self.send(buf, request, version, false)
    }

    /// Encodes a request whose body `body` writes, at `version` (a
    /// [fixed-version](crate::protocol::fixed) codec's): the header, size
    /// prefix and correlation are this connection's. `answered = false` for a
    /// request the broker will not answer (Produce with `acks = 0`).
    ///
    /// ApiVersions may be sent at any time (it is how versions are agreed);
    /// any other `api` must be [negotiated](Self::set_versions) to accept
    /// `version`. Errors: as [`encode`](Self::encode).
    pub fn encode_with(
        &mut self,
        buf: &mut [u8],
        api: ApiKey,
        version: i16,
        answered: bool,
        body: &mut dyn FnMut(&mut Writer<'_>) -> Result<()>,
    ) -> Result<Sent> {
        if api != ApiKey::ApiVersions {
            self.require(api, version)?;
        }
        let correlation_id = self.reserve(answered)?;
        let header = RequestHeader {
            api_key: api.key(),
            api_version: version,
            correlation_id,
            client_id: self.client_id.as_deref(),
        };
        let len = encode_request_with(buf, &header, body)?;
        Ok(self.commit(correlation_id, api, version, len, answered))
    }

    /// Records versions agreed outside this state machine (a client that
    /// reads the ApiVersions answer with a fixed-version codec, through
    /// [`receive_unapplied`](Self::receive_unapplied)); the connection is
    /// then ready.
    pub fn set_versions(&mut self, versions: NegotiatedVersions) {
        self.negotiation = Negotiation::Done(versions);
    }

    /// The version agreed for `api`, or why there is none.
    fn negotiated(&self, api: ApiKey) -> Result<i16> {
        self.agreed()?.version(api)
    }

    /// Checks that `version` of `api` was agreed.
    fn require(&self, api: ApiKey, version: i16) -> Result<()> {
        self.agreed()?.require(api, version)
    }

    fn agreed(&self) -> Result<&NegotiatedVersions> {
        match &self.negotiation {
            Negotiation::Done(v) => Ok(v),
            _ => Err(Error::Malformed("API versions are not negotiated yet")),
        }
    }

    fn send<'r, R: Request<'r>>(
        &mut self,
        buf: &mut [u8],
        request: &R,
        version: i16,
        answered: bool,
    ) -> Result<Sent> {
        let correlation_id = self.reserve(answered)?;
        let len = encode_request(
            buf,
            correlation_id,
            self.client_id.as_deref(),
            version,
            request,
        )?;
        Ok(self.commit(correlation_id, R::API_KEY, version, len, answered))
    }

    /// The correlation id for the next request, once there is room for it.
    fn reserve(&self, answered: bool) -> Result<i32> {
        if answered && self.in_flight.is_full() {
            return Err(Error::TooLarge {
                what: crate::Limit::InFlight,
                size: MAX_IN_FLIGHT + 1,
                limit: MAX_IN_FLIGHT,
            });
        }
        Ok(self.next_correlation_id)
    }

    /// Records a request encoded with `correlation_id` (from `reserve`).
    fn commit(
        &mut self,
        correlation_id: i32,
        api: ApiKey,
        version: i16,
        len: usize,
        answered: bool,
    ) -> Sent {
        self.next_correlation_id = correlation_id.wrapping_add(1);
        if answered {
            // Cannot fail: `reserve` checked there is room.
            let _ = self.in_flight.push_back(InFlight {
                correlation_id,
                api,
                version,
            });
        }
        Sent {
            correlation_id,
            version,
            len,
            expects_response: answered,
        }
    }

    /// Matches a response frame body (after the size prefix) to the oldest
    /// request in flight and strips its header.
    ///
    /// ApiVersions responses are also applied to the negotiation state.
    pub fn receive<'b>(&mut self, frame: &'b [u8]) -> Result<Received<'b>> {
        let received = self.receive_unapplied(frame)?;
        if received.api == ApiKey::ApiVersions {
            self.apply_api_versions(&received)?;
        }
        Ok(received)
    }

    /// Like [`receive`](Self::receive), but an ApiVersions answer is left to
    /// the caller (who then calls [`set_versions`](Self::set_versions)): a
    /// client that reads it with a [fixed-version](crate::protocol::fixed)
    /// codec links none of the general ApiVersions code.
    pub fn receive_unapplied<'b>(&mut self, frame: &'b [u8]) -> Result<Received<'b>> {
        let correlation_id = peek_correlation_id(frame)?;
        let expected = self
            .in_flight
            .front()
            .copied()
            .ok_or(Error::Malformed("response with no request in flight"))?;
        if expected.correlation_id != correlation_id {
            return Err(Error::Malformed(
                "response correlation id does not match the oldest request",
            ));
        }
        self.in_flight.pop_front();
        let mut r = Reader::new(frame);
        r.skip(4)?;
        if ResponseHeader::header_version(expected.api, expected.version) == 1 {
            r.skip_tagged_fields()?;
        }
        let received = Received {
            api: expected.api,
            version: expected.version,
            correlation_id,
            body: r.rest(),
        };
        Ok(received)
    }

    fn apply_api_versions(&mut self, received: &Received<'_>) -> Result<()> {
        // The error code leads every ApiVersions version, so it can be read
        // before knowing which version the body is really in.
        let error = ErrorCode(Reader::new(received.body).i16()?);
        if error == ErrorCode::UNSUPPORTED_VERSION && received.version > 0 {
            // KIP-511: the broker answered in v0 with its own range; retry at
            // the highest version both know. Some brokers (librdkafka's mock
            // cluster) encode that answer in the request's version instead, or
            // send a body neither reads: then its range is read at the request's
            // version, and failing that the retry is at v0, as the Java client
            // and librdkafka do.
            let decoded = [0, received.version].into_iter().find_map(|version| {
                ApiVersionsResponse::decode(
                    &mut Reader::new(received.body),
                    ApiVersionsResponse::wire_version(version).ok()?,
                )
                .ok()
            });
            let theirs = decoded.and_then(|answer| {
                answer
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions.key())
            });
            let retry = theirs
                .map_or(0, |k| k.max_version.min(received.version - 1))
                .max(0);
            self.negotiation = Negotiation::Needed(retry);
            return Ok(());
        }
        if error.is_err() {
            self.negotiation = Negotiation::Needed(0);
            return Err(Error::Malformed("ApiVersions failed with an error code"));
        }
        let response: ApiVersionsResponse<'_> = received.decode()?;
        self.negotiation = Negotiation::Done(NegotiatedVersions::from_response(&response));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::protocol::frame::{encode_response, split_frame};
    use crate::protocol::messages::{ApiVersion, HeartbeatRequest, HeartbeatResponse};
    use crate::wire::Array;

    fn body(frame: &[u8]) -> &[u8] {
        split_frame(frame, 1 << 16).unwrap().unwrap().0
    }

    fn broker_ranges() -> [ApiVersion; 3] {
        [
            ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 3,
            },
            ApiVersion {
                api_key: 12,
                min_version: 0,
                max_version: 4,
            },
            ApiVersion {
                api_key: 0,
                min_version: 0,
                max_version: 2,
            },
        ]
    }

    #[test]
    fn negotiates_then_pipelines_in_order() {
        let mut c = Connection::<2>::new(Some("mk")).unwrap();
        let mut out = [0u8; 256];
        assert!(
            c.encode(&mut out, &HeartbeatRequest::default()).is_err(),
            "not before ApiVersions"
        );
        let sent = c.start(&mut out).unwrap();
        assert_eq!((sent.correlation_id, sent.version), (0, 4));
        let ranges = broker_ranges();
        let resp = ApiVersionsResponse {
            api_keys: Array::new(&ranges),
            ..Default::default()
        };
        let mut frame = [0u8; 256];
        let n = encode_response(&mut frame, 0, 4, &resp).unwrap();
        let received = c.receive(body(&frame[..n])).unwrap();
        assert_eq!(received.api, ApiKey::ApiVersions);
        assert!(c.is_ready());
        // Produce 0-2 only: below the Kafka 4.x floor, so the error names Produce.
        assert_eq!(
            c.versions().unwrap().version(ApiKey::Produce),
            Err(Error::NoCommonVersion {
                api: ApiKey::Produce
            })
        );

        let hb = HeartbeatRequest {
            group_id: "g",
            member_id: "m",
            ..Default::default()
        };
        let a = c.encode(&mut out, &hb).unwrap();
        let b = c.encode(&mut out, &hb).unwrap();
        assert_eq!((a.correlation_id, b.correlation_id, a.version), (1, 2, 4));
        assert!(
            matches!(c.encode(&mut out, &hb), Err(Error::TooLarge { .. })),
            "MAX_IN_FLIGHT = 2"
        );
        // Responses must come back in order.
        let n = encode_response(&mut frame, 2, 4, &HeartbeatResponse::default()).unwrap();
        assert!(c.clone().receive(body(&frame[..n])).is_err());
        let n = encode_response(
            &mut frame,
            1,
            4,
            &HeartbeatResponse {
                throttle_time_ms: 5,
                ..Default::default()
            },
        )
        .unwrap();
        let r = c.receive(body(&frame[..n])).unwrap();
        assert_eq!(r.decode::<HeartbeatResponse>().unwrap().throttle_time_ms, 5);
        assert_eq!(c.in_flight(), 1);
    }

    #[test]
    fn kip511_fallback_retries_at_the_brokers_version() {
        let mut c = Connection::<4>::new(None).unwrap();
        let mut out = [0u8; 256];
        let sent = c.start(&mut out).unwrap();
        assert_eq!(sent.version, 4);
        // An old broker: UNSUPPORTED_VERSION with a v0 body saying ApiVersions 0-2.
        let ours = [ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 2,
        }];
        let v0 = ApiVersionsResponse {
            error_code: ErrorCode::UNSUPPORTED_VERSION,
            api_keys: Array::new(&ours),
            ..Default::default()
        };
        let mut frame = [0u8; 128];
        let n = encode_response(&mut frame, 0, 0, &v0).unwrap();
        c.receive(body(&frame[..n])).unwrap();
        assert!(c.needs_api_versions() && !c.is_ready());
        let retry = c.start(&mut out).unwrap();
        assert_eq!((retry.correlation_id, retry.version), (1, 2));
    }

    /// A broker whose UNSUPPORTED_VERSION answer is not a valid v0 body
    /// (librdkafka's mock cluster encodes it flexibly, as the request was;
    /// others send the error code alone): the client retries, at the range
    /// it can read, else at v0, instead of giving up on `Truncated`.
    #[test]
    fn kip511_fallback_survives_a_body_that_is_not_v0() {
        // The error code alone: retry at v0.
        let mut c = Connection::<4>::new(None).unwrap();
        let mut out = [0u8; 256];
        c.start(&mut out).unwrap();
        let mut frame = Vec::new();
        frame.extend_from_slice(&0i32.to_be_bytes()); // correlation id
        frame.extend_from_slice(&ErrorCode::UNSUPPORTED_VERSION.0.to_be_bytes());
        c.receive(&frame).unwrap();
        assert!(c.needs_api_versions());
        assert_eq!(c.start(&mut out).unwrap().version, 0);

        // The range encoded at the request's version (v4, flexible): read there.
        let mut c = Connection::<4>::new(None).unwrap();
        c.start(&mut out).unwrap();
        let ours = [ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 2,
        }];
        let v4 = ApiVersionsResponse {
            error_code: ErrorCode::UNSUPPORTED_VERSION,
            api_keys: Array::new(&ours),
            ..Default::default()
        };
        let mut buf = [0u8; 128];
        let n = encode_response(&mut buf, 0, 4, &v4).unwrap();
        assert!(ApiVersionsResponse::decode(
            &mut Reader::new(&body(&buf[..n])[4..]),
            ApiVersionsResponse::wire_version(0).unwrap()
        )
        .is_err());
        c.receive(body(&buf[..n])).unwrap();
        assert_eq!(c.start(&mut out).unwrap().version, 2);
    }

    #[test]
    fn client_id_limit_is_explicit() {
        let long = [b'x'; 65];
        let id = core::str::from_utf8(&long).unwrap();
        assert!(matches!(
            Connection::<1>::new(Some(id)),
            Err(Error::TooLarge {
                what: crate::Limit::ClientId,
                ..
            })
        ));
    }

    #[test]
    fn fixed_version_requests_frame_like_general_ones() {
        use crate::protocol::fixed;
        use crate::protocol::frame::{encode_request, extend_frame};
        use crate::protocol::messages::{PartitionProduceData, ProduceRequest, TopicProduceData};
        use crate::protocol::VersionRange;

        let mut c = Connection::<1>::new(Some("mk")).unwrap();
        let mut buf = [0u8; 128];
        // Nothing but ApiVersions before versions are agreed.
        assert!(c
            .encode_with(&mut buf, ApiKey::Produce, 3, true, &mut |_| Ok(()))
            .is_err());
        let sent = c
            .encode_with(&mut buf, ApiKey::ApiVersions, 0, true, &mut |_| Ok(()))
            .unwrap();
        let mut general = [0u8; 128];
        let request = ApiVersionsRequest::default();
        let len = encode_request(&mut general, 0, Some("mk"), 0, &request).unwrap();
        assert_eq!(buf[..sent.len], general[..len]);

        // The answer is left to the caller: no negotiation happens here.
        let mut answer = [0u8; 64];
        answer[..4].copy_from_slice(&0i32.to_be_bytes());
        let received = c.receive_unapplied(&answer[..10]).unwrap();
        assert_eq!(received.api, ApiKey::ApiVersions);
        assert!(!c.is_ready());
        c.set_versions(NegotiatedVersions::from_ranges([(
            0,
            VersionRange::new(0, 2),
        )]));
        assert_eq!(
            c.encode_with(&mut buf, ApiKey::Produce, 3, true, &mut |_| Ok(())),
            Err(Error::NoCommonVersion {
                api: ApiKey::Produce
            })
        );

        // Produce v3 at the broker's only version, records sent after the
        // head: the frame is the general codec's, byte for byte.
        c.set_versions(NegotiatedVersions::from_ranges([(
            0,
            VersionRange::new(3, 3),
        )]));
        let batch = [9u8; 20];
        let sent = c
            .encode_with(&mut buf, ApiKey::Produce, fixed::PRODUCE, true, &mut |w| {
                fixed::encode_produce_request_head(w, 1, 500, "t", 2, batch.len())
            })
            .unwrap();
        extend_frame(&mut buf, batch.len()).unwrap();
        let mut ours = Vec::from(&buf[..sent.len]);
        ours.extend_from_slice(&batch);
        let parts = [PartitionProduceData {
            index: 2,
            records: Some(&batch),
        }];
        let topics = [TopicProduceData {
            name: "t",
            partition_data: Array::new(&parts),
        }];
        let produce = ProduceRequest {
            transactional_id: None,
            acks: 1,
            timeout_ms: 500,
            topic_data: Array::new(&topics),
        };
        let len =
            encode_request(&mut general, sent.correlation_id, Some("mk"), 3, &produce).unwrap();
        assert_eq!(ours, general[..len]);
    }
}
