//! `cargo sim`: run seeded scenarios in the deterministic simulator.
//!
//! Exit codes: 0 every run passed; 1 a run failed (safety, liveness or crash);
//! 2 usage error (unknown scenario, bad file or arguments, not a simulation build).

#[cfg(madsim)]
mod cli;
#[cfg(madsim)]
mod receipt;
#[cfg(madsim)]
mod speed;
#[cfg(madsim)]
mod sweep;

#[cfg(madsim)]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    eprintln!("error: scenarios run in the simulation build; use `cargo sim ...`");
    std::process::ExitCode::from(2)
}
