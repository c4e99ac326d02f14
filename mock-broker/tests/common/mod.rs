//! Helpers shared by the real-client tests: finding the clients, running
//! them with a deadline, starting a cluster.
//!
//! The clients are required, not optional: CI installs them with
//! `.ci/install-capture-deps`, so a missing client fails the test with a
//! message saying how to install it rather than skipping silently.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use microkafka_mock_broker::{Config, MockCluster};

pub(crate) mod net;
pub(crate) mod secure;
pub(crate) mod wire;

pub(crate) const INSTALL: &str =
    ".ci/install-capture-deps (installs kcat from apt and confluent-kafka==2.16.1 from pip)";

/// The path of a helper script next to the tests.
pub(crate) fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

/// Fails the test unless kcat is installed.
pub(crate) fn require_kcat() {
    let ok = Command::new("kcat")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(ok, "kcat is not installed; run {INSTALL}");
}

/// The Python interpreter, after checking that confluent-kafka imports.
pub(crate) fn require_confluent_kafka() -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ok = Command::new(&python)
        .args(["-c", "import confluent_kafka"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{python} cannot import confluent_kafka; run {INSTALL}");
    python
}

/// What a finished client printed.
pub(crate) struct Output {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) success: bool,
}

/// Runs `cmd` with `stdin` fed in, killing it after `timeout`; panics with
/// its output when it times out.
pub(crate) fn run(cmd: &mut Command, stdin: &[u8], timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; run {INSTALL}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the client") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = feeder.join();
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Some(status) => Output {
            stdout,
            stderr,
            success: status.success(),
        },
        None => panic!("{cmd:?} timed out after {timeout:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"),
    }
}

/// Runs kcat with `args` against `bootstrap`; panics unless it succeeds.
pub(crate) fn kcat(bootstrap: &str, args: &[&str], stdin: &[u8]) -> String {
    let mut cmd = Command::new("kcat");
    cmd.arg("-b").arg(bootstrap).args(args);
    let out = run(&mut cmd, stdin, Duration::from_secs(60));
    assert!(
        out.success,
        "kcat {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// Runs a helper script with confluent-kafka; panics unless it succeeds.
pub(crate) fn python(script_name: &str, args: &[&str], timeout: Duration) -> String {
    let python = require_confluent_kafka();
    let mut cmd = Command::new(python);
    cmd.arg(script(script_name))
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let out = run(&mut cmd, b"", timeout);
    assert!(
        out.success,
        "{script_name} {args:?} failed\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// A directory under the system's temporary directory, removed on drop
/// (certificates and keys for the real clients).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "microkafka-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    /// Writes `contents` to `name` in the directory; returns its path.
    pub(crate) fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write a temporary file");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A cluster on its own runtime, for these synchronous tests.
pub(crate) fn cluster(config: Config) -> MockCluster {
    MockCluster::start_in_background(config).expect("start the mock cluster")
}
