//! The models directory as staging's disk: partial copies under `.staging/<digest>/`
//! (the artifact's files and the manifest they follow), moved to `staged-<digest>/`
//! once the whole copy hashes to the digest; reads of the artifacts the last scan
//! found resident.
//!
//! A partial copy is synced only when it is finished: after a process crash it
//! resumes from its files' lengths; after a power loss its unsynced tail may be
//! wrong, and the copy then ends `failed` at verification (never resident).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use psionic_core::Digest;
use psionic_core::staging::{Manifest, ManifestFile, StagingDone, StagingFailure, StagingIo, StagingStore};
use psionic_core::state::Residency;

use super::Models;
use super::digest::{ARTIFACT_FILES, artifact_digest};

/// Where a node's staging work is carried out, shared with the worker task.
pub trait ArtifactDisk: Send + Sync + std::fmt::Debug + 'static {
    /// Carries out `io`; its answer for the core, if it has one.
    fn carry_out(&self, io: StagingIo) -> Option<StagingDone>;
}

/// A store behind a lock: the models directory, or a simulated node's memory.
impl<T: StagingStore + Send + std::fmt::Debug + 'static> ArtifactDisk for Mutex<T> {
    fn carry_out(&self, io: StagingIo) -> Option<StagingDone> {
        self.lock()
            .expect("the artifact disk lock is not poisoned")
            .carry_out(io)
    }
}

/// Name of the directory of partial copies, inside the models directory.
pub const STAGING_DIR: &str = ".staging";
const MANIFEST_FILE: &str = "manifest.json";

/// The models directory of a real node.
#[derive(Debug)]
pub struct ModelsDisk {
    dir: PathBuf,
    models: Arc<Models>,
}

fn failure(operation: &str, path: &Path, error: &io::Error) -> StagingFailure {
    StagingFailure::Io {
        operation: format!("{operation} {}", path.display()),
        error: error.to_string(),
    }
}

impl ModelsDisk {
    /// The disk of the models directory `dir`, whose scans fill `models`.
    pub fn new(dir: PathBuf, models: Arc<Models>) -> Self {
        Self { dir, models }
    }

    fn partial_dir(&self, artifact: &Digest) -> PathBuf {
        self.dir.join(STAGING_DIR).join(artifact.to_hex())
    }

    fn saved_manifest(&self, artifact: &Digest) -> Option<Manifest> {
        let bytes = fs::read(self.partial_dir(artifact).join(MANIFEST_FILE)).ok()?;
        serde_json::from_slice::<Manifest>(&bytes)
            .ok()
            .filter(|manifest| manifest.validate().is_ok())
    }

    /// Checks `manifest`'s names and lays the partial copy out for it (every file,
    /// empty ones included, and the manifest), unless it already is.
    fn prepare(&self, artifact: &Digest, manifest: &Manifest) -> Result<(), StagingFailure> {
        if let Some(file) = manifest
            .files
            .iter()
            .find(|file| !ARTIFACT_FILES.contains(&file.name.as_str()))
        {
            return Err(StagingFailure::FileName {
                name: file.name.clone(),
            });
        }
        if self.saved_manifest(artifact).as_ref() == Some(manifest) {
            return Ok(());
        }
        let dir = self.partial_dir(artifact);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|error| failure("create", &dir, &error))?;
        for file in &manifest.files {
            let path = dir.join(&file.name);
            File::create(&path).map_err(|error| failure("create", &path, &error))?;
        }
        let json = serde_json::to_vec(manifest).expect("a manifest encodes");
        let path = dir.join(MANIFEST_FILE);
        fs::write(&path, json).map_err(|error| failure("write", &path, &error))
    }

    /// `staged-<first 16 hex digits>` (with `-2`, `-3`, ... after it while another
    /// artifact's files hold the name), or the directory already holding the same
    /// files.
    fn free_name(&self, artifact: &Digest) -> PathBuf {
        let hex = artifact.to_hex();
        let base = format!("staged-{}", &hex[..16]);
        let mut name = base.clone();
        for suffix in 2.. {
            let path = self.dir.join(&name);
            let same = || artifact_digest(&path).is_ok_and(|(digest, _)| digest == *artifact);
            if !path.exists() || same() {
                return path;
            }
            name = format!("{base}-{suffix}");
        }
        unreachable!("some suffix is free")
    }

    /// Syncs the copy's files and checks their lengths and digest.
    fn verify(&self, dir: &Path, artifact: &Digest, manifest: &Manifest) -> Result<(), StagingFailure> {
        for file in &manifest.files {
            let path = dir.join(&file.name);
            let opened = File::open(&path).and_then(|opened| opened.sync_all().map(|()| opened));
            let len = opened
                .and_then(|opened| opened.metadata())
                .map_err(|error| failure("sync", &path, &error))?
                .len();
            if len != file.bytes {
                let total_bytes = manifest.total_bytes();
                return Err(StagingFailure::Beyond {
                    offset: len,
                    total_bytes,
                });
            }
        }
        let (got, _) = artifact_digest(dir).map_err(|error| failure("hash", dir, &error))?;
        match got == *artifact {
            true => Ok(()),
            false => Err(StagingFailure::DigestMismatch {
                expected: *artifact,
                got,
            }),
        }
    }
}

/// Writes `bytes` at `offset` of the file at `path` (created if missing).
fn write_at(path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

/// Appends up to `want` bytes at `offset` of the file at `path` to `into`.
fn read_at(path: &Path, offset: u64, want: u64, into: &mut Vec<u8>) -> io::Result<()> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    file.take(want).read_to_end(into).map(drop)
}

impl StagingStore for ModelsDisk {
    /// The contiguous bytes the partial copy holds, per its saved manifest.
    fn open(&mut self, artifact: &Digest) -> Result<u64, StagingFailure> {
        let dir = self.partial_dir(artifact);
        let Some(manifest) = self.saved_manifest(artifact) else {
            return match fs::remove_dir_all(&dir) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(failure("clear", &dir, &error)),
                _ => Ok(0),
            };
        };
        let mut present = 0u64;
        for file in &manifest.files {
            let len = fs::metadata(dir.join(&file.name)).map_or(0, |metadata| metadata.len());
            present = present.saturating_add(len.min(file.bytes));
            if len < file.bytes {
                break;
            }
        }
        Ok(present)
    }

    fn write(
        &mut self,
        artifact: &Digest,
        manifest: &Manifest,
        offset: u64,
        bytes: &[u8],
    ) -> Result<u64, StagingFailure> {
        self.prepare(artifact, manifest)?;
        let dir = self.partial_dir(artifact);
        // Only a chunk at the end of the contiguous bytes extends them (no holes).
        let present = self.open(artifact)?;
        if offset != present {
            return Ok(present);
        }
        let mut at = offset;
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some((index, in_file)) = manifest.locate(at) else {
                let total_bytes = manifest.total_bytes();
                return Err(StagingFailure::Beyond {
                    offset: at,
                    total_bytes,
                });
            };
            let file = &manifest.files[index];
            let take = usize::try_from(file.bytes - in_file)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let path = dir.join(&file.name);
            write_at(&path, in_file, &rest[..take]).map_err(|error| failure("write", &path, &error))?;
            at = at.saturating_add(take as u64);
            rest = &rest[take..];
        }
        self.open(artifact)
    }

    fn finish(&mut self, artifact: &Digest, manifest: &Manifest) -> Result<(), StagingFailure> {
        // A copy of empty files only was never written to: lay it out now.
        self.prepare(artifact, manifest)?;
        let dir = self.partial_dir(artifact);
        let verified = self.verify(&dir, artifact, manifest);
        if verified.is_err() {
            let _ = fs::remove_dir_all(&dir);
            return verified;
        }
        let _ = fs::remove_file(dir.join(MANIFEST_FILE));
        let target = self.free_name(artifact);
        if target.exists() {
            // The same files are there already (a copy made before a restart).
            let _ = fs::remove_dir_all(&dir);
            self.models.rescan_soon();
            return Ok(());
        }
        fs::rename(&dir, &target).map_err(|error| failure("move", &target, &error))?;
        self.models.rescan_soon();
        // The copy is in place; a failed sync of the directory only risks the rename
        // to a power loss (a later scan then does not find it, and reports it gone).
        if let Err(error) = File::open(&self.dir).and_then(|dir| dir.sync_all()) {
            tracing::warn!(dir = %self.dir.display(), %error, "the models directory could not be synced after a copy moved in");
        }
        Ok(())
    }

    fn read(&mut self, artifact: &Digest, offset: u64, len: u32) -> Result<(Manifest, Vec<u8>), StagingFailure> {
        let found = self.models.found();
        let held = found
            .get(artifact)
            .filter(|entry| entry.residency == Residency::Resident)
            .ok_or(StagingFailure::NotHeld { artifact: *artifact })?;
        let mut manifest = Manifest::default();
        for name in ARTIFACT_FILES {
            if let Some(metadata) = fs::metadata(held.dir.join(name)).ok().filter(fs::Metadata::is_file) {
                let bytes = metadata.len();
                manifest.files.push(ManifestFile {
                    name: name.into(),
                    bytes,
                });
            }
        }
        let mut bytes = Vec::with_capacity(len as usize);
        let mut at = offset;
        while bytes.len() < len as usize {
            let Some((index, in_file)) = manifest.locate(at) else {
                break;
            };
            let path = held.dir.join(&manifest.files[index].name);
            let want = (len as usize - bytes.len()) as u64;
            let before = bytes.len();
            read_at(&path, in_file, want, &mut bytes).map_err(|error| failure("read", &path, &error))?;
            if bytes.len() == before {
                break;
            }
            at = at.saturating_add((bytes.len() - before) as u64);
        }
        Ok((manifest, bytes))
    }

    fn discard(&mut self, artifact: &Digest) {
        let _ = fs::remove_dir_all(self.partial_dir(artifact));
    }
}
