//! libFuzzer target: the whole vms-backup reader (block checks, XOR repair, tape labels,
//! records, attribute lists, text conversion, salvage) on arbitrary bytes, through
//! `relic_format_vms_backup::fuzz_read`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    relic_format_vms_backup::fuzz_read(data);
});
