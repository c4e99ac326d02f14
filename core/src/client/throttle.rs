//! Quota throttling, client side (KIP-219).
//!
//! A broker whose quota a client exceeded says so in the answer's
//! `throttle_time_ms`. Before KIP-219 it also held the answer back for that
//! long, so a client had nothing to do. From the versions below on, the
//! broker answers at once and mutes the connection instead: the client must
//! send nothing more on that connection until the time has passed (the
//! Java client's `NetworkClient` marks the node throttled; requests sent
//! anyway only wait in the broker's socket, and may run into their own
//! timeout there).

use crate::protocol::ApiKey;

/// The first version of `api` at which the client, not the broker, waits
/// out a throttle (each response schema's "Starting in version N, on quota
/// violation, brokers send out responses before throttling"; Produce from
/// the Java client's `ProduceResponse.shouldClientThrottle`; APIs added
/// after KIP-219 (Kafka 2.0) from their first version). `None`: the API's
/// answers are never throttled by the client.
pub const fn client_throttle_version(api: ApiKey) -> Option<i16> {
    Some(match api {
        ApiKey::Produce => 6,
        ApiKey::Fetch => 8,
        ApiKey::ListOffsets => 3,
        ApiKey::Metadata => 6,
        ApiKey::OffsetCommit | ApiKey::OffsetFetch => 4,
        ApiKey::JoinGroup | ApiKey::CreateTopics => 3,
        ApiKey::DescribeConfigs => 2,
        ApiKey::DeleteRecords | ApiKey::AlterConfigs | ApiKey::DeleteGroups => 1,
        ApiKey::ElectLeaders
        | ApiKey::IncrementalAlterConfigs
        | ApiKey::OffsetDelete
        | ApiKey::DescribeCluster => 0,
        ApiKey::FindCoordinator
        | ApiKey::Heartbeat
        | ApiKey::LeaveGroup
        | ApiKey::SyncGroup
        | ApiKey::DescribeGroups
        | ApiKey::ListGroups
        | ApiKey::ApiVersions
        | ApiKey::DeleteTopics => 2,
        ApiKey::InitProducerId
        | ApiKey::AddPartitionsToTxn
        | ApiKey::AddOffsetsToTxn
        | ApiKey::EndTxn
        | ApiKey::TxnOffsetCommit
        | ApiKey::CreatePartitions => 1,
        ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => return None,
    })
}

/// How long the client must send nothing more on the connection after an
/// answer of `api` at `version` carrying `throttle_time_ms`, in
/// milliseconds: the throttle from the version where the client waits it
/// out ([`client_throttle_version`]), else 0 (the broker waited already).
/// A negative time (a broken broker) is 0.
pub const fn client_throttle_ms(api: ApiKey, version: i16, throttle_time_ms: i32) -> u32 {
    match client_throttle_version(api) {
        Some(from) if version >= from && throttle_time_ms > 0 => throttle_time_ms as u32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_waits_from_kip_219_versions_on() {
        assert_eq!(
            client_throttle_ms(ApiKey::Produce, 5, 100),
            0,
            "broker held it"
        );
        assert_eq!(client_throttle_ms(ApiKey::Produce, 6, 100), 100);
        assert_eq!(client_throttle_ms(ApiKey::Fetch, 7, 100), 0);
        assert_eq!(client_throttle_ms(ApiKey::Fetch, 8, 100), 100);
        assert_eq!(client_throttle_ms(ApiKey::Fetch, 17, -5), 0, "negative");
        assert_eq!(client_throttle_ms(ApiKey::SaslAuthenticate, 2, 100), 0);
        for api in ApiKey::ALL {
            if let Some(v) = client_throttle_version(api) {
                let newer = matches!(
                    api,
                    ApiKey::ElectLeaders
                        | ApiKey::IncrementalAlterConfigs
                        | ApiKey::OffsetDelete
                        | ApiKey::DescribeCluster
                );
                assert!(
                    v >= 1 || newer,
                    "{api:?}: before KIP-219 the broker held throttled answers"
                );
            }
        }
    }
}
