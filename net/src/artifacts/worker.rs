//! The task that carries out a node's staging work on its artifact disk, one piece at
//! a time in the order the core asked (so a discard never overtakes a write), and
//! hands each answer back to the driver.

use std::sync::Arc;

use psionic_core::staging::{StagingDone, StagingFailure, StagingIo};
use tokio::sync::mpsc;

use super::ArtifactDisk;
use crate::driver::Request;
use crate::stream::AbortOnDrop;

/// Where the driver sends staging work.
#[derive(Debug)]
pub struct StagingWorker {
    work: mpsc::UnboundedSender<StagingIo>,
    _task: AbortOnDrop,
}

impl StagingWorker {
    /// Starts the worker on `disk` (none: the node has no models directory, and every
    /// piece of work fails).
    pub fn spawn(disk: Option<Arc<dyn ArtifactDisk>>, requests: mpsc::Sender<Request>) -> Self {
        let (work, mut queue) = mpsc::unbounded_channel::<StagingIo>();
        let task = tokio::spawn(async move {
            while let Some(io) = queue.recv().await {
                let done = match &disk {
                    Some(disk) => carry_out_aside(Arc::clone(disk), io).await,
                    None => without_disk(io),
                };
                if let Some(done) = done
                    && requests.send(Request::StagingDone(done)).await.is_err()
                {
                    return;
                }
            }
        });
        Self {
            work,
            _task: AbortOnDrop(task),
        }
    }

    /// Queues `io`.
    pub fn carry_out(&self, io: StagingIo) {
        let _ = self.work.send(io);
    }
}

/// The answer of a node without a models directory.
fn without_disk(io: StagingIo) -> Option<StagingDone> {
    let failure = StagingFailure::NoModelsDirectory;
    match io {
        StagingIo::Open { artifact } => Some(StagingDone::Opened {
            artifact,
            result: Err(failure),
        }),
        StagingIo::Write { artifact, .. } => Some(StagingDone::Written {
            artifact,
            result: Err(failure),
        }),
        StagingIo::Finish { artifact, .. } => Some(StagingDone::Finished {
            artifact,
            result: Err(failure),
        }),
        StagingIo::Discard { .. } => None,
        StagingIo::Read {
            peer, artifact, offset, ..
        } => Some(StagingDone::Read {
            peer,
            artifact,
            offset,
            result: Err(failure),
        }),
    }
}

/// On the blocking pool: a piece of work reads or writes files.
#[cfg(not(madsim))]
async fn carry_out_aside(disk: Arc<dyn ArtifactDisk>, io: StagingIo) -> Option<StagingDone> {
    tokio::task::spawn_blocking(move || disk.carry_out(io))
        .await
        .ok()
        .flatten()
}

/// The simulator has no blocking pool, and its disks are in memory.
#[cfg(madsim)]
async fn carry_out_aside(disk: Arc<dyn ArtifactDisk>, io: StagingIo) -> Option<StagingDone> {
    disk.carry_out(io)
}
