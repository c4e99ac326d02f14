//! # microkafka-tests
//!
//! Cross-crate end-to-end tests for microkafka, in `tests/tests/`; this
//! library is their harness.
//!
//! The conformance suite (`tests/tests/conformance.rs`, and
//! `embassy-net-port/tests/conformance.rs` for the firmware port) is written
//! once and runs against either broker a [`Target`] selects:
//!
//! ```sh
//! # the in-process mock broker (3 brokers, Kafka 4.x version floors)
//! cargo test -p microkafka-tests --test conformance
//! # real Apache Kafka 4.x
//! .ci/kafka start single && .ci/kafka start cluster
//! MICROKAFKA_TARGET=kafka $(.ci/kafka env | tr '\n' ' ') cargo test -p microkafka-tests --test conformance
//! ```
//!
//! See [`target`] for what each selection means.

pub mod target;

pub use target::{
    Read, Stopped, StoredBatch, Target, Topology, KAFKA_CLUSTER_VAR, KAFKA_VAR,
    MIN_SESSION_TIMEOUT, TARGET_VAR,
};

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::panic::catch_unwind;

    use crate::target::select;
    use crate::Topology::{Cluster, Single};

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn panic_text(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let e = catch_unwind(f).expect_err("a panic");
        e.downcast_ref::<String>().cloned().unwrap_or_default()
    }

    #[test]
    fn the_mock_broker_is_the_default() {
        assert_eq!(select(Single, &env(&[])), None);
        assert_eq!(
            select(Cluster, &env(&[("MICROKAFKA_TARGET", "mock")])),
            None
        );
    }

    #[test]
    fn kafka_comes_from_its_variables() {
        let vars = env(&[
            ("MICROKAFKA_TARGET", "kafka"),
            ("MICROKAFKA_KAFKA", "127.0.0.1:19092"),
            (
                "MICROKAFKA_KAFKA_CLUSTER",
                "127.0.0.1:1,127.0.0.1:2, 127.0.0.1:3",
            ),
        ]);
        assert_eq!(select(Single, &vars), Some(vec!["127.0.0.1:19092".into()]));
        assert_eq!(
            select(Cluster, &vars),
            Some(vec![
                "127.0.0.1:1".into(),
                "127.0.0.1:2".into(),
                "127.0.0.1:3".into()
            ])
        );
    }

    /// Never a silent fall-back to the mock: a missing address panics
    /// with the commands that start Kafka.
    #[test]
    fn kafka_without_its_addresses_panics_with_the_command_to_run() {
        let only_target = env(&[("MICROKAFKA_TARGET", "kafka")]);
        let text = panic_text(|| {
            select(Single, &only_target);
        });
        assert!(text.contains("MICROKAFKA_KAFKA is not set"), "{text}");
        assert!(text.contains(".ci/kafka start single"), "{text}");
        let text = panic_text(|| {
            select(Cluster, &only_target);
        });
        assert!(
            text.contains("MICROKAFKA_KAFKA_CLUSTER is not set"),
            "{text}"
        );
        let two = env(&[
            ("MICROKAFKA_TARGET", "kafka"),
            ("MICROKAFKA_KAFKA_CLUSTER", "127.0.0.1:1,127.0.0.1:2"),
        ]);
        let text = panic_text(|| {
            select(Cluster, &two);
        });
        assert!(text.contains("3 nodes"), "{text}");
        let text = panic_text(|| {
            select(Single, &env(&[("MICROKAFKA_TARGET", "kafak")]));
        });
        assert!(text.contains("MICROKAFKA_TARGET=kafak"), "{text}");
    }
}
