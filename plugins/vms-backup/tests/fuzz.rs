//! Smoke fuzzing (the deterministic mutations of the SDK) over the committed fixtures and two
//! small corpus save sets: the reader must never panic, hang or allocate without bound. The
//! coverage-guided target is `fuzz/` (cargo-fuzz).

mod common;

use common::*;
use relic_plugin_sdk::testing::smoke_fuzz;

#[test]
fn mutated_save_sets_never_panic() {
    let mut seeds: Vec<Vec<u8>> = [
        "formats.bck",
        "image.bck",
        "nocrc.bck",
        "physical.bck",
        "tape.tap",
    ]
    .iter()
    .map(|n| std::fs::read(fixtures().join(n)).expect("fixture"))
    .collect();
    if let Some(dir) = corpus() {
        for n in ["a1032__a1c032.a", "thai071__thai071.a"] {
            seeds.push(std::fs::read(dir.join(n)).expect("sample"));
        }
    }
    smoke_fuzz(&seeds, 120, relic_format_vms_backup::fuzz_read);
}

#[test]
fn the_probe_bids_on_save_sets_and_tapes_only() {
    use relic_format_vms_backup::bid;
    let f = std::fs::read(fixtures().join("formats.bck")).expect("fixture");
    assert!(bid(&f) >= 128, "{}", bid(&f));
    // a tape: the engine's head is the first tape file (VOL1 HDR1 HDR2)
    let t = std::fs::read(fixtures().join("tape.tap")).expect("fixture");
    let mut head = Vec::new();
    let mut p = 0;
    while p + 4 <= t.len() {
        let n = u32::from_le_bytes(t[p..p + 4].try_into().expect("4")) as usize;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&t[p + 4..p + 4 + n]);
        p += 8 + n + (n & 1);
    }
    assert!(bid(&head) >= 100, "{}", bid(&head));
    assert_eq!(bid(&t), 0, "the SIMH container itself is not ours");
    let mut broken = f.clone();
    broken[254] ^= 1;
    assert_eq!(bid(&broken), 0, "bad header checksum");
    assert_eq!(bid(b"not a save set at all"), 0);
    assert_eq!(bid(&vec![0u8; 4096]), 0);
}
