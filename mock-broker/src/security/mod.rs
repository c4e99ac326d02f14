//! Listener security: the security protocol, TLS, SASL mechanisms and users,
//! and the guard against failed logins. See [`Security`].

mod dn;
pub(crate) mod exchange;
pub(crate) mod guard;
pub(crate) mod oauthbearer;
pub(crate) mod tls;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

pub use microkafka_core::sasl::Mechanism as SaslMechanism;
use microkafka_core::sasl::{MAX_ITERATIONS, MIN_ITERATIONS};

use crate::config::SaslUser;
pub use guard::SecurityStats;
pub use tls::{CertifiedKeyPem, ClientAuth, TestCa, TlsConfig};

/// A listener's security protocol, as Kafka names it (`security.protocol`
/// on clients, the listener map on brokers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    /// `PLAINTEXT`: no TLS, no authentication.
    #[default]
    Plaintext,
    /// `SSL`: TLS; the client is anonymous unless it presents a certificate
    /// the broker asked for ([`ClientAuth`]).
    Ssl,
    /// `SASL_PLAINTEXT`: SASL authentication, no TLS.
    SaslPlaintext,
    /// `SASL_SSL`: SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Every protocol.
    pub const ALL: [SecurityProtocol; 4] = [
        SecurityProtocol::Plaintext,
        SecurityProtocol::Ssl,
        SecurityProtocol::SaslPlaintext,
        SecurityProtocol::SaslSsl,
    ];

    /// Kafka's name (`"SASL_SSL"`).
    pub const fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// The protocol Kafka calls `name` (case-insensitive, as clients accept it).
    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        SecurityProtocol::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// True for `SSL` and `SASL_SSL`.
    pub const fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// True for `SASL_PLAINTEXT` and `SASL_SSL`.
    pub const fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// The protocol with SASL added (`PLAINTEXT` → `SASL_PLAINTEXT`, `SSL` → `SASL_SSL`).
    pub const fn with_sasl(self) -> SecurityProtocol {
        if self.uses_tls() {
            SecurityProtocol::SaslSsl
        } else {
            SecurityProtocol::SaslPlaintext
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SecurityProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SecurityProtocol::parse(s).ok_or_else(|| {
            format!("not a security protocol: {s} (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)")
        })
    }
}

/// The security of every broker's listener: protocol, TLS and SASL (put it
/// in [`Config::security`](crate::Config::security)).
///
/// ```no_run
/// use microkafka_mock_broker::{Config, MockCluster, SaslConfig, SaslMechanism, Security, TestCa};
///
/// let ca = TestCa::new("test CA").unwrap();
/// let tls = ca.server_tls(&["localhost", "127.0.0.1"]).unwrap();
/// let sasl = SaslConfig::new([SaslMechanism::ScramSha512]).user("alice", "secret");
/// let cluster = MockCluster::start_in_background(Config {
///     security: Security::sasl_ssl(tls, sasl),
///     ..Config::with_brokers(1)
/// })
/// .unwrap();
/// // Clients trust ca.cert_pem() (ssl.ca.location) and log in as alice.
/// ```
///
/// What the broker does, as Kafka does (`SaslServerAuthenticator`,
/// `SocketServer`, `OAuthBearerUnsecuredValidatorCallbackHandler`):
///
/// - Before authentication a connection may send ApiVersions and
///   SaslHandshake, then only SaslAuthenticate; anything else closes it.
/// - SaslHandshake lists the enabled mechanisms; an unknown or disabled one
///   is answered UNSUPPORTED_SASL_MECHANISM with that list, and the
///   connection closes.
/// - A failed SaslAuthenticate is answered SASL_AUTHENTICATION_FAILED with
///   Kafka's message, after [`Limits::failed_authentication_delay`](crate::Limits::failed_authentication_delay),
///   and the connection closes. A failed TLS handshake is closed after the
///   same delay.
/// - SCRAM users are configured with a password; the broker derives their
///   salted keys at start (a random salt per user and mechanism,
///   [`SaslConfig::scram_iterations`] rounds) and keeps only those.
/// - OAUTHBEARER takes unsecured JWTs (`alg` `none`) as Kafka's default
///   validator does: a principal claim, `exp` in the future, `iat` not in
///   the future, the required scope, within the allowed clock skew.
/// - KIP-368: with [`SaslConfig::connections_max_reauth`] (or an OAUTHBEARER
///   token, whose expiry bounds its session) SaslAuthenticate v1+ tells the
///   client its session lifetime; a connection whose session has expired is
///   closed on its next request, unless that request is a SaslHandshake
///   starting a re-authentication (same mechanism, same principal, at most
///   one per second). Without a lifetime, SaslHandshake on an authenticated
///   connection is ILLEGAL_SASL_STATE and the connection stays.
/// - A client's principal (Kafka's `User:` name, in
///   [`RequestRecord::principal`](crate::RequestRecord::principal)) is its SASL
///   user, else its TLS certificate's subject (RFC 2253), else `ANONYMOUS`.
///
/// Beyond Kafka: the TLS handshake and SASL authentication must complete
/// within [`Limits::handshake_timeout`](crate::Limits::handshake_timeout), and
/// an address with too many failed authentications is refused for a while
/// ([`Limits::max_failed_authentications_per_address`](crate::Limits::max_failed_authentications_per_address)).
///
/// `Security::default()` is `PLAINTEXT`. Build the others with
/// [`ssl`](Self::ssl), [`sasl_plaintext`](Self::sasl_plaintext) and
/// [`sasl_ssl`](Self::sasl_ssl). [`MockCluster::start`](crate::MockCluster::start)
/// refuses a combination that does not hold together (a TLS protocol without
/// [`tls`](Self::tls), TLS settings on a plaintext protocol, SASL without
/// mechanisms, certificates that do not parse).
#[derive(Clone, Debug, Default)]
pub struct Security {
    /// The listener's protocol. Default `PLAINTEXT`. (Users in
    /// [`Config::sasl_users`](crate::Config::sasl_users) turn `PLAINTEXT` into
    /// `SASL_PLAINTEXT` and `SSL` into `SASL_SSL`.)
    pub protocol: SecurityProtocol,
    /// Certificate, key and client-certificate policy: required for `SSL`
    /// and `SASL_SSL`, refused for the others. Default `None`.
    pub tls: Option<TlsConfig>,
    /// Mechanisms and users, used by `SASL_PLAINTEXT` and `SASL_SSL`.
    pub sasl: SaslConfig,
}

impl Security {
    /// `PLAINTEXT` (the default).
    pub fn plaintext() -> Self {
        Security::default()
    }

    /// `SSL` with `tls`.
    pub fn ssl(tls: TlsConfig) -> Self {
        Security {
            protocol: SecurityProtocol::Ssl,
            tls: Some(tls),
            sasl: SaslConfig::default(),
        }
    }

    /// `SASL_PLAINTEXT` with `sasl`.
    pub fn sasl_plaintext(sasl: SaslConfig) -> Self {
        Security {
            protocol: SecurityProtocol::SaslPlaintext,
            tls: None,
            sasl,
        }
    }

    /// `SASL_SSL` with `tls` and `sasl`.
    pub fn sasl_ssl(tls: TlsConfig, sasl: SaslConfig) -> Self {
        Security {
            protocol: SecurityProtocol::SaslSsl,
            tls: Some(tls),
            sasl,
        }
    }
}

/// SASL settings: which mechanisms SaslHandshake offers, who may log in,
/// and how long a session lasts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslConfig {
    /// The mechanisms enabled (Kafka's `sasl.enabled.mechanisms`), listed
    /// in this order by SaslHandshake. Default: PLAIN.
    pub mechanisms: Vec<SaslMechanism>,
    /// Users with their password. Each may log in with PLAIN (which keeps
    /// the password: PLAIN compares it) and SCRAM-SHA-256/512 (for which the
    /// broker derives salted keys at start and keeps only those), whichever
    /// are enabled. Default: none. OAUTHBEARER needs no users.
    pub users: Vec<SaslUser>,
    /// PBKDF2 iterations of the SCRAM credentials derived from the users'
    /// passwords (`kafka-storage format --add-scram`'s default: 4096). Kafka
    /// clients accept 4096 to 16384. Default 4096.
    pub scram_iterations: u32,
    /// How OAUTHBEARER tokens are validated.
    pub oauthbearer: OAuthBearerValidation,
    /// Longest session before the client must re-authenticate (KIP-368,
    /// Kafka's `connections.max.reauth.ms`), sent in SaslAuthenticate v1+ as
    /// `session_lifetime_ms`; a connection past it that has not
    /// re-authenticated is closed on its next request. An OAUTHBEARER
    /// session also ends when its token expires. Default zero: sessions do
    /// not expire (except OAUTHBEARER's, as in Kafka).
    pub connections_max_reauth: Duration,
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            mechanisms: vec![SaslMechanism::Plain],
            users: Vec::new(),
            scram_iterations: MIN_ITERATIONS,
            oauthbearer: OAuthBearerValidation::default(),
            connections_max_reauth: Duration::ZERO,
        }
    }
}

impl SaslConfig {
    /// These mechanisms, no users yet, the other settings at their defaults.
    pub fn new(mechanisms: impl IntoIterator<Item = SaslMechanism>) -> Self {
        SaslConfig {
            mechanisms: mechanisms.into_iter().collect(),
            ..SaslConfig::default()
        }
    }

    /// Every mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER.
    pub fn all() -> Self {
        SaslConfig::new(SaslMechanism::ALL)
    }

    /// Adds a user with a password.
    pub fn user(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push(SaslUser::new(user, password));
        self
    }

    /// Sets [`connections_max_reauth`](Self::connections_max_reauth).
    pub fn reauth_after(mut self, lifetime: Duration) -> Self {
        self.connections_max_reauth = lifetime;
        self
    }
}

/// How OAUTHBEARER tokens are validated: as Kafka's default
/// `OAuthBearerUnsecuredValidatorCallbackHandler` does, for unsecured JWTs
/// (`alg` `none`, no signature), with its option names.
///
/// A token is three base64url parts `header.claims.` (the signature empty);
/// the header's `alg` is `none`; the claims are JSON with the principal
/// claim (a non-blank string), `exp` (seconds since the epoch, fractions
/// allowed) later than now minus the skew, `iat` if present not later than
/// now plus the skew and before `exp`, and every required scope in the
/// scope claim (a string or a list of strings). A refused token is answered
/// with `{"status":"invalid_token"}` (or `insufficient_scope` with the
/// required scope), then SASL_AUTHENTICATION_FAILED with that text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthBearerValidation {
    /// The claim naming the principal (`unsecuredValidatorPrincipalClaimName`). Default `sub`.
    pub principal_claim: String,
    /// The claim holding the scope (`unsecuredValidatorScopeClaimName`). Default `scope`.
    pub scope_claim: String,
    /// Scope values every token must have (`unsecuredValidatorRequiredScope`). Default none.
    pub required_scope: Vec<String>,
    /// Clock skew tolerated on `exp` and `iat`
    /// (`unsecuredValidatorAllowableClockSkewMs`). Default zero.
    pub allowed_clock_skew: Duration,
}

impl Default for OAuthBearerValidation {
    fn default() -> Self {
        OAuthBearerValidation {
            principal_claim: "sub".to_owned(),
            scope_claim: "scope".to_owned(),
            required_scope: Vec::new(),
            allowed_clock_skew: Duration::ZERO,
        }
    }
}

/// The security a cluster runs with, once [`Config::sasl_users`](crate::Config::sasl_users)
/// is folded in.
#[derive(Clone, Debug)]
pub(crate) struct Effective {
    pub(crate) protocol: SecurityProtocol,
    pub(crate) sasl: SaslConfig,
}

impl Effective {
    pub(crate) fn of(config: &crate::Config) -> Effective {
        let mut protocol = config.security.protocol;
        let mut sasl = config.security.sasl.clone();
        if !config.sasl_users.is_empty() {
            protocol = protocol.with_sasl();
            sasl.users.extend(config.sasl_users.iter().cloned());
            if !sasl.mechanisms.contains(&SaslMechanism::Plain) {
                sasl.mechanisms.push(SaslMechanism::Plain);
            }
        }
        let mut seen = Vec::new();
        sasl.mechanisms.retain(|m| {
            let new = !seen.contains(m);
            seen.push(*m);
            new
        });
        Effective { protocol, sasl }
    }

    /// Why this configuration cannot run, if it cannot (the TLS settings
    /// themselves are checked when the listener's TLS config is built).
    pub(crate) fn check(&self, tls: Option<&TlsConfig>) -> Result<(), String> {
        let p = self.protocol;
        match (p.uses_tls(), tls.is_some()) {
            (true, false) => return Err(format!("security protocol {p} needs TLS settings")),
            (false, true) => {
                return Err(format!(
                    "TLS settings given but the security protocol is {p} (use SSL or SASL_SSL)"
                ))
            }
            _ => {}
        }
        if p.uses_sasl() {
            if self.sasl.mechanisms.is_empty() {
                return Err(format!("security protocol {p} needs SASL mechanisms"));
            }
            let scram = self
                .sasl
                .mechanisms
                .iter()
                .any(|m| m.scram_hash().is_some());
            if scram && !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&self.sasl.scram_iterations) {
                return Err(format!(
                    "SCRAM iterations must be {MIN_ITERATIONS} to {MAX_ITERATIONS}, not {}",
                    self.sasl.scram_iterations
                ));
            }
            if self.sasl.users.iter().any(|u| u.user.is_empty()) {
                return Err("a SASL user name is empty".into());
            }
            let o = &self.sasl.oauthbearer;
            if self.sasl.mechanisms.contains(&SaslMechanism::OAuthBearer)
                && (o.principal_claim.trim().is_empty() || o.scope_claim.trim().is_empty())
            {
                return Err("OAUTHBEARER principal and scope claim names must not be blank".into());
            }
        }
        Ok(())
    }
}
