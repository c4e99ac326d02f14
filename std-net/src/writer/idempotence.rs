//! The idempotent Writer's producer id and epoch, shared by every
//! partition's sender (each keeps its partition's sequence numbers, core's
//! [`PartitionSequence`](microkafka_core::producer::PartitionSequence)).
//!
//! The id comes from InitProducerId the first time a batch needs it. A new
//! epoch is taken locally when core's policy asks for one
//! ([`ProduceRecovery::BumpEpoch`](microkafka_core::producer::ProduceRecovery::BumpEpoch),
//! or a batch given up after it was sent), as the Java client's idempotent
//! producer does; an exhausted epoch asks InitProducerId for a new id.

use microkafka_core::producer::ProducerIdAndEpoch;
use microkafka_core::protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};
use microkafka_core::protocol::ApiKey;

use crate::error::{Error, Result};
use crate::pool::BrokerPool;

/// Where the producer id stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not asked for yet (or a new one is needed).
    Unknown,
    /// Plain at-least-once writes (not configured, or the broker cannot).
    Disabled,
    /// Batches carry this id and epoch.
    Id(ProducerIdAndEpoch),
}

/// The producer id and epoch of a Writer's idempotent batches.
#[derive(Debug)]
pub(super) struct Idempotence {
    state: tokio::sync::Mutex<State>,
}

impl Idempotence {
    /// Idempotent writes when `enabled` (and the brokers can), else plain.
    pub(super) fn new(enabled: bool) -> Self {
        Idempotence {
            state: tokio::sync::Mutex::new(if enabled {
                State::Unknown
            } else {
                State::Disabled
            }),
        }
    }

    /// The id and epoch batches carry now (`None`: plain writes), obtained
    /// with InitProducerId the first time.
    pub(super) async fn producer(
        &self,
        brokers: &BrokerPool,
    ) -> Result<Option<ProducerIdAndEpoch>> {
        let mut state = self.state.lock().await;
        if *state == State::Unknown {
            *state = init_producer_id(brokers).await?;
        }
        Ok(match *state {
            State::Id(p) => Some(p),
            _ => None,
        })
    }

    /// `failed` (the id and epoch a batch carried) can no longer be
    /// trusted for some partition: the next epoch (or, the epoch exhausted,
    /// a new id at the next [`producer`](Self::producer)). Nothing changes
    /// when another partition moved on already.
    pub(super) async fn bump(&self, failed: ProducerIdAndEpoch) {
        let mut state = self.state.lock().await;
        if *state == State::Id(failed) {
            *state = failed.bumped().map_or(State::Unknown, State::Id);
        }
    }
}

/// Asks any broker for a new producer id (`Disabled` when the broker has
/// no InitProducerId).
async fn init_producer_id(brokers: &BrokerPool) -> Result<State> {
    let conn = brokers.any_conn().await?;
    if conn.version(ApiKey::InitProducerId).is_err() {
        return Ok(State::Disabled);
    }
    let request = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: i32::MAX,
        producer_id: -1,
        producer_epoch: -1,
    };
    let response = conn.request(&request, brokers.request_timeout()).await?;
    let decoded: InitProducerIdResponse = response.decode()?;
    if decoded.error_code.is_err() {
        return Err(Error::kafka(decoded.error_code, None)
            .with_api(ApiKey::InitProducerId)
            .with_broker(conn.broker()));
    }
    Ok(State::Id(ProducerIdAndEpoch::new(
        decoded.producer_id,
        decoded.producer_epoch,
    )))
}
