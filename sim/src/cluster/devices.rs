//! Simulated GPU inventories: what each node's driver reports, changed by the
//! harness, and whether the cluster has committed it.

use psionic_cuda::CudaReadiness;

use super::SimCluster;
use crate::trace::Fault;

impl SimCluster {
    /// From now on `name`'s driver reports `devices`.
    pub fn set_devices(&mut self, name: &str, devices: CudaReadiness) {
        let gpus = match &devices {
            CudaReadiness::Ready { inventory } => inventory.devices.len(),
            CudaReadiness::Refused { .. } => 0,
        };
        self.node(name).devices.send_replace(devices);
        self.fault(Fault::Devices {
            node: name.to_owned(),
            gpus,
        });
    }

    /// Every live honest node's applied state holds `count` voters.
    pub(super) async fn voters_applied(&self, count: usize) -> bool {
        let live = self.live_honest();
        let reports = self.state_reports(&live).await;
        live.iter().all(|name| {
            reports
                .get(name)
                .is_some_and(|report| report.members.iter().filter(|member| member.voter).count() == count)
        })
    }

    /// Every live honest node's state report records every live honest node's
    /// readiness as its driver reports it now (a paused node reports nothing).
    pub(super) async fn readiness_committed(&self) -> bool {
        let live = self.live_honest();
        let reports = self.state_reports(&live).await;
        live.iter().all(|viewer| {
            let Some(report) = reports.get(viewer) else {
                return false;
            };
            live.iter().all(|subject| {
                let node = self.node(subject);
                let profiles = node.spec.settings.executor.profiles();
                let expected = node.devices.borrow().report().with_profiles(&profiles).readiness;
                let id = self.node_id(subject);
                report
                    .members
                    .iter()
                    .any(|member| member.node_id == id && member.backends == expected)
            })
        })
    }
}
