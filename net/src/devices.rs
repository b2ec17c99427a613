//! Where a node learns what its backends can do: the CUDA driver on a real machine,
//! or an inventory the caller hands in (simulation, tests).
//!
//! Each report goes to the core, which keeps free memory as telemetry and has the
//! leader commit readiness when it changes.

use std::sync::Arc;
use std::time::Duration;

use psionic_cuda::CudaReadiness;
use tokio::sync::{mpsc, watch};

use crate::driver::Request;
use crate::execute::Executor;
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
/// Each ready backend is declared with the profile `executor` gives it now (none: it
/// runs nothing here), unless `executor` refuses it now (a device that faulted since
/// start is reported refused at the next report).
pub(crate) fn spawn_reporter(
    source: DeviceSource,
    executor: Arc<dyn Executor>,
    requests: mpsc::Sender<Request>,
) -> AbortOnDrop {
    let declared = move |readiness: &CudaReadiness| {
        let report = readiness.report().with_refusals(&executor.refusals());
        report.with_profiles(&executor.profiles())
    };
    AbortOnDrop(tokio::spawn(async move {
        match source {
            DeviceSource::Probe { every_ms } => loop {
                let report = declared(&probe().await);
                if requests.send(Request::ReportDevices(report)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(every_ms.max(1))).await;
            },
            DeviceSource::Given(mut given) => loop {
                let report = declared(&given.borrow_and_update());
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use psionic_core::backend::{Backend, BackendReadiness, BackendRefusal, DeviceOperation, ExecutionProfile};
    use psionic_cuda::DeviceInventory;

    use super::*;
    use crate::execute::{Execution, ExecutionError, Job};

    /// Runs nothing; refuses CUDA once told a device faulted.
    #[derive(Debug, Default)]
    struct Faulting {
        faulted: Mutex<bool>,
    }

    impl Executor for Faulting {
        fn profiles(&self) -> BTreeMap<Backend, ExecutionProfile> {
            [
                (Backend::Cpu, ExecutionProfile::dispatch()),
                (Backend::Cuda, ExecutionProfile::dispatch()),
            ]
            .into()
        }

        fn refusals(&self) -> BTreeMap<Backend, BackendRefusal> {
            let fault = BackendRefusal::Device {
                operation: DeviceOperation::Kernel,
                code: 700,
            };
            let faulted = *self.faulted.lock().unwrap();
            faulted.then_some((Backend::Cuda, fault)).into_iter().collect()
        }

        fn prefill(&self, job: &Job) -> Result<Box<dyn Execution>, ExecutionError> {
            Err(ExecutionError::Backend { backend: job.backend })
        }
    }

    async fn next_cuda(reports: &mut mpsc::Receiver<Request>) -> BackendReadiness {
        match reports.recv().await {
            Some(Request::ReportDevices(report)) => report.readiness[&Backend::Cuda].clone(),
            _ => panic!("a device report"),
        }
    }

    #[tokio::test]
    async fn a_device_that_faults_after_start_is_reported_refused_at_the_next_report() {
        let executor = Arc::new(Faulting::default());
        let inventory = DeviceInventory::simulated(1, 80);
        let (given, watched) = watch::channel(CudaReadiness::Ready { inventory });
        let (requests, mut reports) = mpsc::channel(8);
        let _reporter = spawn_reporter(DeviceSource::Given(watched), executor.clone(), requests);
        assert!(matches!(next_cuda(&mut reports).await, BackendReadiness::Ready { .. }));
        *executor.faulted.lock().unwrap() = true;
        given.send_modify(|_| {});
        let refused = BackendReadiness::Refused {
            reason: BackendRefusal::Device {
                operation: DeviceOperation::Kernel,
                code: 700,
            },
        };
        assert_eq!(next_cuda(&mut reports).await, refused);
    }
}
