//! The forward pass's kernels compile with NVRTC (no device needed), and a machine
//! without the CUDA libraries gets a typed refusal, never a panic.
//!
//! proves: D2
#![cfg(not(madsim))]

use psionic_core::backend::{BackendRefusal, CudaLibrary};
use psionic_cuda::forward::{CudaDevice, compile_ptx};

#[test]
fn the_kernels_compile_with_nvrtc_where_it_is_installed() {
    match compile_ptx() {
        Ok(ptx) => {
            let source = ptx.to_src();
            for kernel in ["embed", "rms_norm", "rope", "attention", "add", "swiglu"] {
                assert!(
                    source.contains(&format!(".entry {kernel}(")),
                    "{kernel} is missing from the PTX"
                );
            }
        }
        Err(BackendRefusal::NoLibrary {
            library: CudaLibrary::Nvrtc,
        }) => eprintln!("skipped: NVRTC is not installed (pip install nvidia-cuda-nvrtc-cu12; see docs/RUNBOOK.md)"),
        Err(other) => panic!("the kernels did not compile: {other}"),
    }
}

#[test]
fn opening_a_device_without_its_libraries_is_a_typed_refusal() {
    match CudaDevice::open(0) {
        Ok(device) => assert_eq!(device.ordinal(), 0),
        Err(
            BackendRefusal::NoDriver
            | BackendRefusal::NoLibrary { .. }
            | BackendRefusal::Device { .. }
            | BackendRefusal::NoDevice,
        ) => {}
        Err(other) => panic!("unexpected refusal: {other}"),
    }
}
