//! InitProducerId: producer ids and epochs for idempotent and
//! transactional producers (the transaction coordinator's part is
//! `crate::txn`: a transactional id gets the next epoch at every call, an
//! open transaction is aborted and its producer fenced).

use std::time::Duration;

use microkafka_core::protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use microkafka_core::ErrorCode;

use super::{Answer, Cx};

/// Kafka's default `transaction.max.timeout.ms` (15 minutes).
const MAX_TRANSACTION_TIMEOUT_MS: i32 = 900_000;

pub(crate) fn handle(cx: &mut Cx<'_>, req: InitProducerIdRequest<'_>) -> Answer {
    // Kafka's transaction coordinator checks, in order: an empty
    // transactional id, then the transaction timeout (transactional only).
    let invalid = match req.transactional_id {
        Some("") => Some(ErrorCode::INVALID_REQUEST),
        Some(_) if !(1..=MAX_TRANSACTION_TIMEOUT_MS).contains(&req.transaction_timeout_ms) => {
            Some(ErrorCode::INVALID_TRANSACTION_TIMEOUT)
        }
        _ => None,
    };
    let error = cx
        .forced
        .or(invalid)
        .or_else(|| req.transactional_id.and_then(|t| cx.check_coordinator(t)));
    let (producer_id, producer_epoch) = match (error, req.transactional_id) {
        (Some(_), _) => (-1, -1),
        (None, Some(tid)) => {
            let timeout = Duration::from_millis(req.transaction_timeout_ms.max(0) as u64);
            let current = (req.producer_id, req.producer_epoch);
            match cx.cluster.init_transactional(tid, timeout, current, cx.now) {
                Ok(next) => next,
                Err(error) => {
                    // PRODUCER_FENCED is known from v4.
                    let error = if error == ErrorCode::PRODUCER_FENCED && cx.version < 4 {
                        ErrorCode::INVALID_PRODUCER_EPOCH
                    } else {
                        error
                    };
                    return cx.respond(&InitProducerIdResponse {
                        error_code: error,
                        producer_id: -1,
                        producer_epoch: -1,
                        ..Default::default()
                    });
                }
            }
        }
        // Without a transactional id Kafka hands out a new id every time,
        // whatever producer id and epoch the request names (the KIP-360
        // epoch bump applies to transactional producers only).
        (None, None) => (cx.cluster.next_producer_id(), 0),
    };
    cx.respond(&InitProducerIdResponse {
        error_code: error.unwrap_or(ErrorCode::NONE),
        producer_id,
        producer_epoch,
        ..Default::default()
    })
}
