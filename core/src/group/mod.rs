//! Consumer groups (classic protocol): the partition assignors the group
//! leader runs. The member state machine arrives with the consumer-group issue.

pub mod assignor;

pub use assignor::{
    scratch_len, AssignmentSink, Assignor, CooperativeSticky, GroupMember, Range,
    RebalanceProtocol, RoundRobin, TopicPartitions,
};
