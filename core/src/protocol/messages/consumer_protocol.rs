//! The consumer protocol: what a classic consumer puts in JoinGroup's protocol
//! metadata (a [`ConsumerProtocolSubscription`]) and what the leader puts in
//! SyncGroup's assignments (a [`ConsumerProtocolAssignment`]).
//!
//! These are not API messages but versioned data blobs: an `int16` version
//! followed by the struct at that version, always in the classic (non-flexible)
//! encoding. Newer versions only append fields, so — like the Java client — a
//! version newer than the ones known here is read with the newest known layout
//! and any trailing bytes are ignored.

use crate::error::{Error, Result};
use crate::protocol::VersionRange;
use crate::wire::{Array, Reader, Wire, WireVersion, Writer};

/// The `ConsumerProtocolSubscription` versions microkafka encodes (and the
/// layouts it decodes; newer versions decode with the newest).
pub const CONSUMER_SUBSCRIPTION_VERSIONS: VersionRange = VersionRange::new(0, 3);

/// The `ConsumerProtocolAssignment` versions microkafka encodes (and the
/// layouts it decodes; newer versions decode with the newest).
pub const CONSUMER_ASSIGNMENT_VERSIONS: VersionRange = VersionRange::new(0, 3);

wire_struct! {
    /// Partitions of one topic the member owned before this rebalance (v1+).
    pub struct SubscriptionTopicPartition<'a> {
        /// The topic name.
        pub topic: &'a str => 1..,
        /// The owned partitions.
        pub partitions: Array<'a, i32> => 1..,
    }
}

wire_struct! {
    /// A consumer's subscription, sent as JoinGroup protocol metadata.
    pub struct ConsumerProtocolSubscription<'a> {
        /// The subscribed topics.
        pub topics: Array<'a, &'a str> => 0..,
        /// Assignor-specific user data, or null.
        pub user_data: Option<&'a [u8]> => 0..,
        /// The partitions the member owned (v1+, for cooperative rebalancing).
        pub owned_partitions: Array<'a, SubscriptionTopicPartition<'a>> => 1..,
        /// The generation the owned partitions are from, or -1 (v2+).
        pub generation_id: i32 = -1 => 2..,
        /// The consumer's rack id, or null (v3+, rack-aware assignment).
        pub rack_id: Option<&'a str> => 3..,
    }
}

wire_struct! {
    /// Partitions of one topic assigned to a member.
    pub struct AssignmentTopicPartition<'a> {
        /// The topic name.
        pub topic: &'a str => 0..,
        /// The assigned partitions.
        pub partitions: Array<'a, i32> => 0..,
    }
}

wire_struct! {
    /// A member's assignment, sent by the leader in SyncGroup.
    pub struct ConsumerProtocolAssignment<'a> {
        /// The assigned partitions, by topic.
        pub assigned_partitions: Array<'a, AssignmentTopicPartition<'a>> => 0..,
        /// Assignor-specific user data, or null.
        pub user_data: Option<&'a [u8]> => 0..,
    }
}

/// Reads the version header; the layout to parse is that version, capped at
/// the newest known one (newer versions only append fields).
fn read_version(r: &mut Reader<'_>, known: VersionRange) -> Result<(i16, WireVersion)> {
    let version = r.i16()?;
    if version < known.min {
        return Err(Error::Malformed("negative consumer protocol version"));
    }
    Ok((version, WireVersion::new(version.min(known.max), false)))
}

/// Writes the version header, refusing versions whose layout is unknown.
fn write_version(w: &mut Writer<'_>, version: i16, known: VersionRange) -> Result<WireVersion> {
    if !known.contains(version) {
        return Err(Error::Malformed("unknown consumer protocol version"));
    }
    w.i16(version)?;
    Ok(WireVersion::new(version, false))
}

/// Decodes JoinGroup protocol metadata as a consumer subscription.
///
/// Returns the version found in the bytes and the subscription. A version
/// above [`CONSUMER_SUBSCRIPTION_VERSIONS`] is parsed with the newest known
/// layout; trailing bytes are ignored, as Java does.
pub fn decode_subscription<'a>(bytes: &'a [u8]) -> Result<(i16, ConsumerProtocolSubscription<'a>)> {
    let mut r = Reader::new(bytes);
    let (version, v) = read_version(&mut r, CONSUMER_SUBSCRIPTION_VERSIONS)?;
    Ok((version, ConsumerProtocolSubscription::decode(&mut r, v)?))
}

/// Encodes a consumer subscription (version header and body) at `version`,
/// which must be in [`CONSUMER_SUBSCRIPTION_VERSIONS`]. Fields newer than
/// `version` are left out.
pub fn encode_subscription(
    w: &mut Writer<'_>,
    version: i16,
    s: &ConsumerProtocolSubscription<'_>,
) -> Result<()> {
    let v = write_version(w, version, CONSUMER_SUBSCRIPTION_VERSIONS)?;
    s.encode(w, v)
}

/// Decodes a SyncGroup assignment as a consumer assignment.
///
/// Returns the version found in the bytes and the assignment. A version
/// above [`CONSUMER_ASSIGNMENT_VERSIONS`] is parsed with the newest known
/// layout; trailing bytes are ignored, as Java does.
pub fn decode_assignment<'a>(bytes: &'a [u8]) -> Result<(i16, ConsumerProtocolAssignment<'a>)> {
    let mut r = Reader::new(bytes);
    let (version, v) = read_version(&mut r, CONSUMER_ASSIGNMENT_VERSIONS)?;
    Ok((version, ConsumerProtocolAssignment::decode(&mut r, v)?))
}

/// Encodes a consumer assignment (version header and body) at `version`,
/// which must be in [`CONSUMER_ASSIGNMENT_VERSIONS`].
pub fn encode_assignment(
    w: &mut Writer<'_>,
    version: i16,
    a: &ConsumerProtocolAssignment<'_>,
) -> Result<()> {
    let v = write_version(w, version, CONSUMER_ASSIGNMENT_VERSIONS)?;
    a.encode(w, v)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use proptest::prelude::*;

    use super::*;
    use crate::protocol::messages::tests::cat;
    use crate::wire::testing::{Arbitrary, Gen};

    /// What a Java consumer sends for Subscription v0 to `["t1", "t2"]` with no user data.
    #[rustfmt::skip]
    const SUBSCRIPTION_V0: &[u8] = &[
        0x00, 0x00,             // version: 0
        0x00, 0x00, 0x00, 0x02, // topics: array of 2
        0x00, 0x02, b't', b'1', //   "t1"
        0x00, 0x02, b't', b'2', //   "t2"
        0xff, 0xff, 0xff, 0xff, // user_data: null
    ];

    /// Assignment v0: t1 → [0, 2], no user data.
    #[rustfmt::skip]
    const ASSIGNMENT_V0: &[u8] = &[
        0x00, 0x00,             // version: 0
        0x00, 0x00, 0x00, 0x01, // assigned_partitions: array of 1
        0x00, 0x02, b't', b'1', //   topic: "t1"
        0x00, 0x00, 0x00, 0x02, //   partitions: array of 2
        0x00, 0x00, 0x00, 0x00, //     0
        0x00, 0x00, 0x00, 0x02, //     2
        0xff, 0xff, 0xff, 0xff, // user_data: null
    ];

    fn encode_with<T>(f: impl Fn(&mut Writer<'_>) -> Result<T>) -> Vec<u8> {
        let mut counting = Writer::counting();
        f(&mut counting).unwrap();
        let mut buf = std::vec![0u8; counting.position()];
        let mut w = Writer::new(&mut buf);
        f(&mut w).unwrap();
        assert_eq!(w.position(), buf.len());
        buf
    }

    #[test]
    fn subscription_v0_golden() {
        let (version, s) = decode_subscription(SUBSCRIPTION_V0).unwrap();
        assert_eq!(version, 0);
        assert_eq!(s.topics.iter().collect::<Vec<_>>(), ["t1", "t2"]);
        assert_eq!(s.user_data, None);
        assert!(s.owned_partitions.is_empty());
        assert_eq!(s.generation_id, -1);
        assert_eq!(s.rack_id, None);
        let built = ConsumerProtocolSubscription {
            topics: Array::new(&["t1", "t2"]),
            ..Default::default()
        };
        assert_eq!(s, built);
        assert_eq!(
            encode_with(|w| encode_subscription(w, 0, &built)),
            SUBSCRIPTION_V0
        );
        assert_eq!(
            encode_with(|w| encode_subscription(w, 0, &s)),
            SUBSCRIPTION_V0
        );
    }

    #[test]
    fn subscription_v3_golden() {
        #[rustfmt::skip]
        let bytes = cat(&[
            &[0x00, 0x03],              // version: 3
            &[0x00, 0x00, 0x00, 0x01],  // topics: array of 1
            &[0x00, 0x02], b"t1",       //   "t1"
            &[0x00, 0x00, 0x00, 0x01],  // user_data: 1 byte
            &[0x7f],
            &[0x00, 0x00, 0x00, 0x01],  // owned_partitions: array of 1
            &[0x00, 0x02], b"t1",       //   topic: "t1"
            &[0x00, 0x00, 0x00, 0x01],  //   partitions: array of 1
            &[0x00, 0x00, 0x00, 0x01],  //     1
            &[0x00, 0x00, 0x00, 0x06],  // generation_id: 6
            &[0x00, 0x02], b"r1",       // rack_id: "r1"
        ]);
        let owned = [SubscriptionTopicPartition {
            topic: "t1",
            partitions: Array::new(&[1]),
        }];
        let expected = ConsumerProtocolSubscription {
            topics: Array::new(&["t1"]),
            user_data: Some(&[0x7f]),
            owned_partitions: Array::new(&owned),
            generation_id: 6,
            rack_id: Some("r1"),
        };
        assert_eq!(decode_subscription(&bytes).unwrap(), (3, expected));
        assert_eq!(encode_with(|w| encode_subscription(w, 3, &expected)), bytes);
    }

    #[test]
    fn assignment_v0_golden() {
        let (version, a) = decode_assignment(ASSIGNMENT_V0).unwrap();
        assert_eq!(version, 0);
        let tp = a.assigned_partitions.iter().next().unwrap();
        assert_eq!(tp.topic, "t1");
        assert_eq!(tp.partitions.iter().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(a.user_data, None);
        let assigned = [AssignmentTopicPartition {
            topic: "t1",
            partitions: Array::new(&[0, 2]),
        }];
        let built = ConsumerProtocolAssignment {
            assigned_partitions: Array::new(&assigned),
            user_data: None,
        };
        assert_eq!(a, built);
        assert_eq!(
            encode_with(|w| encode_assignment(w, 0, &built)),
            ASSIGNMENT_V0
        );
        assert_eq!(encode_with(|w| encode_assignment(w, 0, &a)), ASSIGNMENT_V0);
    }

    #[test]
    fn newer_versions_parse_as_newest_known_and_ignore_the_tail() {
        // A future subscription v7: the v3 layout followed by fields we do not know.
        let mut bytes = encode_with(|w| {
            encode_subscription(
                w,
                3,
                &ConsumerProtocolSubscription {
                    topics: Array::new(&["t1"]),
                    generation_id: 2,
                    rack_id: Some("r"),
                    ..Default::default()
                },
            )
        });
        bytes[..2].copy_from_slice(&7i16.to_be_bytes());
        bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let (version, s) = decode_subscription(&bytes).unwrap();
        assert_eq!(version, 7);
        assert_eq!(s.topics.iter().collect::<Vec<_>>(), ["t1"]);
        assert_eq!(s.generation_id, 2);
        assert_eq!(s.rack_id, Some("r"));

        // A future assignment v4, likewise.
        let mut bytes = Vec::from(ASSIGNMENT_V0);
        bytes[..2].copy_from_slice(&4i16.to_be_bytes());
        bytes.push(0x01);
        let (version, a) = decode_assignment(&bytes).unwrap();
        assert_eq!(version, 4);
        assert_eq!(a, decode_assignment(ASSIGNMENT_V0).unwrap().1);

        // Yet we never write a version whose layout we do not know.
        let mut buf = [0u8; 64];
        assert!(encode_subscription(&mut Writer::new(&mut buf), 4, &s).is_err());
        assert!(encode_assignment(&mut Writer::new(&mut buf), -1, &a).is_err());
    }

    #[test]
    fn negative_versions_are_rejected() {
        assert!(decode_subscription(&[0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode_assignment(&[0x80, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    // Property tests, as `messages::tests` runs for API messages.

    fn round_trips<T>(
        seed: u64,
        versions: VersionRange,
        encode: impl Fn(&mut Writer<'_>, i16, &T) -> Result<()>,
        decode: impl Fn(&'static [u8]) -> Result<(i16, T)>,
    ) where
        T: Arbitrary + PartialEq + core::fmt::Debug,
    {
        let mut g = Gen::new(seed);
        for version in versions.min..=versions.max {
            let value = T::arbitrary(&mut g, WireVersion::new(version, false));
            let bytes: &'static [u8] = encode_with(|w| encode(w, version, &value)).leak();
            let (back_version, back) = decode(bytes).unwrap();
            assert_eq!(back_version, version);
            assert_eq!(back, value, "at v{version}");
            assert_eq!(encode_with(|w| encode(w, version, &back)), bytes);
        }
    }

    fn never_panics<T: Arbitrary>(
        seed: u64,
        noise: &[u8],
        versions: VersionRange,
        encode: impl Fn(&mut Writer<'_>, i16, &T) -> Result<()>,
        decode: impl Fn(&'static [u8]) -> Result<(i16, T)>,
    ) {
        let mut g = Gen::new(seed);
        let _ = decode(Vec::from(noise).leak());
        for version in versions.min..=versions.max {
            let value = T::arbitrary(&mut g, WireVersion::new(version, false));
            let bytes: &'static [u8] = encode_with(|w| encode(w, version, &value)).leak();
            for cut in 0..bytes.len() {
                assert!(
                    decode(&bytes[..cut]).is_err(),
                    "truncated to {cut} decoded at v{version}"
                );
            }
            let at = g.below(bytes.len() as u64) as usize;
            let mut flipped = Vec::from(bytes);
            flipped[at] ^= 1 << g.below(8);
            let _ = decode(flipped.leak());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn subscription_round_trips(seed in any::<u64>()) {
            round_trips(seed, CONSUMER_SUBSCRIPTION_VERSIONS, encode_subscription, decode_subscription);
        }

        #[test]
        fn assignment_round_trips(seed in any::<u64>()) {
            round_trips(seed, CONSUMER_ASSIGNMENT_VERSIONS, encode_assignment, decode_assignment);
        }

        #[test]
        fn subscription_decode_never_panics(seed in any::<u64>(), noise in proptest::collection::vec(any::<u8>(), 0..256)) {
            never_panics(seed, &noise, CONSUMER_SUBSCRIPTION_VERSIONS, encode_subscription, decode_subscription);
        }

        #[test]
        fn assignment_decode_never_panics(seed in any::<u64>(), noise in proptest::collection::vec(any::<u8>(), 0..256)) {
            never_panics(seed, &noise, CONSUMER_ASSIGNMENT_VERSIONS, encode_assignment, decode_assignment);
        }
    }
}
