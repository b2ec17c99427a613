//! See `psionic_core::fuzz::dispatch_sequence`.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    psionic_core::fuzz::dispatch_sequence(bytes);
});
