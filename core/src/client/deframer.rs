//! [`Deframer`]: response frames cut out of a byte stream, without I/O.

use crate::error::{Error, Result};
use crate::protocol::frame::SIZE_PREFIX_LEN;
use crate::Limit;

/// Where the current frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Stage {
    /// This many bytes of the size prefix are in.
    Prefix(usize),
    /// The prefix said `size` body bytes; `got` are in.
    Body { size: usize, got: usize },
    /// The prefix was refused, for this reason: the stream cannot be read
    /// further.
    Refused(Error),
}

/// Cuts a connection's byte stream into frames: a 4-byte big-endian size,
/// then that many bytes of body (a response header and body).
///
/// The caller moves the bytes and owns the memory: it reads from its
/// stream into the slice [`next_read`](Self::next_read) gives (the rest of
/// the size prefix, kept here, or the rest of the body, in the caller's
/// body buffer) and reports how many came with [`advance`](Self::advance),
/// which says when the frame is whole. A client reading from a buffer it
/// already holds uses [`feed`](Self::feed) instead. A body buffer may grow
/// as the bytes arrive ([`size`](Self::size) and
/// [`body_received`](Self::body_received) say how much is due): a prefix
/// is only a claim, and a peer claiming 64 MiB then falling silent should
/// cost what it sent.
///
/// A negative size is [`Error::InvalidLength`]; one above the limit
/// [`Error::TooLarge`] ([`Limit::ResponseFrame`]). After either the stream
/// cannot be trusted: close it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Deframer {
    limit: usize,
    prefix: [u8; SIZE_PREFIX_LEN],
    stage: Stage,
}

impl Deframer {
    /// A deframer accepting bodies of at most `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        Deframer {
            limit,
            prefix: [0; SIZE_PREFIX_LEN],
            stage: Stage::Prefix(0),
        }
    }

    /// The largest body accepted.
    pub const fn limit(&self) -> usize {
        self.limit
    }

    /// The current frame's body size, once its prefix is in (and accepted).
    pub const fn size(&self) -> Option<usize> {
        match self.stage {
            Stage::Body { size, .. } => Some(size),
            _ => None,
        }
    }

    /// Body bytes of the current frame received so far.
    pub const fn body_received(&self) -> usize {
        match self.stage {
            Stage::Body { got, .. } => got,
            _ => 0,
        }
    }

    /// True once the current frame is whole (until [`reset`](Self::reset)).
    pub const fn is_complete(&self) -> bool {
        matches!(self.stage, Stage::Body { size, got } if got == size)
    }

    /// The current frame's size prefix as it came, once all four bytes are
    /// in: also after it was refused, to tell what the peer sent instead
    /// of a frame (a TLS record, say).
    pub const fn prefix(&self) -> Option<[u8; SIZE_PREFIX_LEN]> {
        match self.stage {
            Stage::Prefix(_) => None,
            _ => Some(self.prefix),
        }
    }

    /// Where the next bytes read from the stream go: the rest of the size
    /// prefix, or the rest of the body within `body` (the frame's body
    /// buffer: the body is at `body[..size]`; a shorter buffer, grown as
    /// bytes come, gives a shorter slice). Empty when the frame is whole,
    /// the prefix was refused, or `body` has no room left.
    pub fn next_read<'a>(&'a mut self, body: &'a mut [u8]) -> &'a mut [u8] {
        match self.stage {
            Stage::Prefix(got) => &mut self.prefix[got..],
            Stage::Body { size, got } => {
                let end = size.min(body.len());
                body.get_mut(got..end).unwrap_or_default()
            }
            Stage::Refused(_) => &mut [],
        }
    }

    /// Records `n` bytes read into the slice [`next_read`](Self::next_read)
    /// gave. Returns the body's length once the frame is whole.
    ///
    /// Errors: a negative size prefix ([`Error::InvalidLength`]) or one
    /// above the limit ([`Error::TooLarge`]), when its last byte comes.
    pub fn advance(&mut self, n: usize) -> Result<Option<usize>> {
        match self.stage {
            Stage::Prefix(got) => {
                let got = (got + n).min(SIZE_PREFIX_LEN);
                if got < SIZE_PREFIX_LEN {
                    self.stage = Stage::Prefix(got);
                    return Ok(None);
                }
                let size = self.accepted_size()?;
                self.stage = Stage::Body { size, got: 0 };
                Ok((size == 0).then_some(0))
            }
            Stage::Body { size, got } => {
                let got = (got + n).min(size);
                self.stage = Stage::Body { size, got };
                Ok((got == size).then_some(size))
            }
            // The refusal again (kept, rather than a message of its own:
            // a firmware links every string).
            Stage::Refused(e) => Err(e),
        }
    }

    /// The body size the whole prefix claims, when accepted; else the
    /// stream is refused from now on.
    fn accepted_size(&mut self) -> Result<usize> {
        let accepted = Self::body_size(self.prefix, self.limit);
        if let Err(e) = accepted {
            self.stage = Stage::Refused(e);
        }
        accepted
    }

    /// The body size a frame's size `prefix` claims, accepted when at most
    /// `limit`: the check behind [`advance`](Self::advance), for a reader
    /// that reads the prefix into its own buffer (a firmware reading it
    /// into the body buffer, then the body over it, keeps no deframer).
    ///
    /// Errors: a negative size ([`Error::InvalidLength`]) or one above
    /// `limit` ([`Error::TooLarge`], [`Limit::ResponseFrame`]).
    pub const fn body_size(prefix: [u8; SIZE_PREFIX_LEN], limit: usize) -> Result<usize> {
        let size = i32::from_be_bytes(prefix);
        if size < 0 {
            Err(Error::InvalidLength)
        } else if size as usize > limit {
            Err(Error::TooLarge {
                what: Limit::ResponseFrame,
                size: size as usize,
                limit,
            })
        } else {
            Ok(size as usize)
        }
    }

    /// Takes what it can of `input` into the current frame (the prefix
    /// here, the body into `body`); returns the bytes taken and, once the
    /// frame is whole, the body's length. Call again with the rest of
    /// `input` after a [`reset`](Self::reset).
    ///
    /// Errors: as [`advance`](Self::advance), and
    /// [`Error::TooLarge`] ([`Limit::ResponseFrame`]) when `body` is too
    /// small for the body.
    pub fn feed(&mut self, input: &[u8], body: &mut [u8]) -> Result<(usize, Option<usize>)> {
        let mut taken = 0;
        while taken < input.len() && !self.is_complete() {
            if let Some(size) = self.size() {
                if body.len() < size {
                    return Err(Error::TooLarge {
                        what: Limit::ResponseFrame,
                        size,
                        limit: body.len(),
                    });
                }
            }
            let dst = self.next_read(body);
            let n = dst.len().min(input.len() - taken);
            dst[..n].copy_from_slice(&input[taken..taken + n]);
            taken += n;
            if let Some(len) = self.advance(n)? {
                return Ok((taken, Some(len)));
            }
        }
        Ok((taken, self.is_complete().then(|| self.body_received())))
    }

    /// Starts the next frame (after a whole one).
    pub fn reset(&mut self) {
        self.stage = Stage::Prefix(0);
    }
}
