//! A measurement, not an example: cortex-m-rt and a panic handler, nothing
//! else (the baseline for `core_floor`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;

#[entry]
fn main() -> ! {
    loop {
        cortex_m::asm::nop();
    }
}
