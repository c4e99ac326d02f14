//! The API version ranges the mock broker advertises in ApiVersions, and
//! those it serves.

use microkafka_core::protocol::versions::{codec_versions, kafka4_floor};
use microkafka_core::protocol::{ApiKey, VersionRange};

/// The versions of `api` the broker lists in ApiVersions.
///
/// By default these are the ranges a Kafka 3.x broker accepted: every version
/// in Kafka's message schemas, which is what microkafka-core's codecs
/// implement (Produce 0-11, Fetch 0-17, Metadata 0-12, ...), legacy message
/// formats included. With `kafka4`, the ranges of Kafka 4.x (KIP-896), as a
/// Kafka 4.4 broker lists them: the floor applied, except that Produce is
/// still listed from v0 (Kafka keeps advertising v0-2 for old librdkafka
/// versions, and closes the connection when one is used: see `served`).
pub fn advertised(api: ApiKey, kafka4: bool) -> VersionRange {
    let served = served(api, kafka4);
    if kafka4 && api == ApiKey::Produce {
        VersionRange::new(codec_versions(api).min, served.max)
    } else {
        served
    }
}

/// The versions of `api` the broker serves; a request at any other version
/// closes the connection, as Kafka does (there is no response a client could
/// parse). ApiVersions is the exception: KIP-511 answers it at v0.
pub(crate) fn served(api: ApiKey, kafka4: bool) -> VersionRange {
    let codec = codec_versions(api);
    if !kafka4 {
        return codec;
    }
    let floor = match api {
        // KIP-896 meant to remove JoinGroup v0-1 too, but Kafka 4.4 still
        // serves them (checked by tests/differential.rs against a real broker).
        ApiKey::JoinGroup => 0,
        _ => kafka4_floor(api),
    };
    VersionRange::new(codec.min.max(floor), codec.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka3_and_kafka4_ranges() {
        assert_eq!(advertised(ApiKey::Produce, false), VersionRange::new(0, 11));
        assert_eq!(advertised(ApiKey::Produce, true), VersionRange::new(0, 11));
        assert_eq!(served(ApiKey::Produce, true), VersionRange::new(3, 11));
        assert_eq!(advertised(ApiKey::Fetch, true).min, 4);
        assert_eq!(advertised(ApiKey::Metadata, true).min, 0);
        assert_eq!(advertised(ApiKey::JoinGroup, true).min, 0);
        for api in ApiKey::ALL {
            let r = advertised(api, true);
            assert!(r.min <= r.max, "{api}");
        }
    }
}
