//! Scanning the models directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use psionic_core::Digest;
use psionic_core::state::Residency;
use tokio::sync::mpsc;

use super::digest::{ARTIFACT_FILES, artifact_digest};
use psionic_model::Model;

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
    /// Models loaded by the checks of the latest scan, for the executor.
    loaded: BTreeMap<Digest, Arc<Model>>,
}

impl Scanner {
    /// A scanner of `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            seen: BTreeMap::new(),
            loaded: BTreeMap::new(),
        }
    }

    /// The artifacts the directory holds now (the first by name where two hold the
    /// same files). When the directory, or one model's files, cannot be read, what
    /// the last scan found of them stands: a passing I/O error evicts nothing.
    pub fn scan(&mut self) -> BTreeMap<Digest, Artifact> {
        let listed = std::fs::read_dir(&self.dir).map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.is_dir() && !is_hidden(path))
                .collect::<Vec<_>>()
        });
        let mut subdirs = match listed {
            Ok(subdirs) => subdirs,
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "the models directory could not be read");
                self.seen.keys().cloned().collect()
            }
        };
        subdirs.sort();
        let mut seen = BTreeMap::new();
        let mut found = BTreeMap::new();
        for dir in subdirs {
            let fingerprint = fingerprint(&dir);
            if fingerprint.is_empty() {
                continue;
            }
            let before = self.seen.remove(&dir);
            let artifact = match before {
                Some((known, artifact)) if known == fingerprint => artifact,
                before => match self.examine(&dir, &fingerprint) {
                    Some(artifact) => artifact,
                    // Unreadable, or changed while examined: what was known stands.
                    None => match before {
                        Some((known, artifact)) => {
                            seen.insert(dir, (known, artifact.clone()));
                            add_found(&mut found, artifact);
                            continue;
                        }
                        None => continue,
                    },
                },
            };
            add_found(&mut found, artifact.clone());
            seen.insert(dir, (fingerprint, artifact));
        }
        self.seen = seen;
        found
    }

    /// Models the checks loaded since the last call.
    pub fn take_loaded(&mut self) -> BTreeMap<Digest, Arc<Model>> {
        std::mem::take(&mut self.loaded)
    }

    /// Hashes and checks the model in `dir`, whose files were `fingerprint` before
    /// (none if it cannot be read, or its files changed meanwhile).
    fn examine(&mut self, dir: &Path, fingerprint: &Fingerprint) -> Option<Artifact> {
        let (digest, bytes) = match artifact_digest(dir) {
            Ok(hashed) => hashed,
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "a model directory could not be read");
                return None;
            }
        };
        let loaded = Model::load(dir);
        let config = match &loaded {
            Ok(model) => Ok(model.config.clone()),
            Err(_) => psionic_model::read_config(dir),
        };
        let checked = loaded.map_err(|error| error.to_string()).and_then(|model| {
            crate::execute::runnable(&model).map_err(|refusal| refusal.to_string())?;
            Ok(model)
        });
        if self::fingerprint(dir) != *fingerprint {
            return None;
        }
        let problem = match checked {
            Ok(model) => {
                self.loaded.insert(digest, Arc::new(model));
                None
            }
            Err(problem) => Some(problem),
        };
        Some(Artifact {
            name: dir
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            also_named: Vec::new(),
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
}

/// Whether `path` names a hidden entry (partial copies live under one).
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

/// Adds `artifact` to `found`, or its name to the entry of the same files.
fn add_found(found: &mut BTreeMap<Digest, Artifact>, artifact: Artifact) {
    match found.get_mut(&artifact.digest) {
        Some(first) => first.also_named.push(artifact.name),
        None => {
            found.insert(artifact.digest, artifact);
        }
    }
}

/// The length and modification time of each artifact file present (regular files
/// only: a FIFO or a device named like one is not read).
fn fingerprint(dir: &Path) -> Fingerprint {
    ARTIFACT_FILES
        .iter()
        .filter_map(|name| {
            let metadata = std::fs::metadata(dir.join(name))
                .ok()
                .filter(std::fs::Metadata::is_file)?;
            Some((*name, metadata.len(), metadata.modified().ok()))
        })
        .collect()
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
            let Some((mut returned, found)) = scan_aside(scanner).await else {
                return;
            };
            models.replace(found, returned.take_loaded());
            scanner = returned;
            let residency = models.residency();
            if reported.as_ref() != Some(&residency) {
                if requests.send(Request::HoldArtifacts(residency.clone())).await.is_err() {
                    return;
                }
                reported = Some(residency);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(every_ms.max(1))) => {}
                () = models.rescan_asked() => {}
            }
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
