//! The `microkafka` command-line tool driven as a user drives it: arguments,
//! stdin, stdout, stderr and exit codes, against the in-process mock broker.
#![cfg(feature = "cli")]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::cluster;

/// Runs the tool with `args`, feeding `stdin`, off the async runtime (the
/// broker it talks to runs on that runtime).
async fn run(args: Vec<String>, stdin: Vec<u8>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_microkafka"))
            .args(&args)
            .env_remove("MICROKAFKA_BROKERS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the microkafka binary runs");
        let mut input = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    })
    .await
    .unwrap()
}

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_100_000_lines_from_stdin_and_consume_them_back_identically() {
    let c = cluster().await;
    let b = c.bootstrap_servers();
    let out = run(args(&format!("-b {b} topic create lines -p 6")), vec![]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let lines: Vec<String> = (0..100_000)
        .map(|i| format!("line {i} {}", "x".repeat(i % 50)))
        .collect();
    let input = (lines.join("\n") + "\n").into_bytes();
    let out = run(args(&format!("-b {b} produce -t lines -z lz4")), input).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("100000 of 100000 messages produced"),
        "{}",
        text(&out.stderr)
    );

    // Partition by partition order; the whole as a multiset.
    let out = run(
        args(&format!(
            "-b {b} consume -t lines -o beginning -e -f %p\\t%s\\n"
        )),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut got: Vec<&str> = Vec::new();
    let mut last_per_partition = std::collections::HashMap::new();
    for row in stdout.lines() {
        let (p, value) = row.split_once('\t').unwrap();
        let i: usize = value.split(' ').nth(1).unwrap().parse().unwrap();
        // Round-robin placement in order: within a partition, lines ascend.
        if let Some(prev) = last_per_partition.insert(p.to_owned(), i) {
            assert!(prev < i, "partition {p}: {prev} then {i}");
        }
        got.push(value);
    }
    assert_eq!(got.len(), 100_000);
    got.sort_unstable();
    let mut want: Vec<&str> = lines.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_headers_partitions_offsets_and_formats() {
    let c = cluster().await;
    let b = c.bootstrap_servers();
    let input = b"k1:v1\nk2:v2\nk1:v3\n".to_vec();
    let out = run(
        args(&format!("-b {b} produce -t kv -p 0 -K: -H src=cli -H n=1")),
        input,
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        args(&format!(
            "-b {b} consume -t kv -p 0 -o beginning -e -f %t/%p/%o|%k=%s|%K|%S|%h\\n"
        )),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "kv/0/0|k1=v1|2|2|src=cli,n=1\nkv/0/1|k2=v2|2|2|src=cli,n=1\nkv/0/2|k1=v3|2|2|src=cli,n=1\n"
    );
    // -N: the last N; -K on output; -c stops early.
    let out = run(args(&format!("-b {b} consume -t kv -o -2 -e -K=")), vec![]).await;
    assert_eq!(text(&out.stdout), "k2=v2\nk1=v3\n");
    let out = run(args(&format!("-b {b} consume -t kv -o 1 -c 1")), vec![]).await;
    assert_eq!(text(&out.stdout), "v2\n");
    // The end with -e: nothing new, exit at once.
    let out = run(args(&format!("-b {b} consume -t kv -o end -e")), vec![]).await;
    assert!(out.status.success() && out.stdout.is_empty());
    // By time: the epoch is before everything.
    let out = run(args(&format!("-b {b} consume -t kv -o @0 -e")), vec![]).await;
    assert_eq!(text(&out.stdout), "v1\nv2\nv3\n");

    // Metadata and describe, as a script reads them.
    let out = run(args(&format!("-b {b} metadata -t kv")), vec![]).await;
    let meta = text(&out.stdout);
    assert!(
        meta.contains("3 brokers:") && meta.contains("topic \"kv\" with"),
        "{meta}"
    );
    let out = run(args(&format!("-b {b} topic describe kv")), vec![]).await;
    let described = text(&out.stdout);
    let row = described.lines().find(|l| l.starts_with("0\t")).unwrap();
    assert!(row.ends_with("\t0\t3\t3"), "{described}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_consumes_commits_and_resumes() {
    let c = cluster().await;
    let b = c.bootstrap_servers();
    let input: String = (0..50).map(|i| format!("m{i}\n")).collect();
    let out = run(args(&format!("-b {b} produce -t grp")), input.into_bytes()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(
        args(&format!("-b {b} consume -G cli-group -t grp -c 20")),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 20);
    // Committed is what was printed: 20, not what was fetched ahead.
    let out = run(args(&format!("-b {b} group describe cli-group")), vec![]).await;
    assert!(
        text(&out.stdout).contains("grp\t0\t20\t50\t30"),
        "{}",
        text(&out.stdout)
    );
    // The next member starts where the first committed: the other 30.
    let out = run(
        args(&format!("-b {b} consume -G cli-group -t grp -c 30")),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut seen: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(seen.len(), 30);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 30, "no message twice");

    let out = run(args(&format!("-b {b} group list")), vec![]).await;
    assert!(
        text(&out.stdout).contains("cli-group"),
        "{}",
        text(&out.stdout)
    );
    let out = run(args(&format!("-b {b} group describe cli-group")), vec![]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let described = text(&out.stdout);
    assert!(
        described.starts_with("group cli-group: state Empty"),
        "{described}"
    );
    // All 50 read and committed: lag 0 on the one partition.
    assert!(described.contains("grp\t0\t50\t50\t0"), "{described}");

    // Reset the inactive group to the beginning: a new member reads all 50.
    let out = run(
        args(&format!(
            "-b {b} group reset cli-group -t grp --to earliest"
        )),
        vec![],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("grp\t0\t0"),
        "{}",
        text(&out.stdout)
    );
    let out = run(args(&format!("-b {b} group describe cli-group")), vec![]).await;
    assert!(
        text(&out.stdout).contains("grp\t0\t0\t50\t50"),
        "{}",
        text(&out.stdout)
    );
    let out = run(
        args(&format!("-b {b} consume -G cli-group -t grp -c 50")),
        vec![],
    )
    .await;
    assert_eq!(text(&out.stdout).lines().count(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_help_a_script_can_rely_on() {
    let out = run(args("--help"), vec![]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Examples:"));
    assert!(text(&out.stdout).contains("produce -t numbers -K:"));

    // Bad usage: 2.
    for bad in [
        "",
        "consume",
        "produce -t",
        "frobnicate",
        "-X nokeyvalue metadata",
        "consume -t a -o soon",
    ] {
        let out = run(args(bad), vec![]).await;
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out.stderr));
    }
    // Nothing listens there: 1, with the reason.
    let out = run(
        args("-b 127.0.0.1:1 -X socket.connection.setup.timeout.ms=500 -X request.timeout.ms=500 metadata"),
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("microkafka: "));

    // A Kafka refusal is 1 too, and names the error.
    let c = cluster().await;
    let b = c.bootstrap_servers();
    let out = run(args(&format!("-b {b} topic create bad -p 1 -r 9")), vec![]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("INVALID_REPLICATION_FACTOR"),
        "{}",
        text(&out.stderr)
    );
}
