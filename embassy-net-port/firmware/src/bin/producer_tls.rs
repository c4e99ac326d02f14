//! The secure example: the `producer` firmware's sensor over TLS 1.3 and
//! SASL SCRAM-SHA-256 (Kafka's `SASL_SSL`), with microkafka-embassy's `tls`
//! and `sasl` features: one TCP socket with 4 KiB + 4 KiB buffers, a
//! 16,645-byte TLS read buffer (any record a broker may send) and a 2 KiB
//! write buffer, the broker's certificate checked against a CA compiled in
//! (DER, ECDSA P-256) under the name `kafka.example`, a 1 KiB batch buffer
//! and a 512-byte response buffer. Built with `--features secure`.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_net::tcp::TcpSocket;
use embassy_time::Timer;
use microkafka_core::balancer::Murmur2;
use microkafka_embassy::tls::TLS_READ_BUFFER_LEN;
use microkafka_embassy::{
    Producer, ProducerConfig, Record, Sasl, Security, StackResolver, TlsOptions, TlsSocket,
};
use microkafka_embassy_firmware::{network, start_clock};
use panic_halt as _;
use static_cell::StaticCell;

/// The broker behind the gateway.
const BROKERS: &[&str] = &["10.0.0.1:9093"];

/// The CA that issued the brokers' certificates (DER).
const CA: &[u8] = include_bytes!("example-ca.der");

/// **Not random**: stands in for the chip's true random number generator
/// (an STM32's RNG peripheral through `embassy_stm32::rng::Rng`, an nRF's
/// `Rng`...: a few hundred bytes of driver), which this HAL-less image has
/// none of. A real device must use its TRNG, or a CSPRNG seeded from it.
struct StandInForTheTrng(u64);

impl rand_core::RngCore for StandInForTheTrng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*: keeps the call shape of a real generator.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for StandInForTheTrng {}

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

    // The TLS read buffer in a static: a 16 KiB array in the task's
    // future would be copied through the stack when the task starts.
    static TLS_READ: StaticCell<[u8; TLS_READ_BUFFER_LEN]> = StaticCell::new();
    let tls_read = TLS_READ.init([0; TLS_READ_BUFFER_LEN]);
    let (mut rx, mut tx, mut tls_write) = ([0u8; 4096], [0u8; 4096], [0u8; 2048]);
    let (mut batches, mut responses) = ([0u8; 1024], [0u8; 512]);
    let mut socket = TlsSocket::new(
        TcpSocket::new(stack, &mut rx, &mut tx),
        tls_read,
        &mut tls_write,
    );
    let mut rng = StandInForTheTrng(0x853c_49e6_748f_ea9b);
    let security = Security::new(&mut rng)
        .with_tls(TlsOptions::new(CA).with_server_name("kafka.example"))
        .with_sasl(Sasl::scram_sha256("sensor-1", "sensor-1-secret"));
    let config = ProducerConfig::new(BROKERS, "telemetry");
    // One connection, one batch slot, up to 8 partitions and 3 brokers.
    let producer: Result<Producer<'_, _, _, 1, 1, 8, 3>, _> = Producer::new(
        [&mut socket],
        StackResolver::new(stack),
        Murmur2::default(),
        &mut batches,
        &mut responses,
        config,
    )
    .and_then(|producer| producer.with_security(security));
    let Ok(mut producer) = producer else {
        return;
    };

    let mut digits = [0u8; 10];
    for reading in 0u32.. {
        let value = decimal(reading, &mut digits);
        let record = Record::new(value).with_key(b"sensor-1");
        if producer.send(&record).await.is_err() {
            // Given up after its retries, or refused (TLS or login: those
            // are not retried by the producer); try again later.
            Timer::after_secs(1).await;
        }
        if let Some(deadline) = producer.deadline() {
            Timer::at(deadline).await;
            let _ = producer.flush_due().await;
        }
        Timer::after_millis(100).await;
    }
}
