//! PLAIN (RFC 4616): `authzid NUL authcid NUL password`, one message, answered by nothing.

use core::fmt;

use super::crypto;
use super::{
    ClientMechanism, Failure, Mechanism, Progress, Rejection, SaslError, MAX_USER_LEN, OUT_OF_ORDER,
};
use crate::error::{Error, Result};
use crate::wire::Writer;

/// PLAIN's client side: the user name and password, borrowed.
#[derive(Clone, Copy)]
pub struct PlainClient<'a> {
    authzid: &'a str,
    user: &'a str,
    password: &'a str,
    state: PlainState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlainState {
    Initial,
    Complete,
    Failed,
}

fn check_field(field: &str) -> Result<()> {
    if field.contains('\0') {
        return Err(Error::Malformed("PLAIN fields cannot contain NUL"));
    }
    Ok(())
}

impl<'a> PlainClient<'a> {
    /// A client authenticating as `user` with `password` (no authorization id, as Kafka's clients).
    ///
    /// Errors: [`Error::Malformed`] for an empty user name or password (Kafka
    /// refuses both) or one with a NUL; [`Error::TooLarge`] for a user name
    /// over [`MAX_USER_LEN`] bytes.
    pub fn new(user: &'a str, password: &'a str) -> Result<Self> {
        if user.is_empty() || password.is_empty() {
            return Err(Error::Malformed(
                "PLAIN user name and password cannot be empty",
            ));
        }
        if user.len() > MAX_USER_LEN {
            return Err(Error::TooLarge {
                what: crate::Limit::Field,
                size: user.len(),
                limit: MAX_USER_LEN,
            });
        }
        check_field(user)?;
        check_field(password)?;
        Ok(PlainClient {
            authzid: "",
            user,
            password,
            state: PlainState::Initial,
        })
    }

    /// Asks to act as `authzid` (Kafka accepts only the user's own name).
    pub fn with_authzid(mut self, authzid: &'a str) -> Result<Self> {
        check_field(authzid)?;
        self.authzid = authzid;
        Ok(self)
    }
}

impl ClientMechanism for PlainClient<'_> {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Plain
    }

    /// True once the server accepted the credentials.
    fn is_complete(&self) -> bool {
        self.state == PlainState::Complete
    }

    /// Writes `authzid NUL user NUL password`; returns its length.
    ///
    /// Errors: [`Error::BufferTooSmall`], or [`Error::Malformed`] after the exchange.
    fn message(&self, out: &mut [u8]) -> Result<usize, SaslError<'static>> {
        if self.state != PlainState::Initial {
            return Err(OUT_OF_ORDER.into());
        }
        let mut w = Writer::new(out);
        for piece in [self.authzid, "\0", self.user, "\0", self.password] {
            w.put(piece.as_bytes())?;
        }
        Ok(w.position())
    }

    /// Reads the server's answer: PLAIN servers answer nothing (an empty
    /// message); anything else is [`Rejection::UnexpectedServerData`].
    fn receive(&mut self, server: &[u8]) -> Result<Progress, SaslError<'static>> {
        if self.state != PlainState::Initial {
            return Err(OUT_OF_ORDER.into());
        }
        if !server.is_empty() {
            self.state = PlainState::Failed;
            return Err(SaslError::Rejected(Rejection::UnexpectedServerData));
        }
        self.state = PlainState::Complete;
        Ok(Progress::Complete)
    }
}

impl fmt::Debug for PlainClient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClient")
            .field("authzid", &self.authzid)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("state", &self.state)
            .finish()
    }
}

/// PLAIN's server side: checks `message` and returns the authenticated user.
///
/// `password_of` gives the password of a user, if the user exists; the
/// comparison is constant-time in the password's contents. As Kafka's
/// `PlainSaslServer`: exactly three NUL-separated UTF-8 fields, a non-empty
/// user name and password, the right password, and an authorization id that
/// is empty or the user name — the failure says which check failed
/// ([`Failure::kafka_message`] gives Kafka's text).
pub fn verify_plain<'m, 'p>(
    message: &'m [u8],
    password_of: impl FnOnce(&str) -> Option<&'p [u8]>,
) -> Result<&'m str, Failure> {
    let mut fields = message.split(|&b| b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(Failure::Invalid(Error::Malformed(
            "PLAIN message must have exactly three NUL-separated fields",
        )));
    };
    let text =
        |field| core::str::from_utf8(field).map_err(|_| Failure::Invalid(Error::InvalidUtf8));
    let (authzid, user) = (text(authzid)?, text(user)?);
    if user.is_empty() {
        return Err(Failure::MissingUser);
    }
    if password.is_empty() {
        return Err(Failure::MissingPassword);
    }
    if user.len() > MAX_USER_LEN {
        return Err(Failure::Invalid(Error::TooLarge {
            what: crate::Limit::Field,
            size: user.len(),
            limit: MAX_USER_LEN,
        }));
    }
    match password_of(user) {
        Some(expected) if crypto::ct_eq(expected, password) => {}
        Some(_) => return Err(Failure::BadCredentials),
        None => return Err(Failure::UnknownUser),
    }
    if !authzid.is_empty() && authzid != user {
        return Err(Failure::AuthorizationId);
    }
    Ok(user)
}
