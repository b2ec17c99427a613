//! `psionic-node`: initialise, run and operate a Psionic cluster node.
//!
//! Exit codes: 0 success; 2 usage error (bad arguments or command JSON); 3
//! configuration error; 4 data-directory error (identity missing or corrupt, directory
//! locked); 5 network error (address in use, operator API unreachable); 6 the node
//! refused the request (wrong operator token, not the leader, proposal rejected).

#[cfg(madsim)]
fn main() {
    eprintln!("psionic-node runs on real sockets; build it without --cfg madsim");
    std::process::exit(2);
}

#[cfg(not(madsim))]
mod backup;
#[cfg(not(madsim))]
mod capabilities;
#[cfg(not(madsim))]
mod cli;
#[cfg(not(madsim))]
mod client;
#[cfg(not(madsim))]
mod credential;
#[cfg(not(madsim))]
mod demo;
#[cfg(not(madsim))]
mod demo_models;
#[cfg(not(madsim))]
mod evidence;
#[cfg(not(madsim))]
mod model;
#[cfg(not(madsim))]
mod serve;
#[cfg(not(madsim))]
mod stage;
#[cfg(not(madsim))]
#[cfg(not(madsim))]
fn main() -> std::process::ExitCode {
    cli::main()
}
