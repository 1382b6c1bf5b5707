//! cargo-fuzz target: every container parser (SIMH, E11, TPC, AWS, HET) and the probe over
//! arbitrary bytes, forwards, with spacing, and through a forward-only hostile medium.
//! Run with `cargo +nightly fuzz run read` from plugins/tape-image.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    relic_medium_tape_image::fuzz_read(data);
});
