//! DescribeCluster and ElectLeaders.

use microkafka_core::protocol::messages::{
    DescribeClusterBroker, DescribeClusterRequest, DescribeClusterResponse,
    ElectLeadersPartitionResult, ElectLeadersRequest, ElectLeadersResponse, ReplicaElectionResult,
    ELECTION_PREFERRED, ELECTION_UNCLEAN,
};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};

/// The cluster operations a client may perform without an authorizer, as
/// Kafka 4.4 reports them (ACL operation codes as bits: CREATE, ALTER,
/// DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS,
/// IDEMPOTENT_WRITE; 8096).
const ALL_CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// DescribeCluster's `endpoint_type` for brokers (a broker listener
/// describes nothing else).
const ENDPOINT_BROKERS: i8 = 1;

pub(crate) fn describe_cluster(cx: &mut Cx<'_>, req: DescribeClusterRequest) -> Answer {
    let cluster = &*cx.cluster;
    let error = cx.forced.or_else(|| {
        (cx.version >= 1 && req.endpoint_type != ENDPOINT_BROKERS)
            .then_some(ErrorCode::MISMATCHED_ENDPOINT_TYPE)
    });
    let brokers: Vec<DescribeClusterBroker<'_>> = match error {
        Some(_) => Vec::new(),
        None => cluster
            .brokers
            .iter()
            .filter(|b| b.up)
            .map(|b| DescribeClusterBroker {
                broker_id: b.node_id,
                host: &b.host,
                port: b.port,
                rack: None,
            })
            .collect(),
    };
    let message = match error {
        Some(ErrorCode::MISMATCHED_ENDPOINT_TYPE) => {
            Some("The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER")
        }
        Some(e) => Some(e.description()),
        None => None,
    };
    cx.respond(&DescribeClusterResponse {
        error_code: error.unwrap_or(ErrorCode::NONE),
        error_message: message,
        endpoint_type: ENDPOINT_BROKERS,
        cluster_id: if error.is_some() {
            ""
        } else {
            &cluster.config.cluster_id
        },
        controller_id: if error.is_some() {
            -1
        } else {
            cluster.controller()
        },
        brokers: Array::new(&brokers),
        cluster_authorized_operations: if req.include_cluster_authorized_operations
            && error.is_none()
        {
            ALL_CLUSTER_OPERATIONS
        } else {
            i32::MIN
        },
        ..Default::default()
    })
}

/// What an election of one partition did.
fn elect(cx: &mut Cx<'_>, topic: &str, partition: i32, unclean: bool) -> ErrorCode {
    let Some(p) = cx.cluster.topics.partition(topic, partition) else {
        return ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
    };
    let live = |node: i32| cx.cluster.is_up(node);
    let target = if unclean {
        // Only a partition without a leader needs an unclean election.
        if p.leader >= 0 {
            return ErrorCode::ELECTION_NOT_NEEDED;
        }
        match p.replicas.iter().copied().find(|&r| live(r)) {
            Some(r) => r,
            None => return ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE,
        }
    } else {
        match p.replicas.first().copied() {
            Some(r) if r == p.leader => return ErrorCode::ELECTION_NOT_NEEDED,
            Some(r) if live(r) => r,
            _ => return ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE,
        }
    };
    match cx.cluster.move_leader(topic, partition, target) {
        Ok(()) => ErrorCode::NONE,
        Err(_) => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
    }
}

pub(crate) fn elect_leaders(cx: &mut Cx<'_>, req: ElectLeadersRequest<'_>) -> Answer {
    let unclean = cx.version >= 1 && req.election_type == ELECTION_UNCLEAN;
    if cx.version >= 1 && req.election_type != ELECTION_PREFERRED && !unclean {
        return cx.respond(&ElectLeadersResponse {
            error_code: ErrorCode::INVALID_REQUEST,
            ..Default::default()
        });
    }
    // `(topic, [(partition, error)])`; null asks for every partition, and
    // lists only those whose leader changed (Kafka leaves out those that
    // needed no election).
    let mut results: Vec<(String, Vec<(i32, ErrorCode)>)> = Vec::new();
    match req.topic_partitions {
        Some(topics) => {
            for t in topics.iter() {
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| {
                        (
                            p,
                            cx.forced.unwrap_or_else(|| elect(cx, t.topic, p, unclean)),
                        )
                    })
                    .collect();
                results.push((t.topic.to_owned(), parts));
            }
        }
        None => {
            let all: Vec<(String, i32)> = cx
                .cluster
                .topics
                .iter()
                .flat_map(|t| (0..t.partitions.len() as i32).map(|p| (t.name.clone(), p)))
                .collect();
            for (topic, p) in all {
                let error = cx.forced.unwrap_or_else(|| elect(cx, &topic, p, unclean));
                if error == ErrorCode::ELECTION_NOT_NEEDED {
                    continue;
                }
                match results.last_mut() {
                    Some((t, parts)) if *t == topic => parts.push((p, error)),
                    _ => results.push((topic, vec![(p, error)])),
                }
            }
        }
    }
    let partitions: Vec<Vec<ElectLeadersPartitionResult<'_>>> = results
        .iter()
        .map(|(_, parts)| {
            parts
                .iter()
                .map(|&(partition_id, error)| ElectLeadersPartitionResult {
                    partition_id,
                    error_code: error,
                    error_message: error.is_err().then(|| error.description()),
                })
                .collect()
        })
        .collect();
    let topics: Vec<ReplicaElectionResult<'_>> = results
        .iter()
        .zip(&partitions)
        .map(|((topic, _), parts)| ReplicaElectionResult {
            topic,
            partition_result: Array::new(parts),
        })
        .collect();
    cx.respond(&ElectLeadersResponse {
        replica_election_results: Array::new(&topics),
        ..Default::default()
    })
}
