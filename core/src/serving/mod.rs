//! Serving: what a node runs for the cluster's coordinator, and what became of it.
//!
//! The executing node's half of dispatch lives here, driven by [`crate::Node`] like
//! consensus is: an assignment accepted under a fence becomes a [`Job`] the driver runs
//! ([`crate::Output::RunJob`]); the driver hands the outcome back
//! ([`crate::Node::execution_ended`]) and the node reports it to the coordinator.
//!
//! Invariants:
//! - a request runs at most once on a node: an assignment of a request already running
//!   here re-addresses its report to the newer coordinator, and one completed here is
//!   answered with the kept result;
//! - a run's outcome is reported once, to the newest coordinator that assigned it;
//! - a run issued under a fence older than the node's term is stopped
//!   ([`crate::Output::StopJob`]): its coordinator can no longer take the result;
//! - each kept completion is told once to every new leader, so a coordinator deposed
//!   before it heard does not make the request run again.

mod executor;

pub(crate) use executor::{Accepted, ExecutorBook};

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::digest::Digest;
use crate::identity::RequestId;

/// One run the node's driver carries out on its executor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The request: it runs at most once per node.
    pub request: RequestId,
    /// The model.
    pub artifact: Digest,
    /// The backend the plan chose.
    pub backend: Backend,
    /// The device the plan chose.
    pub device: Option<u32>,
    /// The prompt.
    #[serde(with = "serde_bytes")]
    pub prompt: Vec<u8>,
    /// Tokens to produce.
    pub max_tokens: u32,
    /// Priority class.
    pub class: u8,
}
