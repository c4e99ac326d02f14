//! TLS 1.3 to the brokers over embassy-net (`tls` feature), with
//! [embedded-tls](https://docs.rs/embedded-tls) 0.19: no heap, the record
//! buffers the caller's ([`TlsSocket`]), one cipher suite
//! (TLS_AES_128_GCM_SHA256, which every TLS 1.3 server has), key exchange
//! on P-256 (secp256r1) with the caller's random number generator. TLS 1.3
//! only: a broker offering only TLS 1.2 fails with [`TlsFailure::Alert`]
//! (70, protocol_version). No client certificates (mTLS), no session
//! resumption.
//!
//! # What is verified
//!
//! With [`TlsOptions::new`] (one CA certificate, DER, the only trust
//! anchor), a handshake succeeds only when all of these hold (checked here,
//! on embedded-tls's verifier hooks: its own `rustpki` verifier parses
//! X.509 with the `der` crate, ~20 KiB of flash, and leaves out 1, 3 and 4):
//!
//! 1. The broker sent a Certificate and a CertificateVerify message
//!    (embedded-tls would otherwise finish a handshake that skips both:
//!    [`TlsFailure::NoCertificate`], checked before any request is sent).
//! 2. Its chain leads to the CA: the last certificate sent is signed by the
//!    CA's key, each other one by the key of the certificate after it (the
//!    chain leaf first, as TLS sends it; the CA itself may be included).
//!    Signatures: ECDSA P-256 with SHA-256 only (what `TestCa` and most IoT
//!    PKIs issue); RSA, P-384 or Ed25519 chains are refused
//!    ([`TlsFailure::CertificateNotTrusted`]).
//! 3. Every certificate after the leaf is a CA (basicConstraints
//!    `cA = TRUE`): a leaf of the same CA (another broker's, a client's)
//!    cannot sign a certificate for a broker (`CertificateNotTrusted`).
//! 4. The leaf is for TLS servers: when it has an extendedKeyUsage, that
//!    lists serverAuth or anyExtendedKeyUsage
//!    ([`TlsFailure::NotAServerCertificate`]: a client certificate of the
//!    same CA is refused).
//! 5. The leaf names the server ([`TlsFailure::NameMismatch`]): a
//!    subjectAltName dNSName (RFC 6125 wildcards: `*.kafka.example` matches
//!    one leftmost label; ASCII case-insensitive) or, for an IPv4 address,
//!    an iPAddress entry; the subject's common name only when there is no
//!    subjectAltName. The server name is [`TlsOptions::server_name`], else
//!    the broker's host as dialed (bootstrap entry or advertised host). It
//!    is sent as SNI unless it is an IP address.
//! 6. Every certificate of the chain is within its validity period
//!    ([`TlsFailure::CertificateExpired`]), once the wall-clock time is
//!    known ([`set_unix_time`], which `Producer::set_unix_time` also
//!    calls). Before that, validity periods are **not** checked: a device
//!    without a clock cannot tell.
//! 7. The CertificateVerify signature over the handshake transcript
//!    verifies with the leaf's key (ECDSA P-256/SHA-256: the broker holds
//!    the certificate's private key), and the broker's Finished MAC
//!    verifies (embedded-tls) ([`TlsFailure::SignatureInvalid`]).
//!
//! Not verified: key usage bits, path length and name constraints, policies,
//! critical extensions not listed above, revocation (no CRL or OCSP), the
//! CA certificate itself (trusted as given).
//!
//! With the `danger-tls-no-verify` feature,
//! `TlsOptions::danger_no_verify_for_tests_only` skips 1–7 but the
//! Finished MAC: the connection is encrypted, the broker not
//! authenticated (anyone on the path can read and change everything). For
//! tests with throw-away certificates only.
//!
//! # Buffers
//!
//! A TLS record carries up to 16 KiB of data; embedded-tls decrypts one
//! record at a time in the read buffer, which must hold the largest record
//! the broker sends: [`TLS_READ_BUFFER_LEN`] (16,645 bytes) always
//! suffices, and is what the example firmware gives. A producer's answers
//! are small, so in practice the largest record is the handshake's (the
//! certificate chain, ~1 KiB per certificate), but a broker fills records
//! up to 16 KiB whenever it has that much to say (a large Metadata or
//! Fetch answer). [`TlsOptions::max_fragment_length`] asks for smaller
//! records (RFC 6066); servers without the extension (rustls, so the mock
//! broker, among them) ignore it, so a smaller read buffer is a bet on the
//! broker's record sizes ([`TlsFailure::RecordTooLarge`] when lost). The
//! write buffer only bounds the records this client sends (a request is cut
//! into records of its size): 1-4 KiB, at least the ClientHello's ~250 bytes.
//!
//! Known limit of embedded-tls 0.19: a KeyUpdate from the broker (servers
//! send one after ~2^24 records on a connection, if ever) is not handled
//! (it panics).

use core::cell::{Cell, RefCell};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};

use embassy_net::tcp::TcpSocket;
use embassy_time::Instant;
use embedded_tls::{
    Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef, CryptoProvider,
    CryptoRngCore, NoClock, SignatureScheme, TlsClock, TlsConnection, TlsContext, TlsError,
    TlsVerifier,
};
use p256::ecdsa::signature::digest::Digest as _;

pub use embedded_tls::MaxFragmentLength;

use crate::error::ErrorKind;
pub use crate::tls_failure::TlsFailure;

/// The one cipher suite offered.
pub(crate) type Suite = Aes128GcmSha256;

/// A read buffer this large takes any TLS record (2^14 bytes of data,
/// 256 of expansion, the 5-byte header).
pub const TLS_READ_BUFFER_LEN: usize = 16_384 + 256 + 5;

/// A broker connection's socket and TLS record buffers, owned by the caller
/// and lent to a producer or consumer by `&mut` (`[&mut socket]` where a
/// constructor takes sockets).
///
/// The buffers are lent to one TLS session at a time: each new broker
/// connection starts a session over them, and a session's end returns them.
pub struct TlsSocket<'a> {
    tcp: RefCell<TcpSocket<'a>>,
    read: (*mut u8, usize),
    write: (*mut u8, usize),
    /// A session holds the buffers.
    lent: Cell<bool>,
    _buffers: PhantomData<&'a mut [u8]>,
}

impl<'a> TlsSocket<'a> {
    /// A socket (created by the caller, unconnected) and the buffers TLS
    /// records are decrypted in (`read`, see [`TLS_READ_BUFFER_LEN`]) and
    /// encrypted in (`write`, 1-4 KiB).
    pub fn new(socket: TcpSocket<'a>, read: &'a mut [u8], write: &'a mut [u8]) -> Self {
        TlsSocket {
            tcp: RefCell::new(socket),
            read: (read.as_mut_ptr(), read.len()),
            write: (write.as_mut_ptr(), write.len()),
            lent: Cell::new(false),
            _buffers: PhantomData,
        }
    }

    /// The socket, borrowed for `'s` (the producer's or consumer's life),
    /// seen as living that long.
    ///
    /// Why `unsafe`: the `RefCell` makes `TlsSocket<'a>` invariant in `'a`,
    /// so a `&'s mut TlsSocket<'a>` could not otherwise serve a producer
    /// that lives for `'s` only (and `&'a mut TlsSocket<'a>` would keep the
    /// socket borrowed until after its own drop, which the compiler
    /// refuses). Sound because everything `'a` bounds in it is covariant:
    /// the `TcpSocket<'a>` (a `Stack<'a>`, a shared reference) and the
    /// buffers (`&'a mut [u8]`, shortened to `&'s mut [u8]` when lent); and
    /// nothing ever stores a value of the shorter lifetime into it (the
    /// socket is only used in place, the buffers only lent out). The
    /// exclusive borrow for `'s` keeps the caller away meanwhile.
    #[allow(unsafe_code)]
    pub(crate) fn shorten<'s>(&'s mut self) -> &'s TlsSocket<'s>
    where
        'a: 's,
    {
        let this: *const TlsSocket<'a> = self;
        // SAFETY: see above: a lifetime-only cast of a valid reference.
        unsafe { &*this.cast::<TlsSocket<'s>>() }
    }

    /// The TCP socket, for the connection's own use (never borrowed across
    /// a TLS read or write: those borrow it through [`Wire`] while the
    /// connection is exclusively borrowed).
    pub(crate) fn tcp(&self) -> Option<core::cell::RefMut<'_, TcpSocket<'a>>> {
        self.tcp.try_borrow_mut().ok()
    }

    /// The record buffers for a new session, unless a session has them.
    ///
    /// Why `unsafe`: embedded-tls keeps `&'a mut` buffers for the life of a
    /// `TlsConnection` and has no way to give them back or to restart a
    /// connection, so a client that reconnects needs the same memory again
    /// for each session. It is sound because the pointers come from the
    /// `&'a mut` slices given to [`new`](Self::new) (exclusive for `'a`,
    /// never used again but through here), and the slices made from them
    /// live only inside one [`Session`] at a time: `lent` is set here and
    /// cleared by the [`Lease`] the session holds, which is dropped after
    /// the `TlsConnection` (field order), so no two live sessions ever
    /// hold them. `TlsSocket` is `!Sync` (a `Cell`), so this cannot race.
    #[allow(unsafe_code, clippy::mut_from_ref)]
    fn lend(&'a self) -> Option<(&'a mut [u8], &'a mut [u8], Lease<'a>)> {
        if self.lent.replace(true) {
            return None;
        }
        // SAFETY: see above: the memory is valid and exclusively ours for
        // 'a, and no other slice of it is alive (`lent` was false).
        let (read, write) = unsafe {
            (
                core::slice::from_raw_parts_mut(self.read.0, self.read.1),
                core::slice::from_raw_parts_mut(self.write.0, self.write.1),
            )
        };
        Some((read, write, Lease(&self.lent)))
    }
}

/// Returns the buffers when dropped (see [`TlsSocket::lend`]).
struct Lease<'a>(&'a Cell<bool>);

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// The TCP socket under a TLS session: embedded-tls reads and writes it
/// while the connection keeps its own handle (state, abort, connect).
pub(crate) struct Wire<'a>(&'a RefCell<TcpSocket<'a>>);

impl embedded_io_async::ErrorType for Wire<'_> {
    type Error = embassy_net::tcp::Error;
}

// The cell is borrowed for one read or write of the TCP socket; nothing
// else borrows it meanwhile: the connection that owns the session is
// exclusively borrowed for the whole TLS operation (and a cancelled
// operation drops its borrow).
#[allow(clippy::await_holding_refcell_ref)]
impl embedded_io_async::Read for Wire<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut tcp = self
            .0
            .try_borrow_mut()
            .map_err(|_| embassy_net::tcp::Error::ConnectionReset)?;
        tcp.read(buf).await
    }
}

#[allow(clippy::await_holding_refcell_ref)]
impl embedded_io_async::Write for Wire<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let mut tcp = self
            .0
            .try_borrow_mut()
            .map_err(|_| embassy_net::tcp::Error::ConnectionReset)?;
        tcp.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        // embedded-tls flushes after each handshake flight; TCP's flush
        // would wait for the broker's ACK of everything: not needed (Nagle
        // is off, writes go out at once).
        Ok(())
    }
}

/// A TLS session over a [`TlsSocket`]'s buffers.
pub(crate) struct Session<'a> {
    // Dropped before `_lease` (declaration order): see `TlsSocket::lend`.
    pub(crate) tls: TlsConnection<'a, Wire<'a>, Suite>,
    _lease: Lease<'a>,
}

/// A broker connection's TLS side: the caller's socket and buffers, and the
/// session while one is open.
pub(crate) struct TlsLink<'a> {
    pub(crate) socket: &'a TlsSocket<'a>,
    pub(crate) session: Option<Session<'a>>,
}

impl<'a> TlsLink<'a> {
    /// Runs the TLS handshake over the (connected) socket.
    pub(crate) async fn handshake(
        &mut self,
        options: &TlsOptions<'_>,
        host: &str,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<(), ErrorKind> {
        self.session = None;
        let (read, write, lease) = self
            .socket
            .lend()
            .ok_or(ErrorKind::Tls(TlsFailure::Protocol))?;
        let session = self.session.insert(Session {
            tls: TlsConnection::new(Wire(&self.socket.tcp), read, write),
            _lease: lease,
        });
        let server_name = options.server_name.unwrap_or(host);
        let mut config = embedded_tls::TlsConfig::new();
        // SNI carries DNS names only (RFC 6066): none for an IP address.
        if crate::resolve::parse_ipv4(server_name).is_none() {
            config = config.with_server_name(server_name);
        }
        if let Some(length) = options.max_fragment_length {
            config = config.with_max_fragment_length(length);
        }
        let mut verifier = Verifier::new(options.trust, server_name);
        let opened = session
            .tls
            .open(TlsContext::new(
                &config,
                Provider {
                    rng,
                    verifier: &mut verifier,
                },
            ))
            .await;
        let result = match opened {
            Ok(()) if verifier.authenticated() => Ok(()),
            // The broker skipped its certificate or its signature.
            Ok(()) => Err(ErrorKind::Tls(TlsFailure::NoCertificate)),
            Err(e) => Err(match verifier.failure {
                Some(failure) => ErrorKind::Tls(failure),
                // The broker went away mid-handshake: a lost connection.
                None if TlsFailure::is_io(&e) => ErrorKind::ConnectionLost,
                None => ErrorKind::Tls(TlsFailure::from_tls(e)),
            }),
        };
        if result.is_err() {
            self.session = None;
        }
        result
    }
}

/// Whom to trust (see the [module documentation](self)).
#[derive(Clone, Copy, Debug)]
enum Trust<'a> {
    /// Chains to this CA certificate (DER).
    Ca(&'a [u8]),
    /// Nothing is checked.
    #[cfg(feature = "danger-tls-no-verify")]
    Anyone,
}

/// TLS settings for every broker connection (`tls` feature): the CA the
/// brokers' certificates must chain to, the name they must carry, and
/// record sizes. What a handshake checks is listed in the
/// [module documentation](crate::tls).
#[derive(Clone, Copy, Debug)]
pub struct TlsOptions<'a> {
    trust: Trust<'a>,
    /// The name every broker's certificate must carry (and the SNI sent).
    /// Default `None`: each broker's host name as dialed (bootstrap entry or
    /// advertised host), as librdkafka's `ssl.endpoint.identification.algorithm=https`.
    /// Set it when brokers are reached by IP address (embedded-tls matches
    /// DNS names only) or share one certificate name.
    pub server_name: Option<&'a str>,
    /// Ask the broker for records of at most this size (RFC 6066). Default
    /// `None`. Servers without the extension (rustls) ignore it.
    pub max_fragment_length: Option<MaxFragmentLength>,
}

impl<'a> TlsOptions<'a> {
    /// Trusts brokers whose certificate chains to `ca_der`, a CA
    /// certificate in DER (the base64 body of a PEM file, decoded).
    pub const fn new(ca_der: &'a [u8]) -> Self {
        TlsOptions {
            trust: Trust::Ca(ca_der),
            server_name: None,
            max_fragment_length: None,
        }
    }

    /// **Skips every check of the broker's identity**: the connection is
    /// encrypted but anyone on the path can impersonate the broker. For
    /// tests with throw-away certificates only (`danger-tls-no-verify`
    /// feature).
    #[cfg(feature = "danger-tls-no-verify")]
    pub const fn danger_no_verify_for_tests_only() -> Self {
        TlsOptions {
            trust: Trust::Anyone,
            server_name: None,
            max_fragment_length: None,
        }
    }

    /// The same options with a fixed server name (see [`server_name`](Self::server_name)).
    pub const fn with_server_name(mut self, name: &'a str) -> Self {
        self.server_name = Some(name);
        self
    }

    /// The same options asking for records of at most `length`.
    pub const fn with_max_fragment_length(mut self, length: MaxFragmentLength) -> Self {
        self.max_fragment_length = Some(length);
        self
    }
}

// --- wall-clock time for validity periods ----------------------------------

/// Unix seconds at monotonic time zero, once known (0: unknown).
static UNIX_AT_BOOT_SECS: AtomicU32 = AtomicU32::new(0);

/// Tells TLS certificate checks the wall-clock time (ms since the Unix
/// epoch, from SNTP, an RTC...): from now on, each certificate's validity
/// period must contain the current time. Until called, validity periods are
/// not checked. One clock for the whole firmware.
pub fn set_unix_time(unix_ms: i64) {
    let boot = unix_ms / 1000 - Instant::now().as_secs() as i64;
    UNIX_AT_BOOT_SECS.store(u32::try_from(boot).unwrap_or(0), Ordering::Relaxed);
}

/// embedded-tls's clock: the wall-clock time once [`set_unix_time`] told it.
struct WallClock;

impl TlsClock for WallClock {
    fn now() -> Option<u64> {
        match UNIX_AT_BOOT_SECS.load(Ordering::Relaxed) {
            0 => NoClock::now(),
            boot => Some(u64::from(boot) + Instant::now().as_secs()),
        }
    }
}

// --- verification ------------------------------------------------------------

/// What embedded-tls asks for during a handshake: randomness and the verifier.
struct Provider<'r, 'v, 'c> {
    rng: &'r mut dyn CryptoRngCore,
    verifier: &'v mut Verifier<'c>,
}

impl CryptoProvider for Provider<'_, '_, '_> {
    type CipherSuite = Suite;
    // No client certificate is offered.
    type Signature = [u8; 0];

    fn rng(&mut self) -> impl CryptoRngCore {
        &mut *self.rng
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Suite>, TlsError> {
        Ok(&mut *self.verifier)
    }
}

/// The broker's identity, checked as the [module documentation](self)
/// lists, on embedded-tls's verifier hooks (its own `rustpki` verifier is
/// not used: it parses X.509 with the `der` crate, ~20 KiB of flash, and
/// leaves out the CA and server-use checks).
struct Verifier<'c> {
    /// The CA's DER; `None`: nothing is checked.
    ca: Option<&'c [u8]>,
    server_name: &'c str,
    /// The leaf's public key (uncompressed P-256 point), once its chain verified.
    leaf_key: Option<([u8; 65], usize)>,
    /// The transcript up to the Certificate message.
    transcript: Option<<Suite as embedded_tls::TlsCipherSuite>::Hash>,
    signature: bool,
    failure: Option<TlsFailure>,
}

impl<'c> Verifier<'c> {
    fn new(trust: Trust<'c>, server_name: &'c str) -> Self {
        let ca = match trust {
            Trust::Ca(der) => Some(der),
            #[cfg(feature = "danger-tls-no-verify")]
            Trust::Anyone => None,
        };
        Verifier {
            ca,
            server_name,
            leaf_key: None,
            transcript: None,
            signature: false,
            failure: None,
        }
    }

    /// True when the broker proved its identity (or nothing is checked).
    fn authenticated(&self) -> bool {
        self.ca.is_none() || (self.leaf_key.is_some() && self.signature)
    }

    fn reject(&mut self, failure: TlsFailure) -> TlsError {
        self.failure = Some(failure);
        TlsError::InvalidCertificate
    }
}

impl TlsVerifier<Suite> for Verifier<'_> {
    fn set_hostname_verification(&mut self, _hostname: &str) -> Result<(), TlsError> {
        // The name was given at construction (it is also checked for IP
        // addresses, for which no SNI is sent).
        Ok(())
    }

    fn verify_certificate(
        &mut self,
        transcript: &<Suite as embedded_tls::TlsCipherSuite>::Hash,
        cert: CertificateRef,
    ) -> Result<(), TlsError> {
        let Some(ca) = self.ca else {
            return Ok(());
        };
        if self.leaf_key.is_some() {
            return Err(self.reject(TlsFailure::Protocol));
        }
        let chain = cert.entries.iter().map(|entry| match entry {
            CertificateEntryRef::X509(der) | CertificateEntryRef::RawPublicKey(der) => *der,
        });
        match x509::verify_chain(ca, chain, self.server_name, WallClock::now()) {
            Ok(key) => {
                self.leaf_key = Some(key);
                self.transcript = Some(transcript.clone());
                Ok(())
            }
            Err(failure) => Err(self.reject(failure)),
        }
    }

    fn verify_signature(&mut self, verify: CertificateVerifyRef) -> Result<(), TlsError> {
        if self.ca.is_none() {
            return Ok(());
        }
        let (Some((key, key_len)), Some(transcript), false) =
            (self.leaf_key, self.transcript.take(), self.signature)
        else {
            // A CertificateVerify without a certificate before it, or twice.
            return Err(self.reject(TlsFailure::NoCertificate));
        };
        // RFC 8446 4.4.3: 64 spaces, the context string, a zero byte, the
        // transcript hash.
        let mut message = [0x20u8; 64 + 34 + 32];
        message[64..98].copy_from_slice(b"TLS 1.3, server CertificateVerify\0");
        message[98..].copy_from_slice(&transcript.finalize());
        let verified = verify.signature_scheme == SignatureScheme::EcdsaSecp256r1Sha256
            && x509::ecdsa_p256_verifies(&key[..key_len], &message, verify.signature);
        if !verified {
            return Err(self.reject(TlsFailure::SignatureInvalid));
        }
        self.signature = true;
        Ok(())
    }
}

/// X.509 read straight from DER: just what verification needs.
mod x509 {
    use super::TlsFailure;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::{Signature, VerifyingKey};

    /// ecdsa-with-SHA256 (1.2.840.10045.4.3.2).
    const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    /// basicConstraints (2.5.29.19).
    const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    /// subjectAltName (2.5.29.17).
    const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
    /// extKeyUsage (2.5.29.37).
    const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
    /// id-kp-serverAuth (1.3.6.1.5.5.7.3.1).
    const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    /// anyExtendedKeyUsage (2.5.29.37.0).
    const ANY_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
    /// commonName (2.5.4.3).
    const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

    const BOOLEAN: u8 = 0x01;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const OCTET_STRING: u8 = 0x04;
    const OID: u8 = 0x06;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    /// `[0] EXPLICIT` in TBSCertificate: the version.
    const VERSION: u8 = 0xa0;
    /// `[3] EXPLICIT` in TBSCertificate: the extensions.
    const EXTENSIONS: u8 = 0xa3;
    /// GeneralName `dNSName` and `iPAddress`.
    const DNS_NAME: u8 = 0x82;
    const IP_ADDRESS: u8 = 0x87;

    /// One DER element: `(tag, contents, rest)`.
    pub(super) fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = der.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 3 || rest.len() < n {
                return None;
            }
            let (bytes, after) = rest.split_at(n);
            rest = after;
            bytes.iter().fold(0, |len, &b| len << 8 | usize::from(b))
        };
        if rest.len() < len {
            return None;
        }
        let (contents, rest) = rest.split_at(len);
        Some((tag, contents, rest))
    }

    /// The contents of the element of `tag` at the start of `der`, and the rest.
    fn expect(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        match element(der)? {
            (t, contents, rest) if t == tag => Some((contents, rest)),
            _ => None,
        }
    }

    /// The parts of a certificate verification reads.
    pub(super) struct Cert<'c> {
        /// TBSCertificate, header included: what the issuer signed.
        signed: &'c [u8],
        signature_algorithm: &'c [u8],
        signature: &'c [u8],
        validity: &'c [u8],
        subject: &'c [u8],
        /// subjectPublicKey (for P-256: an uncompressed point).
        key: &'c [u8],
        /// The Extensions SEQUENCE's contents (empty without).
        extensions: &'c [u8],
    }

    /// A BIT STRING's bytes (no unused bits allowed).
    fn bits(der: &[u8]) -> Option<(&[u8], &[u8])> {
        match expect(der, BIT_STRING)? {
            ([0, bits @ ..], rest) => Some((bits, rest)),
            _ => None,
        }
    }

    pub(super) fn parse(der: &[u8]) -> Option<Cert<'_>> {
        let (certificate, _) = expect(der, SEQUENCE)?;
        let (tbs, after_tbs) = expect(certificate, SEQUENCE)?;
        let signed = certificate.get(..certificate.len() - after_tbs.len())?;
        let (algorithm, rest) = expect(after_tbs, SEQUENCE)?;
        let (signature_algorithm, _) = expect(algorithm, OID)?;
        let (signature, _) = bits(rest)?;

        let mut rest = tbs;
        if let Some((VERSION, _, after)) = element(rest) {
            rest = after;
        }
        let (_serial, rest) = expect(rest, INTEGER)?;
        let (_algorithm, rest) = expect(rest, SEQUENCE)?;
        let (_issuer, rest) = expect(rest, SEQUENCE)?;
        let (validity, rest) = expect(rest, SEQUENCE)?;
        let (subject, rest) = expect(rest, SEQUENCE)?;
        let (spki, mut rest) = expect(rest, SEQUENCE)?;
        let (_key_algorithm, spki) = expect(spki, SEQUENCE)?;
        let (key, _) = bits(spki)?;
        let mut extensions: &[u8] = &[];
        while let Some((tag, contents, after)) = element(rest) {
            rest = after;
            if tag == EXTENSIONS {
                extensions = expect(contents, SEQUENCE)?.0;
            }
        }
        Some(Cert {
            signed,
            signature_algorithm,
            signature,
            validity,
            subject,
            key,
            extensions,
        })
    }

    impl<'c> Cert<'c> {
        /// The value of extension `oid` (the OCTET STRING's contents).
        fn extension(&self, oid: &[u8]) -> Option<&'c [u8]> {
            let mut list = self.extensions;
            while let Some((extension, rest)) = expect(list, SEQUENCE) {
                list = rest;
                let (id, mut fields) = expect(extension, OID)?;
                if let Some((BOOLEAN, _, after)) = element(fields) {
                    fields = after;
                }
                if id == oid {
                    return Some(expect(fields, OCTET_STRING)?.0);
                }
            }
            None
        }

        /// basicConstraints says `cA = TRUE`.
        pub(super) fn is_ca(&self) -> bool {
            self.extension(BASIC_CONSTRAINTS)
                .and_then(|value| expect(value, SEQUENCE))
                .and_then(|(fields, _)| expect(fields, BOOLEAN))
                .is_some_and(|(flag, _)| flag.first().is_some_and(|&b| b != 0))
        }

        /// No extendedKeyUsage, or one listing serverAuth or anyExtendedKeyUsage.
        pub(super) fn serves_tls(&self) -> bool {
            let Some(value) = self.extension(EXT_KEY_USAGE) else {
                return true;
            };
            let mut usages = expect(value, SEQUENCE).map_or(&[][..], |(list, _)| list);
            while let Some((usage, rest)) = expect(usages, OID) {
                usages = rest;
                if usage == SERVER_AUTH || usage == ANY_KEY_USAGE {
                    return true;
                }
            }
            false
        }

        #[cfg(test)]
        pub(super) fn valid_at_for_tests(&self, now: u64) -> bool {
            self.valid_at(now)
        }

        /// Whether `now` (Unix seconds) is within the validity period.
        fn valid_at(&self, now: u64) -> bool {
            let Some((not_before, rest)) = time(self.validity) else {
                return false;
            };
            let Some((not_after, _)) = time(rest) else {
                return false;
            };
            not_before <= now && now <= not_after
        }

        /// Whether the certificate names `server` (a DNS name, or an IPv4
        /// address): its subjectAltName entries when it has any, else the
        /// subject's common name.
        pub(super) fn names(&self, server: &str) -> bool {
            let ip = crate::resolve::parse_ipv4(server).map(|ip| ip.octets());
            if let Some(value) = self.extension(SUBJECT_ALT_NAME) {
                let mut names = expect(value, SEQUENCE).map_or(&[][..], |(list, _)| list);
                while let Some((tag, name, rest)) = element(names) {
                    names = rest;
                    let matched = match (tag, ip) {
                        (DNS_NAME, None) => dns_matches(name, server.as_bytes()),
                        (IP_ADDRESS, Some(ip)) => name == ip,
                        _ => false,
                    };
                    if matched {
                        return true;
                    }
                }
                return false;
            }
            ip.is_none()
                && common_name(self.subject).is_some_and(|cn| dns_matches(cn, server.as_bytes()))
        }
    }

    /// The first commonName of a Name.
    fn common_name(name: &[u8]) -> Option<&[u8]> {
        let mut rdns = name;
        while let Some((rdn, rest)) = expect(rdns, SET) {
            rdns = rest;
            let mut attributes = rdn;
            while let Some((attribute, rest)) = expect(attributes, SEQUENCE) {
                attributes = rest;
                let (oid, value) = expect(attribute, OID)?;
                if oid == COMMON_NAME {
                    return element(value).map(|(_, text, _)| text);
                }
            }
        }
        None
    }

    /// RFC 6125 matching: ASCII case-insensitive, `*` only as the whole
    /// leftmost label of a name of three labels or more, matching one label.
    pub(super) fn dns_matches(pattern: &[u8], host: &[u8]) -> bool {
        let valid = |name: &[u8], star: bool| {
            !name.is_empty()
                && name.iter().all(|&b| {
                    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || (star && b == b'*')
                })
        };
        if !valid(pattern, true) || !valid(host, false) {
            return false;
        }
        match pattern.strip_prefix(b"*.") {
            None => !pattern.contains(&b'*') && pattern.eq_ignore_ascii_case(host),
            Some(suffix) => {
                let labels = |name: &[u8]| name.iter().filter(|&&b| b == b'.').count();
                let Some(dot) = host.iter().position(|&b| b == b'.') else {
                    return false;
                };
                !suffix.contains(&b'*')
                    && labels(suffix) >= 1
                    && dot > 0
                    && host[dot + 1..].eq_ignore_ascii_case(suffix)
            }
        }
    }

    /// A UTCTime or GeneralizedTime (`...Z`) as Unix seconds, and the rest.
    fn time(der: &[u8]) -> Option<(u64, &[u8])> {
        let (tag, text, rest) = element(der)?;
        let (year, text) = match tag {
            UTC_TIME => {
                let yy = digits(text.get(..2)?)?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
            }
            GENERALIZED_TIME => (digits(text.get(..4)?)?, text.get(4..)?),
            _ => return None,
        };
        if text.len() != 11 || text[10] != b'Z' {
            return None;
        }
        let field = |i: usize| digits(&text[i..i + 2]);
        let (month, day) = (field(0)?, field(2)?);
        let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y / 400;
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = (era * 146_097 + doe).checked_sub(719_468)?;
        Some((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
    }

    fn digits(text: &[u8]) -> Option<u64> {
        text.iter().try_fold(0, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        })
    }

    /// An ECDSA-Sig-Value (DER `SEQUENCE { r, s }`) as the 64 bytes r ‖ s.
    fn signature(der: &[u8]) -> Option<Signature> {
        let (fields, _) = expect(der, SEQUENCE)?;
        let (r, rest) = expect(fields, INTEGER)?;
        let (s, _) = expect(rest, INTEGER)?;
        let mut rs = [0u8; 64];
        for (i, n) in [r, s].into_iter().enumerate() {
            let n = n.strip_prefix(&[0]).unwrap_or(n);
            let at = (i + 1) * 32;
            rs.get_mut(at.checked_sub(n.len())?..at)?.copy_from_slice(n);
        }
        Signature::from_slice(&rs).ok()
    }

    /// `signature` (DER) over `message` verifies with `key` (SEC1 point),
    /// ECDSA P-256 with SHA-256.
    pub(super) fn ecdsa_p256_verifies(key: &[u8], message: &[u8], signature_der: &[u8]) -> bool {
        match (VerifyingKey::from_sec1_bytes(key), signature(signature_der)) {
            (Ok(key), Some(signature)) => key.verify(message, &signature).is_ok(),
            _ => false,
        }
    }

    /// Verifies the chain the broker sent (leaf first) up to the CA (see the
    /// module documentation); the leaf's public key when it holds.
    pub(super) fn verify_chain<'c>(
        ca: &[u8],
        chain: impl DoubleEndedIterator<Item = &'c [u8]> + ExactSizeIterator,
        server: &str,
        now: Option<u64>,
    ) -> Result<([u8; 65], usize), TlsFailure> {
        let ca = parse(ca).ok_or(TlsFailure::CertificateNotTrusted)?;
        let count = chain.len();
        let mut issuer_key = ca.key;
        let mut leaf = None;
        // From the certificate the CA signed down to the leaf.
        for (i, der) in chain.rev().enumerate() {
            let cert = parse(der).ok_or(TlsFailure::CertificateNotTrusted)?;
            let signed = cert.signature_algorithm == ECDSA_SHA256
                && ecdsa_p256_verifies(issuer_key, cert.signed, cert.signature);
            let is_leaf = i + 1 == count;
            if !signed || (!is_leaf && !cert.is_ca()) {
                return Err(TlsFailure::CertificateNotTrusted);
            }
            if now.is_some_and(|now| !cert.valid_at(now)) {
                return Err(TlsFailure::CertificateExpired);
            }
            issuer_key = cert.key;
            if is_leaf {
                leaf = Some(cert);
            }
        }
        let leaf = leaf.ok_or(TlsFailure::NoCertificate)?;
        if !leaf.serves_tls() {
            return Err(TlsFailure::NotAServerCertificate);
        }
        if !leaf.names(server) {
            return Err(TlsFailure::NameMismatch);
        }
        let mut key = [0u8; 65];
        let len = leaf.key.len();
        key.get_mut(..len)
            .ok_or(TlsFailure::CertificateNotTrusted)?
            .copy_from_slice(leaf.key);
        Ok((key, len))
    }
}

#[cfg(test)]
mod tests {
    use std::vec::Vec;

    use super::x509;

    /// Builds a DER element.
    fn der(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = std::vec![tag];
        if contents.len() < 0x80 {
            out.push(contents.len() as u8);
        } else {
            out.extend([0x82, (contents.len() >> 8) as u8, contents.len() as u8]);
        }
        out.extend_from_slice(contents);
        out
    }

    /// A certificate with this subject CN, validity and extensions (no
    /// valid signature: the structure is what these tests read).
    fn cert(cn: &str, validity: &[u8], extensions: &[Vec<u8>]) -> Vec<u8> {
        let cn_attribute = der(
            0x30,
            &[der(0x06, &[0x55, 4, 3]), der(0x0c, cn.as_bytes())].concat(),
        );
        let subject = der(0x30, &der(0x31, &cn_attribute));
        let spki = der(
            0x30,
            &[
                der(0x30, &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1])),
                der(0x03, &[0, 4, 1, 2]),
            ]
            .concat(),
        );
        let mut tbs = [
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &[1, 2, 3]),
            der(0x30, &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2])),
            subject.clone(),
            der(0x30, validity),
            subject,
            spki,
        ]
        .concat();
        if !extensions.is_empty() {
            tbs.extend(der(0xa3, &der(0x30, &extensions.concat())));
        }
        let algorithm = der(0x30, &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2]));
        der(
            0x30,
            &[der(0x30, &tbs), algorithm, der(0x03, &[0, 0x30, 0])].concat(),
        )
    }

    fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
        let mut fields = der(0x06, oid);
        if critical {
            fields.extend(der(0x01, &[0xff]));
        }
        fields.extend(der(0x04, value));
        der(0x30, &fields)
    }

    fn validity(from: &str, to: &str) -> Vec<u8> {
        [der(0x17, from.as_bytes()), der(0x18, to.as_bytes())].concat()
    }

    const ALWAYS: (&str, &str) = ("000101000000Z", "99991231235959Z");

    fn plain(extensions: &[Vec<u8>]) -> Vec<u8> {
        cert("broker", &validity(ALWAYS.0, ALWAYS.1), extensions)
    }

    #[test]
    fn basic_constraints_read() {
        let ca = extension(&[0x55, 0x1d, 0x13], true, &der(0x30, &der(0x01, &[0xff])));
        let not_ca = extension(&[0x55, 0x1d, 0x13], false, &der(0x30, &[]));
        assert!(x509::parse(&plain(&[ca])).unwrap().is_ca());
        assert!(!x509::parse(&plain(&[not_ca])).unwrap().is_ca());
        assert!(!x509::parse(&plain(&[])).unwrap().is_ca());
        assert!(x509::parse(b"\x30\x05garbage").is_none());
    }

    #[test]
    fn server_use_read() {
        let eku = |oids: &[&[u8]]| {
            let list: Vec<u8> = oids.iter().flat_map(|oid| der(0x06, oid)).collect();
            extension(&[0x55, 0x1d, 0x25], false, &der(0x30, &list))
        };
        let server: &[u8] = &[0x2b, 6, 1, 5, 5, 7, 3, 1];
        let client: &[u8] = &[0x2b, 6, 1, 5, 5, 7, 3, 2];
        let serves = |extensions: &[Vec<u8>]| x509::parse(&plain(extensions)).unwrap().serves_tls();
        assert!(serves(&[]));
        assert!(serves(&[eku(&[client, server])]));
        assert!(serves(&[eku(&[&[0x55, 0x1d, 0x25, 0]])]));
        assert!(!serves(&[eku(&[client])]));
    }

    #[test]
    fn names_read_from_alt_names_else_common_name() {
        let san = |names: &[(u8, &[u8])]| {
            let list: Vec<u8> = names
                .iter()
                .flat_map(|(tag, name)| der(*tag, name))
                .collect();
            extension(&[0x55, 0x1d, 0x11], false, &der(0x30, &list))
        };
        let with_san = plain(&[san(&[(0x82, b"localhost"), (0x87, &[127, 0, 0, 1])])]);
        let c = x509::parse(&with_san).unwrap();
        assert!(c.names("localhost") && c.names("LOCALHOST") && c.names("127.0.0.1"));
        // With alt names the common name does not count.
        assert!(!c.names("broker") && !c.names("127.0.0.2") && !c.names("other"));
        let c_der = plain(&[]);
        let c = x509::parse(&c_der).unwrap();
        assert!(c.names("broker") && !c.names("127.0.0.1"));
    }

    #[test]
    fn wildcards_as_rfc_6125() {
        assert!(x509::dns_matches(b"*.kafka.example", b"b1.kafka.example"));
        assert!(x509::dns_matches(b"*.kafka.example", b"B1.KAFKA.example"));
        assert!(!x509::dns_matches(b"*.kafka.example", b"kafka.example"));
        assert!(!x509::dns_matches(
            b"*.kafka.example",
            b"a.b1.kafka.example"
        ));
        assert!(!x509::dns_matches(b"*.example", b"kafka.example"));
        assert!(!x509::dns_matches(b"b*.kafka.example", b"b1.kafka.example"));
        assert!(!x509::dns_matches(b"*.*.example", b"a.b.example"));
        assert!(!x509::dns_matches(b"kafka.example", b"kafka.example."));
        assert!(!x509::dns_matches(b"kafka.example", b"*.example"));
    }

    #[test]
    fn validity_read_from_both_time_forms() {
        // 2026-01-01T00:00:00Z = 1767225600.
        let cert = cert("b", &validity("260101000000Z", "20260101000010Z"), &[]);
        let chain_of = |now| {
            // Parsing is what is tested: the CA key does not verify anything.
            let c = x509::parse(&cert).unwrap();
            c.valid_at_for_tests(now)
        };
        assert!(!chain_of(1_767_225_599));
        assert!(chain_of(1_767_225_600));
        assert!(chain_of(1_767_225_610));
        assert!(!chain_of(1_767_225_611));
    }
}
