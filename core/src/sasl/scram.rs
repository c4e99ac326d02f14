//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka uses them.
//!
//! ```text
//! client-first  n,,n=<user>,r=<client nonce>
//! server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=biws,r=<nonce>,p=<base64 ClientProof>
//! server-final  v=<base64 ServerSignature>   (or e=<error>)
//! ```
//!
//! `SaltedPassword = PBKDF2-HMAC-H(password, salt, i)`, `ClientKey =
//! HMAC(SaltedPassword, "Client Key")`, `StoredKey = H(ClientKey)`,
//! `ServerKey = HMAC(SaltedPassword, "Server Key")`; with `AuthMessage` the
//! three first messages joined by commas (the last without its proof),
//! `ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)` and
//! `ServerSignature = HMAC(ServerKey, AuthMessage)`. Neither side stores the
//! messages: each feeds them to the HMACs as they pass.

use core::fmt;

use heapless::{String, Vec};

use super::crypto::{self, Key, RunningMac, MAX_DIGEST_LEN};
use super::{
    ClientMechanism, Failure, Mechanism, Progress, Rejection, SaslError, ScramError, ServerStep,
};
use super::{MAX_USER_LEN, OUT_OF_ORDER};
use crate::error::{Error, Result};
use crate::wire::Writer;
use crate::Limit;

/// Kafka's minimum SCRAM iteration count (`ScramMechanism.minIterations`):
/// clients refuse a server asking for fewer, credentials cannot have fewer.
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka's maximum SCRAM iteration count for stored credentials (KIP-554);
/// clients refuse more, which bounds the PBKDF2 work a server can demand
/// (16,384 rounds of HMAC-SHA-512 is seconds on a microcontroller).
pub const MAX_ITERATIONS: u32 = 16_384;
/// Longest whole nonce (client part and server part), in characters.
pub const MAX_NONCE_LEN: usize = 128;
/// Longest nonce one side contributes, in characters.
pub const MAX_OWN_NONCE_LEN: usize = 64;
/// Fewest random bytes a nonce is made from (128 bits; Kafka uses 130).
pub const MIN_NONCE_RANDOM_LEN: usize = 16;
/// Most random bytes a nonce is made from (their base64 fills [`MAX_OWN_NONCE_LEN`]).
pub const MAX_NONCE_RANDOM_LEN: usize = 48;
/// Longest salt, in bytes (Kafka's are about 26).
pub const MAX_SALT_LEN: usize = 64;

/// The hash of a SCRAM mechanism.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ScramHash {
    /// SHA-256: `SCRAM-SHA-256`.
    Sha256,
    /// SHA-512: `SCRAM-SHA-512`.
    Sha512,
}

impl ScramHash {
    /// The mechanism using this hash.
    pub const fn mechanism(self) -> Mechanism {
        match self {
            ScramHash::Sha256 => Mechanism::ScramSha256,
            ScramHash::Sha512 => Mechanism::ScramSha512,
        }
    }

    /// Bytes in a digest (and so in every key, proof and signature): 32 or 64.
    pub const fn digest_len(self) -> usize {
        match self {
            ScramHash::Sha256 => 32,
            ScramHash::Sha512 => 64,
        }
    }
}

fn too_large(size: usize, limit: usize) -> Error {
    Error::TooLarge {
        what: Limit::Field,
        size,
        limit,
    }
}

/// A nonce character: printable ASCII but `,` (RFC 5802).
fn is_nonce_char(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b','
}

fn check_own_nonce(nonce: &str) -> Result<()> {
    if nonce.len() > MAX_OWN_NONCE_LEN {
        return Err(too_large(nonce.len(), MAX_OWN_NONCE_LEN));
    }
    if nonce.is_empty() || !nonce.bytes().all(is_nonce_char) {
        return Err(Error::Malformed(
            "SCRAM nonce must be printable ASCII without ','",
        ));
    }
    Ok(())
}

/// Base64 text of `random` as a nonce.
fn nonce_from_random(random: &[u8]) -> Result<String<MAX_OWN_NONCE_LEN>> {
    if random.len() > MAX_NONCE_RANDOM_LEN {
        return Err(too_large(random.len(), MAX_NONCE_RANDOM_LEN));
    }
    if random.len() < MIN_NONCE_RANDOM_LEN {
        return Err(Error::Malformed(
            "SCRAM nonce needs at least 16 random bytes",
        ));
    }
    let mut text = [0u8; MAX_OWN_NONCE_LEN];
    let n = crypto::nonce_text(random, &mut text)?;
    let text = core::str::from_utf8(&text[..n]).map_err(|_| Error::InvalidUtf8)?;
    String::try_from(text).map_err(|_| too_large(n, MAX_OWN_NONCE_LEN))
}

/// Calls `f` with the pieces of `name` with `,` as `=2C` and `=` as `=3D`
/// (RFC 5802 `saslname`).
fn escaped<E>(name: &str, mut f: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
    let bytes = name.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b',' => b"=2C",
            b'=' => b"=3D",
            _ => continue,
        };
        f(&bytes[start..i])?;
        f(escape)?;
        start = i + 1;
    }
    f(&bytes[start..])
}

/// Reads an RFC 5802 `saslname` (`=2C` and `=3D` escapes) into a name.
fn unescape(saslname: &[u8]) -> Result<String<MAX_USER_LEN>> {
    let mut name: Vec<u8, MAX_USER_LEN> = Vec::new();
    let mut i = 0;
    while let Some(&b) = saslname.get(i) {
        let (byte, width) = match b {
            b'=' => match saslname.get(i + 1..i + 3) {
                Some(b"2C") => (b',', 3),
                Some(b"3D") => (b'=', 3),
                _ => return Err(Error::Malformed("SCRAM name has an invalid '=' escape")),
            },
            b',' | 0 => return Err(Error::Malformed("SCRAM name has a ',' or NUL")),
            b => (b, 1),
        };
        name.push(byte)
            .map_err(|_| too_large(saslname.len(), MAX_USER_LEN))?;
        i += width;
    }
    String::from_utf8(name).map_err(|_| Error::InvalidUtf8)
}

fn check_user(user: &str) -> Result<()> {
    if user.len() > MAX_USER_LEN {
        return Err(too_large(user.len(), MAX_USER_LEN));
    }
    if user.is_empty() || user.contains('\0') {
        return Err(Error::Malformed("SASL user name is empty or has a NUL"));
    }
    Ok(())
}

/// The `x=value` attributes of a SCRAM message, comma-separated.
struct Attributes<'m> {
    rest: Option<&'m [u8]>,
}

const BAD_ATTRIBUTE: Error =
    Error::Malformed("SCRAM attribute is not x=value in the expected order");

impl<'m> Attributes<'m> {
    fn new(message: &'m [u8]) -> Self {
        Attributes {
            rest: Some(message),
        }
    }

    fn next_attr(&mut self) -> Result<Option<(u8, &'m [u8])>> {
        let Some(rest) = self.rest else {
            return Ok(None);
        };
        let (attr, after) = match rest.iter().position(|&b| b == b',') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        self.rest = after;
        match attr {
            [name, b'=', value @ ..] if name.is_ascii_alphabetic() => Ok(Some((*name, value))),
            _ => Err(BAD_ATTRIBUTE),
        }
    }

    /// The next attribute's value; it must be `name`.
    fn expect(&mut self, name: u8) -> Result<&'m [u8]> {
        match self.next_attr()? {
            Some((n, value)) if n == name => Ok(value),
            _ => Err(BAD_ATTRIBUTE),
        }
    }

    /// Checks that what is left is well-formed optional extensions (ignored,
    /// as Kafka ignores those it does not support).
    fn extensions(&mut self) -> Result<()> {
        while self.next_attr()?.is_some() {}
        Ok(())
    }
}

/// Reads a decimal iteration count.
fn parse_iterations(text: &[u8]) -> Result<u32, SaslError<'static>> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return Err(Error::Malformed("SCRAM iteration count is not a number").into());
    }
    text.iter()
        .try_fold(0u32, |n, d| {
            n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
        .ok_or(SaslError::Rejected(Rejection::IterationCount(u32::MAX)))
}

fn put_decimal(w: &mut Writer<'_>, mut n: u32) -> Result<()> {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    w.put(&digits[i..])
}

/// `a XOR b`, over `a`'s length (both are one digest long).
fn xor(a: &Key, b: &Key) -> Key {
    let mut bytes = [0u8; MAX_DIGEST_LEN];
    for ((out, x), y) in bytes.iter_mut().zip(a.as_slice()).zip(b.as_slice()) {
        *out = x ^ y;
    }
    Key::from_slice(&bytes[..a.as_slice().len()]).unwrap_or(*a)
}

/// A salt in base64 decoded, at most [`MAX_SALT_LEN`] bytes, not empty.
fn decode_salt<'b>(text: &[u8], buf: &'b mut [u8; MAX_SALT_LEN + 2]) -> Result<&'b [u8]> {
    let limit = too_large(text.len().div_ceil(4) * 3, MAX_SALT_LEN);
    let n = crypto::decode_b64(text, buf, limit)?;
    match n {
        0 => Err(Error::Malformed("SCRAM salt is empty")),
        n if n > MAX_SALT_LEN => Err(too_large(n, MAX_SALT_LEN)),
        n => Ok(&buf[..n]),
    }
}

/// SCRAM's client side: one exchange for one user.
///
/// The user name and password are borrowed; the client nonce comes from the
/// caller's random bytes ([`new`](Self::new)). PBKDF2 runs inside
/// [`receive`](Self::receive) of the server-first message: 4,096 rounds of
/// HMAC-SHA-256 take well under a second on a Cortex-M4, SHA-512 and more
/// rounds proportionally longer.
#[derive(Clone)]
pub struct ScramClient<'a> {
    hash: ScramHash,
    user: &'a str,
    password: &'a str,
    nonce: String<MAX_OWN_NONCE_LEN>,
    state: ClientState,
}

#[derive(Clone, Debug)]
// A few hundred bytes in `Final`; there is no heap to box them into.
#[allow(clippy::large_enum_variant)]
enum ClientState {
    /// client-first is due.
    First,
    /// client-final is due; the server's signature is awaited.
    Final {
        nonce: String<MAX_NONCE_LEN>,
        proof: Key,
        server_signature: Key,
    },
    Complete,
    Failed,
}

impl<'a> ScramClient<'a> {
    /// A client for `user` with `password`, whose nonce is the base64 of
    /// `random` ([`MIN_NONCE_RANDOM_LEN`]..=[`MAX_NONCE_RANDOM_LEN`] bytes
    /// from a cryptographic random source; never reuse them).
    ///
    /// Errors: [`Error::TooLarge`] for a user name over [`MAX_USER_LEN`]
    /// bytes or too many random bytes, [`Error::Malformed`] for an empty user
    /// name, one with a NUL, or too few random bytes.
    pub fn new(hash: ScramHash, user: &'a str, password: &'a str, random: &[u8]) -> Result<Self> {
        check_user(user)?;
        Ok(ScramClient {
            hash,
            user,
            password,
            nonce: nonce_from_random(random)?,
            state: ClientState::First,
        })
    }

    /// Like [`new`](Self::new) with the nonce given as text (printable ASCII
    /// but `,`, at most [`MAX_OWN_NONCE_LEN`]): for test vectors and
    /// interoperability checks.
    pub fn with_nonce(
        hash: ScramHash,
        user: &'a str,
        password: &'a str,
        nonce: &str,
    ) -> Result<Self> {
        check_user(user)?;
        check_own_nonce(nonce)?;
        Ok(ScramClient {
            hash,
            user,
            password,
            nonce: String::try_from(nonce)
                .map_err(|_| too_large(nonce.len(), MAX_OWN_NONCE_LEN))?,
            state: ClientState::First,
        })
    }

    /// The hash (and so the mechanism).
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    /// The client's own nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    fn server_first(&self, message: &[u8]) -> Result<ClientState, SaslError<'static>> {
        let mut attrs = Attributes::new(message);
        let nonce = match attrs.next_attr()? {
            Some((b'r', nonce)) => nonce,
            Some((b'm', _)) => {
                return Err(Error::Malformed("SCRAM mandatory extension not supported").into())
            }
            _ => return Err(BAD_ATTRIBUTE.into()),
        };
        let salt_text = attrs.expect(b's')?;
        let iterations_text = attrs.expect(b'i')?;
        attrs.extensions()?;

        if nonce.len() > MAX_NONCE_LEN {
            return Err(too_large(nonce.len(), MAX_NONCE_LEN).into());
        }
        if !nonce.iter().all(|&b| is_nonce_char(b)) {
            return Err(Error::Malformed("SCRAM server nonce is not printable").into());
        }
        if !nonce.starts_with(self.nonce.as_bytes()) || nonce.len() == self.nonce.len() {
            return Err(SaslError::Rejected(Rejection::Nonce));
        }
        let iterations = parse_iterations(iterations_text)?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(SaslError::Rejected(Rejection::IterationCount(iterations)));
        }
        let mut salt_buf = [0u8; MAX_SALT_LEN + 2];
        let salt = decode_salt(salt_text, &mut salt_buf)?;

        let hash = self.hash;
        let salted = crypto::salted_password(hash, self.password.as_bytes(), salt, iterations)?;
        let client_key = crypto::hmac(hash, salted.as_slice(), &[b"Client Key"])?;
        let stored_key = crypto::digest(hash, client_key.as_slice());
        let server_key = crypto::hmac(hash, salted.as_slice(), &[b"Server Key"])?;

        // AuthMessage = client-first-bare "," server-first "," client-final-without-proof
        let mut client_mac = RunningMac::new(hash, stored_key.as_slice())?;
        let mut server_mac = RunningMac::new(hash, server_key.as_slice())?;
        let mut feed = |piece: &[u8]| -> Result<()> {
            client_mac.update(piece);
            server_mac.update(piece);
            Ok(())
        };
        feed(b"n=")?;
        escaped(self.user, &mut feed)?;
        for piece in [
            b",r=",
            self.nonce.as_bytes(),
            b",",
            message,
            b",c=biws,r=",
            nonce,
        ] {
            feed(piece)?;
        }
        let client_signature = client_mac.finish();
        let nonce = core::str::from_utf8(nonce).map_err(|_| Error::InvalidUtf8)?;
        Ok(ClientState::Final {
            nonce: String::try_from(nonce).map_err(|_| too_large(nonce.len(), MAX_NONCE_LEN))?,
            proof: xor(&client_key, &client_signature),
            server_signature: server_mac.finish(),
        })
    }
}

impl ClientMechanism for ScramClient<'_> {
    fn mechanism(&self) -> Mechanism {
        self.hash.mechanism()
    }

    /// True once the server's signature has been verified.
    fn is_complete(&self) -> bool {
        matches!(self.state, ClientState::Complete)
    }

    /// Writes the message due: client-first (`n,,n=<user>,r=<nonce>`), then,
    /// after the server-first message, client-final
    /// (`c=biws,r=<nonce>,p=<proof>`). Returns its length.
    ///
    /// Errors: [`Error::BufferTooSmall`], or [`Error::Malformed`] when no
    /// message is due.
    fn message(&self, out: &mut [u8]) -> Result<usize, SaslError<'static>> {
        let mut w = Writer::new(out);
        match &self.state {
            ClientState::First => {
                w.put(b"n,,n=")?;
                escaped(self.user, |piece| w.put(piece))?;
                w.put(b",r=")?;
                w.put(self.nonce.as_bytes())?;
            }
            ClientState::Final { nonce, proof, .. } => {
                w.put(b"c=biws,r=")?;
                w.put(nonce.as_bytes())?;
                w.put(b",p=")?;
                crypto::put_b64(&mut w, proof.as_slice())?;
            }
            ClientState::Complete | ClientState::Failed => return Err(OUT_OF_ORDER.into()),
        }
        Ok(w.position())
    }

    /// Reads the server-first message (then [`Progress::Continue`]: the
    /// client-final message is due) or the server-final message (then
    /// [`Progress::Complete`]).
    ///
    /// Errors: [`Rejection::Nonce`] when the server's nonce does not extend
    /// the client's, [`Rejection::IterationCount`] outside
    /// [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`], [`Rejection::ServerError`] for
    /// `e=`, [`Rejection::ServerSignature`] when `v=` is not the signature the
    /// password gives; [`Error::Malformed`]/[`Error::TooLarge`] for messages
    /// that do not parse or are over a limit (nonce, salt). Any error ends
    /// the exchange.
    fn receive(&mut self, server: &[u8]) -> Result<Progress, SaslError<'static>> {
        let result = match &self.state {
            ClientState::First => self.server_first(server),
            ClientState::Final {
                server_signature, ..
            } => server_final(server, server_signature),
            ClientState::Complete | ClientState::Failed => Err(OUT_OF_ORDER.into()),
        };
        match result {
            Ok(next) => {
                let complete = matches!(next, ClientState::Complete);
                self.state = next;
                Ok(if complete {
                    Progress::Complete
                } else {
                    Progress::Continue
                })
            }
            Err(e) => {
                self.state = ClientState::Failed;
                Err(e)
            }
        }
    }
}

/// Reads server-final: `v=<signature>` checked against `expected`, or `e=<error>`.
fn server_final(message: &[u8], expected: &Key) -> Result<ClientState, SaslError<'static>> {
    let mut attrs = Attributes::new(message);
    match attrs.next_attr()? {
        Some((b'e', value)) => Err(SaslError::Rejected(Rejection::ServerError(
            ScramError::parse(value),
        ))),
        Some((b'v', text)) => {
            attrs.extensions()?;
            let mut signature = [0u8; MAX_DIGEST_LEN + 2];
            let limit = too_large(text.len().div_ceil(4) * 3, MAX_DIGEST_LEN);
            let n = crypto::decode_b64(text, &mut signature, limit)?;
            if expected.ct_eq(&signature[..n]) {
                Ok(ClientState::Complete)
            } else {
                Err(SaslError::Rejected(Rejection::ServerSignature))
            }
        }
        _ => Err(BAD_ATTRIBUTE.into()),
    }
}

impl fmt::Debug for ScramClient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("nonce", &self.nonce)
            .field("state", &self.state)
            .finish()
    }
}

/// What a SCRAM server stores for one user and one mechanism: never the
/// password (RFC 5802 §2.2; Kafka's `ScramCredential`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramCredential {
    hash: ScramHash,
    salt: Vec<u8, MAX_SALT_LEN>,
    iterations: u32,
    stored_key: Key,
    server_key: Key,
}

impl ScramCredential {
    /// A credential from its parts (as kept in a credential store).
    ///
    /// Errors: [`Error::TooLarge`] for a salt over [`MAX_SALT_LEN`],
    /// [`Error::Malformed`] for an empty salt, an iteration count outside
    /// [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`], or keys that are not
    /// [`ScramHash::digest_len`] bytes.
    pub fn new(
        hash: ScramHash,
        salt: &[u8],
        iterations: u32,
        stored_key: &[u8],
        server_key: &[u8],
    ) -> Result<Self> {
        if salt.is_empty() {
            return Err(Error::Malformed("SCRAM salt is empty"));
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(Error::Malformed(
                "SCRAM iteration count outside 4096..=16384",
            ));
        }
        let key = |bytes: &[u8]| {
            Key::from_slice(bytes)
                .filter(|_| bytes.len() == hash.digest_len())
                .ok_or(Error::Malformed("SCRAM key is not one digest long"))
        };
        Ok(ScramCredential {
            hash,
            salt: Vec::from_slice(salt).map_err(|_| too_large(salt.len(), MAX_SALT_LEN))?,
            iterations,
            stored_key: key(stored_key)?,
            server_key: key(server_key)?,
        })
    }

    /// Derives the credential of `password` (for configuring a server):
    /// `StoredKey` and `ServerKey` from PBKDF2 of the password with `salt`
    /// (random bytes, a fresh salt per user) and `iterations`.
    ///
    /// Errors: as [`new`](Self::new).
    pub fn derive(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Result<Self> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(Error::Malformed(
                "SCRAM iteration count outside 4096..=16384",
            ));
        }
        if salt.len() > MAX_SALT_LEN {
            return Err(too_large(salt.len(), MAX_SALT_LEN));
        }
        let salted = crypto::salted_password(hash, password.as_bytes(), salt, iterations)?;
        let client_key = crypto::hmac(hash, salted.as_slice(), &[b"Client Key"])?;
        let stored_key = crypto::digest(hash, client_key.as_slice());
        let server_key = crypto::hmac(hash, salted.as_slice(), &[b"Server Key"])?;
        Self::new(
            hash,
            salt,
            iterations,
            stored_key.as_slice(),
            server_key.as_slice(),
        )
    }

    /// The hash (and so the mechanism) this credential is for.
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The PBKDF2 iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// `StoredKey = H(HMAC(SaltedPassword, "Client Key"))`.
    pub fn stored_key(&self) -> &[u8] {
        self.stored_key.as_slice()
    }

    /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
    pub fn server_key(&self) -> &[u8] {
        self.server_key.as_slice()
    }
}

/// SCRAM's server side: one exchange, credentials from the caller.
///
/// [`step`](Self::step) reads client-first (looking the user up) and answers
/// server-first, then reads client-final, checks the proof and answers
/// server-final. Failures are answers too ([`ServerStep::Failure`]): Kafka's
/// broker sends SASL_AUTHENTICATION_FAILED with
/// [`Failure::kafka_message`]; an RFC 5802 server sends the `e=` bytes
/// written into `out`.
#[derive(Clone, Debug)]
pub struct ScramServer {
    hash: ScramHash,
    suffix: String<MAX_OWN_NONCE_LEN>,
    user: String<MAX_USER_LEN>,
    state: ServerState,
}

#[derive(Clone, Debug)]
// The pending HMACs are a few hundred bytes; there is no heap to box them into.
#[allow(clippy::large_enum_variant)]
enum ServerState {
    First,
    Final(Pending),
    Complete,
    Failed,
}

/// What the server keeps between server-first and client-final.
#[derive(Clone, Debug)]
struct Pending {
    nonce: String<MAX_NONCE_LEN>,
    /// The GS2 header's channel-binding flag (`n` or `y`).
    gs2_flag: u8,
    /// The GS2 header named an authorization id (equal to the user).
    authzid: bool,
    stored_key: Key,
    /// HMAC(StoredKey, AuthMessage so far).
    client_mac: RunningMac,
    /// HMAC(ServerKey, AuthMessage so far).
    server_mac: RunningMac,
}

/// Longest GS2 header: `n,a=` + a fully escaped longest name + `,`.
const MAX_GS2_LEN: usize = 5 + 3 * MAX_USER_LEN;

impl ScramServer {
    /// A server whose nonce part is the base64 of `random`
    /// ([`MIN_NONCE_RANDOM_LEN`]..=[`MAX_NONCE_RANDOM_LEN`] fresh random bytes).
    ///
    /// Errors: as [`ScramClient::new`] for the random bytes.
    pub fn new(hash: ScramHash, random: &[u8]) -> Result<Self> {
        Ok(Self::with_suffix(hash, nonce_from_random(random)?))
    }

    /// Like [`new`](Self::new) with the server's nonce part given as text
    /// (for test vectors).
    pub fn with_nonce(hash: ScramHash, nonce: &str) -> Result<Self> {
        check_own_nonce(nonce)?;
        let suffix =
            String::try_from(nonce).map_err(|_| too_large(nonce.len(), MAX_OWN_NONCE_LEN))?;
        Ok(Self::with_suffix(hash, suffix))
    }

    fn with_suffix(hash: ScramHash, suffix: String<MAX_OWN_NONCE_LEN>) -> Self {
        ScramServer {
            hash,
            suffix,
            user: String::new(),
            state: ServerState::First,
        }
    }

    /// The hash (and so the mechanism).
    pub fn hash(&self) -> ScramHash {
        self.hash
    }

    /// The authenticated user, once the proof is checked.
    pub fn user(&self) -> Option<&str> {
        matches!(self.state, ServerState::Complete).then_some(self.user.as_str())
    }

    /// True once the client is authenticated.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, ServerState::Complete)
    }

    /// Reads the client's message and writes the answer into `out`.
    ///
    /// For client-first, `lookup` is asked for the user's credential (it is
    /// not called for client-final). Returns [`ServerStep::Challenge`] with
    /// server-first, [`ServerStep::Success`] with server-final (`v=`), or
    /// [`ServerStep::Failure`] with `e=<error>` when the client fails (as
    /// Kafka's `ScramSaslServer`: unknown user, an authorization id that is
    /// not the user, a wrong proof, a changed nonce, a malformed message);
    /// after a failure every step is [`Failure::IllegalState`].
    ///
    /// Errors (the caller's, the exchange is unchanged):
    /// [`Error::BufferTooSmall`] when the answer does not fit in `out`.
    pub fn step(
        &mut self,
        client: &[u8],
        out: &mut [u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<ServerStep> {
        let result = match &self.state {
            ServerState::First => self
                .client_first(client, out, lookup)
                .map(ServerStep::Challenge),
            ServerState::Final(pending) => {
                match client_final(self.hash, pending, &self.user, client, out) {
                    Ok(len) => {
                        self.state = ServerState::Complete;
                        Ok(ServerStep::Success(len))
                    }
                    Err(failure) => Err(failure),
                }
            }
            ServerState::Complete | ServerState::Failed => Err(Failure::IllegalState),
        };
        match result {
            Ok(step) => Ok(step),
            Err(Failure::Invalid(Error::BufferTooSmall)) => Err(Error::BufferTooSmall),
            Err(failure) => {
                self.state = ServerState::Failed;
                let mut w = Writer::new(out);
                let written = w
                    .put(b"e=")
                    .and_then(|()| w.put(failure.scram_error().as_str().as_bytes()));
                let len = if written.is_ok() { w.position() } else { 0 };
                Ok(ServerStep::Failure { failure, len })
            }
        }
    }

    fn client_first(
        &mut self,
        message: &[u8],
        out: &mut [u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<usize, Failure> {
        const GS2: Failure = Failure::Invalid(Error::Malformed(
            "SCRAM client-first must start with a GS2 header n, or y, (no channel binding)",
        ));
        let (gs2_flag, rest) = match message {
            [flag @ (b'n' | b'y'), b',', rest @ ..] => (*flag, rest),
            _ => return Err(GS2),
        };
        let comma = rest.iter().position(|&b| b == b',').ok_or(GS2)?;
        let authzid = match &rest[..comma] {
            [] => None,
            [b'a', b'=', name @ ..] => Some(name),
            _ => return Err(GS2),
        };
        let bare = &rest[comma + 1..];
        let mut attrs = Attributes::new(bare);
        let saslname = match attrs.next_attr().map_err(Failure::Invalid)? {
            Some((b'n', name)) => name,
            Some((b'm', _)) => {
                return Err(Failure::Invalid(Error::Malformed(
                    "SCRAM mandatory extension not supported",
                )))
            }
            _ => return Err(Failure::Invalid(BAD_ATTRIBUTE)),
        };
        let client_nonce = attrs.expect(b'r').map_err(Failure::Invalid)?;
        attrs.extensions().map_err(Failure::Invalid)?;

        let user = unescape(saslname).map_err(Failure::Invalid)?;
        if user.is_empty() {
            return Err(Failure::Invalid(Error::Malformed(
                "SCRAM user name is empty",
            )));
        }
        let client_nonce =
            core::str::from_utf8(client_nonce).map_err(|_| Failure::Invalid(Error::InvalidUtf8))?;
        check_own_nonce(client_nonce).map_err(Failure::Invalid)?;

        // Kafka's order: the credential first, then the authorization id.
        let credential = lookup(&user)
            .filter(|c| c.hash == self.hash)
            .ok_or(Failure::UnknownUser)?;
        if let Some(authzid) = authzid {
            if unescape(authzid).map_err(Failure::Invalid)? != user {
                return Err(Failure::AuthorizationId);
            }
        }

        let mut nonce: String<MAX_NONCE_LEN> = String::new();
        // Cannot fail: both parts are at most MAX_OWN_NONCE_LEN.
        let _ = nonce.push_str(client_nonce);
        let _ = nonce.push_str(&self.suffix);

        let mut w = Writer::new(out);
        let written = (|| {
            w.put(b"r=")?;
            w.put(nonce.as_bytes())?;
            w.put(b",s=")?;
            crypto::put_b64(&mut w, &credential.salt)?;
            w.put(b",i=")?;
            put_decimal(&mut w, credential.iterations)
        })();
        written.map_err(Failure::Invalid)?;
        let len = w.position();
        let server_first = &out[..len];

        let hash = self.hash;
        let mac = |key: &Key| RunningMac::new(hash, key.as_slice()).map_err(Failure::Invalid);
        let mut client_mac = mac(&credential.stored_key)?;
        let mut server_mac = mac(&credential.server_key)?;
        for piece in [bare, b",", server_first, b","] {
            client_mac.update(piece);
            server_mac.update(piece);
        }
        self.user = user;
        self.state = ServerState::Final(Pending {
            nonce,
            gs2_flag,
            authzid: authzid.is_some(),
            stored_key: credential.stored_key,
            client_mac,
            server_mac,
        });
        Ok(len)
    }
}

/// Checks client-final against `pending` and writes server-final.
fn client_final(
    hash: ScramHash,
    pending: &Pending,
    user: &str,
    message: &[u8],
    out: &mut [u8],
) -> Result<usize, Failure> {
    // The proof is the last attribute and base64 has no ',': it follows the last comma.
    let comma = message
        .iter()
        .rposition(|&b| b == b',')
        .ok_or(Failure::Invalid(BAD_ATTRIBUTE))?;
    let (without_proof, proof_attr) = (&message[..comma], &message[comma + 1..]);
    let proof_text = proof_attr
        .strip_prefix(b"p=")
        .ok_or(Failure::Invalid(BAD_ATTRIBUTE))?;
    let mut attrs = Attributes::new(without_proof);
    let binding = attrs.expect(b'c').map_err(Failure::Invalid)?;
    let nonce = attrs.expect(b'r').map_err(Failure::Invalid)?;
    attrs.extensions().map_err(Failure::Invalid)?;

    // c= is the base64 of the GS2 header (no channel binding data follows it).
    let mut gs2 = [0u8; MAX_GS2_LEN + 3];
    let limit = too_large(binding.len(), crypto::b64_len(MAX_GS2_LEN));
    let n = crypto::decode_b64(binding, &mut gs2, limit).map_err(Failure::Invalid)?;
    let mut rest = &gs2[..n];
    let mut eat = |piece: &[u8]| match rest.strip_prefix(piece) {
        Some(after) => {
            rest = after;
            Ok(())
        }
        None => Err(Failure::ChannelBinding),
    };
    eat(&[pending.gs2_flag, b','])?;
    if pending.authzid {
        eat(b"a=")?;
        escaped(user, &mut eat)?;
    }
    eat(b",")?;
    if !rest.is_empty() {
        return Err(Failure::ChannelBinding);
    }

    // Kafka's ScramSaslServer accepts a final nonce that *ends with* the
    // combined one (`endsWith`), not only an equal one: librdkafka before 2.1
    // sends its own nonce twice (`r=<client><client><server>`). The proof
    // covers the message as sent, so nothing is weakened.
    if !nonce.ends_with(pending.nonce.as_bytes()) {
        return Err(Failure::Nonce);
    }
    let mut proof = [0u8; MAX_DIGEST_LEN + 2];
    let limit = too_large(proof_text.len().div_ceil(4) * 3, MAX_DIGEST_LEN);
    let n = crypto::decode_b64(proof_text, &mut proof, limit).map_err(Failure::Invalid)?;
    if n != hash.digest_len() {
        return Err(Failure::Invalid(Error::Malformed(
            "SCRAM proof is not one digest long",
        )));
    }
    let proof = Key::from_slice(&proof[..n]).ok_or(Failure::BadCredentials)?;

    let mut client_mac = pending.client_mac.clone();
    let mut server_mac = pending.server_mac.clone();
    client_mac.update(without_proof);
    server_mac.update(without_proof);
    let client_key = xor(&proof, &client_mac.finish());
    let stored_key = crypto::digest(hash, client_key.as_slice());
    if !pending.stored_key.ct_eq(stored_key.as_slice()) {
        return Err(Failure::BadCredentials);
    }

    let mut w = Writer::new(out);
    w.put(b"v=")
        .and_then(|()| crypto::put_b64(&mut w, server_mac.finish().as_slice()))
        .map_err(Failure::Invalid)?;
    Ok(w.position())
}
