//! ListOffsets: one partition's offset at a time, with core's
//! [`PartitionListOffsets`] and [`ListedOffset`].

use std::time::Duration;

use microkafka_core::consumer::partition::{ListedOffset, PartitionListOffsets};
use microkafka_core::protocol::messages::ListOffsetsResponse;

use super::{duration_ms, PartitionAt};
use crate::broker::BrokerConn;
use crate::error::{Error, Result};

/// Asks `conn` (the partition's leader) for the offset at `timestamp`
/// (ms, or -1 latest / -2 earliest), carrying `leader_epoch` (-1: not
/// checked). The partition's error code is an error ([`Error::code`]).
pub(crate) async fn list_offset_on(
    conn: &BrokerConn,
    at: PartitionAt<'_>,
    timestamp: i64,
    leader_epoch: i32,
    read_committed: bool,
    timeout: Duration,
) -> Result<i64> {
    let list = PartitionListOffsets::new(
        at.topic,
        at.partition,
        timestamp,
        leader_epoch,
        read_committed,
        duration_ms(timeout),
    );
    let topic = list.topic();
    let response = conn.request(&list.request(&topic), timeout).await?;
    let decoded: ListOffsetsResponse<'_> = response.decode()?;
    let found = ListedOffset::find(&decoded, response.version(), at.topic, at.partition)
        .map_err(|e| Error::from(e).with_broker(conn.broker()))?;
    if found.error.is_err() {
        return Err(Error::kafka(found.error, None).with_broker(conn.broker()));
    }
    Ok(found.offset)
}
