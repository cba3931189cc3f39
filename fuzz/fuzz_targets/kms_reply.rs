//! Fuzz target `kms_reply`: see `encrypted_fuzz::targets::kms_reply`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    encrypted_fuzz::targets::kms_reply(data);
});
