//! Named scenarios and the seeded runner behind `cargo sim`.
//!
//! A scenario builds a simulated cluster, injects faults on a timeline, and waits for
//! the conditions that must follow. Every run is a seed: the same seed gives the same
//! trace and digest.

pub mod catalogue;
#[cfg(madsim)]
mod interpret;
#[cfg(madsim)]
mod nodes;
#[cfg(madsim)]
pub mod runner;
pub mod script;
#[cfg(madsim)]
pub mod sweep;

pub use catalogue::{CATALOGUE, LoadError, load};
