//! Fuzz target `key_document`: see `encrypted_fuzz::targets::key_document`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    encrypted_fuzz::targets::key_document(data);
});
