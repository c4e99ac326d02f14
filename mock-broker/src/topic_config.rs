//! Topic configurations: every key a Kafka 4.4 topic has, its default,
//! type and validation, and a topic's overrides.
//!
//! DescribeConfigs lists these keys as Kafka does (defaults with source
//! `DEFAULT_CONFIG` and the broker-level synonym Kafka names, overrides
//! with source `DYNAMIC_TOPIC_CONFIG`); CreateTopics, AlterConfigs and
//! IncrementalAlterConfigs validate values the way Kafka's `LogConfig`
//! does and refuse unknown keys (`INVALID_CONFIG`). The broker acts on the
//! keys it has a use for: `retention.ms`, `retention.bytes`,
//! `max.message.bytes`, `cleanup.policy` (compaction), `delete.retention.ms`
//! (tombstones) and `segment.ms` (rolling, so compaction has closed
//! segments to clean). The rest are stored and shown, as Kafka would show
//! them, and change nothing.

use std::collections::BTreeMap;

/// A config's data type, with DescribeConfigs' `config_type` number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

/// What a valid value is, beyond parsing as its [`Kind`].
#[derive(Clone, Copy, Debug)]
enum Check {
    Any,
    /// A number at least this.
    AtLeast(i64),
    /// A number in this range, inclusive.
    Between(i64, i64),
    /// A ratio in `0.0..=1.0`.
    Ratio,
    /// One of these (case-sensitive, as Kafka's `ValidString`).
    OneOf(&'static [&'static str]),
    /// A non-empty list of these, no duplicates (Kafka's `ValidList`).
    ListOf(&'static [&'static str]),
}

/// One topic config key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Def {
    pub(crate) name: &'static str,
    pub(crate) default: &'static str,
    pub(crate) kind: Kind,
    /// The broker config Kafka 4.4 lists as the default's synonym
    /// (DescribeConfigs with `include_synonyms`), if it lists one.
    pub(crate) synonym: Option<&'static str>,
    check: Check,
}

const fn def(
    name: &'static str,
    default: &'static str,
    kind: Kind,
    synonym: Option<&'static str>,
    check: Check,
) -> Def {
    Def {
        name,
        default,
        kind,
        synonym,
        check,
    }
}

const LONG_MAX: &str = "9223372036854775807";
const CODECS: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Every topic config of Kafka 4.4, in the order Kafka 4.4 lists them
/// (its config map's iteration order; DescribeConfigs keeps it).
#[rustfmt::skip]
pub(crate) const TOPIC_CONFIGS: &[Def] = &[
    def("compression.type", "producer", Kind::String, Some("compression.type"), Check::OneOf(CODECS)),
    def("errors.deadletterqueue.group.enable", "false", Kind::Boolean, None, Check::Any),
    def("remote.copy.lag.bytes", "-1", Kind::Long, Some("log.remote.copy.lag.bytes"), Check::AtLeast(-1)),
    def("remote.log.delete.on.disable", "false", Kind::Boolean, None, Check::Any),
    def("leader.replication.throttled.replicas", "", Kind::List, None, Check::Any),
    def("remote.storage.enable", "false", Kind::Boolean, None, Check::Any),
    def("min.insync.replicas", "1", Kind::Int, Some("min.insync.replicas"), Check::AtLeast(1)),
    def("segment.jitter.ms", "0", Kind::Long, None, Check::AtLeast(0)),
    def("remote.log.copy.disable", "false", Kind::Boolean, None, Check::Any),
    def("local.retention.ms", "-2", Kind::Long, Some("log.local.retention.ms"), Check::AtLeast(-2)),
    def("cleanup.policy", "delete", Kind::List, Some("log.cleanup.policy"), Check::ListOf(&["compact", "delete"])),
    def("flush.ms", LONG_MAX, Kind::Long, None, Check::AtLeast(0)),
    def("follower.replication.throttled.replicas", "", Kind::List, None, Check::Any),
    def("compression.lz4.level", "9", Kind::Int, Some("compression.lz4.level"), Check::Between(1, 17)),
    def("segment.bytes", "1073741824", Kind::Int, Some("log.segment.bytes"), Check::AtLeast(1_048_576)),
    def("retention.ms", "604800000", Kind::Long, None, Check::AtLeast(-1)),
    def("compression.gzip.level", "-1", Kind::Int, Some("compression.gzip.level"), Check::Between(-1, 9)),
    def("remote.copy.lag.ms", "0", Kind::Long, Some("log.remote.copy.lag.ms"), Check::AtLeast(0)),
    def("flush.messages", LONG_MAX, Kind::Long, Some("log.flush.interval.messages"), Check::AtLeast(1)),
    def("compression.zstd.level", "3", Kind::Int, Some("compression.zstd.level"), Check::Between(-131_072, 22)),
    def("max.compaction.lag.ms", LONG_MAX, Kind::Long, Some("log.cleaner.max.compaction.lag.ms"), Check::AtLeast(1)),
    def("file.delete.delay.ms", "60000", Kind::Long, Some("log.segment.delete.delay.ms"), Check::AtLeast(0)),
    def("max.message.bytes", "1048588", Kind::Int, Some("message.max.bytes"), Check::AtLeast(0)),
    def("min.compaction.lag.ms", "0", Kind::Long, Some("log.cleaner.min.compaction.lag.ms"), Check::AtLeast(0)),
    def("message.timestamp.type", "CreateTime", Kind::String, Some("log.message.timestamp.type"), Check::OneOf(&["CreateTime", "LogAppendTime"])),
    def("local.retention.bytes", "-2", Kind::Long, Some("log.local.retention.bytes"), Check::AtLeast(-2)),
    def("preallocate", "false", Kind::Boolean, Some("log.preallocate"), Check::Any),
    def("index.interval.bytes", "4096", Kind::Int, Some("log.index.interval.bytes"), Check::AtLeast(0)),
    def("min.cleanable.dirty.ratio", "0.5", Kind::Double, Some("log.cleaner.min.cleanable.ratio"), Check::Ratio),
    def("unclean.leader.election.enable", "false", Kind::Boolean, Some("unclean.leader.election.enable"), Check::Any),
    def("retention.bytes", "-1", Kind::Long, Some("log.retention.bytes"), Check::Any),
    def("delete.retention.ms", "86400000", Kind::Long, Some("log.cleaner.delete.retention.ms"), Check::AtLeast(0)),
    def("message.timestamp.after.max.ms", "3600000", Kind::Long, Some("log.message.timestamp.after.max.ms"), Check::AtLeast(0)),
    def("max.decompressed.message.bytes", "2147483639", Kind::Int, Some("max.decompressed.message.bytes"), Check::AtLeast(0)),
    def("message.timestamp.before.max.ms", LONG_MAX, Kind::Long, Some("log.message.timestamp.before.max.ms"), Check::AtLeast(0)),
    def("segment.ms", "604800000", Kind::Long, None, Check::AtLeast(1)),
    def("segment.index.bytes", "10485760", Kind::Int, Some("log.index.size.max.bytes"), Check::AtLeast(4)),
];

/// Longest value the broker stores: no real topic config comes near it,
/// and it keeps what a client can make a topic hold bounded.
pub(crate) const MAX_VALUE_LEN: usize = 32 * 1024;

/// The definition of topic config `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static Def> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks `value` for `name` as Kafka's `LogConfig.validate` does; the
/// error is the `INVALID_CONFIG` message.
pub(crate) fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some(d) = lookup(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    let invalid = || format!("Invalid value {value} for configuration {name}");
    if value.len() > MAX_VALUE_LEN {
        return Err(invalid());
    }
    let trimmed = value.trim();
    let number = match d.kind {
        Kind::Int => Some(trimmed.parse::<i32>().map_err(|_| invalid())?.into()),
        Kind::Long => Some(trimmed.parse::<i64>().map_err(|_| invalid())?),
        Kind::Boolean => {
            if !trimmed.eq_ignore_ascii_case("true") && !trimmed.eq_ignore_ascii_case("false") {
                return Err(invalid());
            }
            None
        }
        Kind::Double => {
            let x = trimmed.parse::<f64>().map_err(|_| invalid())?;
            if matches!(d.check, Check::Ratio) && !(0.0..=1.0).contains(&x) {
                return Err(invalid());
            }
            None
        }
        Kind::String | Kind::List => None,
    };
    match (d.check, number) {
        (Check::AtLeast(min), Some(n)) if n < min => Err(invalid()),
        (Check::Between(lo, hi), Some(n)) if n < lo || n > hi => Err(invalid()),
        (Check::OneOf(allowed), _) if !allowed.contains(&trimmed) => Err(invalid()),
        (Check::ListOf(allowed), _) => {
            let items: Vec<&str> = list_items(trimmed).collect();
            let mut seen = items.clone();
            seen.sort_unstable();
            seen.dedup();
            if items.is_empty() || seen.len() != items.len() {
                return Err(invalid());
            }
            if items.iter().any(|i| !allowed.contains(i)) {
                return Err(invalid());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The items of a list-typed value (comma-separated, blanks trimmed).
pub(crate) fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// A topic's config overrides (what CreateTopics or the alter APIs set);
/// every other key has its default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TopicConfigs {
    overrides: BTreeMap<String, String>,
}

impl TopicConfigs {
    /// The override of `name`, if set.
    pub(crate) fn get_override(&self, name: &str) -> Option<&str> {
        self.overrides.get(name).map(String::as_str)
    }

    /// The value in force: the override, else the default.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.get_override(name)
            .or_else(|| lookup(name).map(|d| d.default))
            .unwrap_or("")
    }

    /// Sets an override (already [validated](validate): there are at most
    /// as many as [`TOPIC_CONFIGS`]).
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        if lookup(name).is_some() {
            self.overrides
                .insert(name.to_owned(), value.trim().to_owned());
        }
    }

    /// Removes an override (the key goes back to its default).
    pub(crate) fn remove(&mut self, name: &str) {
        self.overrides.remove(name);
    }

    fn long(&self, name: &str) -> i64 {
        self.get(name).trim().parse().unwrap_or(-1)
    }

    /// `retention.ms`; `None` when unlimited (-1).
    pub(crate) fn retention_ms(&self) -> Option<i64> {
        Some(self.long("retention.ms")).filter(|&ms| ms >= 0)
    }

    /// `retention.bytes` when set on the topic; `Some(None)` for -1
    /// (unlimited), `None` when not set (the broker's per-partition limit
    /// applies).
    pub(crate) fn retention_bytes(&self) -> Option<Option<usize>> {
        let v: i64 = self.get_override("retention.bytes")?.parse().ok()?;
        Some(usize::try_from(v).ok())
    }

    /// `max.message.bytes` when set on the topic.
    pub(crate) fn max_message_bytes(&self) -> Option<usize> {
        self.get_override("max.message.bytes")?.parse().ok()
    }

    /// True when `cleanup.policy` includes `compact`.
    pub(crate) fn compact(&self) -> bool {
        list_items(self.get("cleanup.policy")).any(|p| p == "compact")
    }

    /// True when `cleanup.policy` includes `delete` (time and size retention).
    pub(crate) fn delete(&self) -> bool {
        list_items(self.get("cleanup.policy")).any(|p| p == "delete")
    }

    /// `delete.retention.ms`: how long tombstones survive compaction.
    pub(crate) fn delete_retention_ms(&self) -> i64 {
        self.long("delete.retention.ms").max(0)
    }

    /// `segment.ms`: the active segment rolls once its first record is older.
    pub(crate) fn segment_ms(&self) -> i64 {
        self.long("segment.ms").max(1)
    }

    /// True when the broker has periodic work for this topic: time
    /// retention shorter than the default, compaction, or a short `segment.ms`.
    pub(crate) fn needs_cleaning(&self) -> bool {
        self.compact()
            || self.get_override("retention.ms").is_some()
            || self.get_override("segment.ms").is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_are_valid() {
        let mut names: Vec<&str> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOPIC_CONFIGS.len());
        for d in TOPIC_CONFIGS {
            if !d.default.is_empty() {
                assert_eq!(validate(d.name, d.default), Ok(()), "{}", d.name);
            }
        }
    }

    #[test]
    fn validation_as_kafka() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("retention.ms", "abc").is_err());
        assert!(validate("no.such.config", "1").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "compact,compact").is_err());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(
            validate("max.message.bytes", "3000000000").is_err(),
            "an int"
        );
        assert!(validate("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(validate("preallocate", "TRUE").is_ok());
        assert!(validate("compression.type", "lz4").is_ok());
    }

    #[test]
    fn overrides() {
        let mut c = TopicConfigs::default();
        assert_eq!(c.get("retention.ms"), "604800000");
        assert_eq!(c.retention_bytes(), None);
        assert!(!c.compact() && c.delete());
        c.set("cleanup.policy", "compact");
        c.set("retention.bytes", "-1");
        assert!(c.compact() && !c.delete());
        assert_eq!(c.retention_bytes(), Some(None));
        c.remove("cleanup.policy");
        assert!(!c.compact());
        c.set("unknown", "x");
        assert_eq!(c.get_override("unknown"), None);
    }
}
