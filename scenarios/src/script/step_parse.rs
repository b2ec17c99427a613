//! One `[[step]]` table into a [`Step`]: the action, its keys, and nothing else.

use psionic_core::plan::ServingPolicy;

use super::gpus::{GPU_MEMORY_GIB_DEFAULT, gpu_spec};
use super::raw::{Names, RawStep, chaos_faults, check_range, expectation_word, range_pair, step_time};
use super::step::ACTIONS;
use super::{Action, Step, StepProblem, Target};

/// The keys each action takes (besides `do`, `at_ms` and `after_ms`).
const KEYS: &[(&str, &[&str])] = &[
    (
        "expect",
        &["condition", "within_ms", "node", "epoch", "by", "from", "kind", "count"],
    ),
    ("workload", &["rate_per_s"]),
    ("stop-workload", &[]),
    ("resident", &["model", "nodes", "within_ms"]),
    ("stage", &["model", "node", "within_ms"]),
    ("damage-staging", &["node", "within_ms"]),
    ("requests", &["model", "rate_per_s", "memory_gib"]),
    ("stop-requests", &[]),
    ("isolate", &["node"]),
    ("partition", &["nodes"]),
    ("random-halves", &[]),
    ("bridge", &["node"]),
    ("clog", &["from", "to"]),
    ("heal", &[]),
    ("kill", &["node"]),
    ("restart", &["node"]),
    ("crash-leader", &["within_ms"]),
    ("pause", &["node"]),
    ("resume", &["node"]),
    ("network", &["loss", "latency_ms"]),
    ("clock", &["node", "jump_ms", "drift_ppm"]),
    ("duplicate", &["rate"]),
    ("replay", &["node", "epoch", "to"]),
    ("impostor", &["node", "to"]),
    ("flap", &["node", "period_ms", "for_ms"]),
    ("gpus", &["node", "count", "memory_gib", "compute_capability"]),
    ("chaos", &["for_ms", "every_ms", "faults"]),
    ("add-node", &["role"]),
    ("remove", &["node", "within_ms", "must_commit"]),
    ("promote", &["node", "within_ms"]),
    ("transfer-leadership", &["to", "within_ms"]),
    ("command", &["size_bytes", "within_ms"]),
    ("corrupt", &["node", "what"]),
    ("backup", &["node"]),
    ("restore", &["node"]),
    ("rotate", &["what", "node", "within_ms"]),
    (
        "serving-policy",
        &[
            "reroute_lost",
            "reroutes_max",
            "queue_depth_max",
            "cancel_propagates",
            "lost_wait_ms",
            "within_ms",
        ],
    ),
];

/// Node words accepted where any live node may be meant.
const ANY_NODE: &str = "leader, follower, random";

pub(super) fn step(line: usize, raw: RawStep, names: &Names) -> Result<Step, StepProblem> {
    let Some(&(action, allowed)) = KEYS.iter().find(|(name, _)| *name == raw.action) else {
        return Err(StepProblem::UnknownAction {
            name: raw.action.clone(),
            expected: ACTIONS,
        });
    };
    if let Some(key) = present_keys(&raw).into_iter().find(|key| !allowed.contains(key)) {
        return Err(StepProblem::KeyNotForAction { action, key });
    }
    let at = step_time(&raw)?;
    let action = build(action, &raw, names)?;
    Ok(Step { line, at, action })
}

fn build(action: &'static str, raw: &RawStep, names: &Names) -> Result<Action, StepProblem> {
    let node = |words| need_target(raw.node.as_deref(), action, "node", names, words);
    let number = |value: Option<u64>, key| value.ok_or(StepProblem::MissingKey { action, key });
    Ok(match action {
        "expect" => Action::Expect {
            condition: {
                let word = raw.condition.as_deref().ok_or(StepProblem::MissingKey {
                    action,
                    key: "condition",
                })?;
                expectation_word(word, raw, names)?
            },
            within_ms: number(raw.within_ms, "within_ms")?,
        },
        "workload" => Action::Workload {
            rate_per_s: number(raw.rate_per_s, "rate_per_s")?,
        },
        "stop-workload" => Action::StopWorkload,
        "resident" => Action::Resident {
            model: model(raw, action)?,
            nodes: raw
                .nodes
                .iter()
                .flatten()
                .map(|word| names.target(word, ANY_NODE))
                .collect::<Result<_, _>>()?,
            within_ms: number(raw.within_ms, "within_ms")?,
        },
        "stage" => Action::Stage {
            model: model(raw, action)?,
            node: node(ANY_NODE)?,
            within_ms: number(raw.within_ms, "within_ms")?,
        },
        "damage-staging" => Action::DamageStaging {
            node: node(ANY_NODE)?,
            within_ms: number(raw.within_ms, "within_ms")?,
        },
        "requests" => Action::Requests {
            model: model(raw, action)?,
            rate_per_s: {
                let rate = number(raw.rate_per_s, "rate_per_s")?;
                check_range("rate_per_s", rate as f64, 1.0, 1_000.0)?;
                rate
            },
            memory_gib: raw.memory_gib.unwrap_or(0),
            forwarded: raw.forwarded.unwrap_or(false),
            stream: raw.stream.unwrap_or(false),
        },
        "stop-requests" => Action::StopRequests,
        "serving-policy" => Action::ServingPolicy {
            policy: serving_policy(raw),
            within_ms: number(raw.within_ms, "within_ms")?,
        },
        "isolate" => Action::Isolate { node: node(ANY_NODE)? },
        "partition" => Action::Partition {
            nodes: raw
                .nodes
                .as_ref()
                .ok_or(StepProblem::MissingKey { action, key: "nodes" })?
                .iter()
                .map(|word| names.target(word, "leader, follower, random, killed"))
                .collect::<Result<_, _>>()?,
        },
        "random-halves" => Action::RandomHalves,
        "bridge" => Action::Bridge { node: node(ANY_NODE)? },
        "clog" => Action::Clog {
            from: need_target(raw.from.as_deref(), action, "from", names, ANY_NODE)?,
            to: need_target(raw.to.as_deref(), action, "to", names, ANY_NODE)?,
        },
        "heal" => Action::Heal,
        "kill" => Action::Kill { node: node(ANY_NODE)? },
        "restart" => Action::Restart { node: node("killed")? },
        "crash-leader" => Action::CrashLeader {
            within_ms: number(raw.within_ms, "within_ms")?,
        },
        "pause" => Action::Pause { node: node(ANY_NODE)? },
        "resume" => Action::Resume { node: node("")? },
        "network" => network(raw)?,
        "clock" => Action::Clock {
            node: node(ANY_NODE)?,
            jump_ms: raw.jump_ms.unwrap_or(0),
            drift_ppm: {
                let drift_ppm = raw.drift_ppm.unwrap_or(0);
                check_range("drift_ppm", f64::from(drift_ppm), -100_000.0, 100_000.0)?;
                drift_ppm
            },
        },
        "duplicate" => {
            let rate = raw.rate.ok_or(StepProblem::MissingKey { action, key: "rate" })?;
            check_range("rate", rate, 0.0, 1.0)?;
            Action::Duplicate { rate }
        }
        "replay" => Action::Replay {
            node: node("")?,
            epoch: number(raw.epoch, "epoch")?,
            to: need_target(raw.to.as_deref(), action, "to", names, "all")?,
        },
        "impostor" => Action::Impostor {
            node: node(ANY_NODE)?,
            to: need_target(raw.to.as_deref(), action, "to", names, "all")?,
        },
        "flap" => Action::Flap {
            node: node(ANY_NODE)?,
            period_ms: number(raw.period_ms, "period_ms")?.max(1),
            for_ms: number(raw.for_ms, "for_ms")?,
        },
        "gpus" => Action::Gpus {
            node: node(ANY_NODE)?,
            gpus: gpu_spec(
                raw.count.ok_or(StepProblem::MissingKey { action, key: "count" })?,
                raw.memory_gib.unwrap_or(GPU_MEMORY_GIB_DEFAULT),
                raw.compute_capability.as_deref(),
            )?,
        },
        "chaos" => Action::Chaos {
            for_ms: number(raw.for_ms, "for_ms")?,
            every_ms: range_pair(
                "every_ms",
                raw.every_ms.as_deref().ok_or(StepProblem::MissingKey {
                    action,
                    key: "every_ms",
                })?,
            )?,
            faults: chaos_faults(
                raw.faults
                    .as_deref()
                    .ok_or(StepProblem::MissingKey { action, key: "faults" })?,
            )?,
        },
        "add-node" => Action::AddNode {
            role: role(raw.role.as_deref())?,
            within_ms: raw.within_ms.unwrap_or(OPERATOR_WITHIN_MS),
        },
        "remove" => Action::Remove {
            node: node("leader, follower, random, killed")?,
            within_ms: raw.within_ms.unwrap_or(OPERATOR_WITHIN_MS),
            must_commit: raw.must_commit.unwrap_or(true),
        },
        "promote" => Action::Promote {
            node: node("follower, random")?,
            within_ms: raw.within_ms.unwrap_or(OPERATOR_WITHIN_MS),
        },
        "transfer-leadership" => Action::TransferLeadership {
            to: need_target(raw.to.as_deref(), action, "to", names, "follower, random")?,
            within_ms: raw.within_ms.unwrap_or(OPERATOR_WITHIN_MS),
        },
        "command" => Action::Command {
            size_bytes: command_size(number(raw.size_bytes, "size_bytes")?)?,
            within_ms: raw.within_ms.unwrap_or(OPERATOR_WITHIN_MS),
        },
        "corrupt" => Action::Corrupt {
            node: node("killed")?,
            what: damage(
                raw.what
                    .as_deref()
                    .ok_or(StepProblem::MissingKey { action, key: "what" })?,
            )?,
        },
        "backup" => Action::Backup { node: node("killed")? },
        "restore" => Action::Restore { node: node("killed")? },
        "rotate" => Action::Rotate {
            what: rotation(
                raw.what
                    .as_deref()
                    .ok_or(StepProblem::MissingKey { action, key: "what" })?,
            )?,
            node: raw.node.is_some().then(|| node(ANY_NODE)).transpose()?,
            within_ms: raw.within_ms.unwrap_or(OPERATOR_WITHIN_MS),
        },
        other => unreachable!("{other} is listed in KEYS"),
    })
}

/// How long an operator step waits for its outcome unless it says.
const OPERATOR_WITHIN_MS: u64 = 10_000;

/// An operator command's size: under the entry limit by a margin (it must commit), or
/// at the limit and past it (it must be refused as too large).
fn command_size(size_bytes: u64) -> Result<usize, StepProblem> {
    let limit = psionic_core::limits::ENTRY_BYTES_MAX as f64;
    let size = size_bytes as f64;
    if size > limit - 1_024.0 && size < limit {
        return Err(StepProblem::OutOfRange {
            key: "size_bytes",
            value: size,
            min: limit,
            max: 16.0 * limit,
        });
    }
    check_range("size_bytes", size, 0.0, 16.0 * limit)?;
    Ok(size_bytes as usize)
}

fn rotation(word: &str) -> Result<super::Rotation, StepProblem> {
    match word {
        "admission-token" => Ok(super::Rotation::AdmissionToken),
        "node-key" => Ok(super::Rotation::NodeKey),
        "operator-credential" => Ok(super::Rotation::OperatorCredential),
        other => Err(StepProblem::UnknownWord {
            what: "rotation",
            name: other.to_owned(),
            expected: super::step::ROTATIONS,
        }),
    }
}

fn role(word: Option<&str>) -> Result<psionic_core::NodeRole, StepProblem> {
    Ok(match word.unwrap_or("both") {
        "both" => psionic_core::NodeRole::Both,
        "coordinator" => psionic_core::NodeRole::Coordinator,
        "executor" => psionic_core::NodeRole::Executor,
        other => {
            return Err(StepProblem::UnknownWord {
                what: "role",
                name: other.to_owned(),
                expected: "both, coordinator, executor",
            });
        }
    })
}

fn damage(word: &str) -> Result<super::step::DiskDamage, StepProblem> {
    use super::step::DiskDamage;
    Ok(match word {
        "torn-tail" => DiskDamage::TornTail,
        "bit-flip" => DiskDamage::BitFlip,
        "lost-file" => DiskDamage::LostFile,
        other => {
            return Err(StepProblem::UnknownWord {
                what: "damage",
                name: other.to_owned(),
                expected: super::step::DAMAGES,
            });
        }
    })
}

fn network(raw: &RawStep) -> Result<Action, StepProblem> {
    if let Some(loss) = raw.loss {
        check_range("loss", loss, 0.0, 1.0)?;
    }
    let latency_ms = raw
        .latency_ms
        .as_deref()
        .map(|pair| range_pair("latency_ms", pair))
        .transpose()?;
    Ok(Action::Network {
        loss: raw.loss,
        latency_ms,
    })
}

/// The target under `key`, which `action` needs.
pub(super) fn need_target(
    word: Option<&str>,
    action: &'static str,
    key: &'static str,
    names: &Names,
    words: &'static str,
) -> Result<Target, StepProblem> {
    names.target(word.ok_or(StepProblem::MissingKey { action, key })?, words)
}

fn present_keys(raw: &RawStep) -> Vec<&'static str> {
    let flags = [
        ("node", raw.node.is_some()),
        ("nodes", raw.nodes.is_some()),
        ("from", raw.from.is_some()),
        ("to", raw.to.is_some()),
        ("by", raw.by.is_some()),
        ("condition", raw.condition.is_some()),
        ("kind", raw.kind.is_some()),
        ("epoch", raw.epoch.is_some()),
        ("within_ms", raw.within_ms.is_some()),
        ("rate_per_s", raw.rate_per_s.is_some()),
        ("period_ms", raw.period_ms.is_some()),
        ("for_ms", raw.for_ms.is_some()),
        ("jump_ms", raw.jump_ms.is_some()),
        ("drift_ppm", raw.drift_ppm.is_some()),
        ("loss", raw.loss.is_some()),
        ("rate", raw.rate.is_some()),
        ("latency_ms", raw.latency_ms.is_some()),
        ("every_ms", raw.every_ms.is_some()),
        ("faults", raw.faults.is_some()),
        ("count", raw.count.is_some()),
        ("memory_gib", raw.memory_gib.is_some()),
        ("compute_capability", raw.compute_capability.is_some()),
        ("model", raw.model.is_some()),
        ("reroute_lost", raw.reroute_lost.is_some()),
        ("reroutes_max", raw.reroutes_max.is_some()),
        ("queue_depth_max", raw.queue_depth_max.is_some()),
        ("cancel_propagates", raw.cancel_propagates.is_some()),
        ("lost_wait_ms", raw.lost_wait_ms.is_some()),
        ("role", raw.role.is_some()),
        ("must_commit", raw.must_commit.is_some()),
        ("size_bytes", raw.size_bytes.is_some()),
        ("what", raw.what.is_some()),
    ];
    flags
        .into_iter()
        .filter_map(|(key, present)| present.then_some(key))
        .collect()
}

/// The serving policy a `serving-policy` step commits: the defaults, with the keys
/// it names.
fn serving_policy(raw: &RawStep) -> ServingPolicy {
    let defaults = ServingPolicy::default();
    ServingPolicy {
        reroute_lost: raw.reroute_lost.unwrap_or(defaults.reroute_lost),
        reroutes_max: raw.reroutes_max.unwrap_or(defaults.reroutes_max),
        queue_depth_max: raw.queue_depth_max.unwrap_or(defaults.queue_depth_max),
        cancel_propagates: raw.cancel_propagates.unwrap_or(defaults.cancel_propagates),
        lost_wait_ms: raw.lost_wait_ms.unwrap_or(defaults.lost_wait_ms),
        ..defaults
    }
}

/// The `model` key: a non-empty name.
fn model(raw: &RawStep, action: &'static str) -> Result<String, StepProblem> {
    match raw.model.as_deref() {
        None => Err(StepProblem::MissingKey { action, key: "model" }),
        Some("") => Err(StepProblem::UnknownWord {
            what: "model",
            name: String::new(),
            expected: "a model name",
        }),
        Some(name) => Ok(name.to_owned()),
    }
}
