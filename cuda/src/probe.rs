//! Reading the inventory from the driver.

use cudarc::driver::{CudaContext, DriverError};

use crate::ffi;
use psionic_core::backend::{BackendRefusal, DriverCall};

use crate::inventory::{DRIVER_VERSION_MIN, DeviceInfo, DeviceInventory};

/// Asks the driver what GPUs this machine has. Safe on a machine with no driver.
pub fn probe() -> Result<DeviceInventory, BackendRefusal> {
    if !ffi::driver_library_present() {
        return Err(BackendRefusal::NoDriver);
    }
    let driver_version = ffi::driver_version().map_err(failed(DriverCall::DriverGetVersion))?;
    if driver_version < DRIVER_VERSION_MIN {
        return Err(BackendRefusal::DriverTooOld {
            found: driver_version,
            required: DRIVER_VERSION_MIN,
        });
    }
    let count = CudaContext::device_count().map_err(failed(DriverCall::DeviceGetCount))?;
    if count <= 0 {
        return Err(BackendRefusal::NoDevice);
    }
    let devices = (0..count as usize).map(device).collect::<Result<_, _>>()?;
    Ok(DeviceInventory {
        driver_version,
        devices,
    })
}

fn device(ordinal: usize) -> Result<DeviceInfo, BackendRefusal> {
    let context = CudaContext::new(ordinal).map_err(failed(DriverCall::PrimaryContextRetain))?;
    let (major, minor) = context
        .compute_capability()
        .map_err(failed(DriverCall::DeviceGetAttribute))?;
    let (free, total) = context.mem_get_info().map_err(failed(DriverCall::MemGetInfo))?;
    let uuid = context.uuid().map_err(failed(DriverCall::DeviceGetUuid))?;
    Ok(DeviceInfo {
        ordinal: ordinal as u32,
        name: context.name().map_err(failed(DriverCall::DeviceGetName))?,
        uuid: format_uuid(&uuid.bytes.map(|byte| byte as u8)),
        total_memory_bytes: total as u64,
        free_memory_bytes: free as u64,
        compute_capability: (major as u32, minor as u32),
    })
}

fn failed(call: DriverCall) -> impl Fn(DriverError) -> BackendRefusal {
    move |error| BackendRefusal::DriverError {
        call,
        code: error.0 as i32,
    }
}

/// `GPU-` and the 16 bytes as 8-4-4-4-12 hex, as `nvidia-smi -L` prints them.
fn format_uuid(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_prints_as_nvidia_smi_does() {
        let bytes = [
            0x5a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9,
        ];
        assert_eq!(format_uuid(&bytes), "GPU-5a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
    }

    #[test]
    fn probing_never_panics_and_without_a_driver_says_so() {
        let probed = probe();
        if !ffi::driver_library_present() {
            assert_eq!(probed, Err(BackendRefusal::NoDriver));
        }
    }
}
