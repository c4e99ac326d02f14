//! TLS for the listeners: certificates given or generated, client
//! certificates, and the rustls server configuration (ring provider, TLS 1.2
//! and 1.3).

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

/// Host names and addresses a generated broker certificate names when none
/// are given: what a client on this machine connects to.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Whether the broker asks clients for a certificate (Kafka's `ssl.client.auth`).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// `none`: clients are not asked (their principal is `ANONYMOUS`). The default.
    #[default]
    None,
    /// `requested`: clients are asked; one without a certificate is
    /// `ANONYMOUS`, one with a certificate must chain to `ca_pem`.
    Requested {
        /// PEM of the CA certificates client certificates must chain to.
        ca_pem: String,
    },
    /// `required` (mutual TLS): a client without a certificate chaining to
    /// `ca_pem` fails the handshake.
    Required {
        /// PEM of the CA certificates client certificates must chain to.
        ca_pem: String,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClientAuth::None => "None",
            ClientAuth::Requested { .. } => "Requested",
            ClientAuth::Required { .. } => "Required",
        })
    }
}

/// The broker's TLS settings: its certificate chain and key, and whether it
/// asks clients for certificates.
///
/// With a client certificate (on `SSL`), the client's principal is its
/// certificate's subject as Kafka's default principal builder writes it
/// (RFC 2253: `CN=alice,O=microkafka`); see
/// [`RequestRecord::principal`](crate::RequestRecord::principal).
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain, PEM, the broker's own certificate first.
    pub cert_chain_pem: String,
    /// The private key of the first certificate, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
    /// Client certificates asked for. Default [`ClientAuth::None`].
    pub client_auth: ClientAuth,
    /// The PEM of the CA that issued the certificate, when it was generated
    /// ([`generated`](Self::generated), [`TestCa::server_tls`]): what clients
    /// trust (`ssl.ca.location`). `None` for certificates given.
    pub ca_pem: Option<String>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field(
                "cert_chain_pem",
                &format_args!("{} bytes", self.cert_chain_pem.len()),
            )
            .field("key_pem", &"<redacted>")
            .field("client_auth", &self.client_auth)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<generated CA>"))
            .finish()
    }
}

impl TlsConfig {
    /// A certificate chain and its key, both PEM.
    pub fn from_pem(cert_chain_pem: impl Into<String>, key_pem: impl Into<String>) -> Self {
        TlsConfig {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
            client_auth: ClientAuth::None,
            ca_pem: None,
        }
    }

    /// A certificate chain and its key read from PEM files.
    pub fn from_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<Self> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        };
        Ok(TlsConfig::from_pem(
            read(cert_chain.as_ref())?,
            read(key.as_ref())?,
        ))
    }

    /// A fresh CA and a certificate it issued for `hostnames` (DNS names or
    /// IP addresses; empty: `localhost`, `127.0.0.1` and `::1`), for tests:
    /// clients trust [`ca_pem`](Self::ca_pem). Use a [`TestCa`] to issue
    /// client certificates from the same CA.
    pub fn generated(hostnames: &[&str]) -> io::Result<Self> {
        TestCa::new("microkafka test CA")?.server_tls(hostnames)
    }

    /// Requires client certificates chaining to `ca_pem` (mutual TLS).
    pub fn require_client_cert(mut self, ca_pem: impl Into<String>) -> Self {
        self.client_auth = ClientAuth::Required {
            ca_pem: ca_pem.into(),
        };
        self
    }

    /// Asks for client certificates chaining to `ca_pem`, without requiring one.
    pub fn request_client_cert(mut self, ca_pem: impl Into<String>) -> Self {
        self.client_auth = ClientAuth::Requested {
            ca_pem: ca_pem.into(),
        };
        self
    }
}

/// A certificate and its private key, PEM (what a client's
/// `ssl.certificate.location` and `ssl.key.location` name).
#[derive(Clone, PartialEq, Eq)]
pub struct CertifiedKeyPem {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl fmt::Debug for CertifiedKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedKeyPem")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// A certificate authority made up for a test run (ECDSA P-256, by rcgen):
/// it issues the broker's certificate and clients' certificates, and
/// clients trust its [`cert_pem`](Self::cert_pem).
pub struct TestCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

fn rcgen_error(e: rcgen::Error) -> io::Error {
    io::Error::other(format!("certificate generation: {e}"))
}

fn name(pairs: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for (kind, value) in pairs {
        dn.push(kind.clone(), *value);
    }
    dn
}

impl TestCa {
    /// A new self-signed CA whose subject is `CN=<common_name>,O=microkafka`.
    pub fn new(common_name: &str) -> io::Result<TestCa> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        params.distinguished_name = name(&[
            (DnType::CommonName, common_name),
            (DnType::OrganizationName, "microkafka"),
        ]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.self_signed(&key).map_err(rcgen_error)?;
        Ok(TestCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM: what clients and the broker trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The broker's TLS settings with a certificate for `hostnames` (DNS
    /// names or IP addresses; empty: `localhost`, `127.0.0.1` and `::1`)
    /// issued by this CA, [`TlsConfig::ca_pem`] set to this CA.
    pub fn server_tls(&self, hostnames: &[&str]) -> io::Result<TlsConfig> {
        let names: Vec<String> = if hostnames.is_empty() {
            LOCAL_NAMES.iter().map(|s| (*s).to_owned()).collect()
        } else {
            hostnames.iter().map(|s| (*s).to_owned()).collect()
        };
        let mut params = CertificateParams::new(names.clone()).map_err(rcgen_error)?;
        params.distinguished_name = name(&[
            (DnType::CommonName, &names[0]),
            (DnType::OrganizationName, "microkafka"),
        ]);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = self.issue(&params)?;
        Ok(TlsConfig {
            cert_chain_pem: key.cert_pem,
            key_pem: key.key_pem,
            client_auth: ClientAuth::None,
            ca_pem: Some(self.cert_pem.clone()),
        })
    }

    /// A client certificate whose subject is `CN=<common_name>` (the
    /// principal the broker gives its connections on `SSL`), issued by this CA.
    pub fn client_cert(&self, common_name: &str) -> io::Result<CertifiedKeyPem> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        params.distinguished_name = name(&[(DnType::CommonName, common_name)]);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(&params)
    }

    fn issue(&self, params: &CertificateParams) -> io::Result<CertifiedKeyPem> {
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_error)?;
        Ok(CertifiedKeyPem {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn invalid(what: &str) -> impl Fn(String) -> io::Error + '_ {
    move |e| io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {e}"))
}

fn certificates(pem: &str, what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(what)(e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(what)("no CERTIFICATE block in the PEM".into()));
    }
    Ok(certs)
}

/// The rustls server configuration of `tls`: the ring provider, TLS 1.3 and
/// 1.2, the certificate chain, and the client-certificate verifier.
pub(crate) fn server_config(tls: &TlsConfig) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&tls.cert_chain_pem, "certificate chain")?;
    let key = PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes())
        .map_err(|e| invalid("private key")(e.to_string()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid("TLS versions")(e.to_string()))?;
    let builder = match &tls.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Requested { ca_pem } | ClientAuth::Required { ca_pem } => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca_pem, "client CA")? {
                roots
                    .add(cert)
                    .map_err(|e| invalid("client CA")(e.to_string()))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if matches!(tls.client_auth, ClientAuth::Requested { .. }) {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| invalid("client CA")(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid("certificate and key")(e.to_string()))?;
    Ok(Arc::new(config))
}

/// The principal of a TLS connection's client: its certificate's subject
/// (RFC 2253), if it presented one.
pub(crate) fn peer_principal(conn: &ServerConnection) -> Option<String> {
    let leaf = conn.peer_certificates()?.first()?;
    super::dn::subject(leaf.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_certificates_build_a_server_config() {
        let ca = TestCa::new("unit CA").unwrap();
        let tls = ca.server_tls(&[]).unwrap();
        assert_eq!(tls.ca_pem.as_deref(), Some(ca.cert_pem()));
        server_config(&tls).unwrap();
        let client = ca.client_cert("alice").unwrap();
        let tls = tls.require_client_cert(ca.cert_pem());
        server_config(&tls).unwrap();
        let der = CertificateDer::from_pem_slice(client.cert_pem.as_bytes()).unwrap();
        assert_eq!(super::super::dn::subject(&der).as_deref(), Some("CN=alice"));
        let der = CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap();
        assert_eq!(
            super::super::dn::subject(&der).as_deref(),
            Some("O=microkafka,CN=unit CA")
        );
        assert!(!format!("{tls:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn bad_pem_is_refused() {
        let tls = TlsConfig::from_pem("not a certificate", "not a key");
        let e = server_config(&tls).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let ca = TestCa::new("unit CA").unwrap();
        let good = ca.server_tls(&["localhost"]).unwrap();
        let wrong_key = TlsConfig {
            key_pem: ca.client_cert("x").unwrap().key_pem,
            ..good.clone()
        };
        assert!(server_config(&wrong_key).is_err(), "key does not match");
        let no_ca = good.require_client_cert("");
        assert!(server_config(&no_ca).is_err());
    }
}
