//! Deterministic simulation of Psionic clusters.
//!
//! Built with `--cfg madsim`, [`cluster::SimCluster`] starts N madsim nodes, each
//! running the real `psionic-net` driver on simulated sockets, clock and disk, injects
//! faults, and records a [`trace::Trace`] of every core event and fault. The trace's
//! digest identifies a run: the same seed gives the same digest.
//!
//! The report and trace types build in both flavours so tools can read them.

#[cfg(madsim)]
pub mod baseline;
#[cfg(madsim)]
pub mod cluster;
pub mod history;
pub mod invariants;
#[cfg(madsim)]
mod observer;
pub mod report;
pub mod timeline;
pub mod trace;
pub mod views;

#[cfg(madsim)]
pub use cluster::RequestMix;
pub use report::{Condition, NotApplied, Outcome, Report, Violation};
pub use trace::{DiskDamage, Fault, Trace, TraceKind, TraceRecord};
pub use views::Views;
