//! Kafka requests and responses: message traits, headers, framing and version negotiation.
//!
//! Each API lives in its own file under [`messages`], declared as field tables
//! with the crate's single codec macro. Decoded messages borrow the frame they
//! came from; arrays in them are lazy views ([`crate::wire::Array`]).

pub(crate) mod api_key;
pub mod fixed;
pub mod frame;
pub mod messages;
pub mod versions;

pub use api_key::ApiKey;
pub use frame::{RequestHeader, ResponseHeader};
pub use versions::{NegotiatedVersions, VersionRange};

use crate::error::{Error, Result};
use crate::wire::{Wire, WireVersion};

/// A top-level Kafka message (request or response body) of one API.
pub trait Message<'a>: Wire<'a> + Copy + Default + core::fmt::Debug {
    /// The API this message belongs to.
    const API_KEY: ApiKey;
    /// The versions microkafka can encode and decode.
    const VERSIONS: VersionRange;
    /// The first flexible version (KIP-482), or `None` if no version is flexible.
    const FLEXIBLE_FROM: Option<i16>;

    /// The wire form of `version`, or [`Error::UnsupportedVersion`].
    fn wire_version(version: i16) -> Result<WireVersion> {
        if !Self::VERSIONS.contains(version) {
            return Err(Error::UnsupportedVersion {
                api: Self::API_KEY,
                version,
            });
        }
        let flexible = matches!(Self::FLEXIBLE_FROM, Some(f) if version >= f);
        Ok(WireVersion::new(version, flexible))
    }
}

/// A request body; `Response` names the matching response type.
pub trait Request<'a>: Message<'a> {
    /// The response a broker sends back for this request.
    type Response<'b>: Response<'b>;
}

/// A response body.
pub trait Response<'a>: Message<'a> {}

/// Implements [`Message`] and [`Request`]/[`Response`] for a request/response pair.
macro_rules! api {
    (
        $api:ident, versions $min:literal..=$max:literal, flexible $flex:expr,
        $req:ident $(<$rl:lifetime>)? => $resp:ident $(<$pl:lifetime>)?
    ) => {
        impl<'a> $crate::protocol::Message<'a> for $req $(<$rl>)? {
            const API_KEY: $crate::protocol::ApiKey = $crate::protocol::ApiKey::$api;
            const VERSIONS: $crate::protocol::VersionRange =
                $crate::protocol::VersionRange::new($min, $max);
            const FLEXIBLE_FROM: Option<i16> = $flex;
        }
        impl<'a> $crate::protocol::Message<'a> for $resp $(<$pl>)? {
            const API_KEY: $crate::protocol::ApiKey = $crate::protocol::ApiKey::$api;
            const VERSIONS: $crate::protocol::VersionRange =
                $crate::protocol::VersionRange::new($min, $max);
            const FLEXIBLE_FROM: Option<i16> = $flex;
        }
        impl<'a> $crate::protocol::Request<'a> for $req $(<$rl>)? {
            type Response<'b> = $crate::protocol::api!(@resp_ty 'b, $resp $(<$pl>)?);
        }
        impl<'a> $crate::protocol::Response<'a> for $resp $(<$pl>)? {}
    };
    (@resp_ty $b:lifetime, $resp:ident <$pl:lifetime>) => { $resp<$b> };
    (@resp_ty $b:lifetime, $resp:ident) => { $resp };
}
pub(crate) use api;
