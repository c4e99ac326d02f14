//! The example: a sensor that produces a reading every 100 ms to the
//! `telemetry` topic with microkafka-embassy (acks = all, idempotent, no
//! compression), over one TCP socket with 4 KiB + 4 KiB buffers, a 1 KiB
//! batch buffer and a 512-byte response buffer.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_net::tcp::TcpSocket;
use embassy_time::Timer;
use microkafka_core::balancer::Murmur2;
use microkafka_embassy::{Producer, ProducerConfig, Record, StackResolver};
use microkafka_embassy_firmware::{network, start_clock};
use panic_halt as _;

/// The broker behind the gateway.
const BROKERS: &[&str] = &["10.0.0.1:9092"];

/// Writes `n` in decimal at the end of `buf`; returns the digits.
fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let Some(p) = cortex_m::Peripherals::take() else {
        return;
    };
    start_clock(p.SYST);
    let stack = network(spawner);

    let (mut rx, mut tx) = ([0u8; 4096], [0u8; 4096]);
    let (mut batches, mut responses) = ([0u8; 1024], [0u8; 512]);
    let socket = TcpSocket::new(stack, &mut rx, &mut tx);
    let config = ProducerConfig::new(BROKERS, "telemetry");
    // One connection, one batch slot, up to 8 partitions and 3 brokers.
    let producer: Result<Producer<'_, _, _, 1, 1, 8, 3>, _> = Producer::new(
        [socket],
        StackResolver::new(stack),
        Murmur2::default(),
        &mut batches,
        &mut responses,
        config,
    );
    let Ok(mut producer) = producer else {
        return;
    };

    let mut digits = [0u8; 10];
    for reading in 0u32.. {
        let value = decimal(reading, &mut digits);
        let record = Record::new(value).with_key(b"sensor-1");
        if producer.send(&record).await.is_err() {
            // The batch was given up after its retries; keep sampling.
            Timer::after_secs(1).await;
        }
        // Sleep until the next sample; send the lingering batch on time.
        if let Some(deadline) = producer.deadline() {
            Timer::at(deadline).await;
            let _ = producer.flush_due().await;
        }
        Timer::after_millis(100).await;
    }
}
