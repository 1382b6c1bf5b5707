//! libFuzzer target: the whole tar reader (headers, pax records, sparse maps, data) on
//! arbitrary bytes, through `relic_format_tar::fuzz_read`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    relic_format_tar::fuzz_read(data);
});
