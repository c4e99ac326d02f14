//! [`Negotiator`]: the ApiVersions exchange that opens a connection.

use super::connection::{Connection, Sent};
use crate::error::{Error, Result};
use crate::protocol::fixed::{self, ApiVersionsV0};
use crate::protocol::{ApiKey, NegotiatedVersions};
use crate::ErrorCode;

/// The ApiVersions exchange that opens every connection, over a
/// [`Connection`]: the request at the highest version microkafka speaks,
/// and when the broker is older (KIP-511: it answers
/// `UNSUPPORTED_VERSION` with its own range) the request again at a
/// version it knows, a bounded number of times.
///
/// ```text
/// loop {
///     let sent = negotiator.request(&mut conn, &mut buf)?;   // write buf[..sent.len]
///     // read one frame (a Deframer), then:
///     if let Some(versions) = negotiator.receive(&mut conn, frame_body)? { break }
/// }
/// ```
///
/// A client on the [fixed-version](crate::protocol::fixed) codecs (a
/// firmware, which links none of the general ApiVersions code) uses
/// [`request_v0`](Self::request_v0) and [`receive_v0`](Self::receive_v0)
/// instead: every broker takes v0, so there is no fallback to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Negotiator {
    attempts: u8,
}

impl Negotiator {
    /// ApiVersions requests sent before giving up (the first, and two
    /// KIP-511 fallbacks).
    pub const MAX_ATTEMPTS: u8 = 3;

    /// Nothing sent yet.
    pub const fn new() -> Self {
        Negotiator { attempts: 0 }
    }

    /// ApiVersions requests sent so far.
    pub const fn attempts(&self) -> u8 {
        self.attempts
    }

    /// Encodes the next ApiVersions request into `buf` (write
    /// `buf[..sent.len]`).
    ///
    /// Errors: [`Error::Malformed`] after [`MAX_ATTEMPTS`](Self::MAX_ATTEMPTS)
    /// requests the broker refused, and `conn`'s errors (a buffer too small,
    /// versions already agreed).
    pub fn request<const N: usize>(
        &mut self,
        conn: &mut Connection<N>,
        buf: &mut [u8],
    ) -> Result<Sent> {
        if self.attempts >= Self::MAX_ATTEMPTS {
            return Err(Error::Malformed(
                "the broker refused every ApiVersions version",
            ));
        }
        let sent = conn.start(buf)?;
        self.attempts += 1;
        Ok(sent)
    }

    /// Takes the answer (a frame's body, after its size prefix): the
    /// versions once agreed, `None` when the request goes again at an
    /// older version ([`request`](Self::request)).
    ///
    /// Errors: as [`Connection::receive`] (a mismatched or malformed
    /// answer, an ApiVersions error code): close the connection.
    pub fn receive<'c, const N: usize>(
        &mut self,
        conn: &'c mut Connection<N>,
        frame: &[u8],
    ) -> Result<Option<&'c NegotiatedVersions>> {
        conn.receive(frame)?;
        Ok(conn.versions())
    }

    /// Encodes ApiVersions v0 (the fixed-version codec's, an empty body)
    /// into `buf` (write `buf[..sent.len]`). Not bounded by
    /// [`MAX_ATTEMPTS`](Self::MAX_ATTEMPTS): v0 is never asked again on
    /// the same connection.
    ///
    /// Errors: `conn`'s (a buffer too small).
    pub fn request_v0<const N: usize>(
        &mut self,
        conn: &mut Connection<N>,
        buf: &mut [u8],
    ) -> Result<Sent> {
        let sent = conn.encode_with(
            buf,
            ApiKey::ApiVersions,
            fixed::API_VERSIONS,
            true,
            &mut |_| Ok(()),
        )?;
        self.attempts = self.attempts.saturating_add(1);
        Ok(sent)
    }

    /// Takes the answer to [`request_v0`](Self::request_v0) (a frame's
    /// body) and returns the broker's error code: with `NONE` the versions
    /// are agreed ([`Connection::versions`]); with any other, they are not
    /// (close the connection: v0 has no fallback).
    ///
    /// Errors: a mismatched or malformed answer: close the connection.
    pub fn receive_v0<const N: usize>(
        &mut self,
        conn: &mut Connection<N>,
        frame: &[u8],
    ) -> Result<ErrorCode> {
        let received = conn.receive_unapplied(frame)?;
        let answer = ApiVersionsV0::decode(received.body)?;
        if answer.error_code == ErrorCode::NONE {
            conn.set_versions(NegotiatedVersions::from_ranges(answer.ranges()));
        }
        Ok(answer.error_code)
    }
}
