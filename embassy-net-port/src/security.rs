//! [`Security`]: TLS and SASL settings for every broker connection of a
//! producer or consumer (`tls` and `sasl` features), and the random number
//! generator they draw from.

use rand_core::CryptoRngCore;

#[cfg(feature = "sasl")]
use crate::sasl::Sasl;
#[cfg(feature = "tls")]
use crate::tls::TlsOptions;

/// How broker connections are secured, set with `with_security` on a
/// [`Producer`](crate::Producer), [`Consumer`](crate::Consumer) or
/// [`GroupConsumer`](crate::GroupConsumer): TLS (the sockets must then be
/// `TlsSocket`s), SASL, or both (Kafka's `SASL_SSL`).
/// Each connection runs TCP, TLS, ApiVersions, SASL, then requests.
///
/// `rng` supplies the TLS key shares and client randoms and the SCRAM
/// nonces: it must be a cryptographic generator (the chip's TRNG, or a
/// CSPRNG seeded from it).
pub struct Security<'a> {
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<TlsOptions<'a>>,
    #[cfg(feature = "sasl")]
    pub(crate) sasl: Option<Sasl<'a>>,
    pub(crate) rng: &'a mut dyn CryptoRngCore,
}

impl<'a> Security<'a> {
    /// Neither TLS nor SASL yet; randomness from `rng`.
    pub fn new(rng: &'a mut dyn CryptoRngCore) -> Self {
        Security {
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "sasl")]
            sasl: None,
            rng,
        }
    }

    /// TLS with these options (`tls` feature; Kafka's `SSL`).
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, options: TlsOptions<'a>) -> Self {
        self.tls = Some(options);
        self
    }

    /// SASL with these credentials (`sasl` feature; Kafka's `SASL_PLAINTEXT`,
    /// or `SASL_SSL` with TLS).
    #[cfg(feature = "sasl")]
    pub fn with_sasl(mut self, credentials: Sasl<'a>) -> Self {
        self.sasl = Some(credentials);
        self
    }
}

impl core::fmt::Debug for Security<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("Security");
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        #[cfg(feature = "sasl")]
        d.field("sasl", &self.sasl);
        d.finish_non_exhaustive()
    }
}
