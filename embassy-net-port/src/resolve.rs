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

/// Parses an IPv4 literal.
fn literal(host: &str) -> Option<IpAddress> {
    host.parse::<Ipv4Addr>().ok().map(IpAddress::Ipv4)
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
