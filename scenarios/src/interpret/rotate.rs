//! The `rotate` step: a credential rotated as the runbook's drill does it.

use std::time::Duration;

use psionic_core::{AdmissionToken, ClusterCommand, RefusalKind};
use psionic_sim::{Condition, NotApplied};

use super::Play;
use crate::nodes::{cluster_id, cluster_token};
use crate::script::{Rotation, Target};

/// How long a cut-over only the leader could follow is asked for before the step
/// goes on (the leader answers `token-not-held-by-quorum` at once; the operator asks
/// again until this passes).
const PREMATURE_WITHIN: Duration = Duration::from_millis(1_000);

impl Play<'_> {
    /// Rotates `what` (see the step) within `within`; `check`: a node key's retired
    /// key is then refused by every live genesis voter.
    pub(super) async fn rotate(
        &mut self,
        what: Rotation,
        node: Option<&Target>,
        within: Duration,
        check: bool,
    ) -> Result<(), NotApplied> {
        let node = node.map(|target| self.resolve(target, &[])).transpose()?;
        match what {
            Rotation::AdmissionToken => {
                let holders: Vec<String> = self
                    .cluster
                    .honest_members()
                    .into_iter()
                    .filter(|name| Some(name) != node.as_ref())
                    .collect();
                self.rotate_admission_token(&holders, within, check).await
            }
            Rotation::OperatorCredential => self.rotate_operator_credential(within, check).await,
            Rotation::NodeKey => {
                let node = match node {
                    Some(node) => node,
                    None => self.resolve(&Target::Random, &[])?,
                };
                self.rotate_node_key(&node, within, check).await
            }
        }
    }

    /// Next token alongside the old on `holders`, then the cut-over committed. The
    /// old token stays in their configurations: from the cut-over on, only the log
    /// keeps them from accepting it. With `check`, the leader is first given the next
    /// token alone, and a cut-over then must be refused (too few voters hold it).
    async fn rotate_admission_token(
        &mut self,
        holders: &[String],
        within: Duration,
        check: bool,
    ) -> Result<(), NotApplied> {
        let token = |rotations| AdmissionToken::new(cluster_token(rotations)).expect("long enough");
        let (old, next) = (token(self.token_rotations), token(self.token_rotations + 1));
        let cluster_id = cluster_id();
        let cut_over = ClusterCommand::CutOverAdmissionToken {
            token: next.digest(cluster_id),
        };
        if let Some(leader) = self
            .cluster
            .current_leader()
            .filter(|leader| check && holders.contains(leader))
        {
            let alone = [leader.clone()];
            self.cluster
                .give_admission_tokens(&alone, old.clone(), Some(next.clone()), cluster_id)
                .await;
            if self
                .cluster
                .operator_command(cut_over.clone(), PREMATURE_WITHIN)
                .await
                .is_ok()
            {
                return Err(NotApplied::NotRefused { node: leader });
            }
        }
        self.cluster
            .give_admission_tokens(holders, old, Some(next.clone()), cluster_id)
            .await;
        self.cluster.operator_command(cut_over, within).await?;
        self.token_rotations += 1;
        Ok(())
    }

    /// The operator's credential rotated; with `check`, an admin command under the old
    /// one is then refused.
    async fn rotate_operator_credential(&mut self, within: Duration, check: bool) -> Result<(), NotApplied> {
        self.credential_rotations += 1;
        let next = format!("operator-{}", self.credential_rotations);
        let old = self.cluster.rotate_operator_credential(&next, within).await?;
        if check {
            self.cluster.expect_not_authorized(&old, within).await?;
        }
        Ok(())
    }

    /// `node`'s key rotated; with `check`, once the key it moved from is retired on
    /// every live node, a frame under it goes to every live genesis voter, and each
    /// must refuse it.
    async fn rotate_node_key(&mut self, node: &str, within: Duration, check: bool) -> Result<(), NotApplied> {
        let retired = self.cluster.rotate_node_key(node, within).await?;
        let rotations = self.key_rotations.entry(node.to_owned()).or_default();
        *rotations += 1;
        let rotations = *rotations;
        self.last_target = Some(node.to_owned());
        if !check {
            return Ok(());
        }
        let retired_everywhere = Condition::KeyRetired {
            node: node.to_owned(),
            rotations,
        };
        self.cluster.wait_for(retired_everywhere.clone(), within).await;
        if !self.cluster.holds(&retired_everywhere).await {
            // Reported as not reached: a frame under a key not retired yet proves nothing.
            return Ok(());
        }
        let sender = self.cluster.node_id(node);
        let receivers: Vec<String> = self
            .everyone_but(node)
            .into_iter()
            .filter(|name| self.cluster.is_genesis_voter(name))
            .collect();
        for viewer in receivers {
            self.cluster.speak_with_retired_key(node, retired, &viewer).await;
            let kind = RefusalKind::AuthenticationFailed;
            self.cluster
                .wait_for(
                    Condition::Refused { viewer, sender, kind },
                    super::impostor::REFUSED_WITHIN,
                )
                .await;
        }
        Ok(())
    }
}
