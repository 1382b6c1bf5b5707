//! cargo-fuzz target: every input goes through the probe and the reader (plain and salvage).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    relic_format_xenix_backup::fuzz_read(data);
});
