//! The file as TOML sees it, and its validation into a [`Scenario`].

use psionic_core::consensus::TimingOverrides;
use serde::Deserialize;
use toml::Spanned;

use super::gpus::RawGpus;
use super::step::{CHAOS_FAULTS, CONDITIONS, refusal_kind};
use super::{
    ChaosFault, ClusterSpec, ConsensusOverrides, Expectation, LivenessSpec, NetworkSpec, Scenario, ScenarioError,
    SeedMode, StepProblem, StepTime, Target,
};

/// Largest honest cluster a file may ask for (the simulator's address plan).
pub const NODES_MAX: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    summary: String,
    cluster: Spanned<RawCluster>,
    network: Option<Spanned<RawNetwork>>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
    liveness: Option<RawLiveness>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NodeCount {
    Fixed(u64),
    Range(Vec<u64>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    nodes: NodeCount,
    voters: Option<usize>,
    #[serde(default)]
    executors: usize,
    #[serde(default)]
    intruders: usize,
    #[serde(default)]
    unattested: usize,
    #[serde(default)]
    untrusted: usize,
    seeds: Option<String>,
    #[serde(default)]
    consensus: RawConsensus,
    #[serde(default)]
    gpus: Vec<RawGpus>,
    #[serde(default)]
    metal: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConsensus {
    heartbeat_interval_ms: Option<u64>,
    election_timeout_ms_min: Option<u64>,
    election_timeout_ms_max: Option<u64>,
    snapshot_after_entries: Option<u64>,
    snapshot_chunk_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    latency_ms: Option<Vec<u64>>,
    loss: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLiveness {
    leader_within_ms: Option<u64>,
    converge_within_ms: Option<u64>,
}

/// Every key a step may carry; which apply depends on `do`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    pub at_ms: Option<u64>,
    pub after_ms: Option<u64>,
    #[serde(rename = "do")]
    pub action: String,
    pub node: Option<String>,
    pub nodes: Option<Vec<String>>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub by: Option<String>,
    pub condition: Option<String>,
    pub kind: Option<String>,
    pub epoch: Option<u64>,
    pub within_ms: Option<u64>,
    pub rate_per_s: Option<u64>,
    pub period_ms: Option<u64>,
    pub for_ms: Option<u64>,
    pub jump_ms: Option<u64>,
    pub drift_ppm: Option<i32>,
    pub loss: Option<f64>,
    pub rate: Option<f64>,
    pub latency_ms: Option<Vec<u64>>,
    pub every_ms: Option<Vec<u64>>,
    pub faults: Option<Vec<String>>,
    pub count: Option<u32>,
    pub memory_gib: Option<u64>,
    pub compute_capability: Option<Vec<u32>>,
    pub model: Option<String>,
    pub reroute_lost: Option<bool>,
    pub reroutes_max: Option<u8>,
    pub queue_depth_max: Option<u32>,
    pub cancel_propagates: Option<bool>,
    pub lost_wait_ms: Option<u32>,
    pub role: Option<String>,
    pub must_commit: Option<bool>,
    pub size_bytes: Option<u64>,
    pub what: Option<String>,
    pub forwarded: Option<bool>,
    pub stream: Option<bool>,
}

pub(super) fn parse(name: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let raw: RawScenario = toml::from_str(text).map_err(|error| syntax_error(text, &error))?;
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let cluster_line = line_of(raw.cluster.span().start);
    let cluster = cluster_spec(raw.cluster.into_inner()).map_err(|problem| ScenarioError::Invalid {
        line: cluster_line,
        problem,
    })?;
    let network = match raw.network {
        None => NetworkSpec::default(),
        Some(network) => {
            let line = line_of(network.span().start);
            network_spec(network.into_inner()).map_err(|problem| ScenarioError::Invalid { line, problem })?
        }
    };
    if raw.step.is_empty() {
        return Err(ScenarioError::Invalid {
            line: 1,
            problem: StepProblem::NoSteps,
        });
    }
    let mut steps = Vec::with_capacity(raw.step.len());
    for step in raw.step {
        let line = line_of(step.span().start);
        let names = Names::of(&cluster);
        let step = super::step_parse::step(line, step.into_inner(), &names)
            .map_err(|problem| ScenarioError::Invalid { line, problem })?;
        steps.push(step);
    }
    let liveness = raw.liveness.map_or(LivenessSpec::default(), |liveness| LivenessSpec {
        leader_within_ms: liveness.leader_within_ms,
        converge_within_ms: liveness.converge_within_ms,
    });
    Ok(Scenario {
        name: name.to_owned(),
        summary: raw.summary,
        cluster,
        network,
        steps,
        liveness,
    })
}

fn syntax_error(text: &str, error: &toml::de::Error) -> ScenarioError {
    let offset = error.span().map_or(0, |span| span.start).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
    ScenarioError::Syntax {
        line,
        column,
        message: error.message().to_owned(),
    }
}

fn cluster_spec(raw: RawCluster) -> Result<ClusterSpec, StepProblem> {
    let (nodes_min, nodes_max) = match raw.nodes {
        NodeCount::Fixed(count) => (count, count),
        NodeCount::Range(pair) => range_pair("nodes", &pair)?,
    };
    for count in [nodes_min, nodes_max] {
        check_range("nodes", count as f64, 1.0, NODES_MAX as f64)?;
    }
    check_range("executors", raw.executors as f64, 0.0, (nodes_min - 1) as f64)?;
    if let Some(voters) = raw.voters {
        check_range(
            "voters",
            voters as f64,
            0.0,
            nodes_min.saturating_sub(raw.executors as u64) as f64,
        )?;
    }
    check_range("intruders", raw.intruders as f64, 0.0, 3.0)?;
    check_range("unattested", raw.unattested as f64, 0.0, 3.0)?;
    check_range("untrusted", raw.untrusted as f64, 0.0, 3.0)?;
    let seeds = match raw.seeds.as_deref() {
        None | Some("all") => SeedMode::All,
        Some("first") => SeedMode::First,
        Some(other) => {
            return Err(StepProblem::UnknownWord {
                what: "seeds",
                name: other.to_owned(),
                expected: "all, first",
            });
        }
    };
    let gpus = super::gpus::inventories(raw.gpus, nodes_min as usize)?;
    let metal = raw
        .metal
        .into_iter()
        .map(|name| super::gpus::fixed_node(name, nodes_min as usize))
        .collect::<Result<_, _>>()?;
    let consensus = raw.consensus;
    Ok(ClusterSpec {
        gpus,
        metal,
        nodes_min: nodes_min as usize,
        nodes_max: nodes_max as usize,
        voters: raw.voters,
        executors: raw.executors,
        intruders: raw.intruders,
        unattested: raw.unattested,
        untrusted: raw.untrusted,
        seeds,
        consensus: ConsensusOverrides {
            timing: TimingOverrides {
                heartbeat_interval_ms: consensus.heartbeat_interval_ms,
                election_timeout_ms_min: consensus.election_timeout_ms_min,
                election_timeout_ms_max: consensus.election_timeout_ms_max,
            },
            snapshot_after_entries: consensus.snapshot_after_entries,
            snapshot_chunk_bytes: consensus.snapshot_chunk_bytes,
        },
    })
}

fn network_spec(raw: RawNetwork) -> Result<NetworkSpec, StepProblem> {
    let default = NetworkSpec::default();
    let (latency_ms_min, latency_ms_max) = match raw.latency_ms {
        Some(pair) => range_pair("latency_ms", &pair)?,
        None => (default.latency_ms_min, default.latency_ms_max),
    };
    let loss = raw.loss.unwrap_or(default.loss);
    check_range("loss", loss, 0.0, 1.0)?;
    Ok(NetworkSpec {
        latency_ms_min,
        latency_ms_max,
        loss,
    })
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            latency_ms_min: 1,
            latency_ms_max: 10,
            loss: 0.0,
        }
    }
}

/// `[min, max]` with `min <= max`.
pub(super) fn range_pair(key: &'static str, given: &[u64]) -> Result<(u64, u64), StepProblem> {
    match given {
        [min, max] if min <= max => Ok((*min, *max)),
        _ => Err(StepProblem::BadRange {
            key,
            given: given.to_vec(),
        }),
    }
}

pub(super) fn check_range(key: &'static str, value: f64, min: f64, max: f64) -> Result<(), StepProblem> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(StepProblem::OutOfRange { key, value, min, max })
    }
}

/// The node names a file may use.
pub(super) struct Names {
    pub nodes_max: usize,
    pub intruders: usize,
}

impl Names {
    fn of(cluster: &ClusterSpec) -> Self {
        Self {
            nodes_max: cluster.nodes_max,
            intruders: cluster.intruders,
        }
    }

    /// The target `word`, where `words` lists the role words accepted here.
    pub fn target(&self, word: &str, words: &'static str) -> Result<Target, StepProblem> {
        let role = match word {
            "leader" => Some(Target::Leader),
            "follower" => Some(Target::Follower),
            "random" => Some(Target::Random),
            "killed" => Some(Target::Killed),
            "all" => Some(Target::All),
            _ => None,
        };
        if word == "same" {
            return Ok(Target::Same);
        }
        if let Some(role) = role.filter(|_| words.split(", ").any(|accepted| accepted == word)) {
            return Ok(role);
        }
        let numbered = |prefix: &str, max: usize| {
            word.strip_prefix(prefix)
                .and_then(|number| number.parse::<usize>().ok())
                .is_some_and(|number| (1..=max).contains(&number))
        };
        if numbered("n", self.nodes_max) || numbered("intruder", self.intruders) {
            return Ok(Target::Named(word.to_owned()));
        }
        Err(StepProblem::UnknownNode {
            name: word.to_owned(),
            nodes_max: self.nodes_max,
            intruders: self.intruders,
            words,
        })
    }
}

pub(super) fn expectation_word(condition: &str, step: &RawStep, names: &Names) -> Result<Expectation, StepProblem> {
    let node = |words| super::step_parse::need_target(step.node.as_deref(), "expect", "node", names, words);
    Ok(match condition {
        "one-leader" => Expectation::OneLeader,
        "quorum-leader" => Expectation::QuorumLeader,
        "converged" => Expectation::Converged,
        "full-membership" => Expectation::FullMembership,
        "isolated" => Expectation::Isolated(node("leader, follower, random")?),
        "snapshot-installed" => Expectation::SnapshotInstalled(node("follower, random")?),
        "readiness-committed" => Expectation::ReadinessCommitted,
        "requests-settled" => Expectation::RequestsSettled,
        "staging-ended" => Expectation::StagingEnded,
        "staged" => Expectation::Staged,
        "copying" => Expectation::Copying(node("leader, follower, random")?),
        "voters" => Expectation::Voters(step.count.ok_or(StepProblem::MissingKey {
            action: "expect",
            key: "count",
        })? as usize),
        "rejoined" => Expectation::Rejoined {
            node: node("random")?,
            epoch: step.epoch.ok_or(StepProblem::MissingKey {
                action: "expect",
                key: "epoch",
            })?,
        },
        "refused" => Expectation::Refused {
            by: super::step_parse::need_target(step.by.as_deref(), "expect", "by", names, "all")?,
            from: super::step_parse::need_target(step.from.as_deref(), "expect", "from", names, "")?,
            kind: step
                .kind
                .as_deref()
                .map(|word| {
                    refusal_kind(word).ok_or_else(|| StepProblem::UnknownWord {
                        what: "refusal kind",
                        name: word.to_owned(),
                        expected: "a refusal counter name such as stale-epoch",
                    })
                })
                .ok_or(StepProblem::MissingKey {
                    action: "expect",
                    key: "kind",
                })??,
        },
        other => {
            return Err(StepProblem::UnknownWord {
                what: "condition",
                name: other.to_owned(),
                expected: CONDITIONS,
            });
        }
    })
}

pub(super) fn chaos_faults(words: &[String]) -> Result<Vec<ChaosFault>, StepProblem> {
    words
        .iter()
        .map(|word| {
            ChaosFault::from_word(word).ok_or_else(|| StepProblem::UnknownWord {
                what: "fault",
                name: word.clone(),
                expected: CHAOS_FAULTS,
            })
        })
        .collect()
}

pub(super) fn step_time(step: &RawStep) -> Result<StepTime, StepProblem> {
    match (step.at_ms, step.after_ms) {
        (Some(_), Some(_)) => Err(StepProblem::TwoTimes),
        (Some(at), None) => Ok(StepTime::AtMs(at)),
        (None, after) => Ok(StepTime::AfterMs(after.unwrap_or(0))),
    }
}
