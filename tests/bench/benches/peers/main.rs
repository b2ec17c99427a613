//! Benchmarks side by side with peers and physical limits, measured in one run:
//! `cargo bench -p psionic-bench --bench peers`. Each row's ratio is written as a
//! receipt (`target/receipts/ID.json`); `docs/PERFORMANCE.md` explains the rows.

#[cfg(not(madsim))]
mod burst;
#[cfg(not(madsim))]
mod consensus;
#[cfg(not(madsim))]
mod crypto;
#[cfg(not(madsim))]
mod net;
#[cfg(not(madsim))]
mod ours;
#[cfg(not(madsim))]
mod plan;
#[cfg(not(madsim))]
mod raftrs;
#[cfg(not(madsim))]
mod receipt;
#[cfg(not(madsim))]
mod rows;
#[cfg(not(madsim))]
mod table;

#[cfg(not(madsim))]
fn main() {
    let mut criterion = criterion::Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(2))
        .configure_from_args();
    let signed_limit = rows::measure(&mut criterion);
    criterion.final_summary();
    receipt::write(&table::rows(&signed_limit));
}

/// Simulation builds have no real sockets or clock to measure.
#[cfg(madsim)]
fn main() {}
