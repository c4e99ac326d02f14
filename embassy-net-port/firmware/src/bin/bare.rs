//! The baseline: embassy-executor, embassy-net and one TCP socket (4 KiB +
//! 4 KiB buffers) that connects and exchanges a few bytes. No microkafka.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_net::tcp::TcpSocket;
use embassy_time::{Duration, Timer};
use embedded_io_async::Write;
use microkafka_embassy_firmware::{network, start_clock, GATEWAY_IP};
use panic_halt as _;

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let Some(p) = cortex_m::Peripherals::take() else {
        return;
    };
    start_clock(p.SYST);
    let stack = network(spawner);
    let (mut rx, mut tx) = ([0u8; 4096], [0u8; 4096]);
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx, &mut tx);
        socket.set_timeout(Some(Duration::from_secs(10)));
        if socket.connect((GATEWAY_IP, 9092)).await.is_ok() {
            let _ = socket.write_all(b"hello").await;
            let mut answer = [0u8; 64];
            let _ = socket.read(&mut answer).await;
        }
        drop(socket);
        Timer::after_secs(1).await;
    }
}
