//! The driver of a Psionic cluster node: it runs the sans-IO `psionic-core` state
//! machine on sockets, timers and disk.
//!
//! The same code runs on real tokio and, built with `--cfg madsim`, on madsim's
//! simulated network, clock and disk. The few calls that differ between the two live
//! in [`udp`], [`storage`] and [`entropy`].

pub mod api;
pub mod artifacts;
pub mod capabilities;
pub mod clock;
#[cfg(not(madsim))]
pub mod config_file;
pub mod devices;
pub mod driver;
pub mod durable;
pub mod entropy;
pub mod execute;
#[cfg(not(madsim))]
pub mod http;
pub mod identity_file;
#[cfg(not(madsim))]
pub mod manifest;
pub mod metrics;
pub mod observer;
pub mod receipt;
pub mod runtime;
mod serving;
pub mod storage;
pub mod stream;
pub mod udp;
mod wake;

pub use clock::Clock;
pub use devices::DeviceSource;
pub use driver::Request;
pub use identity_file::{IdentityError, IdentityFile};
pub use observer::{LogObserver, Observer};
pub use runtime::{
    CancelError, Committed, Consistency, NodeClient, NodeSettings, ProposeError, ReadError, RunningNode,
    STATE_WATCH_MS_MIN_DEFAULT, StartError, SubmitError, start,
};
