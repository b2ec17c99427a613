//! `model make-test` and `model list`: the seeded test model, and what a models
//! directory holds as a node's scan sees it.

use std::path::Path;

use psionic_net::artifacts::{Scanner, artifact_digest};

use crate::cli::{Failed, Failure};

/// Writes the test model with weights from `seed` to `out` and prints its digest.
pub fn make_test(out: &Path, seed: u64) -> Result<(), Failed> {
    let config = psionic_model::make_test::test_config();
    psionic_model::make_test::write(out, &config, seed).map_err(|error| (Failure::Config, error.to_string()))?;
    let (digest, bytes) = artifact_digest(out).map_err(|error| (Failure::Config, error.to_string()))?;
    println!(
        "{digest}  {}  ({bytes} bytes, {} parameters)",
        out.display(),
        config.parameters()
    );
    Ok(())
}

/// Prints each model in `dir` (one line each, or JSON): digest, residency, name,
/// and why it cannot run.
pub fn list(dir: &Path, json: bool) -> Result<(), Failed> {
    if let Err(error) = std::fs::read_dir(dir) {
        return Err((Failure::Config, format!("{}: {error}", dir.display())));
    }
    let found = Scanner::new(dir.to_path_buf()).scan();
    if json {
        let artifacts: Vec<_> = found.values().collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&artifacts).expect("artifacts encode")
        );
        return Ok(());
    }
    for artifact in found.values() {
        let residency = serde_json::to_value(artifact.residency).expect("a residency encodes");
        let residency = residency.as_str().unwrap_or("?").to_owned();
        let problem = artifact
            .problem
            .as_deref()
            .map(|problem| format!("  ({problem})"))
            .unwrap_or_default();
        println!("{}  {residency}  {}{problem}", artifact.digest, artifact.name);
    }
    Ok(())
}
