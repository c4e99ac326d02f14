//! Every request decoder at every version: the input is a request frame body
//! (header, then body) as a broker reads it; what decodes must round-trip.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microkafka_core_fuzz::check_request(data));
