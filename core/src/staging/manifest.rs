//! An artifact's files, and its digest: the files in name order, each named and
//! length-prefixed, under the artifact domain.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestKind, DigestWriter};

/// Most files one artifact holds.
pub const ARTIFACT_FILES_MAX: usize = 8;

/// Longest file name in a manifest.
pub const ARTIFACT_FILE_NAME_BYTES_MAX: usize = 64;

/// Most bytes one artifact holds (1 TiB).
pub const ARTIFACT_BYTES_MAX: u64 = 1 << 40;

/// One file of an artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Its name (no path).
    pub name: String,
    /// Its length.
    pub bytes: u64,
}

/// An artifact's files in name order; its bytes are their concatenation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The files.
    pub files: Vec<ManifestFile>,
}

/// Why a staging message (its chunk or its manifest) cannot be true.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum StagingFault {
    /// A chunk longer than [`super::STAGING_CHUNK_BYTES_MAX`].
    #[error("a chunk of {len} bytes, the limit is {max}")]
    ChunkTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More files than [`ARTIFACT_FILES_MAX`].
    #[error("{files} files, the limit is {max}")]
    TooManyFiles {
        /// Files listed.
        files: usize,
        /// The limit.
        max: usize,
    },
    /// A name that is empty, too long, a path, or not after the previous one.
    #[error("file {position}'s name ({len} bytes) is empty, over {max} bytes, a path, or out of order")]
    BadName {
        /// The file's place in the manifest.
        position: usize,
        /// The name's length.
        len: usize,
        /// [`ARTIFACT_FILE_NAME_BYTES_MAX`].
        max: usize,
    },
    /// The files add up to more than [`ARTIFACT_BYTES_MAX`].
    #[error("the files add up to more than {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
}

impl Manifest {
    /// Total bytes (checked by [`Manifest::validate`]; saturating otherwise).
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().fold(0u64, |sum, file| sum.saturating_add(file.bytes))
    }

    /// Checks the limits and that names are plain, unique and in order.
    pub fn validate(&self) -> Result<(), StagingFault> {
        if self.files.len() > ARTIFACT_FILES_MAX {
            return Err(StagingFault::TooManyFiles {
                files: self.files.len(),
                max: ARTIFACT_FILES_MAX,
            });
        }
        let mut previous: Option<&str> = None;
        for (position, file) in self.files.iter().enumerate() {
            let name = file.name.as_str();
            let plain = !name.is_empty()
                && name.len() <= ARTIFACT_FILE_NAME_BYTES_MAX
                && !name.contains(['/', '\\', '\0'])
                && name != "."
                && name != ".."
                && previous.is_none_or(|before| before < name);
            if !plain {
                return Err(StagingFault::BadName {
                    position,
                    len: name.len(),
                    max: ARTIFACT_FILE_NAME_BYTES_MAX,
                });
            }
            previous = Some(name);
        }
        let total = self
            .files
            .iter()
            .try_fold(0u64, |sum, file| sum.checked_add(file.bytes))
            .filter(|total| *total <= ARTIFACT_BYTES_MAX);
        match total {
            Some(_) => Ok(()),
            None => Err(StagingFault::TooLarge {
                max: ARTIFACT_BYTES_MAX,
            }),
        }
    }

    /// The file holding byte `offset` of the concatenation, and the offset in it
    /// (none at or past the end).
    pub fn locate(&self, offset: u64) -> Option<(usize, u64)> {
        let mut start = 0u64;
        for (index, file) in self.files.iter().enumerate() {
            let end = start.saturating_add(file.bytes);
            if offset < end {
                return Some((index, offset - start));
            }
            start = end;
        }
        None
    }
}

/// Computes an artifact's digest from its files, given in name order.
#[derive(Debug)]
pub struct ArtifactHasher {
    writer: DigestWriter,
}

impl Default for ArtifactHasher {
    fn default() -> Self {
        Self {
            writer: DigestWriter::new(DigestKind::Artifact),
        }
    }
}

impl ArtifactHasher {
    /// Starts the file `name` of `bytes` bytes (its contents follow through
    /// [`ArtifactHasher::update`]).
    pub fn begin_file(&mut self, name: &str, bytes: u64) {
        self.writer.update_prefixed(name.as_bytes());
        self.writer.update_raw(&bytes.to_le_bytes());
    }

    /// More of the current file's contents.
    pub fn update(&mut self, contents: &[u8]) {
        self.writer.update_raw(contents);
    }

    /// The digest.
    pub fn finish(self) -> Digest {
        self.writer.finish()
    }

    /// The digest of `files` (name, contents), given in name order.
    pub fn of_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Digest {
        let mut hasher = Self::default();
        for (name, contents) in files {
            hasher.begin_file(name, contents.len() as u64);
            hasher.update(contents);
        }
        hasher.finish()
    }
}
