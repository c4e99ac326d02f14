//! TLS with rustls: [`TlsConfig`] says what to trust and who the client is,
//! [`RustlsConnector`] (the [`TlsConnector`] microkafka ships) runs the
//! handshake on every connection.
//!
//! rustls with the `ring` provider (no C toolchain beyond ring's own, no
//! OpenSSL), through tokio-rustls. System roots come from
//! rustls-native-certs (the operating system's store: on Debian
//! `/etc/ssl/certs`, and `SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::tls_failure::BadServerName;
use crate::transport::{AsyncStream, BoxFuture, TlsConnector};

/// Which certificate authorities the client trusts (see [`TlsConfig::roots`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum TlsRoots {
    /// The operating system's trust store (rustls-native-certs), as a
    /// browser trusts. Default. librdkafka: `ssl.ca.location=probe`.
    #[default]
    System,
    /// Only these CA certificates, PEM (one or more `CERTIFICATE`
    /// blocks): a private CA. librdkafka: `ssl.ca.location` (a file) or
    /// `ssl.ca.pem`; Java: `ssl.truststore.location` with type PEM.
    Pem(Vec<u8>),
    /// The system's trust store and these PEM certificates.
    SystemAndPem(Vec<u8>),
}

impl fmt::Debug for TlsRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsRoots::System => f.write_str("System"),
            TlsRoots::Pem(p) => write!(f, "Pem({} bytes)", p.len()),
            TlsRoots::SystemAndPem(p) => write!(f, "SystemAndPem({} bytes)", p.len()),
        }
    }
}

/// A client certificate chain and its private key, PEM, for brokers that
/// authenticate clients by certificate (mTLS: `ssl.client.auth=required`).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The client's certificate, then any intermediates (`CERTIFICATE`
    /// blocks). librdkafka: `ssl.certificate.location` / `ssl.certificate.pem`.
    pub chain_pem: Vec<u8>,
    /// The private key: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`)
    /// or SEC1 (`EC PRIVATE KEY`), not encrypted. librdkafka:
    /// `ssl.key.location` / `ssl.key.pem`.
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCert")
            .field("chain_pem", &format_args!("{} bytes", self.chain_pem.len()))
            .field("key_pem", &"(hidden)")
            .finish()
    }
}

/// What a TLS connection trusts and presents: kafka-go's `Dialer.TLS`
/// (`*tls.Config`), librdkafka's `ssl.*` properties.
///
/// The defaults verify like a browser: the system's trust store, the
/// certificate must name the host dialed (from the broker address: the
/// bootstrap address, then each broker's advertised host), SNI sends that
/// name (not for IP addresses, which rustls checks against the
/// certificate's IP entries instead).
///
/// ```no_run
/// # fn demo() -> microkafka_std::Result<()> {
/// use microkafka_std::{Dialer, SaslMechanism, TlsConfig};
/// let dialer = Dialer {
///     tls: Some(TlsConfig::default().with_ca_file("ca.pem")?.connector()?),
///     sasl_mechanism: Some(SaslMechanism::scram_sha512("alice", "alice-secret")),
///     ..Dialer::default()
/// };
/// # Ok(()) }
/// ```
///
/// | field | librdkafka | Java client |
/// |---|---|---|
/// | [`roots`](Self::roots) | `ssl.ca.location`, `ssl.ca.pem` | `ssl.truststore.*` |
/// | [`client_cert`](Self::client_cert) | `ssl.certificate.location` + `ssl.key.location`, `ssl.certificate.pem` + `ssl.key.pem` | `ssl.keystore.*` |
/// | [`verify_hostname`](Self::verify_hostname) | `ssl.endpoint.identification.algorithm` (`https` / `none`) | the same |
/// | [`danger_accept_invalid_certs_for_tests_only`](Self::danger_accept_invalid_certs_for_tests_only) | `enable.ssl.certificate.verification=false` | — |
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate authorities trusted. Default: the system's.
    pub roots: TlsRoots,
    /// The client's certificate, for mTLS. Default none.
    pub client_cert: Option<ClientCert>,
    /// Check that the broker's certificate names the host dialed. Default
    /// `true`. `false` still checks the chain up to a trusted root (as
    /// `ssl.endpoint.identification.algorithm=none` does): any certificate
    /// the CA issued is accepted for any broker.
    pub verify_hostname: bool,
    /// The name to verify the certificate against and send as SNI, instead
    /// of the host dialed (a broker reached through a tunnel or a proxy
    /// whose certificate names the real host). Default none. It applies to
    /// every broker the client dials.
    pub server_name: Option<String>,
    /// Accept any certificate from anyone: no chain, no host name, no
    /// expiry check. The connection is encrypted but not authenticated, so
    /// anyone on the path can read and change it. For tests against
    /// throwaway brokers only; never in production. Default `false`.
    pub danger_accept_invalid_certs_for_tests_only: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            roots: TlsRoots::System,
            client_cert: None,
            verify_hostname: true,
            server_name: None,
            danger_accept_invalid_certs_for_tests_only: false,
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots)
            .field("client_cert", &self.client_cert)
            .field("verify_hostname", &self.verify_hostname)
            .field("server_name", &self.server_name)
            .field(
                "danger_accept_invalid_certs_for_tests_only",
                &self.danger_accept_invalid_certs_for_tests_only,
            )
            .finish()
    }
}

fn read_file(what: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::config(format!("{what} {}: {e}", path.display())))
}

impl TlsConfig {
    /// Trusts only the CA certificates in `pem` (not the system's).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots = TlsRoots::Pem(pem.into());
        self
    }

    /// Trusts only the CA certificates in the PEM file at `path`
    /// (`ssl.ca.location`). Errors: [`ErrorKind::Config`](crate::ErrorKind::Config) naming the file.
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> Result<Self> {
        let pem = read_file("CA file", path.as_ref())?;
        Ok(self.with_ca_pem(pem))
    }

    /// Presents this certificate chain and key (PEM) to brokers that ask.
    pub fn with_client_cert_pem(
        mut self,
        chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert = Some(ClientCert {
            chain_pem: chain_pem.into(),
            key_pem: key_pem.into(),
        });
        self
    }

    /// Presents the certificate chain and key in these PEM files
    /// (`ssl.certificate.location`, `ssl.key.location`).
    pub fn with_client_cert_files(
        self,
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self> {
        let chain = read_file("client certificate file", chain.as_ref())?;
        let key = read_file("client key file", key.as_ref())?;
        Ok(self.with_client_cert_pem(chain, key))
    }

    /// Verifies certificates against `name` instead of each broker's host
    /// (see [`server_name`](Self::server_name)).
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Accepts any certificate (see
    /// [`danger_accept_invalid_certs_for_tests_only`](Self::danger_accept_invalid_certs_for_tests_only)).
    pub fn danger_accept_invalid_certs_for_tests_only(mut self) -> Self {
        self.danger_accept_invalid_certs_for_tests_only = true;
        self
    }

    /// The rustls configuration this describes (to adjust it further and
    /// wrap it with [`RustlsConnector::from_rustls`]).
    ///
    /// Errors ([`ErrorKind::Config`](crate::ErrorKind::Config)): PEM without a certificate or key, a
    /// key that does not match, no system roots found.
    pub fn rustls_config(&self) -> Result<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> =
            if self.danger_accept_invalid_certs_for_tests_only {
                Arc::new(AcceptAnything(provider.clone()))
            } else {
                let roots = Arc::new(self.root_store()?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|e| Error::config(format!("TLS roots: {e}")))?;
                if self.verify_hostname {
                    webpki
                } else {
                    Arc::new(AnyHostName(webpki))
                }
            };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        match &self.client_cert {
            None => Ok(builder.with_no_client_auth()),
            Some(c) => {
                let chain = certs_of(&c.chain_pem, "client certificate")?;
                let key = PrivateKeyDer::from_pem_slice(&c.key_pem).map_err(|e| {
                    Error::config(format!(
                        "client key: no unencrypted PKCS#8, PKCS#1 or SEC1 private key in the PEM ({e})"
                    ))
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::config(format!("client certificate and key: {e}")))
            }
        }
    }

    fn root_store(&self) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        let (system, pem) = match &self.roots {
            TlsRoots::System => (true, None),
            TlsRoots::Pem(p) => (false, Some(p)),
            TlsRoots::SystemAndPem(p) => (true, Some(p)),
        };
        if system {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 && pem.is_none() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(String::new, |e| format!(" ({e})"));
                return Err(Error::config(format!(
                    "TLS: no CA certificate in the system's trust store{why}; install ca-certificates, set SSL_CERT_FILE, or give the CA (TlsConfig::with_ca_file, ssl.ca.location)"
                )));
            }
        }
        if let Some(pem) = pem {
            for cert in certs_of(pem, "CA")? {
                store
                    .add(cert)
                    .map_err(|e| Error::config(format!("CA certificate: {e}")))?;
            }
        }
        Ok(store)
    }

    /// A [`RustlsConnector`] for this configuration, ready for
    /// [`Dialer::tls`](crate::Dialer::tls).
    pub fn connector(&self) -> Result<Arc<dyn TlsConnector>> {
        Ok(Arc::new(RustlsConnector::new(self)?))
    }
}

fn certs_of(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config(format!("{what} PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{what} PEM: no CERTIFICATE block found"
        )));
    }
    Ok(certs)
}

/// The [`TlsConnector`] microkafka ships: rustls (ring) through tokio-rustls.
///
/// Made from a [`TlsConfig`] ([`TlsConfig::connector`]) or from a rustls
/// `ClientConfig` of your own ([`from_rustls`](Self::from_rustls)).
#[derive(Clone)]
pub struct RustlsConnector {
    inner: tokio_rustls::TlsConnector,
    server_name: Option<String>,
}

impl fmt::Debug for RustlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustlsConnector")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl RustlsConnector {
    /// A connector for `config` (see [`TlsConfig::rustls_config`] for the errors).
    pub fn new(config: &TlsConfig) -> Result<Self> {
        let mut connector = Self::from_rustls(Arc::new(config.rustls_config()?));
        connector.server_name.clone_from(&config.server_name);
        Ok(connector)
    }

    /// A connector for a rustls configuration of your own (its verifier,
    /// its provider). The server name is the host dialed.
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        RustlsConnector {
            inner: tokio_rustls::TlsConnector::from(config),
            server_name: None,
        }
    }
}

impl TlsConnector for RustlsConnector {
    fn connect<'a>(
        &'a self,
        server_name: &'a str,
        tcp: TcpStream,
    ) -> BoxFuture<'a, io::Result<Box<dyn AsyncStream>>> {
        Box::pin(async move {
            let name = self.server_name.as_deref().unwrap_or(server_name);
            let name = ServerName::try_from(name.to_owned()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    BadServerName(format!(
                        "{name:?} is not a host name or IP address TLS can verify: {e}"
                    )),
                )
            })?;
            let stream = self.inner.connect(name, tcp).await?;
            Ok(Box::new(stream) as Box<dyn AsyncStream>)
        })
    }
}

/// Chain verification without the host name check
/// ([`TlsConfig::verify_hostname`] off). webpki checks the chain first and
/// the name last, so a name error means the chain was good.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// No verification at all ([`TlsConfig::danger_accept_invalid_certs_for_tests_only`]).
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use rustls::AlertDescription;

    use super::*;
    use crate::error::ErrorKind;
    use crate::tls_failure::TlsFailure;

    fn io_of(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn rustls_errors_become_clear_kinds() {
        let cases = [
            (
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
                TlsFailure::CertificateNotTrusted,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
                TlsFailure::HostnameMismatch,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::Expired),
                TlsFailure::CertificateExpired,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::Revoked),
                TlsFailure::InvalidCertificate,
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
                TlsFailure::ClientCertificateRejected,
            ),
            (
                rustls::Error::AlertReceived(AlertDescription::ProtocolVersion),
                TlsFailure::Protocol,
            ),
        ];
        for (rustls_error, want) in cases {
            let e = Error::from(io_of(rustls_error));
            match e.kind() {
                ErrorKind::Tls { failure, .. } => assert_eq!(*failure, want, "{e}"),
                other => panic!("{other:?}"),
            }
            assert!(e.is_fatal(), "{e}");
            assert!(!e.is_retriable(), "{e}");
        }
        let e = Error::from(io_of(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )));
        assert!(e.to_string().contains("not trusted"), "{e}");
        assert!(e.to_string().contains("ssl.ca.location"), "{e}");
        // Other I/O errors stay I/O errors.
        let e = Error::from(io::Error::from(io::ErrorKind::ConnectionReset));
        assert!(matches!(e.kind(), ErrorKind::Io(_)), "{e}");
    }

    #[test]
    fn config_errors_name_what_is_wrong() {
        let e = TlsConfig::default()
            .with_ca_pem("not a certificate")
            .rustls_config()
            .unwrap_err();
        assert!(e.to_string().contains("no CERTIFICATE"), "{e}");
        let e = TlsConfig::default()
            .with_ca_file("/nonexistent/ca.pem")
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let e = TlsConfig::default()
            .with_ca_pem(ca.cert.pem())
            .with_client_cert_pem(ca.cert.pem(), "no key here")
            .rustls_config()
            .unwrap_err();
        assert!(e.to_string().contains("client key"), "{e}");
        // A key that is not the certificate's.
        let other = rcgen::generate_simple_self_signed(vec!["x".into()]).unwrap();
        let e = TlsConfig::default()
            .with_ca_pem(ca.cert.pem())
            .with_client_cert_pem(ca.cert.pem(), other.signing_key.serialize_pem())
            .rustls_config()
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Config(_)), "{e}");
        // Good ones build.
        TlsConfig::default()
            .with_ca_pem(ca.cert.pem())
            .with_client_cert_pem(ca.cert.pem(), ca.signing_key.serialize_pem())
            .connector()
            .unwrap();
        TlsConfig::default()
            .danger_accept_invalid_certs_for_tests_only()
            .connector()
            .unwrap();
        // Key material stays out of logs.
        let c = TlsConfig::default().with_client_cert_pem("cert", "SECRET KEY");
        assert!(!format!("{c:?}").contains("SECRET"));
    }
}
