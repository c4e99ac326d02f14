//! The machinery of the differential test (`tests/differential.rs`): a
//! blocking Kafka connection, a transcript of decoded responses rendered as
//! normalised lines, and a line diff of two transcripts.
//!
//! A script runs once against each broker. Every response it gets is decoded
//! with microkafka-core's codecs, rendered with `{:#?}`, and normalised so
//! that what legitimately differs between two brokers (ids they generate,
//! ports, throttle times, error message texts) does not show, while
//! everything a client acts on (error codes, offsets, counts, states,
//! nullability) does. Generated ids are not erased but numbered by first
//! appearance (`<member-1>`, `<topic-id-2>`...), so a script that gets a
//! member id back and uses it again still has to get the same one.

#![allow(dead_code)] // the differential test uses what it needs

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use microkafka_core::protocol::frame::{decode_response, encode_request};
use microkafka_core::protocol::{Message, Request, Response};

/// How long one answer may take (a Produce or JoinGroup on a busy 2-core machine).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// The client id every request carries (it shows in DescribeGroups).
pub(crate) const CLIENT_ID: &str = "differential";

/// What a request got back.
pub(crate) enum Reply {
    /// A response frame, size prefix included.
    Frame(Vec<u8>),
    /// The broker closed the connection instead of answering.
    Closed,
}

/// A blocking connection that reconnects after the broker closes it.
pub(crate) struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
}

impl Conn {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Conn { addr, stream: None }
    }

    fn stream(&mut self) -> &mut TcpStream {
        let addr = self.addr;
        self.stream.get_or_insert_with(|| {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
            s.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
            s.set_nodelay(true).unwrap();
            s
        })
    }

    /// Sends a whole frame and reads the answer.
    pub(crate) fn exchange(&mut self, frame: &[u8]) -> Reply {
        self.send(frame);
        self.receive()
    }

    /// Sends a whole frame and expects no answer (Produce with acks=0).
    pub(crate) fn send(&mut self, frame: &[u8]) {
        let addr = self.addr;
        if let Err(e) = self.stream().write_all(frame) {
            panic!("write to {addr}: {e}");
        }
    }

    /// Reads one frame; `Closed` (and a new connection next time) at end of stream.
    pub(crate) fn receive(&mut self) -> Reply {
        let addr = self.addr;
        let s = self.stream();
        let mut size = [0u8; 4];
        match s.read_exact(&mut size) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                ) =>
            {
                self.stream = None;
                return Reply::Closed;
            }
            Err(e) => panic!("read from {addr}: {e}"),
        }
        let len = i32::from_be_bytes(size) as usize;
        let mut frame = size.to_vec();
        frame.resize(4 + len, 0);
        s.read_exact(&mut frame[4..])
            .unwrap_or_else(|e| panic!("read a {len}-byte frame from {addr}: {e}"));
        Reply::Frame(frame)
    }

    /// True when the broker closed the connection (within `wait`).
    pub(crate) fn closed_within(&mut self, wait: Duration) -> bool {
        let s = self.stream();
        s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 1];
        let closed = match s.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        };
        if closed {
            self.stream = None;
        } else if let Some(s) = &self.stream {
            s.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        }
        closed
    }
}

/// A whole request frame (size prefix included), sized for the body.
pub(crate) fn frame<'a, R: Request<'a>>(correlation_id: i32, version: i16, body: &R) -> Vec<u8> {
    let wire =
        R::wire_version(version).unwrap_or_else(|e| panic!("{:?} v{version}: {e}", R::API_KEY));
    let len = body
        .encoded_len(wire)
        .unwrap_or_else(|e| panic!("size {:?} v{version}: {e}", R::API_KEY));
    let mut buf = vec![0u8; len + 64 + CLIENT_ID.len()];
    let n = encode_request(&mut buf, correlation_id, Some(CLIENT_ID), version, body)
        .unwrap_or_else(|e| panic!("encode {:?} v{version}: {e}", R::API_KEY));
    buf.truncate(n);
    buf
}

/// Decodes a response frame (size prefix included) at `version`; also
/// returns its correlation id.
pub(crate) fn decode<'a, R: Response<'a>>(frame: &'a [u8], version: i16) -> (i32, R) {
    let (header, body) = decode_response::<R>(&frame[4..], version)
        .unwrap_or_else(|e| panic!("decode {:?} v{version}: {e}", R::API_KEY));
    (header.correlation_id, body)
}

/// Numbers generated values by first appearance, per kind.
#[derive(Default)]
pub(crate) struct Tokens {
    seen: HashMap<&'static str, Vec<String>>,
}

impl Tokens {
    pub(crate) fn token(&mut self, kind: &'static str, value: &str) -> String {
        let list = self.seen.entry(kind).or_default();
        let n = match list.iter().position(|v| v == value) {
            Some(i) => i + 1,
            None => {
                list.push(value.to_owned());
                list.len()
            }
        };
        format!("<{kind}-{n}>")
    }
}

/// Renders a decoded message as normalised lines.
pub(crate) fn render<'a, M: Message<'a>>(message: &M, tokens: &mut Tokens) -> Vec<String> {
    let text = format!("{message:#?}");
    let lines = collapse_lists(text.lines());
    lines.iter().map(|l| normalise(l, tokens)).collect()
}

/// Puts lists of numbers (byte strings, replica lists) on one line:
/// `[1, 2, 3]` up to 16 elements, else `<N bytes> hex`.
fn collapse_lists<'l>(lines: impl Iterator<Item = &'l str>) -> Vec<String> {
    let lines: Vec<&str> = lines.collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        // `Some(\n "x",\n)` on one line: `Some("x")`.
        if line.ends_with("Some(") && i + 2 < lines.len() {
            let inner = lines[i + 1].trim();
            let close = lines[i + 2].trim();
            let scalar = !inner.ends_with('{') && !inner.ends_with('[') && !inner.ends_with('(');
            if scalar && close.starts_with(')') {
                let inner = inner.strip_suffix(',').unwrap_or(inner);
                out.push(format!("{line}{inner}{close}"));
                i += 3;
                continue;
            }
        }
        if let Some(head) = line.strip_suffix('[') {
            let mut numbers = Vec::new();
            let mut j = i + 1;
            while j < lines.len() {
                let t = lines[j].trim().trim_end_matches(',');
                match t.parse::<i64>() {
                    Ok(n) => numbers.push(n),
                    Err(_) => break,
                }
                j += 1;
            }
            let close = lines.get(j).map(|l| l.trim());
            if !numbers.is_empty() && matches!(close, Some("]") | Some("],") | Some("]),")) {
                let close = close.unwrap_or("]");
                let body = if numbers.len() <= 16 {
                    let items: Vec<String> = numbers.iter().map(i64::to_string).collect();
                    format!("[{}]", items.join(", "))
                } else {
                    let hex: String = numbers
                        .iter()
                        .map(|n| format!("{:02x}", *n as u8))
                        .collect();
                    format!("<{} bytes {hex}>", numbers.len())
                };
                out.push(format!("{head}{body}{}", &close[1..]));
                i = j + 1;
                continue;
            }
        }
        out.push(line.to_owned());
        i += 1;
    }
    out
}

/// True for Uuid's rendering (`8-4-4-4-12` hex digits).
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Normalises one `field: value,` line (see the module docs).
fn normalise(line: &str, tokens: &mut Tokens) -> String {
    let Some((key, value)) = line.split_once(": ") else {
        return line.to_owned();
    };
    let field = key.trim();
    let (value, comma) = match value.strip_suffix(',') {
        Some(v) => (v, ","),
        None => (value, ""),
    };
    let quoted = |v: &str| -> Option<String> {
        let v = v
            .strip_prefix("Some(")
            .and_then(|v| v.strip_suffix(')'))
            .unwrap_or(v);
        v.strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_owned)
    };
    let new = match field {
        // Generated by each broker: numbered by first appearance.
        "topic_id" if is_uuid(value) && value != "00000000-0000-0000-0000-000000000000" => {
            tokens.token("topic-id", value)
        }
        "member_id" | "leader" => match quoted(value) {
            Some(v) if !v.is_empty() => {
                value.replace(&format!("\"{v}\""), &tokens.token("member", &v))
            }
            _ => value.to_owned(),
        },
        "producer_id" if value.parse::<i64>().is_ok_and(|id| id >= 0) => {
            tokens.token("producer-id", value)
        }
        "cluster_id" if value.starts_with("Some(") => "Some(<cluster-id>)".to_owned(),
        // DescribeCluster's is not nullable; an error answers "".
        "cluster_id" if value != "\"\"" => "<cluster-id>".to_owned(),
        // Where the broker listens, and how busy it is.
        "port" => "<port>".to_owned(),
        "host" if value != "\"\"" => "<host>".to_owned(),
        "throttle_time_ms" => "<throttle>".to_owned(),
        // Texts for people, not for clients: only their presence is compared.
        "error_message" | "batch_index_error_message" if value.starts_with("Some(") => {
            "Some(<text>)".to_owned()
        }
        _ => return line.to_owned(),
    };
    format!("{key}: {new}{comma}")
}

/// One step of a transcript: what was asked and the normalised answer.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    pub(crate) label: String,
    pub(crate) lines: Vec<String>,
}

/// One line of a diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    Same(String),
    /// Only in the first transcript (Kafka's).
    Left(String),
    /// Only in the second (the mock's).
    Right(String),
}

/// A line diff (longest common subsequence; the transcripts are small).
pub(crate) fn diff(a: &[String], b: &[String]) -> Vec<Line> {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(Line::Same(a[i].clone()));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(Line::Right(b[j].clone()));
            j += 1;
        } else {
            out.push(Line::Left(a[i].clone()));
            i += 1;
        }
    }
    out
}

/// Renders a diff with `context` unchanged lines around each change.
pub(crate) fn show(lines: &[Line], context: usize, left: &str, right: &str) -> String {
    let changed: Vec<bool> = lines.iter().map(|l| !matches!(l, Line::Same(_))).collect();
    let near = |i: usize| {
        let lo = i.saturating_sub(context);
        let hi = (i + context + 1).min(lines.len());
        changed[lo..hi].iter().any(|&c| c)
    };
    let mut out = String::new();
    let mut skipped = false;
    // The step a hunk belongs to (`## label` lines), shown above it.
    let mut step: Option<&str> = None;
    for (i, l) in lines.iter().enumerate() {
        if let Line::Same(s) = l {
            if s.starts_with("## ") {
                step = Some(s);
            }
        }
        if !near(i) {
            skipped = true;
            continue;
        }
        if skipped || i == 0 {
            out.push_str("        ...\n");
            if let Some(step) = step.filter(|s| !matches!(l, Line::Same(x) if x == s)) {
                out.push_str(&format!("        {step}\n        ...\n"));
            }
            skipped = false;
        }
        match l {
            Line::Same(s) => out.push_str(&format!("        {s}\n")),
            Line::Left(s) => out.push_str(&format!("{left:>6}- {s}\n")),
            Line::Right(s) => out.push_str(&format!("{right:>6}+ {s}\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_collapse_and_ids_are_numbered() {
        let text = "X {\n    member_id: \"a-1\",\n    leader: \"a-1\",\n    metadata: [\n        1,\n        2,\n    ],\n    port: 9,\n}";
        let mut t = Tokens::default();
        let lines: Vec<String> = collapse_lists(text.lines())
            .iter()
            .map(|l| normalise(l, &mut t))
            .collect();
        assert_eq!(lines[1], "    member_id: <member-1>,");
        assert_eq!(lines[2], "    leader: <member-1>,");
        assert_eq!(lines[3], "    metadata: [1, 2],");
        assert_eq!(lines[4], "    port: <port>,");
    }

    #[test]
    fn diff_finds_changes() {
        let a: Vec<String> = ["x", "y", "z"].map(String::from).to_vec();
        let b: Vec<String> = ["x", "w", "z"].map(String::from).to_vec();
        let d = diff(&a, &b);
        assert_eq!(d.iter().filter(|l| !matches!(l, Line::Same(_))).count(), 2);
    }
}
