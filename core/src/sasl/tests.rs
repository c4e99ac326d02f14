//! Tests of the SASL mechanisms and the Kafka exchange.

extern crate std;
use std::string::String;
use std::sync::OnceLock;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::client::Connection;
use crate::protocol::frame::{encode_request, encode_response, split_frame, RequestHeader};
use crate::protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::protocol::{ApiKey, Message, NegotiatedVersions, VersionRange};
use crate::wire::{Array, Reader, Wire};
use crate::{Error, ErrorCode, Limit};

// ---------------------------------------------------------------- helpers

fn b64_decode(text: &str) -> Vec<u8> {
    let mut out = [0u8; 128];
    let n = crypto::decode_b64(text.as_bytes(), &mut out, Error::BufferTooSmall).unwrap();
    out[..n].to_vec()
}

fn text(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap()
}

const SALT: &[u8] = b"0123456789abcdef";

/// A credential store: alice/secret on every mechanism, token "good.token".
struct Users {
    scram256: ScramCredential,
    scram512: ScramCredential,
}

impl Users {
    fn new() -> Self {
        Users {
            scram256: ScramCredential::derive(ScramHash::Sha256, "secret", SALT, 4096).unwrap(),
            scram512: ScramCredential::derive(ScramHash::Sha512, "secret", SALT, 4096).unwrap(),
        }
    }
}

impl ServerCredentials for Users {
    fn plain_password(&self, user: &str) -> Option<&[u8]> {
        (user == "alice").then_some(b"secret".as_slice())
    }

    fn scram_credential(&self, hash: ScramHash, user: &str) -> Option<ScramCredential> {
        (user == "alice").then(|| match hash {
            ScramHash::Sha256 => self.scram256.clone(),
            ScramHash::Sha512 => self.scram512.clone(),
        })
    }

    fn validate_token(&self, message: &OAuthBearerMessage<'_>) -> bool {
        message.token() == "good.token"
    }
}

#[derive(Debug, PartialEq)]
enum End {
    Authenticated,
    ServerRefused(Failure),
    ClientRefused(SaslError<'static>),
}

/// Runs a client against a server, message by message.
fn exchange(client: &mut SaslClient<'_>, server: &mut SaslServer, users: &Users) -> End {
    let (mut to_server, mut to_client) = ([0u8; 1024], [0u8; 1024]);
    for _ in 0..4 {
        let n = client.message(&mut to_server).unwrap();
        let (answer, done) = match server.step(&to_server[..n], &mut to_client, users).unwrap() {
            ServerStep::Challenge(len) => (len, false),
            ServerStep::Success(len) => (len, true),
            ServerStep::Failure { failure, .. } => return End::ServerRefused(failure),
        };
        match client.receive(&to_client[..answer]) {
            Ok(Progress::Complete) => {
                assert!(done, "client done before the server");
                assert!(server.is_complete() && client.is_complete());
                return End::Authenticated;
            }
            Ok(Progress::Continue) => assert!(!done, "server done before the client"),
            Err(e) => return End::ClientRefused(e),
        }
    }
    panic!("exchange did not end");
}

fn random(seed: u8) -> [u8; 24] {
    core::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7))
}

// ---------------------------------------------------------------- mechanism names

#[test]
fn mechanism_names_are_kafkas() {
    let names: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]
    );
    for m in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(m.name()), Some(m));
    }
    assert_eq!(Mechanism::from_name("plain"), None);
    assert_eq!(Mechanism::from_name("GSSAPI"), None);
    assert_eq!(Mechanism::ScramSha512.scram_hash(), Some(ScramHash::Sha512));
    assert_eq!(ScramHash::Sha256.mechanism(), Mechanism::ScramSha256);
}

// ---------------------------------------------------------------- SCRAM

const RFC7677_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC7677_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC7677_CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
const RFC7677_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC7677_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
     p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC7677_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/// RFC 7677 §3: the SCRAM-SHA-256 example, byte for byte, client side.
#[test]
fn rfc7677_scram_sha256_client_vector() {
    let mut client =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE).unwrap();
    let mut out = [0u8; 256];
    let n = client.message(&mut out).unwrap();
    assert_eq!(text(&out[..n]), RFC7677_CLIENT_FIRST);
    assert_eq!(
        client.receive(RFC7677_SERVER_FIRST.as_bytes()),
        Ok(Progress::Continue)
    );
    let n = client.message(&mut out).unwrap();
    assert_eq!(text(&out[..n]), RFC7677_CLIENT_FINAL);
    // Writing again gives the same message (the state does not move).
    assert_eq!(client.message(&mut out).unwrap(), n);
    assert_eq!(
        client.receive(RFC7677_SERVER_FINAL.as_bytes()),
        Ok(Progress::Complete)
    );
    assert!(client.is_complete());
    assert!(client.message(&mut out).is_err(), "nothing left to send");
}

/// RFC 7677 §3 from the server's side: the same four messages, with a
/// credential derived from the password and the example's salt.
#[test]
fn rfc7677_scram_sha256_server_vector() {
    let salt = b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==");
    let credential = ScramCredential::derive(ScramHash::Sha256, "pencil", &salt, 4096).unwrap();
    let mut server = ScramServer::with_nonce(ScramHash::Sha256, RFC7677_SERVER_NONCE).unwrap();
    let mut out = [0u8; 256];
    let mut looked_up = None;
    let step = server
        .step(RFC7677_CLIENT_FIRST.as_bytes(), &mut out, |user| {
            looked_up = Some(String::from(user));
            Some(credential.clone())
        })
        .unwrap();
    assert_eq!(looked_up.as_deref(), Some("user"));
    let ServerStep::Challenge(n) = step else {
        panic!("{step:?}")
    };
    assert_eq!(text(&out[..n]), RFC7677_SERVER_FIRST);
    let step = server
        .step(RFC7677_CLIENT_FINAL.as_bytes(), &mut out, |_| {
            unreachable!("no lookup for client-final")
        })
        .unwrap();
    let ServerStep::Success(n) = step else {
        panic!("{step:?}")
    };
    assert_eq!(text(&out[..n]), RFC7677_SERVER_FINAL);
    assert_eq!(server.user(), Some("user"));
}

#[test]
fn scram_sha512_client_server_round_trip() {
    let users = Users::new();
    let client = ScramClient::new(ScramHash::Sha512, "alice", "secret", &random(1)).unwrap();
    assert_eq!(client.nonce().len(), 32, "24 random bytes in base64");
    let mut server = SaslServer::new(Mechanism::ScramSha512, &random(2)).unwrap();
    let mut client = SaslClient::from(client);
    assert_eq!(client.mechanism(), Mechanism::ScramSha512);
    assert_eq!(
        exchange(&mut client, &mut server, &users),
        End::Authenticated
    );
    assert_eq!(server.user(), Some("alice"));
}

#[test]
fn scram_sha256_round_trip_with_escaped_user_name() {
    let user = "a,b=c";
    let credential = ScramCredential::derive(ScramHash::Sha256, "pw", SALT, 4096).unwrap();
    let mut client = ScramClient::new(ScramHash::Sha256, user, "pw", &random(3)).unwrap();
    let mut server = ScramServer::new(ScramHash::Sha256, &random(4)).unwrap();
    let (mut c, mut s) = ([0u8; 256], [0u8; 256]);
    let n = client.message(&mut c).unwrap();
    assert!(text(&c[..n]).starts_with("n,,n=a=2Cb=3Dc,r="));
    let ServerStep::Challenge(len) = server
        .step(&c[..n], &mut s, |name| {
            assert_eq!(name, user, "unescaped");
            Some(credential.clone())
        })
        .unwrap()
    else {
        panic!()
    };
    client.receive(&s[..len]).unwrap();
    let n = client.message(&mut c).unwrap();
    let ServerStep::Success(len) = server.step(&c[..n], &mut s, |_| None).unwrap() else {
        panic!()
    };
    assert_eq!(client.receive(&s[..len]), Ok(Progress::Complete));
    assert_eq!(server.user(), Some(user));
}

#[test]
fn scram_wrong_password_is_refused_by_the_server() {
    let users = Users::new();
    for hash in [ScramHash::Sha256, ScramHash::Sha512] {
        let client = ScramClient::new(hash, "alice", "wrong", &random(5)).unwrap();
        let mut server = SaslServer::new(hash.mechanism(), &random(6)).unwrap();
        let end = exchange(&mut client.into(), &mut server, &users);
        assert_eq!(end, End::ServerRefused(Failure::BadCredentials));
        assert!(!server.is_complete() && server.user().is_none());
    }
    // What the server writes and what Kafka says.
    assert_eq!(
        Failure::BadCredentials.scram_error(),
        ScramError::InvalidProof
    );
    assert_eq!(
        Failure::BadCredentials.kafka_message(Mechanism::ScramSha256),
        "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"
    );
}

#[test]
fn scram_server_writes_e_and_then_refuses_everything() {
    let users = Users::new();
    let mut client = ScramClient::new(ScramHash::Sha256, "alice", "wrong", &random(7)).unwrap();
    let mut server = ScramServer::new(ScramHash::Sha256, &random(8)).unwrap();
    let (mut c, mut s) = ([0u8; 256], [0u8; 256]);
    let n = client.message(&mut c).unwrap();
    let lookup = |u: &str| users.scram_credential(ScramHash::Sha256, u);
    let ServerStep::Challenge(len) = server.step(&c[..n], &mut s, lookup).unwrap() else {
        panic!()
    };
    client.receive(&s[..len]).unwrap();
    let n = client.message(&mut c).unwrap();
    let step = server.step(&c[..n], &mut s, lookup).unwrap();
    let ServerStep::Failure {
        failure: Failure::BadCredentials,
        len,
    } = step
    else {
        panic!("{step:?}")
    };
    assert_eq!(text(&s[..len]), "e=invalid-proof");
    // The client reads the RFC's e= as the server's error.
    assert_eq!(
        client.receive(&s[..len]),
        Err(SaslError::Rejected(Rejection::ServerError(
            ScramError::InvalidProof
        )))
    );
    let step = server.step(&c[..n], &mut s, lookup).unwrap();
    assert!(matches!(
        step,
        ServerStep::Failure {
            failure: Failure::IllegalState,
            ..
        }
    ));
}

#[test]
fn scram_unknown_user_is_refused_at_client_first() {
    let users = Users::new();
    let client = ScramClient::new(ScramHash::Sha256, "mallory", "secret", &random(9)).unwrap();
    let mut server = SaslServer::new(Mechanism::ScramSha256, &random(10)).unwrap();
    let end = exchange(&mut client.into(), &mut server, &users);
    assert_eq!(end, End::ServerRefused(Failure::UnknownUser));
    assert_eq!(Failure::UnknownUser.scram_error().as_str(), "unknown-user");
    // Kafka does not tell an unknown user from a wrong password.
    assert_eq!(
        Failure::UnknownUser.kafka_message(Mechanism::ScramSha512),
        Failure::BadCredentials.kafka_message(Mechanism::ScramSha512)
    );
}

/// A server that knows the user but for the other hash does not know it.
#[test]
fn scram_credential_for_another_hash_is_an_unknown_user() {
    let users = Users::new();
    let mut server = ScramServer::new(ScramHash::Sha512, &random(11)).unwrap();
    let mut out = [0u8; 256];
    let step = server
        .step(b"n,,n=alice,r=abcdefgh", &mut out, |u| {
            users.scram_credential(ScramHash::Sha256, u)
        })
        .unwrap();
    assert!(matches!(
        step,
        ServerStep::Failure {
            failure: Failure::UnknownUser,
            ..
        }
    ));
}

/// A client-first naming an authorization id other than the user, as Kafka refuses.
#[test]
fn scram_authorization_id_must_be_the_user() {
    let users = Users::new();
    let lookup = |u: &str| users.scram_credential(ScramHash::Sha256, u);
    let mut out = [0u8; 256];
    let mut server = ScramServer::new(ScramHash::Sha256, &random(12)).unwrap();
    let step = server
        .step(b"n,a=bob,n=alice,r=abcdefgh", &mut out, lookup)
        .unwrap();
    assert!(matches!(
        step,
        ServerStep::Failure {
            failure: Failure::AuthorizationId,
            ..
        }
    ));
    assert_eq!(
        Failure::AuthorizationId.kafka_message(Mechanism::ScramSha256),
        "Authentication failed: Client requested an authorization id that is different from username"
    );
    // The same name is fine, and the channel binding must then repeat it.
    let mut server = ScramServer::new(ScramHash::Sha256, &random(12)).unwrap();
    let ServerStep::Challenge(n) = server
        .step(b"n,a=alice,n=alice,r=abcdefgh", &mut out, lookup)
        .unwrap()
    else {
        panic!()
    };
    let server_first = String::from(text(&out[..n]));
    let nonce = &server_first[2..server_first.find(",s=").unwrap()];
    // c=biws ("n,,") does not match the header sent ("n,a=alice,").
    let final_message = std::format!("c=biws,r={nonce},p=AAAA");
    let step = server
        .step(final_message.as_bytes(), &mut out, lookup)
        .unwrap();
    assert!(matches!(
        step,
        ServerStep::Failure {
            failure: Failure::ChannelBinding,
            ..
        }
    ));
}

#[test]
fn scram_tampered_server_signature_is_refused_by_the_client() {
    let mut client =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE).unwrap();
    client.receive(RFC7677_SERVER_FIRST.as_bytes()).unwrap();
    // One bit of the signature changed ('6' -> '7').
    let tampered = RFC7677_SERVER_FINAL.replacen("v=6", "v=7", 1);
    assert_eq!(
        client.clone().receive(tampered.as_bytes()),
        Err(SaslError::Rejected(Rejection::ServerSignature))
    );
    // A server that does not know the password signs with another key.
    let mut wrong =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencils", RFC7677_CLIENT_NONCE)
            .unwrap();
    wrong.receive(RFC7677_SERVER_FIRST.as_bytes()).unwrap();
    assert_eq!(
        wrong.receive(RFC7677_SERVER_FINAL.as_bytes()),
        Err(SaslError::Rejected(Rejection::ServerSignature))
    );
    // A truncated signature, and an error instead of one.
    assert_eq!(
        client
            .clone()
            .receive(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9"),
        Err(SaslError::Rejected(Rejection::ServerSignature))
    );
    assert_eq!(
        client.clone().receive(b"e=unknown-user"),
        Err(SaslError::Rejected(Rejection::ServerError(
            ScramError::UnknownUser
        )))
    );
    assert_eq!(
        client.clone().receive(b"e=something-new"),
        Err(SaslError::Rejected(Rejection::ServerError(
            ScramError::OtherError
        )))
    );
    // After a failure there is nothing more to do.
    let mut failed = client.clone();
    let _ = failed.receive(b"x");
    assert!(failed.receive(RFC7677_SERVER_FINAL.as_bytes()).is_err());
    assert!(failed.message(&mut [0u8; 256]).is_err());
}

#[test]
fn scram_client_refuses_weak_or_costly_iteration_counts() {
    let client =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE).unwrap();
    for (count, text) in [
        (4095u32, "4095"),
        (16385, "16385"),
        (0, "0"),
        (u32::MAX, "99999999999"),
    ] {
        let message = RFC7677_SERVER_FIRST.replace("i=4096", &std::format!("i={text}"));
        assert_eq!(
            client.clone().receive(message.as_bytes()),
            Err(SaslError::Rejected(Rejection::IterationCount(count))),
            "{text}"
        );
    }
    // Kafka's bounds themselves are accepted.
    let message = RFC7677_SERVER_FIRST.replace("i=4096", "i=16384");
    assert_eq!(
        client.clone().receive(message.as_bytes()),
        Ok(Progress::Continue)
    );
    // And so are credentials.
    assert!(ScramCredential::derive(ScramHash::Sha256, "p", SALT, 4095).is_err());
    assert!(ScramCredential::derive(ScramHash::Sha256, "p", SALT, 16385).is_err());
}

#[test]
fn scram_client_refuses_a_nonce_that_does_not_extend_its_own() {
    let client =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE).unwrap();
    for nonce in [
        "XOprNGfwEbeRWgbNEkqO%hvYD",
        "rOprNGfwEbeRWgbNEkqO",
        "rOprNG",
    ] {
        let message = std::format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        assert_eq!(
            client.clone().receive(message.as_bytes()),
            Err(SaslError::Rejected(Rejection::Nonce)),
            "{nonce}"
        );
    }
}

#[test]
fn scram_limits_are_explicit() {
    // User name.
    let long = "u".repeat(MAX_USER_LEN + 1);
    assert!(matches!(
        ScramClient::new(ScramHash::Sha256, &long, "p", &random(1)),
        Err(Error::TooLarge {
            what: Limit::Field,
            limit: MAX_USER_LEN,
            ..
        })
    ));
    assert!(ScramClient::new(ScramHash::Sha256, "", "p", &random(1)).is_err());
    // Random bytes for the nonce.
    assert!(matches!(
        ScramClient::new(
            ScramHash::Sha256,
            "u",
            "p",
            &[0u8; MAX_NONCE_RANDOM_LEN + 1]
        ),
        Err(Error::TooLarge { .. })
    ));
    assert!(ScramClient::new(
        ScramHash::Sha256,
        "u",
        "p",
        &[0u8; MIN_NONCE_RANDOM_LEN - 1]
    )
    .is_err());
    assert!(ScramClient::new(ScramHash::Sha256, "u", "p", &[0u8; MAX_NONCE_RANDOM_LEN]).is_ok());
    assert!(ScramClient::with_nonce(ScramHash::Sha256, "u", "p", "a,b").is_err());
    assert!(ScramClient::with_nonce(ScramHash::Sha256, "u", "p", &"n".repeat(65)).is_err());

    let client =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE).unwrap();
    // A server nonce over MAX_NONCE_LEN.
    let nonce = std::format!("{RFC7677_CLIENT_NONCE}{}", "x".repeat(MAX_NONCE_LEN));
    let message = std::format!("r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
    assert!(matches!(
        client.clone().receive(message.as_bytes()),
        Err(SaslError::Core(Error::TooLarge {
            what: Limit::Field,
            limit: MAX_NONCE_LEN,
            ..
        }))
    ));
    // A salt over MAX_SALT_LEN (65 bytes = 88 base64 characters).
    let salt = "A".repeat(crypto::b64_len(MAX_SALT_LEN + 1));
    let message = std::format!("r={RFC7677_CLIENT_NONCE}x,s={salt},i=4096");
    assert!(matches!(
        client.clone().receive(message.as_bytes()),
        Err(SaslError::Core(Error::TooLarge {
            what: Limit::Field,
            limit: MAX_SALT_LEN,
            ..
        }))
    ));
    assert!(ScramCredential::derive(ScramHash::Sha256, "p", &[1; MAX_SALT_LEN + 1], 4096).is_err());

    // On the server: a user name over MAX_USER_LEN, a client nonce over MAX_OWN_NONCE_LEN.
    let mut out = [0u8; 512];
    for message in [
        std::format!("n,,n={long},r=abc"),
        std::format!("n,,n=u,r={}", "n".repeat(MAX_OWN_NONCE_LEN + 1)),
    ] {
        let mut server = ScramServer::new(ScramHash::Sha256, &random(1)).unwrap();
        let step = server
            .step(message.as_bytes(), &mut out, |_| {
                unreachable!("refused before the lookup")
            })
            .unwrap();
        assert!(
            matches!(
                step,
                ServerStep::Failure {
                    failure: Failure::Invalid(Error::TooLarge {
                        what: Limit::Field,
                        ..
                    }),
                    ..
                }
            ),
            "{step:?}"
        );
    }
}

#[test]
fn scram_malformed_server_messages_are_errors() {
    let client =
        ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE).unwrap();
    let n = RFC7677_CLIENT_NONCE;
    for message in [
        String::new(),
        "r=".into(),
        std::format!("r={n}x"),
        std::format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ=="),
        std::format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i="),
        std::format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=40x6"),
        std::format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-4096"),
        std::format!("r={n}x,s=,i=4096"),
        std::format!("r={n}x,s=not*base64,i=4096"),
        std::format!("m=ext,r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        std::format!("s=W22ZaJ0SNY7soEsUEjb6gQ==,r={n}x,i=4096"),
        std::format!("r={n}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"),
        std::format!("r={n}\u{7f},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
    ] {
        let result = client.clone().receive(message.as_bytes());
        assert!(
            matches!(result, Err(SaslError::Core(_) | SaslError::Rejected(_))),
            "{message:?}: {result:?}"
        );
    }
    // Extensions after the iteration count are ignored.
    let message = std::format!("{RFC7677_SERVER_FIRST},x=ext");
    assert_eq!(
        client.clone().receive(message.as_bytes()),
        Ok(Progress::Continue)
    );
}

#[test]
fn scram_malformed_client_messages_are_failures() {
    let users = Users::new();
    let lookup = |u: &str| users.scram_credential(ScramHash::Sha256, u);
    let mut out = [0u8; 256];
    for message in [
        &b""[..],
        b"n,,",
        b"n,,n=alice",
        b"n,,n=alice,r=",
        b"n,,r=abc,n=alice",
        b"p=tls-unique,,n=alice,r=abc",
        b"x,,n=alice,r=abc",
        b"n,x,n=alice,r=abc",
        b"n,,m=ext,n=alice,r=abc",
        b"n,,n=al=2xce,r=abc",
        b"n,,n=al\xffce,r=abc",
        b"n,,n=,r=abc",
        b"n,,n=alice,r=a\x01c",
    ] {
        let mut server = ScramServer::new(ScramHash::Sha256, &random(1)).unwrap();
        let step = server.step(message, &mut out, lookup).unwrap();
        assert!(
            matches!(
                step,
                ServerStep::Failure {
                    failure: Failure::Invalid(_),
                    ..
                }
            ),
            "{message:?}: {step:?}"
        );
    }
    // After a good client-first: broken client-finals.
    let mut server = ScramServer::new(ScramHash::Sha256, &random(1)).unwrap();
    let ServerStep::Challenge(n) = server.step(b"n,,n=alice,r=abc", &mut out, lookup).unwrap()
    else {
        panic!()
    };
    let first = String::from(text(&out[..n]));
    let nonce = &first[2..first.find(",s=").unwrap()];
    for (message, failure) in [
        (std::format!("c=biws,r={nonce}"), None),
        (std::format!("c=biws,r={nonce},p="), None),
        (String::from("c=biws,p=AAAA"), None),
        (std::format!("c=biws,r={nonce},p=AAAA"), None),
        (
            std::format!("c=biws,r={nonce}x,p=AAAA"),
            Some(Failure::Nonce),
        ),
        // Kafka's endsWith: a prefix before the whole nonce (librdkafka 2.0)
        // reaches the proof check.
        (
            std::format!("c=biws,r=abc{nonce},p={}=", "A".repeat(43)),
            Some(Failure::BadCredentials),
        ),
        (
            std::format!("c=eSws,r={nonce},p=AAAA"),
            Some(Failure::ChannelBinding),
        ),
        (std::format!("c=***,r={nonce},p=AAAA"), None),
    ] {
        let step = server
            .clone()
            .step(message.as_bytes(), &mut out, lookup)
            .unwrap();
        match failure {
            Some(f) => assert_eq!(
                step,
                ServerStep::Failure {
                    failure: f,
                    len: 2 + f.scram_error().as_str().len()
                }
            ),
            None => assert!(
                matches!(
                    step,
                    ServerStep::Failure {
                        failure: Failure::Invalid(_),
                        ..
                    }
                ),
                "{message}: {step:?}"
            ),
        }
    }
}

#[test]
fn scram_small_buffers_are_the_callers_error_and_change_nothing() {
    let users = Users::new();
    let lookup = |u: &str| users.scram_credential(ScramHash::Sha256, u);
    let mut client = ScramClient::new(ScramHash::Sha256, "alice", "secret", &random(1)).unwrap();
    let mut server = ScramServer::new(ScramHash::Sha256, &random(2)).unwrap();
    let (mut c, mut s) = ([0u8; 256], [0u8; 256]);
    assert_eq!(
        client.message(&mut c[..10]),
        Err(SaslError::Core(Error::BufferTooSmall))
    );
    let n = client.message(&mut c).unwrap();
    assert_eq!(
        server.step(&c[..n], &mut s[..20], lookup),
        Err(Error::BufferTooSmall)
    );
    let ServerStep::Challenge(len) = server.step(&c[..n], &mut s, lookup).unwrap() else {
        panic!()
    };
    client.receive(&s[..len]).unwrap();
    let n = client.message(&mut c).unwrap();
    assert_eq!(
        server.step(&c[..n], &mut s[..10], lookup),
        Err(Error::BufferTooSmall)
    );
    let ServerStep::Success(len) = server.step(&c[..n], &mut s, lookup).unwrap() else {
        panic!()
    };
    assert_eq!(client.receive(&s[..len]), Ok(Progress::Complete));
}

#[test]
fn scram_credential_parts() {
    let c = ScramCredential::derive(ScramHash::Sha512, "secret", SALT, 8192).unwrap();
    assert_eq!(
        (c.hash(), c.salt(), c.iterations()),
        (ScramHash::Sha512, SALT, 8192)
    );
    assert_eq!((c.stored_key().len(), c.server_key().len()), (64, 64));
    let again = ScramCredential::new(
        ScramHash::Sha512,
        SALT,
        8192,
        c.stored_key(),
        c.server_key(),
    )
    .unwrap();
    assert_eq!(again, c);
    // Keys of the other hash's length are refused.
    assert!(ScramCredential::new(
        ScramHash::Sha256,
        SALT,
        8192,
        c.stored_key(),
        c.server_key()
    )
    .is_err());
    assert!(
        ScramCredential::new(ScramHash::Sha512, &[], 8192, c.stored_key(), c.server_key()).is_err()
    );
    // No secrets in Debug output.
    let client = ScramClient::new(ScramHash::Sha256, "alice", "hunter2", &random(1)).unwrap();
    assert!(!std::format!("{client:?}").contains("hunter2"));
}

// ---------------------------------------------------------------- PLAIN

#[test]
fn plain_client_server_round_trip() {
    let users = Users::new();
    let client = PlainClient::new("alice", "secret").unwrap();
    let mut out = [0u8; 64];
    let n = client.message(&mut out).unwrap();
    assert_eq!(&out[..n], b"\0alice\0secret");
    let mut server = SaslServer::new(Mechanism::Plain, &[]).unwrap();
    assert_eq!(
        exchange(&mut client.into(), &mut server, &users),
        End::Authenticated
    );
    assert_eq!(server.user(), Some("alice"));
    // A second message is out of order.
    assert!(matches!(
        server.step(b"\0alice\0secret", &mut out, &users),
        Ok(ServerStep::Failure {
            failure: Failure::IllegalState,
            ..
        })
    ));

    let with_authzid = PlainClient::new("alice", "secret")
        .unwrap()
        .with_authzid("alice")
        .unwrap();
    let n = with_authzid.message(&mut out).unwrap();
    assert_eq!(&out[..n], b"alice\0alice\0secret");
    assert_eq!(verify_plain(&out[..n], |_| Some(b"secret")), Ok("alice"));
    assert!(!std::format!("{with_authzid:?}").contains("secret"));
}

#[test]
fn plain_server_checks_as_kafka_does() {
    let password = |user: &str| (user == "alice").then_some(b"secret".as_slice());
    let cases: [(&[u8], Failure); 9] = [
        (b"\0alice\0wrong", Failure::BadCredentials),
        (b"\0alice\0secre", Failure::BadCredentials),
        (b"\0bob\0secret", Failure::UnknownUser),
        (b"\0\0secret", Failure::MissingUser),
        (b"\0alice\0", Failure::MissingPassword),
        (b"bob\0alice\0secret", Failure::AuthorizationId),
        (
            b"\0alice",
            Failure::Invalid(Error::Malformed(
                "PLAIN message must have exactly three NUL-separated fields",
            )),
        ),
        (
            b"\0alice\0secret\0",
            Failure::Invalid(Error::Malformed(
                "PLAIN message must have exactly three NUL-separated fields",
            )),
        ),
        (b"\0al\xffce\0secret", Failure::Invalid(Error::InvalidUtf8)),
    ];
    for (message, failure) in cases {
        assert_eq!(verify_plain(message, password), Err(failure), "{message:?}");
    }
    assert_eq!(
        Failure::BadCredentials.kafka_message(Mechanism::Plain),
        "Authentication failed: Invalid username or password"
    );
    assert_eq!(
        Failure::MissingPassword.kafka_message(Mechanism::Plain),
        "Authentication failed: password not specified"
    );
    let long = std::format!("\0{}\0secret", "u".repeat(MAX_USER_LEN + 1));
    assert!(matches!(
        verify_plain(long.as_bytes(), password),
        Err(Failure::Invalid(Error::TooLarge {
            what: Limit::Field,
            ..
        }))
    ));
}

#[test]
fn plain_client_refuses_bad_fields_and_server_data() {
    assert!(PlainClient::new("", "p").is_err());
    assert!(PlainClient::new("u", "").is_err());
    assert!(PlainClient::new("u\0v", "p").is_err());
    assert!(PlainClient::new("u", "p\0").is_err());
    assert!(matches!(
        PlainClient::new(&"u".repeat(MAX_USER_LEN + 1), "p"),
        Err(Error::TooLarge { .. })
    ));
    let mut client = PlainClient::new("u", "p").unwrap();
    assert_eq!(
        client.message(&mut [0u8; 3]),
        Err(SaslError::Core(Error::BufferTooSmall))
    );
    assert_eq!(
        client.clone().receive(b"?"),
        Err(SaslError::Rejected(Rejection::UnexpectedServerData))
    );
    assert_eq!(client.receive(b""), Ok(Progress::Complete));
    assert!(client.receive(b"").is_err());
}

// ---------------------------------------------------------------- OAUTHBEARER

#[test]
fn oauthbearer_client_message_is_rfc7628s() {
    let client = OAuthBearerClient::new("eyJhbGciOi.eyJzdWIi.sig-_").unwrap();
    let mut out = [0u8; 128];
    let n = client.message(&mut out).unwrap();
    assert_eq!(
        &out[..n],
        b"n,,\x01auth=Bearer eyJhbGciOi.eyJzdWIi.sig-_\x01\x01"
    );

    let extensions = [("traceId", "abc 123"), ("logicalCluster", "lkc-1")];
    let client = client.with_extensions(&extensions).unwrap();
    let n = client.message(&mut out).unwrap();
    assert_eq!(
        &out[..n],
        &b"n,,\x01auth=Bearer eyJhbGciOi.eyJzdWIi.sig-_\x01traceId=abc 123\x01logicalCluster=lkc-1\x01\x01"[..]
    );
    let parsed = OAuthBearerMessage::parse(&out[..n]).unwrap();
    assert_eq!(parsed.token(), "eyJhbGciOi.eyJzdWIi.sig-_");
    assert_eq!(parsed.authzid(), None);
    assert_eq!(parsed.extensions().collect::<Vec<_>>(), extensions);
    assert!(!std::format!("{client:?}").contains("eyJ"));

    for bad in ["", "a b", "a\x01b", "=abc", "tok,en"] {
        assert!(OAuthBearerClient::new(bad).is_err(), "{bad:?}");
    }
    let token = OAuthBearerClient::new("t").unwrap();
    for bad in [
        [("auth", "x")],
        [("k1", "v")],
        [("", "v")],
        [("k", "")],
        [("k", "a\x01b")],
    ] {
        assert!(token.with_extensions(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn oauthbearer_round_trip_and_invalid_token() {
    let users = Users::new();
    let mut server = SaslServer::new(Mechanism::OAuthBearer, &[]).unwrap();
    let client = OAuthBearerClient::new("good.token").unwrap();
    assert_eq!(
        exchange(&mut client.into(), &mut server, &users),
        End::Authenticated
    );

    // A refused token: the error JSON, the client's %x01, then the failure.
    let mut client = OAuthBearerClient::new("bad.token").unwrap();
    let mut server = OAuthBearerServer::new();
    let (mut c, mut s) = ([0u8; 128], [0u8; 128]);
    let n = client.message(&mut c).unwrap();
    let step = server
        .step(&c[..n], &mut s, |m| users.validate_token(m))
        .unwrap();
    let ServerStep::Challenge(len) = step else {
        panic!("{step:?}")
    };
    assert_eq!(&s[..len], br#"{"status":"invalid_token"}"#);
    assert_eq!(client.receive(&s[..len]), Ok(Progress::Continue));
    let n = client.message(&mut c).unwrap();
    assert_eq!(&c[..n], b"\x01");
    let step = server.step(&c[..n], &mut s, |_| unreachable!()).unwrap();
    assert_eq!(
        step,
        ServerStep::Failure {
            failure: Failure::InvalidToken,
            len: 0
        }
    );
    assert_eq!(
        Failure::InvalidToken.kafka_message(Mechanism::OAuthBearer),
        INVALID_TOKEN_ERROR
    );
    // A server that carries on after the error is refused by the client.
    assert_eq!(
        client.receive(b""),
        Err(SaslError::Rejected(Rejection::OAuthBearerError))
    );
    assert!(!client.is_complete());
}

#[test]
fn oauthbearer_server_parses_as_kafka_does() {
    let ok = OAuthBearerMessage::parse;
    let m = ok(b"n,a=user,\x01auth=bearer   abc.def=\x01k=v v\x01\x01").unwrap();
    assert_eq!((m.authzid(), m.token()), (Some("user"), "abc.def="));
    assert_eq!(m.extensions().collect::<Vec<_>>(), [("k", "v v")]);
    let m = ok(b"y,,\x01x=1\x01auth=Bearer t\x01\x01").unwrap();
    assert_eq!(m.extensions().collect::<Vec<_>>(), [("x", "1")]);

    for bad in [
        &b""[..],
        b"n,,",
        b"n,,\x01\x01",
        b"n,,\x01auth=Bearer t\x01",
        b"n,,auth=Bearer t\x01\x01",
        b"n,,\x01auth=Basic t\x01\x01",
        b"n,,\x01auth=Bearer\x01\x01",
        b"n,,\x01auth=Bearer \x01\x01",
        b"n,,\x01auth=Bearer t t\x01\x01",
        b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
        b"n,,\x01k=v\x01\x01",
        b"n,,\x01auth=Bearer t\x01k1=v\x01\x01",
        b"n,,\x01auth=Bearer t\x01k=\x01\x01",
        b"n,,\x01auth=Bearer t\x01k\x01\x01",
        b"n,,\x01auth=Bearer t\x01\x01\x01\x01",
        b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
        b"n,b=x,\x01auth=Bearer t\x01\x01",
        b"n,a=,\x01auth=Bearer t\x01\x01",
    ] {
        assert!(ok(bad).is_err(), "{bad:?}");
        let mut server = OAuthBearerServer::new();
        let step = server
            .step(bad, &mut [0u8; 64], |_| unreachable!("not parsed"))
            .unwrap();
        assert!(
            matches!(
                step,
                ServerStep::Failure {
                    failure: Failure::Invalid(_),
                    len: 0
                }
            ),
            "{bad:?}"
        );
    }
    // Anything but %x01 after the error is a failure too.
    let mut server = OAuthBearerServer::new();
    let mut out = [0u8; 64];
    server
        .step(b"n,,\x01auth=Bearer t\x01\x01", &mut out, |_| false)
        .unwrap();
    assert!(matches!(
        server.step(b"n,,\x01auth=Bearer t\x01\x01", &mut out, |_| true),
        Ok(ServerStep::Failure {
            failure: Failure::Invalid(_),
            ..
        })
    ));
    // The error JSON needs room.
    let mut server = OAuthBearerServer::new();
    assert_eq!(
        server.step(b"n,,\x01auth=Bearer t\x01\x01", &mut out[..5], |_| false),
        Err(Error::BufferTooSmall)
    );
}

// ---------------------------------------------------------------- arbitrary input

/// Applies `edits` (position, kind, byte) to `valid`: truncate, replace, insert.
fn mutate(valid: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut m = valid.to_vec();
    for &(at, kind, byte) in edits {
        let at = if m.is_empty() { 0 } else { at % (m.len() + 1) };
        match kind % 3 {
            0 => m.truncate(at),
            1 if at < m.len() => m[at] = byte,
            _ => m.insert(at, byte),
        }
    }
    m
}

/// A SCRAM-SHA-256 client after a valid server-first (PBKDF2 done once).
fn scram_client_at_final() -> ScramClient<'static> {
    static CLIENT: OnceLock<ScramClient<'static>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let mut client =
                ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE)
                    .unwrap();
            client.receive(RFC7677_SERVER_FIRST.as_bytes()).unwrap();
            client
        })
        .clone()
}

/// [`Users`], derived once for the property tests.
fn shared_users() -> &'static Users {
    static USERS: OnceLock<Users> = OnceLock::new();
    USERS.get_or_init(Users::new)
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..4)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary (and nearly valid) server messages never panic any client
    /// mechanism, at any step: they are accepted or an error.
    #[test]
    fn arbitrary_server_messages_never_panic_a_client(
        noise in bytes(),
        edits in edits(),
    ) {
        let first = mutate(RFC7677_SERVER_FIRST.as_bytes(), &edits);
        let last = mutate(RFC7677_SERVER_FINAL.as_bytes(), &edits);
        let mut out = [0u8; 512];
        for message in [&noise[..], &first[..], &last[..]] {
            // SCRAM, at server-first (PBKDF2 only runs for a well-formed one)…
            let mut c = ScramClient::with_nonce(
                ScramHash::Sha256, "user", "pencil", RFC7677_CLIENT_NONCE).unwrap();
            if c.receive(message).is_ok() {
                c.message(&mut out).unwrap();
            }
            // …and at server-final.
            let mut c = scram_client_at_final();
            match c.receive(message) {
                Ok(p) => prop_assert!(p == Progress::Complete && message.starts_with(b"v=")),
                Err(_) => prop_assert!(c.message(&mut out).is_err()),
            }
            let mut c = SaslClient::from(PlainClient::new("u", "p").unwrap());
            prop_assert_eq!(c.receive(message).is_ok(), message.is_empty());
            let mut c = SaslClient::from(OAuthBearerClient::new("t").unwrap());
            if c.receive(message).is_ok() && !message.is_empty() {
                prop_assert_eq!(c.message(&mut out).unwrap(), 1);
                prop_assert!(c.receive(message).is_err());
            }
        }
    }

    /// Arbitrary (and nearly valid) client messages never panic a server:
    /// every one is answered.
    #[test]
    fn arbitrary_client_messages_never_panic_a_server(
        noise in bytes(),
        edits in edits(),
    ) {
        let users = shared_users();
        let mut out = [0u8; 512];
        let final_message = RFC7677_CLIENT_FINAL.replace("user", "alice");
        let candidates = [
            noise.clone(),
            mutate(b"n,,n=alice,r=rOprNGfwEbeRWgbNEkqO", &edits),
            mutate(final_message.as_bytes(), &edits),
            mutate(b"\0alice\0secret", &edits),
            mutate(b"n,,\x01auth=Bearer good.token\x01k=v\x01\x01", &edits),
        ];
        for message in &candidates {
            for mechanism in Mechanism::ALL {
                let mut server = SaslServer::new(mechanism, &random(1)).unwrap();
                let first = server.step(message, &mut out, users).unwrap();
                if let ServerStep::Challenge(len) | ServerStep::Success(len) = first {
                    prop_assert!(len <= out.len());
                }
                // A second message at whatever step that left.
                for second in &candidates {
                    let _ = server.clone().step(second, &mut out, users).unwrap();
                }
            }
        }
    }
}

// ---------------------------------------------------------------- the Kafka exchange

/// A broker's SASL side, sans-IO, as Kafka's `SaslServerAuthenticator` answers.
struct Broker {
    enabled: &'static [&'static str],
    users: &'static Users,
    server: Option<SaslServer>,
    lifetime_ms: i64,
    handshakes: usize,
}

impl Broker {
    fn new(enabled: &'static [&'static str]) -> Self {
        Broker {
            enabled,
            users: shared_users(),
            server: None,
            lifetime_ms: 3_600_000,
            handshakes: 0,
        }
    }

    /// Answers one request frame with one response frame.
    fn answer(&mut self, request: &[u8], out: &mut [u8]) -> usize {
        let (body, used) = split_frame(request, 1 << 20).unwrap().unwrap();
        assert_eq!(used, request.len(), "exactly one frame");
        let mut r = Reader::new(body);
        let header = RequestHeader::decode(&mut r).unwrap();
        let (id, version) = (header.correlation_id, header.api_version);
        match header.api().unwrap() {
            ApiKey::SaslHandshake => {
                let wire = SaslHandshakeRequest::wire_version(version).unwrap();
                let request = SaslHandshakeRequest::decode(&mut r, wire).unwrap();
                assert!(r.is_empty());
                self.handshakes += 1;
                let error_code = if self.server.is_some() {
                    ErrorCode::ILLEGAL_SASL_STATE
                } else if self.enabled.contains(&request.mechanism) {
                    let mechanism = Mechanism::from_name(request.mechanism).unwrap();
                    self.server = Some(SaslServer::new(mechanism, &random(99)).unwrap());
                    ErrorCode::NONE
                } else {
                    ErrorCode::UNSUPPORTED_SASL_MECHANISM
                };
                let response = SaslHandshakeResponse {
                    error_code,
                    mechanisms: Array::new(self.enabled),
                };
                encode_response(out, id, version, &response).unwrap()
            }
            ApiKey::SaslAuthenticate => {
                let wire = SaslAuthenticateRequest::wire_version(version).unwrap();
                let request = SaslAuthenticateRequest::decode(&mut r, wire).unwrap();
                assert!(r.is_empty(), "nothing after the request body");
                let mut bytes = [0u8; 512];
                let Some(server) = self.server.as_mut() else {
                    let response = SaslAuthenticateResponse {
                        error_code: ErrorCode::ILLEGAL_SASL_STATE,
                        error_message: Some("Unexpected SaslAuthenticate request"),
                        ..Default::default()
                    };
                    return encode_response(out, id, version, &response).unwrap();
                };
                let mechanism = server.mechanism();
                let response = match server
                    .step(request.auth_bytes, &mut bytes, self.users)
                    .unwrap()
                {
                    ServerStep::Challenge(len) => SaslAuthenticateResponse {
                        auth_bytes: &bytes[..len],
                        ..Default::default()
                    },
                    ServerStep::Success(len) => SaslAuthenticateResponse {
                        auth_bytes: &bytes[..len],
                        session_lifetime_ms: self.lifetime_ms,
                        ..Default::default()
                    },
                    ServerStep::Failure { failure, .. } => SaslAuthenticateResponse {
                        error_code: ErrorCode::SASL_AUTHENTICATION_FAILED,
                        error_message: Some(failure.kafka_message(mechanism)),
                        ..Default::default()
                    },
                };
                encode_response(out, id, version, &response).unwrap()
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn connection(authenticate_max: i16) -> Connection<4> {
    let mut conn = Connection::<4>::new(Some("microkafka-test")).unwrap();
    conn.set_versions(NegotiatedVersions::from_ranges([
        (ApiKey::SaslHandshake.key(), VersionRange::new(0, 1)),
        (
            ApiKey::SaslAuthenticate.key(),
            VersionRange::new(0, authenticate_max),
        ),
    ]));
    conn
}

/// Drives `auth` against `broker` until it authenticates or fails; also
/// returns the number of requests sent.
fn drive<C: ClientMechanism>(
    auth: &mut Authenticator<C>,
    conn: &mut Connection<4>,
    broker: &mut Broker,
) -> (Result<Session, String>, usize) {
    let (mut request, mut response) = ([0u8; 1024], [0u8; 1024]);
    for sent_count in 1..=8 {
        assert!(auth.wants_to_send());
        let sent = auth.encode(conn, &mut request).unwrap();
        assert!(!auth.wants_to_send());
        let n = broker.answer(&request[..sent.len], &mut response);
        let (body, _) = split_frame(&response[..n], 1 << 20).unwrap().unwrap();
        let received = conn.receive(body).unwrap();
        match auth.receive(&received) {
            Ok(Step::Continue) => {}
            Ok(Step::Authenticated(session)) => {
                assert_eq!(auth.session(), Some(session));
                assert!(auth.is_authenticated());
                return (Ok(session), sent_count);
            }
            Err(e) => {
                assert!(auth.has_failed());
                return (Err(std::format!("{e:?}")), sent_count);
            }
        }
    }
    panic!("exchange did not end");
}

#[test]
fn authenticator_runs_every_mechanism_at_every_authenticate_version() {
    const ALL: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];
    for version in 0..=2 {
        let clients: [(SaslClient<'_>, usize); 4] = [
            (PlainClient::new("alice", "secret").unwrap().into(), 2),
            (
                ScramClient::new(ScramHash::Sha256, "alice", "secret", &random(1))
                    .unwrap()
                    .into(),
                3,
            ),
            (
                ScramClient::new(ScramHash::Sha512, "alice", "secret", &random(2))
                    .unwrap()
                    .into(),
                3,
            ),
            (OAuthBearerClient::new("good.token").unwrap().into(), 2),
        ];
        for (client, requests) in clients {
            let mechanism = client.mechanism();
            let mut broker = Broker::new(ALL);
            let mut conn = connection(version);
            let mut auth = Authenticator::new(client);
            assert_eq!(auth.mechanism(), mechanism);
            let (session, sent) = drive(&mut auth, &mut conn, &mut broker);
            let session = session.unwrap();
            assert_eq!(sent, requests, "{mechanism} v{version}");
            assert_eq!(session.mechanism, mechanism);
            // The lifetime is only in v1+.
            let lifetime = if version >= 1 { 3_600_000 } else { 0 };
            assert_eq!(session.lifetime_ms, lifetime, "{mechanism} v{version}");
            assert_eq!(session.expires(), version >= 1);
            assert_eq!(conn.in_flight(), 0);
            assert!(
                auth.encode(&mut conn, &mut [0u8; 256]).is_err(),
                "nothing more to send"
            );
        }
    }
}

#[test]
fn authenticator_reports_the_brokers_mechanisms_when_unsupported() {
    let mut broker = Broker::new(&["GSSAPI", "SCRAM-SHA-512", "OAUTHBEARER"]);
    let mut conn = connection(2);
    let mut auth = Authenticator::new(PlainClient::new("alice", "secret").unwrap());
    let mut request = [0u8; 256];
    let sent = auth.encode(&mut conn, &mut request).unwrap();
    assert_eq!(sent.version, 1, "SaslHandshake v1");
    let mut response = [0u8; 256];
    let n = broker.answer(&request[..sent.len], &mut response);
    let (body, _) = split_frame(&response[..n], 1 << 20).unwrap().unwrap();
    let received = conn.receive(body).unwrap();
    let error = auth.receive(&received).unwrap_err();
    let SaslError::UnsupportedMechanism { requested, enabled } = error else {
        panic!("{error:?}")
    };
    assert_eq!(requested, Mechanism::Plain);
    assert_eq!(
        enabled.names().collect::<Vec<_>>(),
        ["GSSAPI", "SCRAM-SHA-512", "OAUTHBEARER"]
    );
    assert!(enabled.contains(Mechanism::ScramSha512) && !enabled.contains(Mechanism::Plain));
    assert_eq!(
        enabled.known().collect::<Vec<_>>(),
        [Mechanism::ScramSha512, Mechanism::OAuthBearer]
    );
    assert_eq!(
        std::format!("{error}"),
        "the broker does not enable SASL mechanism PLAIN (it enables: GSSAPI, SCRAM-SHA-512, OAUTHBEARER)"
    );
    assert_eq!(
        error.error_code(),
        Some(ErrorCode::UNSUPPORTED_SASL_MECHANISM)
    );
    assert!(!error.is_retriable());
    assert!(auth.has_failed() && !auth.wants_to_send());
}

#[test]
fn authenticator_keeps_the_brokers_authentication_failure_message() {
    let cases: [(SaslClient<'_>, &str); 4] = [
        (
            PlainClient::new("alice", "wrong").unwrap().into(),
            "Authentication failed: Invalid username or password",
        ),
        (
            ScramClient::new(ScramHash::Sha256, "alice", "wrong", &random(3)).unwrap().into(),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256",
        ),
        (
            ScramClient::new(ScramHash::Sha512, "nobody", "secret", &random(4)).unwrap().into(),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512",
        ),
        // A refused token: the JSON challenge, the client's %x01, then the failure.
        (OAuthBearerClient::new("bad.token").unwrap().into(), INVALID_TOKEN_ERROR),
    ];
    for (client, message) in cases {
        let mut broker = Broker::new(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]);
        let mut conn = connection(2);
        let mut auth = Authenticator::new(client);
        let (mut request, mut response) = ([0u8; 512], [0u8; 512]);
        let error = loop {
            let sent = auth.encode(&mut conn, &mut request).unwrap();
            let n = broker.answer(&request[..sent.len], &mut response);
            let (body, _) = split_frame(&response[..n], 1 << 20).unwrap().unwrap();
            let received = conn.receive(body).unwrap();
            match auth.receive(&received) {
                Ok(Step::Continue) => continue,
                Ok(step) => panic!("{step:?}"),
                Err(e) => break e,
            }
        };
        assert_eq!(
            error,
            SaslError::AuthenticationFailed {
                message: Some(message)
            }
        );
        assert_eq!(
            error.error_code(),
            Some(ErrorCode::SASL_AUTHENTICATION_FAILED)
        );
        assert!(!error.is_retriable());
        assert!(std::format!("{error}").ends_with(message));
        assert!(auth.has_failed());
    }
}

#[test]
fn authenticator_reports_illegal_sasl_state() {
    // A broker that already ran a handshake on this connection.
    let mut broker = Broker::new(&["PLAIN"]);
    broker.server = Some(SaslServer::new(Mechanism::Plain, &[]).unwrap());
    let mut conn = connection(1);
    let mut auth = Authenticator::new(PlainClient::new("alice", "secret").unwrap());
    let (result, sent) = drive(&mut auth, &mut conn, &mut broker);
    assert_eq!(
        (result, sent),
        (Err(std::format!("{:?}", SaslError::IllegalState)), 1)
    );
}

#[test]
fn authenticator_frames_match_the_general_codec() {
    let client_ids = [
        None,
        Some("c"),
        Some("a-client-id-of-sixty-four-characters-which-is-the-longest-kept.."),
    ];
    assert_eq!(client_ids[2].unwrap().len(), 64);
    for client_id in client_ids {
        for version in 0..=2 {
            let mut conn = Connection::<4>::new(client_id).unwrap();
            conn.set_versions(NegotiatedVersions::from_ranges([
                (ApiKey::SaslHandshake.key(), VersionRange::new(1, 1)),
                (
                    ApiKey::SaslAuthenticate.key(),
                    VersionRange::new(0, version),
                ),
            ]));
            // A token long enough for a two-byte compact length.
            let token = "t".repeat(200);
            let client = OAuthBearerClient::new(&token).unwrap();
            let mut auth = Authenticator::new(client);
            let mut buf = [0u8; 512];
            let handshake = auth.encode(&mut conn, &mut buf).unwrap();
            let mut general = [0u8; 512];
            let n = encode_request(
                &mut general,
                handshake.correlation_id,
                client_id,
                1,
                &SaslHandshakeRequest {
                    mechanism: "OAUTHBEARER",
                },
            )
            .unwrap();
            assert_eq!(buf[..handshake.len], general[..n]);
            // Answer the handshake, then compare the SaslAuthenticate frame.
            let response = SaslHandshakeResponse::default();
            let mut frame = [0u8; 64];
            let m = encode_response(&mut frame, handshake.correlation_id, 1, &response).unwrap();
            let (body, _) = split_frame(&frame[..m], 1 << 20).unwrap().unwrap();
            assert_eq!(
                auth.receive(&conn.receive(body).unwrap()),
                Ok(Step::Continue)
            );

            let sent = auth.encode(&mut conn, &mut buf).unwrap();
            assert_eq!((sent.version, sent.correlation_id), (version, 1));
            assert!(sent.expects_response);
            let mut message = [0u8; 512];
            let len = SaslClient::from(client).message(&mut message).unwrap();
            let request = SaslAuthenticateRequest {
                auth_bytes: &message[..len],
            };
            let n = encode_request(&mut general, 1, client_id, version, &request).unwrap();
            assert_eq!(buf[..sent.len], general[..n], "{client_id:?} v{version}");
        }
    }
}

#[test]
fn authenticator_errors_before_sending_change_nothing() {
    // Versions not agreed.
    let mut conn = Connection::<1>::new(None).unwrap();
    let mut auth = Authenticator::new(PlainClient::new("alice", "secret").unwrap());
    let mut buf = [0u8; 256];
    assert!(matches!(
        auth.encode(&mut conn, &mut buf),
        Err(SaslError::Core(Error::Malformed(_)))
    ));
    // A broker without SaslHandshake v1.
    conn.set_versions(NegotiatedVersions::from_ranges([
        (ApiKey::SaslHandshake.key(), VersionRange::new(0, 0)),
        (ApiKey::SaslAuthenticate.key(), VersionRange::new(0, 2)),
    ]));
    assert_eq!(
        auth.encode(&mut conn, &mut buf),
        Err(SaslError::Core(Error::NoCommonVersion {
            api: ApiKey::SaslHandshake
        }))
    );
    // A broker without SASL at all.
    conn.set_versions(NegotiatedVersions::NONE);
    assert_eq!(
        auth.encode(&mut conn, &mut buf),
        Err(SaslError::Core(Error::ApiNotSupported {
            api: ApiKey::SaslHandshake
        }))
    );
    assert!(auth.wants_to_send() && !auth.has_failed());

    // Buffers too small for the handshake, then for the authenticate request.
    let mut conn = connection(2);
    let mut broker = Broker::new(&["PLAIN"]);
    assert_eq!(
        auth.encode(&mut conn, &mut buf[..10]),
        Err(SaslError::Core(Error::BufferTooSmall))
    );
    let sent = auth.encode(&mut conn, &mut buf).unwrap();
    let mut response = [0u8; 256];
    let n = broker.answer(&buf[..sent.len], &mut response);
    let (body, _) = split_frame(&response[..n], 1 << 20).unwrap().unwrap();
    // A response for another API is refused without ending the exchange.
    let other = crate::client::Received {
        api: ApiKey::Heartbeat,
        ..conn.clone().receive(body).unwrap()
    };
    assert!(auth.receive(&other).is_err());
    assert!(!auth.has_failed());
    auth.receive(&conn.receive(body).unwrap()).unwrap();
    for small in [50, 96, 96 + 13] {
        assert_eq!(
            auth.encode(&mut conn, &mut buf[..small]),
            Err(SaslError::Core(Error::BufferTooSmall)),
            "{small}"
        );
        assert_eq!(conn.in_flight(), 0, "nothing recorded in flight");
    }
    // The first encode after them is still the first SaslAuthenticate.
    let sent = auth.encode(&mut conn, &mut buf).unwrap();
    let n = broker.answer(&buf[..sent.len], &mut response);
    let (body, _) = split_frame(&response[..n], 1 << 20).unwrap().unwrap();
    assert!(matches!(
        auth.receive(&conn.receive(body).unwrap()),
        Ok(Step::Authenticated(_))
    ));
}

#[test]
fn reauthentication_falls_between_85_and_95_percent_of_the_lifetime() {
    let session = Session {
        mechanism: Mechanism::ScramSha256,
        lifetime_ms: 3_600_000,
    };
    assert_eq!(session.reauthenticate_after_ms(0), Some(3_060_000));
    assert_eq!(session.reauthenticate_after_ms(u32::MAX), Some(3_419_999));
    assert_eq!(session.reauthenticate_after_ms(1 << 31), Some(3_240_000));
    assert_eq!(session.reauthenticate_at(1_000, 0), Some(3_061_000));
    assert_eq!(session.reauthenticate_at(u64::MAX, 0), Some(u64::MAX));
    for random in [1u32, 12345, 0x8000_0001, 0xdead_beef] {
        let after = session.reauthenticate_after_ms(random).unwrap();
        assert!((3_060_000..3_420_000).contains(&after));
    }
    let huge = Session {
        lifetime_ms: i64::MAX as u64,
        ..session
    };
    assert!(huge.reauthenticate_after_ms(u32::MAX).unwrap() < i64::MAX as u64);
    let never = Session {
        lifetime_ms: 0,
        ..session
    };
    assert!(!never.expires());
    assert_eq!(never.reauthenticate_at(5, 7), None);
}

/// Re-authentication (KIP-368): a new Authenticator on the same,
/// authenticated connection, correlation ids carrying on.
#[test]
fn reauthentication_runs_a_new_exchange_on_the_same_connection() {
    let mut conn = connection(2);
    let mut broker = Broker::new(&["SCRAM-SHA-256"]);
    broker.lifetime_ms = 60_000;
    let client = ScramClient::new(ScramHash::Sha256, "alice", "secret", &random(5)).unwrap();
    let (session, _) = drive(&mut Authenticator::new(client), &mut conn, &mut broker);
    let at = session.unwrap().reauthenticate_at(10_000, 0).unwrap();
    assert_eq!(at, 10_000 + 51_000);
    // The broker starts a new SASL server for the re-authentication.
    broker.server = None;
    let client = ScramClient::new(ScramHash::Sha256, "alice", "secret", &random(6)).unwrap();
    let mut auth = Authenticator::new(client);
    let (session, sent) = drive(&mut auth, &mut conn, &mut broker);
    assert_eq!((session.unwrap().lifetime_ms, sent), (60_000, 3));
    assert_eq!(broker.handshakes, 2);
}

#[test]
fn sasl_errors_display_and_classify() {
    let e: SaslError<'_> = Error::Truncated.into();
    assert_eq!(e.error_code(), None);
    assert!(core::error::Error::source(&e).is_some());
    let e = SaslError::Broker(ErrorCode::NOT_COORDINATOR);
    assert_eq!(e.is_retriable(), ErrorCode::NOT_COORDINATOR.is_retriable());
    let e = SaslError::AuthenticationFailed { message: None };
    assert_eq!(std::format!("{e}"), "SASL authentication failed");
    let e = SaslError::Rejected(Rejection::IterationCount(1));
    assert_eq!(
        std::format!("{e}"),
        "SASL server rejected: SCRAM iteration count 1 outside 4096..=16384"
    );
    for error in ScramError::ALL {
        assert_eq!(ScramError::parse(error.as_str().as_bytes()), error);
    }
}

#[test]
fn server_refuses_too_few_random_bytes_for_scram() {
    assert!(SaslServer::new(Mechanism::ScramSha256, &[1; 8]).is_err());
    assert!(SaslServer::new(Mechanism::Plain, &[]).is_ok());
    let server = SaslServer::new(Mechanism::ScramSha512, &random(1)).unwrap();
    assert_eq!(server.mechanism(), Mechanism::ScramSha512);
    assert!(!server.is_complete() && server.user().is_none());
}

#[test]
fn default_credentials_know_nobody() {
    struct Nobody;
    impl ServerCredentials for Nobody {}
    for (mechanism, message) in [
        (Mechanism::Plain, &b"\0alice\0secret"[..]),
        (Mechanism::ScramSha256, b"n,,n=alice,r=abc"),
        (Mechanism::OAuthBearer, b"n,,\x01auth=Bearer t\x01\x01"),
    ] {
        let mut server = SaslServer::new(mechanism, &random(1)).unwrap();
        let mut out = [0u8; 64];
        let step = server.step(message, &mut out, &Nobody).unwrap();
        assert!(
            !matches!(step, ServerStep::Success(_)),
            "{mechanism}: {step:?}"
        );
    }
}
