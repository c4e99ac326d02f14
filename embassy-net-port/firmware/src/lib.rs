//! What the example firmwares share: an embassy-time driver on SysTick, and
//! an embassy-net stack on an embassy-net-driver-channel device whose far
//! end stands in for a chip's network driver (no HAL is used: the images
//! build for any Cortex-M4F and are sized, not flashed).
#![no_std]

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_executor::Spawner;
use embassy_net::driver::{HardwareAddress, LinkState};
use embassy_net::{Ipv4Address, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver_channel as channel;
use embassy_time_driver::Driver;
use embassy_time_queue_utils::Queue;
use static_cell::StaticCell;

/// Core clock (QEMU's mps2-an386 runs its Cortex-M4 at 25 MHz).
pub const SYSCLK_HZ: u32 = 25_000_000;
/// Largest IP packet on the link.
pub const MTU: usize = 1500;
/// The device's address; brokers are reached through the gateway.
pub const DEVICE_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
/// The gateway (and, in these examples, the broker).
pub const GATEWAY_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);

/// embassy-time on SysTick at 1 kHz (the `tick-hz-1_000` feature): a 64-bit
/// tick count and the timer queue, both behind a critical section.
struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            // The queue is checked on every tick: no alarm to program.
            queue.schedule_wake(at, waker);
            queue.next_expiration(self.ticks.borrow(cs).get());
        });
    }
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = DRIVER.ticks.borrow(cs);
        ticks.set(ticks.get() + 1);
        DRIVER.queue.borrow_ref_mut(cs).next_expiration(ticks.get());
    });
}

/// Starts the 1 kHz tick.
pub fn start_clock(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(SYSCLK_HZ / 1_000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// The network device: two receive and two transmit packet buffers.
pub type Device = channel::Device<'static, MTU>;

/// Brings up the stack at `DEVICE_IP/24` (one socket's worth of resources)
/// and spawns its tasks.
pub fn network(spawner: Spawner) -> Stack<'static> {
    static CHANNEL: StaticCell<channel::State<MTU, 2, 2>> = StaticCell::new();
    static RESOURCES: StaticCell<StackResources<1>> = StaticCell::new();
    let (link, device) = channel::new(CHANNEL.init(channel::State::new()), HardwareAddress::Ip);
    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(DEVICE_IP, 24),
        gateway: Some(GATEWAY_IP),
        dns_servers: Default::default(),
    });
    let (stack, runner) = embassy_net::new(
        device,
        config,
        RESOURCES.init(StackResources::new()),
        0x6d6b_6166_6b61,
    );
    spawner.spawn(net_task(runner).expect("net task"));
    spawner.spawn(link_task(link).expect("link task"));
    stack
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

/// Stands in for a chip's MAC/modem driver: the link is up, packets the
/// stack sends are consumed, none arrive.
#[embassy_executor::task]
async fn link_task(link: channel::Runner<'static, MTU>) -> ! {
    let (state, _rx, mut tx) = link.split();
    state.set_link_state(LinkState::Up);
    loop {
        let _packet = tx.tx_buf().await;
        tx.tx_done();
    }
}
