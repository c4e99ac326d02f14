//! # microkafka-std
#![forbid(unsafe_code)]

mod broker;
mod client;
mod cluster;
mod conn;
mod dialer;
mod error;
mod message;
mod metadata;
mod produce;
mod reader;
mod stats;
mod transport;
mod writer;

pub use client::{
    Client, ClientConfig, ClusterMetadata, GroupDescription, GroupInfo, GroupMember, OffsetRequest,
    PartitionOffset, TopicMetadata,
};
pub use conn::{Batch, Conn, ReadBatchConfig, SeekWhence, TopicConfig, Written};
pub use dialer::{dial, dial_leader, Dialer, DEFAULT_CLIENT_ID};
pub use error::{BrokerRef, Context, Error, ErrorKind, Result};
pub use message::{FetchedMessage, Header, Headers, Message, OwnedMessage};
pub use metadata::{Broker, Partition};
pub use microkafka_core::record::compression::Compression;
pub use produce::RequiredAcks;
pub use reader::{Reader, ReaderConfig, ReaderStats, StartOffset, FIRST_OFFSET, LAST_OFFSET};
pub use stats::Summary;
pub use transport::{AsyncStream, BoxFuture, TlsConnector};
pub use writer::{
    BalancerKind, Completion, CompletionFn, WriteErrors, Writer, WriterConfig, WriterStats,
};
