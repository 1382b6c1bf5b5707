//! Smoke-fuzzing the reader in ordinary test runs: every fixture, a few real samples and
//! writer outputs, each with deterministic mutations (byte flips, truncation, insertions,
//! huge 32-bit fields), through `fuzz_read` (with and without salvage). A panic fails the
//! test and saves the input; errors are expected and fine. The coverage-guided target is
//! `fuzz/fuzz_targets/read.rs`.

mod common;

use std::path::Path;

use relic_plugin_sdk::testing::smoke_fuzz;

#[test]
fn mutated_archives_never_panic() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/aix-backup");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for name in [
        "namex-misc.bff",
        "pcix-inode.bff",
        "unsupported-type13.bff",
        "aix3-inode.dump",
    ] {
        seeds.push(std::fs::read(fx.join(name)).expect("fixture"));
    }
    let mut v1 = std::fs::read(fx.join("volumes/name-v2.vol1")).expect("volume");
    v1.extend(std::fs::read(fx.join("volumes/name-v2.vol2")).expect("volume"));
    seeds.push(v1);
    if let Some(dir) = common::corpus() {
        for name in [
            "bffextract-rs-test.bff",
            "bffextract-rs-acl_aixc_nfs4.bff",
            "bffextract-rs-test_acl-synthetic.bff",
            "chef-PkgA.1.0.0.0.bff",
        ] {
            seeds.push(std::fs::read(dir.join(name)).expect("corpus"));
        }
        // the start of the packed IBM image (two packed members) and of a PC/IX floppy
        let rpm = std::fs::read(dir.join("ibmichroot-rpm.rte")).expect("corpus");
        seeds.push(rpm[..0x9460].to_vec());
        let d02 = std::fs::read(dir.join("pcix10-disk02.img")).expect("corpus");
        seeds.push(d02[..16384].to_vec());
    }
    // RELIC_FUZZ_ITERS=N runs N mutations per seed instead (for longer local runs)
    let n = std::env::var("RELIC_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250);
    smoke_fuzz(&seeds, n, relic_format_aix_backup::fuzz_read);
}
