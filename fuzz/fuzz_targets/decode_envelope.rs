//! See `psionic_core::fuzz::decode_envelope`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| psionic_core::fuzz::decode_envelope(bytes));
