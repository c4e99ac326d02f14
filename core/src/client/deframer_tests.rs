//! Frames cut from a byte stream, and the ApiVersions exchange over them.

extern crate std;

use std::vec::Vec;

use super::*;
use crate::protocol::frame::{encode_response, SIZE_PREFIX_LEN};
use crate::protocol::messages::{
    ApiVersion, ApiVersionsResponse, HeartbeatRequest, HeartbeatResponse,
};
use crate::protocol::ApiKey;
use crate::wire::Array;
use crate::{Error, ErrorCode, Limit};

/// Reads every frame of `stream` through `next_read`/`advance`, `chunk`
/// bytes at a time at most (a socket's short reads), into a body buffer
/// grown as bytes come; returns the bodies.
fn read_all(stream: &[u8], chunk: usize, limit: usize) -> Result<Vec<Vec<u8>>, Error> {
    let mut d = Deframer::new(limit);
    let mut frames = Vec::new();
    let mut body = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        if let Some(size) = d.size() {
            // Grow by what came so far, at least 3 bytes, up to the size.
            let want = size.min((d.body_received() * 2).max(3));
            if body.len() < want {
                body.resize(want, 0);
            }
        }
        let dst = d.next_read(&mut body);
        let n = dst.len().min(chunk).min(stream.len() - at);
        dst[..n].copy_from_slice(&stream[at..at + n]);
        at += n;
        if let Some(len) = d.advance(n)? {
            frames.push(body[..len].to_vec());
            body.clear();
            d.reset();
        }
    }
    Ok(frames)
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

#[test]
fn frames_come_whole_whatever_the_reads() {
    let mut stream = frame(b"first frame");
    stream.extend(frame(b""));
    stream.extend(frame(&[7; 300]));
    for chunk in [1, 2, 3, 5, 64, 1 << 16] {
        let frames = read_all(&stream, chunk, 1024).unwrap();
        assert_eq!(
            frames,
            [b"first frame".to_vec(), Vec::new(), std::vec![7; 300]],
            "{chunk}"
        );
    }
}

#[test]
fn a_bad_prefix_is_refused_when_it_is_complete() {
    let mut d = Deframer::new(100);
    let mut body = [0u8; 8];
    // -1: negative.
    assert_eq!(d.feed(&[0xff, 0xff], &mut body).unwrap(), (2, None));
    assert_eq!(d.prefix(), None);
    assert_eq!(d.feed(&[0xff, 0xff], &mut body), Err(Error::InvalidLength));
    assert_eq!(d.prefix(), Some([0xff; 4]), "kept to tell what came");
    assert!(d.next_read(&mut body).is_empty(), "nothing more is read");
    assert_eq!(
        d.advance(1),
        Err(Error::InvalidLength),
        "refused again, for the same reason"
    );
    // Above the limit.
    let mut d = Deframer::new(100);
    assert_eq!(
        read_all(&frame(&[0; 101]), 7, 100),
        Err(Error::TooLarge {
            what: Limit::ResponseFrame,
            size: 101,
            limit: 100
        })
    );
    // A 64 MiB claim then silence: nothing asks for 64 MiB.
    let claim = (64i32 << 20).to_be_bytes();
    assert!(d.feed(&claim, &mut body).is_err(), "over the limit");
    assert_eq!(d.size(), None);
    let mut d = Deframer::new(128 << 20);
    assert_eq!(d.feed(&claim, &mut []).unwrap(), (4, None));
    assert_eq!((d.size(), d.body_received()), (Some(64 << 20), 0));
    assert!(d.next_read(&mut body).len() <= body.len());
    assert_eq!(
        d.feed(&[1], &mut body),
        Err(Error::TooLarge {
            what: Limit::ResponseFrame,
            size: 64 << 20,
            limit: 8
        }),
        "feed wants the whole body's room"
    );
}

#[test]
fn feed_takes_one_frame_at_a_time() {
    let mut stream = frame(b"ab");
    stream.extend(frame(b"cde"));
    let mut d = Deframer::new(16);
    let mut body = [0u8; 16];
    let (used, len) = d.feed(&stream, &mut body).unwrap();
    assert_eq!((used, len), (6, Some(2)));
    assert_eq!(&body[..2], b"ab");
    assert!(d.is_complete());
    assert_eq!(d.feed(&stream[used..], &mut body).unwrap(), (0, Some(2)));
    d.reset();
    assert_eq!(d.feed(&stream[used..], &mut body).unwrap(), (7, Some(3)));
    assert_eq!(&body[..3], b"cde");
}

/// A broker's ApiVersions answer with `ranges`, at `version`.
fn api_versions(correlation_id: i32, version: i16, ranges: &[ApiVersion]) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = encode_response(
        &mut buf,
        correlation_id,
        version,
        &ApiVersionsResponse {
            api_keys: Array::new(ranges),
            ..Default::default()
        },
    )
    .unwrap();
    buf[..n].to_vec()
}

/// A broker's range for `api_key`: versions 0 to `max`.
fn range(api_key: i16, max: i16) -> ApiVersion {
    ApiVersion {
        api_key,
        min_version: 0,
        max_version: max,
    }
}

#[test]
fn versions_are_agreed_over_a_byte_stream_then_requests_go() {
    let ranges = [range(18, 4), range(12, 4)];
    let mut conn = Connection::<1>::new(Some("fw")).unwrap();
    let mut negotiator = Negotiator::new();
    let mut out = [0u8; 256];
    let sent = negotiator.request(&mut conn, &mut out).unwrap();
    assert_eq!(&out[4..8], &[0, 18, 0, 4], "ApiVersions v4 first");
    let answer = api_versions(sent.correlation_id, 4, &ranges);
    let body = &read_all(&answer, 7, 1024).unwrap()[0];
    let versions = negotiator.receive(&mut conn, body).unwrap().unwrap();
    assert_eq!(versions.version(ApiKey::Heartbeat), Ok(4));
    let hb = HeartbeatRequest {
        group_id: "g",
        member_id: "m",
        generation_id: 1,
        ..Default::default()
    };
    let sent = conn.encode(&mut out, &hb).unwrap();
    assert_eq!(&out[4..8], &[0, 12, 0, 4]);
    let mut buf = [0u8; 64];
    let n = encode_response(
        &mut buf,
        sent.correlation_id,
        4,
        &HeartbeatResponse {
            error_code: ErrorCode::REBALANCE_IN_PROGRESS,
            ..Default::default()
        },
    )
    .unwrap();
    let body = &read_all(&buf[..n], 3, 1024).unwrap()[0];
    let answer: HeartbeatResponse = conn.receive(body).unwrap().decode().unwrap();
    assert_eq!(answer.error_code, ErrorCode::REBALANCE_IN_PROGRESS);
}

#[test]
fn an_older_broker_is_asked_again_a_bounded_number_of_times() {
    let mut conn = Connection::<1>::new(None).unwrap();
    let mut negotiator = Negotiator::new();
    let mut out = [0u8; 256];
    // KIP-511: UNSUPPORTED_VERSION with the broker's range (up to v2), in v0.
    let theirs = [range(18, 2)];
    let refused = |correlation_id: i32| {
        let mut buf = [0u8; 128];
        let n = encode_response(
            &mut buf,
            correlation_id,
            0,
            &ApiVersionsResponse {
                error_code: ErrorCode::UNSUPPORTED_VERSION,
                api_keys: Array::new(&theirs),
                ..Default::default()
            },
        )
        .unwrap();
        buf[SIZE_PREFIX_LEN..n].to_vec()
    };
    let sent = negotiator.request(&mut conn, &mut out).unwrap();
    assert_eq!(
        negotiator.receive(&mut conn, &refused(sent.correlation_id)),
        Ok(None)
    );
    let sent = negotiator.request(&mut conn, &mut out).unwrap();
    assert_eq!(&out[6..8], &[0, 2], "asked again at the broker's v2");
    assert_eq!(
        negotiator.receive(&mut conn, &refused(sent.correlation_id)),
        Ok(None)
    );
    let sent = negotiator.request(&mut conn, &mut out).unwrap();
    assert_eq!(
        negotiator.receive(&mut conn, &refused(sent.correlation_id)),
        Ok(None)
    );
    assert_eq!(negotiator.attempts(), Negotiator::MAX_ATTEMPTS);
    assert_eq!(
        negotiator.request(&mut conn, &mut out),
        Err(Error::Malformed(
            "the broker refused every ApiVersions version"
        ))
    );
}

/// An ApiVersions v0 answer frame's body with `error_code` and `ranges`.
fn api_versions_v0(correlation_id: i32, error_code: ErrorCode, ranges: &[ApiVersion]) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = encode_response(
        &mut buf,
        correlation_id,
        0,
        &ApiVersionsResponse {
            error_code,
            api_keys: Array::new(ranges),
            ..Default::default()
        },
    )
    .unwrap();
    buf[SIZE_PREFIX_LEN..n].to_vec()
}

#[test]
fn a_fixed_version_client_agrees_versions_at_v0() {
    let mut conn = Connection::<1>::new(Some("fw")).unwrap();
    let mut negotiator = Negotiator::new();
    let mut out = [0u8; 64];
    let sent = negotiator.request_v0(&mut conn, &mut out).unwrap();
    assert_eq!(sent.version, 0);
    // Size, API key 18, version 0, correlation id, client id "fw", no body.
    assert_eq!(
        &out[..sent.len],
        &[0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 0, 0, 2, b'f', b'w']
    );
    let body = api_versions_v0(sent.correlation_id, ErrorCode::NONE, &[range(12, 4)]);
    assert_eq!(negotiator.receive_v0(&mut conn, &body), Ok(ErrorCode::NONE));
    let versions = conn.versions().unwrap();
    assert_eq!(versions.version(ApiKey::Heartbeat), Ok(4));
    assert_eq!(negotiator.attempts(), 1);
}

#[test]
fn a_v0_refusal_is_the_brokers_error_code_and_agrees_nothing() {
    let mut conn = Connection::<1>::new(None).unwrap();
    let mut negotiator = Negotiator::new();
    let mut out = [0u8; 64];
    let sent = negotiator.request_v0(&mut conn, &mut out).unwrap();
    let body = api_versions_v0(sent.correlation_id, ErrorCode::UNSUPPORTED_VERSION, &[]);
    assert_eq!(
        negotiator.receive_v0(&mut conn, &body),
        Ok(ErrorCode::UNSUPPORTED_VERSION)
    );
    assert!(conn.versions().is_none());
    // An answer to no request is refused.
    assert!(negotiator.receive_v0(&mut conn, &body).is_err());
}
