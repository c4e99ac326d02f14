//! Record batches v2, every codec: the batch at the front of the input is
//! checked and its records read, a compressed one decompressed through
//! `Codecs` into a bounded scratch buffer. Round trip: the records rebuilt
//! with the same codec and options read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microkafka_core::record::compression::Codecs;
use microkafka_core::record::{
    BatchOptions, ControlRecord, RecordBatch, RecordBatchBuilder, RecordHeader, RecordSet,
    RECORD_BATCH_OVERHEAD,
};
use std::cell::RefCell;

use microkafka_core_fuzz::with_scratch;

thread_local! {
    /// Compressors for the round trip, kept between runs: zstd's and
    /// gzip's allocate their tables once (MiBs), as in a producer.
    static COMPRESSORS: RefCell<Codecs> = RefCell::new(Codecs::new());
}

type Read<'a> = (
    i64,
    Option<&'a [u8]>,
    Option<&'a [u8]>,
    Vec<RecordHeader<'a>>,
);

fn read<'a>(
    batch: &'a RecordBatch<&[u8]>,
    codecs: &mut Codecs,
    scratch: &'a mut [u8],
) -> Option<Vec<Read<'a>>> {
    let mut out = Vec::new();
    for record in batch.records_decompressed(codecs, scratch).ok()? {
        let record = record.ok()?;
        if batch.attributes().is_control() {
            let _ = ControlRecord::parse(record.key.unwrap_or_default());
        }
        let headers: Vec<_> = record
            .headers
            .iter()
            .map(|h| RecordHeader {
                key: h.key,
                value: h.value,
            })
            .collect();
        assert_eq!(headers.len(), record.headers.len());
        let timestamp = batch.base_timestamp().wrapping_add(record.timestamp_delta);
        out.push((timestamp, record.key, record.value, headers));
    }
    Some(out)
}

fuzz_target!(|data: &[u8]| with_scratch(|scratch| check(data, scratch)));

fn check(data: &[u8], scratch: &mut [u8]) {
    // The same bytes as a record set, CRCs checked: errors end it, never a panic.
    for entry in RecordSet::new(data) {
        if entry.is_err() {
            break;
        }
    }
    let Ok(batch) = RecordBatch::new_checked(data) else {
        return;
    };
    assert!(batch.total_len() <= data.len() && batch.records_count() >= 0);
    let _ = batch.verify_crc();
    let mut codecs = Codecs::new();
    let Some(records) = read(&batch, &mut codecs, scratch) else {
        return;
    };
    if records.is_empty() {
        return;
    }
    let a = batch.attributes();
    let options = BatchOptions {
        producer_id: batch.producer_id(),
        producer_epoch: batch.producer_epoch(),
        base_sequence: batch.base_sequence(),
        partition_leader_epoch: batch.partition_leader_epoch(),
        base_offset: batch.base_offset(),
        transactional: a.is_transactional(),
        timestamp_type: a.timestamp_type(),
    };
    let compression = a.compression().expect("read, so a known codec");
    let mut len = RECORD_BATCH_OVERHEAD;
    for (i, (_, key, value, headers)) in records.iter().enumerate() {
        len += RecordBatchBuilder::encoded_record_len(i64::MAX, i as i32, *key, *value, headers)
            .unwrap();
    }
    let mut buf = vec![0u8; RECORD_BATCH_OVERHEAD + compression.max_compressed_len(len)];
    let mut out = vec![0u8; compression.max_compressed_len(len)];
    let mut builder = RecordBatchBuilder::new(&mut buf, options).unwrap();
    for (timestamp, key, value, headers) in &records {
        builder
            .append(*timestamp, *key, *value, headers)
            .expect("room for every record");
    }
    let rebuilt = COMPRESSORS.with(|c| {
        let mut c = c.borrow_mut();
        let codec = c.codec(compression).unwrap();
        builder
            .finish_compressed(codec, &mut out)
            .expect("max_compressed_len is enough")
            .to_vec()
    });
    let rebuilt = RecordBatch::new_verified(&rebuilt[..]).expect("a built batch checks");
    assert_eq!(rebuilt.records_count() as usize, records.len());
    assert_eq!(rebuilt.base_offset(), options.base_offset);
    let mut again = vec![0u8; len];
    let back = read(&rebuilt, &mut codecs, &mut again).expect("a built batch reads");
    assert_eq!(back, records, "{compression:?} batch round trip");
}
