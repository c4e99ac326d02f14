//! [`SaslFailure`]: why SASL authentication failed (`sasl` feature), and
//! the set of [`Mechanisms`] a broker offers. Apart from the SASL exchange
//! (`crate::sasl`) so that [`ErrorKind`](crate::ErrorKind) can carry it
//! without the error module depending on the exchange that reports it.

use core::fmt;

use microkafka_core::sasl::Mechanism;

/// A set of SASL mechanisms (those microkafka knows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mechanisms(u8);

impl Mechanisms {
    pub(crate) fn bit(mechanism: Mechanism) -> u8 {
        match mechanism {
            Mechanism::Plain => 1,
            Mechanism::ScramSha256 => 2,
            Mechanism::ScramSha512 => 4,
            Mechanism::OAuthBearer => 8,
        }
    }

    /// True when `mechanism` is in the set.
    pub fn contains(&self, mechanism: Mechanism) -> bool {
        self.0 & Self::bit(mechanism) != 0
    }

    pub(crate) fn insert(&mut self, mechanism: Mechanism) {
        self.0 |= Self::bit(mechanism);
    }
}

/// Why SASL authentication failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SaslFailure {
    /// The broker refused the credentials (SASL_AUTHENTICATION_FAILED; its
    /// message is logged with the `defmt` feature).
    AuthenticationFailed,
    /// The broker does not enable the mechanism; it offers these (of the
    /// ones microkafka knows).
    UnsupportedMechanism {
        /// What the broker enables.
        offered: Mechanisms,
    },
    /// The broker failed one of the client's checks (SCRAM: a server
    /// signature that does not prove it knows the password, a nonce not
    /// built on the client's, an iteration count outside 4096..=16384).
    ServerRejected,
    /// The broker does not take SaslHandshake v1 and SaslAuthenticate v1.
    Unsupported,
}

impl fmt::Display for SaslFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslFailure::AuthenticationFailed => f.write_str("credentials refused by the broker"),
            SaslFailure::UnsupportedMechanism { offered } => {
                f.write_str("mechanism not enabled by the broker, which offers")?;
                for m in Mechanism::ALL {
                    if offered.contains(m) {
                        write!(f, " {m}")?;
                    }
                }
                Ok(())
            }
            SaslFailure::ServerRejected => f.write_str("the broker failed the client's checks"),
            SaslFailure::Unsupported => f.write_str("SASL v1 requests not supported"),
        }
    }
}
