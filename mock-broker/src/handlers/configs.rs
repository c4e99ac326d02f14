//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
//!
//! Topics have Kafka 4.4's full set of topic configs
//! ([`crate::topic_config`]); a broker resource lists the few broker
//! settings the mock has, as static configs, and cannot be altered (the
//! mock has no dynamic broker configs: `INVALID_REQUEST`). Any broker
//! answers for topics (a KRaft broker forwards alterations to the
//! controller; the mock's state is shared).

use std::collections::HashSet;

use microkafka_core::protocol::messages::{
    AlterConfigsRequest, AlterConfigsResourceResponse, AlterConfigsResponse,
    DescribeConfigsRequest, DescribeConfigsResourceResult, DescribeConfigsResponse,
    DescribeConfigsResult, DescribeConfigsSynonym, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse, CONFIG_OP_APPEND, CONFIG_OP_DELETE, CONFIG_OP_SET,
    CONFIG_OP_SUBTRACT, CONFIG_RESOURCE_BROKER, CONFIG_RESOURCE_TOPIC,
};
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{Answer, Cx};
use crate::topic_config::{self, Kind, TopicConfigs, TOPIC_CONFIGS};

/// DescribeConfigs' `config_source` values.
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// One described key, owned until the answer is encoded.
struct Described {
    name: String,
    value: Option<String>,
    source: i8,
    kind: i8,
    synonyms: Vec<(String, Option<String>, i8)>,
}

/// One described resource.
struct Resource<'r> {
    error: ErrorCode,
    message: Option<String>,
    resource_type: i8,
    name: &'r str,
    configs: Vec<Described>,
}

pub(crate) fn describe(cx: &mut Cx<'_>, req: DescribeConfigsRequest<'_>) -> Answer {
    let synonyms = req.include_synonyms && cx.version >= 1;
    let resources: Vec<Resource<'_>> = req
        .resources
        .iter()
        .map(|r| {
            let keys: Option<Vec<&str>> = r.configuration_keys.map(|k| k.iter().collect());
            let wanted = |name: &str| keys.as_ref().is_none_or(|k| k.contains(&name));
            let mut out = Resource {
                error: ErrorCode::NONE,
                message: None,
                resource_type: r.resource_type,
                name: r.resource_name,
                configs: Vec::new(),
            };
            let fail = |out: &mut Resource<'_>, error: ErrorCode, message: String| {
                out.error = error;
                out.message = Some(message);
            };
            if let Some(error) = cx.forced {
                fail(&mut out, error, error.description().to_owned());
                return out;
            }
            match r.resource_type {
                CONFIG_RESOURCE_TOPIC => match cx.cluster.topics.get(r.resource_name) {
                    None => fail(
                        &mut out,
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("The topic '{}' does not exist.", r.resource_name),
                    ),
                    Some(t) => {
                        out.configs = TOPIC_CONFIGS
                            .iter()
                            .filter(|d| wanted(d.name))
                            .map(|d| describe_topic_key(&t.configs, d, synonyms))
                            .collect();
                    }
                },
                CONFIG_RESOURCE_BROKER => {
                    if r.resource_name != cx.broker.to_string() && !r.resource_name.is_empty() {
                        fail(
                            &mut out,
                            ErrorCode::INVALID_REQUEST,
                            format!(
                                "Unexpected broker id, expected {} but received {}",
                                cx.broker, r.resource_name
                            ),
                        );
                    } else {
                        out.configs = broker_configs(cx)
                            .into_iter()
                            .filter(|(name, _, _)| wanted(name))
                            .map(|(name, value, kind)| Described {
                                synonyms: if synonyms {
                                    vec![(
                                        name.to_owned(),
                                        Some(value.clone()),
                                        SOURCE_STATIC_BROKER,
                                    )]
                                } else {
                                    Vec::new()
                                },
                                name: name.to_owned(),
                                value: Some(value),
                                source: SOURCE_STATIC_BROKER,
                                kind: kind as i8,
                            })
                            .collect();
                    }
                }
                other => fail(
                    &mut out,
                    ErrorCode::INVALID_REQUEST,
                    format!("Unsupported resource type {other}"),
                ),
            }
            out
        })
        .collect();
    let synonym_rows: Vec<Vec<Vec<DescribeConfigsSynonym<'_>>>> = resources
        .iter()
        .map(|r| {
            r.configs
                .iter()
                .map(|c| {
                    c.synonyms
                        .iter()
                        .map(|(name, value, source)| DescribeConfigsSynonym {
                            name,
                            value: value.as_deref(),
                            source: *source,
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let config_rows: Vec<Vec<DescribeConfigsResourceResult<'_>>> = resources
        .iter()
        .zip(&synonym_rows)
        .map(|(r, synonyms)| {
            r.configs
                .iter()
                .zip(synonyms)
                .map(|(c, synonyms)| DescribeConfigsResourceResult {
                    name: &c.name,
                    value: c.value.as_deref(),
                    read_only: false,
                    is_default: c.source == SOURCE_DEFAULT,
                    config_source: c.source,
                    is_sensitive: false,
                    synonyms: Array::new(synonyms),
                    config_type: c.kind,
                    // The mock has no documentation texts to give.
                    documentation: None,
                })
                .collect()
        })
        .collect();
    let results: Vec<DescribeConfigsResult<'_>> = resources
        .iter()
        .zip(&config_rows)
        .map(|(r, configs)| DescribeConfigsResult {
            error_code: r.error,
            // Kafka answers a described resource with an empty message.
            error_message: r.message.as_deref().or(Some("")),
            resource_type: r.resource_type,
            resource_name: r.name,
            configs: Array::new(configs),
        })
        .collect();
    cx.respond(&DescribeConfigsResponse {
        results: Array::new(&results),
        ..Default::default()
    })
}

/// A topic key as Kafka describes it: the override (source 1) or the
/// default (source 5); synonyms most specific first: the override, then
/// the broker-level default Kafka names.
fn describe_topic_key(
    configs: &TopicConfigs,
    d: &topic_config::Def,
    with_synonyms: bool,
) -> Described {
    let set = configs.get_override(d.name);
    let mut synonyms = Vec::new();
    if with_synonyms {
        if let Some(v) = set {
            synonyms.push((d.name.to_owned(), Some(v.to_owned()), SOURCE_DYNAMIC_TOPIC));
        }
        if let Some(s) = d.synonym {
            synonyms.push((s.to_owned(), Some(d.default.to_owned()), SOURCE_DEFAULT));
        }
    }
    Described {
        name: d.name.to_owned(),
        value: Some(set.unwrap_or(d.default).to_owned()),
        source: if set.is_some() {
            SOURCE_DYNAMIC_TOPIC
        } else {
            SOURCE_DEFAULT
        },
        kind: d.kind as i8,
        synonyms,
    }
}

/// The broker settings the mock has, under Kafka's names.
fn broker_configs(cx: &Cx<'_>) -> Vec<(&'static str, String, Kind)> {
    let c = &cx.cluster.config;
    vec![
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            Kind::Boolean,
        ),
        (
            "default.replication.factor",
            c.default_replication_factor.to_string(),
            Kind::Int,
        ),
        (
            "log.retention.bytes",
            c.retention_bytes.to_string(),
            Kind::Long,
        ),
        ("log.segment.bytes", c.segment_bytes.to_string(), Kind::Int),
        (
            "message.max.bytes",
            topic_config::lookup("max.message.bytes")
                .map_or("1048588", |d| d.default)
                .to_owned(),
            Kind::Int,
        ),
        (
            "num.partitions",
            c.default_partitions.to_string(),
            Kind::Int,
        ),
    ]
}

/// A change to one topic key.
enum Change<'a> {
    Set(&'a str),
    Delete,
    Append(&'a str),
    Subtract(&'a str),
}

/// Applies `changes` to a topic's configs (or only checks them with
/// `validate_only`), Kafka's checks first: a known topic, no key twice,
/// known keys, list operations on list keys only, valid values.
fn alter_topic(
    cx: &mut Cx<'_>,
    topic: &str,
    replace: bool,
    changes: &[(&str, Change<'_>)],
    validate_only: bool,
) -> Result<(), (ErrorCode, String)> {
    let Some(t) = cx.cluster.topics.get(topic) else {
        return Err((
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            format!("The topic '{topic}' does not exist."),
        ));
    };
    let mut seen = HashSet::new();
    if changes.iter().any(|(name, _)| !seen.insert(*name)) {
        return Err((
            ErrorCode::INVALID_REQUEST,
            "Error due to duplicate config keys".to_owned(),
        ));
    }
    let mut configs = if replace {
        TopicConfigs::default()
    } else {
        t.configs.clone()
    };
    for (name, change) in changes {
        let Some(d) = topic_config::lookup(name) else {
            return Err((
                ErrorCode::INVALID_CONFIG,
                format!("Unknown topic config name: {name}"),
            ));
        };
        let value = match change {
            Change::Set(v) => Some(v.to_string()),
            Change::Delete => None,
            Change::Append(_) | Change::Subtract(_) if d.kind != Kind::List => {
                return Err((
                    ErrorCode::INVALID_CONFIG,
                    format!("Config value append is not allowed for config key: {name}"),
                ));
            }
            Change::Append(v) => {
                let mut items: Vec<String> = topic_config::list_items(configs.get(name))
                    .map(str::to_owned)
                    .collect();
                for item in topic_config::list_items(v) {
                    if !items.iter().any(|i| i == item) {
                        items.push(item.to_owned());
                    }
                }
                Some(items.join(","))
            }
            Change::Subtract(v) => {
                let drop: Vec<&str> = topic_config::list_items(v).collect();
                let items: Vec<&str> = topic_config::list_items(configs.get(name))
                    .filter(|i| !drop.contains(i))
                    .collect();
                Some(items.join(","))
            }
        };
        match value {
            Some(v) => {
                topic_config::validate(name, &v).map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
                configs.set(name, &v);
            }
            None => configs.remove(name),
        }
    }
    if !validate_only {
        let default_retention = cx.cluster.config.retention_bytes;
        cx.cluster
            .topics
            .set_configs(topic, configs, default_retention);
    }
    Ok(())
}

/// The answer for one resource of an alter request.
fn alter_resource(
    cx: &mut Cx<'_>,
    resource_type: i8,
    name: &str,
    replace: bool,
    changes: Result<Vec<(&str, Change<'_>)>, (ErrorCode, String)>,
    validate_only: bool,
) -> (ErrorCode, Option<String>) {
    if let Some(error) = cx.forced {
        return (error, Some(error.description().to_owned()));
    }
    let outcome = match resource_type {
        CONFIG_RESOURCE_TOPIC => {
            changes.and_then(|c| alter_topic(cx, name, replace, &c, validate_only))
        }
        CONFIG_RESOURCE_BROKER => Err((
            ErrorCode::INVALID_REQUEST,
            "the mock broker has no dynamic broker configs".to_owned(),
        )),
        other => Err((
            ErrorCode::INVALID_REQUEST,
            format!("Unsupported resource type {other}"),
        )),
    };
    match outcome {
        Ok(()) => (ErrorCode::NONE, None),
        Err((error, message)) => (error, Some(message)),
    }
}

pub(crate) fn alter(cx: &mut Cx<'_>, req: AlterConfigsRequest<'_>) -> Answer {
    let outcomes: Vec<(ErrorCode, Option<String>)> = req
        .resources
        .iter()
        .map(|r| {
            // AlterConfigs has no "delete": a null value is refused.
            let changes = r
                .configs
                .iter()
                .map(|c| match c.value {
                    Some(v) => Ok((c.name, Change::Set(v))),
                    None => Err((
                        ErrorCode::INVALID_REQUEST,
                        format!("Null value not supported for : {}", c.name),
                    )),
                })
                .collect();
            alter_resource(
                cx,
                r.resource_type,
                r.resource_name,
                true,
                changes,
                req.validate_only,
            )
        })
        .collect();
    let responses: Vec<AlterConfigsResourceResponse<'_>> = req
        .resources
        .iter()
        .zip(&outcomes)
        .map(|(r, (error, message))| AlterConfigsResourceResponse {
            error_code: *error,
            error_message: message.as_deref(),
            resource_type: r.resource_type,
            resource_name: r.resource_name,
        })
        .collect();
    cx.respond(&AlterConfigsResponse {
        responses: Array::new(&responses),
        ..Default::default()
    })
}

pub(crate) fn incremental_alter(
    cx: &mut Cx<'_>,
    req: IncrementalAlterConfigsRequest<'_>,
) -> Answer {
    let outcomes: Vec<(ErrorCode, Option<String>)> = req
        .resources
        .iter()
        .map(|r| {
            let changes = r
                .configs
                .iter()
                .map(|c| {
                    let value = c.value.unwrap_or_default();
                    let change = match c.config_operation {
                        CONFIG_OP_SET => Change::Set(value),
                        CONFIG_OP_DELETE => Change::Delete,
                        CONFIG_OP_APPEND => Change::Append(value),
                        CONFIG_OP_SUBTRACT => Change::Subtract(value),
                        op => {
                            return Err((
                                ErrorCode::INVALID_REQUEST,
                                format!("Unknown alter config operation {op}"),
                            ))
                        }
                    };
                    Ok((c.name, change))
                })
                .collect();
            alter_resource(
                cx,
                r.resource_type,
                r.resource_name,
                false,
                changes,
                req.validate_only,
            )
        })
        .collect();
    let responses: Vec<AlterConfigsResourceResponse<'_>> = req
        .resources
        .iter()
        .zip(&outcomes)
        .map(|(r, (error, message))| AlterConfigsResourceResponse {
            error_code: *error,
            error_message: message.as_deref(),
            resource_type: r.resource_type,
            resource_name: r.resource_name,
        })
        .collect();
    cx.respond(&IncrementalAlterConfigsResponse {
        responses: Array::new(&responses),
        ..Default::default()
    })
}
