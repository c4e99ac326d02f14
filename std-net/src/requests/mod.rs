//! The request library the public types wrap: each request the Writer,
//! Reader, admin Client and Conn send to brokers, written once, over a
//! [`BrokerConn`](crate::broker::BrokerConn), with core's single-partition
//! helpers and decisions.
//!
//! - Opening a connection (TCP, TLS, ApiVersions, SASL): [`connect`].
//! - Metadata: [`metadata`].
//! - One partition's Produce, and building its batch: [`produce`].
//! - One partition's Fetch: [`fetch`].
//! - One partition's offset (ListOffsets): [`offsets`].
//! - Topics and partitions created and deleted: [`admin`].
//! - Topic and broker configurations: [`configs`].
//! - A group's offsets and the group itself, as an admin: [`group_admin`].
//! - DeleteRecords, ElectLeaders, DescribeCluster: [`cluster_admin`].

pub(crate) mod admin;
pub(crate) mod cluster_admin;
pub(crate) mod configs;
pub(crate) mod connect;
pub(crate) mod fetch;
pub(crate) mod group_admin;
pub(crate) mod metadata;
pub(crate) mod offsets;
pub(crate) mod produce;

use std::time::Duration;

/// One partition of one topic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PartitionAt<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
}

/// Milliseconds of a duration as the `int32` Kafka wants.
pub(crate) fn duration_ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
