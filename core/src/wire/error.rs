//! Typed decode failures: every malformed frame maps to one of these, never a panic.

use serde::{Deserialize, Serialize};

use super::AuthKind;

/// Which postcard rule a malformed body broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncodingFault {
    /// The body ended before a value was complete.
    UnexpectedEnd,
    /// A variable-length integer was malformed or too long.
    BadVarint,
    /// A bool byte was neither 0 nor 1.
    BadBool,
    /// A char was not a valid scalar value.
    BadChar,
    /// A string was not UTF-8.
    BadUtf8,
    /// An option tag was neither 0 nor 1.
    BadOption,
    /// An enum tag named no variant.
    BadEnumTag,
    /// A value decoded but broke a rule of its type (for example a bad namespace).
    InvalidValue,
    /// Any other encoding error.
    Other,
}

impl From<postcard::Error> for EncodingFault {
    fn from(error: postcard::Error) -> Self {
        use postcard::Error as E;
        match error {
            E::DeserializeUnexpectedEnd => Self::UnexpectedEnd,
            E::DeserializeBadVarint => Self::BadVarint,
            E::DeserializeBadBool => Self::BadBool,
            E::DeserializeBadChar => Self::BadChar,
            E::DeserializeBadUtf8 => Self::BadUtf8,
            E::DeserializeBadOption => Self::BadOption,
            E::DeserializeBadEnum => Self::BadEnumTag,
            E::SerdeDeCustom => Self::InvalidValue,
            _ => Self::Other,
        }
    }
}

/// Why a frame could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum DecodeError {
    /// The frame is larger than the limit.
    #[error("frame is {len} bytes, the limit is {max}")]
    Oversize {
        /// Bytes received.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The body is not valid postcard for the current schema.
    #[error("malformed body: {fault:?}")]
    Body {
        /// What was wrong.
        fault: EncodingFault,
    },
    /// The authentication tag has the wrong length for its kind.
    #[error("{kind:?} tag is {got} bytes, expected {expected}")]
    TagLength {
        /// Kind the body declared.
        kind: AuthKind,
        /// Bytes expected.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// The bytes after the tag differ in length from what the body declares.
    #[error("{got} bytes follow the tag, the body declares {expected}")]
    DetachedLength {
        /// Bytes the body declares.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// A list in the message holds more items than allowed.
    #[error("a list holds {len} items, the limit is {max}")]
    TooManyItems {
        /// Items present.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A staging message that cannot be true.
    #[error("impossible staging message: {fault}")]
    Staging {
        /// Which.
        fault: crate::staging::StagingFault,
    },
    /// A consensus message carries values that cannot be true together.
    #[error("impossible values: {fault}")]
    Values {
        /// Which.
        fault: crate::consensus::message::ValueFault,
    },
}
