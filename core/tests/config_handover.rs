//! The 2015 counterexample to single-server membership changes (Ongaro, raft-dev),
//! replayed message by message through consensus alone: an old leader's uncommitted
//! promotion survives on a minority, the next leader removes a voter before any entry
//! of its own term is committed, and the old leader returns. The rule that a new
//! leader first commits an entry of its term refuses that removal; with the rule
//! planted away (simulation builds only), two different entries are applied at one
//! index.
//!
//! proves: F3, F5

use psionic_core::ConsensusEvent;
use psionic_core::consensus::{Consensus, Effect, ProposalRejection, RaftMessage};
use psionic_core::{ClusterCommand, ClusterId, ConsensusConfig, Durable, Instant, NodeId, NodeRole, RoleKind};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

fn id(n: usize) -> NodeId {
    NodeId([n as u8 + 1; 16])
}

/// Five nodes: voters 0..=3 at genesis, node 4 joins later. Each message waits in
/// `in_flight` until the test delivers it.
struct Cluster {
    nodes: Vec<Consensus>,
    in_flight: Vec<(usize, usize, RaftMessage)>,
    /// Every node's applied (index, term), in order.
    applied: Vec<Vec<(u64, u64)>>,
    rejections: Vec<ProposalRejection>,
    now: Instant,
}

impl Cluster {
    fn new(mutations: psionic_core::consensus::Mutations) -> Self {
        let config = ConsensusConfig {
            initial_voters: (0..4).map(|n| (id(n), NodeRole::Both)).collect(),
            ..ConsensusConfig::default()
        };
        let nodes = (0..5)
            .map(|n| {
                let identity = (id(n), psionic_core::NodeEpoch(1), ClusterId([9; 16]));
                let rng = ChaCha8Rng::seed_from_u64(n as u64);
                let mut node =
                    Consensus::new(identity, config.clone(), Durable::default(), rng, Instant::ZERO).unwrap();
                node.set_mutations(mutations);
                node
            })
            .collect();
        Self {
            nodes,
            in_flight: Vec::new(),
            applied: vec![Vec::new(); 5],
            rejections: Vec::new(),
            now: Instant::ZERO,
        }
    }

    fn collect(&mut self) {
        for (from, node) in self.nodes.iter_mut().enumerate() {
            for effect in node.drain_effects() {
                match effect {
                    Effect::Send { to, message } => {
                        let to = (0..5).find(|n| id(*n) == to).unwrap();
                        self.in_flight.push((from, to, message));
                    }
                    Effect::Event(ConsensusEvent::Applied { index, term, .. }) => {
                        self.applied[from].push((index, term))
                    }
                    Effect::Event(ConsensusEvent::ProposalRejected { reason, .. }) => self.rejections.push(reason),
                    _ => {}
                }
            }
        }
    }

    /// Delivers, until none is left, the messages between nodes of `among`; drops
    /// every other message.
    fn deliver_among(&mut self, among: &[usize]) {
        self.collect();
        while !self.in_flight.is_empty() {
            for (from, to, message) in std::mem::take(&mut self.in_flight) {
                if among.contains(&from) && among.contains(&to) {
                    self.nodes[to].step(self.now, id(from), message);
                }
            }
            self.collect();
        }
    }

    /// Lets `node`'s election timer fire, a few seconds on (every other node has
    /// long since lost contact with any leader).
    fn time_out(&mut self, node: usize) {
        self.now = Instant::from_millis(self.now.as_millis() + 3_000);
        let due = self.nodes[node].poll_timeout().unwrap_or(self.now).max(self.now);
        self.now = due;
        self.nodes[node].handle_timeout(due);
    }

    /// Delivers rounds of messages among `among` until `node` leads in a newer term,
    /// and stops there:
    /// what the new leader sends first is still in flight.
    fn elect(&mut self, node: usize, among: &[usize]) {
        let term_before = self.nodes[node].hard_state().term;
        let won = |cluster: &Self| {
            cluster.nodes[node].role_kind() == RoleKind::Leader && cluster.nodes[node].hard_state().term > term_before
        };
        for _ in 0..5 {
            self.time_out(node);
            self.collect();
            while !self.in_flight.is_empty() {
                for (from, to, message) in std::mem::take(&mut self.in_flight) {
                    if among.contains(&from) && among.contains(&to) {
                        self.nodes[to].step(self.now, id(from), message);
                    }
                }
                self.collect();
                if won(self) {
                    return;
                }
            }
        }
        panic!("node {node} did not win among {among:?}");
    }

    fn propose(&mut self, node: usize, command: ClusterCommand) {
        let origin = psionic_core::state::Origin::operator("ops", &command);
        self.nodes[node].propose(self.now, vec![(origin, command)]);
    }

    #[cfg_attr(not(madsim), allow(dead_code))]
    fn term_applied_at(&self, node: usize, index: u64) -> Option<u64> {
        self.applied[node]
            .iter()
            .find(|(applied, _)| *applied == index)
            .map(|(_, term)| *term)
    }
}

/// Plays the counterexample up to the new leader's removal of node 3; returns the
/// cluster and the index the old leader's promotion took.
fn up_to_the_removal(mutations: psionic_core::consensus::Mutations) -> (Cluster, u64) {
    let mut cluster = Cluster::new(mutations);
    let all = [0, 1, 2, 3, 4];
    cluster.elect(0, &all);
    cluster.deliver_among(&all);
    let admit = ClusterCommand::AdmitMember {
        node: id(4),
        role: NodeRole::Both,
        stream_addr: None,
    };
    cluster.propose(0, admit);
    cluster.deliver_among(&all);
    // The old leader promotes node 4; only node 4 stores it.
    cluster.propose(0, ClusterCommand::PromoteVoter { node: id(4) });
    let promotion = cluster.nodes[0].log().last_index();
    cluster.deliver_among(&[0, 4]);
    // Node 0 is gone; node 1 is elected by 1, 2 and 3, then its appends reach node 2
    // only, and it removes node 3 before its first entry is committed.
    cluster.elect(1, &[1, 2, 3]);
    cluster.collect();
    cluster.in_flight.retain(|(from, to, _)| *from == 1 && *to == 2);
    cluster.propose(1, ClusterCommand::RemoveMember { node: id(3) });
    cluster.deliver_among(&[1, 2]);
    (cluster, promotion)
}

#[test]
fn a_new_leader_may_not_remove_a_voter_before_it_commits_an_entry_of_its_term() {
    let (cluster, _) = up_to_the_removal(Default::default());
    assert!(
        cluster
            .rejections
            .iter()
            .any(|reason| matches!(reason, ProposalRejection::LeaderTermUncommitted { term: 2, .. })),
        "{:?}",
        cluster.rejections
    );
    assert_eq!(cluster.nodes[1].state().voters().len(), 4, "node 3 is still a voter");
}

#[cfg(madsim)]
#[test]
fn without_the_rule_the_old_leader_returns_and_overwrites_a_committed_entry() {
    let mutations = psionic_core::consensus::Mutations {
        config_before_own_term_commit: true,
        ..Default::default()
    };
    let (mut cluster, promotion) = up_to_the_removal(mutations);
    assert_eq!(
        cluster.term_applied_at(1, promotion),
        Some(2),
        "node 1 committed its own entry there"
    );
    // The old leader returns with nodes 3 and 4: a majority of its configuration.
    cluster.elect(0, &[0, 3, 4]);
    cluster.deliver_among(&[0, 3, 4]);
    assert_eq!(
        cluster.term_applied_at(0, promotion),
        Some(1),
        "node 0 applied its promotion where node 1 applied an entry of term 2"
    );
}
