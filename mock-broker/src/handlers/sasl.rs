//! SaslHandshake and SaslAuthenticate: PLAIN, SCRAM-SHA-256/512 and
//! OAUTHBEARER, with KIP-368 session lifetimes and re-authentication.
//!
//! With SASL on the listener, a connection must authenticate before any API
//! other than ApiVersions and these two; anything else closes it, as Kafka
//! does (the checks are in `Cluster::handle`). SaslHandshake v1 is followed
//! by SaslAuthenticate requests; after v0 the client's messages come as
//! bare size-prefixed frames and the broker's answers go back the same way
//! (the pre-KIP-152 form), where a failure can only close the connection.
//!
//! Answers follow Kafka's `SaslServerAuthenticator`: the handshake lists
//! the enabled mechanisms; a mechanism that is not enabled is
//! UNSUPPORTED_SASL_MECHANISM; a refused exchange is
//! SASL_AUTHENTICATION_FAILED with Kafka's message. Both close the
//! connection after their answer and count as failed authentications
//! (`AuthState::failed`). On a connection that is authenticated and not
//! re-authenticating (or with no SASL at all), both are ILLEGAL_SASL_STATE
//! and the connection stays open, as Kafka's request handler answers them.

use microkafka_core::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};
use crate::cluster::{AuthState, Authenticated, Cluster, Outcome, Session, Stage};
use crate::security::exchange::{session_lifetime_ms, Exchange, Step};

pub(crate) fn handshake(
    cx: &mut Cx<'_>,
    req: SaslHandshakeRequest<'_>,
    auth: &mut AuthState,
) -> Answer {
    let names = cx.cluster.auth.names();
    let stage = std::mem::replace(&mut auth.stage, Stage::Open);
    let exchanging = !matches!(stage, Stage::Open | Stage::Done(_));
    let (error, stage, listed, fail) = match (stage, cx.forced) {
        (stage, Some(error)) => (error, stage, exchanging, exchanging && error.is_err()),
        (Stage::Handshake { reauth }, None) => match cx.cluster.auth.mechanism(req.mechanism) {
            // Kafka accepts the handshake of a re-authentication with
            // another mechanism, then fails its SaslAuthenticate.
            Some(m) if reauth.as_ref().is_some_and(|r| r.mechanism != m) => {
                (ErrorCode::NONE, Stage::ReauthBadMechanism, true, false)
            }
            Some(m) => {
                let next = Stage::Authenticate {
                    raw: cx.version == 0,
                    exchange: Box::new(Exchange::new(m)),
                    reauth,
                };
                (ErrorCode::NONE, next, true, false)
            }
            None => (
                ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                Stage::Handshake { reauth },
                true,
                true,
            ),
        },
        // No SASL on this listener, or authenticated: Kafka's request
        // handler answers ILLEGAL_SASL_STATE and the connection stays.
        (stage @ (Stage::Open | Stage::Done(_)), None) => {
            (ErrorCode::ILLEGAL_SASL_STATE, stage, false, false)
        }
        // Mid-exchange (reached only through an injected fault's path).
        (stage, None) => (ErrorCode::ILLEGAL_SASL_STATE, stage, false, true),
    };
    auth.stage = stage;
    let mechanisms = if listed { names } else { Vec::new() };
    let answer = cx.respond(&SaslHandshakeResponse {
        error_code: error,
        mechanisms: Array::new(&mechanisms),
    });
    if fail {
        auth.fail();
        return close_after(answer);
    }
    answer
}

/// The answer, then the connection closes.
fn close_after(answer: Answer) -> Answer {
    match answer {
        Answer::Frame(frame) => Answer::Close(Some(frame)),
        other => other,
    }
}

pub(crate) fn authenticate(
    cx: &mut Cx<'_>,
    req: SaslAuthenticateRequest<'_>,
    auth: &mut AuthState,
) -> Answer {
    let exchanging = !matches!(auth.stage, Stage::Open | Stage::Done(_));
    if let Some(error) = cx.forced {
        let answer = cx.respond(&SaslAuthenticateResponse {
            error_code: error,
            error_message: error.is_err().then(|| error.description()),
            ..Default::default()
        });
        if exchanging && error.is_err() {
            auth.fail();
            return close_after(answer);
        }
        return answer;
    }
    match std::mem::replace(&mut auth.stage, Stage::Open) {
        Stage::Authenticate {
            raw: false,
            mut exchange,
            reauth,
        } => {
            let now_ms = cx.cluster.unix_ms(cx.now);
            let step = exchange.step(req.auth_bytes, &cx.cluster.auth, now_ms);
            let mechanism = exchange.mechanism();
            match settle(cx.cluster, auth, step, mechanism, reauth.as_ref(), cx.now) {
                Settled::Continue(bytes) => {
                    auth.stage = Stage::Authenticate {
                        raw: false,
                        exchange,
                        reauth,
                    };
                    cx.respond(&SaslAuthenticateResponse {
                        auth_bytes: &bytes,
                        ..Default::default()
                    })
                }
                Settled::Done { bytes, lifetime_ms } => cx.respond(&SaslAuthenticateResponse {
                    auth_bytes: &bytes,
                    session_lifetime_ms: lifetime_ms,
                    ..Default::default()
                }),
                Settled::Failed(message) => close_after(cx.respond(&SaslAuthenticateResponse {
                    error_code: ErrorCode::SASL_AUTHENTICATION_FAILED,
                    error_message: Some(&message),
                    ..Default::default()
                })),
            }
        }
        // Kafka fails the exchange before reading the request: no answer.
        Stage::ReauthBadMechanism => {
            auth.fail();
            Answer::Close(None)
        }
        stage @ (Stage::Open | Stage::Done(_)) => {
            auth.stage = stage;
            cx.respond(&SaslAuthenticateResponse {
                error_code: ErrorCode::ILLEGAL_SASL_STATE,
                error_message: Some(ErrorCode::ILLEGAL_SASL_STATE.description()),
                ..Default::default()
            })
        }
        // Before SaslHandshake, or after a v0 one: not a Kafka exchange.
        stage => {
            auth.stage = stage;
            close_after(cx.respond(&SaslAuthenticateResponse {
                error_code: ErrorCode::ILLEGAL_SASL_STATE,
                error_message: Some(ErrorCode::ILLEGAL_SASL_STATE.description()),
                ..Default::default()
            }))
        }
    }
}

/// What one step of the exchange comes to.
enum Settled {
    /// Send these bytes and wait for the next message.
    Continue(Vec<u8>),
    /// Authenticated: send these bytes and the session lifetime (0: none).
    Done { bytes: Vec<u8>, lifetime_ms: i64 },
    /// Refused with this message (the connection closes).
    Failed(String),
}

/// Applies a step's result to the connection: on success its principal,
/// session lifetime and stage; on failure the failure mark.
fn settle(
    cluster: &Cluster,
    auth: &mut AuthState,
    step: Step,
    mechanism: crate::security::SaslMechanism,
    reauth: Option<&Authenticated>,
    now: std::time::Instant,
) -> Settled {
    let failed = |auth: &mut AuthState, message: String| {
        auth.fail();
        // Kafka's generic message names the re-authentication as such.
        Settled::Failed(if reauth.is_some() {
            message.replacen("during authentication", "during re-authentication", 1)
        } else {
            message
        })
    };
    match step {
        Step::Challenge(bytes) => Settled::Continue(bytes),
        Step::Failure(message) => failed(auth, message),
        Step::Success {
            bytes,
            principal,
            expires_ms,
        } => {
            if reauth.is_some() && principal != auth.principal {
                let message = format!(
                    "Cannot change principals during re-authentication from User.{}: User.{principal}",
                    auth.principal
                );
                return failed(auth, message);
            }
            let lifetime =
                session_lifetime_ms(cluster.auth.max_reauth, expires_ms, cluster.unix_ms(now));
            let expires_at = lifetime
                .map(|ms| now + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)));
            auth.stage = Stage::Done(Authenticated {
                mechanism,
                expires_at,
                reauth_started: reauth.and_then(|r| r.reauth_started),
            });
            auth.principal = principal;
            auth.authenticated_once = true;
            Settled::Done {
                bytes,
                lifetime_ms: lifetime.unwrap_or(0),
            }
        }
    }
}

/// A bare client message after SaslHandshake v0: the answer as a bare
/// frame; on failure the connection closes, which is all v0 can say.
pub(crate) fn raw_token(
    cluster: &mut Cluster,
    session: &mut Session,
    frame: &[u8],
    now: std::time::Instant,
) -> Outcome {
    let auth = &mut session.auth;
    let Stage::Authenticate {
        raw: true,
        mut exchange,
        reauth,
    } = std::mem::replace(&mut auth.stage, Stage::Open)
    else {
        return Outcome::Close(None);
    };
    let step = exchange.step(frame, &cluster.auth, cluster.unix_ms(now));
    let mechanism = exchange.mechanism();
    let bare = |bytes: &[u8]| {
        let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(bytes);
        Outcome::Respond(out)
    };
    match settle(cluster, auth, step, mechanism, reauth.as_ref(), now) {
        Settled::Continue(bytes) => {
            auth.stage = Stage::Authenticate {
                raw: true,
                exchange,
                reauth,
            };
            bare(&bytes)
        }
        Settled::Done { bytes, .. } => bare(&bytes),
        Settled::Failed(_) => Outcome::Close(None),
    }
}
