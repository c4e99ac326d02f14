//! Messages: what you write (borrowed from you) and what you read
//! (borrowed from the reader's buffers).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use microkafka_core::record::{Headers, RecordHeader as Header};

/// A message to write. It borrows your bytes: writing copies them straight
/// into a record batch, so nothing is allocated per message.
///
/// ```
/// use microkafka_std::{Header, Message};
/// let headers = [Header { key: "trace-id", value: Some(b"42") }];
/// let m = Message::new(b"hello").with_key(b"user-7").with_headers(&headers);
/// assert_eq!(m.key, Some(&b"user-7"[..]));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Message<'a> {
    /// The topic; `None` uses the Writer's topic. A Writer configured with
    /// a topic refuses messages naming one (as kafka-go does): set exactly one.
    pub topic: Option<&'a str>,
    /// The key; `None` is a null key (keyed balancers then spread messages).
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<&'a [u8]>,
    /// Record headers.
    pub headers: &'a [Header<'a>],
    /// The create time; `None` means now.
    pub time: Option<SystemTime>,
}

impl<'a> Message<'a> {
    /// A message with this value (no key, no headers, time = now).
    pub fn new(value: &'a [u8]) -> Self {
        Message {
            value: Some(value),
            ..Default::default()
        }
    }

    /// The same message with a key.
    pub fn with_key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// The same message for another topic.
    pub fn with_topic(mut self, topic: &'a str) -> Self {
        self.topic = Some(topic);
        self
    }

    /// The same message with headers.
    pub fn with_headers(mut self, headers: &'a [Header<'a>]) -> Self {
        self.headers = headers;
        self
    }

    /// The same message with a create time.
    pub fn with_time(mut self, time: SystemTime) -> Self {
        self.time = Some(time);
        self
    }

    /// Key and value bytes (what `LeastBytes` and `WriterStats` count).
    pub(crate) fn size(&self) -> usize {
        self.key.map_or(0, <[u8]>::len) + self.value.map_or(0, <[u8]>::len)
    }

    /// The timestamp in ms since the epoch; `now_ms` when unset.
    pub(crate) fn timestamp_ms(&self, now_ms: i64) -> i64 {
        self.time.map_or(now_ms, system_time_ms)
    }
}

/// Milliseconds since the Unix epoch (negative before it).
pub(crate) fn system_time_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// The current time in ms since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    system_time_ms(SystemTime::now())
}

/// A message read from a partition. Key, value, headers and topic borrow
/// the reader's buffers until the next read; call
/// [`to_owned`](Self::to_owned) to keep one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchedMessage<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The message's offset.
    pub offset: i64,
    /// The partition's high watermark when the message was fetched (the
    /// offset the next produced message will get).
    pub high_water_mark: i64,
    /// The key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is null.
    pub value: Option<&'a [u8]>,
    /// Record headers.
    pub headers: Headers<'a>,
    /// Milliseconds since the Unix epoch (create or log-append time, per the
    /// topic); -1 when the message has none.
    pub timestamp_ms: i64,
}

impl FetchedMessage<'_> {
    /// The timestamp as a `SystemTime` (`None` when the message has none).
    pub fn time(&self) -> Option<SystemTime> {
        let ms = u64::try_from(self.timestamp_ms).ok()?;
        UNIX_EPOCH.checked_add(Duration::from_millis(ms))
    }

    /// An owned copy (allocates).
    pub fn to_owned(&self) -> OwnedMessage {
        OwnedMessage {
            topic: self.topic.to_owned(),
            partition: self.partition,
            offset: self.offset,
            high_water_mark: self.high_water_mark,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self
                .headers
                .iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect(),
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// An owned copy of a [`FetchedMessage`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedMessage {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The message's offset.
    pub offset: i64,
    /// The partition's high watermark when the message was fetched.
    pub high_water_mark: i64,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Option<Vec<u8>>,
    /// Header keys and values.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Milliseconds since the Unix epoch; -1 when unknown.
    pub timestamp_ms: i64,
}
