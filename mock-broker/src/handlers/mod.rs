//! Request handlers, one module per API or group of APIs, and the dispatch
//! that decodes a request body and calls its handler.
//!
//! Every handler can be asked to fail: when `Cx::forced` holds an error
//! code (an injected fault), it
//! builds its normal response shape with that code in every error field and
//! changes no state, the way Kafka's `getErrorResponse` does.

pub(crate) mod admin;
pub(crate) mod api_versions;
pub(crate) mod cluster_admin;
pub(crate) mod configs;
pub(crate) mod coordinator;
pub(crate) mod fetch;
pub(crate) mod group;
pub(crate) mod groups_admin;
pub(crate) mod list_offsets;
pub(crate) mod metadata;
pub(crate) mod offsets;
pub(crate) mod produce;
pub(crate) mod producer_id;
pub(crate) mod records;
pub(crate) mod sasl;
pub(crate) mod txn;

use std::time::Instant;

use microkafka_core::protocol::frame::{decode_request_body, encode_response};
use microkafka_core::protocol::{ApiKey, Request, RequestHeader, Response};
use microkafka_core::wire::Reader;
use microkafka_core::ErrorCode;

use crate::cluster::{AuthState, Cluster, ConnId, ReplyTo};

/// A handler's answer.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A response frame to send.
    Frame(Vec<u8>),
    /// No response (acks=0).
    Nothing,
    /// Answered later through the cluster's completions.
    Later,
    /// Close the connection, after this frame if any.
    Close(Option<Vec<u8>>),
    /// A Fetch that waits for data until this instant.
    Park(Instant),
}

/// What a handler knows about the request it serves.
pub(crate) struct Cx<'a> {
    pub(crate) cluster: &'a mut Cluster,
    /// The broker (node id) the request reached.
    pub(crate) broker: i32,
    pub(crate) conn: ConnId,
    pub(crate) seq: u64,
    pub(crate) correlation_id: i32,
    pub(crate) version: i16,
    pub(crate) client_id: &'a str,
    pub(crate) client_host: &'a str,
    pub(crate) now: Instant,
    /// Answer with this error everywhere and change nothing.
    pub(crate) forced: Option<ErrorCode>,
    /// The `throttle_time_ms` of a Produce or Fetch answer (an injected
    /// [`FaultAction::Throttle`](crate::FaultAction::Throttle)); 0 otherwise.
    pub(crate) throttle_ms: i32,
    /// False when a parked Fetch's wait is over: answer with what there is.
    pub(crate) may_wait: bool,
}

impl Cx<'_> {
    /// Encodes `body` as the response to this request.
    pub(crate) fn respond<'r, R: Response<'r>>(&self, body: &R) -> Answer {
        match encode(self.correlation_id, self.version, body) {
            Some(frame) => Answer::Frame(frame),
            // Only a handler bug gets here (a value the version cannot carry);
            // closing beats sending bytes the client would misread.
            None => Answer::Close(None),
        }
    }

    /// Where a deferred answer to this request goes.
    pub(crate) fn reply_to(&self) -> ReplyTo {
        ReplyTo {
            conn: self.conn,
            seq: self.seq,
            correlation_id: self.correlation_id,
            version: self.version,
        }
    }

    /// The error for one partition: the forced one, else an injected
    /// partition fault (consumed), else `None`.
    pub(crate) fn partition_fault(
        &mut self,
        api: ApiKey,
        topic: &str,
        partition: i32,
    ) -> Option<ErrorCode> {
        self.forced.or_else(|| {
            self.cluster
                .faults
                .take_partition(api, self.broker, topic, partition)
        })
    }

    /// `NOT_COORDINATOR` unless this broker coordinates `key`.
    pub(crate) fn check_coordinator(&self, key: &str) -> Option<ErrorCode> {
        match self.cluster.coordinator_for(key) {
            Some(node) if node == self.broker => None,
            Some(_) => Some(ErrorCode::NOT_COORDINATOR),
            None => Some(ErrorCode::COORDINATOR_NOT_AVAILABLE),
        }
    }
}

/// Encodes a whole response frame (size prefix, header, body).
pub(crate) fn encode<'r, R: Response<'r>>(
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Option<Vec<u8>> {
    let wire = R::wire_version(version).ok()?;
    // Size prefix + correlation id + a response header v1 tag byte.
    let len = 9 + body.encoded_len(wire).ok()?;
    let mut buf = vec![0u8; len];
    let n = encode_response(&mut buf, correlation_id, version, body).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Decodes the body of a request of type `R`; `None` when the bytes do not parse.
fn decode<'f, R: Request<'f>>(header: &RequestHeader<'_>, r: &mut Reader<'f>) -> Option<R> {
    decode_request_body(header, r).ok()
}

/// Decodes the request body for `api` and runs its handler. A body that does
/// not decode closes the connection, as Kafka does: the stream is no longer
/// trusted, and there is no request to echo in an error response.
pub(crate) fn dispatch(
    cx: &mut Cx<'_>,
    api: ApiKey,
    header: &RequestHeader<'_>,
    r: &mut Reader<'_>,
    auth: &mut AuthState,
) -> Answer {
    macro_rules! run {
        ($handler:path) => {
            match decode(header, r) {
                Some(req) => $handler(cx, req),
                None => Answer::Close(None),
            }
        };
    }
    match api {
        ApiKey::ApiVersions => run!(api_versions::handle),
        ApiKey::Metadata => run!(metadata::handle),
        ApiKey::Produce => run!(produce::handle),
        ApiKey::Fetch => fetch::handle_frame(cx, header, r),
        ApiKey::ListOffsets => run!(list_offsets::handle),
        ApiKey::FindCoordinator => run!(coordinator::handle),
        ApiKey::JoinGroup => run!(group::join),
        ApiKey::SyncGroup => run!(group::sync),
        ApiKey::Heartbeat => run!(group::heartbeat),
        ApiKey::LeaveGroup => run!(group::leave),
        ApiKey::DescribeGroups => run!(group::describe),
        ApiKey::ListGroups => run!(group::list),
        ApiKey::OffsetCommit => run!(offsets::commit),
        ApiKey::OffsetFetch => run!(offsets::fetch),
        ApiKey::CreateTopics => run!(admin::create_topics),
        ApiKey::DeleteTopics => run!(admin::delete_topics),
        ApiKey::CreatePartitions => run!(admin::create_partitions),
        ApiKey::InitProducerId => run!(producer_id::handle),
        ApiKey::AddPartitionsToTxn => run!(txn::add_partitions),
        ApiKey::AddOffsetsToTxn => run!(txn::add_offsets),
        ApiKey::EndTxn => run!(txn::end),
        ApiKey::TxnOffsetCommit => run!(txn::commit_offsets),
        ApiKey::DeleteRecords => run!(records::delete_records),
        ApiKey::DescribeConfigs => run!(configs::describe),
        ApiKey::AlterConfigs => run!(configs::alter),
        ApiKey::IncrementalAlterConfigs => run!(configs::incremental_alter),
        ApiKey::DeleteGroups => run!(groups_admin::delete_groups),
        ApiKey::OffsetDelete => run!(groups_admin::offset_delete),
        ApiKey::ElectLeaders => run!(cluster_admin::elect_leaders),
        ApiKey::DescribeCluster => run!(cluster_admin::describe_cluster),
        ApiKey::SaslHandshake => match decode(header, r) {
            Some(req) => sasl::handshake(cx, req, auth),
            None => Answer::Close(None),
        },
        ApiKey::SaslAuthenticate => match decode(header, r) {
            Some(req) => sasl::authenticate(cx, req, auth),
            None => Answer::Close(None),
        },
    }
}
