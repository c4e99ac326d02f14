//! What the Writer, Reader and Client share about a brokers: the metadata
//! cache (brokers, topics, leaders) and one connection per broker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use microkafka_core::protocol::ApiKey;

use crate::broker::BrokerConn;
use crate::error::{BrokerRef, Error, ErrorKind, Result};
use crate::metadata::{Broker, Snapshot, TopicMeta};
use crate::requests::connect::Connector;
use crate::requests::metadata::metadata_request;

/// The cached metadata and when it was last refreshed.
#[derive(Debug, Default)]
struct Meta {
    brokers: HashMap<i32, Broker>,
    controller: i32,
    topics: HashMap<String, Arc<TopicMeta>>,
    /// Bumped by every refresh.
    generation: u64,
    refreshed: Option<Instant>,
}

type ConnCell = Arc<tokio::sync::Mutex<Option<Arc<BrokerConn>>>>;

/// How long after a fatal dial failure ([`Error::is_fatal`]: credentials
/// refused, certificate not trusted, ...) every dial fails with it at once.
/// Retrying cannot help before the configuration changes, and a Writer's
/// partitions, a Reader's fetchers and a group's coordinator lanes all
/// dialing would otherwise each pay a handshake (and make the broker log a
/// failure) per attempt.
pub(crate) const FATAL_HOLD: Duration = Duration::from_secs(1);

/// The brokers of one cluster: a connection pool and the metadata cache.
pub(crate) struct BrokerPool {
    /// How connections are opened.
    connector: Connector,
    bootstrap: Vec<String>,
    meta: Mutex<Meta>,
    conns: Mutex<HashMap<i32, ConnCell>>,
    /// One metadata refresh at a time; the others wait for its result.
    refreshing: tokio::sync::Mutex<()>,
    allow_auto_topic_creation: bool,
    /// Connections made (for stats).
    pub(crate) dials: AtomicU64,
    /// Set by [`close`](Self::close): no connection is made after it.
    closed: AtomicBool,
    /// The last fatal dial failure and when (see [`FATAL_HOLD`]).
    fatal: Mutex<Option<(Instant, Error)>>,
}

impl std::fmt::Debug for BrokerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerPool")
            .field("bootstrap", &self.bootstrap)
            .finish()
    }
}

impl BrokerPool {
    pub(crate) fn new(
        connector: Connector,
        bootstrap: &[String],
        allow_auto_topic_creation: bool,
    ) -> Result<Arc<BrokerPool>> {
        let bootstrap: Vec<String> = bootstrap
            .iter()
            .flat_map(|b| b.split(','))
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty())
            .collect();
        if bootstrap.is_empty() {
            return Err(Error::config("no broker address given (brokers is empty)"));
        }
        Ok(Arc::new(BrokerPool {
            connector,
            bootstrap,
            meta: Mutex::new(Meta::default()),
            conns: Mutex::new(HashMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
            allow_auto_topic_creation,
            dials: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            fatal: Mutex::new(None),
        }))
    }

    fn meta(&self) -> MutexGuard<'_, Meta> {
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The limit of metadata and admin requests.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.connector.request_timeout
    }

    /// A topic's cached metadata.
    pub(crate) fn topic(&self, topic: &str) -> Option<Arc<TopicMeta>> {
        self.meta().topics.get(topic).cloned()
    }

    /// The current metadata generation (see [`refresh`](Self::refresh)).
    pub(crate) fn generation(&self) -> u64 {
        self.meta().generation
    }

    /// How old the metadata is (`None`: never fetched).
    pub(crate) fn age(&self) -> Option<Duration> {
        self.meta().refreshed.map(|t| t.elapsed())
    }

    /// The leader of a partition from the cache: `(node id, epoch)`.
    pub(crate) fn leader(&self, topic: &str, partition: i32) -> Option<(i32, i32)> {
        let meta = self.meta();
        let p = meta.topics.get(topic)?.partition(partition)?;
        Some((p.leader, p.leader_epoch))
    }

    /// How errors name broker `id`.
    pub(crate) fn broker_ref(&self, id: i32) -> BrokerRef {
        let addr = self
            .meta()
            .brokers
            .get(&id)
            .map(Broker::addr)
            .unwrap_or_default();
        BrokerRef { id, addr }
    }

    /// Every broker known, by id.
    pub(crate) fn brokers(&self) -> Vec<Broker> {
        let mut b: Vec<Broker> = self.meta().brokers.values().cloned().collect();
        b.sort_by_key(|b| b.id);
        b
    }

    /// The controller's node id (-1 when unknown).
    pub(crate) fn controller(&self) -> i32 {
        self.meta().controller
    }

    /// Fetches metadata for `topics` (none: only brokers) unless a refresh
    /// newer than generation `seen` already happened, in which case its
    /// result is used (so a burst of failures triggers one refresh).
    pub(crate) async fn refresh(&self, topics: &[&str], seen: Option<u64>) -> Result<()> {
        let _one = self.refreshing.lock().await;
        if let Some(seen) = seen {
            let meta = self.meta();
            if meta.generation > seen && topics.iter().all(|t| meta.topics.contains_key(*t)) {
                return Ok(());
            }
        }
        let conn = self.any_conn().await?;
        let result = metadata_request(
            &conn,
            Some(topics),
            self.allow_auto_topic_creation,
            self.request_timeout(),
        )
        .await;
        let snapshot = match result {
            Ok(s) => s,
            Err(e) => {
                // The next attempt goes elsewhere.
                conn.close(e.clone());
                return Err(e);
            }
        };
        self.apply(snapshot);
        Ok(())
    }

    fn apply(&self, snapshot: Snapshot) {
        let mut meta = self.meta();
        if !snapshot.brokers.is_empty() {
            meta.brokers = snapshot.brokers;
            meta.controller = snapshot.controller;
        }
        for (name, topic) in snapshot.topics {
            meta.topics.insert(name, Arc::new(topic));
        }
        meta.generation += 1;
        meta.refreshed = Some(Instant::now());
    }

    /// Metadata for `topic`, from the cache or fetched; an error when the
    /// cluster says the topic does not exist (or has another error).
    pub(crate) async fn topic_meta(&self, topic: &str) -> Result<Arc<TopicMeta>> {
        if let Some(t) = self.topic(topic) {
            if t.error.is_ok() {
                return Ok(t);
            }
        }
        self.refresh(&[topic], None).await?;
        match self.topic(topic) {
            Some(t) if t.error.is_ok() && !t.partitions.is_empty() => Ok(t),
            Some(t) if t.error.is_err() => Err(Error::kafka(t.error, None)
                .with_api(ApiKey::Metadata)
                .with_topic(topic)),
            _ => Err(Error::new(ErrorKind::NotFound("topic")).with_topic(topic)),
        }
    }

    /// The connection to broker `id`, dialed if needed.
    pub(crate) async fn conn(&self, id: i32) -> Result<Arc<BrokerConn>> {
        let cell = self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .clone();
        let mut slot = cell.lock().await;
        if let Some(c) = slot.as_ref() {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let addr = self.meta().brokers.get(&id).map(Broker::addr);
        let Some(addr) = addr else {
            return Err(
                Error::new(ErrorKind::NotFound("broker")).with_broker(&BrokerRef {
                    id,
                    addr: String::new(),
                }),
            );
        };
        self.check_open()?;
        self.check_fatal()?;
        self.dials.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(self.dial(&addr, id).await?);
        // Closed while dialing: the pool was emptied, keep nothing in it.
        self.check_open()?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Any live connection: a pooled one, else a known broker, else the
    /// bootstrap addresses in turn.
    pub(crate) async fn any_conn(&self) -> Result<Arc<BrokerConn>> {
        let cells: Vec<ConnCell> = self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        for cell in cells {
            if let Ok(slot) = cell.try_lock() {
                if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
                    return Ok(c.clone());
                }
            }
        }
        let known: Vec<i32> = self.meta().brokers.keys().copied().collect();
        let mut last = None;
        // A fatal failure (credentials, certificates) is the same with every
        // broker: it ends the search.
        for id in known {
            match self.conn(id).await {
                Ok(c) => return Ok(c),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        for addr in &self.bootstrap {
            self.check_open()?;
            self.check_fatal()?;
            self.dials.fetch_add(1, Ordering::Relaxed);
            match self.dial(addr, -1).await {
                Ok(c) => return Ok(Arc::new(c)),
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::config("no broker to connect to")))
    }

    /// Dials broker `id` at `addr`, unless a fatal
    /// failure happened less than [`FATAL_HOLD`] ago (then that error,
    /// without dialing); a fatal failure is remembered.
    pub(crate) async fn dial(&self, addr: &str, id: i32) -> Result<BrokerConn> {
        self.check_fatal()?;
        let result = self.connector.connect(addr, id).await;
        if let Err(e) = &result {
            if e.is_fatal() {
                *self.fatal.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), e.clone()));
            }
        }
        result
    }

    /// The fatal dial failure of less than [`FATAL_HOLD`] ago, if any.
    fn check_fatal(&self) -> Result<()> {
        match &*self.fatal.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((at, e)) if at.elapsed() < FATAL_HOLD => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// An error once the pool is closed.
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed));
        }
        Ok(())
    }

    /// Closes every pooled connection; no connection is made after this (a
    /// task still running for a closed Writer or Reader must not dial one
    /// and keep it open).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let cells: Vec<ConnCell> = self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, c)| c)
            .collect();
        for cell in cells {
            if let Ok(slot) = cell.try_lock() {
                if let Some(c) = slot.as_ref() {
                    c.close(Error::new(ErrorKind::Closed));
                }
            }
        }
    }
}
