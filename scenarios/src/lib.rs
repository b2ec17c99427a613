//! Named scenarios and the seeded runner behind `cargo sim`.
//!
//! A scenario builds a simulated cluster, injects faults on a timeline, and waits for
//! the conditions that must follow. Every run is a seed: the same seed gives the same
//! trace and digest.

pub mod catalogue;
pub mod script;
#[cfg(madsim)]
mod discovery;
#[cfg(madsim)]
mod failover;
#[cfg(madsim)]
mod nodes;
#[cfg(madsim)]
pub mod runner;

pub use catalogue::{CATALOGUE, ScenarioInfo};
