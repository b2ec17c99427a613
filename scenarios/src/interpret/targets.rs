//! Resolving a step's node words to names, with seeded draws.

use madsim::rand::seq::SliceRandom;
use psionic_sim::NotApplied;

use super::Play;
use crate::script::Target;

impl Play<'_> {
    /// The node `target` names now, other than those in `taken`; remembered for `same`.
    pub(super) fn resolve(&mut self, target: &Target, taken: &[String]) -> Result<String, NotApplied> {
        let cluster = &self.cluster;
        let live: Vec<String> = cluster
            .live_honest()
            .into_iter()
            .filter(|name| !taken.contains(name))
            .collect();
        let leader = cluster.current_leader();
        let name = match target {
            Target::Named(name) if cluster.names().contains(name) => name.clone(),
            Target::Named(name) => return Err(NotApplied::NoSuchNode { name: name.clone() }),
            Target::Leader => leader.ok_or(NotApplied::NoLeader)?,
            Target::Follower => {
                let leader = leader.ok_or(NotApplied::NoLeader)?;
                let followers: Vec<String> = live.into_iter().filter(|name| *name != leader).collect();
                pick(&followers)?
            }
            Target::Random | Target::All => pick(&live)?,
            Target::Killed => cluster
                .killed()
                .iter()
                .find(|name| !taken.contains(name))
                .cloned()
                .ok_or(NotApplied::NoKilledNode)?,
            Target::Same => self.last_target.clone().ok_or(NotApplied::NoEarlierTarget)?,
        };
        self.last_target = Some(name.clone());
        Ok(name)
    }

    /// Distinct nodes for each of `targets`, in order.
    pub(super) fn resolve_all(&mut self, targets: &[Target]) -> Result<Vec<String>, NotApplied> {
        let mut names = Vec::with_capacity(targets.len());
        for target in targets {
            let name = self.resolve(target, &names)?;
            names.push(name);
        }
        Ok(names)
    }

    /// Every live honest node other than `except`.
    pub(super) fn everyone_but(&self, except: &str) -> Vec<String> {
        self.cluster
            .live_honest()
            .into_iter()
            .filter(|name| name != except)
            .collect()
    }
}

fn pick(candidates: &[String]) -> Result<String, NotApplied> {
    candidates
        .choose(&mut madsim::rand::thread_rng())
        .cloned()
        .ok_or(NotApplied::NoOtherLiveNode)
}

/// `names` shuffled by the seed and cut into two halves (the first no larger).
pub(super) fn halves(mut names: Vec<String>) -> (Vec<String>, Vec<String>) {
    names.shuffle(&mut madsim::rand::thread_rng());
    let right = names.split_off(names.len() / 2);
    (names, right)
}
