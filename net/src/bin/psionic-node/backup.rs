//! `backup` and `restore`: copies of a stopped node's durable state.

use std::path::Path;

use psionic_net::durable::backup;

use crate::cli::{Failed, Failure};
use crate::serve::{lock_data_dir, runtime};

/// Copies `data_dir`'s durable state into `to` (created, mode 0700; it must not exist).
pub fn backup(data_dir: &Path, to: &Path) -> Result<(), Failed> {
    let _lock = lock_data_dir(data_dir)?;
    create_private_dir(to)?;
    let copied = runtime()
        .block_on(backup::backup(data_dir, to))
        .map_err(|error| (Failure::DataDir, error.to_string()))?;
    println!(
        "backed up {} files of {} to {}",
        copied.len(),
        data_dir.display(),
        to.display()
    );
    Ok(())
}

/// Replaces `data_dir`'s durable state by the backup in `from` and marks it restored:
/// the node catches up with the cluster's leader before it votes again.
pub fn restore(from: &Path, data_dir: &Path, trust_backup: bool) -> Result<(), Failed> {
    if !data_dir.exists() {
        create_private_dir(data_dir)?;
    }
    let _lock = lock_data_dir(data_dir)?;
    let rejoin = match trust_backup {
        true => backup::Rejoin::TrustBackup,
        false => backup::Rejoin::Recover,
    };
    let written = runtime()
        .block_on(backup::restore(from, data_dir, rejoin))
        .map_err(|error| (Failure::DataDir, error.to_string()))?;
    let then = match rejoin {
        backup::Rejoin::Recover => "the node votes again once it has caught up with the leader",
        backup::Rejoin::TrustBackup => "the node trusts the backup as it is",
    };
    println!(
        "restored {} files of {} into {}; {then}",
        written.len(),
        from.display(),
        data_dir.display()
    );
    Ok(())
}

fn create_private_dir(path: &Path) -> Result<(), Failed> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|error| (Failure::DataDir, format!("{}: cannot create: {error}", path.display())))
}
