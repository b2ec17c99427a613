//! Fuzz harnesses over the real core, one function per `cargo fuzz` target. Compiled
//! for fuzzing builds (`--cfg fuzzing`), for this crate's tests, and with the
//! `fuzz-harness` feature for `tests/tests/fuzz_inputs.rs`, which replays the committed
//! seeds and every crash found (`fuzz/seeds/`, `fuzz/regressions/`), so plain
//! `cargo test` covers them.
//!
//! Each harness reads its choices from the input with [`Draw`] and panics only when a
//! property fails: a panic inside the core is a finding too.

mod cluster;
mod dispatch;
mod envelope;
mod invariants;
mod snapshot;

pub use cluster::core_sequence;
pub use dispatch::dispatch_sequence;
pub use envelope::{decode_envelope, verify_envelope};
pub use snapshot::snapshot_chunks;

/// Reads choices from fuzz input; an exhausted input reads as zeros.
#[derive(Debug)]
pub struct Draw<'a> {
    bytes: &'a [u8],
}

impl<'a> Draw<'a> {
    /// Choices from `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        let (first, rest) = self
            .bytes
            .split_first()
            .map_or((0, &[][..]), |(first, rest)| (*first, rest));
        self.bytes = rest;
        first
    }

    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A number in `0..bound` (`bound` of 0 reads as 1).
    pub fn below(&mut self, bound: usize) -> usize {
        usize::from(self.u16()) % bound.max(1)
    }

    /// A coin.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `len` bytes (fewer when the input runs out).
    pub fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.bytes.split_at(len.min(self.bytes.len()));
        self.bytes = rest;
        taken
    }
}
