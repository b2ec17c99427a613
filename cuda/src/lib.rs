//! CUDA for Psionic cluster nodes: what GPUs a machine has, read from the driver
//! through cudarc with dynamic loading, whether the CUDA backend is ready, and the
//! forward pass of llama-architecture models on a device ([`forward`]).
//!
//! Never panics for a missing driver, library or device: each library's presence is
//! checked before the first cudarc call into it, and every failure is a typed
//! [`BackendRefusal`]. Under simulation (`--cfg madsim`) there is no driver; scenarios
//! describe inventories instead ([`DeviceInventory::simulated`]).

#[cfg(not(madsim))]
mod ffi;
#[cfg(not(madsim))]
pub mod forward;
mod inventory;
#[cfg(not(madsim))]
mod probe;

pub use inventory::{CudaReadiness, DRIVER_VERSION_MIN, DeviceInfo, DeviceInventory};
#[cfg(not(madsim))]
pub use probe::probe;
pub use psionic_core::backend::{BackendRefusal, DriverCall};
