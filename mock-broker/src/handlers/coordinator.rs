//! FindCoordinator: which broker coordinates a group (or transactional id).

use microkafka_core::protocol::messages::{
    FindCoordinatorCoordinator, FindCoordinatorRequest, FindCoordinatorResponse,
};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};

/// Key types: 0 group, 1 transactional id (2, share groups, is not served).
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

/// `(error, node id, host, port)` for one key.
fn find<'c>(cx: &'c Cx<'_>, key: &str, key_type: i8) -> (ErrorCode, i32, &'c str, i32) {
    if let Some(error) = cx.forced {
        return (error, -1, "", -1);
    }
    if !matches!(key_type, GROUP | TRANSACTION) {
        return (ErrorCode::INVALID_REQUEST, -1, "", -1);
    }
    // Kafka 4.x locates even an empty group id (its group APIs refuse it later).
    match cx
        .cluster
        .coordinator_for(key)
        .and_then(|n| cx.cluster.broker(n))
    {
        Some(b) => (ErrorCode::NONE, b.node_id, b.host.as_str(), b.port),
        None => (ErrorCode::COORDINATOR_NOT_AVAILABLE, -1, "", -1),
    }
}

pub(crate) fn handle(cx: &mut Cx<'_>, req: FindCoordinatorRequest<'_>) -> Answer {
    if cx.version < 4 {
        let (error, node_id, host, port) = find(cx, req.key, req.key_type);
        let body = FindCoordinatorResponse {
            error_code: error,
            // Kafka's text for no error is "NONE" here (v1-3).
            error_message: Some(error.name()),
            node_id,
            host,
            port,
            ..Default::default()
        };
        return cx.respond(&body);
    }
    let keys: Vec<&str> = req.coordinator_keys.iter().collect();
    let coordinators: Vec<FindCoordinatorCoordinator<'_>> = keys
        .iter()
        .map(|key| {
            let (error, node_id, host, port) = find(cx, key, req.key_type);
            FindCoordinatorCoordinator {
                key,
                node_id,
                host,
                port,
                error_code: error,
                // ... and "" (v4+).
                error_message: Some(if error.is_err() { error.name() } else { "" }),
            }
        })
        .collect();
    let body = FindCoordinatorResponse {
        coordinators: Array::new(&coordinators),
        ..Default::default()
    };
    cx.respond(&body)
}
