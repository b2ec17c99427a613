//! The built-in scenarios: the files in `scenarios/catalogue/`, compiled in.

use std::path::Path;

use crate::script::{self, Scenario, ScenarioError};

/// Every built-in scenario as (name, file text).
pub const CATALOGUE: &[(&str, &str)] = &[
    ("discovery", include_str!("../catalogue/discovery.toml")),
    ("failover", include_str!("../catalogue/failover.toml")),
    ("leader-isolation", include_str!("../catalogue/leader-isolation.toml")),
    (
        "minority-partition",
        include_str!("../catalogue/minority-partition.toml"),
    ),
    ("flapping-links", include_str!("../catalogue/flapping-links.toml")),
    ("rolling-restart", include_str!("../catalogue/rolling-restart.toml")),
    ("clock-skew", include_str!("../catalogue/clock-skew.toml")),
    (
        "lagging-follower-snapshot",
        include_str!("../catalogue/lagging-follower-snapshot.toml"),
    ),
    ("bridge-and-halves", include_str!("../catalogue/bridge-and-halves.toml")),
    ("gpu-fleet", include_str!("../catalogue/gpu-fleet.toml")),
    ("scheduling", include_str!("../catalogue/scheduling.toml")),
    (
        "forwarded-requests",
        include_str!("../catalogue/forwarded-requests.toml"),
    ),
    ("swarm", include_str!("../catalogue/swarm.toml")),
    ("long-partition", include_str!("../catalogue/long-partition.toml")),
    ("membership-churn", include_str!("../catalogue/membership-churn.toml")),
    (
        "transfer-under-faults",
        include_str!("../catalogue/transfer-under-faults.toml"),
    ),
    ("storage-faults", include_str!("../catalogue/storage-faults.toml")),
    ("join-by-runbook", include_str!("../catalogue/join-by-runbook.toml")),
    (
        "credential-rotation",
        include_str!("../catalogue/credential-rotation.toml"),
    ),
    ("staging", include_str!("../catalogue/staging.toml")),
];

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither a built-in name nor a readable file.
    #[error("no scenario named {name:?} and no such file; `cargo sim list` shows the built-in ones")]
    Unknown {
        /// What was asked for.
        name: String,
    },
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid scenario.
    #[error("{path}: {source}")]
    Invalid {
        /// The file (or built-in name).
        path: String,
        /// What is wrong, with its line.
        source: ScenarioError,
    },
}

/// The built-in scenario `name_or_path`, or else the scenario file at that path.
pub fn load(name_or_path: &str) -> Result<Scenario, LoadError> {
    if let Some((name, text)) = CATALOGUE.iter().find(|(name, _)| *name == name_or_path) {
        return script::parse(name, text).map_err(|source| LoadError::Invalid {
            path: format!("scenarios/catalogue/{name}.toml"),
            source,
        });
    }
    let path = Path::new(name_or_path);
    if !path.is_file() {
        return Err(LoadError::Unknown {
            name: name_or_path.to_owned(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: name_or_path.to_owned(),
        source,
    })?;
    let name = path.file_stem().and_then(|stem| stem.to_str()).unwrap_or(name_or_path);
    script::parse(name, &text).map_err(|source| LoadError::Invalid {
        path: name_or_path.to_owned(),
        source,
    })
}

/// Every built-in scenario, parsed.
pub fn all() -> Vec<Scenario> {
    CATALOGUE
        .iter()
        .map(|(name, _)| load(name).expect("built-in scenarios parse (a test checks)"))
        .collect()
}
