//! Fuzz target `extended_json`: see `encrypted_fuzz::targets::extended_json`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    encrypted_fuzz::targets::extended_json(data);
});
