//! See `psionic_core::fuzz::snapshot_chunks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    psionic_core::fuzz::snapshot_chunks(bytes);
});
