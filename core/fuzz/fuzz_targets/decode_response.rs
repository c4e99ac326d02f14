//! Every response decoder at every version: byte 0 picks the API, byte 1 the
//! version, the rest is a response frame body; what decodes must round-trip.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| microkafka_core_fuzz::check_response(data));
