//! Where a node learns what its backends can do: the CUDA driver on a real machine,
//! or an inventory the caller hands in (simulation, tests).
//!
//! Each report goes to the core, which keeps free memory as telemetry and has the
//! leader commit readiness when it changes.

use std::collections::BTreeMap;
use std::time::Duration;

use psionic_core::backend::{Backend, BackendRefusal, ExecutionProfile};
use psionic_cuda::CudaReadiness;
use tokio::sync::{mpsc, watch};

use crate::driver::Request;
use crate::stream::AbortOnDrop;

/// Default time between two probes of the CUDA driver.
pub const PROBE_INTERVAL_MS_DEFAULT: u64 = 30_000;

/// Shortest time between two probes a configuration file may ask for.
pub const PROBE_INTERVAL_MS_MIN: u64 = 100;

/// Where a node's device reports come from.
#[derive(Clone, Debug)]
pub enum DeviceSource {
    /// Probe the CUDA driver at start and every `every_ms` (a simulation build has no
    /// driver: CUDA is refused with `no-driver`).
    Probe {
        /// Time between probes.
        every_ms: u64,
    },
    /// The inventory on this channel; each change is reported at once.
    Given(watch::Receiver<CudaReadiness>),
}

impl Default for DeviceSource {
    fn default() -> Self {
        DeviceSource::Probe {
            every_ms: PROBE_INTERVAL_MS_DEFAULT,
        }
    }
}

/// Spawns the task that feeds `source`'s reports to the driver until it stops.
/// Each ready backend is declared with the profile `profiles` gives it (none: it
/// runs nothing here), unless `refusals` refuses it.
pub(crate) fn spawn_reporter(
    source: DeviceSource,
    (profiles, refusals): (BTreeMap<Backend, ExecutionProfile>, BTreeMap<Backend, BackendRefusal>),
    requests: mpsc::Sender<Request>,
) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        match source {
            DeviceSource::Probe { every_ms } => loop {
                let report = probe().await.report().with_refusals(&refusals).with_profiles(&profiles);
                if requests.send(Request::ReportDevices(report)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(every_ms.max(1))).await;
            },
            DeviceSource::Given(mut given) => loop {
                let report = given
                    .borrow_and_update()
                    .report()
                    .with_refusals(&refusals)
                    .with_profiles(&profiles);
                if requests.send(Request::ReportDevices(report)).await.is_err() || given.changed().await.is_err() {
                    return;
                }
            },
        }
    }))
}

#[cfg(not(madsim))]
async fn probe() -> CudaReadiness {
    let probed = tokio::task::spawn_blocking(psionic_cuda::probe).await;
    CudaReadiness::of(probed.unwrap_or(Err(psionic_cuda::BackendRefusal::NoDriver)))
}

#[cfg(madsim)]
async fn probe() -> CudaReadiness {
    CudaReadiness::of(Err(psionic_cuda::BackendRefusal::NoDriver))
}
