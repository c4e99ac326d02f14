//! The fetch cursor over a whole Fetch response: byte 0 picks the version,
//! byte 1 bit 0 turns CRC checks off, byte 2 is the fetch offset (as i8),
//! the rest is the response frame body. Each partition's records go through
//! `FetchCursor` with a bounded scratch buffer; the offsets it returns and
//! the next fetch offset must agree with `next_fetch_offset`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microkafka_core::consumer::{next_fetch_offset, FetchCursor, FetchErrorAction};
use microkafka_core::protocol::frame::decode_response;
use microkafka_core::protocol::messages::FetchResponse;
use microkafka_core::record::compression::Codecs;
use microkafka_core_fuzz::{version_of, with_scratch, Input};

fn read(records: &[u8], fetch_offset: i64, crc: bool, codecs: &mut Codecs, scratch: &mut [u8]) {
    let mut cursor = FetchCursor::new(fetch_offset);
    if !crc {
        cursor = cursor.without_crc_check();
    }
    let mut wrapped = false;
    loop {
        let before = cursor.next_offset();
        match cursor.advance(records, codecs, scratch) {
            Ok(true) => {
                let record = cursor
                    .current(records, scratch)
                    .expect("advance validated it");
                assert!(record.offset >= before, "offsets only go up");
                assert_eq!(cursor.next_offset(), record.offset.wrapping_add(1));
                wrapped |= record.offset == i64::MAX;
            }
            Ok(false) => break,
            Err(_) => {
                assert!(cursor.failed());
                assert_eq!(cursor.advance(records, codecs, scratch), Ok(false));
                return;
            }
        }
    }
    assert_eq!(
        cursor.advance(records, codecs, scratch),
        Ok(false),
        "the end stays the end"
    );
    let (next, truncated) =
        next_fetch_offset(records, fetch_offset).expect("the cursor read it all");
    assert_eq!(cursor.truncated_tail(), truncated);
    assert!(
        wrapped || cursor.next_offset() >= next,
        "{} < {next}",
        cursor.next_offset()
    );
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let version = version_of::<FetchResponse<'_>>(u16::from(input.u8()));
    let crc = input.u8() & 1 == 0;
    let fetch_offset = i64::from(input.u8() as i8);
    let Ok((_, response)) = decode_response::<FetchResponse<'_>>(input.rest(), version) else {
        return;
    };
    let mut codecs = Codecs::new();
    with_scratch(|scratch| {
        for topic in response.responses.iter() {
            for partition in topic.partitions.iter() {
                let _ = FetchErrorAction::classify(partition.error_code);
                if let Some(records) = partition.records {
                    read(records, fetch_offset, crc, &mut codecs, scratch);
                }
            }
        }
    });
});
