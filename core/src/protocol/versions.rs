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
/// this floor whatever the broker says. APIs not listed have floor 0.
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
        _ => 0,
    }
}

/// The versions microkafka's codecs support for each API (request and response
/// share one range), ignoring the 4.x floor.
pub const fn codec_versions(api: ApiKey) -> VersionRange {
    CODEC_FACTS[api.index()].0
}

/// The first flexible version of `api`, if any.
pub const fn codec_flexible_from(api: ApiKey) -> Option<i16> {
    CODEC_FACTS[api.index()].1
}

/// [`codec_facts`] of every API by [`ApiKey::index`], computed at compile
/// time: a lookup is a load (the `match` took 220 bytes of a firmware's
/// flash).
const CODEC_FACTS: [(VersionRange, Option<i16>); ApiKey::ALL.len()] = {
    let mut facts = [(VersionRange::new(0, 0), None); ApiKey::ALL.len()];
    let mut i = 0;
    while i < facts.len() {
        // `ApiKey::index` is the position in `ALL`.
        facts[i] = codec_facts(ApiKey::ALL[i]);
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
        ApiKey::SaslAuthenticate => facts!(SaslAuthenticateRequest<'static>),
        ApiKey::CreatePartitions => facts!(CreatePartitionsRequest<'static>),
    }
}

/// The versions the microkafka *client* may send: the codec range with the
/// Kafka 4.x floor applied.
pub const fn client_versions(api: ApiKey) -> VersionRange {
    let codec = codec_versions(api);
    let floor = kafka4_floor(api);
    VersionRange::new(if codec.min > floor { codec.min } else { floor }, codec.max)
}

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
            let Some(api) = ApiKey::from_key(key) else {
                continue;
            };
            chosen[api.index()] = match client_versions(api).intersect(broker) {
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
