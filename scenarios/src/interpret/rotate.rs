//! The `rotate` step: a credential rotated as the runbook's drill does it.

use std::time::Duration;

use psionic_core::{AdmissionToken, ClusterCommand};
use psionic_sim::NotApplied;

use super::Play;
use crate::nodes::{cluster_id, cluster_token};
use crate::script::{Rotation, Target};

impl Play<'_> {
    /// Rotates `what` on every honest node but `left_out`, committing the cut-over
    /// through the leader within `within`.
    pub(super) async fn rotate(
        &mut self,
        what: Rotation,
        left_out: Option<&Target>,
        within: Duration,
    ) -> Result<(), NotApplied> {
        let left_out = left_out.map(|target| self.resolve(target, &[])).transpose()?;
        let holders: Vec<String> = self
            .cluster
            .honest_members()
            .into_iter()
            .filter(|name| Some(name) != left_out.as_ref())
            .collect();
        match what {
            Rotation::AdmissionToken => self.rotate_admission_token(&holders, within).await,
        }
    }

    /// Next token alongside the old on `holders`, then the cut-over committed. The
    /// old token stays in their configurations: from the cut-over on, only the log
    /// keeps them from accepting it.
    async fn rotate_admission_token(&mut self, holders: &[String], within: Duration) -> Result<(), NotApplied> {
        let token = |rotations| AdmissionToken::new(cluster_token(rotations)).expect("long enough");
        let (old, next) = (token(self.token_rotations), token(self.token_rotations + 1));
        let cluster_id = cluster_id();
        self.cluster
            .give_admission_tokens(holders, old, Some(next.clone()), cluster_id)
            .await;
        let cut_over = ClusterCommand::CutOverAdmissionToken {
            token: next.digest(cluster_id),
        };
        self.cluster.operator_command(cut_over, within).await?;
        self.token_rotations += 1;
        Ok(())
    }
}
