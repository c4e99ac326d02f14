//! A hostile or spoofed broker's Metadata answer costs the client memory in
//! proportion to the answer's size: a long host name or topic name is held
//! once, however many replica ids or partitions refer to it.
//!
//! A counting global allocator measures what the client allocates while it
//! reads the answer (only on the test's thread: the fake broker answers
//! from a thread of its own).
#![allow(unsafe_code)] // the counting allocator: GlobalAlloc is an unsafe trait

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use microkafka_core::protocol::frame::encode_response;
use microkafka_core::protocol::messages::*;
use microkafka_core::protocol::versions::client_versions;
use microkafka_core::protocol::{ApiKey, RequestHeader};
use microkafka_core::wire::{Array, Reader};
use microkafka_std::{Client, Dialer};

/// Counts the bytes allocated on threads that asked to be counted.
struct Counting;

static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count(size: usize) {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATED_BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated on this thread while `f` runs.
async fn allocated_by<T>(f: impl std::future::Future<Output = T>) -> (T, u64) {
    COUNTED.set(true);
    let before = ALLOCATED_BYTES.load(Ordering::Relaxed);
    let out = f.await;
    let after = ALLOCATED_BYTES.load(Ordering::Relaxed);
    COUNTED.set(false);
    (out, after - before)
}

/// The broker's host and rack: far longer than any DNS name.
const HOST_LEN: usize = 16 << 10;
const RACK_LEN: usize = 8 << 10;
/// Replica, ISR and offline ids of the one wide partition, each naming the
/// broker with the long host.
const REPLICAS: usize = 2_000;
/// A topic with a long name and many partitions.
const NAME_LEN: usize = 16 << 10;
const PARTITIONS: i32 = 2_000;

fn hostile_metadata(port: u16, correlation_id: i32, version: i16) -> Vec<u8> {
    let host = "h".repeat(HOST_LEN);
    let rack = "r".repeat(RACK_LEN);
    let brokers = [MetadataResponseBroker {
        node_id: 1,
        host: &host,
        port: i32::from(port),
        rack: Some(&rack),
    }];
    let ids = vec![1i32; REPLICAS];
    let wide = [MetadataResponsePartition {
        partition_index: 0,
        leader_id: 1,
        replica_nodes: Array::new(&ids),
        isr_nodes: Array::new(&ids),
        offline_replicas: Array::new(&ids),
        ..Default::default()
    }];
    let one = [1i32];
    let many: Vec<MetadataResponsePartition<'_>> = (0..PARTITIONS)
        .map(|p| MetadataResponsePartition {
            partition_index: p,
            leader_id: 1,
            replica_nodes: Array::new(&one),
            isr_nodes: Array::new(&one),
            ..Default::default()
        })
        .collect();
    let name = "n".repeat(NAME_LEN);
    let topics = [
        MetadataResponseTopic {
            name: Some("wide"),
            partitions: Array::new(&wide),
            ..Default::default()
        },
        MetadataResponseTopic {
            name: Some(&name),
            partitions: Array::new(&many),
            ..Default::default()
        },
    ];
    let response = MetadataResponse {
        brokers: Array::new(&brokers),
        controller_id: 1,
        topics: Array::new(&topics),
        ..Default::default()
    };
    frame(correlation_id, version, &response)
}

fn frame<'a, R: microkafka_core::protocol::Response<'a>>(
    correlation_id: i32,
    version: i16,
    r: &R,
) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 20];
    let n = encode_response(&mut buf, correlation_id, version, r).unwrap();
    buf.truncate(n);
    buf
}

fn api_versions(correlation_id: i32, version: i16) -> Vec<u8> {
    let ranges: Vec<ApiVersion> = ApiKey::ALL
        .iter()
        .map(|&api| {
            let v = client_versions(api);
            ApiVersion {
                api_key: api.key(),
                min_version: v.min,
                max_version: v.max,
            }
        })
        .collect();
    let response = ApiVersionsResponse {
        api_keys: Array::new(&ranges),
        ..Default::default()
    };
    frame(correlation_id, version, &response)
}

/// A broker whose every Metadata answer is the hostile one; records the
/// size of the last one sent.
fn fake_broker(sent: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            let sent = sent.clone();
            std::thread::spawn(move || serve(s, addr.port(), &sent));
        }
    });
    addr
}

fn serve(mut s: TcpStream, port: u16, sent: &AtomicUsize) {
    loop {
        let mut size = [0u8; 4];
        if s.read_exact(&mut size).is_err() {
            return;
        }
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        if s.read_exact(&mut body).is_err() {
            return;
        }
        let header = RequestHeader::decode(&mut Reader::new(&body)).unwrap();
        let (c, v) = (header.correlation_id, header.api_version);
        let answer = match header.api().unwrap() {
            ApiKey::ApiVersions => api_versions(c, v),
            ApiKey::Metadata => {
                let f = hostile_metadata(port, c, v);
                sent.store(f.len(), Ordering::Relaxed);
                f
            }
            _ => return,
        };
        if s.write_all(&answer).is_err() {
            return;
        }
    }
}

/// What the client may allocate per byte of the answer (the answer itself
/// is read into one buffer, then described in kafka-go's shape: one
/// `Broker` of a few words per replica id, one `Partition` per partition).
const PER_WIRE_BYTE: u64 = 16;
/// Allowance for what does not grow with the answer.
const FIXED: u64 = 512 << 10;

#[tokio::test(flavor = "current_thread")]
async fn a_hostile_metadata_answer_costs_memory_in_proportion_to_its_size() {
    let sent = Arc::new(AtomicUsize::new(0));
    let addr = fake_broker(sent.clone()).to_string();
    let mut conn = Dialer::default().dial(&addr).await.unwrap();

    let (partitions, allocated) = allocated_by(conn.read_partitions(&[])).await;
    let partitions = partitions.unwrap();
    let wire = sent.load(Ordering::Relaxed) as u64;
    eprintln!("Conn::read_partitions: {allocated} bytes for a {wire}-byte answer");
    assert!(wire > (HOST_LEN + NAME_LEN + 3 * 4 * REPLICAS) as u64);
    assert!(
        allocated < PER_WIRE_BYTE * wire + FIXED,
        "Conn::read_partitions allocated {allocated} bytes for a {wire}-byte answer"
    );
    // Everything the answer says is there.
    assert_eq!(partitions.len(), 1 + PARTITIONS as usize);
    let wide = partitions.iter().find(|p| &*p.topic == "wide").unwrap();
    assert_eq!(wide.leader.host.len(), HOST_LEN);
    assert_eq!(wide.leader.rack.as_deref().map(str::len), Some(RACK_LEN));
    for replicas in [&wide.replicas, &wide.isr, &wide.offline_replicas] {
        assert_eq!(replicas.len(), REPLICAS);
        assert!(replicas
            .iter()
            .all(|b| b.id == 1 && b.host.len() == HOST_LEN));
    }
    let named: Vec<_> = partitions
        .iter()
        .filter(|p| p.topic.len() == NAME_LEN)
        .collect();
    assert_eq!(named.len(), PARTITIONS as usize);
    drop(partitions);

    // The same through the admin Client and the Dialer's lookups (dialing
    // included: its buffers are in the fixed allowance).
    let client = Client::new(&[&addr]).unwrap();
    let (metadata, allocated) = allocated_by(client.metadata(&[])).await;
    let metadata = metadata.unwrap();
    eprintln!("Client::metadata: {allocated} bytes");
    assert!(
        allocated < PER_WIRE_BYTE * wire + FIXED,
        "Client::metadata allocated {allocated} bytes for a {wire}-byte answer"
    );
    assert_eq!(metadata.topics.len(), 2);
    drop(metadata);
    let (found, allocated) = allocated_by(Dialer::default().lookup_partitions(&addr, "wide")).await;
    assert_eq!(found.unwrap()[0].replicas.len(), REPLICAS);
    eprintln!("Dialer::lookup_partitions: {allocated} bytes");
    assert!(
        allocated < PER_WIRE_BYTE * wire + FIXED,
        "Dialer::lookup_partitions allocated {allocated} bytes for a {wire}-byte answer"
    );
}
