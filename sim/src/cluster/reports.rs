//! The nodes' replicated-state reports, asked of their drivers when a check needs
//! them (a report digests the whole state: too dear to publish after every change).

use std::collections::BTreeMap;

use psionic_core::StateReport;
use psionic_net::NodeClient;

use super::SimCluster;

impl SimCluster {
    /// The report of each of `names` that runs and is not paused, built by its driver
    /// now.
    pub(super) async fn state_reports(&self, names: &[String]) -> BTreeMap<String, StateReport> {
        let clients: Vec<(String, NodeClient)> = {
            let shared = self.shared.state();
            names
                .iter()
                .filter(|name| !self.paused.contains(*name))
                .filter_map(|name| Some((name.clone(), shared.clients.get(name)?.clone())))
                .collect()
        };
        let mut reports = BTreeMap::new();
        for (name, client) in clients {
            if let Some(report) = client.state_report().await {
                reports.insert(name, report);
            }
        }
        reports
    }
}
