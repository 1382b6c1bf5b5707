//! libFuzzer target: the whole aix-backup reader (both formats: dword headers, security
//! blocks, packed streams, by-inode directory trees, BSD-style blocks), with and without
//! salvage, on arbitrary bytes, through `relic_format_aix_backup::fuzz_read`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    relic_format_aix_backup::fuzz_read(data);
});
