//! The scenario file format (TOML): a cluster, a network, a timeline of steps at
//! simulated times, and the liveness phase after the faults end. `docs/SCENARIOS.md`
//! documents it; [`parse`] turns text into a [`Scenario`] or an error naming the line.

mod error;
mod gpus;
mod raw;
mod step;
mod step_parse;

use psionic_core::consensus::TimingOverrides;

pub use error::{ScenarioError, StepProblem};
pub use gpus::{GPU_MEMORY_GIB_MAX, GPUS_PER_NODE_MAX, GpuSpec};
pub use step::{Action, ChaosFault, DiskDamage, Expectation, Rotation, Target};

/// A parsed scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Its name (the file stem).
    pub name: String,
    /// One line on what it exercises.
    pub summary: String,
    /// The cluster it starts.
    pub cluster: ClusterSpec,
    /// The network it starts with.
    pub network: NetworkSpec,
    /// The timeline, in order.
    pub steps: Vec<Step>,
    /// What must follow once every fault is lifted at the end.
    pub liveness: LivenessSpec,
}

/// How many nodes, of which kinds.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSpec {
    /// Honest nodes `n1..nN`: a fixed count, or a range the seed picks from.
    pub nodes_min: usize,
    /// Upper end of the range (equal to `nodes_min` for a fixed count).
    pub nodes_max: usize,
    /// How many of the first nodes are initial voters (the rest join as learners);
    /// `None`: all of them. Zero: no consensus membership is configured.
    pub voters: Option<usize>,
    /// How many of the last nodes are executor-only (never voters, never leaders).
    pub executors: usize,
    /// Nodes holding another cluster's token (`intruder1..`), to be refused by all.
    pub intruders: usize,
    /// Nodes holding the cluster's token and listed for admission but running a
    /// binary the allowlist does not name (`stranger1..`): never admitted.
    pub unattested: usize,
    /// Nodes holding the cluster's token, listed and running the approved binary, but
    /// configured with another trust bundle (`outsider1..`): never admitted.
    pub untrusted: usize,
    /// Whom each node is told of at start.
    pub seeds: SeedMode,
    /// Consensus settings that differ from the defaults.
    pub consensus: ConsensusOverrides,
    /// Simulated GPUs by node name; a node not listed has no CUDA driver.
    pub gpus: std::collections::BTreeMap<String, GpuSpec>,
    /// Nodes whose executor also claims Metal (recorded refused for cluster work).
    pub metal: std::collections::BTreeSet<String>,
}

/// Whom each node is told of at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedMode {
    /// Every other honest node.
    All,
    /// Only `n1` (the rest is learned by gossip).
    First,
}

/// Consensus settings that differ from the defaults (milliseconds and counts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsensusOverrides {
    /// Heartbeat and election timeouts.
    pub timing: TimingOverrides,
    /// Entries applied before a snapshot is taken.
    pub snapshot_after_entries: Option<u64>,
    /// Bytes per snapshot chunk.
    pub snapshot_chunk_bytes: Option<usize>,
}

/// The simulated network at the start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetworkSpec {
    /// One-way latency range of every datagram and stream write.
    pub latency_ms_min: u64,
    /// Upper end (exclusive).
    pub latency_ms_max: u64,
    /// Probability that a datagram is lost.
    pub loss: f64,
}

/// One step of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Line of the `[[step]]` header in the file.
    pub line: usize,
    /// When it runs.
    pub at: StepTime,
    /// What it does.
    pub action: Action,
}

/// When a step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepTime {
    /// This long after the previous step finished.
    AfterMs(u64),
    /// At this simulated time since the run began (at once, if already past).
    AtMs(u64),
}

/// The liveness phase: after the timeline, every fault is lifted and the cluster must
/// settle within these bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LivenessSpec {
    /// One leader followed by every live node.
    pub leader_within_ms: Option<u64>,
    /// Every live node at the highest applied index, with equal digests.
    pub converge_within_ms: Option<u64>,
}

/// Parses the scenario `name` from `text`.
pub fn parse(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    raw::parse(name, text)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_operator;
