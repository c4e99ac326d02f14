//! The one mechanism that turns a field table into a message struct and its codec.
//!
//! Every request, response and nested structure in [`crate::protocol`] is
//! declared with [`wire_struct!`]: each field names its Rust type, optional
//! default, the versions it is present in, and (for tagged fields) its tag.
//! The macro generates the struct, `Default`, and a [`Wire`](crate::wire::Wire)
//! impl that
//! - reads/writes present fields in order, skipping fields absent at the version
//!   (absent fields decode to their default and are not written);
//! - refuses to encode `None` in a version where a field marked `; null V..`
//!   is not nullable (Kafka's schemas make some fields nullable only from a
//!   later version, e.g. Metadata's topic list from v1);
//! - in flexible versions, ends the struct with a tagged-field section: known
//!   tags are decoded, unknown tags skipped, and a tagged field is written only
//!   when it differs from its default (as the Java client does).
//!
//! Field tables are transcribed by hand from Kafka's JSON message schemas; the
//! project does not read those files at build time.

/// Defines a wire struct from a field table. See the [module docs](self).
///
/// ```text
/// wire_struct! {
///     /// Doc.
///     pub struct Name<'a> {
///         /// Field doc.
///         pub plain: i32 => 0..,
///         pub since_v3: &'a str => 3..,
///         pub with_default: i64 = -1 => 1..=4,
///         @tag 0 pub tagged: Option<&'a str> => 12..,
///         pub null_from_v1: Option<&'a str> => 0..; null 1..,
///     }
/// }
/// ```
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<$lt:lifetime> { $($body:tt)* }
    ) => {
        wire_struct!(@def [$(#[$meta])*] $name [<$lt>] [$lt] { $($body)* });
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        wire_struct!(@def [$(#[$meta])*] $name [] ['__de] { $($body)* });
    };
    (@def [$(#[$meta:meta])*] $name:ident [$($generics:tt)*] [$lt:lifetime] {
        $(
            $(#[doc = $doc:literal])*
            $(@tag $tag:literal)?
            pub $field:ident : $ty:ty $(= $default:expr)? => $versions:expr $(; null $nullable:expr)?,
        )*
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $name $($generics)* {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl $($generics)* Default for $name $($generics)* {
            fn default() -> Self {
                Self { $( $field: wire_struct!(@default $ty $(, $default)?), )* }
            }
        }

        #[cfg(test)]
        impl $($generics)* $crate::wire::testing::Arbitrary for $name $($generics)* {
            fn arbitrary(g: &mut $crate::wire::testing::Gen, v: $crate::wire::WireVersion) -> Self {
                let mut out = Self::default();
                $(
                    if ($versions).contains(&v.version) {
                        out.$field = $crate::wire::testing::Arbitrary::arbitrary(g, v);
                        $(
                            while out.$field.is_none() && !($nullable).contains(&v.version) {
                                out.$field = $crate::wire::testing::Arbitrary::arbitrary(g, v);
                            }
                        )?
                    }
                )*
                out
            }
        }

        impl<$lt> $crate::wire::Wire<$lt> for $name $($generics)* {
            #[allow(unused_mut, unused_variables)]
            fn decode(
                r: &mut $crate::wire::Reader<$lt>,
                v: $crate::wire::WireVersion,
            ) -> $crate::Result<Self> {
                let mut out = Self::default();
                $(
                    if wire_struct!(@tag_of $($tag)?).is_none() && ($versions).contains(&v.version) {
                        out.$field = <$ty as $crate::wire::Wire>::decode(r, v)?;
                    }
                )*
                if v.flexible {
                    let count = r.uvarint()?;
                    for _ in 0..count {
                        let tag = r.uvarint()?;
                        let size = r.uvarint()? as usize;
                        let mut sub = $crate::wire::Reader::new(r.bytes(size)?);
                        $(
                            if wire_struct!(@tag_of $($tag)?) == Some(tag)
                                && ($versions).contains(&v.version)
                            {
                                out.$field = <$ty as $crate::wire::Wire>::decode(&mut sub, v)?;
                            }
                        )*
                    }
                }
                Ok(out)
            }

            #[allow(unused_mut, unused_variables)]
            fn encode(
                &self,
                w: &mut $crate::wire::Writer<'_>,
                v: $crate::wire::WireVersion,
            ) -> $crate::Result<()> {
                $(
                    if wire_struct!(@tag_of $($tag)?).is_none() && ($versions).contains(&v.version) {
                        $(
                            if self.$field.is_none() && !($nullable).contains(&v.version) {
                                return Err($crate::Error::Malformed(concat!(
                                    "null ", stringify!($field), " in a version where it is not nullable"
                                )));
                            }
                        )?
                        <$ty as $crate::wire::Wire>::encode(&self.$field, w, v)?;
                    }
                )*
                if v.flexible {
                    let mut count = 0u32;
                    $(
                        if wire_struct!(@tag_of $($tag)?).is_some()
                            && ($versions).contains(&v.version)
                            && self.$field != wire_struct!(@default $ty $(, $default)?)
                        {
                            count += 1;
                        }
                    )*
                    w.uvarint(count)?;
                    // Tags are written in declaration order: tables list them ascending.
                    $(
                        if let Some(tag) = wire_struct!(@tag_of $($tag)?) {
                            if ($versions).contains(&v.version)
                                && self.$field != wire_struct!(@default $ty $(, $default)?)
                            {
                                $crate::wire::encode_tagged(w, tag, &self.$field, v)?;
                            }
                        }
                    )*
                }
                Ok(())
            }
        }
    };
    (@default $ty:ty) => { <$ty as Default>::default() };
    (@default $ty:ty, $default:expr) => { $default };
    (@tag_of) => { None::<u32> };
    (@tag_of $tag:literal) => { Some::<u32>($tag) };
}
