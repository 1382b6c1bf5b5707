//! cargo-fuzz target: detection, the packed-image header and bitmap, the superblock (with
//! the backup fallback) and the whole tree walk with data, over arbitrary bytes taken as a
//! packed image, a raw image and a plain volume.
//! Run with `cargo +nightly fuzz run read` from plugins/o2image.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    relic_format_o2image::fuzz_read(data);
});
