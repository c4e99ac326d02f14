//! One broker connection as a state machine: version negotiation, correlation, pipelining.

use heapless::{Deque, String};

use crate::error::{Error, Result};
use crate::protocol::frame::{encode_request, peek_correlation_id, ResponseHeader};
use crate::protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use crate::protocol::versions::codec_versions;
use crate::protocol::{ApiKey, Message, NegotiatedVersions, Request, Response};
use crate::wire::{Reader, Wire};
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
                what: "client id",
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

    /// The version agreed for `api`, or why there is none.
    fn negotiated(&self, api: ApiKey) -> Result<i16> {
        match &self.negotiation {
            Negotiation::Done(v) => v.version(api),
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
        if answered && self.in_flight.is_full() {
            return Err(Error::TooLarge {
                what: "requests in flight",
                size: MAX_IN_FLIGHT + 1,
                limit: MAX_IN_FLIGHT,
            });
        }
        let correlation_id = self.next_correlation_id;
        let len = encode_request(
            buf,
            correlation_id,
            self.client_id.as_deref(),
            version,
            request,
        )?;
        self.next_correlation_id = correlation_id.wrapping_add(1);
        if answered {
            // Cannot fail: fullness was checked above.
            let _ = self.in_flight.push_back(InFlight {
                correlation_id,
                api: R::API_KEY,
                version,
            });
        }
        Ok(Sent {
            correlation_id,
            version,
            len,
            expects_response: answered,
        })
    }

    /// Matches a response frame body (after the size prefix) to the oldest
    /// request in flight and strips its header.
    ///
    /// ApiVersions responses are also applied to the negotiation state.
    pub fn receive<'b>(&mut self, frame: &'b [u8]) -> Result<Received<'b>> {
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
        if expected.api == ApiKey::ApiVersions {
            self.apply_api_versions(&received)?;
        }
        Ok(received)
    }

    fn apply_api_versions(&mut self, received: &Received<'_>) -> Result<()> {
        // The error code leads every ApiVersions version, so it can be read
        // before knowing which version the body is really in.
        let error = ErrorCode(Reader::new(received.body).i16()?);
        if error == ErrorCode::UNSUPPORTED_VERSION && received.version > 0 {
            // KIP-511: the broker answered in v0 with its own range; retry at
            // the highest version both know.
            let v0 = ApiVersionsResponse::decode(
                &mut Reader::new(received.body),
                ApiVersionsResponse::wire_version(0)?,
            )?;
            let theirs = v0
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions.key());
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

    #[test]
    fn client_id_limit_is_explicit() {
        let long = [b'x'; 65];
        let id = core::str::from_utf8(&long).unwrap();
        assert!(matches!(
            Connection::<1>::new(Some(id)),
            Err(Error::TooLarge {
                what: "client id",
                ..
            })
        ));
    }
}
