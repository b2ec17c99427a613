//! What a step does, and the words a file uses for nodes, conditions and faults.

pub use psionic_sim::DiskDamage;

use psionic_core::plan::ServingPolicy;
use psionic_core::{NodeRole, RefusalKind};

/// One action of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Wait until `condition` holds, at most `within_ms` (a liveness failure if not).
    Expect {
        /// The condition.
        condition: Expectation,
        /// The bound.
        within_ms: u64,
    },
    /// Start a client proposing `rate_per_s` commands per second to the leader.
    Workload {
        /// Proposals per simulated second.
        rate_per_s: u64,
    },
    /// Stop the client.
    StopWorkload,
    /// Put `model` on the disks of `nodes` (every live node when empty): each reports
    /// its own residency through its leader; fails unless every live node's state
    /// shows it resident on each within `within_ms`.
    Resident {
        /// The model's name.
        model: String,
        /// The nodes.
        nodes: Vec<Target>,
        /// The bound.
        within_ms: u64,
    },
    /// Commit, through the leader, that `node` copy `model` from a member holding it;
    /// fails unless committed within `within_ms`.
    Stage {
        /// The model's name.
        model: String,
        /// The node.
        node: Target,
        /// The bound.
        within_ms: u64,
    },
    /// Wait (at most `within_ms`) until `node` holds part of a copy, then flip one of
    /// its bits; fails if it held none.
    DamageStaging {
        /// The node.
        node: Target,
        /// The bound.
        within_ms: u64,
    },
    /// Start a client submitting `rate_per_s` inference requests per second for
    /// `model`, each needing `memory_gib` on one GPU (or the CPU).
    Requests {
        /// The model's name.
        model: String,
        /// Requests per simulated second.
        rate_per_s: u64,
        /// GPU memory each needs.
        memory_gib: u64,
        /// Half of them submitted through each node in turn (forwarded to the leader
        /// by those that do not lead), the rest to the leader.
        forwarded: bool,
        /// Half of them streaming their tokens.
        stream: bool,
    },
    /// Stop submitting requests.
    StopRequests,
    /// Commit `policy` as the cluster's serving policy; fails if no leader commits it
    /// within `within_ms`.
    ServingPolicy {
        /// The policy.
        policy: ServingPolicy,
        /// The bound.
        within_ms: u64,
    },
    /// Cut every link to and from a node.
    Isolate {
        /// The node.
        node: Target,
    },
    /// Cut every link between `nodes` and the rest.
    Partition {
        /// The minority side.
        nodes: Vec<Target>,
    },
    /// Split the live nodes into two random halves.
    RandomHalves,
    /// Split the others into two halves that cannot reach each other; `node` reaches both.
    Bridge {
        /// The bridge.
        node: Target,
    },
    /// Drop everything `from` sends to `to` (one direction only).
    Clog {
        /// The sender.
        from: Target,
        /// The receiver.
        to: Target,
    },
    /// Restore every cut link.
    Heal,
    /// Kill a node (its synced disk survives).
    Kill {
        /// The node.
        node: Target,
    },
    /// Start a killed node again.
    Restart {
        /// The node (`killed`: the one killed longest ago).
        node: Target,
    },
    /// Kill the leader and measure the time to the first commit of a new leader.
    CrashLeader {
        /// Bound on the failover.
        within_ms: u64,
    },
    /// Stop running a node's tasks (a long stall); its packets queue up.
    Pause {
        /// The node.
        node: Target,
    },
    /// Run a paused node again.
    Resume {
        /// The node.
        node: Target,
    },
    /// Change the network's loss and/or latency from now on.
    Network {
        /// Datagram loss probability.
        loss: Option<f64>,
        /// Latency range.
        latency_ms: Option<(u64, u64)>,
    },
    /// Skew a node's clock: jump ahead and drift from now on.
    Clock {
        /// The node.
        node: Target,
        /// Forward jump.
        jump_ms: u64,
        /// Rate error, parts per million (negative: slow).
        drift_ppm: i32,
    },
    /// Send each datagram twice with this probability from now on.
    Duplicate {
        /// Probability.
        rate: f64,
    },
    /// Send frames `node` sent in `epoch` again, from a foreign address, to `to`.
    Replay {
        /// Whose frames.
        node: Target,
        /// Which life.
        epoch: u64,
        /// The receiver (`all`: every other live honest node).
        to: Target,
    },
    /// A token holder speaks to `to` as `node`, replays `node`'s frames of its current
    /// life, and lies about its own place in the cluster; every frame must be refused.
    Impostor {
        /// The member impersonated.
        node: Target,
        /// The receivers (`all`: every other live genesis voter).
        to: Target,
    },
    /// Isolate and heal a node alternately every `period_ms`, for `for_ms`.
    Flap {
        /// The node.
        node: Target,
        /// Half period.
        period_ms: u64,
        /// Duration.
        for_ms: u64,
    },
    /// From now on the node's driver reports these GPUs.
    Gpus {
        /// The node.
        node: Target,
        /// What its driver reports.
        gpus: super::GpuSpec,
    },
    /// Start a fresh node (`n<next>`) that joins through seeds (every live node) with
    /// no genesis voters of its own, and admit it through the leader (`admit-member`),
    /// as the runbook adds one.
    AddNode {
        /// Its role.
        role: NodeRole,
        /// Bound on the admission's commit.
        within_ms: u64,
    },
    /// Remove a member through the leader (an operator command, asked again after
    /// passing refusals); once committed the node is stopped for good.
    Remove {
        /// The member (`killed`: a killed node no earlier `remove` named).
        node: Target,
        /// Bound on the commit.
        within_ms: u64,
        /// Whether not committing within the bound fails the run (else the outcome is
        /// only traced, as an operator would see it and move on).
        must_commit: bool,
    },
    /// Promote a learner to voter through the leader.
    Promote {
        /// The learner.
        node: Target,
        /// Bound on the commit.
        within_ms: u64,
    },
    /// Hand leadership to `to`; it must lead within `within_ms`.
    TransferLeadership {
        /// The voter.
        to: Target,
        /// Bound.
        within_ms: u64,
    },
    /// An operator command whose document is `size_bytes` long, through the leader:
    /// committed (and acknowledged) within `within_ms`, or, at or past the entry
    /// limit, refused at once as too large.
    Command {
        /// Document size.
        size_bytes: usize,
        /// Bound on the commit.
        within_ms: u64,
    },
    /// Damage a stopped node's data directory before its next start.
    Corrupt {
        /// The node (stopped).
        node: Target,
        /// How.
        what: DiskDamage,
    },
    /// Back a stopped node's data directory up (as `psionic-node backup`).
    Backup {
        /// The node (stopped).
        node: Target,
    },
    /// Replace a stopped node's data directory by its backup (as `psionic-node
    /// restore`).
    Restore {
        /// The node (stopped).
        node: Target,
    },
    /// Rotate a credential as the runbook does, under whatever else is going on.
    /// `admission-token`: give every honest node but `node` the next token alongside
    /// the old (live nodes at once, as a SIGHUP does), and commit the cut-over through
    /// the leader within `within_ms`; the old token stays in their configurations:
    /// only the committed cut-over keeps them from accepting it. `node-key`: `node`
    /// (a random live one if none) stages a new key and its record commits through
    /// the leader; once the old key is retired everywhere, a frame as `node` under
    /// it goes to every live genesis voter, and each must refuse it.
    /// `operator-credential`: the authorization policy granting the operator's next
    /// credential alongside its current one commits, the operator moves to it, a
    /// policy leaving the old one no `admin` commits, and an admin command under the
    /// old one must be refused.
    Rotate {
        /// What is rotated.
        what: Rotation,
        /// The node left on the old admission token (refused by every other once the
        /// cut-over is applied), or whose key is rotated.
        node: Option<Target>,
        /// Bound on the cut-over's commit.
        within_ms: u64,
    },
    /// Inject faults drawn from `faults` at random intervals for `for_ms`; each is
    /// lifted before the next.
    Chaos {
        /// Duration.
        for_ms: u64,
        /// Range of each fault's duration and of the gap after it.
        every_ms: (u64, u64),
        /// The fault kinds to draw from.
        faults: Vec<ChaosFault>,
    },
}

/// A credential a `rotate` step rotates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The trusted-LAN admission token.
    AdmissionToken,
    /// One node's key.
    NodeKey,
    /// The harness operator's credential in the authorization policy.
    OperatorCredential,
}

/// Every credential a `rotate` step can rotate.
pub const ROTATIONS: &str = "admission-token, node-key, operator-credential";

/// A node named by a step: a name, or a role resolved when the step runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `n3`, `intruder1`.
    Named(String),
    /// The current leader.
    Leader,
    /// A live node that does not lead, drawn by the seed.
    Follower,
    /// Any live honest node, drawn by the seed.
    Random,
    /// The killed node killed longest ago.
    Killed,
    /// Every live honest node (only where a step says so).
    All,
    /// The node the previous node-naming step acted on.
    Same,
}

/// A condition an `expect` step waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// One leader followed by every live node.
    OneLeader,
    /// A leader followed by a majority (a cut-off minority may disagree).
    QuorumLeader,
    /// Every live node applied the highest index applied anywhere, equal digests.
    Converged,
    /// Every live honest node sees every other as reachable.
    FullMembership,
    /// Everyone sees `node` unreachable and it sees them unreachable.
    Isolated(Target),
    /// Everyone sees `node` reachable at `epoch` or later.
    Rejoined {
        /// The node.
        node: Target,
        /// The epoch.
        epoch: u64,
    },
    /// `by` refused a frame from `from` by the rule `kind`.
    Refused {
        /// Who refuses (`all`: each live honest node other than `from`).
        by: Target,
        /// The sender.
        from: Target,
        /// The rule.
        kind: RefusalKind,
    },
    /// `node` installed a snapshot sent by the leader.
    SnapshotInstalled(Target),
    /// Every live node has committed every live node's backend readiness as its
    /// driver reports it now.
    ReadinessCommitted,
    /// Every inference request submitted so far has ended.
    RequestsSettled,
    /// Every copy a `stage` step asked of a live node ended (resident or failed).
    StagingEnded,
    /// Every copy a `stage` step asked of a live node ended resident.
    Staged,
    /// `node`'s disk holds part of a copy.
    Copying(Target),
    /// Every live node's applied state holds `count` voters.
    Voters(usize),
}

/// A fault a `chaos` step may draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChaosFault {
    /// Isolate a random node.
    Isolate,
    /// Cut random halves apart.
    Partition,
    /// Cut the others into halves that a random node bridges.
    Bridge,
    /// Clog one random direction between two nodes.
    Clog,
    /// Kill a random node, restart it when lifted.
    Kill,
    /// Pause a random node.
    Pause,
    /// Raise datagram loss.
    Loss,
    /// Duplicate datagrams.
    Duplicate,
    /// Skew a random node's clock.
    Clock,
    /// Hand leadership to a random other voter.
    Transfer,
    /// A big operator command (sometimes past the entry limit).
    Command,
    /// Remove a random follower and add a fresh node through seeds.
    Membership,
    /// A token holder impersonates a random node to the genesis voters.
    Impostor,
    /// Rotate the admission token on every honest node (a `rotate` step).
    Rotate,
    /// Rotate a random live node's key (a `rotate` step, without the retired-key
    /// check).
    RotateKey,
}

/// Every action name, as written after `do =`.
pub const ACTIONS: &str = "expect, workload, stop-workload, resident, stage, damage-staging, requests, stop-requests, isolate, partition, random-halves, bridge, clog, \
                           heal, kill, restart, crash-leader, pause, resume, network, clock, duplicate, replay, impostor, \
                           flap, gpus, chaos, serving-policy, add-node, remove, promote, transfer-leadership, command, \
                           corrupt, backup, restore, rotate";
/// Every condition name.
pub const CONDITIONS: &str = "one-leader, quorum-leader, converged, full-membership, isolated, rejoined, refused, snapshot-installed, \
     readiness-committed, requests-settled, staging-ended, staged, copying, voters";
/// Every chaos fault name.
pub const CHAOS_FAULTS: &str = "isolate, partition, bridge, clog, kill, pause, loss, duplicate, clock, transfer, command, membership, impostor, rotate, rotate-key";
/// Every kind of disk damage.
pub const DAMAGES: &str = "torn-tail, bit-flip, lost-file";
impl ChaosFault {
    /// The fault named `word`.
    pub fn from_word(word: &str) -> Option<Self> {
        Some(match word {
            "isolate" => Self::Isolate,
            "partition" => Self::Partition,
            "bridge" => Self::Bridge,
            "clog" => Self::Clog,
            "kill" => Self::Kill,
            "pause" => Self::Pause,
            "loss" => Self::Loss,
            "duplicate" => Self::Duplicate,
            "clock" => Self::Clock,
            "transfer" => Self::Transfer,
            "command" => Self::Command,
            "membership" => Self::Membership,
            "impostor" => Self::Impostor,
            "rotate" => Self::Rotate,
            "rotate-key" => Self::RotateKey,
            _ => return None,
        })
    }
}

/// The refusal rule named `word` (its metrics name).
pub fn refusal_kind(word: &str) -> Option<RefusalKind> {
    RefusalKind::ALL.into_iter().find(|kind| kind.name() == word)
}
