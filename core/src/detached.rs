//! Bulk bytes carried after a frame's tag, outside what the tag authenticates.
//!
//! The body holds only their length, so a 48 KiB snapshot chunk is not hashed by the
//! frame's MAC (or signed) on top of the digest that authenticates the whole
//! snapshot. Only fields whose integrity is checked another way may be detached: a
//! snapshot chunk's bytes (by the snapshot digest in the authenticated metadata, once
//! the payload is whole) and a bandwidth probe's filler (never read).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that travel after the tag. Between decoding a body and attaching the
/// trailing bytes, it holds only the declared length.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detached {
    bytes: Vec<u8>,
    /// Length declared by a decoded body whose bytes are not attached yet.
    declared_len: Option<u32>,
}

impl Detached {
    /// The bytes (empty while unattached).
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of bytes: the declared length while unattached.
    pub fn len(&self) -> usize {
        self.declared_len.map_or(self.bytes.len(), |len| len as usize)
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The owned bytes.
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }

    /// Attaches the bytes that followed the tag; their length must be the declared one.
    pub(crate) fn attach(&mut self, trailing: &[u8]) -> Result<(), DetachedLengthMismatch> {
        let expected = self.len();
        if trailing.len() != expected {
            return Err(DetachedLengthMismatch {
                expected,
                got: trailing.len(),
            });
        }
        self.bytes = trailing.to_vec();
        self.declared_len = None;
        Ok(())
    }
}

/// Trailing bytes whose length is not the one the body declared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetachedLengthMismatch {
    /// The declared length.
    pub expected: usize,
    /// The length that followed the tag.
    pub got: usize,
}

impl From<Vec<u8>> for Detached {
    fn from(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            declared_len: None,
        }
    }
}

impl Serialize for Detached {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = u32::try_from(self.len()).map_err(|_| serde::ser::Error::custom("detached bytes over 4 GiB"))?;
        len.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Detached {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let declared_len = u32::deserialize(deserializer)?;
        Ok(Self {
            bytes: Vec::new(),
            declared_len: Some(declared_len),
        })
    }
}
