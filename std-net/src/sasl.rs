//! SASL configuration: [`SaslMechanism`] (kafka-go's `Dialer.SASLMechanism`)
//! and the OAUTHBEARER [`TokenProvider`].
//!
//! The exchange itself is core's sans-IO [`Authenticator`](microkafka_core::sasl::Authenticator),
//! run by each connection right after ApiVersions and again before the
//! session the broker granted ends (KIP-368; see `broker.rs`).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use microkafka_core::protocol::ApiKey;
use microkafka_core::sasl::{
    Mechanism, OAuthBearerClient, PlainClient, SaslClient, SaslError, ScramClient, ScramHash,
};

use crate::error::{Error, ErrorKind, Result};
use crate::transport::BoxFuture;

/// What a [`TokenProvider`] returns when it fails.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An OAUTHBEARER token, as a [`TokenProvider`] returns it.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthToken {
    /// The bearer token (a JWT, say): an RFC 6750 `b64token`, sent as
    /// `auth=Bearer <value>`.
    pub value: String,
    /// When the token stops being valid (a JWT's `exp`). The client asks
    /// for a new one once 80% of the time from getting it to this has
    /// passed (the Java client's `sasl.login.refresh.window.factor`).
    /// `None`: unknown, and the provider is asked for every connection and
    /// re-authentication.
    pub expires_at: Option<SystemTime>,
    /// SASL extensions (KIP-342), sent as `key=value` pairs; keys are
    /// letters only, and `auth` is reserved.
    pub extensions: Vec<(String, String)>,
}

impl OAuthToken {
    /// A token without a known expiry or extensions.
    pub fn new(value: impl Into<String>) -> Self {
        OAuthToken {
            value: value.into(),
            expires_at: None,
            extensions: Vec::new(),
        }
    }

    /// The same token, valid until `at`.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }

    /// The same token, valid for `lifetime` from now.
    pub fn expires_in(self, lifetime: Duration) -> Self {
        self.expires_at(SystemTime::now() + lifetime)
    }

    /// The same token with one more SASL extension.
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.push((key.into(), value.into()));
        self
    }
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthToken")
            .field("value", &"(hidden)")
            .field("expires_at", &self.expires_at)
            .field("extensions", &self.extensions)
            .finish()
    }
}

/// Gets OAUTHBEARER tokens (the Java client's login callback handler,
/// librdkafka's `oauthbearer_token_refresh_cb`).
///
/// Asked when a connection authenticates or re-authenticates and no token
/// in the first 80% of its life is at hand, one call at a time. Any
/// `Fn() -> impl Future<Output = Result<OAuthToken, BoxError>>` closure is a
/// provider; for a blocking one (an HTTP client without async) use
/// [`SaslMechanism::oauthbearer_blocking`]. A failure is
/// [`ErrorKind::Sasl`] naming it; the provider is asked again at the next
/// connection.
pub trait TokenProvider: Send + Sync + 'static {
    /// A current token.
    fn token(&self) -> BoxFuture<'_, std::result::Result<OAuthToken, BoxError>>;
}

impl<F, Fut> TokenProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<OAuthToken, BoxError>> + Send + 'static,
{
    fn token(&self) -> BoxFuture<'_, std::result::Result<OAuthToken, BoxError>> {
        Box::pin(self())
    }
}

/// A blocking provider, run on tokio's blocking threads.
struct Blocking<F>(Arc<F>);

impl<F> TokenProvider for Blocking<F>
where
    F: Fn() -> std::result::Result<OAuthToken, BoxError> + Send + Sync + 'static,
{
    fn token(&self) -> BoxFuture<'_, std::result::Result<OAuthToken, BoxError>> {
        let f = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f())
                .await
                .unwrap_or_else(|e| Err(format!("the token provider panicked: {e}").into()))
        })
    }
}

/// A token at hand and when to stop using it.
struct Cached {
    token: Arc<OAuthToken>,
    refresh_at: Instant,
}

enum Inner {
    Plain {
        user: String,
        password: String,
    },
    Scram {
        hash: ScramHash,
        user: String,
        password: String,
    },
    OAuthBearer {
        provider: Box<dyn TokenProvider>,
        cache: tokio::sync::Mutex<Option<Cached>>,
    },
}

/// How connections authenticate with SASL: kafka-go's
/// `Dialer.SASLMechanism`, librdkafka's `sasl.mechanism` with
/// `sasl.username` / `sasl.password` (or an OAUTHBEARER token callback).
///
/// Set on the [`Dialer`](crate::Dialer), it applies to every connection the
/// client opens: bootstrap, partition leaders, group coordinators, admin.
/// Each authenticates right after ApiVersions and before any other
/// request; over TLS when the dialer has TLS too (`SASL_SSL`), else in the
/// clear (`SASL_PLAINTEXT`: PLAIN then shows the password to the network).
/// When the broker limits the session (`connections.max.reauth.ms`,
/// KIP-368), the connection re-authenticates before it ends.
///
/// Cheap to clone (shared); `Debug` hides passwords.
///
/// ```
/// use microkafka_std::{Dialer, OAuthToken, SaslMechanism};
/// let scram = SaslMechanism::scram_sha512("alice", "alice-secret");
/// assert_eq!(scram.name(), "SCRAM-SHA-512");
/// let oauth = SaslMechanism::oauthbearer(|| async {
///     Ok(OAuthToken::new("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
///         .expires_in(std::time::Duration::from_secs(3600)))
/// });
/// let dialer = Dialer { sasl_mechanism: Some(scram), ..Dialer::default() };
/// ```
#[derive(Clone)]
pub struct SaslMechanism {
    inner: Arc<Inner>,
}

impl fmt::Debug for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SaslMechanism");
        d.field("mechanism", &self.name());
        match &*self.inner {
            Inner::Plain { user, .. } | Inner::Scram { user, .. } => {
                d.field("user", user).field("password", &"(hidden)");
            }
            Inner::OAuthBearer { .. } => {
                d.field("token_provider", &"(callback)");
            }
        }
        d.finish()
    }
}

impl SaslMechanism {
    fn of(inner: Inner) -> Self {
        SaslMechanism {
            inner: Arc::new(inner),
        }
    }

    /// `PLAIN` (RFC 4616): the user name and password, in the clear inside
    /// the connection; use it over TLS.
    pub fn plain(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::of(Inner::Plain {
            user: user.into(),
            password: password.into(),
        })
    }

    /// `SCRAM-SHA-256` (RFC 5802, 7677): the password never crosses the
    /// network, and the broker proves it knows it too.
    pub fn scram_sha256(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::of(Inner::Scram {
            hash: ScramHash::Sha256,
            user: user.into(),
            password: password.into(),
        })
    }

    /// `SCRAM-SHA-512`, as [`scram_sha256`](Self::scram_sha256) with SHA-512.
    pub fn scram_sha512(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::of(Inner::Scram {
            hash: ScramHash::Sha512,
            user: user.into(),
            password: password.into(),
        })
    }

    /// `OAUTHBEARER` (RFC 7628, KIP-255) with tokens from `provider` (an
    /// async closure, or a type of yours; see [`TokenProvider`]).
    pub fn oauthbearer(provider: impl TokenProvider) -> Self {
        Self::of(Inner::OAuthBearer {
            provider: Box::new(provider),
            cache: tokio::sync::Mutex::new(None),
        })
    }

    /// `OAUTHBEARER` with a blocking token callback, run on tokio's
    /// blocking threads (`spawn_blocking`).
    pub fn oauthbearer_blocking(
        provider: impl Fn() -> std::result::Result<OAuthToken, BoxError> + Send + Sync + 'static,
    ) -> Self {
        Self::oauthbearer(Blocking(Arc::new(provider)))
    }

    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` by Kafka's name
    /// (`sasl.mechanism`), with a user name and password.
    ///
    /// Errors: [`ErrorKind::Config`] for another name (OAUTHBEARER needs a
    /// token provider: [`oauthbearer`](Self::oauthbearer)).
    pub fn from_name(
        name: &str,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self> {
        match Mechanism::from_name(&name.to_ascii_uppercase()) {
            Some(Mechanism::Plain) => Ok(Self::plain(user, password)),
            Some(Mechanism::ScramSha256) => Ok(Self::scram_sha256(user, password)),
            Some(Mechanism::ScramSha512) => Ok(Self::scram_sha512(user, password)),
            Some(Mechanism::OAuthBearer) => Err(Error::config(
                "sasl.mechanism OAUTHBEARER needs a token provider: SaslMechanism::oauthbearer",
            )),
            None => Err(Error::config(format!(
                "unknown SASL mechanism {name:?}; microkafka has PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER"
            ))),
        }
    }

    /// Kafka's name for the mechanism (`"SCRAM-SHA-512"`).
    pub fn name(&self) -> &'static str {
        self.mechanism().name()
    }

    pub(crate) fn mechanism(&self) -> Mechanism {
        match &*self.inner {
            Inner::Plain { .. } => Mechanism::Plain,
            Inner::Scram { hash, .. } => hash.mechanism(),
            Inner::OAuthBearer { .. } => Mechanism::OAuthBearer,
        }
    }

    /// The OAUTHBEARER token to authenticate with now (`None` for the other
    /// mechanisms): the one at hand while in the first 80% of its life,
    /// else a new one from the provider.
    pub(crate) async fn token(&self) -> Result<Option<Arc<OAuthToken>>> {
        let Inner::OAuthBearer { provider, cache } = &*self.inner else {
            return Ok(None);
        };
        let mut cache = cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(Some(c.token.clone()));
            }
        }
        let asked = Instant::now();
        let wall = SystemTime::now();
        let token = provider.token().await.map_err(|e| {
            Error::new(ErrorKind::Sasl {
                mechanism: Mechanism::OAuthBearer.name(),
                message: format!("the token provider failed: {e}"),
            })
        })?;
        let token = Arc::new(token);
        *cache = token.expires_at.and_then(|exp| {
            let life = exp.duration_since(wall).ok()?;
            Some(Cached {
                token: token.clone(),
                refresh_at: asked + life.mul_f64(REFRESH_WINDOW),
            })
        });
        Ok(Some(token))
    }

    /// The client of one exchange. `token` is [`token`](Self::token)'s,
    /// `extensions` its extensions as pairs of `&str`, `random` the SCRAM
    /// nonce's random bytes.
    pub(crate) fn client<'a>(
        &'a self,
        token: Option<&'a OAuthToken>,
        extensions: &'a [(&'a str, &'a str)],
        random: &[u8],
    ) -> Result<SaslClient<'a>> {
        let m = self.name();
        let bad = |what: &str, e: microkafka_core::Error| {
            Error::new(ErrorKind::Sasl {
                mechanism: m,
                message: format!("{what}: {e}"),
            })
        };
        Ok(match &*self.inner {
            Inner::Plain { user, password } => SaslClient::Plain(
                PlainClient::new(user, password).map_err(|e| bad("user name or password", e))?,
            ),
            Inner::Scram {
                hash,
                user,
                password,
            } => SaslClient::Scram(
                ScramClient::new(*hash, user, password, random).map_err(|e| bad("user name", e))?,
            ),
            Inner::OAuthBearer { .. } => {
                let Some(token) = token else {
                    return Err(bad("token", microkafka_core::Error::Malformed("no token")));
                };
                SaslClient::OAuthBearer(
                    OAuthBearerClient::new(&token.value)
                        .and_then(|c| c.with_extensions(extensions))
                        .map_err(|e| bad("the provider's token", e))?,
                )
            }
        })
    }
}

/// The share of a token's life after which a new one is asked for (the
/// Java client's `sasl.login.refresh.window.factor`).
const REFRESH_WINDOW: f64 = 0.8;

/// The error a failed SASL exchange is, named after what the broker said.
/// `api` is the request the answer was to.
pub(crate) fn sasl_error(e: SaslError<'_>, mechanism: Mechanism, api: ApiKey) -> Error {
    let m = mechanism.name();
    let sasl = |message: String| {
        Error::new(ErrorKind::Sasl {
            mechanism: m,
            message,
        })
    };
    let e = match e {
        SaslError::AuthenticationFailed { message } => {
            Error::new(ErrorKind::AuthenticationFailed {
                mechanism: m,
                message: message.map(str::to_owned),
            })
        }
        SaslError::UnsupportedMechanism { requested, enabled } => {
            Error::new(ErrorKind::UnsupportedMechanism {
                requested: requested.name(),
                enabled: enabled.names().map(str::to_owned).collect(),
            })
        }
        SaslError::IllegalState => sasl(
            "the broker did not expect SASL (ILLEGAL_SASL_STATE): is this a SASL listener? (security.protocol SASL_PLAINTEXT or SASL_SSL)"
                .to_owned(),
        ),
        SaslError::Rejected(r) => sasl(format!(
            "the broker failed the client's check: {r}"
        )),
        SaslError::Broker(code) => Error::kafka(code, None),
        SaslError::Core(
            microkafka_core::Error::ApiNotSupported { .. } | microkafka_core::Error::NoCommonVersion { .. },
        ) => sasl("the broker does not offer SaslHandshake v1 / SaslAuthenticate (no SASL, or a broker before Kafka 1.0)".to_owned()),
        SaslError::Core(e) => Error::from(e),
        other => sasl(other.to_string()),
    };
    e.with_api(api)
}

#[cfg(test)]
mod tests {
    use super::*;
    use microkafka_core::sasl::{EnabledMechanisms, Rejection};
    use microkafka_core::wire::Array;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn names_and_debug_hide_secrets() {
        let m = SaslMechanism::from_name("scram-sha-256", "alice", "s3cret").unwrap();
        assert_eq!(m.name(), "SCRAM-SHA-256");
        assert!(!format!("{m:?}").contains("s3cret"), "{m:?}");
        assert!(format!("{m:?}").contains("alice"), "{m:?}");
        assert_eq!(SaslMechanism::plain("a", "b").name(), "PLAIN");
        assert_eq!(
            SaslMechanism::scram_sha512("a", "b").name(),
            "SCRAM-SHA-512"
        );
        let e = SaslMechanism::from_name("GSSAPI", "a", "b").unwrap_err();
        assert!(e.to_string().contains("GSSAPI"), "{e}");
        assert!(SaslMechanism::from_name("OAUTHBEARER", "a", "b").is_err());
        let t = OAuthToken::new("secret-token");
        assert!(!format!("{t:?}").contains("secret-token"));
    }

    #[test]
    fn broker_answers_become_named_errors() {
        let e = sasl_error(
            SaslError::AuthenticationFailed {
                message: Some("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"),
            },
            Mechanism::ScramSha512,
            ApiKey::SaslAuthenticate,
        );
        assert!(
            matches!(e.kind(), ErrorKind::AuthenticationFailed { mechanism: "SCRAM-SHA-512", message: Some(m) } if m.contains("invalid credentials")),
            "{e:?}"
        );
        assert_eq!(
            e.code(),
            Some(microkafka_core::ErrorCode::SASL_AUTHENTICATION_FAILED)
        );
        assert!(e.is_fatal() && !e.is_retriable());
        assert!(e.to_string().contains("SASL_AUTHENTICATION_FAILED"), "{e}");
        assert!(e.to_string().starts_with("SaslAuthenticate"), "{e}");

        let names = ["GSSAPI", "PLAIN"];
        let e = sasl_error(
            SaslError::UnsupportedMechanism {
                requested: Mechanism::ScramSha512,
                enabled: EnabledMechanisms::new(Array::new(&names)),
            },
            Mechanism::ScramSha512,
            ApiKey::SaslHandshake,
        );
        match e.kind() {
            ErrorKind::UnsupportedMechanism { requested, enabled } => {
                assert_eq!(*requested, "SCRAM-SHA-512");
                assert_eq!(enabled, &["GSSAPI", "PLAIN"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("it enables: GSSAPI, PLAIN"), "{e}");
        assert!(e.is_fatal());

        let e = sasl_error(
            SaslError::IllegalState,
            Mechanism::Plain,
            ApiKey::SaslHandshake,
        );
        assert!(e.to_string().contains("SASL listener"), "{e}");
        assert!(e.is_fatal());
        let e = sasl_error(
            SaslError::Rejected(Rejection::ServerSignature),
            Mechanism::ScramSha256,
            ApiKey::SaslAuthenticate,
        );
        assert!(e.to_string().contains("signature"), "{e}");
        assert!(e.is_fatal());
    }

    #[tokio::test]
    async fn tokens_are_reused_until_80_percent_of_their_life() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let m = SaslMechanism::oauthbearer(move || {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(OAuthToken::new(format!("token{n}")).expires_in(Duration::from_millis(500)))
            }
        });
        let a = m.token().await.unwrap().unwrap();
        let b = m.token().await.unwrap().unwrap();
        assert_eq!((a.value.as_str(), b.value.as_str()), ("token0", "token0"));
        tokio::time::sleep(Duration::from_millis(420)).await;
        let c = m.token().await.unwrap().unwrap();
        assert_eq!(c.value, "token1", "refreshed before expiry");
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // No expiry: asked every time. Failures are named.
        let m = SaslMechanism::oauthbearer_blocking(|| Ok(OAuthToken::new("t")));
        assert_eq!(m.token().await.unwrap().unwrap().value, "t");
        let m = SaslMechanism::oauthbearer_blocking(|| Err("token endpoint down".into()));
        let e = m.token().await.unwrap_err();
        assert!(e.to_string().contains("token endpoint down"), "{e}");
        assert!(e.is_fatal());
        // A token that is not a b64token.
        let m = SaslMechanism::oauthbearer(|| async { Ok(OAuthToken::new("has space")) });
        let t = m.token().await.unwrap();
        let e = m.client(t.as_deref(), &[], &[]).unwrap_err();
        assert!(e.to_string().contains("token"), "{e}");
    }
}
