//! Failed authentications: counted in total and per client address, and a
//! brute-force guard that refuses new connections from an address that
//! failed too often, in bounded memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::limits::Limits;

/// Counters of the listeners' security events, across all brokers
/// ([`MockCluster::security_stats`](crate::MockCluster::security_stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecurityStats {
    /// Failed authentications: SASL failures (a wrong password or proof, a
    /// refused token, an unsupported mechanism, a request out of turn
    /// during the exchange, a failed re-authentication) and failed TLS
    /// handshakes (garbage, no or a bad client certificate).
    pub failed_authentications: u64,
    /// Of those, failed TLS handshakes.
    pub tls_handshake_failures: u64,
    /// Connections closed for not completing the TLS handshake and SASL
    /// authentication within [`Limits::handshake_timeout`].
    pub handshake_timeouts: u64,
    /// Connections closed at accept because their address failed
    /// [`Limits::max_failed_authentications_per_address`] times within the window.
    pub refused_connections: u64,
    /// Client addresses whose failures are being counted now (at most
    /// [`Limits::max_tracked_addresses`]).
    pub tracked_addresses: usize,
}

/// One address's failures in its current window.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: Instant,
    failures: usize,
}

/// The counters and the per-address windows.
#[derive(Debug)]
pub(crate) struct Guard {
    max_failures: usize,
    window: Duration,
    max_addresses: usize,
    by_address: HashMap<IpAddr, Window>,
    stats: SecurityStats,
}

impl Guard {
    pub(crate) fn new(limits: &Limits) -> Self {
        Guard {
            max_failures: limits.max_failed_authentications_per_address,
            window: limits.failed_authentication_window,
            max_addresses: limits.max_tracked_addresses.max(1),
            by_address: HashMap::new(),
            stats: SecurityStats::default(),
        }
    }

    fn current(&self, ip: &IpAddr, now: Instant) -> Option<&Window> {
        self.by_address
            .get(ip)
            .filter(|w| now.saturating_duration_since(w.start) < self.window)
    }

    /// True when a new connection from `ip` may be accepted; counts a refusal.
    pub(crate) fn admit(&mut self, ip: IpAddr, now: Instant) -> bool {
        let blocked = self.max_failures > 0
            && self
                .current(&ip, now)
                .is_some_and(|w| w.failures >= self.max_failures);
        if blocked {
            self.stats.refused_connections += 1;
        }
        !blocked
    }

    /// Counts a failed authentication from `ip` (`tls`: a TLS handshake).
    pub(crate) fn failed(&mut self, ip: IpAddr, tls: bool, now: Instant) {
        self.stats.failed_authentications += 1;
        if tls {
            self.stats.tls_handshake_failures += 1;
        }
        if self.max_failures == 0 {
            return;
        }
        if self.current(&ip, now).is_none() {
            if !self.by_address.contains_key(&ip) && self.by_address.len() >= self.max_addresses {
                self.make_room(now);
            }
            self.by_address.insert(
                ip,
                Window {
                    start: now,
                    failures: 0,
                },
            );
        }
        if let Some(w) = self.by_address.get_mut(&ip) {
            w.failures += 1;
        }
    }

    /// Drops the windows that are over; if none is, the oldest one.
    fn make_room(&mut self, now: Instant) {
        let window = self.window;
        self.by_address
            .retain(|_, w| now.saturating_duration_since(w.start) < window);
        if self.by_address.len() >= self.max_addresses {
            if let Some(oldest) = self
                .by_address
                .iter()
                .min_by_key(|(_, w)| w.start)
                .map(|(ip, _)| *ip)
            {
                self.by_address.remove(&oldest);
            }
        }
    }

    pub(crate) fn timed_out(&mut self) {
        self.stats.handshake_timeouts += 1;
    }

    pub(crate) fn stats(&self) -> SecurityStats {
        SecurityStats {
            tracked_addresses: self.by_address.len(),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max: usize, addresses: usize) -> Guard {
        Guard::new(&Limits {
            max_failed_authentications_per_address: max,
            failed_authentication_window: Duration::from_secs(60),
            max_tracked_addresses: addresses,
            ..Limits::default()
        })
    }

    #[test]
    fn blocks_an_address_for_its_window() {
        let mut g = guard(3, 10);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t = Instant::now();
        for _ in 0..3 {
            assert!(g.admit(a, t));
            g.failed(a, false, t);
        }
        assert!(!g.admit(a, t), "three failures: refused");
        assert!(g.admit(b, t), "another address is not");
        assert!(g.admit(a, t + Duration::from_secs(61)), "the window ended");
        let s = g.stats();
        assert_eq!((s.failed_authentications, s.refused_connections), (3, 1));
    }

    #[test]
    fn memory_is_bounded() {
        let mut g = guard(2, 100);
        let t = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            g.failed(ip, i % 2 == 0, t + Duration::from_millis(u64::from(i)));
            assert!(g.stats().tracked_addresses <= 100);
        }
        let s = g.stats();
        assert_eq!(
            (s.failed_authentications, s.tls_handshake_failures),
            (10_000, 5_000)
        );
        // The most recent addresses are still counted.
        g.failed(
            IpAddr::from(9_999u32.to_be_bytes()),
            false,
            t + Duration::from_secs(10),
        );
        assert!(!g.admit(
            IpAddr::from(9_999u32.to_be_bytes()),
            t + Duration::from_secs(10)
        ));
        let mut off = guard(0, 100);
        off.failed(IpAddr::from([1, 2, 3, 4]), false, t);
        assert_eq!(off.stats().tracked_addresses, 0);
        assert!(off.admit(IpAddr::from([1, 2, 3, 4]), t));
    }
}
