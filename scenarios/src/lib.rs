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
pub mod receipts;
#[cfg(madsim)]
pub mod runner;
pub mod script;
#[cfg(madsim)]
pub mod speed;
#[cfg(madsim)]
pub mod sweep;

pub use catalogue::{CATALOGUE, LoadError, load};

/// Fuzz harness (`cargo fuzz run scenario_file`): arbitrary bytes as a scenario file
/// are a scenario or an error naming a line of the text.
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub fn fuzz_scenario_file(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let lines = text.split('\n').count();
    match script::parse("fuzz", text) {
        Ok(scenario) => assert!(!scenario.steps.is_empty(), "a scenario without steps"),
        Err(script::ScenarioError::Syntax { line, .. } | script::ScenarioError::Invalid { line, .. }) => {
            assert!(
                (1..=lines).contains(&line),
                "error at line {line} of a {lines}-line text"
            );
        }
    }
}
