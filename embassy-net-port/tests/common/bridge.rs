//! The far end of the cable: a smoltcp host at `BRIDGE_IP` that accepts TCP
//! connections on the mock brokers' ports and relays each one to the broker
//! listening on `127.0.0.1` at the same port (a user-space TCP proxy). When
//! the broker closes, the device sees a FIN; when it refuses (broker down),
//! a reset.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use super::cable::{BridgeEnd, Cable};

pub(crate) const BRIDGE_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const SOCKET_BUFFER: usize = 64 * 1024;

/// One relayed connection.
struct Relay {
    handle: SocketHandle,
    port: u16,
    broker: Option<TcpStream>,
    /// Bytes read from one side, not yet written to the other.
    to_broker: Vec<u8>,
    to_device: Vec<u8>,
    broker_eof: bool,
    device_eof: bool,
}

/// The running bridge; stops when dropped.
pub(crate) struct Bridge {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn listener(sockets: &mut SocketSet<'static>, port: u16) -> SocketHandle {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
        tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
    );
    s.set_nagle_enabled(false);
    s.listen(port).expect("listen");
    sockets.add(s)
}

impl Bridge {
    /// Relays `BRIDGE_IP:port` to `127.0.0.1:port` for each broker address.
    pub(crate) fn start(cable: Arc<Cable>, brokers: &[SocketAddr]) -> Bridge {
        let ports: Vec<u16> = brokers.iter().map(SocketAddr::port).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bridge".into())
            .spawn(move || run(cable, ports, stopping))
            .expect("bridge thread");
        Bridge {
            stop,
            thread: Some(thread),
        }
    }
}

fn run(cable: Arc<Cable>, ports: Vec<u16>, stop: Arc<AtomicBool>) {
    let mut device = BridgeEnd(cable.clone());
    let mut iface = Interface::new(
        Config::new(HardwareAddress::Ip),
        &mut device,
        Instant::now(),
    );
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv4(BRIDGE_IP), 24))
            .expect("address");
    });
    let mut sockets = SocketSet::new(Vec::new());
    let mut listening: Vec<(u16, SocketHandle)> = ports
        .iter()
        .map(|&p| (p, listener(&mut sockets, p)))
        .collect();
    let mut relays: Vec<Relay> = Vec::new();
    let mut buf = vec![0u8; SOCKET_BUFFER];

    while !stop.load(Ordering::Relaxed) {
        iface.poll(Instant::now(), &mut device, &mut sockets);

        // A listener that got a connection becomes a relay; listen again.
        for (port, handle) in listening.iter_mut() {
            if sockets.get::<tcp::Socket>(*handle).state() != tcp::State::Listen {
                relays.push(Relay {
                    handle: *handle,
                    port: *port,
                    broker: None,
                    to_broker: Vec::new(),
                    to_device: Vec::new(),
                    broker_eof: false,
                    device_eof: false,
                });
                *handle = listener(&mut sockets, *port);
            }
        }

        relays.retain_mut(|r| pump(r, sockets.get_mut::<tcp::Socket>(r.handle), &mut buf));
        // Forget sockets of finished relays.
        let live: Vec<SocketHandle> = relays
            .iter()
            .map(|r| r.handle)
            .chain(listening.iter().map(|(_, h)| *h))
            .collect();
        let dead: Vec<SocketHandle> = sockets
            .iter()
            .map(|(h, _)| h)
            .filter(|h| !live.contains(h))
            .collect();
        for h in dead {
            sockets.remove(h);
        }

        iface.poll(Instant::now(), &mut device, &mut sockets);
        cable.wait_for_device(Duration::from_millis(1));
    }
}

/// Moves bytes both ways; false once the relay is finished.
fn pump(r: &mut Relay, s: &mut tcp::Socket<'_>, buf: &mut [u8]) -> bool {
    match s.state() {
        tcp::State::SynReceived => return true,
        tcp::State::Closed | tcp::State::TimeWait => return false,
        _ => {}
    }
    if r.broker.is_none() {
        match TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], r.port)),
            Duration::from_secs(1),
        ) {
            Ok(stream) => {
                stream.set_nonblocking(true).expect("nonblocking");
                let _ = stream.set_nodelay(true);
                r.broker = Some(stream);
            }
            Err(_) => {
                // The broker is down: the device gets a reset.
                s.abort();
                return true;
            }
        }
    }
    let Some(stream) = r.broker.as_mut() else {
        return false;
    };

    // Device -> broker.
    while s.can_recv() {
        let _ = s.recv(|data| {
            r.to_broker.extend_from_slice(data);
            (data.len(), ())
        });
    }
    if !s.may_recv() && !r.device_eof && r.to_broker.is_empty() {
        r.device_eof = true;
        let _ = stream.shutdown(Shutdown::Write);
    }
    while !r.to_broker.is_empty() {
        match stream.write(&r.to_broker) {
            Ok(0) => break,
            Ok(n) => {
                r.to_broker.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => {
                s.abort();
                return true;
            }
        }
    }

    // Broker -> device.
    loop {
        if !r.to_device.is_empty() {
            if !s.may_send() {
                r.to_device.clear();
                break;
            }
            match s.send_slice(&r.to_device) {
                Ok(n) => {
                    r.to_device.drain(..n);
                }
                Err(_) => break,
            }
            if !r.to_device.is_empty() {
                break;
            }
        }
        if r.broker_eof {
            break;
        }
        match stream.read(buf) {
            Ok(0) => {
                r.broker_eof = true;
                break;
            }
            Ok(n) => r.to_device.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => {
                // Reset by the broker: reset the device's side too.
                s.abort();
                return true;
            }
        }
    }
    if r.broker_eof && r.to_device.is_empty() && s.may_send() {
        s.close();
    }
    true
}
