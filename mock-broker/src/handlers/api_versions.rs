//! ApiVersions: the version ranges this broker accepts.

use microkafka_core::protocol::messages::{ApiVersion, ApiVersionsRequest, ApiVersionsResponse};
use microkafka_core::protocol::ApiKey;
use microkafka_core::wire::Array;
use microkafka_core::ErrorCode;

use super::{encode, Answer, Cx};
use crate::versions::advertised;

/// Every API with its advertised range.
fn ranges(kafka4: bool) -> Vec<ApiVersion> {
    ApiKey::ALL
        .iter()
        .map(|&api| {
            let r = advertised(api, kafka4);
            ApiVersion {
                api_key: api.key(),
                min_version: r.min,
                max_version: r.max,
            }
        })
        .collect()
}

/// Kafka's rule for `client_software_name` and `client_software_version`
/// (v3+): letters, digits, `-` and `.`, starting and ending with a letter or
/// digit (`ApiVersionsRequest.isValid`).
fn valid_software_string(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.'))
}

pub(crate) fn handle(cx: &mut Cx<'_>, req: ApiVersionsRequest<'_>) -> Answer {
    // Kafka answers an invalid client software name or version with
    // INVALID_REQUEST and no ranges (the connection stays open).
    let invalid = cx.version >= 3
        && !(valid_software_string(req.client_software_name)
            && valid_software_string(req.client_software_version));
    let error = cx
        .forced
        .or(invalid.then_some(ErrorCode::INVALID_REQUEST))
        .unwrap_or(ErrorCode::NONE);
    let keys = if invalid {
        Vec::new()
    } else {
        ranges(cx.cluster.config.kafka4)
    };
    let body = ApiVersionsResponse {
        error_code: error,
        api_keys: Array::new(&keys),
        ..Default::default()
    };
    cx.respond(&body)
}

/// The answer to an ApiVersions version this broker does not know (KIP-511):
/// a v0 body with `UNSUPPORTED_VERSION` and the ApiVersions range, so the
/// client retries with a version from it. Kafka lists only ApiVersions here.
pub(crate) fn unsupported(correlation_id: i32, kafka4: bool) -> Vec<u8> {
    let r = advertised(ApiKey::ApiVersions, kafka4);
    let keys = [ApiVersion {
        api_key: ApiKey::ApiVersions.key(),
        min_version: r.min,
        max_version: r.max,
    }];
    let body = ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION,
        api_keys: Array::new(&keys),
        ..Default::default()
    };
    encode(correlation_id, 0, &body).unwrap_or_default()
}
