//! SaslHandshake and SaslAuthenticate with the PLAIN mechanism.
//!
//! With users configured, a connection must authenticate before any API
//! other than ApiVersions and these two; anything else closes it, as Kafka
//! does. SaslHandshake v1 is followed by SaslAuthenticate requests; after
//! v0 the client sends the PLAIN token as a bare size-prefixed frame and gets
//! a bare (empty) frame back, the pre-KIP-152 form.

use microkafka_core::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};
use crate::cluster::{Auth, Cluster, Outcome, Session};
use crate::config::SaslUser;

const PLAIN: &str = "PLAIN";

/// Checks a PLAIN token (`authzid NUL authcid NUL password`); returns the user.
fn check_plain(users: &[SaslUser], token: &[u8]) -> Option<String> {
    let mut parts = token.split(|&b| b == 0);
    let (authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || (!authzid.is_empty() && authzid != user) {
        return None;
    }
    let (user, password) = (
        std::str::from_utf8(user).ok()?,
        std::str::from_utf8(password).ok()?,
    );
    users
        .iter()
        .any(|u| u.user == user && u.password == password)
        .then(|| user.to_owned())
}

pub(crate) fn handshake(cx: &mut Cx<'_>, req: SaslHandshakeRequest<'_>, auth: &mut Auth) -> Answer {
    let required = *auth != Auth::Open;
    let error = match (&*auth, cx.forced) {
        (_, Some(error)) => error,
        (Auth::Handshake, None) if req.mechanism == PLAIN => {
            *auth = Auth::Authenticate {
                raw: cx.version == 0,
            };
            ErrorCode::NONE
        }
        (Auth::Handshake, None) => ErrorCode::UNSUPPORTED_SASL_MECHANISM,
        // No SASL on this cluster, or already past the handshake.
        _ => ErrorCode::ILLEGAL_SASL_STATE,
    };
    let mechanisms = if required { &[PLAIN][..] } else { &[][..] };
    let answer = cx.respond(&SaslHandshakeResponse {
        error_code: error,
        mechanisms: Array::new(mechanisms),
    });
    match answer {
        Answer::Frame(frame) if required && error.is_err() => Answer::Close(Some(frame)),
        other => other,
    }
}

pub(crate) fn authenticate(
    cx: &mut Cx<'_>,
    req: SaslAuthenticateRequest<'_>,
    auth: &mut Auth,
) -> Answer {
    let required = *auth != Auth::Open;
    let error = match (&*auth, cx.forced) {
        (_, Some(error)) => error,
        (Auth::Authenticate { raw: false }, None) => {
            match check_plain(cx.cluster.sasl_users(), req.auth_bytes) {
                Some(user) => {
                    *auth = Auth::Done(user);
                    ErrorCode::NONE
                }
                None => ErrorCode::SASL_AUTHENTICATION_FAILED,
            }
        }
        _ => ErrorCode::ILLEGAL_SASL_STATE,
    };
    let answer = cx.respond(&SaslAuthenticateResponse {
        error_code: error,
        error_message: match error {
            ErrorCode::NONE => None,
            ErrorCode::SASL_AUTHENTICATION_FAILED => {
                Some("Authentication failed: Invalid username or password")
            }
            other => Some(other.description()),
        },
        ..Default::default()
    });
    match answer {
        // A failed authentication ends the connection after its answer.
        Answer::Frame(frame) if required && error.is_err() => Answer::Close(Some(frame)),
        other => other,
    }
}

/// A bare PLAIN token after SaslHandshake v0: an empty bare frame on
/// success; on failure the connection closes, which is all v0 can say.
pub(crate) fn raw_token(cluster: &Cluster, session: &mut Session, frame: &[u8]) -> Outcome {
    match check_plain(cluster.sasl_users(), frame) {
        Some(user) => {
            session.auth = Auth::Done(user);
            Outcome::Respond(vec![0, 0, 0, 0])
        }
        None => Outcome::Close(None),
    }
}
