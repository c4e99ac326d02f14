//! Framing: the `int32` size prefix, request and response headers, and
//! whole-frame encode/decode for any [`Request`] or [`Response`].

use crate::error::{Error, Result};
use crate::protocol::versions::codec_flexible_from;
use crate::protocol::{ApiKey, Request, Response};
use crate::wire::{Reader, Writer};

/// Size of the length prefix in front of every frame.
pub const SIZE_PREFIX_LEN: usize = 4;

/// Kafka's default `socket.request.max.bytes` (100 MiB): a sensible ceiling for
/// hosts. Firmware passes its own, much smaller, limit.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// Reads the size prefix at the start of `buf` and returns the frame body once
/// all of it is present.
///
/// Returns `Ok(None)` while more bytes are needed, `Ok(Some((body, consumed)))`
/// when a whole frame is there (`consumed` = prefix + body), and an error when
/// the declared size is negative or above `max_frame_size` — the caller should
/// then drop the connection, since the stream can no longer be trusted.
pub fn split_frame(buf: &[u8], max_frame_size: usize) -> Result<Option<(&[u8], usize)>> {
    let Some(prefix) = buf.get(..SIZE_PREFIX_LEN) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let size = usize::try_from(size).map_err(|_| Error::InvalidLength)?;
    if size > max_frame_size {
        return Err(Error::TooLarge {
            what: crate::Limit::Frame,
            size,
            limit: max_frame_size,
        });
    }
    let end = SIZE_PREFIX_LEN + size;
    Ok(buf.get(SIZE_PREFIX_LEN..end).map(|body| (body, end)))
}

/// The request header (v1, or v2 with a tagged-field section for flexible versions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestHeader<'a> {
    /// The API key (kept raw so unknown APIs can be answered).
    pub api_key: i16,
    /// The API version.
    pub api_version: i16,
    /// Echoed back in the response header; matches responses to requests.
    pub correlation_id: i32,
    /// The client's id (always a classic nullable string, even in header v2).
    pub client_id: Option<&'a str>,
}

impl<'a> RequestHeader<'a> {
    /// The header version Kafka uses for `api` at `version`: 2 if flexible, else 1.
    pub fn header_version(api: ApiKey, version: i16) -> i16 {
        if is_flexible(api, version) {
            2
        } else {
            1
        }
    }

    /// The API this header names, if microkafka knows it.
    pub fn api(&self) -> Option<ApiKey> {
        ApiKey::from_key(self.api_key)
    }

    /// Decodes a header from the start of a request frame body.
    ///
    /// The tagged-field section of header v2 is skipped when the API is known
    /// and the version is flexible. For an unknown API or version the reader is
    /// left after `client_id`: the body cannot be decoded anyway.
    pub fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let header = RequestHeader {
            api_key: r.i16()?,
            api_version: r.i16()?,
            correlation_id: r.i32()?,
            client_id: r.nullable_string()?,
        };
        if let Some(api) = header.api() {
            if is_flexible(api, header.api_version) {
                r.skip_tagged_fields()?;
            }
        }
        Ok(header)
    }

    /// Encodes the header for `api` at its version.
    pub fn encode(&self, w: &mut Writer<'_>) -> Result<()> {
        w.i16(self.api_key)?;
        w.i16(self.api_version)?;
        w.i32(self.correlation_id)?;
        w.nullable_string(self.client_id)?;
        if let Some(api) = self.api() {
            if is_flexible(api, self.api_version) {
                w.uvarint(0)?;
            }
        }
        Ok(())
    }
}

/// The response header: the correlation id, plus an (empty) tagged-field
/// section in v1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
}

impl ResponseHeader {
    /// The response header version for `api` at `version`: 1 if flexible,
    /// else 0 — except ApiVersions, always 0, so a client can read the reply
    /// before it knows which versions the broker speaks.
    pub fn header_version(api: ApiKey, version: i16) -> i16 {
        if api != ApiKey::ApiVersions && is_flexible(api, version) {
            1
        } else {
            0
        }
    }
}

fn is_flexible(api: ApiKey, version: i16) -> bool {
    matches!(codec_flexible_from(api), Some(f) if version >= f)
}

/// Reads the correlation id at the start of a response frame body.
pub fn peek_correlation_id(body: &[u8]) -> Result<i32> {
    Reader::new(body).i32()
}

/// Encodes a whole request frame (size prefix, header, body) into `buf`;
/// returns the number of bytes written.
pub fn encode_request<'a, R: Request<'a>>(
    buf: &mut [u8],
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    body: &R,
) -> Result<usize> {
    let wire = R::wire_version(version)?;
    let header = RequestHeader {
        api_key: R::API_KEY.key(),
        api_version: version,
        correlation_id,
        client_id,
    };
    encode_request_with(buf, &header, &mut |w| body.encode(w, wire))
}

/// Encodes a whole request frame whose body `body` writes (a
/// [fixed-version](super::fixed) codec) after `header`; returns the number
/// of bytes written.
pub fn encode_request_with(
    buf: &mut [u8],
    header: &RequestHeader<'_>,
    body: &mut dyn FnMut(&mut Writer<'_>) -> Result<()>,
) -> Result<usize> {
    let mut w = Writer::new(buf);
    let size_at = w.reserve(SIZE_PREFIX_LEN)?;
    header.encode(&mut w)?;
    body(&mut w)?;
    finish_frame(w, size_at)
}

/// Decodes a request body of type `R` that follows `header` (as returned by
/// [`RequestHeader::decode`]).
///
/// Bytes after the body are ignored, as Kafka brokers do: librdkafka 2.16
/// sends three stray bytes after a null-topics Metadata v12 request (see the
/// golden captures), and a broker that refused them would break it.
pub fn decode_request_body<'a, R: Request<'a>>(
    header: &RequestHeader<'_>,
    r: &mut Reader<'a>,
) -> Result<R> {
    if header.api_key != R::API_KEY.key() {
        return Err(Error::Malformed(
            "request body type does not match the header's API key",
        ));
    }
    R::decode(r, R::wire_version(header.api_version)?)
}

/// Encodes a whole response frame (size prefix, header, body) into `buf`;
/// returns the number of bytes written.
pub fn encode_response<'a, R: Response<'a>>(
    buf: &mut [u8],
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Result<usize> {
    let wire = R::wire_version(version)?;
    let mut w = Writer::new(buf);
    let size_at = w.reserve(SIZE_PREFIX_LEN)?;
    w.i32(correlation_id)?;
    if ResponseHeader::header_version(R::API_KEY, version) == 1 {
        w.uvarint(0)?;
    }
    body.encode(&mut w, wire)?;
    finish_frame(w, size_at)
}

/// Decodes a response frame body (after the size prefix) as `R` at `version`.
pub fn decode_response<'a, R: Response<'a>>(
    frame: &'a [u8],
    version: i16,
) -> Result<(ResponseHeader, R)> {
    let wire = R::wire_version(version)?;
    let mut r = Reader::new(frame);
    let header = ResponseHeader {
        correlation_id: r.i32()?,
    };
    if ResponseHeader::header_version(R::API_KEY, version) == 1 {
        r.skip_tagged_fields()?;
    }
    // Trailing bytes are ignored, as the Java client does.
    let body = R::decode(&mut r, wire)?;
    Ok((header, body))
}

/// Decodes a request frame body (after the size prefix) as `R`.
pub fn decode_request<'a, R: Request<'a>>(frame: &'a [u8]) -> Result<(RequestHeader<'a>, R)> {
    let mut r = Reader::new(frame);
    let header = RequestHeader::decode(&mut r)?;
    let body = decode_request_body(&header, &mut r)?;
    Ok((header, body))
}

/// Counts `extra` bytes that will follow the frame encoded at the start of
/// `frame` (a Produce request's records, sent from where they lie) in its
/// size prefix.
pub fn extend_frame(frame: &mut [u8], extra: usize) -> Result<()> {
    let prefix = frame.get_mut(..SIZE_PREFIX_LEN).ok_or(Error::Truncated)?;
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let size = i32::try_from(extra)
        .ok()
        .and_then(|extra| size.checked_add(extra))
        .ok_or(Error::TooLarge {
            what: crate::Limit::Frame,
            size: extra,
            limit: i32::MAX as usize,
        })?;
    prefix.copy_from_slice(&size.to_be_bytes());
    Ok(())
}

fn finish_frame(mut w: Writer<'_>, size_at: usize) -> Result<usize> {
    let total = w.position();
    let size = i32::try_from(total - SIZE_PREFIX_LEN).map_err(|_| Error::TooLarge {
        what: crate::Limit::Frame,
        size: total,
        limit: i32::MAX as usize,
    })?;
    w.patch(size_at, &size.to_be_bytes())?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::{ApiVersionsResponse, HeartbeatRequest, HeartbeatResponse};

    #[test]
    fn split_frame_waits_for_bytes_and_enforces_the_limit() {
        let frame = [0, 0, 0, 3, 0xaa, 0xbb, 0xcc, 0x99];
        assert_eq!(split_frame(&frame[..2], 16), Ok(None));
        assert_eq!(split_frame(&frame[..6], 16), Ok(None));
        assert_eq!(split_frame(&frame, 16), Ok(Some((&frame[4..7], 7))));
        assert_eq!(
            split_frame(&frame, 2),
            Err(Error::TooLarge {
                what: crate::Limit::Frame,
                size: 3,
                limit: 2
            })
        );
        assert_eq!(
            split_frame(&[0xff, 0xff, 0xff, 0xff], 16),
            Err(Error::InvalidLength)
        );
        // The limit is checked from the prefix alone, before the body arrives.
        assert!(split_frame(&[0x7f, 0xff, 0xff, 0xff], DEFAULT_MAX_FRAME_SIZE).is_err());
    }

    #[test]
    fn header_versions_follow_flexibility_with_the_api_versions_exception() {
        assert_eq!(RequestHeader::header_version(ApiKey::Heartbeat, 3), 1);
        assert_eq!(RequestHeader::header_version(ApiKey::Heartbeat, 4), 2);
        assert_eq!(ResponseHeader::header_version(ApiKey::Heartbeat, 4), 1);
        assert_eq!(RequestHeader::header_version(ApiKey::ApiVersions, 3), 2);
        assert_eq!(ResponseHeader::header_version(ApiKey::ApiVersions, 3), 0);
        assert_eq!(RequestHeader::header_version(ApiKey::SaslHandshake, 1), 1);
    }

    #[test]
    fn response_frames_carry_the_right_header() {
        let mut buf = [0u8; 64];
        // Heartbeat v4 response: size, correlation id, empty header tags (v1), then body.
        let n = encode_response(&mut buf, 9, 4, &HeartbeatResponse::default()).unwrap();
        assert_eq!(
            &buf[..n],
            &[0, 0, 0, 12, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0][..n]
        );
        assert_eq!(&buf[..9], &[0, 0, 0, (n - 4) as u8, 0, 0, 0, 9, 0]);
        // ApiVersions v3 response: no header tag section even though the body is flexible.
        let n = encode_response(&mut buf, 9, 3, &ApiVersionsResponse::default()).unwrap();
        assert_eq!(&buf[4..n], &[0, 0, 0, 9, 0, 0, 1, 0, 0, 0, 0, 0]);
        let (header, _) = decode_response::<ApiVersionsResponse<'_>>(&buf[4..n], 3).unwrap();
        assert_eq!(header.correlation_id, 9);
    }

    #[test]
    fn request_frames_round_trip_and_check_the_api() {
        let mut buf = [0u8; 64];
        let req = HeartbeatRequest {
            group_id: "g",
            generation_id: 3,
            member_id: "m",
            ..Default::default()
        };
        let n = encode_request(&mut buf, 5, None, 4, &req).unwrap();
        let (body, _) = split_frame(&buf[..n], 64).unwrap().unwrap();
        let (header, back) = decode_request::<HeartbeatRequest<'_>>(body).unwrap();
        assert_eq!(
            (
                header.api_key,
                header.api_version,
                header.correlation_id,
                header.client_id
            ),
            (12, 4, 5, None)
        );
        assert_eq!(back, req);
        assert!(matches!(
            decode_request::<ApiVersionsRequestAlias<'_>>(body),
            Err(Error::Malformed(_))
        ));
        assert_eq!(
            encode_request(&mut buf, 5, None, 99, &req),
            Err(Error::UnsupportedVersion {
                api: ApiKey::Heartbeat,
                version: 99
            })
        );
        assert_eq!(
            encode_request(&mut buf[..10], 5, None, 4, &req),
            Err(Error::BufferTooSmall)
        );
    }

    type ApiVersionsRequestAlias<'a> = crate::protocol::messages::ApiVersionsRequest<'a>;
}
