//! Runs one scenario at one seed inside a fresh madsim runtime.

use std::panic::{AssertUnwindSafe, catch_unwind};

use psionic_core::consensus::Mutations;
use psionic_sim::cluster::SimCluster;
use psionic_sim::{Report, Trace, Violation};

use crate::interpret;
use crate::script::Scenario;

/// A finished run: its report and full trace.
#[derive(Debug)]
pub struct Run {
    /// The report.
    pub report: Report,
    /// The trace.
    pub trace: Trace,
}

/// A known bug to plant in every node's consensus (`--mutation NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mutation {
    /// Commit entries without waiting for a quorum.
    CommitWithoutQuorum,
    /// Grant votes without the up-to-date log check.
    VoteIgnoresLog,
    /// Accept decisions whatever their fence.
    NoFenceCheck,
    /// Take a voter change while another is uncommitted.
    ConcurrentConfigChange,
    /// Take a voter change before the leader commits an entry of its term.
    ConfigBeforeOwnTermCommit,
    /// Answer an append before its entries are durable.
    AckBeforePersist,
    /// Truncate at an append's first entry even where it matches (a late append cuts
    /// committed entries).
    TruncateCommitted,
    /// Answer linearizable reads from the local applied state.
    ReadLocalAsLinearizable,
    /// Answer a linearizable read without waiting to apply up to its read index.
    SkipReadIndexWait,
    /// Follow any sender that authenticates as leader, and take its decisions.
    FollowAnySender,
    /// Admit every waiting candidate, listed or not.
    AdmitUnlisted,
    /// Go on accepting the admission token a committed cut-over retired.
    KeepRetiredToken,
    /// Admit candidates whatever binary they measured.
    AdmitUnattested,
    /// Go on accepting every key a node rotated from, retired or not.
    KeepRetiredKey,
    /// Admit candidates whatever trust bundle they said.
    AdmitUntrusted,
    /// Cut over to an admission token however few voters hold it.
    CutOverWithoutQuorum,
    /// Report a forwarded proposal committed once the leader took it, before it commits.
    AckForwardWhenTaken,
    /// Count a staged copy resident once its last chunk is written, unverified.
    StagingSkipsVerification,
}

impl Mutation {
    /// The name `--mutation` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::CommitWithoutQuorum => "commit-without-quorum",
            Mutation::VoteIgnoresLog => "vote-ignores-log",
            Mutation::NoFenceCheck => "no-fence-check",
            Mutation::ConcurrentConfigChange => "concurrent-config-change",
            Mutation::ConfigBeforeOwnTermCommit => "config-before-own-term-commit",
            Mutation::AckBeforePersist => "ack-before-persist",
            Mutation::TruncateCommitted => "truncate-committed",
            Mutation::ReadLocalAsLinearizable => "read-local-as-linearizable",
            Mutation::SkipReadIndexWait => "skip-read-index-wait",
            Mutation::FollowAnySender => "follow-any-sender",
            Mutation::AdmitUnlisted => "admit-unlisted",
            Mutation::KeepRetiredToken => "keep-retired-token",
            Mutation::AdmitUnattested => "admit-unattested",
            Mutation::KeepRetiredKey => "keep-retired-key",
            Mutation::AdmitUntrusted => "admit-untrusted",
            Mutation::CutOverWithoutQuorum => "cut-over-without-quorum",
            Mutation::AckForwardWhenTaken => "ack-forward-when-taken",
            Mutation::StagingSkipsVerification => "staging-skips-verification",
        }
    }

    /// The core switches it turns on.
    pub fn switches(self) -> Mutations {
        Mutations {
            commit_without_quorum: self == Mutation::CommitWithoutQuorum,
            vote_ignores_log: self == Mutation::VoteIgnoresLog,
            no_fence_check: self == Mutation::NoFenceCheck,
            concurrent_config_change: self == Mutation::ConcurrentConfigChange,
            config_before_own_term_commit: self == Mutation::ConfigBeforeOwnTermCommit,
            ack_before_persist: self == Mutation::AckBeforePersist,
            truncate_committed: self == Mutation::TruncateCommitted,
            read_local_as_linearizable: self == Mutation::ReadLocalAsLinearizable,
            skip_read_index_wait: self == Mutation::SkipReadIndexWait,
            follow_any_sender: self == Mutation::FollowAnySender,
            admit_unlisted: self == Mutation::AdmitUnlisted,
            keep_retired_token: self == Mutation::KeepRetiredToken,
            admit_unattested: self == Mutation::AdmitUnattested,
            keep_retired_key: self == Mutation::KeepRetiredKey,
            admit_untrusted: self == Mutation::AdmitUntrusted,
            cut_over_without_quorum: self == Mutation::CutOverWithoutQuorum,
            ack_forward_when_taken: self == Mutation::AckForwardWhenTaken,
            staging_skips_verification: self == Mutation::StagingSkipsVerification,
        }
    }
}

/// Runs `scenario` at `seed` on a fresh thread (madsim keeps per-thread state, so a run
/// that shared a thread with an earlier one could diverge). A panic inside the
/// simulation is reported as a crash.
pub fn run(scenario: &Scenario, seed: u64, mutation: Option<Mutation>) -> Run {
    std::thread::scope(|scope| {
        scope
            .spawn(|| run_on_this_thread(scenario, seed, mutation))
            .join()
            .expect("a run catches its own panics")
    })
}

/// Plays `scenario` inside the current madsim runtime, recording into `trace`.
pub async fn play(scenario: &Scenario, mutation: Option<Mutation>, trace: Trace) -> Verdict {
    let mut cluster = SimCluster::new(trace);
    cluster.set_mutations(mutation.map(Mutation::switches).unwrap_or_default());
    let finished = interpret::run(scenario, cluster).await;
    let mut cluster = finished.cluster;
    let proposals = (cluster.acknowledged_count() > 0).then(|| cluster.check_acknowledged());
    cluster.check_history();
    let requests = cluster.check_requests();
    cluster.check_residency().await;
    let links = cluster.link_counts().await;
    Verdict {
        violations: cluster.violations(),
        reached: cluster.reached().to_vec(),
        faults: cluster.faults(),
        frames_sent: cluster.frames_sent(),
        sim_time_ms: cluster.now_ms(),
        failover_ms: finished.failover_ms,
        proposals,
        requests,
        links,
        nodes: finished.nodes,
    }
}

/// What a simulation hands back when it finishes without panicking.
#[derive(Debug)]
pub struct Verdict {
    /// Violations found.
    pub violations: Vec<Violation>,
    /// Conditions reached.
    pub reached: Vec<psionic_sim::report::Reached>,
    /// Faults injected.
    pub faults: usize,
    /// Frames the nodes handed to their transports.
    pub frames_sent: psionic_sim::report::FramesSent,
    /// Simulated time at the end.
    pub sim_time_ms: u64,
    /// Failover times measured.
    pub failover_ms: Vec<u64>,
    /// (acknowledged, lost) proposals, when a workload ran.
    pub proposals: Option<(u64, u64)>,
    /// Inference requests, when a request workload ran.
    pub requests: Option<psionic_sim::report::RequestCounts>,
    /// Measured links the leader held at the end.
    pub links: Option<psionic_sim::report::LinkCounts>,
    /// Honest nodes.
    pub nodes: usize,
}

fn run_on_this_thread(scenario: &Scenario, seed: u64, mutation: Option<Mutation>) -> Run {
    psionic_net::udp::sim_faults::reset();
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let trace = Trace::default();
    let scenario_trace = trace.clone();
    let finished = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(play(scenario, mutation, scenario_trace))
    }));
    let verdict = finished.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
            .unwrap_or_else(|| "panic with a non-text payload".to_owned());
        Verdict {
            violations: vec![Violation::Panic { message }],
            reached: Vec::new(),
            faults: 0,
            frames_sent: Default::default(),
            sim_time_ms: 0,
            failover_ms: Vec::new(),
            proposals: None,
            requests: None,
            links: None,
            nodes: 0,
        }
    });
    let report = Report {
        scenario: scenario.name.clone(),
        seed,
        outcome: Report::outcome_of(&verdict.violations),
        digest: trace.digest().to_hex(),
        sim_time_ms: verdict.sim_time_ms,
        nodes: verdict.nodes,
        mutation: mutation.map(|mutation| mutation.name().to_owned()),
        violations: verdict.violations,
        faults: verdict.faults,
        frames_sent: verdict.frames_sent,
        reached: verdict.reached,
        failover_ms: verdict.failover_ms,
        proposals_committed: verdict.proposals.map(|(acknowledged, _)| acknowledged),
        proposals_lost: verdict.proposals.map(|(_, lost)| lost),
        requests: verdict.requests,
        links: verdict.links,
    };
    Run { report, trace }
}
