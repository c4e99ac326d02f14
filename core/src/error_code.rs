//! Kafka protocol error codes.
//!
//! Every Kafka response carries one or more `int16` error codes. This module
//! gives them names, Kafka's default messages, and the retry class that the
//! Java client derives from each code's exception type.
//!
//! The table mirrors Apache Kafka's
//! `clients/src/main/java/org/apache/kafka/common/protocol/Errors.java` as of
//! Kafka 4.4 (codes -1 through 136). A code is *retriable* when the Java
//! exception it maps to extends `org.apache.kafka.common.errors.RetriableException`,
//! which includes the `RefreshRetriableException` and `InvalidMetadataException`
//! subtrees (for example `NOT_LEADER_OR_FOLLOWER` and
//! `UNKNOWN_TOPIC_OR_PARTITION`).
//!
//! The table is written once, in the single `error_codes!` invocation below;
//! the constants, the lookup table and the compile-time density check are all
//! generated from it, so they cannot disagree.

use core::fmt;

/// A Kafka protocol error code as carried in responses (i16). A newtype, not an enum, so codes newer than this table still round-trip.
///
/// Codes this table does not know (a newer broker, or a corrupt frame) keep
/// their numeric value: they report [`name`](Self::name) `"UNKNOWN"`,
/// [`is_known`](Self::is_known) `false` and [`is_retriable`](Self::is_retriable)
/// `false`, the last matching the Java client, which maps an unrecognised code to
/// the non-retriable `UNKNOWN_SERVER_ERROR`.
///
/// `Default` is [`ErrorCode::NONE`] (0), the success code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ErrorCode(pub i16);

/// One row of the error-code table. Private: callers see it only through the
/// accessor methods on [`ErrorCode`].
#[derive(Clone, Copy)]
struct Entry {
    code: i16,
    name: &'static str,
    retriable: bool,
    description: &'static str,
}

/// Name reported for codes that are not in the table.
const UNKNOWN_NAME: &str = "UNKNOWN";
/// Description reported for codes that are not in the table.
const UNKNOWN_DESCRIPTION: &str = "Unknown error code.";

/// Doc fragment for the retriable column of a row.
macro_rules! retriable_doc {
    (true) => {
        "retriable"
    };
    (false) => {
        "not retriable"
    };
}

/// Doc fragment for the description column of a row. `NONE` is the one code
/// whose Java default message is `null` (stored here as `""`).
macro_rules! description_doc {
    ("") => {
        "no error; Kafka's default message is null."
    };
    ($description:literal) => {
        $description
    };
}

/// Generates, from one list of `(CONST_NAME, code, retriable, "description")`
/// rows, the associated constants on [`ErrorCode`] and the lookup table
/// `TABLE`. Rows must be in ascending code order with no gaps (checked at
/// compile time below), because lookup indexes `TABLE` by `code - first_code`.
macro_rules! error_codes {
    ($( ($name:ident, $code:literal, $retriable:tt, $description:tt) ),* $(,)?) => {
        impl ErrorCode {
            $(
                #[doc = concat!(
                    "`", stringify!($name), "` = ", stringify!($code),
                    " (", retriable_doc!($retriable), "): ",
                    description_doc!($description)
                )]
                pub const $name: ErrorCode = ErrorCode($code);
            )*
        }

        /// Every known error code, sorted by code and dense, so the entry for
        /// code `c` is at index `c - TABLE[0].code`.
        const TABLE: &[Entry] = &[
            $(
                Entry {
                    code: $code,
                    name: stringify!($name),
                    retriable: $retriable,
                    description: $description,
                },
            )*
        ];
    };
}

// Source: Apache Kafka `clients/src/main/java/org/apache/kafka/common/protocol/Errors.java`
// (names, codes, default messages) and the `extends` clause of each exception in
// `clients/src/main/java/org/apache/kafka/common/errors/` (retriable column), as of
// Kafka 4.4. Codes 134..=136 were added in Kafka 4.4; -1..=133 are in 4.1 and later.
error_codes! {
    (UNKNOWN_SERVER_ERROR, -1, false, "The server experienced an unexpected error when processing the request."),
    (NONE, 0, false, ""),
    (OFFSET_OUT_OF_RANGE, 1, false, "The requested offset is not within the range of offsets maintained by the server."),
    (CORRUPT_MESSAGE, 2, true, "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt."),
    (UNKNOWN_TOPIC_OR_PARTITION, 3, true, "This server does not host this topic-partition."),
    (INVALID_FETCH_SIZE, 4, false, "The requested fetch size is invalid."),
    (LEADER_NOT_AVAILABLE, 5, true, "There is no leader for this topic-partition as we are in the middle of a leadership election."),
    (NOT_LEADER_OR_FOLLOWER, 6, true, "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition."),
    (REQUEST_TIMED_OUT, 7, true, "The request timed out."),
    (BROKER_NOT_AVAILABLE, 8, false, "The broker is not available."),
    (REPLICA_NOT_AVAILABLE, 9, true, "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition."),
    (MESSAGE_TOO_LARGE, 10, false, "The request included a message larger than the max message size the server will accept."),
    (STALE_CONTROLLER_EPOCH, 11, false, "The controller moved to another broker."),
    (OFFSET_METADATA_TOO_LARGE, 12, false, "The metadata field of the offset request was too large."),
    (NETWORK_EXCEPTION, 13, true, "The server disconnected before a response was received."),
    (COORDINATOR_LOAD_IN_PROGRESS, 14, true, "The coordinator is loading and hence can't process requests."),
    (COORDINATOR_NOT_AVAILABLE, 15, true, "The coordinator is not available."),
    (NOT_COORDINATOR, 16, true, "This is not the correct coordinator."),
    (INVALID_TOPIC_EXCEPTION, 17, false, "The request attempted to perform an operation on an invalid topic."),
    (RECORD_LIST_TOO_LARGE, 18, false, "The request included message batch larger than the configured segment size on the server."),
    (NOT_ENOUGH_REPLICAS, 19, true, "Messages are rejected since there are fewer in-sync replicas than required."),
    (NOT_ENOUGH_REPLICAS_AFTER_APPEND, 20, true, "Messages are written to the log, but to fewer in-sync replicas than required."),
    (INVALID_REQUIRED_ACKS, 21, false, "Produce request specified an invalid value for required acks."),
    (ILLEGAL_GENERATION, 22, false, "Specified group generation id is not valid."),
    (INCONSISTENT_GROUP_PROTOCOL, 23, false, "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list."),
    (INVALID_GROUP_ID, 24, false, "The group id is invalid."),
    (UNKNOWN_MEMBER_ID, 25, false, "The coordinator is not aware of this member."),
    (INVALID_SESSION_TIMEOUT, 26, false, "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms)."),
    (REBALANCE_IN_PROGRESS, 27, false, "The group is rebalancing, so a rejoin is needed."),
    (INVALID_COMMIT_OFFSET_SIZE, 28, false, "The committing offset data size is not valid."),
    (TOPIC_AUTHORIZATION_FAILED, 29, false, "Topic authorization failed."),
    (GROUP_AUTHORIZATION_FAILED, 30, false, "Group authorization failed."),
    (CLUSTER_AUTHORIZATION_FAILED, 31, false, "Cluster authorization failed."),
    (INVALID_TIMESTAMP, 32, false, "The timestamp of the message is out of acceptable range."),
    (UNSUPPORTED_SASL_MECHANISM, 33, false, "The broker does not support the requested SASL mechanism."),
    (ILLEGAL_SASL_STATE, 34, false, "Request is not valid given the current SASL state."),
    (UNSUPPORTED_VERSION, 35, false, "The version of API is not supported."),
    (TOPIC_ALREADY_EXISTS, 36, false, "Topic with this name already exists."),
    (INVALID_PARTITIONS, 37, false, "Number of partitions is below 1."),
    (INVALID_REPLICATION_FACTOR, 38, false, "Replication factor is below 1 or larger than the number of available brokers."),
    (INVALID_REPLICA_ASSIGNMENT, 39, false, "Replica assignment is invalid."),
    (INVALID_CONFIG, 40, false, "Configuration is invalid."),
    (NOT_CONTROLLER, 41, true, "This is not the correct controller for this cluster."),
    (INVALID_REQUEST, 42, false, "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details."),
    (UNSUPPORTED_FOR_MESSAGE_FORMAT, 43, false, "The message format version on the broker does not support the request."),
    (POLICY_VIOLATION, 44, false, "Request parameters do not satisfy the configured policy."),
    (OUT_OF_ORDER_SEQUENCE_NUMBER, 45, false, "The broker received an out of order sequence number."),
    (DUPLICATE_SEQUENCE_NUMBER, 46, false, "The broker received a duplicate sequence number."),
    (INVALID_PRODUCER_EPOCH, 47, false, "Producer attempted to produce with an old epoch."),
    (INVALID_TXN_STATE, 48, false, "The producer attempted a transactional operation in an invalid state."),
    (INVALID_PRODUCER_ID_MAPPING, 49, false, "The producer attempted to use a producer id which is not currently assigned to its transactional id."),
    (INVALID_TRANSACTION_TIMEOUT, 50, false, "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms)."),
    (CONCURRENT_TRANSACTIONS, 51, true, "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing."),
    (TRANSACTION_COORDINATOR_FENCED, 52, false, "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer."),
    (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, 53, false, "Transactional Id authorization failed."),
    (SECURITY_DISABLED, 54, false, "Security features are disabled."),
    (OPERATION_NOT_ATTEMPTED, 55, false, "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest."),
    (KAFKA_STORAGE_ERROR, 56, true, "Disk error when trying to access log file on the disk."),
    (LOG_DIR_NOT_FOUND, 57, false, "The user-specified log directory is not found in the broker config."),
    (SASL_AUTHENTICATION_FAILED, 58, false, "SASL Authentication failed."),
    (UNKNOWN_PRODUCER_ID, 59, false, "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception."),
    (REASSIGNMENT_IN_PROGRESS, 60, false, "A partition reassignment is in progress."),
    (DELEGATION_TOKEN_AUTH_DISABLED, 61, false, "Delegation Token feature is not enabled."),
    (DELEGATION_TOKEN_NOT_FOUND, 62, false, "Delegation Token is not found on server."),
    (DELEGATION_TOKEN_OWNER_MISMATCH, 63, false, "Specified Principal is not valid Owner/Renewer."),
    (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, 64, false, "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels."),
    (DELEGATION_TOKEN_AUTHORIZATION_FAILED, 65, false, "Delegation Token authorization failed."),
    (DELEGATION_TOKEN_EXPIRED, 66, false, "Delegation Token is expired."),
    (INVALID_PRINCIPAL_TYPE, 67, false, "Supplied principalType is not supported."),
    (NON_EMPTY_GROUP, 68, false, "The group is not empty."),
    (GROUP_ID_NOT_FOUND, 69, false, "The group id does not exist."),
    (FETCH_SESSION_ID_NOT_FOUND, 70, true, "The fetch session ID was not found."),
    (INVALID_FETCH_SESSION_EPOCH, 71, true, "The fetch session epoch is invalid."),
    (LISTENER_NOT_FOUND, 72, true, "There is no listener on the leader broker that matches the listener on which metadata request was processed."),
    (TOPIC_DELETION_DISABLED, 73, false, "Topic deletion is disabled."),
    (FENCED_LEADER_EPOCH, 74, true, "The leader epoch in the request is older than the epoch on the broker."),
    (UNKNOWN_LEADER_EPOCH, 75, true, "The leader epoch in the request is newer than the epoch on the broker."),
    (UNSUPPORTED_COMPRESSION_TYPE, 76, false, "The requesting client does not support the compression type of given partition."),
    (STALE_BROKER_EPOCH, 77, false, "Broker epoch has changed."),
    (OFFSET_NOT_AVAILABLE, 78, true, "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing."),
    (MEMBER_ID_REQUIRED, 79, false, "The group member needs to have a valid member id before actually entering a consumer group."),
    (PREFERRED_LEADER_NOT_AVAILABLE, 80, true, "The preferred leader was not available."),
    (GROUP_MAX_SIZE_REACHED, 81, false, "The group has reached its maximum size."),
    (FENCED_INSTANCE_ID, 82, false, "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id."),
    (ELIGIBLE_LEADERS_NOT_AVAILABLE, 83, true, "Eligible topic partition leaders are not available."),
    (ELECTION_NOT_NEEDED, 84, true, "Leader election not needed for topic partition."),
    (NO_REASSIGNMENT_IN_PROGRESS, 85, false, "No partition reassignment is in progress."),
    (GROUP_SUBSCRIBED_TO_TOPIC, 86, false, "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it."),
    (INVALID_RECORD, 87, false, "This record has failed the validation on broker and hence will be rejected."),
    (UNSTABLE_OFFSET_COMMIT, 88, true, "There are unstable offsets that need to be cleared."),
    (THROTTLING_QUOTA_EXCEEDED, 89, true, "The throttling quota has been exceeded."),
    (PRODUCER_FENCED, 90, false, "There is a newer producer with the same transactionalId which fences the current one."),
    (RESOURCE_NOT_FOUND, 91, false, "A request illegally referred to a resource that does not exist."),
    (DUPLICATE_RESOURCE, 92, false, "A request illegally referred to the same resource twice."),
    (UNACCEPTABLE_CREDENTIAL, 93, false, "Requested credential would not meet criteria for acceptability."),
    (INCONSISTENT_VOTER_SET, 94, false, "Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters."),
    (INVALID_UPDATE_VERSION, 95, false, "The given update version was invalid."),
    (FEATURE_UPDATE_FAILED, 96, false, "Unable to update finalized features due to an unexpected server error."),
    (PRINCIPAL_DESERIALIZATION_FAILURE, 97, false, "Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup."),
    (SNAPSHOT_NOT_FOUND, 98, false, "Requested snapshot was not found."),
    (POSITION_OUT_OF_RANGE, 99, false, "Requested position is not greater than or equal to zero, and less than the size of the snapshot."),
    (UNKNOWN_TOPIC_ID, 100, true, "This server does not host this topic ID."),
    (DUPLICATE_BROKER_REGISTRATION, 101, false, "This broker ID is already in use."),
    (BROKER_ID_NOT_REGISTERED, 102, false, "The given broker ID was not registered."),
    (INCONSISTENT_TOPIC_ID, 103, true, "The log's topic ID did not match the topic ID in the request."),
    (INCONSISTENT_CLUSTER_ID, 104, false, "The clusterId in the request does not match that found on the server."),
    (TRANSACTIONAL_ID_NOT_FOUND, 105, false, "The transactionalId could not be found."),
    (FETCH_SESSION_TOPIC_ID_ERROR, 106, true, "The fetch session encountered inconsistent topic ID usage."),
    (INELIGIBLE_REPLICA, 107, false, "The new ISR contains at least one ineligible replica."),
    (NEW_LEADER_ELECTED, 108, false, "The AlterPartition request successfully updated the partition state but the leader has changed."),
    (OFFSET_MOVED_TO_TIERED_STORAGE, 109, false, "The requested offset is moved to tiered storage."),
    (FENCED_MEMBER_EPOCH, 110, false, "The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin."),
    (UNRELEASED_INSTANCE_ID, 111, false, "The instance ID is still used by another member in the consumer group. That member must leave first."),
    (UNSUPPORTED_ASSIGNOR, 112, false, "The assignor or its version range is not supported by the consumer group."),
    (STALE_MEMBER_EPOCH, 113, false, "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API."),
    (MISMATCHED_ENDPOINT_TYPE, 114, false, "The request was sent to an endpoint of the wrong type."),
    (UNSUPPORTED_ENDPOINT_TYPE, 115, false, "This endpoint type is not supported yet."),
    (UNKNOWN_CONTROLLER_ID, 116, false, "This controller ID is not known."),
    (UNKNOWN_SUBSCRIPTION_ID, 117, false, "Client sent a push telemetry request with an invalid or outdated subscription ID."),
    (TELEMETRY_TOO_LARGE, 118, false, "Client sent a push telemetry request larger than the maximum size the broker will accept."),
    (INVALID_REGISTRATION, 119, false, "The controller has considered the broker registration to be invalid."),
    (TRANSACTION_ABORTABLE, 120, false, "The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID."),
    (INVALID_RECORD_STATE, 121, false, "The record state is invalid. The acknowledgement of delivery could not be completed."),
    (SHARE_SESSION_NOT_FOUND, 122, true, "The share session was not found."),
    (INVALID_SHARE_SESSION_EPOCH, 123, true, "The share session epoch is invalid."),
    (FENCED_STATE_EPOCH, 124, false, "The share coordinator rejected the request because the share-group state epoch did not match."),
    (INVALID_VOTER_KEY, 125, false, "The voter key doesn't match the receiving replica's key."),
    (DUPLICATE_VOTER, 126, false, "The voter is already part of the set of voters."),
    (VOTER_NOT_FOUND, 127, false, "The voter is not part of the set of voters."),
    (INVALID_REGULAR_EXPRESSION, 128, false, "The regular expression is not valid."),
    (REBOOTSTRAP_REQUIRED, 129, false, "Client metadata is stale. The client should rebootstrap to obtain new metadata."),
    (STREAMS_INVALID_TOPOLOGY, 130, false, "The supplied topology is invalid."),
    (STREAMS_INVALID_TOPOLOGY_EPOCH, 131, false, "The supplied topology epoch is invalid."),
    (STREAMS_TOPOLOGY_FENCED, 132, false, "The supplied topology epoch is outdated."),
    (SHARE_SESSION_LIMIT_REACHED, 133, true, "The limit of share sessions has been reached."),
    (GROUP_DELETION_FAILED, 134, false, "DeleteGroups could not complete; see the error message on the per-group result for details."),
    (STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED, 135, false, "The broker could not process the topology description update; see the error message for details."),
    (CONTROLLER_ID_NOT_REGISTERED, 136, false, "The given controller ID was not registered."),
}

// Lookup indexes TABLE by `code - TABLE[0].code`, which is only correct if the
// rows are sorted and gap-free. Checking it here turns a mis-ordered or
// duplicated row into a build failure rather than a wrong name at run time.
const _: () = {
    assert!(!TABLE.is_empty(), "error-code table is empty");
    let mut i = 0;
    while i < TABLE.len() {
        assert!(
            TABLE[i].code as i32 == TABLE[0].code as i32 + i as i32,
            "error-code table must be sorted by code with no gaps or duplicates"
        );
        i += 1;
    }
};

/// The code of `TABLE[0]`, and the table's length: compile-time constants,
/// so code that only asks whether an error is retriable does not reference
/// the table.
const FIRST_CODE: i16 = TABLE[0].code;
const TABLE_LEN: usize = TABLE.len();

/// The retriable column as a bitset (bit `code - FIRST_CODE`), computed from
/// `TABLE` at compile time. [`ErrorCode::is_retriable`] reads this instead of
/// the rows, so a firmware that retries on error codes links 20 bytes here
/// rather than the 12 KiB of names and descriptions it never prints.
const RETRIABLE: [u32; TABLE_LEN.div_ceil(32)] = {
    let mut bits = [0u32; TABLE_LEN.div_ceil(32)];
    let mut i = 0;
    while i < TABLE_LEN {
        if TABLE[i].retriable {
            bits[i / 32] |= 1 << (i % 32);
        }
        i += 1;
    }
    bits
};

impl ErrorCode {
    /// The raw wire value.
    #[inline]
    #[must_use]
    pub const fn code(self) -> i16 {
        self.0
    }

    /// `true` for [`ErrorCode::NONE`], the only success code.
    #[inline]
    #[must_use]
    pub const fn is_ok(self) -> bool {
        self.0 == Self::NONE.0
    }

    /// `true` for every code other than [`ErrorCode::NONE`], including codes
    /// this table does not know.
    #[inline]
    #[must_use]
    pub const fn is_err(self) -> bool {
        !self.is_ok()
    }

    /// The Java enum constant name, e.g. `"NOT_LEADER_OR_FOLLOWER"`, or
    /// `"UNKNOWN"` for a code not in the table.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self.entry() {
            Some(entry) => entry.name,
            None => UNKNOWN_NAME,
        }
    }

    /// Kafka's default message for this code, or `"Unknown error code."` for a
    /// code not in the table. [`ErrorCode::NONE`] gives `""` (Java's message is
    /// `null`). Brokers may send a more specific `error_message` alongside the
    /// code; this is only the fallback text.
    #[must_use]
    pub fn description(self) -> &'static str {
        match self.entry() {
            Some(entry) => entry.description,
            None => UNKNOWN_DESCRIPTION,
        }
    }

    /// Whether the Java client treats this code as transient, i.e. its
    /// exception extends `RetriableException` (this includes the
    /// metadata-refresh errors such as `NOT_LEADER_OR_FOLLOWER`). Unknown codes
    /// are not retriable, as in Java, which maps them to `UNKNOWN_SERVER_ERROR`.
    #[must_use]
    pub fn is_retriable(self) -> bool {
        // i32 so that `i16::MIN - first` cannot overflow.
        let index = self.0 as i32 - FIRST_CODE as i32;
        if index < 0 || index as usize >= TABLE_LEN {
            return false;
        }
        let index = index as usize;
        RETRIABLE[index / 32] & (1 << (index % 32)) != 0
    }

    /// Whether this code is in the table (Kafka 4.4, codes -1 through 136).
    #[must_use]
    pub fn is_known(self) -> bool {
        self.entry().is_some()
    }

    /// `Ok(())` for [`ErrorCode::NONE`], otherwise `Err(self)`, so response
    /// handling can use `?`.
    ///
    /// # Errors
    ///
    /// Returns `Err(self)` for every code other than [`ErrorCode::NONE`].
    pub fn into_result(self) -> Result<(), ErrorCode> {
        if self.is_ok() {
            Ok(())
        } else {
            Err(self)
        }
    }

    /// The table row for this code: O(1), since codes are dense from
    /// `TABLE[0].code` upwards (checked at compile time above).
    const fn entry(self) -> Option<&'static Entry> {
        // i32 so that `i16::MIN - first` cannot overflow.
        let index = self.0 as i32 - TABLE[0].code as i32;
        if index < 0 || index as usize >= TABLE.len() {
            None
        } else {
            Some(&TABLE[index as usize])
        }
    }
}

/// `NAME(code)`, e.g. `NOT_LEADER_OR_FOLLOWER(6)` or `UNKNOWN(9999)`: short,
/// and keeps the number visible for codes the table does not know.
impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// `NAME (code): description`, e.g.
/// `NOT_LEADER_OR_FOLLOWER (6): For requests intended only for the leader, ...`.
/// `NONE` has no description and prints as `NONE (0)`.
impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let description = self.description();
        if description.is_empty() {
            write!(f, "{} ({})", self.name(), self.0)
        } else {
            write!(f, "{} ({}): {}", self.name(), self.0, description)
        }
    }
}

/// A Kafka error code is also a Rust error, so `?` can carry it.
impl core::error::Error for ErrorCode {}

/// Wraps a wire value; never fails, because unknown codes are kept as-is.
impl From<i16> for ErrorCode {
    #[inline]
    fn from(code: i16) -> Self {
        ErrorCode(code)
    }
}

/// The wire value, for encoding.
impl From<ErrorCode> for i16 {
    #[inline]
    fn from(code: ErrorCode) -> Self {
        code.0
    }
}

#[cfg(test)]
mod tests {
    use super::{ErrorCode, TABLE};
    use core::fmt::Write;

    /// Fixed-size `fmt::Write` sink, so the formatting tests need neither
    /// `std` nor `alloc`.
    struct Buf {
        bytes: [u8; 512],
        len: usize,
    }

    impl Buf {
        fn new() -> Self {
            Buf {
                bytes: [0; 512],
                len: 0,
            }
        }

        fn as_str(&self) -> &str {
            core::str::from_utf8(&self.bytes[..self.len]).unwrap()
        }
    }

    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.len + s.len();
            if end > self.bytes.len() {
                return Err(core::fmt::Error);
            }
            self.bytes[self.len..end].copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    fn display(code: ErrorCode) -> Buf {
        let mut buf = Buf::new();
        write!(buf, "{code}").unwrap();
        buf
    }

    fn debug(code: ErrorCode) -> Buf {
        let mut buf = Buf::new();
        write!(buf, "{code:?}").unwrap();
        buf
    }

    /// Rows checked by hand against Kafka's `Errors.java` and the exception
    /// classes' superclasses, spread over the whole range.
    #[test]
    fn spot_checks_against_kafka() {
        let cases: &[(ErrorCode, i16, &str, bool)] = &[
            (
                ErrorCode::UNKNOWN_SERVER_ERROR,
                -1,
                "UNKNOWN_SERVER_ERROR",
                false,
            ),
            (ErrorCode::NONE, 0, "NONE", false),
            (
                ErrorCode::OFFSET_OUT_OF_RANGE,
                1,
                "OFFSET_OUT_OF_RANGE",
                false,
            ),
            (ErrorCode::CORRUPT_MESSAGE, 2, "CORRUPT_MESSAGE", true),
            (
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                3,
                "UNKNOWN_TOPIC_OR_PARTITION",
                true,
            ),
            (
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
                6,
                "NOT_LEADER_OR_FOLLOWER",
                true,
            ),
            (ErrorCode::REQUEST_TIMED_OUT, 7, "REQUEST_TIMED_OUT", true),
            (
                ErrorCode::BROKER_NOT_AVAILABLE,
                8,
                "BROKER_NOT_AVAILABLE",
                false,
            ),
            (
                ErrorCode::REPLICA_NOT_AVAILABLE,
                9,
                "REPLICA_NOT_AVAILABLE",
                true,
            ),
            (ErrorCode::NETWORK_EXCEPTION, 13, "NETWORK_EXCEPTION", true),
            (ErrorCode::NOT_COORDINATOR, 16, "NOT_COORDINATOR", true),
            (ErrorCode::UNKNOWN_MEMBER_ID, 25, "UNKNOWN_MEMBER_ID", false),
            (
                ErrorCode::REBALANCE_IN_PROGRESS,
                27,
                "REBALANCE_IN_PROGRESS",
                false,
            ),
            (
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                29,
                "TOPIC_AUTHORIZATION_FAILED",
                false,
            ),
            (
                ErrorCode::UNSUPPORTED_VERSION,
                35,
                "UNSUPPORTED_VERSION",
                false,
            ),
            (ErrorCode::NOT_CONTROLLER, 41, "NOT_CONTROLLER", true),
            (
                ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                45,
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
                false,
            ),
            (
                ErrorCode::CONCURRENT_TRANSACTIONS,
                51,
                "CONCURRENT_TRANSACTIONS",
                true,
            ),
            (
                ErrorCode::KAFKA_STORAGE_ERROR,
                56,
                "KAFKA_STORAGE_ERROR",
                true,
            ),
            (
                ErrorCode::UNKNOWN_PRODUCER_ID,
                59,
                "UNKNOWN_PRODUCER_ID",
                false,
            ),
            (
                ErrorCode::FENCED_LEADER_EPOCH,
                74,
                "FENCED_LEADER_EPOCH",
                true,
            ),
            (
                ErrorCode::ELECTION_NOT_NEEDED,
                84,
                "ELECTION_NOT_NEEDED",
                true,
            ),
            (
                ErrorCode::THROTTLING_QUOTA_EXCEEDED,
                89,
                "THROTTLING_QUOTA_EXCEEDED",
                true,
            ),
            (ErrorCode::PRODUCER_FENCED, 90, "PRODUCER_FENCED", false),
            (ErrorCode::UNKNOWN_TOPIC_ID, 100, "UNKNOWN_TOPIC_ID", true),
            (
                ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR,
                106,
                "FETCH_SESSION_TOPIC_ID_ERROR",
                true,
            ),
            (
                ErrorCode::STALE_MEMBER_EPOCH,
                113,
                "STALE_MEMBER_EPOCH",
                false,
            ),
            (
                ErrorCode::TRANSACTION_ABORTABLE,
                120,
                "TRANSACTION_ABORTABLE",
                false,
            ),
            (
                ErrorCode::SHARE_SESSION_NOT_FOUND,
                122,
                "SHARE_SESSION_NOT_FOUND",
                true,
            ),
            (
                ErrorCode::REBOOTSTRAP_REQUIRED,
                129,
                "REBOOTSTRAP_REQUIRED",
                false,
            ),
            (
                ErrorCode::SHARE_SESSION_LIMIT_REACHED,
                133,
                "SHARE_SESSION_LIMIT_REACHED",
                true,
            ),
            (
                ErrorCode::CONTROLLER_ID_NOT_REGISTERED,
                136,
                "CONTROLLER_ID_NOT_REGISTERED",
                false,
            ),
        ];
        for &(constant, code, name, retriable) in cases {
            assert_eq!(constant.code(), code, "{name}");
            assert_eq!(ErrorCode(code), constant, "{name}");
            assert_eq!(constant.name(), name, "{code}");
            assert_eq!(constant.is_retriable(), retriable, "{name}");
            assert!(constant.is_known(), "{name}");
        }
        assert_eq!(
            ErrorCode::NOT_LEADER_OR_FOLLOWER.description(),
            "For requests intended only for the leader, this error indicates that the broker is \
             not the current leader. For requests intended for any replica, this error indicates \
             that the broker is not a replica of the topic partition."
        );
        assert_eq!(
            ErrorCode::REQUEST_TIMED_OUT.description(),
            "The request timed out."
        );
    }

    /// Lookup indexes the table by `code + 1`; this re-checks (at test time,
    /// with a readable failure) what the compile-time assertion guarantees.
    #[test]
    fn table_is_dense_sorted_and_unique() {
        assert_eq!(TABLE[0].code, -1);
        for (i, entry) in TABLE.iter().enumerate() {
            assert_eq!(entry.code as i32, i as i32 - 1, "row {i} ({})", entry.name);
            assert!(!entry.name.is_empty());
            for other in &TABLE[i + 1..] {
                assert_ne!(entry.code, other.code);
                assert_ne!(entry.name, other.name);
            }
            // Every row must round-trip through the public lookup.
            let code = ErrorCode(entry.code);
            assert_eq!(code.name(), entry.name);
            assert_eq!(code.description(), entry.description);
            assert_eq!(code.is_retriable(), entry.retriable);
            // Only NONE lacks a default message.
            assert_eq!(
                entry.description.is_empty(),
                entry.code == 0,
                "{}",
                entry.name
            );
        }
    }

    /// Pins the size of the table and of its retriable set, so an edit to a
    /// row's retriable flag or a dropped row is a deliberate test change.
    #[test]
    fn table_extent_and_retriable_count() {
        assert_eq!(TABLE.len(), 138);
        assert_eq!(TABLE[TABLE.len() - 1].code, 136);
        assert_eq!(TABLE.iter().filter(|e| e.retriable).count(), 32);
    }

    #[test]
    fn unknown_codes() {
        for raw in [-2, 137, 9999, i16::MIN, i16::MAX] {
            let code = ErrorCode::from(raw);
            assert_eq!(code.name(), "UNKNOWN", "{raw}");
            assert_eq!(code.description(), "Unknown error code.", "{raw}");
            assert!(!code.is_retriable(), "{raw}");
            assert!(!code.is_known(), "{raw}");
            assert!(code.is_err(), "{raw}");
            assert_eq!(code.into_result(), Err(code));
            // The numeric value survives, which is the point of the newtype.
            assert_eq!(i16::from(code), raw);
        }
    }

    #[test]
    fn ok_and_err() {
        assert!(ErrorCode::NONE.is_ok());
        assert!(!ErrorCode::NONE.is_err());
        assert_eq!(ErrorCode::NONE.into_result(), Ok(()));
        assert_eq!(ErrorCode::default(), ErrorCode::NONE);
        assert!(ErrorCode::UNKNOWN_SERVER_ERROR.is_err());
        assert_eq!(
            ErrorCode::NOT_COORDINATOR.into_result(),
            Err(ErrorCode::NOT_COORDINATOR)
        );
        assert_eq!(ErrorCode::from(6i16), ErrorCode::NOT_LEADER_OR_FOLLOWER);
        assert_eq!(i16::from(ErrorCode::NOT_LEADER_OR_FOLLOWER), 6);
    }

    #[test]
    fn display_and_debug() {
        let shown = display(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        assert!(shown.as_str().starts_with(
            "NOT_LEADER_OR_FOLLOWER (6): For requests intended only for the leader, "
        ));
        assert!(shown.as_str().contains("NOT_LEADER_OR_FOLLOWER"));
        assert!(shown.as_str().contains("(6)"));

        assert_eq!(display(ErrorCode::NONE).as_str(), "NONE (0)");
        assert_eq!(
            display(ErrorCode::UNKNOWN_SERVER_ERROR).as_str(),
            "UNKNOWN_SERVER_ERROR (-1): The server experienced an unexpected error when \
             processing the request."
        );
        assert_eq!(
            display(ErrorCode(9999)).as_str(),
            "UNKNOWN (9999): Unknown error code."
        );

        assert_eq!(
            debug(ErrorCode::NOT_LEADER_OR_FOLLOWER).as_str(),
            "NOT_LEADER_OR_FOLLOWER(6)"
        );
        assert_eq!(debug(ErrorCode(-2)).as_str(), "UNKNOWN(-2)");
    }
}
