//! Fuzz target `stored_document`: see `encrypted_fuzz::targets::stored_document`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    encrypted_fuzz::targets::stored_document(data);
});
