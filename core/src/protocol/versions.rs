//! API version negotiation: pick, per API, the highest version both sides speak.

use crate::error::{Error, Result};
use crate::protocol::messages::{self, ApiVersionsResponse};
use crate::protocol::{ApiKey, Message};

/// An inclusive range of API versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VersionRange {
    /// Lowest version, inclusive.
    pub min: i16,
    /// Highest version, inclusive.
    pub max: i16,
}

impl VersionRange {
    /// `min..=max`.
    pub const fn new(min: i16, max: i16) -> Self {
        VersionRange { min, max }
    }

    /// True when `version` is in the range.
    pub const fn contains(&self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }

    /// The overlap with `other`, if any.
    pub const fn intersect(&self, other: VersionRange) -> Option<VersionRange> {
        let min = if self.min > other.min {
            self.min
        } else {
            other.min
        };
        let max = if self.max < other.max {
            self.max
        } else {
            other.max
        };
        if min <= max {
            Some(VersionRange { min, max })
        } else {
            None
        }
    }
}

/// The lowest version of each API a Kafka 4.x broker still accepts (KIP-896).
///
/// A 4.x broker may still *advertise* older versions (Produce 0, for one) but
/// closes the connection when they are used, so the client never picks below
/// this floor whatever the broker says. APIs not listed have floor 0 (the
/// transaction APIs among them: Kafka 4.4 still accepts AddPartitionsToTxn,
/// AddOffsetsToTxn, EndTxn and TxnOffsetCommit from v0).
pub const fn kafka4_floor(api: ApiKey) -> i16 {
    match api {
        ApiKey::Produce => 3,
        ApiKey::Fetch => 4,
        ApiKey::ListOffsets => 1,
        ApiKey::OffsetCommit => 2,
        ApiKey::OffsetFetch => 1,
        ApiKey::JoinGroup => 2,
        ApiKey::CreateTopics => 2,
        ApiKey::DeleteTopics => 1,
        ApiKey::DescribeConfigs => 1,
        _ => 0,
    }
}

/// The highest version of each API a *client* sends, where it is below the
/// codec's: AddPartitionsToTxn v4+ is the brokers' batched form (a
/// partition leader verifying transactions, KIP-890; clients send v0-3, as
/// the Java client's `forClient` does), and EndTxn v5 belongs to
/// transactions version 2 (KIP-890 part 2: an epoch bump at every
/// transaction's end, with partitions added implicitly by Produce v12,
/// which microkafka's codecs do not reach; the Java client also stays at
/// EndTxn v4 without it). The codecs still read and write those versions
/// (the mock broker answers them).
pub const fn client_ceiling(api: ApiKey) -> i16 {
    match api {
        ApiKey::AddPartitionsToTxn => 3,
        ApiKey::EndTxn => 4,
        _ => i16::MAX,
    }
}

/// The versions microkafka's codecs support for each API (request and response
/// share one range), ignoring the 4.x floor.
pub const fn codec_versions(api: ApiKey) -> VersionRange {
    let [min, max, _] = CODEC_FACTS[api.index()];
    VersionRange::new(min as i16, max as i16)
}

/// The first flexible version of `api`, if any.
pub const fn codec_flexible_from(api: ApiKey) -> Option<i16> {
    match CODEC_FACTS[api.index()][2] {
        -1 => None,
        v => Some(v as i16),
    }
}

/// [`codec_facts`] of every API by [`ApiKey::index`], computed at compile
/// time: a lookup is a load (the `match` took 220 bytes of a firmware's
/// flash). Three bytes per API (`min`, `max`, first flexible version or
/// -1; every version Kafka has fits an `i8`), not the eight of
/// `(VersionRange, Option<i16>)`: the table grows with every API the
/// codecs learn, and the firmware carries it.
const CODEC_FACTS: [[i8; 3]; ApiKey::ALL.len()] = {
    let mut facts = [[0i8; 3]; ApiKey::ALL.len()];
    let mut i = 0;
    while i < facts.len() {
        // `ApiKey::index` is the position in `ALL`.
        let (range, flexible) = codec_facts(ApiKey::ALL[i]);
        assert!(range.min >= 0 && range.max <= i8::MAX as i16);
        facts[i] = [
            range.min as i8,
            range.max as i8,
            match flexible {
                Some(v) => v as i8,
                None => -1,
            },
        ];
        i += 1;
    }
    facts
};

/// `(versions, first flexible version)` of each API's request codec.
const fn codec_facts(api: ApiKey) -> (VersionRange, Option<i16>) {
    use messages::*;
    macro_rules! facts {
        ($ty:ty) => {
            (<$ty as Message>::VERSIONS, <$ty as Message>::FLEXIBLE_FROM)
        };
    }
    match api {
        ApiKey::Produce => facts!(ProduceRequest<'static>),
        ApiKey::Fetch => facts!(FetchRequest<'static>),
        ApiKey::ListOffsets => facts!(ListOffsetsRequest<'static>),
        ApiKey::Metadata => facts!(MetadataRequest<'static>),
        ApiKey::OffsetCommit => facts!(OffsetCommitRequest<'static>),
        ApiKey::OffsetFetch => facts!(OffsetFetchRequest<'static>),
        ApiKey::FindCoordinator => facts!(FindCoordinatorRequest<'static>),
        ApiKey::JoinGroup => facts!(JoinGroupRequest<'static>),
        ApiKey::Heartbeat => facts!(HeartbeatRequest<'static>),
        ApiKey::LeaveGroup => facts!(LeaveGroupRequest<'static>),
        ApiKey::SyncGroup => facts!(SyncGroupRequest<'static>),
        ApiKey::DescribeGroups => facts!(DescribeGroupsRequest<'static>),
        ApiKey::ListGroups => facts!(ListGroupsRequest<'static>),
        ApiKey::SaslHandshake => facts!(SaslHandshakeRequest<'static>),
        ApiKey::ApiVersions => facts!(ApiVersionsRequest<'static>),
        ApiKey::CreateTopics => facts!(CreateTopicsRequest<'static>),
        ApiKey::DeleteTopics => facts!(DeleteTopicsRequest<'static>),
        ApiKey::InitProducerId => facts!(InitProducerIdRequest<'static>),
        ApiKey::AddPartitionsToTxn => facts!(AddPartitionsToTxnRequest<'static>),
        ApiKey::AddOffsetsToTxn => facts!(AddOffsetsToTxnRequest<'static>),
        ApiKey::EndTxn => facts!(EndTxnRequest<'static>),
        ApiKey::TxnOffsetCommit => facts!(TxnOffsetCommitRequest<'static>),
        ApiKey::SaslAuthenticate => facts!(SaslAuthenticateRequest<'static>),
        ApiKey::CreatePartitions => facts!(CreatePartitionsRequest<'static>),
        ApiKey::DeleteRecords => facts!(DeleteRecordsRequest<'static>),
        ApiKey::DescribeConfigs => facts!(DescribeConfigsRequest<'static>),
        ApiKey::AlterConfigs => facts!(AlterConfigsRequest<'static>),
        ApiKey::DeleteGroups => facts!(DeleteGroupsRequest<'static>),
        ApiKey::ElectLeaders => facts!(ElectLeadersRequest<'static>),
        ApiKey::IncrementalAlterConfigs => facts!(IncrementalAlterConfigsRequest<'static>),
        ApiKey::OffsetDelete => facts!(OffsetDeleteRequest<'static>),
        ApiKey::DescribeCluster => facts!(DescribeClusterRequest),
    }
}

/// The versions the microkafka *client* may send: the codec range with the
/// Kafka 4.x floor and the [client ceiling](client_ceiling) applied.
pub const fn client_versions(api: ApiKey) -> VersionRange {
    let codec = codec_versions(api);
    let floor = kafka4_floor(api);
    let ceiling = client_ceiling(api);
    VersionRange::new(
        if codec.min > floor { codec.min } else { floor },
        if codec.max < ceiling {
            codec.max
        } else {
            ceiling
        },
    )
}

/// [`client_versions`] of every API by [`ApiKey::index`], computed at
/// compile time: negotiation (which a firmware runs on every connection)
/// reads two bytes per advertised API instead of working out the codec
/// range, the 4.x floor and the client ceiling (kept out of the firmware:
/// about 0.1 KiB of flash for a 64-byte table).
const CLIENT_RANGES: [[i8; 2]; ApiKey::ALL.len()] = {
    let mut ranges = [[0i8; 2]; ApiKey::ALL.len()];
    let mut i = 0;
    while i < ranges.len() {
        let range = client_versions(ApiKey::ALL[i]);
        assert!(range.min >= 0 && range.max <= i8::MAX as i16);
        ranges[i] = [range.min as i8, range.max as i8];
        i += 1;
    }
    ranges
};

/// Per-API result of negotiating with one broker: the version to use, or why none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NegotiatedVersions {
    chosen: [Choice; ApiKey::ALL.len()],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Choice {
    NotAdvertised,
    NoOverlap,
    /// The versions both sides accept (the highest is used).
    Use(VersionRange),
}

impl NegotiatedVersions {
    /// Nothing negotiated: every API reports [`Error::ApiNotSupported`].
    pub const NONE: NegotiatedVersions = NegotiatedVersions {
        chosen: [Choice::NotAdvertised; ApiKey::ALL.len()],
    };

    /// Negotiates against the ranges a broker advertised in its ApiVersions response.
    ///
    /// For every API both know, the highest version in the overlap of the
    /// broker's range and [`client_versions`] wins. The response's error code is
    /// not checked here: the caller decides how to treat a broker error.
    pub fn from_response(response: &ApiVersionsResponse<'_>) -> Self {
        Self::from_ranges(
            response
                .api_keys
                .iter()
                .map(|k| (k.api_key, VersionRange::new(k.min_version, k.max_version))),
        )
    }

    /// Negotiates against `(api key, advertised range)` pairs. Unknown keys are ignored.
    pub fn from_ranges(advertised: impl IntoIterator<Item = (i16, VersionRange)>) -> Self {
        let mut chosen = [Choice::NotAdvertised; ApiKey::ALL.len()];
        for (key, broker) in advertised {
            let Some(i) = ApiKey::index_of_key(key) else {
                continue;
            };
            let [min, max] = CLIENT_RANGES[i];
            let client = VersionRange::new(min as i16, max as i16);
            chosen[i] = match client.intersect(broker) {
                Some(both) => Choice::Use(both),
                None => Choice::NoOverlap,
            };
        }
        NegotiatedVersions { chosen }
    }

    /// The version to send for `api`.
    ///
    /// Errors: [`Error::ApiNotSupported`] when the broker did not advertise the
    /// API, [`Error::NoCommonVersion`] when the ranges do not overlap.
    pub fn version(&self, api: ApiKey) -> Result<i16> {
        self.common(api).map(|both| both.max)
    }

    /// Checks that `version` of `api` is one both sides accept (for a client
    /// that sends a [fixed version](super::fixed)).
    ///
    /// Errors: as [`version`](Self::version), and [`Error::NoCommonVersion`]
    /// when `version` is outside the common range.
    pub fn require(&self, api: ApiKey, version: i16) -> Result<()> {
        if self.common(api)?.contains(version) {
            Ok(())
        } else {
            Err(Error::NoCommonVersion { api })
        }
    }

    fn common(&self, api: ApiKey) -> Result<VersionRange> {
        match self.chosen[api.index()] {
            Choice::Use(both) => Ok(both),
            Choice::NoOverlap => Err(Error::NoCommonVersion { api }),
            Choice::NotAdvertised => Err(Error::ApiNotSupported { api }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_highest_common_version() {
        let client = client_versions(ApiKey::Metadata);
        let v = NegotiatedVersions::from_ranges([(3, VersionRange::new(0, 100))]);
        assert_eq!(v.version(ApiKey::Metadata), Ok(client.max));
        let v = NegotiatedVersions::from_ranges([(3, VersionRange::new(0, 5))]);
        assert_eq!(v.version(ApiKey::Metadata), Ok(5));
    }

    #[test]
    fn never_below_kafka4_floor() {
        // A broker advertising only Produce 0-2 shares nothing with a 4.x-ready client.
        let v = NegotiatedVersions::from_ranges([
            (0, VersionRange::new(0, 2)),
            (1, VersionRange::new(0, 3)),
        ]);
        assert_eq!(
            v.version(ApiKey::Produce),
            Err(Error::NoCommonVersion {
                api: ApiKey::Produce
            })
        );
        assert_eq!(
            v.version(ApiKey::Fetch),
            Err(Error::NoCommonVersion { api: ApiKey::Fetch })
        );
        assert_eq!(
            v.version(ApiKey::Heartbeat),
            Err(Error::ApiNotSupported {
                api: ApiKey::Heartbeat
            })
        );
        let v = NegotiatedVersions::from_ranges([(0, VersionRange::new(0, 3))]);
        assert_eq!(v.version(ApiKey::Produce), Ok(3));
        for api in ApiKey::ALL {
            assert!(client_versions(api).min >= kafka4_floor(api), "{api}");
            assert!(
                client_versions(api).min <= client_versions(api).max,
                "{api}"
            );
        }
    }

    #[test]
    fn clients_send_the_client_forms_of_the_transaction_apis() {
        // Kafka 4.4 advertises AddPartitionsToTxn 0-5, EndTxn 0-5.
        let v = NegotiatedVersions::from_ranges([
            (24, VersionRange::new(0, 5)),
            (25, VersionRange::new(0, 4)),
            (26, VersionRange::new(0, 5)),
            (28, VersionRange::new(0, 6)),
        ]);
        assert_eq!(v.version(ApiKey::AddPartitionsToTxn), Ok(3));
        assert_eq!(v.version(ApiKey::AddOffsetsToTxn), Ok(4));
        assert_eq!(v.version(ApiKey::EndTxn), Ok(4));
        assert_eq!(v.version(ApiKey::TxnOffsetCommit), Ok(4));
        assert_eq!(
            codec_versions(ApiKey::AddPartitionsToTxn),
            VersionRange::new(0, 5)
        );
        assert_eq!(codec_versions(ApiKey::EndTxn), VersionRange::new(0, 5));
        for api in [
            ApiKey::AddPartitionsToTxn,
            ApiKey::AddOffsetsToTxn,
            ApiKey::EndTxn,
            ApiKey::TxnOffsetCommit,
        ] {
            assert_eq!(kafka4_floor(api), 0, "{api}");
            assert_eq!(client_versions(api).min, 0, "{api}");
        }
    }

    #[test]
    fn error_names_the_api() {
        extern crate std;
        use std::string::ToString;
        let msg = Error::NoCommonVersion {
            api: ApiKey::Produce,
        }
        .to_string();
        assert!(msg.contains("Produce"), "{msg}");
    }
}
