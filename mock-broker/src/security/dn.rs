//! A certificate's subject as the text Kafka's default principal builder
//! gives an `SSL` client: `X500Principal.getName()`, i.e. RFC 2253 (the
//! last RDN first, `CN=alice,OU=dev,O=corp`).
//!
//! A small DER walk over the certificate, enough to reach the subject: the
//! mock keeps no X.509 parser dependency for one field.

use std::fmt::Write;

/// A DER reader over one level of TLVs.
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next TLV: `(tag, contents, whole encoding)`.
    fn next(&mut self) -> Option<(u8, &'a [u8], &'a [u8])> {
        let (&tag, after) = self.rest.split_first()?;
        let (&first, mut after) = after.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || after.len() < n {
                return None;
            }
            let len = after[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            after = &after[n..];
            len
        };
        if after.len() < len {
            return None;
        }
        let header = self.rest.len() - after.len();
        let whole = &self.rest[..header + len];
        let contents = &after[..len];
        self.rest = &after[len..];
        Some((tag, contents, whole))
    }

    /// The next TLV's contents, which must have `tag`.
    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, contents, _) if t == tag => Some(contents),
            _ => None,
        }
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The subject of the DER certificate `cert` in RFC 2253 form, or `None`
/// when it does not parse.
pub(crate) fn subject(cert: &[u8]) -> Option<String> {
    let certificate = Der::new(cert).expect(SEQUENCE)?;
    let tbs = Der::new(certificate).expect(SEQUENCE)?;
    let mut t = Der::new(tbs);
    if t.peek() == Some(0xa0) {
        t.next()?; // [0] version
    }
    t.expect(0x02)?; // serialNumber
    t.expect(SEQUENCE)?; // signature algorithm
    t.expect(SEQUENCE)?; // issuer
    t.expect(SEQUENCE)?; // validity
    name(t.expect(SEQUENCE)?)
}

/// An X.501 `Name` (a sequence of RDNs) as RFC 2253 text.
fn name(rdn_sequence: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    let mut n = Der::new(rdn_sequence);
    while !n.is_empty() {
        let mut set = Der::new(n.expect(SET)?);
        let mut pairs = Vec::new();
        while !set.is_empty() {
            let mut atv = Der::new(set.expect(SEQUENCE)?);
            let oid = atv.expect(OID)?;
            let (tag, value, whole) = atv.next()?;
            pairs.push(attribute(oid, tag, value, whole)?);
        }
        rdns.push(pairs.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

/// The RFC 2253 keywords (those Java's `X500Principal` writes by name).
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.1" => "UID",
        "0.9.2342.19200300.100.1.25" => "DC",
        _ => return None,
    })
}

fn dotted(oid: &[u8]) -> Option<String> {
    let (&first, rest) = oid.split_first()?;
    let mut out = format!(
        "{}.{}",
        (first / 40).min(2),
        first - 40 * (first / 40).min(2)
    );
    let mut arc: u64 = 0;
    for &b in rest {
        arc = arc.checked_mul(128)? | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            let _ = write!(out, ".{arc}");
            arc = 0;
        }
    }
    Some(out)
}

/// One `type=value` pair: a known keyword with its string value escaped, or
/// the dotted OID with `#` and the hex of the value's DER (RFC 2253 §2.4).
fn attribute(oid: &[u8], tag: u8, value: &[u8], whole: &[u8]) -> Option<String> {
    let oid = dotted(oid)?;
    let text = match tag {
        // UTF8String, PrintableString, IA5String, NumericString, VisibleString
        0x0c | 0x13 | 0x16 | 0x12 | 0x1a => std::str::from_utf8(value).ok().map(str::to_owned),
        // TeletexString, read as Latin-1
        0x14 => Some(value.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16BE
        0x1e if value.len().is_multiple_of(2) => {
            let units: Vec<u16> = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    };
    match (keyword(&oid), text) {
        (Some(key), Some(text)) => Some(format!("{key}={}", escape(&text))),
        (key, _) => {
            let mut hex = String::with_capacity(whole.len() * 2);
            for b in whole {
                let _ = write!(hex, "{b:02x}");
            }
            Some(format!("{}=#{hex}", key.map_or(oid.as_str(), |k| k)))
        }
    }
}

/// RFC 2253 §2.4 escaping: `,+"\<>;` anywhere, `#` or a space first, a
/// space last.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of `len` bytes of `contents` under `tag`.
    fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if contents.len() < 128 {
            out.push(contents.len() as u8);
        } else {
            out.push(0x82);
            out.extend_from_slice(&(contents.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(contents);
        out
    }

    fn rdn(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        let atv = [tlv(OID, oid), tlv(tag, value)].concat();
        tlv(SET, &tlv(SEQUENCE, &atv))
    }

    #[test]
    fn names_in_rfc2253_order_with_escapes() {
        let cn = [0x55, 0x04, 0x03];
        let o = [0x55, 0x04, 0x0a];
        let email = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
        let seq = [
            rdn(&o, 0x13, b"Acme, Inc"),
            rdn(&cn, 0x0c, b" alice+bob "),
            rdn(&email, 0x16, b"a@b"),
        ]
        .concat();
        assert_eq!(
            name(&seq).unwrap(),
            r"1.2.840.113549.1.9.1=#1603614062,CN=\ alice\+bob\ ,O=Acme\, Inc"
        );
        assert_eq!(dotted(&email).unwrap(), "1.2.840.113549.1.9.1");
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(subject(b""), None);
        assert_eq!(subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(subject(&tlv(SEQUENCE, &tlv(SEQUENCE, b"x"))), None);
    }
}
