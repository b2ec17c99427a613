//! The serving policy: how executors queue work and when the coordinator stops
//! sending more. Committed by [`super::ClusterCommand::SetServingPolicy`], checked at
//! proposal and at apply; none committed, the defaults apply.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestKind};

/// How an executor orders waiting requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueDiscipline {
    /// Arrival order.
    Fifo,
    /// Higher class first (0 is lowest), arrival order within a class.
    Priority {
        /// Number of classes; a request's class is clamped below it.
        classes: u8,
    },
}

/// How requests are queued, shed and rerouted. Read from JSON, a field left out
/// takes its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServingPolicy {
    /// Queue order.
    pub discipline: QueueDiscipline,
    /// Decode steps an executor runs for each prefill while both wait (fairness);
    /// 0 means prefill always goes first.
    pub decode_steps_per_prefill: u16,
    /// A node whose queue holds this many requests takes no more (backpressure).
    pub queue_depth_max: u32,
    /// Times a request is placed again after the node running it fails or refuses.
    pub reroutes_max: u8,
    /// Whether cancelling a request stops it on the executing node.
    pub cancel_propagates: bool,
    /// Whether a request whose node falls silent for an election timeout runs again
    /// elsewhere: it is answered sooner, but a node cut off mid-run may finish it too
    /// (two completions, one answer). Off, it waits for that node to answer, or for
    /// its coordinator to be deposed, at most `lost_wait_ms`, and then ends
    /// `executor-lost`: it completes on one node at most.
    pub reroute_lost: bool,
    /// With `reroute_lost` off: how long a request waits for its silent node.
    pub lost_wait_ms: u32,
}

impl Default for ServingPolicy {
    fn default() -> Self {
        Self {
            discipline: QueueDiscipline::Priority { classes: 3 },
            decode_steps_per_prefill: 4,
            queue_depth_max: 64,
            reroutes_max: 2,
            cancel_propagates: true,
            reroute_lost: true,
            lost_wait_ms: 10_000,
        }
    }
}

/// Why a serving policy cannot be put in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "kebab-case")]
pub enum ServingPolicyProblem {
    /// A queue of at most 0 requests: no node would ever take work.
    #[error("queue_depth_max is 0: no node would take work")]
    NoQueue,
    /// A priority discipline of no classes.
    #[error("a priority discipline needs at least one class")]
    NoPriorityClasses,
    /// Set with `set-policy` under its name: only `set-serving-policy` sets it.
    #[error("the serving policy is set with set-serving-policy, not set-policy \"serving\"")]
    NotTyped,
}

/// The [`super::ClusterState::set_by`] key of the serving policy.
pub const SERVING_POLICY_FACT: &str = "serving-policy";

/// The name `set-policy` may not use: the serving policy has its own command.
pub const SERVING_POLICY_NAME: &str = "serving";

impl ServingPolicy {
    /// Whether this policy can be put in force.
    pub fn check(&self) -> Result<(), ServingPolicyProblem> {
        if self.queue_depth_max == 0 {
            return Err(ServingPolicyProblem::NoQueue);
        }
        if self.discipline == (QueueDiscipline::Priority { classes: 0 }) {
            return Err(ServingPolicyProblem::NoPriorityClasses);
        }
        Ok(())
    }

    /// The policy `state` has in force: the one committed, else the defaults.
    pub fn from_state(state: &super::ClusterState) -> Self {
        state.serving_policy.unwrap_or_default()
    }

    /// SHA-256 (policy domain) over its postcard encoding.
    pub fn digest(&self) -> Digest {
        let bytes = postcard::to_allocvec(self).expect("postcard encoding into a Vec is infallible");
        Digest::of_bytes(DigestKind::Policy, &bytes)
    }
}
