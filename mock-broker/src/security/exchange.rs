//! The broker's side of one SASL exchange, over core's state machines, and
//! the credential store it checks against.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use microkafka_core::sasl::{
    Failure, SaslServer, ScramCredential, ScramHash, ServerCredentials, ServerStep,
    MIN_NONCE_RANDOM_LEN,
};
use microkafka_core::Error;

use super::oauthbearer::{self, Answer as OAuthAnswer};
use super::{Effective, OAuthBearerValidation, SaslMechanism};

/// Random bytes a SCRAM salt is made of (Kafka's are about 26).
const SALT_LEN: usize = 24;
/// Random bytes of the broker's part of a SCRAM nonce.
const NONCE_RANDOM_LEN: usize = 24;
/// Room for a server message (SCRAM server-first is under 300 bytes).
const SERVER_MESSAGE_MAX: usize = 1024;

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator does not fail on the platforms tokio runs on; if it
    // did, a zero salt or nonce is still a working (if weak) test broker.
    let _ = getrandom::fill(&mut bytes);
    bytes
}

/// What the broker knows about its users: PLAIN passwords (only when PLAIN
/// is enabled: it compares them) and SCRAM salted keys (never the password).
#[derive(Default)]
pub(crate) struct Credentials {
    plain: HashMap<String, Vec<u8>>,
    scram: HashMap<(ScramHash, String), ScramCredential>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("plain_users", &self.plain.len())
            .field("scram_credentials", &self.scram.len())
            .finish()
    }
}

impl ServerCredentials for Credentials {
    fn plain_password(&self, user: &str) -> Option<&[u8]> {
        self.plain.get(user).map(Vec::as_slice)
    }

    fn scram_credential(&self, hash: ScramHash, user: &str) -> Option<ScramCredential> {
        self.scram.get(&(hash, user.to_owned())).cloned()
    }
}

/// Everything a connection's authentication is checked against.
#[derive(Debug)]
pub(crate) struct AuthSettings {
    /// False on PLAINTEXT and SSL listeners: no SASL.
    pub(crate) required: bool,
    pub(crate) mechanisms: Vec<SaslMechanism>,
    pub(crate) credentials: Credentials,
    pub(crate) oauthbearer: OAuthBearerValidation,
    pub(crate) max_reauth: Duration,
}

impl AuthSettings {
    /// The settings of `effective`, deriving each SCRAM user's salted keys
    /// (an iteration count out of Kafka's range is clamped into it).
    pub(crate) fn new(effective: &Effective) -> Self {
        let sasl = &effective.sasl;
        let required = effective.protocol.uses_sasl();
        let mut credentials = Credentials::default();
        if required {
            let iterations = sasl.scram_iterations.clamp(
                microkafka_core::sasl::MIN_ITERATIONS,
                microkafka_core::sasl::MAX_ITERATIONS,
            );
            for m in &sasl.mechanisms {
                for u in &sasl.users {
                    match m.scram_hash() {
                        Some(hash) => {
                            let salt = random::<SALT_LEN>();
                            if let Ok(c) =
                                ScramCredential::derive(hash, &u.password, &salt, iterations)
                            {
                                credentials.scram.insert((hash, u.user.clone()), c);
                            }
                        }
                        None if *m == SaslMechanism::Plain => {
                            credentials
                                .plain
                                .insert(u.user.clone(), u.password.as_bytes().to_vec());
                        }
                        None => {}
                    }
                }
            }
        }
        AuthSettings {
            required,
            mechanisms: if required {
                sasl.mechanisms.clone()
            } else {
                Vec::new()
            },
            credentials,
            oauthbearer: sasl.oauthbearer.clone(),
            max_reauth: sasl.connections_max_reauth,
        }
    }

    /// The mechanism names SaslHandshake lists.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        self.mechanisms.iter().map(|m| m.name()).collect()
    }

    /// The enabled mechanism Kafka calls `name`.
    pub(crate) fn mechanism(&self, name: &str) -> Option<SaslMechanism> {
        SaslMechanism::from_name(name).filter(|m| self.mechanisms.contains(m))
    }
}

/// The server side of one exchange.
#[derive(Debug)]
pub(crate) enum Exchange {
    /// PLAIN and SCRAM: core's state machines.
    Core(Box<SaslServer>),
    /// OAUTHBEARER, with Kafka's unsecured token validation.
    OAuthBearer(oauthbearer::Server),
}

/// What to answer one client message.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    /// Send these bytes; the exchange goes on.
    Challenge(Vec<u8>),
    /// Authenticated as `principal`: send these bytes (maybe none).
    Success {
        bytes: Vec<u8>,
        principal: String,
        /// When the credential expires (OAUTHBEARER tokens), ms since the epoch.
        expires_ms: Option<i64>,
    },
    /// Refused, with Kafka's SASL_AUTHENTICATION_FAILED message.
    Failure(String),
}

impl Exchange {
    pub(crate) fn new(mechanism: SaslMechanism) -> Exchange {
        match mechanism {
            SaslMechanism::OAuthBearer => Exchange::OAuthBearer(oauthbearer::Server::default()),
            m => {
                const _: () = assert!(NONCE_RANDOM_LEN >= MIN_NONCE_RANDOM_LEN);
                let nonce = random::<NONCE_RANDOM_LEN>();
                // Cannot fail: the nonce length is within core's bounds.
                let server = SaslServer::new(m, &nonce).unwrap_or_else(|_| {
                    unreachable!("{NONCE_RANDOM_LEN} random bytes make a valid SCRAM nonce")
                });
                Exchange::Core(Box::new(server))
            }
        }
    }

    pub(crate) fn mechanism(&self) -> SaslMechanism {
        match self {
            Exchange::Core(server) => server.mechanism(),
            Exchange::OAuthBearer(_) => SaslMechanism::OAuthBearer,
        }
    }

    /// Reads one client message; `now_ms` is the wall clock (ms since the
    /// epoch) for token expiry.
    pub(crate) fn step(&mut self, client: &[u8], settings: &AuthSettings, now_ms: i64) -> Step {
        let mechanism = self.mechanism();
        match self {
            Exchange::OAuthBearer(server) => {
                match server.step(client, &settings.oauthbearer, now_ms) {
                    OAuthAnswer::Challenge(json) => Step::Challenge(json.into_bytes()),
                    OAuthAnswer::Success(token) => Step::Success {
                        bytes: Vec::new(),
                        principal: token.principal,
                        expires_ms: Some(token.expires_ms),
                    },
                    OAuthAnswer::Failure(message) => Step::Failure(message),
                }
            }
            Exchange::Core(server) => {
                let mut out = [0u8; SERVER_MESSAGE_MAX];
                match server.step(client, &mut out, &settings.credentials) {
                    Ok(ServerStep::Challenge(len)) => Step::Challenge(out[..len].to_vec()),
                    Ok(ServerStep::Success(len)) => Step::Success {
                        bytes: out[..len].to_vec(),
                        principal: server.user().unwrap_or_default().to_owned(),
                        expires_ms: None,
                    },
                    Ok(ServerStep::Failure { failure, .. }) => {
                        Step::Failure(failure.kafka_message(mechanism).to_owned())
                    }
                    Err(_) => Step::Failure(
                        Failure::Invalid(Error::BufferTooSmall)
                            .kafka_message(mechanism)
                            .to_owned(),
                    ),
                }
            }
        }
    }
}

/// The session lifetime Kafka grants (`SaslServerAuthenticator`'s
/// `calcCompletionTimesAndReturnSessionLifetimeMs`): the smaller of
/// `connections.max.reauth.ms` (when set) and the time left on the
/// credential (when it expires), never negative; `None` when neither
/// applies (the session does not expire).
pub(crate) fn session_lifetime_ms(
    max_reauth: Duration,
    expires_ms: Option<i64>,
    now_ms: i64,
) -> Option<i64> {
    let reauth = i64::try_from(max_reauth.as_millis()).unwrap_or(i64::MAX);
    let left = expires_ms.map(|e| e.saturating_sub(now_ms));
    let lifetime = match (left, reauth > 0) {
        (None, false) => return None,
        (None, true) => reauth,
        (Some(left), false) => left,
        (Some(left), true) => left.min(reauth),
    };
    Some(lifetime.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::{SaslConfig, SecurityProtocol};
    use microkafka_core::sasl::{ClientMechanism, PlainClient, Progress, ScramClient};

    fn settings(sasl: SaslConfig) -> AuthSettings {
        AuthSettings::new(&Effective {
            protocol: SecurityProtocol::SaslPlaintext,
            sasl,
        })
    }

    #[test]
    fn scram_keeps_only_salted_keys_and_authenticates() {
        let s = settings(SaslConfig::new([SaslMechanism::ScramSha512]).user("alice", "secret"));
        assert!(s.credentials.plain.is_empty(), "no PLAIN: no password kept");
        assert_eq!(s.credentials.scram.len(), 1);
        let mut server = Exchange::new(SaslMechanism::ScramSha512);
        let mut client =
            ScramClient::new(ScramHash::Sha512, "alice", "secret", &[7u8; 24]).unwrap();
        let mut buf = [0u8; 512];
        let n = client.message(&mut buf).unwrap();
        let Step::Challenge(first) = server.step(&buf[..n], &s, 0) else {
            panic!("server-first")
        };
        assert_eq!(client.receive(&first).unwrap(), Progress::Continue);
        let n = client.message(&mut buf).unwrap();
        let Step::Success {
            bytes,
            principal,
            expires_ms,
        } = server.step(&buf[..n], &s, 0)
        else {
            panic!("server-final")
        };
        assert_eq!((principal.as_str(), expires_ms), ("alice", None));
        assert_eq!(client.receive(&bytes).unwrap(), Progress::Complete);
    }

    /// librdkafka 2.0's client-final repeats its nonce: accepted, as Kafka
    /// does (core's server checks that the nonce ends with the combined
    /// one), with the proof computed over the message as sent.
    #[test]
    fn scram_accepts_librdkafkas_doubled_nonce_as_kafka_does() {
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let s = settings(SaslConfig::new([SaslMechanism::ScramSha256]).user("a,b", "pw"));
        let proof_for = |bare: &str, server_first: &str, without_proof: &str, password: &str| {
            let salt = server_first
                .split(",s=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            let salt = STANDARD.decode(salt).unwrap();
            let mut salted = [0u8; 32];
            ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                std::num::NonZeroU32::new(4096).unwrap(),
                &salt,
                password.as_bytes(),
                &mut salted,
            );
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &salted);
            let client_key = ring::hmac::sign(&key, b"Client Key");
            let stored = ring::digest::digest(&ring::digest::SHA256, client_key.as_ref());
            let message = format!("{bare},{server_first},{without_proof}");
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, stored.as_ref());
            let signature = ring::hmac::sign(&key, message.as_bytes());
            let proof: Vec<u8> = client_key
                .as_ref()
                .iter()
                .zip(signature.as_ref())
                .map(|(a, b)| a ^ b)
                .collect();
            STANDARD.encode(proof)
        };
        for (password, ok) in [("pw", true), ("wrong", false)] {
            let mut server = Exchange::new(SaslMechanism::ScramSha256);
            let bare = "n=a=2Cb,r=librdkafka-nonce";
            let Step::Challenge(first) = server.step(format!("n,,{bare}").as_bytes(), &s, 0) else {
                panic!("server-first")
            };
            let first = String::from_utf8(first).unwrap();
            let nonce = first.strip_prefix("r=").unwrap().split(',').next().unwrap();
            let without_proof = format!("c=biws,r=librdkafka-nonce{nonce}");
            let proof = proof_for(bare, &first, &without_proof, password);
            let step = server.step(format!("{without_proof},p={proof}").as_bytes(), &s, 0);
            match step {
                Step::Success {
                    principal, bytes, ..
                } if ok => {
                    assert_eq!(principal, "a,b");
                    assert!(bytes.starts_with(b"v="));
                }
                Step::Failure(m) if !ok => assert!(m.contains("SCRAM-SHA-256"), "{m}"),
                other => panic!("{password}: {other:?}"),
            }
        }
    }

    #[test]
    fn failures_carry_kafkas_messages() {
        let s = settings(SaslConfig::all().user("alice", "secret"));
        let mut plain = Exchange::new(SaslMechanism::Plain);
        let c = PlainClient::new("alice", "wrong").unwrap();
        let mut buf = [0u8; 64];
        let n = c.message(&mut buf).unwrap();
        assert_eq!(
            plain.step(&buf[..n], &s, 0),
            Step::Failure("Authentication failed: Invalid username or password".into())
        );
        let mut scram = Exchange::new(SaslMechanism::ScramSha256);
        assert_eq!(
            scram.step(b"n,,n=mallory,r=abcdefghijklmnopqrstuvwx", &s, 0),
            Step::Failure(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256".into()
            )
        );
        let mut scram = Exchange::new(SaslMechanism::ScramSha256);
        assert!(matches!(scram.step(&[0xff; 3000], &s, 0), Step::Failure(_)));
    }

    #[test]
    fn lifetimes_as_kafka() {
        let ms = Duration::from_millis;
        assert_eq!(session_lifetime_ms(ms(0), None, 1000), None);
        assert_eq!(session_lifetime_ms(ms(500), None, 1000), Some(500));
        assert_eq!(session_lifetime_ms(ms(0), Some(4000), 1000), Some(3000));
        assert_eq!(session_lifetime_ms(ms(500), Some(4000), 1000), Some(500));
        assert_eq!(session_lifetime_ms(ms(5000), Some(4000), 1000), Some(3000));
        assert_eq!(session_lifetime_ms(ms(0), Some(10), 1000), Some(0));
    }
}
