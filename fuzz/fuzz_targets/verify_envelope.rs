//! See `psionic_core::fuzz::verify_envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| psionic_core::fuzz::verify_envelope(bytes));
