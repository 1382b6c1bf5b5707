//! libFuzzer target: the whole dump reader (detection, headers, maps, directories, compressed
//! records, xattr blobs, data; plain, salvage and names-only reads) on arbitrary bytes,
//! through `relic_format_dump::fuzz_read`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    relic_format_dump::fuzz_read(data);
});
