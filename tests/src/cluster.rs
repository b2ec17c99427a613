//! Clusters of real processes driven as an operator would: start, find the leader,
//! commit, stop, damage, restart, and check that every member ends at one state.

use std::path::{Path, PathBuf};
use std::time::Duration;

use psionic_core::Digest;
use psionic_core::backend::Backend;
use psionic_core::state::{ClusterCommand, Residency};
use psionic_net::Consistency;
use psionic_net::api::CommandAnswer;

use crate::history::ClientHistory;
use crate::{NodeProcess, answered, init_node, wait_until, write_token, write_voter_config};

/// How long a cluster of real processes gets to settle.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// The names of the nodes of a three-node test cluster.
pub const NAMES: [&str; 3] = ["n1", "n2", "n3"];

/// A cluster of real processes in a directory, each node with a fixed config file.
#[derive(Debug)]
pub struct Cluster {
    /// The directory holding tokens, configs and data directories.
    pub dir: PathBuf,
    /// Node ids, by position.
    pub ids: Vec<String>,
    /// Config file of each node.
    pub configs: Vec<PathBuf>,
    /// Running processes (none while a node is stopped).
    pub nodes: Vec<Option<NodeProcess>>,
    /// What the test, as a client, wrote and read through [`Cluster::commit`] and
    /// [`Cluster::await_converged`]; checked by [`Cluster::assert_history_linearizable`].
    pub history: ClientHistory,
}

impl Cluster {
    /// Three genesis voters in `dir`, started; every node seeded with the first.
    pub fn three_voters(dir: &Path) -> Self {
        Self::three_voters_holding(dir, &[])
    }

    /// [`Cluster::three_voters`], each node running the reference executor holding
    /// the reference model of each of `models` (`[executor] reference_models`): each
    /// reports them resident itself.
    pub fn three_voters_holding(dir: &Path, models: &[Digest]) -> Self {
        write_token(&dir.join("token"), "the lab's admission token, 2026\n");
        let ids: Vec<String> = NAMES.iter().map(|name| init_node(&dir.join(name))).collect();
        let config = |name: &str, seeds: &[std::net::SocketAddr]| {
            let path = write_voter_config(dir, name, seeds, "token", &ids);
            if !models.is_empty() {
                let held: Vec<String> = models.iter().map(|model| format!("\"{model}\"")).collect();
                let mut text = std::fs::read_to_string(&path).unwrap();
                text.push_str(&format!("\n[executor]\nreference_models = [{}]\n", held.join(", ")));
                std::fs::write(&path, text).unwrap();
            }
            path
        };
        let first_config = config("n1", &[]);
        let first = NodeProcess::start(&first_config).unwrap();
        let seed = [first.listening.discovery_addr];
        let mut configs = vec![first_config];
        let mut nodes = vec![Some(first)];
        for name in &NAMES[1..] {
            let config = config(name, &seed);
            nodes.push(Some(NodeProcess::start(&config).unwrap()));
            configs.push(config);
        }
        Self {
            dir: dir.to_owned(),
            ids,
            configs,
            nodes,
            history: ClientHistory::default(),
        }
    }

    /// Commits a policy command numbered `n` through node `index`, recorded in the
    /// history; the index it was acknowledged at.
    pub fn commit(&self, index: usize, n: u64) -> u64 {
        let operator = self.node(index).listening.operator_addr;
        let answer = self
            .history
            .write_policy(0, operator, &policy_name(n), &n.to_le_bytes());
        match answer.expect("the node answers") {
            (200, Some(CommandAnswer::Committed { index, .. })) => index,
            (code, answer) => panic!("not committed: {code} {answer:?}"),
        }
    }

    /// Waits until, as node `through` reads the state, every node's CPU readiness is
    /// committed and every node reports `artifact` resident (a cluster started with
    /// [`Cluster::three_voters_holding`]): the cluster serves the model everywhere.
    pub fn serve_everywhere(&self, through: usize, artifact: Digest) {
        let node = self.node(through);
        wait_until(CONVERGE, "every node's CPU and residency", || {
            let members = crate::state_of(node.listening.operator_addr, Consistency::Linearizable)
                .report
                .members;
            members.len() == self.ids.len()
                && members.iter().all(|member| {
                    member.backends.contains_key(&Backend::Cpu)
                        && member.artifacts.get(&artifact) == Some(&Residency::Resident)
                })
        });
    }

    /// Panics with a minimal non-linearizable sub-history if what the test wrote and
    /// read is not linearizable.
    pub fn assert_history_linearizable(&self) {
        self.history.assert_linearizable();
    }

    /// The running node at `index`.
    pub fn node(&self, index: usize) -> &NodeProcess {
        self.nodes[index].as_ref().expect("the node runs")
    }

    /// Waits until every running node follows one effective leader; its position.
    pub fn await_leader(&self) -> usize {
        let mut leader = None;
        wait_until(CONVERGE, "every running node to follow one effective leader", || {
            let leaders: Vec<Option<String>> = self.nodes.iter().flatten().map(leader_of).collect();
            leader = leaders[0].clone();
            leader.is_some() && leaders.iter().all(|seen| *seen == leader)
        });
        let leader = leader.expect("a leader");
        self.ids.iter().position(|id| *id == leader).expect("a member leads")
    }

    /// SIGTERM to node `index`, waiting for a clean exit.
    pub fn stop(&mut self, index: usize) {
        let status = self.nodes[index].take().expect("the node runs").terminate();
        assert!(status.success(), "{} exited with {status}", NAMES[index]);
    }

    /// SIGKILL to node `index`.
    pub fn kill(&mut self, index: usize) {
        self.nodes[index].take().expect("the node runs").kill();
    }

    /// Starts node `index` again, seeded with every running node (its ports are
    /// picked anew: the others learn them from its probes).
    pub fn start(&mut self, index: usize) {
        self.configs[index] = self.config_seeded_with_running(index);
        self.nodes[index] = Some(NodeProcess::start(&self.configs[index]).unwrap());
    }

    /// Rewrites node `index`'s config file, seeded with every running node.
    pub fn config_seeded_with_running(&self, index: usize) -> PathBuf {
        let seeds: Vec<_> = self
            .nodes
            .iter()
            .flatten()
            .map(|node| node.listening.discovery_addr)
            .collect();
        write_voter_config(&self.dir, NAMES[index], &seeds, "token", &self.ids)
    }

    /// Reads every policy linearizably through every running node, recorded in the
    /// history.
    pub fn read_every_policy(&self) {
        let names: Vec<String> = (0..4).map(policy_name).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for node in self.nodes.iter().flatten() {
            self.history.read_policies(1, node.listening.operator_addr, &names);
        }
    }

    /// The data directory of node `index`.
    pub fn data_dir(&self, index: usize) -> PathBuf {
        self.dir.join(NAMES[index])
    }

    /// Waits until every running node has applied at least `at_least`, all at the
    /// same index with the same state digest.
    pub fn await_converged(&self, at_least: u64) {
        let start = std::time::Instant::now();
        loop {
            let states: Vec<(u64, Digest)> = self.nodes.iter().flatten().map(applied).collect();
            let first = &states[0];
            if states.iter().all(|state| state.0 >= at_least && state == first) {
                return self.read_every_policy();
            }
            assert!(start.elapsed() < CONVERGE, "the nodes did not converge: {states:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The policy a command numbered `n` sets.
fn policy_name(n: u64) -> String {
    format!("policy-{}", n % 4)
}

/// The effective leader `node` follows, if any.
pub fn leader_of(node: &NodeProcess) -> Option<String> {
    let coordinator = node.state().report.coordinator;
    coordinator
        .effective
        .then_some(coordinator.leader)
        .flatten()
        .map(|leader| leader.to_string())
}

/// The applied index and state digest of `node`.
pub fn applied(node: &NodeProcess) -> (u64, Digest) {
    let state = node.state().report;
    (state.applied_index, state.state_digest)
}

/// Commits a policy command numbered `n` through `node`; the index it was
/// acknowledged at.
pub fn commit(node: &NodeProcess, n: u64) -> u64 {
    let command = ClusterCommand::SetPolicy {
        name: policy_name(n),
        document: n.to_le_bytes().to_vec(),
    };
    match answered(node.client().command(&command)) {
        (200, CommandAnswer::Committed { index, .. }) => index,
        (code, answer) => panic!("not committed: {code} {answer:?}"),
    }
}
