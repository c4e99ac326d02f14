//! Topic and broker configurations: DescribeConfigs, AlterConfigs,
//! IncrementalAlterConfigs.

use std::time::Duration;

use microkafka_core::protocol::messages::{
    AlterConfigsRequest, AlterConfigsResource, AlterConfigsResponse, AlterableConfig,
    DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResource,
    IncrementalAlterConfigsResponse, IncrementalAlterableConfig, CONFIG_OP_APPEND,
    CONFIG_OP_DELETE, CONFIG_OP_SET, CONFIG_OP_SUBTRACT, CONFIG_RESOURCE_BROKER,
    CONFIG_RESOURCE_TOPIC,
};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;

use crate::broker::BrokerConn;
use crate::error::{Error, Result};

/// What a configuration belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker, by node id (asked of that broker).
    Broker(i32),
}

impl ConfigResource {
    /// A topic's configuration.
    pub fn topic(name: impl Into<String>) -> Self {
        ConfigResource::Topic(name.into())
    }

    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(name) => (CONFIG_RESOURCE_TOPIC, name.clone()),
            ConfigResource::Broker(id) => (CONFIG_RESOURCE_BROKER, id.to_string()),
        }
    }

    /// The broker that must answer for it, if one must.
    pub(crate) fn broker(&self) -> Option<i32> {
        match self {
            ConfigResource::Topic(_) => None,
            ConfigResource::Broker(id) => Some(*id),
        }
    }

    fn context(&self, e: Error) -> Error {
        match self {
            ConfigResource::Topic(name) => e.with_topic(name),
            ConfigResource::Broker(_) => e,
        }
    }
}

/// Where a configuration value comes from (DescribeConfigs' `ConfigSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// Set on this broker at run time.
    DynamicBroker,
    /// Set for every broker at run time.
    DynamicDefaultBroker,
    /// From the broker's `server.properties`.
    StaticBroker,
    /// Kafka's default.
    Default,
    /// Set on this broker's loggers.
    DynamicBrokerLogger,
    /// Another source (its number), or unknown (0).
    Other(i8),
}

impl ConfigSource {
    fn from_wire(source: i8) -> Self {
        match source {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            other => ConfigSource::Other(other),
        }
    }
}

/// One configuration key of a described resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The key, e.g. `retention.ms`.
    pub name: String,
    /// The value in force (`None` when sensitive).
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// True when it cannot be altered.
    pub read_only: bool,
    /// True when the value is hidden (passwords).
    pub sensitive: bool,
    /// The keys behind this one, most specific first (with `value`,
    /// `source`), when asked for.
    pub synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

/// A described resource's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceConfig {
    /// The resource.
    pub resource: ConfigResource,
    /// Its keys, in the broker's order.
    pub entries: Vec<ConfigEntry>,
}

impl ResourceConfig {
    /// The value of `name`, if listed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.as_deref())
    }
}

/// One change of [`Client::incremental_alter_configs`](crate::Client::incremental_alter_configs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Set the key to the value.
    Set(String, String),
    /// Remove the key: back to its default.
    Delete(String),
    /// Add items to a list-typed key (e.g. `cleanup.policy`).
    Append(String, String),
    /// Remove items from a list-typed key.
    Subtract(String, String),
}

impl AlterConfigOp {
    /// Set `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp::Set(name.into(), value.into())
    }

    /// Remove `name`'s value.
    pub fn delete(name: impl Into<String>) -> Self {
        AlterConfigOp::Delete(name.into())
    }

    fn wire(&self) -> IncrementalAlterableConfig<'_> {
        let (name, op, value) = match self {
            AlterConfigOp::Set(n, v) => (n, CONFIG_OP_SET, Some(v.as_str())),
            AlterConfigOp::Delete(n) => (n, CONFIG_OP_DELETE, None),
            AlterConfigOp::Append(n, v) => (n, CONFIG_OP_APPEND, Some(v.as_str())),
            AlterConfigOp::Subtract(n, v) => (n, CONFIG_OP_SUBTRACT, Some(v.as_str())),
        };
        IncrementalAlterableConfig {
            name,
            config_operation: op,
            value,
        }
    }
}

/// Describes `resource` (only `keys`, or every key when empty), with
/// synonyms when `synonyms`.
pub(crate) async fn describe_configs(
    conn: &BrokerConn,
    resource: &ConfigResource,
    keys: &[&str],
    synonyms: bool,
    timeout: Duration,
) -> Result<ResourceConfig> {
    let (resource_type, name) = resource.wire();
    let resources = [DescribeConfigsResource {
        resource_type,
        resource_name: &name,
        configuration_keys: (!keys.is_empty()).then(|| Array::new(keys)),
    }];
    let request = DescribeConfigsRequest {
        resources: Array::new(&resources),
        include_synonyms: synonyms,
        include_documentation: false,
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: DescribeConfigsResponse<'_> = response.decode()?;
    let ctx = |e: Error| {
        resource.context(
            e.with_api(ApiKey::DescribeConfigs)
                .with_broker(conn.broker()),
        )
    };
    let Some(r) = decoded.results.iter().next() else {
        return Err(ctx(Error::kafka(
            microkafka_core::ErrorCode::UNKNOWN_SERVER_ERROR,
            Some("no result for the resource"),
        )));
    };
    if r.error_code.is_err() {
        return Err(ctx(Error::kafka(r.error_code, r.error_message)));
    }
    let v = response.version();
    let entries = r
        .configs
        .iter()
        .map(|c| ConfigEntry {
            name: c.name.to_owned(),
            value: c.value.map(str::to_owned),
            // v0 has no source: default or not.
            source: match (v, c.is_default) {
                (0, true) => ConfigSource::Default,
                (0, false) => ConfigSource::Other(0),
                _ => ConfigSource::from_wire(c.config_source),
            },
            read_only: c.read_only,
            sensitive: c.is_sensitive,
            synonyms: c
                .synonyms
                .iter()
                .map(|s| {
                    (
                        s.name.to_owned(),
                        s.value.map(str::to_owned),
                        ConfigSource::from_wire(s.source),
                    )
                })
                .collect(),
        })
        .collect();
    Ok(ResourceConfig {
        resource: resource.clone(),
        entries,
    })
}

/// Replaces `resource`'s configuration with `entries` (AlterConfigs).
pub(crate) async fn alter_configs(
    conn: &BrokerConn,
    resource: &ConfigResource,
    entries: &[(&str, &str)],
    validate_only: bool,
    timeout: Duration,
) -> Result<()> {
    let (resource_type, name) = resource.wire();
    let configs: Vec<AlterableConfig<'_>> = entries
        .iter()
        .map(|(name, value)| AlterableConfig {
            name,
            value: Some(value),
        })
        .collect();
    let resources = [AlterConfigsResource {
        resource_type,
        resource_name: &name,
        configs: Array::new(&configs),
    }];
    let request = AlterConfigsRequest {
        resources: Array::new(&resources),
        validate_only,
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: AlterConfigsResponse<'_> = response.decode()?;
    for r in decoded.responses.iter() {
        if r.error_code.is_err() {
            return Err(resource.context(
                Error::kafka(r.error_code, r.error_message)
                    .with_api(ApiKey::AlterConfigs)
                    .with_broker(conn.broker()),
            ));
        }
    }
    Ok(())
}

/// Applies `ops` to `resource`'s configuration (IncrementalAlterConfigs).
pub(crate) async fn incremental_alter_configs(
    conn: &BrokerConn,
    resource: &ConfigResource,
    ops: &[AlterConfigOp],
    validate_only: bool,
    timeout: Duration,
) -> Result<()> {
    let (resource_type, name) = resource.wire();
    let configs: Vec<IncrementalAlterableConfig<'_>> =
        ops.iter().map(AlterConfigOp::wire).collect();
    let resources = [IncrementalAlterConfigsResource {
        resource_type,
        resource_name: &name,
        configs: Array::new(&configs),
    }];
    let request = IncrementalAlterConfigsRequest {
        resources: Array::new(&resources),
        validate_only,
    };
    let response = conn.request(&request, timeout).await?;
    let decoded: IncrementalAlterConfigsResponse<'_> = response.decode()?;
    for r in decoded.responses.iter() {
        if r.error_code.is_err() {
            return Err(resource.context(
                Error::kafka(r.error_code, r.error_message)
                    .with_api(ApiKey::IncrementalAlterConfigs)
                    .with_broker(conn.broker()),
            ));
        }
    }
    Ok(())
}
