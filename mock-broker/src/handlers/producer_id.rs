//! InitProducerId: producer ids and epochs for idempotent producers.
//!
//! Transactional ids get an id and a bumped epoch per call, as a
//! transaction coordinator hands them out, but transactions themselves
//! (AddPartitionsToTxn, EndTxn) are not served: the APIs are not advertised.

use microkafka_core::protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use microkafka_core::ErrorCode;

use super::{Answer, Cx};

pub(crate) fn handle(cx: &mut Cx<'_>, req: InitProducerIdRequest<'_>) -> Answer {
    let error = cx
        .forced
        .or_else(|| req.transactional_id.and_then(|t| cx.check_coordinator(t)));
    let (producer_id, producer_epoch) = match (error, req.transactional_id) {
        (Some(_), _) => (-1, -1),
        (None, Some(tid)) => {
            let cluster = &mut *cx.cluster;
            let next = match cluster.transactional.get(tid) {
                // Epoch exhausted: a new id, as Kafka does.
                Some(&(_, epoch)) if epoch >= i16::MAX - 1 => (cluster.next_producer_id(), 0),
                Some(&(id, epoch)) => (id, epoch + 1),
                None => (cluster.next_producer_id(), 0),
            };
            cluster.transactional.insert(tid.to_owned(), next);
            next
        }
        // KIP-360: an idempotent producer may ask to bump its own epoch.
        (None, None)
            if req.producer_id >= 0
                && req.producer_epoch >= 0
                && req.producer_epoch < i16::MAX - 1 =>
        {
            (req.producer_id, req.producer_epoch + 1)
        }
        (None, None) => (cx.cluster.next_producer_id(), 0),
    };
    cx.respond(&InitProducerIdResponse {
        error_code: error.unwrap_or(ErrorCode::NONE),
        producer_id,
        producer_epoch,
        ..Default::default()
    })
}
