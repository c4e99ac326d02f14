//! [`TlsFailure`]: why a TLS handshake failed (`tls` feature). Apart from
//! the TLS transport (`crate::tls`) so that [`ErrorKind`](crate::ErrorKind)
//! can carry it without the error module depending on the transport that
//! reports it.

use core::fmt;

use embedded_tls::TlsError;

/// Why a TLS handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TlsFailure {
    /// The broker's chain does not lead to the configured CA: a signature
    /// that does not verify (or is not ECDSA P-256/SHA-256), a signer that
    /// is not a CA, or a certificate that does not parse.
    CertificateNotTrusted,
    /// The broker's certificate does not carry the server name (see
    /// [`TlsOptions::server_name`](crate::tls::TlsOptions::server_name)).
    NameMismatch,
    /// A certificate of the chain is outside its validity period (checked
    /// once [`set_unix_time`](crate::tls::set_unix_time) was called).
    CertificateExpired,
    /// The broker's certificate is not for TLS servers (its extended key
    /// usage lacks serverAuth: a client certificate, say).
    NotAServerCertificate,
    /// The broker sent no certificate (or no CertificateVerify for it).
    NoCertificate,
    /// The broker's CertificateVerify signature or its Finished MAC did not
    /// verify: it does not hold the certificate's key, or the handshake was
    /// tampered with.
    SignatureInvalid,
    /// The broker ended the handshake with this TLS alert (its description
    /// code: 40 handshake_failure, 70 protocol_version (no TLS 1.3), ...).
    Alert(u8),
    /// A record did not fit the read buffer (see [`TLS_READ_BUFFER_LEN`](crate::tls::TLS_READ_BUFFER_LEN)).
    RecordTooLarge,
    /// The broker chose what this client does not offer or do (a cipher
    /// suite, group or signature scheme), or sent what it cannot read.
    Protocol,
}

impl TlsFailure {
    pub(crate) fn from_tls(e: TlsError) -> Self {
        match e {
            TlsError::InvalidCertificate | TlsError::InvalidCertificateEntry => {
                TlsFailure::CertificateNotTrusted
            }
            TlsError::InvalidSignature => TlsFailure::SignatureInvalid,
            TlsError::HandshakeAborted(_, alert) | TlsError::AbortHandshake(_, alert) => {
                TlsFailure::Alert(alert as u8)
            }
            TlsError::InsufficientSpace => TlsFailure::RecordTooLarge,
            _ => TlsFailure::Protocol,
        }
    }

    /// True for a failure of the TCP connection under TLS (the broker went
    /// away mid-handshake): that is a lost connection, retried as one.
    pub(crate) fn is_io(e: &TlsError) -> bool {
        matches!(
            e,
            TlsError::Io(_) | TlsError::IoError | TlsError::ConnectionClosed
        )
    }
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFailure::CertificateNotTrusted => "broker certificate not trusted",
            TlsFailure::NameMismatch => "broker certificate not for this server name",
            TlsFailure::CertificateExpired => "certificate outside its validity period",
            TlsFailure::NotAServerCertificate => "broker certificate not for TLS servers",
            TlsFailure::NoCertificate => "broker sent no certificate",
            TlsFailure::SignatureInvalid => "broker signature invalid",
            TlsFailure::Alert(code) => return write!(f, "broker sent alert {code}"),
            TlsFailure::RecordTooLarge => "record larger than the read buffer",
            TlsFailure::Protocol => "protocol error",
        })
    }
}
