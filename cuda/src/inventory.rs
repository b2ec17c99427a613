//! The inventory a node reports and the readiness of its CUDA backend.

use serde::{Deserialize, Serialize};

/// Oldest driver accepted, as `1000 * major + 10 * minor` (CUDA 12.0).
pub const DRIVER_VERSION_MIN: i32 = 12_000;

/// One GPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Its ordinal on this machine.
    pub ordinal: u32,
    /// The driver's name for it.
    pub name: String,
    /// Its UUID, `GPU-xxxxxxxx-xxxx-...` as `nvidia-smi -L` prints it.
    pub uuid: String,
    /// Device memory.
    pub total_memory_bytes: u64,
    /// Device memory free when probed.
    pub free_memory_bytes: u64,
    /// Compute capability (major, minor).
    pub compute_capability: (u32, u32),
}

/// The GPUs of one machine and the driver they run under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInventory {
    /// Driver CUDA version, `1000 * major + 10 * minor`.
    pub driver_version: i32,
    /// Devices in ordinal order.
    pub devices: Vec<DeviceInfo>,
}

/// Why the CUDA backend cannot serve on this machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "refusal", rename_all = "kebab-case")]
pub enum CudaRefusal {
    /// The driver library (`libcuda`) is not installed or cannot be loaded.
    #[error("no CUDA driver: libcuda could not be loaded")]
    NoDriver,
    /// The driver is there but reports no device.
    #[error("the CUDA driver reports no device")]
    NoDevice,
    /// The driver is older than this build needs.
    #[error("CUDA driver {found} is older than the {required} required")]
    DriverTooOld {
        /// Its version.
        found: i32,
        /// The minimum.
        required: i32,
    },
    /// A driver call failed.
    #[error("CUDA driver call {call:?} failed with CUresult {code}")]
    DriverError {
        /// The call.
        call: DriverCall,
        /// The driver's `CUresult`.
        code: i32,
    },
}

/// The driver calls the inventory makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DriverCall {
    /// `cuDriverGetVersion`.
    DriverGetVersion,
    /// `cuDeviceGetCount`.
    DeviceGetCount,
    /// `cuDevicePrimaryCtxRetain`.
    PrimaryContextRetain,
    /// `cuDeviceGetAttribute` (compute capability).
    DeviceGetAttribute,
    /// `cuMemGetInfo`.
    MemGetInfo,
    /// `cuDeviceGetUuid`.
    DeviceGetUuid,
    /// `cuDeviceGetName`.
    DeviceGetName,
}

/// Whether this node can run work on CUDA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cuda", rename_all = "kebab-case")]
pub enum BackendReadiness {
    /// Ready, with these devices.
    Ready {
        /// What the driver reported.
        inventory: DeviceInventory,
    },
    /// Refused, with the reason.
    Refused {
        /// Why.
        reason: CudaRefusal,
    },
}

impl BackendReadiness {
    /// The readiness implied by a probe's result.
    pub fn of(probed: Result<DeviceInventory, CudaRefusal>) -> Self {
        match probed {
            Ok(inventory) => BackendReadiness::Ready { inventory },
            Err(reason) => BackendReadiness::Refused { reason },
        }
    }
}

impl DeviceInventory {
    /// An imaginary inventory for simulation: `count` devices of `memory_gib` each,
    /// compute capability 9.0, all memory free.
    pub fn simulated(count: u32, memory_gib: u64) -> Self {
        let bytes = memory_gib * 1024 * 1024 * 1024;
        Self {
            driver_version: 12_080,
            devices: (0..count)
                .map(|ordinal| DeviceInfo {
                    ordinal,
                    name: format!("Simulated GPU {memory_gib} GiB"),
                    uuid: format!("GPU-00000000-0000-0000-0000-{ordinal:012x}"),
                    total_memory_bytes: bytes,
                    free_memory_bytes: bytes,
                    compute_capability: (9, 0),
                })
                .collect(),
        }
    }

    /// Device memory over every device.
    pub fn total_memory_bytes(&self) -> u64 {
        self.devices.iter().map(|device| device.total_memory_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_serialises_as_a_tagged_value() {
        let refused = BackendReadiness::of(Err(CudaRefusal::DriverTooOld {
            found: 11_080,
            required: DRIVER_VERSION_MIN,
        }));
        let json = serde_json::to_value(&refused).unwrap();
        assert_eq!(json["cuda"], "refused");
        assert_eq!(json["reason"]["refusal"], "driver-too-old");
        assert_eq!(json["reason"]["found"], 11_080);
        let ready = BackendReadiness::of(Ok(DeviceInventory::simulated(2, 80)));
        let BackendReadiness::Ready { inventory } = ready else {
            panic!()
        };
        assert_eq!(inventory.total_memory_bytes(), 160 * 1024 * 1024 * 1024);
        assert_eq!(inventory.devices[1].uuid, "GPU-00000000-0000-0000-0000-000000000001");
    }
}
