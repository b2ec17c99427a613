//! The driver calls cudarc exposes only as `unsafe`.
#![allow(unsafe_code)]

/// Whether the CUDA driver library can be loaded (cudarc panics on its first call
/// otherwise).
pub fn driver_library_present() -> bool {
    // SAFETY: only tries to load the library and reports whether that worked.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// The driver's CUDA version as `1000 * major + 10 * minor`. Call only once
/// [`driver_library_present`] said yes.
pub fn driver_version() -> Result<i32, cudarc::driver::DriverError> {
    let mut version = 0;
    // SAFETY: `version` is a valid place for one `c_int`; the library is present.
    unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version).result()? };
    Ok(version)
}

/// Whether cuBLAS can be loaded.
pub fn cublas_library_present() -> bool {
    // SAFETY: only tries to load the library and reports whether that worked.
    unsafe { cudarc::cublas::sys::is_culib_present() }
}

/// Whether NVRTC can be loaded.
pub fn nvrtc_library_present() -> bool {
    // SAFETY: only tries to load the library and reports whether that worked.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}
