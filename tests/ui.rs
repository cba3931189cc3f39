//! Compile-fail tests: every mistake `#[derive(Encrypted)]` and the typed paths reject,
//! each in `tests/ui/<the-mistake>.rs` with the expected compiler output next to it
//! (regenerate with `TRYBUILD=overwrite cargo test --test ui` after a deliberate change).

#[test]
fn mistakes_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
