//! Consumer-protocol payloads (JoinGroup subscriptions, SyncGroup
//! assignments): byte 0 picks which, the rest is the payload. What decodes
//! must encode (at the version read, capped at the newest known layout) and
//! decode to the same value, and encode again to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use microkafka_core::protocol::messages::{
    decode_assignment, decode_subscription, encode_assignment, encode_subscription,
    CONSUMER_ASSIGNMENT_VERSIONS, CONSUMER_SUBSCRIPTION_VERSIONS,
};
use microkafka_core::wire::Writer;
use microkafka_core::Result;

fn encode(f: impl Fn(&mut Writer<'_>) -> Result<()>) -> Vec<u8> {
    let mut counting = Writer::counting();
    f(&mut counting).expect("a decoded payload encodes");
    let mut buf = vec![0u8; counting.position()];
    let mut w = Writer::new(&mut buf);
    f(&mut w).expect("a decoded payload encodes into its length");
    assert_eq!(w.position(), buf.len());
    buf
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, payload)) = data.split_first() else {
        return;
    };
    if kind % 2 == 0 {
        let Ok((version, first)) = decode_subscription(payload) else {
            return;
        };
        let version = version.min(CONSUMER_SUBSCRIPTION_VERSIONS.max);
        let bytes = encode(|w| encode_subscription(w, version, &first));
        let (v2, second) = decode_subscription(&bytes).expect("re-decodes");
        assert_eq!((v2, second), (version, first), "subscription round trip");
        assert_eq!(encode(|w| encode_subscription(w, version, &second)), bytes);
    } else {
        let Ok((version, first)) = decode_assignment(payload) else {
            return;
        };
        let version = version.min(CONSUMER_ASSIGNMENT_VERSIONS.max);
        let bytes = encode(|w| encode_assignment(w, version, &first));
        let (v2, second) = decode_assignment(&bytes).expect("re-decodes");
        assert_eq!((v2, second), (version, first), "assignment round trip");
        assert_eq!(encode(|w| encode_assignment(w, version, &second)), bytes);
    }
});
