//! Faults tests inject, and the record of requests tests assert on.

use std::collections::VecDeque;
use std::time::Duration;

use microkafka_core::protocol::ApiKey;
use microkafka_core::ErrorCode;

/// What happens to a request a fault matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Answer with this error code in every error field of the response (or,
    /// for a partition fault, in that partition's), changing no state.
    Error(ErrorCode),
    /// Close the connection instead of answering, as a broker that crashed
    /// mid-request; earlier responses on the connection are still sent.
    Disconnect,
    /// Never answer; the client's request timeout fires. Later requests on the
    /// connection are not answered either, since responses go out in order.
    NoResponse,
    /// Serve the request (its effects happen: a Produce is stored), then
    /// close the connection without the answer, as when a response is lost
    /// on the network. The client retries; an idempotent producer's retry
    /// is recognised as a duplicate and not stored twice.
    LoseResponse,
    /// Serve the request (its effects happen: a Produce is stored), then
    /// hold its answer this long before sending it, as a broker stalled in
    /// a long GC pause or on a slow disk. The connection is muted meanwhile
    /// (Kafka handles one request per connection at a time), so a stall
    /// longer than the client's request timeout makes the client give up
    /// on the connection and retry elsewhere: an idempotent retry of a
    /// stored batch is then a duplicate, stored once.
    Stall(Duration),
    /// Serve the request and answer at once with `throttle_time_ms` set to
    /// this duration, as a broker whose quota the client exceeded (KIP-219:
    /// from Produce v6 and Fetch v8 the broker answers first and the client
    /// must not send on that connection until the time has passed). Only
    /// Produce and Fetch answers given at once carry it; other APIs are
    /// served as usual. Kafka also mutes the connection for that time;
    /// the mock does not, and counts instead the requests that arrive on
    /// the connection during the second half of the throttle (the first
    /// half leaves room for requests the client had already sent), so tests
    /// can check that the client waited: [`MockCluster::throttle_violations`](crate::MockCluster::throttle_violations).
    Throttle(Duration),
}

/// A fault for the next requests of one API, optionally only on one broker
/// or for one topic-partition.
///
/// ```
/// use microkafka_mock_broker::Fault;
/// use microkafka_core::{protocol::ApiKey, ErrorCode};
///
/// // The next two Produce requests to broker 2 that touch orders/0 fail there.
/// let fault = Fault::errors(ApiKey::Produce, [ErrorCode::NOT_LEADER_OR_FOLLOWER; 2])
///     .on_broker(2)
///     .on_partition("orders", 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub(crate) api: ApiKey,
    pub(crate) broker: Option<i32>,
    pub(crate) partition: Option<(String, i32)>,
    /// One action per matching request, in order.
    pub(crate) actions: VecDeque<FaultAction>,
}

impl Fault {
    /// The next matching requests get these error codes, one per request.
    pub fn errors(api: ApiKey, codes: impl IntoIterator<Item = ErrorCode>) -> Self {
        Self::actions(api, codes.into_iter().map(FaultAction::Error))
    }

    /// The next matching request gets `code`.
    pub fn error(api: ApiKey, code: ErrorCode) -> Self {
        Self::errors(api, [code])
    }

    /// The next `times` matching requests close their connection instead of
    /// being answered.
    pub fn disconnect(api: ApiKey, times: usize) -> Self {
        Self::actions(api, std::iter::repeat_n(FaultAction::Disconnect, times))
    }

    /// The next `times` matching requests are never answered.
    pub fn no_response(api: ApiKey, times: usize) -> Self {
        Self::actions(api, std::iter::repeat_n(FaultAction::NoResponse, times))
    }

    /// The next `times` matching requests are served but their answers are
    /// lost with the connection.
    pub fn lose_response(api: ApiKey, times: usize) -> Self {
        Self::actions(api, std::iter::repeat_n(FaultAction::LoseResponse, times))
    }

    /// The next `times` matching requests are served but answered only
    /// after `stall` (see [`FaultAction::Stall`]).
    pub fn stall(api: ApiKey, times: usize, stall: Duration) -> Self {
        Self::actions(api, std::iter::repeat_n(FaultAction::Stall(stall), times))
    }

    /// The next `times` matching requests are answered with
    /// `throttle_time_ms` = `throttle` (see [`FaultAction::Throttle`]).
    pub fn throttle(api: ApiKey, times: usize, throttle: Duration) -> Self {
        Self::actions(
            api,
            std::iter::repeat_n(FaultAction::Throttle(throttle), times),
        )
    }

    /// The next matching requests get these actions, one per request.
    pub fn actions(api: ApiKey, actions: impl IntoIterator<Item = FaultAction>) -> Self {
        Fault {
            api,
            broker: None,
            partition: None,
            actions: actions.into_iter().collect(),
        }
    }

    /// Only requests sent to broker `node_id`.
    pub fn on_broker(mut self, node_id: i32) -> Self {
        self.broker = Some(node_id);
        self
    }

    /// Only this topic-partition of requests that name partitions (Produce,
    /// Fetch, ListOffsets, OffsetCommit, OffsetFetch, TxnOffsetCommit); the other partitions
    /// of the request are served normally. Only [`FaultAction::Error`]
    /// applies to a partition; other actions are ignored here.
    pub fn on_partition(mut self, topic: impl Into<String>, partition: i32) -> Self {
        self.partition = Some((topic.into(), partition));
        self
    }
}

/// The faults waiting for requests, consumed as they match.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pending: Vec<Fault>,
}

impl Faults {
    pub(crate) fn push(&mut self, fault: Fault) {
        if !fault.actions.is_empty() {
            self.pending.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    /// The whole-request action for a request of `api` to `broker`, consumed.
    pub(crate) fn take_request(&mut self, api: ApiKey, broker: i32) -> Option<FaultAction> {
        self.take(|f| f.api == api && f.partition.is_none() && f.broker.is_none_or(|b| b == broker))
    }

    /// The error for one partition of a request, consumed.
    pub(crate) fn take_partition(
        &mut self,
        api: ApiKey,
        broker: i32,
        topic: &str,
        partition: i32,
    ) -> Option<ErrorCode> {
        let action = self.take(|f| {
            f.api == api
                && f.broker.is_none_or(|b| b == broker)
                && f.partition
                    .as_ref()
                    .is_some_and(|(t, p)| t == topic && *p == partition)
        });
        match action {
            Some(FaultAction::Error(code)) => Some(code),
            _ => None,
        }
    }

    fn take(&mut self, matches: impl Fn(&Fault) -> bool) -> Option<FaultAction> {
        let i = self.pending.iter().position(matches)?;
        let action = self.pending[i].actions.pop_front();
        if self.pending[i].actions.is_empty() {
            self.pending.remove(i);
        }
        action
    }
}

/// One request the cluster received, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    /// The broker (node id) it was sent to.
    pub broker: i32,
    /// The API key (raw, so unknown keys are recorded too).
    pub api_key: i16,
    /// The API version.
    pub api_version: i16,
    /// The correlation id.
    pub correlation_id: i32,
    /// The client id from the request header.
    pub client_id: Option<String>,
    /// Which connection it came on (ids are unique per cluster).
    pub connection: u64,
    /// Who sent it, as Kafka's principal name (type `User`) when it was
    /// received: `ANONYMOUS` before authentication and on `PLAINTEXT`, the
    /// client certificate's subject on `SSL` (`CN=alice`), the SASL user
    /// once authenticated.
    pub principal: String,
}

impl RequestRecord {
    /// The API, if it is one microkafka knows.
    pub fn api(&self) -> Option<ApiKey> {
        ApiKey::from_key(self.api_key)
    }
}

/// The last requests received, oldest dropped first.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    records: VecDeque<RequestRecord>,
    capacity: usize,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        RequestLog {
            records: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn push(&mut self, record: impl FnOnce() -> RequestRecord) {
        if self.capacity == 0 {
            return;
        }
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(record());
    }

    pub(crate) fn snapshot(&self) -> Vec<RequestRecord> {
        self.records.iter().cloned().collect()
    }

    pub(crate) fn take(&mut self) -> Vec<RequestRecord> {
        self.records.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_consumed_in_order_and_scoped() {
        let mut f = Faults::default();
        f.push(
            Fault::errors(
                ApiKey::Produce,
                [
                    ErrorCode::NOT_LEADER_OR_FOLLOWER,
                    ErrorCode::REQUEST_TIMED_OUT,
                ],
            )
            .on_broker(2),
        );
        f.push(Fault::error(ApiKey::Fetch, ErrorCode::UNKNOWN_SERVER_ERROR).on_partition("t", 1));
        assert_eq!(f.take_request(ApiKey::Produce, 1), None, "other broker");
        assert_eq!(
            f.take_request(ApiKey::Produce, 2),
            Some(FaultAction::Error(ErrorCode::NOT_LEADER_OR_FOLLOWER))
        );
        assert_eq!(
            f.take_request(ApiKey::Produce, 2),
            Some(FaultAction::Error(ErrorCode::REQUEST_TIMED_OUT))
        );
        assert_eq!(f.take_request(ApiKey::Produce, 2), None, "used up");
        assert_eq!(
            f.take_request(ApiKey::Fetch, 1),
            None,
            "partition faults are not whole-request"
        );
        assert_eq!(f.take_partition(ApiKey::Fetch, 1, "t", 0), None);
        assert_eq!(
            f.take_partition(ApiKey::Fetch, 3, "t", 1),
            Some(ErrorCode::UNKNOWN_SERVER_ERROR)
        );
        assert_eq!(f.take_partition(ApiKey::Fetch, 3, "t", 1), None);
    }

    #[test]
    fn request_log_is_bounded() {
        let mut log = RequestLog::new(2);
        for i in 0..3 {
            log.push(|| RequestRecord {
                broker: 1,
                api_key: 18,
                api_version: 3,
                correlation_id: i,
                client_id: None,
                connection: 0,
                principal: "ANONYMOUS".into(),
            });
        }
        let ids: Vec<i32> = log.take().iter().map(|r| r.correlation_id).collect();
        assert_eq!(ids, [1, 2]);
        assert!(log.snapshot().is_empty());
    }
}
