//! The serving policy: how executors queue work and when the coordinator stops
//! sending more. Stored in the log as the policy document named
//! [`SERVING_POLICY_NAME`] (postcard); absent, the defaults apply.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestKind};
use crate::state::ClusterState;

/// Name of the policy document holding the serving policy.
pub const SERVING_POLICY_NAME: &str = "serving";

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

/// The serving policy document could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("serving policy document ({len} bytes) does not decode: {reason}")]
pub struct ServingPolicyError {
    /// Document length.
    pub len: usize,
    /// Decoder's message.
    pub reason: String,
}

impl ServingPolicy {
    /// The document that stores this policy.
    pub fn to_document(&self) -> Vec<u8> {
        postcard::to_allocvec(self).expect("postcard encoding into a Vec is infallible")
    }

    /// The policy the state records (the defaults when none).
    pub fn from_state(state: &ClusterState) -> Result<Self, ServingPolicyError> {
        let Some(policy) = state.policies.get(SERVING_POLICY_NAME) else {
            return Ok(Self::default());
        };
        postcard::from_bytes(&policy.document).map_err(|error| ServingPolicyError {
            len: policy.document.len(),
            reason: error.to_string(),
        })
    }

    /// SHA-256 (policy domain) over its document: equal to the digest the state
    /// records for it.
    pub fn digest(&self) -> Digest {
        Digest::of_bytes(DigestKind::Policy, &self.to_document())
    }
}
