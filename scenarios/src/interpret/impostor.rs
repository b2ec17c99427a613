//! `impostor`: a token holder speaks to genesis voters as a member, replays the
//! member's frames and lies about its own place; each receiver must refuse every kind
//! of lie, each under its own rule, within [`REFUSED_WITHIN`].

use std::time::Duration;

use psionic_core::RefusalKind;
use psionic_sim::{Condition, NotApplied};

use super::Play;
use crate::script::Target;

/// How long a receiver has to refuse what an impostor sent.
pub(super) const REFUSED_WITHIN: Duration = Duration::from_millis(2_000);

impl Play<'_> {
    /// `node`'s impostor speaks to `to` (`all`: every other live genesis voter); with
    /// `check`, each receiver must refuse every lie. Fails as never fired when no
    /// receiver holds its cluster's state from genesis.
    pub(super) async fn impostor(&mut self, node: &Target, to: &Target, check: bool) -> Result<(), NotApplied> {
        let victim = self.resolve(node, &[])?;
        let receivers: Vec<String> = match to {
            Target::All => self.everyone_but(&victim),
            one => vec![self.resolve(one, std::slice::from_ref(&victim))?],
        };
        let receivers: Vec<String> = receivers
            .into_iter()
            .filter(|name| self.cluster.is_genesis_voter(name))
            .collect();
        if receivers.is_empty() {
            return Err(NotApplied::NeverFired);
        }
        for receiver in receivers {
            let sent = self.cluster.impostor(&victim, &receiver).await;
            if !check {
                continue;
            }
            let refusals = [
                (sent.victim, RefusalKind::AuthenticationFailed),
                (sent.impostor, RefusalKind::NotAVoter),
                (sent.impostor, RefusalKind::NotTheAssignee),
            ];
            for (sender, kind) in refusals {
                let viewer = receiver.clone();
                self.cluster
                    .wait_for(Condition::Refused { viewer, sender, kind }, REFUSED_WITHIN)
                    .await;
            }
        }
        self.last_target = Some(victim);
        Ok(())
    }
}
