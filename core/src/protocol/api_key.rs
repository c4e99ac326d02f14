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
    DeleteRecords = 21,
    InitProducerId = 22,
    AddPartitionsToTxn = 24,
    AddOffsetsToTxn = 25,
    EndTxn = 26,
    TxnOffsetCommit = 28,
    SaslAuthenticate = 36,
    DescribeConfigs = 32,
    AlterConfigs = 33,
    CreatePartitions = 37,
    DeleteGroups = 42,
    ElectLeaders = 43,
    IncrementalAlterConfigs = 44,
    OffsetDelete = 47,
    DescribeCluster = 60,
}

impl ApiKey {
    /// Every API microkafka knows, in key order.
    pub const ALL: [ApiKey; 32] = [
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
        ApiKey::DeleteRecords,
        ApiKey::InitProducerId,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::TxnOffsetCommit,
        ApiKey::DescribeConfigs,
        ApiKey::AlterConfigs,
        ApiKey::SaslAuthenticate,
        ApiKey::CreatePartitions,
        ApiKey::DeleteGroups,
        ApiKey::ElectLeaders,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::OffsetDelete,
        ApiKey::DescribeCluster,
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
        match Self::index_of_key(key) {
            Some(i) => Some(Self::ALL[i]),
            None => None,
        }
    }

    /// The [`index`](Self::index) of the API with numeric key `key`, if
    /// microkafka knows it: one search where `from_key(key)?.index()` is
    /// two (negotiation does it for every key a broker advertises).
    pub(crate) const fn index_of_key(key: i16) -> Option<usize> {
        let mut i = 0;
        while i < Self::ALL.len() {
            if Self::ALL[i] as i16 == key {
                return Some(i);
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
            ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
            ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
            ApiKey::EndTxn => "EndTxn",
            ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
            ApiKey::SaslAuthenticate => "SaslAuthenticate",
            ApiKey::CreatePartitions => "CreatePartitions",
            ApiKey::DeleteRecords => "DeleteRecords",
            ApiKey::DescribeConfigs => "DescribeConfigs",
            ApiKey::AlterConfigs => "AlterConfigs",
            ApiKey::DeleteGroups => "DeleteGroups",
            ApiKey::ElectLeaders => "ElectLeaders",
            ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
            ApiKey::OffsetDelete => "OffsetDelete",
            ApiKey::DescribeCluster => "DescribeCluster",
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
        assert_eq!(ApiKey::from_key(21), Some(ApiKey::DeleteRecords));
        assert_eq!(ApiKey::from_key(23), None); // OffsetForLeaderEpoch: not spoken
        assert_eq!(ApiKey::from_key(27), None); // WriteTxnMarkers: broker to broker
        assert_eq!(ApiKey::from_key(26), Some(ApiKey::EndTxn));
        assert_eq!(ApiKey::Produce.key(), 0);
        assert_eq!(ApiKey::CreatePartitions.key(), 37);
        assert_eq!(ApiKey::DescribeCluster.key(), 60);
        assert!(ApiKey::ALL.windows(2).all(|w| w[0].key() < w[1].key()));
    }
}
