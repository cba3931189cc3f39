//! Fuzz target `ciphertext`: see `encrypted_fuzz::targets::ciphertext`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    encrypted_fuzz::targets::ciphertext(data);
});
