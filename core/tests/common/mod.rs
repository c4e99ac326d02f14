//! Helpers shared by the integration tests that compare records with JSON
//! sidecars (`tests/data/*/…json`).
// Each test binary uses a different subset.
#![allow(dead_code)]

use microkafka_core::record::Record;
use serde_json::Value;

/// A record as a sidecar describes it: timestamp, key, value, headers.
pub(crate) type OwnedRecord = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

/// A JSON key/value/header value: null, a UTF-8 string, or `{"hex": ".."}`.
pub(crate) fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(o) => {
            let hex = o["hex"].as_str().unwrap();
            Some(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                    .collect(),
            )
        }
        other => panic!("unexpected {other}"),
    }
}

/// The records of a sidecar's `records` array.
pub(crate) fn records_from_json(records: &Value) -> Vec<OwnedRecord> {
    records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let headers = r["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap().to_string(), bytes_of(&h[1])))
                .collect();
            (
                r["timestamp"].as_i64().unwrap(),
                bytes_of(&r["key"]),
                bytes_of(&r["value"]),
                headers,
            )
        })
        .collect()
}

/// Checks every record of a batch (whose base timestamp is `base_timestamp`)
/// against `want`, in order, offset deltas counting from 0.
pub(crate) fn check_records<'a>(
    name: &str,
    base_timestamp: i64,
    records: impl Iterator<Item = microkafka_core::Result<Record<'a>>>,
    want: &[OwnedRecord],
) {
    let mut n = 0;
    for (r, (ts, key, value, headers)) in records.zip(want) {
        let r = r.unwrap_or_else(|e| panic!("{name} record {n}: {e}"));
        assert_eq!(base_timestamp + r.timestamp_delta, *ts, "{name} record {n}");
        assert_eq!(r.offset_delta as usize, n, "{name} record {n}");
        assert_eq!(r.key.map(<[u8]>::to_vec), *key, "{name} record {n}");
        assert_eq!(r.value.map(<[u8]>::to_vec), *value, "{name} record {n}");
        let got: Vec<(String, Option<Vec<u8>>)> = r
            .headers
            .iter()
            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
            .collect();
        assert_eq!(&got, headers, "{name} record {n}");
        n += 1;
    }
    assert_eq!(n, want.len(), "{name}");
}
