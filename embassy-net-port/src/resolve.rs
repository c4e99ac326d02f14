//! Turning broker host names into IP addresses.
//!
//! Brokers are named by the bootstrap list and then by Metadata responses,
//! which carry whatever host each broker advertises. [`Resolve`] turns such
//! a name into an address: [`StackResolver`] accepts IP literals and, with
//! the `dns` feature, asks embassy-net's DNS resolver; [`StaticHosts`] is a
//! fixed table (no DNS code linked at all).

use core::future::Future;
use core::net::Ipv4Addr;

use embassy_net::{IpAddress, Stack};

use crate::error::ErrorKind;

/// Resolves a broker host name to an IP address.
pub trait Resolve {
    /// The address of `host` (a name or an IP literal).
    fn resolve(&mut self, host: &str) -> impl Future<Output = Result<IpAddress, ErrorKind>>;
}

/// Parses an IPv4 literal (dotted quad).
fn literal(host: &str) -> Option<IpAddress> {
    parse_ipv4(host).map(IpAddress::Ipv4)
}

/// Dotted-quad IPv4, as `Ipv4Addr`'s `FromStr` reads it (four decimal
/// octets, no leading zeros, nothing else). Hand-written for size: core's
/// general address parser measured 484 B of the example firmware's flash
/// and `str::split` 356 B more; this byte scan takes about 150 B. The tests
/// hold it to core's answers.
pub(crate) fn parse_ipv4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut bytes = text.bytes();
    for (i, octet) in octets.iter_mut().enumerate() {
        let (mut value, mut digits) = (0u16, 0);
        loop {
            match bytes.next() {
                // A digit after a leading zero, or a fourth digit: refused.
                Some(d @ b'0'..=b'9') if digits == 0 || (digits < 3 && value > 0) => {
                    value = value * 10 + u16::from(d - b'0');
                    digits += 1;
                }
                Some(b'.') if i < 3 && digits > 0 => break,
                None if i == 3 && digits > 0 => break,
                _ => return None,
            }
        }
        *octet = u8::try_from(value).ok()?;
    }
    Some(Ipv4Addr::from(octets))
}

/// IP literals; other names through the stack's DNS resolver (with the
/// `dns` feature; without it they fail with [`ErrorKind::Resolve`]).
#[derive(Clone, Copy)]
pub struct StackResolver<'d> {
    #[cfg_attr(not(feature = "dns"), allow(dead_code))]
    stack: Stack<'d>,
}

impl<'d> StackResolver<'d> {
    /// Resolves through `stack`.
    pub const fn new(stack: Stack<'d>) -> Self {
        StackResolver { stack }
    }
}

impl Resolve for StackResolver<'_> {
    async fn resolve(&mut self, host: &str) -> Result<IpAddress, ErrorKind> {
        if let Some(ip) = literal(host) {
            return Ok(ip);
        }
        #[cfg(feature = "dns")]
        {
            let found = self
                .stack
                .dns_query(host, embassy_net::dns::DnsQueryType::A)
                .await
                .map_err(|_| ErrorKind::Resolve)?;
            found.first().copied().ok_or(ErrorKind::Resolve)
        }
        #[cfg(not(feature = "dns"))]
        Err(ErrorKind::Resolve)
    }
}

/// A fixed host table, looked up before IP literals are parsed: for
/// firmware without DNS, or a network where brokers advertise names (or
/// addresses) that must be reached another way.
///
/// ```
/// use embassy_net::{IpAddress, Ipv4Address};
/// use microkafka_embassy::StaticHosts;
///
/// const HOSTS: &[(&str, IpAddress)] = &[("kafka-1", IpAddress::Ipv4(Ipv4Address::new(10, 0, 0, 7)))];
/// let resolver = StaticHosts::new(HOSTS);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StaticHosts<'a> {
    hosts: &'a [(&'a str, IpAddress)],
}

impl<'a> StaticHosts<'a> {
    /// A resolver answering from `hosts` (name, address), then IP literals.
    pub const fn new(hosts: &'a [(&'a str, IpAddress)]) -> Self {
        StaticHosts { hosts }
    }
}

impl Resolve for StaticHosts<'_> {
    async fn resolve(&mut self, host: &str) -> Result<IpAddress, ErrorKind> {
        self.hosts
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, ip)| *ip)
            .or_else(|| literal(host))
            .ok_or(ErrorKind::Resolve)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;

    use super::parse_ipv4;
    use core::net::Ipv4Addr;

    #[test]
    fn ipv4_literals_read_as_core_reads_them() {
        let cases = [
            "10.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.0.0.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1.02.3.4",
            "0.0.0.00",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            "a.b.c.d",
            "1.2.3.4 ",
            " 1.2.3.4",
            "+1.2.3.4",
            "1.2.3.-4",
            "1000.2.3.4",
            "",
            "kafka-1",
            "127.0.0.1:9092",
            "1.2.3.4a",
            "١.2.3.4",
        ];
        for text in cases {
            assert_eq!(parse_ipv4(text), text.parse::<Ipv4Addr>().ok(), "{text:?}");
        }
        // Random near-addresses (3 to 5 groups of 0 to 4 characters from a
        // small alphabet, dot-separated): same answer as core's parser.
        let alphabet = b"01259a";
        let mut seed = 0x2545_f491_u32;
        let mut next = move |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed % n
        };
        let mut valid = 0;
        for _ in 0..100_000 {
            let mut text = String::new();
            for group in 0..3 + next(3) {
                if group > 0 {
                    text.push('.');
                }
                for _ in 0..next(5) {
                    text.push(char::from(alphabet[next(alphabet.len() as u32) as usize]));
                }
            }
            assert_eq!(parse_ipv4(&text), text.parse::<Ipv4Addr>().ok(), "{text:?}");
            valid += usize::from(parse_ipv4(&text).is_some());
        }
        assert!(valid > 100, "the sample holds addresses too: {valid}");
    }
}
