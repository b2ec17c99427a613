//! CUDA device truth for Psionic cluster nodes: what GPUs a machine has, read from the
//! driver through cudarc with dynamic loading, and whether the CUDA backend is ready.
//!
//! Never panics for a missing driver or device: the driver library's presence is
//! checked before the first cudarc call, and every failure is a typed
//! [`BackendRefusal`]. Under simulation (`--cfg madsim`) there is no driver; scenarios
//! describe inventories instead ([`DeviceInventory::simulated`]).

#[cfg(not(madsim))]
mod ffi;
mod inventory;
#[cfg(not(madsim))]
mod probe;

pub use inventory::{CudaReadiness, DRIVER_VERSION_MIN, DeviceInfo, DeviceInventory};
#[cfg(not(madsim))]
pub use probe::probe;
pub use psionic_core::backend::{BackendRefusal, DriverCall};
