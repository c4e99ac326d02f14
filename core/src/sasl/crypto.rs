//! SHA-2, HMAC and PBKDF2 (RustCrypto, no_std, no alloc) behind one
//! run-time hash choice, and base64 into fixed buffers.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::ScramHash;
use crate::error::{Error, Result};
use crate::wire::Writer;

/// The longest digest (SHA-512).
pub(super) const MAX_DIGEST_LEN: usize = 64;

/// Base64 as SCRAM writes it (RFC 4648 standard alphabet, padded); reading
/// accepts padding or none, as Java's decoder does.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64 without padding: nonces made from random bytes.
const B64_NO_PAD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(false),
);

/// A digest-sized value (a key, signature or proof), 32 or 64 bytes used.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    bytes: [u8; MAX_DIGEST_LEN],
    len: usize,
}

impl Key {
    /// A key holding `bytes`; `None` when longer than [`MAX_DIGEST_LEN`].
    pub(super) fn from_slice(bytes: &[u8]) -> Option<Key> {
        let mut key = Key {
            bytes: [0; MAX_DIGEST_LEN],
            len: bytes.len(),
        };
        key.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(key)
    }

    pub(super) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Constant-time equality with `other` (lengths are not secret).
    pub(super) fn ct_eq(&self, other: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.as_slice().ct_eq(other).into()
    }
}

impl core::fmt::Debug for Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Key({} bytes)", self.len)
    }
}

/// Constant-time slice equality (lengths are not secret).
pub(super) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// `H(data)`.
pub(super) fn digest(hash: ScramHash, data: &[u8]) -> Key {
    let mut key = Key {
        bytes: [0; MAX_DIGEST_LEN],
        len: hash.digest_len(),
    };
    match hash {
        ScramHash::Sha256 => key.bytes[..32].copy_from_slice(&Sha256::digest(data)),
        ScramHash::Sha512 => key.bytes.copy_from_slice(&Sha512::digest(data)),
    }
    key
}

/// `HMAC(key, parts[0] || parts[1] || ...)`.
pub(super) fn hmac(hash: ScramHash, key: &[u8], parts: &[&[u8]]) -> Result<Key> {
    let mut mac = RunningMac::new(hash, key)?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finish())
}

/// RFC 5802's `Hi(password, salt, i)`: PBKDF2 with HMAC-H, one block.
pub(super) fn salted_password(
    hash: ScramHash,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Key> {
    let mut key = Key {
        bytes: [0; MAX_DIGEST_LEN],
        len: hash.digest_len(),
    };
    let out = &mut key.bytes[..hash.digest_len()];
    let done = match hash {
        ScramHash::Sha256 => pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt, iterations, out),
        ScramHash::Sha512 => pbkdf2::pbkdf2::<Hmac<Sha512>>(password, salt, iterations, out),
    };
    done.map_err(|_| HMAC_KEY)?;
    Ok(key)
}

/// HMAC takes keys of any length; this is never returned in practice.
const HMAC_KEY: Error = Error::Malformed("HMAC key refused");

/// An HMAC being fed a message piece by piece (SCRAM's AuthMessage, which a
/// server reads across two client messages).
#[derive(Clone)]
// The SHA-512 state is the larger; there is no heap to box either into.
#[allow(clippy::large_enum_variant)]
pub(super) enum RunningMac {
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl RunningMac {
    pub(super) fn new(hash: ScramHash, key: &[u8]) -> Result<RunningMac> {
        Ok(match hash {
            ScramHash::Sha256 => RunningMac::Sha256(
                <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| HMAC_KEY)?,
            ),
            ScramHash::Sha512 => RunningMac::Sha512(
                <Hmac<Sha512> as Mac>::new_from_slice(key).map_err(|_| HMAC_KEY)?,
            ),
        })
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        match self {
            RunningMac::Sha256(m) => m.update(data),
            RunningMac::Sha512(m) => m.update(data),
        }
    }

    pub(super) fn finish(self) -> Key {
        let mut key = Key {
            bytes: [0; MAX_DIGEST_LEN],
            len: 0,
        };
        match self {
            RunningMac::Sha256(m) => {
                key.bytes[..32].copy_from_slice(&m.finalize().into_bytes());
                key.len = 32;
            }
            RunningMac::Sha512(m) => {
                key.bytes.copy_from_slice(&m.finalize().into_bytes());
                key.len = 64;
            }
        }
        key
    }
}

impl core::fmt::Debug for RunningMac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RunningMac")
    }
}

/// Longest base64 text of `n` bytes (padded).
pub(super) const fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Appends `bytes` in padded base64; at most 64 bytes.
pub(super) fn put_b64(w: &mut Writer<'_>, bytes: &[u8]) -> Result<()> {
    let mut text = [0u8; b64_len(MAX_DIGEST_LEN)];
    let n = B64
        .encode_slice(bytes, &mut text)
        .map_err(|_| Error::BufferTooSmall)?;
    w.put(&text[..n])
}

/// Unpadded base64 of random bytes, for a nonce; at most 48 bytes.
pub(super) fn nonce_text(random: &[u8], out: &mut [u8; 64]) -> Result<usize> {
    B64_NO_PAD
        .encode_slice(random, out)
        .map_err(|_| Error::BufferTooSmall)
}

/// Decodes base64 `text` into `out`; returns the decoded length.
///
/// Errors: [`Error::Malformed`] for text that is not base64; `too_large`
/// when the text could decode to more than `out` holds.
pub(super) fn decode_b64(text: &[u8], out: &mut [u8], too_large: Error) -> Result<usize> {
    // The decoder wants room for its estimate (whole 3-byte groups).
    if text.len().div_ceil(4) * 3 > out.len() {
        return Err(too_large);
    }
    B64.decode_slice(text, out)
        .map_err(|_| Error::Malformed("invalid base64"))
}
