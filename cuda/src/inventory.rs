//! The inventory a node reports and the readiness of its CUDA backend.

use psionic_core::backend::{
    Backend, BackendReadiness, BackendRefusal, DeviceProfile, DeviceReport, ExecutionProfile, Telemetry,
};
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

/// Whether this node can run work on CUDA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cuda", rename_all = "kebab-case")]
pub enum CudaReadiness {
    /// Ready, with these devices.
    Ready {
        /// What the driver reported.
        inventory: DeviceInventory,
    },
    /// Refused, with the reason.
    Refused {
        /// Why.
        reason: BackendRefusal,
    },
}

impl CudaReadiness {
    /// The readiness implied by a probe's result.
    pub fn of(probed: Result<DeviceInventory, BackendRefusal>) -> Self {
        match probed {
            Ok(inventory) => CudaReadiness::Ready { inventory },
            Err(reason) => CudaReadiness::Refused { reason },
        }
    }

    /// What the node tells its core: the CPU ready, CUDA as probed, free memory as
    /// telemetry.
    pub fn report(&self) -> DeviceReport {
        let (cuda, free_memory_bytes) = match self {
            CudaReadiness::Ready { inventory } => (
                BackendReadiness::Ready {
                    devices: inventory.devices.iter().map(DeviceInfo::profile).collect(),
                    profile: ExecutionProfile::default(),
                },
                inventory
                    .devices
                    .iter()
                    .map(|device| device.free_memory_bytes)
                    .collect(),
            ),
            CudaReadiness::Refused { reason } => (BackendReadiness::Refused { reason: reason.clone() }, Vec::new()),
        };
        DeviceReport {
            readiness: [(Backend::Cpu, BackendReadiness::cpu()), (Backend::Cuda, cuda)].into(),
            telemetry: Telemetry {
                free_memory_bytes,
                queue_depth: 0,
                links: Default::default(),
            },
        }
    }
}

impl DeviceInfo {
    /// The facts the log records about this device (everything but free memory).
    pub fn profile(&self) -> DeviceProfile {
        DeviceProfile {
            ordinal: self.ordinal,
            name: self.name.clone(),
            uuid: self.uuid.clone(),
            total_memory_bytes: self.total_memory_bytes,
            compute_capability: self.compute_capability,
        }
    }
}

impl DeviceInventory {
    /// An imaginary inventory for simulation: `count` devices of `memory_gib` each,
    /// compute capability 9.0, all memory free.
    pub fn simulated(count: u32, memory_gib: u64) -> Self {
        Self::simulated_with(count, memory_gib, (9, 0))
    }

    /// [`DeviceInventory::simulated`] with another compute capability.
    pub fn simulated_with(count: u32, memory_gib: u64, compute_capability: (u32, u32)) -> Self {
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
                    compute_capability,
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
        let refused = CudaReadiness::of(Err(BackendRefusal::DriverTooOld {
            found: 11_080,
            required: DRIVER_VERSION_MIN,
        }));
        let json = serde_json::to_value(&refused).unwrap();
        assert_eq!(json["cuda"], "refused");
        assert_eq!(json["reason"]["driver-too-old"]["found"], 11_080);
        let ready = CudaReadiness::of(Ok(DeviceInventory::simulated(2, 80)));
        let CudaReadiness::Ready { inventory } = &ready else {
            panic!()
        };
        assert_eq!(inventory.total_memory_bytes(), 160 * 1024 * 1024 * 1024);
        assert_eq!(inventory.devices[1].uuid, "GPU-00000000-0000-0000-0000-000000000001");
    }

    #[test]
    fn a_report_logs_profiles_and_keeps_free_memory_as_telemetry() {
        let mut inventory = DeviceInventory::simulated(2, 80);
        inventory.devices[1].free_memory_bytes = 7;
        let report = CudaReadiness::of(Ok(inventory)).report();
        assert!(report.readiness[&Backend::Cpu].is_ready());
        let BackendReadiness::Ready { devices, .. } = &report.readiness[&Backend::Cuda] else {
            panic!("{report:?}")
        };
        assert_eq!(devices[1].total_memory_bytes, 80 * 1024 * 1024 * 1024);
        assert_eq!(report.telemetry.free_memory_bytes[1], 7);
        let refused = CudaReadiness::of(Err(BackendRefusal::NoDriver)).report();
        assert_eq!(
            refused.readiness[&Backend::Cuda],
            BackendReadiness::Refused {
                reason: BackendRefusal::NoDriver
            }
        );
        assert!(refused.telemetry.free_memory_bytes.is_empty());
    }
}
