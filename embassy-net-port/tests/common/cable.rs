//! An in-memory IP cable: the device end is an embassy-net driver, the other
//! end a smoltcp device; packets cross as `Vec<u8>`s through two queues.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Waker};
use std::time::Duration;

use embassy_net::driver::{self, Capabilities, HardwareAddress, LinkState};

pub(crate) const MTU: usize = 1500;

#[derive(Default)]
struct Queues {
    to_device: VecDeque<Vec<u8>>,
    to_bridge: VecDeque<Vec<u8>>,
    device_waker: Option<Waker>,
}

/// Both ends' queues.
#[derive(Default)]
pub(crate) struct Cable {
    queues: Mutex<Queues>,
    /// Signalled when the device sends, so the bridge wakes up.
    bridge_wakeup: Condvar,
}

impl Cable {
    pub(crate) fn new() -> Arc<Cable> {
        Arc::new(Cable::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks the bridge until the device sent something, or `timeout`.
    pub(crate) fn wait_for_device(&self, timeout: Duration) {
        let q = self.lock();
        if q.to_bridge.is_empty() {
            let _ = self.bridge_wakeup.wait_timeout(q, timeout);
        }
    }
}

/// The device end, for `embassy_net::new`.
pub(crate) struct DeviceEnd(pub Arc<Cable>);

pub(crate) struct DeviceRx(Vec<u8>);
pub(crate) struct DeviceTx(Arc<Cable>);

impl driver::RxToken for DeviceRx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl driver::TxToken for DeviceTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let r = f(&mut packet);
        self.0.lock().to_bridge.push_back(packet);
        self.0.bridge_wakeup.notify_all();
        r
    }
}

impl driver::Driver for DeviceEnd {
    type RxToken<'a> = DeviceRx;
    type TxToken<'a> = DeviceTx;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(DeviceRx, DeviceTx)> {
        let mut q = self.0.lock();
        match q.to_device.pop_front() {
            Some(p) => Some((DeviceRx(p), DeviceTx(self.0.clone()))),
            None => {
                q.device_waker = Some(cx.waker().clone());
                None
            }
        }
    }

    fn transmit(&mut self, _: &mut Context<'_>) -> Option<DeviceTx> {
        Some(DeviceTx(self.0.clone()))
    }

    fn link_state(&mut self, _: &mut Context<'_>) -> LinkState {
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut c = Capabilities::default();
        c.max_transmission_unit = MTU;
        c
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ip
    }
}

/// The bridge end, a smoltcp device.
pub(crate) struct BridgeEnd(pub Arc<Cable>);

pub(crate) struct BridgeRx(Vec<u8>);
pub(crate) struct BridgeTx(Arc<Cable>);

impl smoltcp::phy::RxToken for BridgeRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl smoltcp::phy::TxToken for BridgeTx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let r = f(&mut packet);
        let waker = {
            let mut q = self.0.lock();
            q.to_device.push_back(packet);
            q.device_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        r
    }
}

impl smoltcp::phy::Device for BridgeEnd {
    type RxToken<'a> = BridgeRx;
    type TxToken<'a> = BridgeTx;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(BridgeRx, BridgeTx)> {
        let p = self.0.lock().to_bridge.pop_front()?;
        Some((BridgeRx(p), BridgeTx(self.0.clone())))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<BridgeTx> {
        Some(BridgeTx(self.0.clone()))
    }

    fn capabilities(&self) -> smoltcp::phy::DeviceCapabilities {
        let mut c = smoltcp::phy::DeviceCapabilities::default();
        c.medium = smoltcp::phy::Medium::Ip;
        c.max_transmission_unit = MTU;
        c
    }
}
