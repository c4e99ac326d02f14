//! ApiVersions (key 18): which APIs and versions a broker supports.

use crate::wire::Array;
use crate::ErrorCode;

wire_struct! {
    /// ApiVersions request: the client names its software (v3+).
    pub struct ApiVersionsRequest<'a> {
        /// The name of the client software.
        pub client_software_name: &'a str => 3..,
        /// The version of the client software.
        pub client_software_version: &'a str => 3..,
    }
}

wire_struct! {
    /// One API's supported version range.
    pub struct ApiVersion {
        /// The API key.
        pub api_key: i16 => 0..,
        /// The minimum supported version, inclusive.
        pub min_version: i16 => 0..,
        /// The maximum supported version, inclusive.
        pub max_version: i16 => 0..,
    }
}

wire_struct! {
    /// A feature the broker supports (tagged, v3+).
    pub struct SupportedFeatureKey<'a> {
        /// The feature name.
        pub name: &'a str => 3..,
        /// The minimum supported version of the feature.
        pub min_version: i16 => 3..,
        /// The maximum supported version of the feature.
        pub max_version: i16 => 3..,
    }
}

wire_struct! {
    /// A cluster-wide finalized feature (tagged, v3+).
    pub struct FinalizedFeatureKey<'a> {
        /// The feature name.
        pub name: &'a str => 3..,
        /// The finalized max version level.
        pub max_version_level: i16 => 3..,
        /// The finalized min version level.
        pub min_version_level: i16 => 3..,
    }
}

wire_struct! {
    /// ApiVersions response.
    ///
    /// A broker that does not know the request's version answers with
    /// `UNSUPPORTED_VERSION` and a v0 body listing its ranges (KIP-511), so a
    /// client retries with a version from that list.
    pub struct ApiVersionsResponse<'a> {
        /// The top-level error code.
        pub error_code: ErrorCode => 0..,
        /// The APIs supported by the broker.
        pub api_keys: Array<'a, ApiVersion> => 0..,
        /// Throttle time in milliseconds (v1+).
        pub throttle_time_ms: i32 => 1..,
        /// Features supported by the broker.
        @tag 0 pub supported_features: Array<'a, SupportedFeatureKey<'a>> => 3..,
        /// Epoch of the finalized features, -1 if unknown.
        @tag 1 pub finalized_features_epoch: i64 = -1 => 3..,
        /// Cluster-wide finalized features.
        @tag 2 pub finalized_features: Array<'a, FinalizedFeatureKey<'a>> => 3..,
        /// Set by a KRaft controller ready for ZK migration.
        @tag 3 pub zk_migration_ready: bool => 3..,
    }
}

crate::protocol::api!(ApiVersions, versions 0..=4, flexible Some(3),
    ApiVersionsRequest<'a> => ApiVersionsResponse<'a>);
