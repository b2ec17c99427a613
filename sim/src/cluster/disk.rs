//! What the harness does to a stopped node's simulated disk before its next start:
//! damage (a torn tail, a flipped bit, a lost file), backups and restores. The
//! simulated disk is the node's own, so each action runs as the node boots.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use psionic_net::durable::{StoreError, backup, log_segment_files};
use psionic_net::{StartError, storage};
use serde::{Deserialize, Serialize};

use super::NodeSpec;
use crate::observer::SimObserver;
use crate::report::Violation;
use crate::trace::{DiskDamage, TraceKind};

/// Bytes a torn tail cuts off the newest log record.
const TORN_BYTES: usize = 5;

/// One action on a node's disk, carried out before its next start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiskAction {
    /// Damage the data directory.
    Damage(DiskDamage),
    /// Copy the data directory aside (see [`backup_dir`]).
    Backup,
    /// Replace the data directory by the copy, marked restored.
    Restore,
}

/// Where a node's backup is kept, on its own disk.
fn backup_dir(data_dir: &Path) -> PathBuf {
    data_dir.with_extension("backup")
}

/// Carries out every action queued for `spec`'s node, in order.
pub(super) async fn carry_out(spec: &NodeSpec, observer: &Arc<SimObserver>) {
    let actions = observer
        .shared
        .state()
        .disk_actions
        .remove(&spec.name)
        .unwrap_or_default();
    let data_dir = &spec.settings.data_dir;
    for action in actions {
        let done = match action {
            DiskAction::Damage(damage) => damage_dir(data_dir, damage).await,
            DiskAction::Backup => backup::backup(data_dir, &backup_dir(data_dir)).await.map(drop),
            DiskAction::Restore => backup::restore(&backup_dir(data_dir), data_dir, backup::Rejoin::Recover)
                .await
                .map(drop),
        };
        if let Err(error) = done {
            panic!("{}: {action:?} on the simulated disk failed: {error}", spec.name);
        }
    }
}

/// The node refused to start: recorded, and a violation unless its disk was damaged
/// so that it must.
pub(super) fn refused_to_start(name: &str, error: &StartError, observer: &SimObserver) {
    let error = error.to_string();
    observer
        .shared
        .record(name, TraceKind::StartRefused { error: error.clone() });
    let mut state = observer.shared.state();
    state.broken.insert(name.to_owned());
    if !state.must_refuse.remove(name) {
        state.violations.push(Violation::StartRefused {
            node: name.to_owned(),
            error,
        });
    }
}

async fn damage_dir(data_dir: &Path, damage: DiskDamage) -> Result<(), StoreError> {
    match damage {
        DiskDamage::TornTail => {
            let Some(segment) = log_segment_files(data_dir).await?.pop() else {
                return Ok(());
            };
            let bytes = read(&segment).await?;
            let kept = bytes.len().saturating_sub(TORN_BYTES);
            write(&segment, &bytes[..kept]).await
        }
        DiskDamage::BitFlip => flip_a_bit(data_dir).await,
        DiskDamage::LostFile => {
            let path = data_dir.join("hard-state");
            storage::discard(&path).await.map_err(io_error(&path, "remove"))
        }
    }
}

/// Flips a bit of the first record's length (64 KiB more: past the end of a small
/// segment, into the records after it in a large one) in a segment holding two records
/// or more (whole records follow it: corruption, not a torn tail), else of the
/// term-and-vote file's checksum.
async fn flip_a_bit(data_dir: &Path) -> Result<(), StoreError> {
    for segment in log_segment_files(data_dir).await? {
        let mut bytes = read(&segment).await?;
        if holds_two_records(&bytes) {
            bytes[2] ^= 0x01;
            return write(&segment, &bytes).await;
        }
    }
    let path = data_dir.join("hard-state");
    let mut bytes = read(&path).await?;
    if let Some(byte) = bytes.get_mut(4) {
        *byte ^= 0x01;
    }
    write(&path, &bytes).await
}

/// Whether `bytes` start with a whole record followed by more.
fn holds_two_records(bytes: &[u8]) -> bool {
    let Some(len) = bytes.get(..4) else { return false };
    let first = 12 + u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    bytes.len() > first + 12
}

async fn read(path: &Path) -> Result<Vec<u8>, StoreError> {
    storage::read(path)
        .await
        .map(Option::unwrap_or_default)
        .map_err(io_error(path, "read"))
}

async fn write(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    storage::write_atomic(path, bytes, false)
        .await
        .map_err(io_error(path, "write"))
}

fn io_error(path: &Path, operation: &'static str) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_owned();
    move |source| StoreError::Io {
        path,
        operation,
        source,
    }
}

impl super::SimCluster {
    /// Queues `action` on the stopped node `name`'s disk, carried out before its next
    /// start. Damage that a node must refuse to start from is expected to be refused.
    pub fn queue_disk_action(&mut self, name: &str, action: DiskAction) {
        let mut state = self.shared.state();
        state.disk_actions.entry(name.to_owned()).or_default().push(action);
        if action != DiskAction::Backup {
            state.invariants.applied_kept.forget(name);
        }
        match action {
            DiskAction::Damage(damage) if damage.refuses_start() => {
                state.must_refuse.insert(name.to_owned());
            }
            DiskAction::Restore => {
                state.must_refuse.remove(name);
            }
            _ => {}
        }
        drop(state);
        let node = name.to_owned();
        self.fault(match action {
            DiskAction::Damage(what) => crate::trace::Fault::Corrupt { node, what },
            DiskAction::Backup => crate::trace::Fault::Backup { node },
            DiskAction::Restore => crate::trace::Fault::Restore { node },
        });
    }

    /// Whether `name`'s disk was damaged so that it must refuse its next start.
    pub fn must_refuse(&self, name: &str) -> bool {
        self.shared.state().must_refuse.contains(name)
    }

    /// Whether `name` refused to start and has not started since.
    pub fn refused_to_start(&self, name: &str) -> bool {
        self.shared.state().broken.contains(name)
    }

    /// Counts a node that refused to start as down (so `restart` can start it again).
    pub fn mark_down(&mut self, name: &str) {
        self.runtime.kill(self.node(name).handle.id());
        if self.killed.insert(name.to_owned()) {
            self.kill_order.push(name.to_owned());
        }
    }
}
