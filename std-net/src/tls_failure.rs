//! [`TlsFailure`]: why a TLS handshake failed, and (feature `tls`) the
//! TLS failure a rustls stream's I/O error carries.

use std::fmt;
#[cfg(feature = "tls")]
use std::io;

#[cfg(feature = "tls")]
use rustls::{AlertDescription, CertificateError};

/// Why a TLS handshake failed (see [`ErrorKind::Tls`](crate::ErrorKind::Tls)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The broker's certificate does not chain to a trusted root (unknown
    /// issuer, self-signed, bad signature): give its CA
    /// (`ssl.ca.location`), or the system trust store lacks it.
    CertificateNotTrusted,
    /// The certificate is trusted but not issued for the host dialed (the
    /// name in the broker address, or the configured server name).
    HostnameMismatch,
    /// The certificate has expired or is not valid yet.
    CertificateExpired,
    /// Another problem with the broker's certificate (revoked, malformed,
    /// not for server authentication, an unsupported algorithm).
    InvalidCertificate,
    /// The broker refused the client: it requires a client certificate
    /// (mTLS, `ssl.client.auth=required`) and got none, or does not trust
    /// the one it got.
    ClientCertificateRejected,
    /// The broker closed the connection during the TLS handshake (often:
    /// the port is not a TLS listener). Retriable: a restarting broker does
    /// this too.
    ConnectionClosed,
    /// Any other TLS failure: no common protocol version or cipher suite,
    /// an alert, bytes that are not TLS (the port is a PLAINTEXT listener).
    Protocol,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFailure::CertificateNotTrusted => "the broker's certificate is not trusted",
            TlsFailure::HostnameMismatch => {
                "the broker's certificate is not valid for its host name"
            }
            TlsFailure::CertificateExpired => {
                "the broker's certificate has expired or is not valid yet"
            }
            TlsFailure::InvalidCertificate => "the broker's certificate is invalid",
            TlsFailure::ClientCertificateRejected => "the broker refused the client certificate",
            TlsFailure::ConnectionClosed => {
                "the broker closed the connection during the TLS handshake"
            }
            TlsFailure::Protocol => "TLS handshake failed",
        })
    }
}

/// A server name rustls cannot take, carried inside an `io::Error` to
/// become a configuration error.
#[cfg(feature = "tls")]
#[derive(Debug)]
pub(crate) struct BadServerName(pub(crate) String);

#[cfg(feature = "tls")]
impl fmt::Display for BadServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(feature = "tls")]
impl std::error::Error for BadServerName {}

/// What a TLS failure carried inside an `io::Error` is.
#[cfg(feature = "tls")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TlsIoFailure {
    /// A server name TLS cannot verify: a configuration error.
    BadServerName(String),
    /// The handshake failed, or the broker ended TLS with an alert.
    Tls {
        failure: TlsFailure,
        message: String,
    },
}

/// The TLS failure an I/O error carries (rustls reports certificate
/// problems and the broker's alerts as I/O errors of the stream); `None`
/// for other I/O errors.
#[cfg(feature = "tls")]
pub(crate) fn classify_io(e: &io::Error) -> Option<TlsIoFailure> {
    let inner = e.get_ref()?;
    if let Some(bad) = inner.downcast_ref::<BadServerName>() {
        return Some(TlsIoFailure::BadServerName(bad.0.clone()));
    }
    let tls = inner.downcast_ref::<rustls::Error>()?;
    let failure = classify(tls);
    let hint = match failure {
        TlsFailure::CertificateNotTrusted => {
            " (trust the broker's CA: TlsConfig::with_ca_file, librdkafka ssl.ca.location)"
        }
        TlsFailure::HostnameMismatch => {
            " (the certificate must name the host in the broker address; TlsConfig::verify_hostname, ssl.endpoint.identification.algorithm)"
        }
        TlsFailure::ClientCertificateRejected => {
            " (the broker requires a client certificate it trusts: TlsConfig::with_client_cert_files, ssl.certificate.location + ssl.key.location)"
        }
        _ => "",
    };
    Some(TlsIoFailure::Tls {
        failure,
        message: format!("{tls}{hint}"),
    })
}

#[cfg(feature = "tls")]
fn classify(e: &rustls::Error) -> TlsFailure {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsFailure::CertificateNotTrusted
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsFailure::HostnameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsFailure::CertificateExpired,
            _ => TlsFailure::InvalidCertificate,
        },
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked,
        ) => TlsFailure::ClientCertificateRejected,
        _ => TlsFailure::Protocol,
    }
}
