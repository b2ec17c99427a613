//! Credential rotation as an operator runs it: admission tokens added to and dropped
//! from nodes' configurations (a SIGHUP for the live ones), and the cut-over
//! committed through the leader.

use psionic_core::{AdmissionToken, ClusterId, TrustPosture};

use super::SimCluster;
use crate::trace::Fault;

impl SimCluster {
    /// Gives `names` the admission tokens `token` and `next`: the live nodes at once,
    /// every one for its later starts.
    pub async fn give_admission_tokens(
        &mut self,
        names: &[String],
        token: AdmissionToken,
        next: Option<AdmissionToken>,
        cluster_id: ClusterId,
    ) {
        let posture = TrustPosture::TrustedLan {
            token: token.clone(),
            next: next.clone(),
        };
        let clients: Vec<_> = {
            let mut state = self.shared.state();
            for name in names {
                state.postures.insert(name.clone(), posture.clone());
            }
            names
                .iter()
                .filter_map(|name| state.clients.get(name).cloned())
                .collect()
        };
        for client in clients {
            client.replace_admission_tokens(posture.clone()).await;
        }
        let held = std::iter::once(&token)
            .chain(&next)
            .map(|token| token.digest(cluster_id))
            .collect();
        self.fault(Fault::AdmissionTokens {
            nodes: names.to_vec(),
            held,
        });
    }
}
