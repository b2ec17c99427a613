//! The entries an append carries, encoded once however many followers are sent them.
//!
//! On the wire they are a byte string holding the postcard encoding of `Vec<Entry>`:
//! a leader that sends the same slice to several followers serialises the entries
//! once and copies the bytes into each frame. The frame's tag covers the bytes like
//! any other field.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde::de::{Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::log::Entry;

/// Entries of one append, cheap to clone (shared) and encoded at most once.
#[derive(Clone, Default)]
pub struct AppendEntries(Arc<Shared>);

#[derive(Default)]
struct Shared {
    entries: Vec<Entry>,
    encoded: OnceLock<Vec<u8>>,
}

impl AppendEntries {
    /// Entries to send.
    pub fn new(entries: Vec<Entry>) -> Self {
        Self(Arc::new(Shared {
            entries,
            encoded: OnceLock::new(),
        }))
    }

    /// The entries, moved out when this is their only holder (as on a follower).
    pub fn into_vec(self) -> Vec<Entry> {
        match Arc::try_unwrap(self.0) {
            Ok(shared) => shared.entries,
            Err(shared) => shared.entries.clone(),
        }
    }

    fn encoded(&self) -> &[u8] {
        self.0
            .encoded
            .get_or_init(|| postcard::to_allocvec(&self.0.entries).expect("postcard encoding into a Vec is infallible"))
    }
}

impl From<Vec<Entry>> for AppendEntries {
    fn from(entries: Vec<Entry>) -> Self {
        Self::new(entries)
    }
}

impl Deref for AppendEntries {
    type Target = [Entry];

    fn deref(&self) -> &[Entry] {
        &self.0.entries
    }
}

impl PartialEq for AppendEntries {
    fn eq(&self, other: &Self) -> bool {
        self.0.entries == other.0.entries
    }
}

impl Eq for AppendEntries {}

impl fmt::Debug for AppendEntries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.entries.iter()).finish()
    }
}

impl Serialize for AppendEntries {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            self.0.entries.serialize(serializer)
        } else {
            serializer.serialize_bytes(self.encoded())
        }
    }
}

impl<'de> Deserialize<'de> for AppendEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            return Vec::<Entry>::deserialize(deserializer).map(Self::new);
        }
        deserializer.deserialize_bytes(EncodedEntries)
    }
}

/// Decodes the byte string of an append's entries.
struct EncodedEntries;

impl<'de> Visitor<'de> for EncodedEntries {
    type Value = AppendEntries;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the encoded entries of an append")
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<AppendEntries, E> {
        let (entries, rest) = postcard::take_from_bytes::<Vec<Entry>>(bytes).map_err(E::custom)?;
        if !rest.is_empty() {
            return Err(E::invalid_length(bytes.len() - rest.len(), &self));
        }
        Ok(AppendEntries::new(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::EntryPayload;
    use crate::identity::NodeId;

    fn entries(count: u64) -> Vec<Entry> {
        (1..=count)
            .map(|index| Entry {
                index,
                term: 2,
                payload: EntryPayload::Noop {
                    leader: NodeId([index as u8; 16]),
                }
                .into(),
            })
            .collect()
    }

    #[test]
    fn round_trips_through_postcard_and_json() {
        let sent = AppendEntries::new(entries(3));
        let bytes = postcard::to_allocvec(&sent).unwrap();
        assert_eq!(postcard::from_bytes::<AppendEntries>(&bytes).unwrap(), sent);
        let text = serde_json::to_string(&sent).unwrap();
        assert_eq!(serde_json::from_str::<AppendEntries>(&text).unwrap(), sent);
    }

    #[test]
    fn clones_share_one_encoding() {
        let sent = AppendEntries::new(entries(2));
        let copy = sent.clone();
        let first = postcard::to_allocvec(&sent).unwrap();
        assert!(std::ptr::eq(sent.encoded(), copy.encoded()), "encoded once");
        assert_eq!(postcard::to_allocvec(&copy).unwrap(), first);
    }

    #[test]
    fn bytes_past_the_entries_are_refused() {
        let mut inner = postcard::to_allocvec(&entries(1)).unwrap();
        inner.push(0);
        let framed = postcard::to_allocvec(&serde_bytes::ByteBuf::from(inner)).unwrap();
        assert!(postcard::from_bytes::<AppendEntries>(&framed).is_err());
    }

    #[test]
    fn the_only_holder_takes_the_entries_without_copying() {
        let sent = AppendEntries::new(entries(4));
        let first = sent[0].payload.clone();
        let taken = sent.into_vec();
        assert!(Arc::ptr_eq(&taken[0].payload, &first));
        assert_eq!(taken.len(), 4);
    }
}
