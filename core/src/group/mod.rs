//! Consumer groups (classic protocol): the partition assignors the group
//! leader runs, and [`Member`], the group member as a sans-IO state machine
//! (coordinator lookup, join, sync, heartbeats, offsets, leave).

pub mod assignor;
pub mod member;

pub use assignor::{
    scratch_len, AssignmentSink, Assignor, CooperativeSticky, GroupMember, Range,
    RebalanceProtocol, RoundRobin, TopicPartitions,
};
pub use member::{
    leader_scratch_len, Destination, Event, GroupRequest, LeaderJoin, Member, MemberConfig,
    RequestId, Transmit,
};
