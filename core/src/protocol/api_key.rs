//! The Kafka APIs microkafka speaks.

/// A Kafka API (request type) that microkafka can encode and decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(i16)]
#[allow(missing_docs)] // the variants are the Kafka API names
pub enum ApiKey {
    Produce = 0,
    Fetch = 1,
    ListOffsets = 2,
    Metadata = 3,
    OffsetCommit = 8,
    OffsetFetch = 9,
    FindCoordinator = 10,
    JoinGroup = 11,
    Heartbeat = 12,
    LeaveGroup = 13,
    SyncGroup = 14,
    DescribeGroups = 15,
    ListGroups = 16,
    SaslHandshake = 17,
    ApiVersions = 18,
    CreateTopics = 19,
    DeleteTopics = 20,
    InitProducerId = 22,
    SaslAuthenticate = 36,
    CreatePartitions = 37,
}

impl ApiKey {
    /// Every API microkafka knows, in key order.
    pub const ALL: [ApiKey; 20] = [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::Heartbeat,
        ApiKey::LeaveGroup,
        ApiKey::SyncGroup,
        ApiKey::DescribeGroups,
        ApiKey::ListGroups,
        ApiKey::SaslHandshake,
        ApiKey::ApiVersions,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::InitProducerId,
        ApiKey::SaslAuthenticate,
        ApiKey::CreatePartitions,
    ];

    /// The numeric key sent in request headers.
    pub const fn key(self) -> i16 {
        self as i16
    }

    /// This API's position in [`ApiKey::ALL`] (for fixed per-API tables).
    pub const fn index(self) -> usize {
        let mut i = 0;
        while i < Self::ALL.len() {
            if Self::ALL[i] as i16 == self as i16 {
                return i;
            }
            i += 1;
        }
        unreachable!()
    }

    /// The API for a numeric key, if microkafka knows it.
    pub const fn from_key(key: i16) -> Option<ApiKey> {
        let mut i = 0;
        while i < Self::ALL.len() {
            if Self::ALL[i] as i16 == key {
                return Some(Self::ALL[i]);
            }
            i += 1;
        }
        None
    }

    /// The API's name as Kafka documents it, e.g. `"Produce"`.
    pub const fn name(self) -> &'static str {
        match self {
            ApiKey::Produce => "Produce",
            ApiKey::Fetch => "Fetch",
            ApiKey::ListOffsets => "ListOffsets",
            ApiKey::Metadata => "Metadata",
            ApiKey::OffsetCommit => "OffsetCommit",
            ApiKey::OffsetFetch => "OffsetFetch",
            ApiKey::FindCoordinator => "FindCoordinator",
            ApiKey::JoinGroup => "JoinGroup",
            ApiKey::Heartbeat => "Heartbeat",
            ApiKey::LeaveGroup => "LeaveGroup",
            ApiKey::SyncGroup => "SyncGroup",
            ApiKey::DescribeGroups => "DescribeGroups",
            ApiKey::ListGroups => "ListGroups",
            ApiKey::SaslHandshake => "SaslHandshake",
            ApiKey::ApiVersions => "ApiVersions",
            ApiKey::CreateTopics => "CreateTopics",
            ApiKey::DeleteTopics => "DeleteTopics",
            ApiKey::InitProducerId => "InitProducerId",
            ApiKey::SaslAuthenticate => "SaslAuthenticate",
            ApiKey::CreatePartitions => "CreatePartitions",
        }
    }
}

impl core::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_index_is_dense() {
        for (i, api) in ApiKey::ALL.iter().enumerate() {
            assert_eq!(api.index(), i);
            assert_eq!(ApiKey::from_key(api.key()), Some(*api));
        }
        assert_eq!(ApiKey::from_key(21), None);
        assert_eq!(ApiKey::Produce.key(), 0);
        assert_eq!(ApiKey::CreatePartitions.key(), 37);
    }
}
