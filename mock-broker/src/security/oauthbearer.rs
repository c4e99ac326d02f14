//! OAUTHBEARER unsecured JWTs, validated as Kafka's default
//! `OAuthBearerUnsecuredValidatorCallbackHandler` does
//! (`OAuthBearerUnsecuredJws` and `OAuthBearerValidationUtils`), and the
//! server side of the mechanism's exchange.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use microkafka_core::sasl::{Failure, Mechanism, OAuthBearerMessage};
use serde_json::{Map, Value};

use super::OAuthBearerValidation;

/// An accepted token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    /// The principal claim's value.
    pub(crate) principal: String,
    /// `exp`, in milliseconds since the epoch.
    pub(crate) expires_ms: i64,
}

/// Why a token was refused: the RFC 7628 error the server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Kafka's (debug-logged) reason.
    pub(crate) reason: String,
    /// For a missing scope: the required scope as Kafka writes it (`[a, b]`).
    pub(crate) scope: Option<String>,
}

impl Refusal {
    fn new(reason: impl Into<String>) -> Self {
        Refusal {
            reason: reason.into(),
            scope: None,
        }
    }

    /// The JSON error Kafka's `OAuthBearerSaslServer` sends (and then
    /// reports as the SASL_AUTHENTICATION_FAILED message).
    pub(crate) fn json(&self) -> String {
        match &self.scope {
            None => r#"{"status":"invalid_token"}"#.to_owned(),
            Some(scope) => format!(r#"{{"status":"insufficient_scope", "scope":"{scope}"}}"#),
        }
    }
}

/// A JSON number as Kafka reads a time claim: seconds, fractions allowed.
fn seconds(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Refusal> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(Refusal::new(format!(
            "The '{name}' claim was not of type Number"
        ))),
    }
}

fn json_object(part: &str) -> Result<Map<String, Value>, Refusal> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| Refusal::new("malformed Base64 URL encoded value"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Refusal::new("malformed JSON")),
    }
}

/// Validates `token` at `now_ms` (milliseconds since the epoch).
pub(crate) fn validate(
    token: &str,
    rules: &OAuthBearerValidation,
    now_ms: i64,
) -> Result<Token, Refusal> {
    if token.contains("..") {
        return Err(Refusal::new(
            "Malformed compact serialization contains '..'",
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(Refusal::new(
            "Unsecured JWS compact serializations must have 3 dot-separated Base64URL-encoded values",
        ));
    }
    let header = json_object(parts[0])?;
    let claims = json_object(parts[1])?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err(Refusal::new(
            "Unsecured JWS must have 'none' for an algorithm",
        ));
    }
    if !parts[2].is_empty() {
        return Err(Refusal::new(
            "Unsecured JWS must not contain a digital signature",
        ));
    }
    let scope: Vec<String> = match claims.get(rules.scope_claim.trim()) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
        // Kafka takes a string claim as one scope value, not a list.
        Some(Value::String(s)) => vec![s.trim().to_owned()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.trim().to_owned(),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .collect(),
        Some(_) => {
            return Err(Refusal::new(format!(
                "The '{}' claim was not of type List",
                rules.scope_claim
            )))
        }
    };
    let Some(exp) = seconds(&claims, "exp")? else {
        return Err(Refusal::new("No expiration time in JWT"));
    };
    let principal = match claims.get(rules.principal_claim.trim()) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(Refusal::new(format!(
                "No principal name in JWT claim: {}",
                rules.principal_claim
            )))
        }
        Some(_) => {
            return Err(Refusal::new(format!(
                "The '{}' claim was not of type String",
                rules.principal_claim
            )))
        }
    };
    let iat = seconds(&claims, "iat")?;
    let skew = i64::try_from(rules.allowed_clock_skew.as_millis()).unwrap_or(i64::MAX);
    let exp_ms = exp * 1000.0;
    if let Some(iat) = iat {
        if 1000.0 * iat > now_ms.saturating_add(skew) as f64 {
            return Err(Refusal::new(format!(
                "The Issued At value ({iat} seconds) was after the indicated time ({now_ms} ms) plus allowable clock skew ({skew} ms)"
            )));
        }
    }
    if now_ms.saturating_sub(skew) as f64 >= exp_ms {
        return Err(Refusal::new(format!(
            "The indicated time ({now_ms} ms) minus allowable clock skew ({skew} ms) was on or after the Expiration Time value ({exp} seconds)"
        )));
    }
    if let Some(iat) = iat {
        if exp <= iat {
            return Err(Refusal::new(format!(
                "The Expiration Time time ({exp} seconds) was not after the Issued At time ({iat} seconds)"
            )));
        }
    }
    if let Some(missing) = rules.required_scope.iter().find(|r| !scope.contains(r)) {
        return Err(Refusal {
            reason: format!(
                "The provided scope ({scope:?}) was missing a required scope ({missing})"
            ),
            scope: Some(format!("[{}]", rules.required_scope.join(", "))),
        });
    }
    Ok(Token {
        principal,
        expires_ms: exp_ms.round() as i64,
    })
}

/// The server side of one OAUTHBEARER exchange.
#[derive(Clone, Debug, Default)]
pub(crate) struct Server {
    /// The error sent for a refused token: the client's `%x01` is awaited.
    error: Option<String>,
    done: bool,
}

/// What the server answers one client message.
#[derive(Debug, PartialEq)]
pub(crate) enum Answer {
    /// Send this error; the client acknowledges it with `%x01`.
    Challenge(String),
    /// Authenticated.
    Success(Token),
    /// Refused, with Kafka's SASL_AUTHENTICATION_FAILED message.
    Failure(String),
}

impl Server {
    pub(crate) fn step(
        &mut self,
        client: &[u8],
        rules: &OAuthBearerValidation,
        now_ms: i64,
    ) -> Answer {
        if self.done {
            return Answer::Failure(
                Failure::IllegalState
                    .kafka_message(Mechanism::OAuthBearer)
                    .to_owned(),
            );
        }
        if let Some(error) = self.error.take() {
            self.done = true;
            return if client == [0x01] {
                Answer::Failure(error)
            } else {
                Answer::Failure(generic())
            };
        }
        let message = match OAuthBearerMessage::parse(client) {
            Ok(m) if client.starts_with(b"n,") => m,
            // Kafka's pattern: "n,[a=authzid],auth=Bearer token..." (no `y`).
            _ => {
                self.done = true;
                return Answer::Failure(generic());
            }
        };
        match validate(message.token(), rules, now_ms) {
            Ok(token) => {
                self.done = true;
                match message.authzid() {
                    Some(authzid) if authzid != token.principal => Answer::Failure(format!(
                        "Authentication failed: Client requested an authorization id ({authzid}) that is different from the token's principal name ({})",
                        token.principal
                    )),
                    _ => Answer::Success(token),
                }
            }
            Err(refusal) => {
                let json = refusal.json();
                self.error = Some(json.clone());
                Answer::Challenge(json)
            }
        }
    }
}

fn generic() -> String {
    Failure::BadCredentials
        .kafka_message(Mechanism::OAuthBearer)
        .to_owned()
}

/// An unsecured JWT (OAUTHBEARER token) for `principal`, issued now and
/// valid for `lifetime`, as librdkafka's `enable.sasl.oauthbearer.unsecure.jwt`
/// and Kafka's unsecured login module make them.
pub fn unsecured_jwt(principal: &str, lifetime: std::time::Duration) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    unsecured_jwt_at(principal, now.floor(), now + lifetime.as_secs_f64(), &[])
}

/// An unsecured JWT for `principal` with `iat` and `exp` in seconds since
/// the epoch and a `scope` claim (a list, left out when empty):
/// `base64url({"alg":"none"}).base64url(claims).` with an empty signature.
pub fn unsecured_jwt_at(principal: &str, iat: f64, exp: f64, scope: &[&str]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let mut claims = serde_json::json!({ "sub": principal, "iat": iat, "exp": exp });
    if !scope.is_empty() {
        claims["scope"] = serde_json::json!(scope);
    }
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{claims}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const NOW: i64 = 1_700_000_000_000;

    fn rules() -> OAuthBearerValidation {
        OAuthBearerValidation::default()
    }

    fn jwt(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn valid_tokens() {
        let t = unsecured_jwt_at("alice", 1_699_999_999.0, 1_700_000_060.5, &[]);
        let token = validate(&t, &rules(), NOW).unwrap();
        assert_eq!(token.principal, "alice");
        assert_eq!(token.expires_ms, 1_700_000_060_500);
        // No iat; a scope string; padding tolerated.
        let t = jwt(
            r#"{"alg":"none"}"#,
            r#"{"sub":"bob","exp":1700000001,"scope":"read"}"#,
        );
        let with_pad = t.replace('.', "=.");
        let strict = OAuthBearerValidation {
            required_scope: vec!["read".into()],
            ..rules()
        };
        assert_eq!(validate(&t, &strict, NOW).unwrap().principal, "bob");
        assert!(validate(&with_pad, &strict, NOW).is_ok(), "{with_pad}");
    }

    #[test]
    fn refusals() {
        let r = rules();
        let cases = [
            ("a.b", "3 dot-separated"),
            ("a..b", "contains '..'"),
            ("!!.e30.", "Base64"),
            (
                &jwt(r#"{"alg":"HS256"}"#, r#"{"sub":"a","exp":1800000000}"#),
                "'none'",
            ),
            (
                &format!(
                    "{}sig",
                    jwt(r#"{"alg":"none"}"#, r#"{"sub":"a","exp":1800000000}"#)
                ),
                "signature",
            ),
            (&jwt(r#"{"alg":"none"}"#, r#"{"sub":"a"}"#), "No expiration"),
            (
                &jwt(r#"{"alg":"none"}"#, r#"{"sub":"a","exp":"soon"}"#),
                "Number",
            ),
            (
                &jwt(r#"{"alg":"none"}"#, r#"{"exp":1800000000}"#),
                "No principal",
            ),
            (
                &jwt(r#"{"alg":"none"}"#, r#"{"sub":" ","exp":1800000000}"#),
                "No principal",
            ),
            (
                &jwt(r#"{"alg":"none"}"#, r#"{"sub":"a","exp":1600000000}"#),
                "Expiration",
            ),
            (
                &jwt(
                    r#"{"alg":"none"}"#,
                    r#"{"sub":"a","exp":1800000000,"iat":1750000000}"#,
                ),
                "Issued At",
            ),
            (
                &jwt(
                    r#"{"alg":"none"}"#,
                    r#"{"sub":"a","exp":1700000001,"iat":1700000001}"#,
                ),
                "Issued At",
            ),
            (
                &jwt(
                    r#"{"alg":"none"}"#,
                    r#"{"sub":"a","exp":1700000001,"iat":1700000002}"#,
                ),
                "Issued At",
            ),
            (&jwt(r#"{"alg":"none"}"#, "[1,2]"), "JSON"),
        ];
        for (token, why) in cases {
            let refusal = validate(token, &r, NOW).unwrap_err();
            assert!(refusal.reason.contains(why), "{token}: {refusal:?}");
            assert_eq!(refusal.json(), r#"{"status":"invalid_token"}"#);
        }
        let scoped = OAuthBearerValidation {
            required_scope: vec!["read".into(), "write".into()],
            ..rules()
        };
        let t = unsecured_jwt_at("a", 1_699_999_999.0, 1_800_000_000.0, &["read"]);
        assert_eq!(
            validate(&t, &scoped, NOW).unwrap_err().json(),
            r#"{"status":"insufficient_scope", "scope":"[read, write]"}"#
        );
        // Expired by 1 s: accepted with 2 s of skew.
        let t = unsecured_jwt_at("a", 1_699_999_000.0, 1_699_999_999.0, &[]);
        assert!(validate(&t, &r, NOW).is_err());
        let skewed = OAuthBearerValidation {
            allowed_clock_skew: Duration::from_secs(2),
            ..rules()
        };
        assert!(validate(&t, &skewed, NOW).is_ok());
        let t = jwt(
            r#"{"alg":"none"}"#,
            r#"{"sub":"a","exp":1700000001,"iat":1700000001.5}"#,
        );
        assert!(validate(&t, &skewed, NOW)
            .unwrap_err()
            .reason
            .contains("not after"));
    }

    #[test]
    fn exchange() {
        let r = rules();
        let good = unsecured_jwt_at("alice", 1_699_999_999.0, 1_800_000_000.0, &[]);
        let msg =
            |token: &str, authzid: &str| format!("n,{authzid},\x01auth=Bearer {token}\x01\x01");
        let mut s = Server::default();
        assert!(
            matches!(s.step(msg(&good, "").as_bytes(), &r, NOW), Answer::Success(t) if t.principal == "alice")
        );
        let mut s = Server::default();
        assert!(
            matches!(s.step(msg(&good, "a=bob").as_bytes(), &r, NOW), Answer::Failure(m) if m.contains("authorization id (bob)"))
        );
        let mut s = Server::default();
        let expired = unsecured_jwt_at("alice", 1.0, 2.0, &[]);
        assert_eq!(
            s.step(msg(&expired, "").as_bytes(), &r, NOW),
            Answer::Challenge(r#"{"status":"invalid_token"}"#.into())
        );
        assert_eq!(
            s.step(b"\x01", &r, NOW),
            Answer::Failure(r#"{"status":"invalid_token"}"#.into())
        );
        let mut s = Server::default();
        assert!(
            matches!(s.step(b"garbage", &r, NOW), Answer::Failure(m) if m.contains("invalid credentials"))
        );
        assert!(matches!(
            s.step(msg(&good, "").as_bytes(), &r, NOW),
            Answer::Failure(_)
        ));
    }
}
