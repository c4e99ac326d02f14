//! Metadata: brokers, topics, partitions and their leaders.

use std::time::Duration;

use microkafka_core::protocol::messages::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use microkafka_core::wire::Array;

use crate::broker::BrokerConn;
use crate::error::Result;
use crate::metadata::Snapshot;

/// Sends a Metadata request for `topics` (`None`: every topic) and keeps
/// what the answer says.
pub(crate) async fn metadata_request(
    conn: &BrokerConn,
    topics: Option<&[&str]>,
    allow_auto_topic_creation: bool,
    timeout: Duration,
) -> Result<Snapshot> {
    let wanted: Vec<MetadataRequestTopic<'_>> = topics
        .unwrap_or_default()
        .iter()
        .map(|t| MetadataRequestTopic {
            name: Some(t),
            ..Default::default()
        })
        .collect();
    let request = MetadataRequest {
        topics: topics.map(|_| Array::new(&wanted)),
        allow_auto_topic_creation,
        ..Default::default()
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: MetadataResponse<'_> = response.decode()?;
    Ok(Snapshot::from_response(&decoded))
}
