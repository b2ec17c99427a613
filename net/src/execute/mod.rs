//! Executing inference requests: the [`Executor`] a node plugs in, and the
//! [`ExecutorHost`] that queues its work under the serving policy.
//!
//! An executor runs a request in steps (one prefill, then one decode step per token),
//! so the host can interleave requests fairly and stop a cancelled one between any
//! two steps.

#[cfg(not(madsim))]
mod cuda;
mod host;
mod model;
mod reference;
mod sequence;

use std::collections::BTreeMap;
use std::fmt;

use psionic_core::Digest;
use psionic_core::backend::{Backend, BackendRefusal, ExecutionProfile};
use serde::{Deserialize, Serialize};

pub use host::{ExecutorHost, Outcome, Progress, Submitted};
pub use model::{ModelExecutor, runnable};
pub use psionic_core::dispatch::{ExecutionError, MAX_TOKENS_MAX, PROMPT_BYTES_MAX, Token};
pub use psionic_core::serving::Job;
pub use reference::ReferenceExecutor;

/// What a finished request produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    /// The tokens.
    pub tokens: Vec<Token>,
    /// SHA-256 (output domain) over the tokens.
    pub result_digest: Digest,
}

impl Completion {
    /// The completion of `tokens`.
    pub fn of(tokens: Vec<Token>) -> Self {
        Self {
            result_digest: psionic_core::dispatch::output_digest(&tokens),
            tokens,
        }
    }
}

/// Runs requests on one node's backends.
pub trait Executor: Send + Sync + fmt::Debug + 'static {
    /// What it runs, backend by backend; a backend it does not list runs nothing
    /// here, whatever its readiness.
    fn profiles(&self) -> BTreeMap<Backend, ExecutionProfile>;

    /// Backends the machine offers that this executor found it cannot run on, and
    /// why; the node reports them refused whatever the driver's probe says.
    fn refusals(&self) -> BTreeMap<Backend, BackendRefusal> {
        BTreeMap::new()
    }

    /// The models it holds without a models directory (the reference model's
    /// artifacts a configuration names): the node reports them resident itself.
    fn held_models(&self) -> std::collections::BTreeSet<Digest> {
        std::collections::BTreeSet::new()
    }

    /// Time the host waits after each step (zero: none). A simulated executor uses it
    /// to stand for the time real steps take.
    fn step_time(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Reads the job's prompt; the execution then produces tokens one step at a time.
    fn prefill(&self, job: &Job) -> Result<Box<dyn Execution>, ExecutionError>;
}

/// A request in progress.
pub trait Execution: Send {
    /// Produces the next token.
    fn decode(&mut self) -> Result<Token, ExecutionError>;
}
