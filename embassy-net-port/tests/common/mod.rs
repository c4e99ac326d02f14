//! Host harness: the std mock broker, an embassy-net stack on an in-memory
//! cable, and the bridge relaying the cable to the brokers' TCP ports.
//!
//! ```text
//!  embassy-net stack (10.0.0.2)  ==cable==  smoltcp bridge (10.0.0.1)  --TCP-->  mock brokers (127.0.0.1)
//!  microkafka-embassy                        relays 10.0.0.1:p -> 127.0.0.1:p
//! ```
//!
//! Brokers advertise `127.0.0.1` (so std clients reach them too); the device
//! resolves that name to the bridge with a `StaticHosts` table.

#![allow(dead_code)] // each test file uses its own subset

pub(crate) mod bridge;
pub(crate) mod cable;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use embassy_futures::select::{select, Either};
use embassy_net::{IpAddress, Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use microkafka_embassy::StaticHosts;
use microkafka_mock_broker::{Config, MockCluster};

use bridge::{Bridge, BRIDGE_IP};
use cable::{Cable, DeviceEnd};

/// Where the device finds brokers advertised as `127.0.0.1`: the bridge.
pub(crate) const HOSTS: &[(&str, IpAddress)] = &[("127.0.0.1", IpAddress::Ipv4(BRIDGE_IP))];

pub(crate) fn resolver() -> StaticHosts<'static> {
    StaticHosts::new(HOSTS)
}

/// A mock cluster of `brokers` brokers and the bridge to it.
pub(crate) struct Net {
    pub(crate) cluster: MockCluster,
    pub(crate) cable: Arc<Cable>,
    _bridge: Bridge,
    /// `host:port` of every broker, as the device's bootstrap list.
    pub(crate) bootstrap: Vec<String>,
}

impl Net {
    pub(crate) fn start(brokers: usize) -> Net {
        Net::start_with(Config::with_brokers(brokers))
    }

    /// Like [`start`](Self::start) with a broker configuration of its own.
    pub(crate) fn start_with(config: Config) -> Net {
        let cluster = MockCluster::start_in_background(config).unwrap();
        let cable = Cable::new();
        let bridge = Bridge::start(cable.clone(), &cluster.addrs());
        let bootstrap = cluster.addrs().iter().map(|a| a.to_string()).collect();
        Net {
            cluster,
            cable,
            _bridge: bridge,
            bootstrap,
        }
    }

    /// The bootstrap list as `&str`s, leaked for `'static` configs.
    pub(crate) fn bootstrap(&self) -> &'static [&'static str] {
        let v: Vec<&'static str> = self
            .bootstrap
            .iter()
            .map(|s| &*Box::leak(s.clone().into_boxed_str()))
            .collect();
        Box::leak(v.into_boxed_slice())
    }

    /// Runs `body` against an embassy-net stack at 10.0.0.2 on the cable,
    /// polling the stack alongside it, until `body` finishes.
    pub(crate) fn run_device<F, Fut>(&self, body: F) -> Fut::Output
    where
        F: FnOnce(Stack<'static>) -> Fut,
        Fut: Future,
    {
        let resources: &'static mut StackResources<8> = Box::leak(Box::new(StackResources::new()));
        let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new(Ipv4Address::new(10, 0, 0, 2), 24),
            gateway: Some(BRIDGE_IP),
            dns_servers: Default::default(),
        });
        // A new seed per device: devices run one after another on the same
        // relay must not reuse a local port whose connection the relay may
        // still hold (the last one's reset can be lost with its stack).
        static DEVICES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seed = 0x5eed_1234 + DEVICES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (stack, mut runner) =
            embassy_net::new(DeviceEnd(self.cable.clone()), config, resources, seed);
        let run = async move {
            match select(runner.run(), body(stack)).await {
                Either::First(never) => never,
                Either::Second(out) => out,
            }
        };
        block_on(run)
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between wake-ups (embassy-time's
/// std driver and the cable wake it).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

/// A tokio runtime for the std-side clients (std-net Writer and Reader).
pub(crate) fn tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
