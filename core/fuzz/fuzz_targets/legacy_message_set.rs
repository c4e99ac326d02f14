//! Legacy message sets (magic 0/1), read-only in core: every entry parsed and
//! CRC-checked, a compressed wrapper's inner messages read through `Codecs`
//! into a bounded scratch buffer (KIP-31 offsets: the last inner message has
//! the wrapper's offset), and the same bytes read as a record set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microkafka_core::record::compression::{Codecs, Compression};
use microkafka_core::record::{Batch, LegacyMessage, RecordSet, TimestampType};
use microkafka_core_fuzz::with_scratch;

fn inner(message: &LegacyMessage<'_>, codecs: &mut Codecs, scratch: &mut [u8]) {
    let Ok(messages) = message.messages(codecs, scratch) else {
        return;
    };
    let wrapper = message.compression().ok() != Some(Compression::None);
    let log_append = message.timestamp_type() == TimestampType::LogAppendTime;
    let mut last = None;
    for m in messages {
        let Ok(m) = m else {
            return;
        };
        assert_eq!(m.compression().ok(), Some(Compression::None));
        if wrapper && log_append {
            assert_eq!(
                m.timestamp, message.timestamp,
                "log-append time is the wrapper's"
            );
        }
        last = Some(m.offset);
    }
    if wrapper && message.magic >= 1 {
        assert_eq!(
            last,
            Some(message.offset),
            "the last inner offset is the wrapper's"
        );
    }
}

fuzz_target!(|data: &[u8]| with_scratch(|scratch| {
    let mut codecs = Codecs::new();
    let mut rest = data;
    while let Ok((message, used)) = LegacyMessage::parse(rest) {
        assert!(used <= rest.len());
        let _ = message.verify_crc();
        inner(&message, &mut codecs, scratch);
        rest = &rest[used..];
    }
    for entry in RecordSet::new(data).without_crc_check() {
        match entry {
            Ok(Batch::Legacy(message)) => inner(&message, &mut codecs, scratch),
            Ok(Batch::V2(_)) => {}
            Err(_) => break,
        }
    }
}));
