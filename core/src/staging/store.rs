//! Where a node's staging work is carried out: a driver's disk, or one kept in memory.

use super::{Manifest, StagingDone, StagingFailure, StagingIo};
use crate::digest::Digest;
use crate::identity::NodeId;

/// A disk that answers each [`StagingIo`].
pub trait StagingStore {
    /// The contiguous bytes the partial copy of `artifact` holds (creating it if none).
    fn open(&mut self, artifact: &Digest) -> Result<u64, StagingFailure>;

    /// Writes `bytes` at `offset` of the partial copy laid out by `manifest` (only at
    /// the end of its contiguous bytes: anything else writes nothing); the contiguous
    /// bytes it then holds.
    fn write(
        &mut self,
        artifact: &Digest,
        manifest: &Manifest,
        offset: u64,
        bytes: &[u8],
    ) -> Result<u64, StagingFailure>;

    /// Makes the copy durable and moves it among the artifacts if its files hash to
    /// `artifact`; deletes it otherwise.
    fn finish(&mut self, artifact: &Digest, manifest: &Manifest) -> Result<(), StagingFailure>;

    /// Deletes the partial copy.
    fn discard(&mut self, artifact: &Digest);

    /// Up to `len` bytes at `offset` of the resident `artifact`, with its files.
    fn read(&mut self, artifact: &Digest, offset: u64, len: u32) -> Result<(Manifest, Vec<u8>), StagingFailure>;

    /// Carries out `io`; its answer for the core, if it has one.
    fn carry_out(&mut self, io: StagingIo) -> Option<StagingDone> {
        match io {
            StagingIo::Open { artifact } => Some(StagingDone::Opened {
                artifact,
                result: self.open(&artifact),
            }),
            StagingIo::Write {
                artifact,
                manifest,
                offset,
                bytes,
            } => Some(StagingDone::Written {
                artifact,
                result: self.write(&artifact, &manifest, offset, &bytes),
            }),
            StagingIo::Finish { artifact, manifest } => Some(StagingDone::Finished {
                artifact,
                result: self.finish(&artifact, &manifest),
            }),
            StagingIo::Discard { artifact } => {
                self.discard(&artifact);
                None
            }
            StagingIo::Read {
                peer,
                artifact,
                offset,
                len,
            } => Some(read_answer(peer, artifact, offset, self.read(&artifact, offset, len))),
        }
    }
}

fn read_answer(
    peer: NodeId,
    artifact: Digest,
    offset: u64,
    result: Result<(Manifest, Vec<u8>), StagingFailure>,
) -> StagingDone {
    StagingDone::Read {
        peer,
        artifact,
        offset,
        result,
    }
}
