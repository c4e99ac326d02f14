//! Request and response bodies, one file per API, declared as field tables.
//!
//! Field names, order, types and version ranges follow Apache Kafka's JSON
//! message schemas. Every type here is `Copy` and borrows the bytes it was
//! decoded from.

mod api_versions;
mod consumer_protocol;
mod create_partitions;
mod create_topics;
mod delete_topics;
mod describe_groups;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
mod produce;
mod sasl_authenticate;
mod sasl_handshake;
mod sync_group;

pub use api_versions::*;
pub use consumer_protocol::*;
pub use create_partitions::*;
pub use create_topics::*;
pub use delete_topics::*;
pub use describe_groups::*;
pub use fetch::*;
pub use find_coordinator::*;
pub use heartbeat::*;
pub use init_producer_id::*;
pub use join_group::*;
pub use leave_group::*;
pub use list_groups::*;
pub use list_offsets::*;
pub use metadata::*;
pub use offset_commit::*;
pub use offset_fetch::*;
pub use produce::*;
pub use sasl_authenticate::*;
pub use sasl_handshake::*;
pub use sync_group::*;

#[cfg(test)]
mod tests;
