//! The API version ranges the mock broker advertises in ApiVersions.

use microkafka_core::protocol::versions::{codec_versions, kafka4_floor};
use microkafka_core::protocol::{ApiKey, VersionRange};

/// The versions of `api` the broker accepts.
///
/// By default these are the ranges a Kafka 3.x broker accepted: every version
/// in Kafka's message schemas, which is what microkafka-core's codecs
/// implement (Produce 0-11, Fetch 0-17, Metadata 0-12, ...), legacy message
/// formats included. With `kafka4`, the floor of Kafka 4.x (KIP-896) is
/// applied, so a client that still sends a version 4.x removed is answered
/// `UNSUPPORTED_VERSION` here before it meets a real 4.x broker.
pub fn advertised(api: ApiKey, kafka4: bool) -> VersionRange {
    let codec = codec_versions(api);
    if kafka4 {
        VersionRange::new(codec.min.max(kafka4_floor(api)), codec.max)
    } else {
        codec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka3_and_kafka4_ranges() {
        assert_eq!(advertised(ApiKey::Produce, false), VersionRange::new(0, 11));
        assert_eq!(advertised(ApiKey::Produce, true), VersionRange::new(3, 11));
        assert_eq!(advertised(ApiKey::Fetch, true).min, 4);
        assert_eq!(advertised(ApiKey::Metadata, true).min, 0);
        for api in ApiKey::ALL {
            let r = advertised(api, true);
            assert!(r.min <= r.max, "{api}");
        }
    }
}
