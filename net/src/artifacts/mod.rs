//! This node's models directory: each subdirectory holding a llama-architecture model
//! (`config.json`, `model.safetensors`, optionally `tokenizer.json`) is an artifact,
//! named by the digest of its files. A file is hashed once, and again only when its
//! length or modification time changes. What the scan finds is reported to the core,
//! which records this node's residency of each; the [`ModelExecutor`] runs them.
//!
//! [`ModelExecutor`]: crate::execute::ModelExecutor

mod digest;
mod disk;
#[cfg(test)]
mod disk_tests;
mod scanner;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use psionic_core::Digest;
use psionic_core::state::Residency;
use psionic_model::Model;
use serde::Serialize;

pub use digest::artifact_digest;
pub use disk::{ArtifactDisk, ModelsDisk, STAGING_DIR};
pub use scanner::{Scanner, spawn_scanner};
pub use worker::StagingWorker;

/// Default time between two scans of the models directory.
pub const SCAN_INTERVAL_MS_DEFAULT: u64 = 10_000;

/// Where a node's models come from.
#[derive(Clone, Debug)]
pub struct ArtifactSource {
    /// The models directory.
    pub dir: PathBuf,
    /// Time between two scans.
    pub scan_interval_ms: u64,
    /// What the scans found, shared with the executor.
    pub models: Arc<Models>,
}

/// One artifact the models directory holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// Its subdirectory's name (the first by name where several hold the same files).
    pub name: String,
    /// The other subdirectories holding the same files.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_named: Vec<String>,
    /// Its subdirectory.
    pub dir: PathBuf,
    /// The digest of its files.
    pub digest: Digest,
    /// Bytes of its files.
    pub bytes: u64,
    /// `resident`, or `failed` with `problem`.
    pub residency: Residency,
    /// Why it cannot run.
    pub problem: Option<String>,
    /// The architecture its configuration names.
    pub architecture: Option<String>,
    /// Parameters its configuration implies.
    pub parameters: Option<u64>,
}

/// The artifacts found by the latest scan, and the models loaded from them.
#[derive(Debug, Default)]
pub struct Models {
    found: Mutex<BTreeMap<Digest, Artifact>>,
    loaded: Mutex<BTreeMap<Digest, Arc<Model>>>,
    /// Wakes the scanner before its interval ends (a copy was moved in).
    rescan: tokio::sync::Notify,
}

impl Models {
    /// The artifacts found by the latest scan.
    pub fn found(&self) -> BTreeMap<Digest, Artifact> {
        self.found.lock().expect("the models lock is not poisoned").clone()
    }

    /// The digest of the artifact found under the directory name `name`.
    pub fn named(&self, name: &str) -> Option<Digest> {
        let found = self.found.lock().expect("the models lock is not poisoned");
        found
            .values()
            .find(|artifact| artifact.name == name || artifact.also_named.iter().any(|other| other == name))
            .map(|artifact| artifact.digest)
    }

    /// Asks the scanner to scan again now.
    pub fn rescan_soon(&self) {
        self.rescan.notify_one();
    }

    /// Waits for [`Models::rescan_soon`].
    pub(crate) async fn rescan_asked(&self) {
        self.rescan.notified().await;
    }

    /// The residency of each artifact found, as the core records it.
    pub fn residency(&self) -> BTreeMap<Digest, Residency> {
        let found = self.found.lock().expect("the models lock is not poisoned");
        found
            .iter()
            .map(|(digest, artifact)| (*digest, artifact.residency))
            .collect()
    }

    /// Replaces what the scan found, with the models its checks loaded; models of
    /// artifacts no longer found are dropped.
    pub(crate) fn replace(&self, found: BTreeMap<Digest, Artifact>, fresh: BTreeMap<Digest, Arc<Model>>) {
        let mut loaded = self.loaded.lock().expect("the models lock is not poisoned");
        loaded.extend(fresh);
        loaded.retain(|digest, _| found.contains_key(digest));
        *self.found.lock().expect("the models lock is not poisoned") = found;
    }

    /// The model of `artifact`: the one its scan loaded, or loaded now (a scan that
    /// found it without loading it, such as after an I/O error).
    pub fn model(&self, artifact: Digest) -> Result<Arc<Model>, psionic_core::dispatch::ModelRefusal> {
        use psionic_core::dispatch::ModelRefusal;
        let mut loaded = self.loaded.lock().expect("the models lock is not poisoned");
        if let Some(model) = loaded.get(&artifact) {
            return Ok(Arc::clone(model));
        }
        let dir = {
            let found = self.found.lock().expect("the models lock is not poisoned");
            let entry = found.get(&artifact).ok_or(ModelRefusal::NotHeld { artifact })?;
            if let Some(problem) = &entry.problem {
                return Err(ModelRefusal::unloadable(artifact, problem));
            }
            entry.dir.clone()
        };
        let model = Model::load(&dir).map_err(|error| ModelRefusal::unloadable(artifact, &error.to_string()))?;
        let model = Arc::new(model);
        loaded.insert(artifact, Arc::clone(&model));
        Ok(model)
    }
}
