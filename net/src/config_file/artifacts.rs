//! `[artifacts]`: the models directory, and the executor it implies.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::{ConfigFileError, RawExecutor};
use crate::artifacts::{ArtifactSource, Models, SCAN_INTERVAL_MS_DEFAULT};
use crate::execute::{Executor, ModelExecutor};

/// Shortest time between two scans a configuration may ask for.
pub const SCAN_INTERVAL_MS_MIN: u64 = 100;

/// `[artifacts]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawArtifacts {
    dir: Option<PathBuf>,
    scan_interval_ms: Option<u64>,
}

/// Why `[artifacts]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactsConfigError {
    /// The models directory is not a readable directory.
    #[error("artifacts.dir {dir}: {source}", dir = dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Scans this close would hash a busy directory without rest.
    #[error("artifacts.scan_interval_ms is {given_ms}; at least {min_ms}")]
    ScanTooOften {
        /// Given.
        given_ms: u64,
        /// Shortest accepted.
        min_ms: u64,
    },
    /// A reference step was set for a node that runs its models directory.
    #[error("executor.reference_step_ms applies to the reference model only; remove it, or [artifacts]")]
    ReferenceStepWithModels,
    /// Reference models were named for a node that runs its models directory.
    #[error("executor.reference_models applies to the reference model only; remove it, or [artifacts]")]
    ReferenceModelsWithModels,
}

/// The executor and, with a models directory, where its models come from (paths
/// relative to `base`).
pub(super) fn resolve(
    path: &Path,
    base: &Path,
    raw: RawArtifacts,
    executor: &RawExecutor,
) -> Result<(Arc<dyn Executor>, Option<ArtifactSource>), ConfigFileError> {
    let Some(dir) = raw.dir else {
        return Ok((super::reference_executor(path, executor)?, None));
    };
    let error = |error| ConfigFileError::Artifacts {
        path: path.into(),
        error,
    };
    if executor.reference_step_ms.is_some() {
        return Err(error(ArtifactsConfigError::ReferenceStepWithModels));
    }
    if !executor.reference_models.is_empty() {
        return Err(error(ArtifactsConfigError::ReferenceModelsWithModels));
    }
    let scan_interval_ms = raw.scan_interval_ms.unwrap_or(SCAN_INTERVAL_MS_DEFAULT);
    if scan_interval_ms < SCAN_INTERVAL_MS_MIN {
        let (given_ms, min_ms) = (scan_interval_ms, SCAN_INTERVAL_MS_MIN);
        return Err(error(ArtifactsConfigError::ScanTooOften { given_ms, min_ms }));
    }
    let dir = base.join(dir);
    if let Err(source) = std::fs::read_dir(&dir) {
        return Err(error(ArtifactsConfigError::Dir { dir, source }));
    }
    let models = Arc::new(Models::default());
    let executor: Arc<dyn Executor> = Arc::new(ModelExecutor::new(Arc::clone(&models)));
    Ok((
        executor,
        Some(ArtifactSource {
            dir,
            scan_interval_ms,
            models,
        }),
    ))
}
