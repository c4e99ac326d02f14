//! A Produce request sent around a record batch that stays where it was built.
//!
//! A firmware producer builds its batch in a buffer it keeps until the broker
//! acknowledges it (to resend the same bytes on a retry). Encoding a Produce
//! request the usual way copies the batch into the frame buffer, so the
//! records take twice their size in RAM. Here the request is encoded with an
//! empty `records` field into a small head buffer, then
//! [`splice_records`] patches the frame size and the records length for the
//! real batch: the transport writes `head`, then the batch from where it
//! lies, then `tail`. The bytes on the wire are exactly those of the full
//! request.

use core::ops::Range;

use crate::error::{Error, Result};
use crate::protocol::frame::SIZE_PREFIX_LEN;
use crate::protocol::versions::codec_flexible_from;
use crate::protocol::ApiKey;

/// Where the parts of a spliced Produce frame are in the head buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SplicedProduce {
    /// Send `buf[..head_len]` first: size prefix, header and the request up
    /// to the records length.
    pub head_len: usize,
    /// Then the records (the batch bytes), then `buf[tail]`: the tagged-field
    /// sections that close the partition, the topic and the request (empty
    /// before Produce v9).
    pub tail: Range<usize>,
    /// Bytes of the whole frame on the wire: head, records and tail.
    pub frame_len: usize,
}

/// Rewrites `buf[..len]`, a Produce request frame for one topic and one
/// partition encoded at `version` with `records: Some(&[])` (as
/// [`Connection::encode`](crate::client::Connection::encode) returns it),
/// into the head and tail of the same request carrying `records_len` bytes
/// of records.
///
/// `buf` needs up to 4 bytes of room after `len` (the records length grows
/// from one byte to up to five in flexible versions).
///
/// ```
/// use microkafka_core::producer::splice_records;
/// use microkafka_core::protocol::frame::encode_request;
/// use microkafka_core::protocol::messages::{PartitionProduceData, ProduceRequest, TopicProduceData};
/// use microkafka_core::wire::Array;
///
/// let batch = [7u8; 300]; // a record batch, kept where it was built
/// let partitions = [PartitionProduceData { index: 0, records: Some(&[]) }];
/// let topics = [TopicProduceData { name: "events", partition_data: Array::new(&partitions) }];
/// let produce = ProduceRequest { acks: -1, timeout_ms: 5_000, topic_data: Array::new(&topics), ..Default::default() };
///
/// let mut head = [0u8; 128];
/// let len = encode_request(&mut head, 1, Some("mcu"), 9, &produce).unwrap();
/// let spliced = splice_records(&mut head, len, 9, batch.len()).unwrap();
/// let mut wire = Vec::new();
/// wire.extend_from_slice(&head[..spliced.head_len]);
/// wire.extend_from_slice(&batch);
/// wire.extend_from_slice(&head[spliced.tail.clone()]);
/// assert_eq!(wire.len(), spliced.frame_len);
/// ```
pub fn splice_records(
    buf: &mut [u8],
    len: usize,
    version: i16,
    records_len: usize,
) -> Result<SplicedProduce> {
    let flexible = codec_flexible_from(ApiKey::Produce).is_some_and(|v| version >= v);
    // Flexible versions close the partition, the topic and the request with
    // an empty tagged-field section each (microkafka writes no tagged fields
    // in requests); classic versions end with the records.
    let (tail_len, empty_len_field): (usize, &[u8]) = if flexible {
        (3, &[0x01])
    } else {
        (0, &[0, 0, 0, 0])
    };
    let not_spliceable = Error::Malformed("not a one-partition Produce request with empty records");
    let field_at = len
        .checked_sub(tail_len + empty_len_field.len())
        .filter(|&at| at >= SIZE_PREFIX_LEN)
        .ok_or(not_spliceable)?;
    let frame = buf.get(..len).ok_or(Error::BufferTooSmall)?;
    if &frame[field_at..len - tail_len] != empty_len_field
        || frame[len - tail_len..].iter().any(|&b| b != 0)
    {
        return Err(not_spliceable);
    }

    let mut field = [0u8; 5];
    let field_len = if flexible {
        // Compact bytes: unsigned varint of length + 1.
        let n = u32::try_from(records_len)
            .ok()
            .and_then(|n| n.checked_add(1))
            .ok_or(Error::TooLarge {
                what: crate::Limit::Records,
                size: records_len,
                limit: u32::MAX as usize - 1,
            })?;
        uvarint(n, &mut field)
    } else {
        let n = i32::try_from(records_len).map_err(|_| Error::TooLarge {
            what: crate::Limit::Records,
            size: records_len,
            limit: i32::MAX as usize,
        })?;
        field[..4].copy_from_slice(&n.to_be_bytes());
        4
    };
    let head_len = field_at + field_len;
    let tail = head_len..head_len + tail_len;
    let out = buf.get_mut(..tail.end).ok_or(Error::BufferTooSmall)?;
    out[field_at..head_len].copy_from_slice(&field[..field_len]);
    out[tail.clone()].fill(0);

    let frame_len = head_len + records_len + tail_len;
    let size = i32::try_from(frame_len - SIZE_PREFIX_LEN).map_err(|_| Error::TooLarge {
        what: crate::Limit::Frame,
        size: frame_len,
        limit: i32::MAX as usize,
    })?;
    out[..SIZE_PREFIX_LEN].copy_from_slice(&size.to_be_bytes());
    Ok(SplicedProduce {
        head_len,
        tail,
        frame_len,
    })
}

/// Writes `v` as an unsigned varint; returns its length.
fn uvarint(mut v: u32, out: &mut [u8; 5]) -> usize {
    let mut n = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out[n] = byte;
            return n + 1;
        }
        out[n] = byte | 0x80;
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::protocol::frame::encode_request;
    use crate::protocol::messages::{PartitionProduceData, ProduceRequest, TopicProduceData};
    use crate::protocol::Message;
    use crate::wire::Array;

    fn request<'a>(
        parts: &'a [PartitionProduceData<'a>],
        topics: &'a mut [TopicProduceData<'a>; 1],
    ) -> ProduceRequest<'a> {
        topics[0].partition_data = Array::new(parts);
        ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 30_000,
            topic_data: Array::new(topics),
        }
    }

    #[test]
    fn spliced_frames_are_byte_identical_at_every_version() {
        let versions = <ProduceRequest<'_> as Message>::VERSIONS;
        // Lengths around every varint width boundary.
        for records_len in [1usize, 61, 126, 127, 128, 300, 16_383, 16_384, 70_000] {
            let records: Vec<u8> = (0..records_len).map(|i| (i * 7) as u8).collect();
            for version in 3..=versions.max {
                let name = "telemetry";
                let full_parts = [PartitionProduceData {
                    index: 5,
                    records: Some(&records),
                }];
                let mut topics = [TopicProduceData {
                    name,
                    partition_data: Array::default(),
                }];
                let full = request(&full_parts, &mut topics);
                let mut expected = vec![0u8; records_len + 256];
                let n = encode_request(&mut expected, 42, Some("mcu-7"), version, &full).unwrap();
                expected.truncate(n);

                let empty_parts = [PartitionProduceData {
                    index: 5,
                    records: Some(&[]),
                }];
                let mut topics = [TopicProduceData {
                    name,
                    partition_data: Array::default(),
                }];
                let empty = request(&empty_parts, &mut topics);
                let mut head = [0u8; 128];
                let len = encode_request(&mut head, 42, Some("mcu-7"), version, &empty).unwrap();
                let s = splice_records(&mut head, len, version, records_len).unwrap();
                let mut wire = head[..s.head_len].to_vec();
                wire.extend_from_slice(&records);
                wire.extend_from_slice(&head[s.tail.clone()]);
                assert_eq!(wire.len(), s.frame_len);
                assert_eq!(wire, expected, "version {version}, {records_len} bytes");
            }
        }
    }

    #[test]
    fn refuses_frames_it_cannot_splice() {
        let records = [1u8, 2, 3];
        let parts = [PartitionProduceData {
            index: 0,
            records: Some(&records),
        }];
        let mut topics = [TopicProduceData {
            name: "t",
            partition_data: Array::default(),
        }];
        let req = request(&parts, &mut topics);
        for version in [3, 9] {
            let mut head = [0u8; 128];
            let len = encode_request(&mut head, 1, None, version, &req).unwrap();
            assert!(
                matches!(
                    splice_records(&mut head, len, version, 10),
                    Err(Error::Malformed(_))
                ),
                "records already present (v{version})"
            );
        }
        let mut tiny = [0u8; 4];
        assert!(splice_records(&mut tiny, 4, 9, 10).is_err());
        // No room for a longer records length after the frame.
        let parts = [PartitionProduceData {
            index: 0,
            records: Some(&[]),
        }];
        let mut topics = [TopicProduceData {
            name: "t",
            partition_data: Array::default(),
        }];
        let req = request(&parts, &mut topics);
        let mut head = [0u8; 128];
        let len = encode_request(&mut head, 1, None, 9, &req).unwrap();
        assert_eq!(
            splice_records(&mut head[..len], len, 9, 1000),
            Err(Error::BufferTooSmall)
        );
    }
}
