//! Arbitrary bytes into the frame decoder: every input is a frame or a typed error.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    if psionic_core::wire::peek_schema_version(bytes).is_ok() {
        let _ = psionic_core::wire::decode_frame(bytes);
    }
});
