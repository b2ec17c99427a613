//! Scanning the models directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use psionic_core::Digest;
use psionic_core::state::Residency;
use tokio::sync::mpsc;

use super::digest::{ARTIFACT_FILES, artifact_digest};
use super::{Artifact, Models};
use crate::driver::Request;
use crate::stream::AbortOnDrop;

/// The length and modification time of each artifact file present.
type Fingerprint = Vec<(&'static str, u64, Option<SystemTime>)>;

/// Scans one models directory, remembering each artifact's digest and checks until
/// its files change.
#[derive(Debug)]
pub struct Scanner {
    dir: PathBuf,
    seen: BTreeMap<PathBuf, (Fingerprint, Artifact)>,
}

impl Scanner {
    /// A scanner of `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            seen: BTreeMap::new(),
        }
    }

    /// The artifacts the directory holds now (the first by name where two hold the
    /// same files). A directory that cannot be read holds none.
    pub fn scan(&mut self) -> BTreeMap<Digest, Artifact> {
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|path| path.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        subdirs.sort();
        let mut seen = BTreeMap::new();
        let mut found = BTreeMap::new();
        for dir in subdirs {
            let fingerprint = fingerprint(&dir);
            if fingerprint.is_empty() {
                continue;
            }
            let artifact = match self.seen.remove(&dir) {
                Some((before, artifact)) if before == fingerprint => artifact,
                _ => match examine(&dir) {
                    Some(artifact) => artifact,
                    None => continue,
                },
            };
            found.entry(artifact.digest).or_insert_with(|| artifact.clone());
            seen.insert(dir, (fingerprint, artifact));
        }
        self.seen = seen;
        found
    }
}

fn fingerprint(dir: &Path) -> Fingerprint {
    ARTIFACT_FILES
        .iter()
        .filter_map(|name| {
            let metadata = std::fs::metadata(dir.join(name)).ok()?;
            Some((*name, metadata.len(), metadata.modified().ok()))
        })
        .collect()
}

/// Hashes and checks the model in `dir` (none if it cannot be read at all).
fn examine(dir: &Path) -> Option<Artifact> {
    let (digest, bytes) = match artifact_digest(dir) {
        Ok(hashed) => hashed,
        Err(error) => {
            tracing::warn!(dir = %dir.display(), %error, "a model directory could not be read");
            return None;
        }
    };
    let config = psionic_model::read_config(dir);
    let checked = psionic_model::Model::load(dir);
    let problem = checked.err().map(|error| error.to_string());
    Some(Artifact {
        name: dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        dir: dir.to_path_buf(),
        digest,
        bytes,
        residency: match problem {
            None => Residency::Resident,
            Some(_) => Residency::Failed,
        },
        problem,
        architecture: config
            .as_ref()
            .ok()
            .and_then(|config| config.architectures.first().cloned()),
        parameters: config.as_ref().ok().map(psionic_model::LlamaConfig::parameters),
    })
}

/// Spawns the task that scans `scanner`'s directory every `every_ms` into `models`
/// and hands the driver each changed set of residencies.
pub fn spawn_scanner(
    mut scanner: Scanner,
    models: Arc<Models>,
    every_ms: u64,
    requests: mpsc::Sender<Request>,
) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        let mut reported: Option<BTreeMap<Digest, Residency>> = None;
        loop {
            let Some((returned, found)) = scan_aside(scanner).await else {
                return;
            };
            scanner = returned;
            models.replace(found);
            let residency = models.residency();
            if reported.as_ref() != Some(&residency) {
                if requests.send(Request::HoldArtifacts(residency.clone())).await.is_err() {
                    return;
                }
                reported = Some(residency);
            }
            tokio::time::sleep(Duration::from_millis(every_ms.max(1))).await;
        }
    }))
}

/// Scans on the blocking pool (a scan hashes files), handing the scanner back.
#[cfg(not(madsim))]
async fn scan_aside(mut scanner: Scanner) -> Option<(Scanner, BTreeMap<Digest, Artifact>)> {
    let scanned = tokio::task::spawn_blocking(move || {
        let found = scanner.scan();
        (scanner, found)
    });
    scanned.await.ok()
}

/// The simulator has no blocking pool: a simulated node scans in its own task.
#[cfg(madsim)]
async fn scan_aside(mut scanner: Scanner) -> Option<(Scanner, BTreeMap<Digest, Artifact>)> {
    let found = scanner.scan();
    Some((scanner, found))
}
