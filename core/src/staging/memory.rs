//! Artifacts on a disk kept in memory (tests and simulation): the same answers a
//! driver's disk gives to each [`StagingIo`].

use std::collections::BTreeMap;

use super::{ArtifactHasher, Manifest, ManifestFile, StagingFailure, StagingStore};
use crate::digest::Digest;
use crate::state::Residency;

/// Resident artifacts (files in name order) and partial copies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryArtifacts {
    resident: BTreeMap<Digest, Vec<(String, Vec<u8>)>>,
    partial: BTreeMap<Digest, (Manifest, Vec<u8>)>,
}

impl MemoryArtifacts {
    /// Puts an artifact of `files` (name, contents; sorted here) on the disk; returns
    /// its digest.
    pub fn put(&mut self, mut files: Vec<(String, Vec<u8>)>) -> Digest {
        files.sort();
        let digest = ArtifactHasher::of_files(
            files
                .iter()
                .map(|(name, contents)| (name.as_str(), contents.as_slice())),
        );
        self.resident.insert(digest, files);
        digest
    }

    /// What a scan of this disk finds: every resident artifact.
    pub fn scan(&self) -> BTreeMap<Digest, Residency> {
        self.resident
            .keys()
            .map(|digest| (*digest, Residency::Resident))
            .collect()
    }

    /// Whether the disk holds `artifact` and its files hash to it.
    pub fn holds_verified(&self, artifact: &Digest) -> bool {
        self.resident.get(artifact).is_some_and(|files| {
            let files = files
                .iter()
                .map(|(name, contents)| (name.as_str(), contents.as_slice()));
            ArtifactHasher::of_files(files) == *artifact
        })
    }

    /// Bytes of the partial copy of `artifact`.
    pub fn partial_bytes(&self, artifact: &Digest) -> Option<u64> {
        self.partial.get(artifact).map(|(_, bytes)| bytes.len() as u64)
    }

    /// Flips one bit of byte `offset` of the partial copy of `artifact` (a damaged
    /// disk); false without one that long.
    pub fn damage_partial(&mut self, artifact: &Digest, offset: usize) -> bool {
        let byte = self
            .partial
            .get_mut(artifact)
            .and_then(|(_, bytes)| bytes.get_mut(offset));
        byte.map(|byte| *byte ^= 1).is_some()
    }
}

impl StagingStore for MemoryArtifacts {
    fn open(&mut self, artifact: &Digest) -> Result<u64, StagingFailure> {
        Ok(self.partial_bytes(artifact).unwrap_or(0))
    }

    fn discard(&mut self, artifact: &Digest) {
        self.partial.remove(artifact);
    }

    fn write(
        &mut self,
        artifact: &Digest,
        manifest: &Manifest,
        offset: u64,
        chunk: &[u8],
    ) -> Result<u64, StagingFailure> {
        let (saved, bytes) = self
            .partial
            .entry(*artifact)
            .or_insert_with(|| (manifest.clone(), Vec::new()));
        if saved != manifest {
            *saved = manifest.clone();
            bytes.clear();
        }
        // Only a write at the end of the contiguous prefix extends it.
        if offset == bytes.len() as u64 {
            bytes.extend_from_slice(chunk);
        }
        Ok(bytes.len() as u64)
    }

    fn finish(&mut self, artifact: &Digest, _: &Manifest) -> Result<(), StagingFailure> {
        let (manifest, bytes) = self.partial.remove(artifact).unwrap_or_default();
        let mut files = Vec::new();
        let mut start = 0usize;
        for ManifestFile { name, bytes: len } in &manifest.files {
            let end = start
                .saturating_add(usize::try_from(*len).unwrap_or(usize::MAX))
                .min(bytes.len());
            files.push((name.clone(), bytes[start..end].to_vec()));
            start = end;
        }
        let got = ArtifactHasher::of_files(
            files
                .iter()
                .map(|(name, contents)| (name.as_str(), contents.as_slice())),
        );
        if got != *artifact {
            return Err(StagingFailure::DigestMismatch {
                expected: *artifact,
                got,
            });
        }
        self.resident.insert(*artifact, files);
        Ok(())
    }

    fn read(&mut self, artifact: &Digest, offset: u64, len: u32) -> Result<(Manifest, Vec<u8>), StagingFailure> {
        let files = self
            .resident
            .get(artifact)
            .ok_or(StagingFailure::NotHeld { artifact: *artifact })?;
        let manifest = Manifest {
            files: files
                .iter()
                .map(|(name, contents)| ManifestFile {
                    name: name.clone(),
                    bytes: contents.len() as u64,
                })
                .collect(),
        };
        let all: Vec<u8> = files
            .iter()
            .flat_map(|(_, contents)| contents.iter().copied())
            .collect();
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
        let end = start.saturating_add(len as usize).min(all.len());
        Ok((manifest, all[start..end].to_vec()))
    }
}
