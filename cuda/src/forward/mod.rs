//! Llama-architecture models on one CUDA device: the weights uploaded once
//! ([`DeviceModel`]), each sequence's KV cache kept on the device
//! ([`DeviceSession`]), matrix products through cuBLAS and the rest through kernels
//! NVRTC compiles when the device opens. Every library is loaded at run time: a
//! machine without them gets a typed [`BackendRefusal`], never a panic.

mod launch;
mod model;
mod selftest;
mod session;

use std::sync::{Arc, Mutex};

use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaStream};
use psionic_core::backend::{BackendRefusal, CudaLibrary, DeviceOperation};

pub use model::DeviceModel;
pub use selftest::{SELF_TEST_ERROR_MILLIONTHS_MAX, self_test};
pub use session::{DeviceSession, ForwardError, PREFILL_CHUNK_ROWS};

use launch::Kernels;

/// The kernels' source.
const KERNELS_CU: &str = include_str!("kernels.cu");

/// A device failed: what it was doing and the driver's or library's status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the device failed in {operation:?} with code {code}")]
pub struct DeviceFault {
    /// What it was doing.
    pub operation: DeviceOperation,
    /// The status code.
    pub code: i32,
}

impl From<DeviceFault> for BackendRefusal {
    fn from(fault: DeviceFault) -> Self {
        BackendRefusal::Device {
            operation: fault.operation,
            code: fault.code,
        }
    }
}

fn memory_fault(error: cudarc::driver::DriverError) -> DeviceFault {
    DeviceFault {
        operation: DeviceOperation::Memory,
        code: error.0 as i32,
    }
}

/// One opened device: its context, the stream all work goes on, a cuBLAS handle and
/// the compiled kernels. Work is serialised through `blas`'s lock.
#[derive(Debug)]
pub struct CudaDevice {
    ordinal: u32,
    stream: Arc<CudaStream>,
    blas: Mutex<CudaBlas>,
    kernels: Kernels,
}

impl CudaDevice {
    /// Opens device `ordinal`: loads cuBLAS and NVRTC, compiles the kernels.
    pub fn open(ordinal: u32) -> Result<Arc<Self>, BackendRefusal> {
        if !crate::ffi::driver_library_present() {
            return Err(BackendRefusal::NoDriver);
        }
        for (library, present) in [
            (CudaLibrary::Cublas, crate::ffi::cublas_library_present as fn() -> bool),
            (CudaLibrary::Nvrtc, crate::ffi::nvrtc_library_present),
        ] {
            if !present() {
                return Err(BackendRefusal::NoLibrary { library });
            }
        }
        let open_fault = |code: i32| BackendRefusal::Device {
            operation: DeviceOperation::Open,
            code,
        };
        let context = CudaContext::new(ordinal as usize).map_err(|error| open_fault(error.0 as i32))?;
        let stream = context.default_stream();
        let blas = CudaBlas::new(Arc::clone(&stream)).map_err(|error| open_fault(error.0 as i32))?;
        let kernels = compile(&context)?;
        Ok(Arc::new(Self {
            ordinal,
            stream,
            blas: Mutex::new(blas),
            kernels,
        }))
    }

    /// Its ordinal on this machine.
    pub fn ordinal(&self) -> u32 {
        self.ordinal
    }
}

/// Compiles `kernels.cu` to PTX (no device needed) and returns NVRTC's result code
/// on failure.
pub fn compile_ptx() -> Result<cudarc::nvrtc::Ptx, BackendRefusal> {
    if !crate::ffi::nvrtc_library_present() {
        return Err(BackendRefusal::NoLibrary {
            library: CudaLibrary::Nvrtc,
        });
    }
    let options = cudarc::nvrtc::CompileOptions {
        fmad: Some(false),
        prec_div: Some(true),
        prec_sqrt: Some(true),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(KERNELS_CU, options).map_err(|error| BackendRefusal::Kernels {
        code: nvrtc_code(&error),
    })
}

fn nvrtc_code(error: &cudarc::nvrtc::CompileError) -> i32 {
    use cudarc::nvrtc::CompileError;
    match error {
        CompileError::CreationError(error)
        | CompileError::CompileError { nvrtc: error, .. }
        | CompileError::GetLogError(error)
        | CompileError::GetPtxError(error)
        | CompileError::DestroyError(error) => error.0 as i32,
    }
}

fn compile(context: &Arc<CudaContext>) -> Result<Kernels, BackendRefusal> {
    let module = context
        .load_module(compile_ptx()?)
        .map_err(|error| BackendRefusal::Device {
            operation: DeviceOperation::Open,
            code: error.0 as i32,
        })?;
    let function = |name: &str| {
        module.load_function(name).map_err(|error| BackendRefusal::Device {
            operation: DeviceOperation::Open,
            code: error.0 as i32,
        })
    };
    Ok(Kernels {
        embed: function("embed")?,
        rms_norm: function("rms_norm")?,
        rope: function("rope")?,
        attention: function("attention")?,
        add: function("add")?,
        swiglu: function("swiglu")?,
    })
}
