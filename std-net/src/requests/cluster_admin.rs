//! DeleteRecords (on partition leaders), ElectLeaders and DescribeCluster.

use std::sync::Arc;
use std::time::Duration;

use microkafka_core::protocol::messages::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsResponse, DeleteRecordsTopic,
    DescribeClusterRequest, DescribeClusterResponse, ElectLeadersRequest, ElectLeadersResponse,
    ElectLeadersTopicPartitions, ELECTION_PREFERRED, ELECTION_UNCLEAN,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::duration_ms;
use crate::broker::BrokerConn;
use crate::error::{Error, Result};
use crate::metadata::Broker;

/// Which replica [`Client::elect_leaders`](crate::Client::elect_leaders) makes leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ElectionType {
    /// The preferred (first) replica, when it is alive and in sync.
    #[default]
    Preferred,
    /// Any live replica of a partition without a leader, in sync or not
    /// (may lose data).
    Unclean,
}

/// The outcome of one partition's election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionResult {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// `None` when the leader changed; `ELECTION_NOT_NEEDED` when the
    /// wanted replica already leads; another code when it could not.
    pub error: Option<ErrorCode>,
}

/// The cluster as DescribeCluster shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The controller's broker id (-1 unknown).
    pub controller: i32,
    /// The brokers, by id.
    pub brokers: Vec<Broker>,
}

/// Moves the log start of each `(partition, offset)` of `topic` on their
/// leader `conn` (-1: the high watermark); returns `(partition, new log start)`.
pub(crate) async fn delete_records(
    conn: &BrokerConn,
    topic: &str,
    partitions: &[(i32, i64)],
    timeout: Duration,
) -> Result<Vec<(i32, i64)>> {
    let parts: Vec<DeleteRecordsPartition> = partitions
        .iter()
        .map(|&(partition_index, offset)| DeleteRecordsPartition {
            partition_index,
            offset,
        })
        .collect();
    let topics = [DeleteRecordsTopic {
        name: topic,
        partitions: Array::new(&parts),
    }];
    let request = DeleteRecordsRequest {
        topics: Array::new(&topics),
        timeout_ms: duration_ms(timeout),
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: DeleteRecordsResponse<'_> = response.decode()?;
    let mut out = Vec::with_capacity(partitions.len());
    for t in decoded.topics.iter() {
        for p in t.partitions.iter() {
            if p.error_code.is_err() {
                return Err(Error::kafka(p.error_code, None)
                    .with_api(ApiKey::DeleteRecords)
                    .with_broker(conn.broker())
                    .with_partition(t.name, p.partition_index));
            }
            out.push((p.partition_index, p.low_watermark));
        }
    }
    Ok(out)
}

/// Asks for leader elections of `partitions` (`None`: every partition).
pub(crate) async fn elect_leaders(
    conn: &BrokerConn,
    partitions: Option<&[(&str, Vec<i32>)]>,
    election: ElectionType,
    timeout: Duration,
) -> Result<Vec<ElectionResult>> {
    let topics: Option<Vec<ElectLeadersTopicPartitions<'_>>> = partitions.map(|ps| {
        ps.iter()
            .map(|(topic, parts)| ElectLeadersTopicPartitions {
                topic,
                partitions: Array::new(parts),
            })
            .collect()
    });
    let request = ElectLeadersRequest {
        election_type: match election {
            ElectionType::Preferred => ELECTION_PREFERRED,
            ElectionType::Unclean => ELECTION_UNCLEAN,
        },
        topic_partitions: topics.as_deref().map(Array::new),
        timeout_ms: duration_ms(timeout),
    };
    if election == ElectionType::Unclean && conn.version(ApiKey::ElectLeaders)? < 1 {
        // v0 elects the preferred replica only.
        return Err(Error::config(
            "an unclean election needs ElectLeaders v1; the broker speaks v0 only",
        )
        .with_api(ApiKey::ElectLeaders));
    }
    let response = conn.request(&request, timeout).await?;
    let decoded: ElectLeadersResponse<'_> = response.decode()?;
    if decoded.error_code.is_err() {
        return Err(Error::kafka(decoded.error_code, None)
            .with_api(ApiKey::ElectLeaders)
            .with_broker(conn.broker()));
    }
    Ok(decoded
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result.iter().map(move |p| ElectionResult {
                topic: t.topic.to_owned(),
                partition: p.partition_id,
                error: p.error_code.is_err().then_some(p.error_code),
            })
        })
        .collect())
}

/// DescribeCluster of `conn`'s cluster.
pub(crate) async fn describe_cluster(
    conn: &BrokerConn,
    timeout: Duration,
) -> Result<ClusterDescription> {
    let response = conn
        .request(&DescribeClusterRequest::default(), timeout)
        .await?;
    let decoded: DescribeClusterResponse<'_> = response.decode()?;
    if decoded.error_code.is_err() {
        return Err(Error::kafka(decoded.error_code, decoded.error_message)
            .with_api(ApiKey::DescribeCluster)
            .with_broker(conn.broker()));
    }
    let mut brokers: Vec<Broker> = decoded
        .brokers
        .iter()
        .map(|b| Broker {
            id: b.broker_id,
            host: Arc::from(b.host),
            port: b.port,
            rack: b.rack.map(Arc::from),
        })
        .collect();
    brokers.sort_by_key(|b| b.id);
    Ok(ClusterDescription {
        cluster_id: decoded.cluster_id.to_owned(),
        controller: decoded.controller_id,
        brokers,
    })
}
