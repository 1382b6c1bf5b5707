//! Damaged and taped save sets from the corpus: CRC errors detected and named, one zeroed
//! block per XOR group rebuilt (output identical to the ground truth), two lost blocks an
//! error (or, with salvage, absent data), the synthetic ANSI tape with three save sets,
//! duplicate tape blocks, missing blocks. Skipped with a note when the corpus is absent.

mod common;

use common::*;
use relic_format_vms_backup::{ReadOptions, RecordsMode, Selector};
use relic_model::{EntryKind, ErrorKind};
use relic_plugin_sdk::testing::{HostileMedium, MemoryMedium};
use serde_json::Value;

fn load(name: &str) -> Option<(Vec<u8>, Value)> {
    let dir = corpus()?;
    let data = std::fs::read(dir.join(name)).expect("sample");
    let j = serde_json::from_slice(
        &std::fs::read(dir.join(format!("expected/{name}.ref.json"))).expect("ref"),
    )
    .expect("json");
    Some((data, j))
}

fn raw() -> ReadOptions {
    ReadOptions {
        records: RecordsMode::Raw,
        ..ReadOptions::default()
    }
}

/// Every file's raw sha256 equals the reference.
fn assert_raw_truth(members: &[relic_plugin_sdk::testing::Member], j: &Value) {
    let files = j["files"].as_array().expect("files");
    assert_eq!(members.len(), files.len());
    for (m, f) in members.iter().zip(files) {
        if m.entry.kind == EntryKind::File {
            assert_eq!(
                sha256(&m.data),
                f["raw_sha256"].as_str().expect("sha"),
                "{}",
                m.entry.display_path()
            );
        }
    }
}

#[test]
fn a_zeroed_block_in_every_position_is_rebuilt_from_its_xor_group() {
    // dcpsvax022: 35 blocks of 32256, groups of 10 (4 XOR blocks); thai071.b: /NOCRC
    for name in [
        "dcpsvax022__dcpsvax022.c",
        "thai071__thai071.b",
        "a1032__a1c032.a",
    ] {
        let Some((data, j)) = load(name) else { return };
        let bs = j["block_size"].as_u64().expect("bs") as usize;
        let blocks = data.len() / bs;
        let (clean, _) = read_medium(MemoryMedium::from_bytes(&data, 1 << 16), raw());
        let clean = clean.expect("clean read").1;
        assert_raw_truth(&clean, &j);
        // every position of the small sets; of thai071.b (204 blocks) a spread incl. the ends
        let step = if blocks > 100 { 9 } else { 1 };
        let positions: Vec<usize> = (0..blocks)
            .filter(|k| k % step == 0 || *k + 3 >= blocks)
            .collect();
        for k in positions {
            let mut bad = data.clone();
            bad[k * bs..(k + 1) * bs].fill(0);
            let (r, host) = read_medium(MemoryMedium::from_bytes(&bad, 1 << 16), raw());
            let (_, members) = r.unwrap_or_else(|e| panic!("{name} block {}: {e}", k + 1));
            assert_eq!(members.len(), clean.len());
            for (a, b) in members.iter().zip(&clean) {
                assert!(
                    a.data == b.data && a.entry == b.entry,
                    "{name} block {}: {}",
                    k + 1,
                    a.entry.display_path()
                );
            }
            let mut w = host.all();
            if k == 0 {
                // block 1 also gave the block size: found from block 2's header instead
                assert!(
                    w[0].contains("block size") && w[0].contains("taken from block 2"),
                    "{w:?}"
                );
                w.remove(0);
            }
            assert_eq!(w.len(), 1, "{name} block {}: {w:?}", k + 1);
            assert!(
                w[0].contains(&format!("block {} was damaged", k + 1))
                    || w[0].contains(&format!("XOR block {} is damaged", k + 1)),
                "{name}: {}",
                w[0]
            );
        }
    }
}

#[test]
fn crc_errors_are_detected_and_named() {
    let Some((data, j)) = load("vaxfms024__vaxfms024.a") else {
        return;
    };
    let bs = j["block_size"].as_u64().expect("bs") as usize;
    // one flipped data bit in block 3: CRC-32 mismatch, repaired from the group
    let mut bad = data.clone();
    bad[2 * bs + 4000] ^= 0x10;
    let (r, host) = read_medium(HostileMedium::new(bad.clone(), &[]), raw());
    assert_raw_truth(&r.expect("repaired").1, &j);
    assert!(
        host.all()[0].contains("block 3 was damaged"),
        "{:?}",
        host.all()
    );
    // the same bit plus a header bit of block 5: two bad blocks in one group
    bad[4 * bs + 100] ^= 1;
    let (r, _) = read_medium(HostileMedium::new(bad.clone(), &[]), raw());
    let e = r.expect_err("two bad blocks");
    assert_eq!(e.kind, ErrorKind::Corrupt);
    assert!(
        e.message.contains("block 3, 5") && e.message.contains("CRC"),
        "{}",
        e.message
    );
    assert_eq!(e.offset, Some(2 * bs as u64));
    // salvage: every file but the damaged ones intact, the lost ranges absent
    let (r, host) = read_medium(
        HostileMedium::new(bad, &[]),
        ReadOptions {
            salvage: true,
            ..raw()
        },
    );
    let (_, members) = r.expect("salvage reads on");
    assert!(
        host.all().iter().any(|w| w.contains("cannot be rebuilt")),
        "{:?}",
        host.all()
    );
    let files = j["files"].as_array().expect("files");
    let damaged: Vec<_> = members.iter().filter(|m| !m.absent.is_empty()).collect();
    assert!(!damaged.is_empty());
    for m in &members {
        let f = files
            .iter()
            .find(|f| f["name"].as_str() == extra(m, "vms.name").as_deref())
            .expect("known file");
        if m.absent.is_empty() {
            assert_eq!(sha256(&m.data), f["raw_sha256"].as_str().expect("sha"));
        }
        assert_eq!(m.entry.size, f["raw_len"].as_u64().expect("len"));
    }
}

#[test]
fn a_header_checksum_error_without_groups_is_an_error_naming_the_block() {
    let Some((data, _)) = load("a1lil032__a1cil032.c") else {
        return;
    };
    // 2 blocks of 32256 with group 10 (1 data + 1 XOR): zero the XOR block's checksum field
    let mut bad = data.clone();
    bad[32256 + 254] ^= 0xff;
    let (r, host) = read_medium(HostileMedium::new(bad, &[]), raw());
    assert!(r.is_ok());
    assert!(
        host.all()[0].contains("XOR block 2 is damaged (header checksum"),
        "{:?}",
        host.all()
    );
}

/// A SIMH image as records and tape marks.
fn simh(data: &[u8]) -> MemoryMedium {
    let mut m = MemoryMedium::new(0);
    let mut p = 0;
    while p + 4 <= data.len() {
        let n = u32::from_le_bytes(data[p..p + 4].try_into().expect("4")) as usize;
        p += 4;
        if n == 0 {
            m.push_mark();
            continue;
        }
        if n == 0xffff_ffff {
            break;
        }
        m.push_record(&data[p..p + n]);
        p += n + (n & 1) + 4;
    }
    m
}

#[test]
fn the_ansi_tape_lists_three_save_sets_and_selects_each() {
    let Some(dir) = corpus() else { return };
    let tap = std::fs::read(dir.join("synthetic/ansi3.tap")).expect("tape");
    let parts = [
        "a1032__a1c032.a",
        "vaxfms024__vaxfms024.a",
        "thai071__thai071.a",
    ];
    let (r, host) = read_medium(simh(&tap), raw());
    let (vol, members) = r.expect("tape reads");
    assert!(host.all().is_empty(), "{:?}", host.all());
    assert_eq!(vol.label.as_deref(), Some(&b"A1C032.A"[..]));
    let dirs: Vec<String> = members
        .iter()
        .filter(|m| !m.entry.path.contains(&b'/'))
        .map(|m| m.entry.display_path())
        .collect();
    assert_eq!(dirs, ["A1C032.A", "VAXFMS024.A", "THAI071.A"]);
    let mut count = 0;
    for (i, part) in parts.iter().enumerate() {
        let Some((_, j)) = load(part) else { return };
        let prefix = format!("{}/", dirs[i]);
        let files: Vec<_> = members
            .iter()
            .filter(|m| m.entry.display_path().starts_with(&prefix))
            .cloned()
            .collect();
        assert_raw_truth(&files, &j);
        count += files.len() + 1;
        // select by number and by name: no prefix then
        for sel in [
            Selector::Number(i as u32 + 1),
            Selector::Name(dirs[i].to_lowercase()),
        ] {
            let (r, _) = read_medium(
                simh(&tap),
                ReadOptions {
                    saveset: Some(sel),
                    ..raw()
                },
            );
            let (vol, only) = r.expect("selected");
            assert_eq!(vol.label.as_deref(), Some(dirs[i].as_bytes()));
            assert_raw_truth(&only, &j);
            assert!(!only[0].entry.path.starts_with(prefix.as_bytes()));
        }
    }
    assert_eq!(count, members.len());
    let (r, _) = read_medium(
        simh(&tap),
        ReadOptions {
            saveset: Some(Selector::Name("NOPE".into())),
            ..raw()
        },
    );
    let e = r.expect_err("no such save set");
    assert!(
        e.message
            .contains("A1C032.A (1), VAXFMS024.A (2), THAI071.A (3)"),
        "{}",
        e.message
    );
}

#[test]
fn duplicate_tape_blocks_use_the_later_copy_and_missing_ones_are_rebuilt() {
    let Some((data, j)) = load("vaxfms024__vaxfms024.a") else {
        return;
    };
    let bs = 9216;
    let blocks: Vec<&[u8]> = data.chunks(bs).collect();
    // blocks 1..4, a damaged 5, then 4 and 5 rewritten, then the rest
    let mut m = MemoryMedium::new(0);
    for b in &blocks[..4] {
        m.push_record(b);
    }
    let mut bad5 = blocks[4].to_vec();
    bad5[3000] ^= 0xff;
    m.push_record(&bad5);
    m.push_record(blocks[3]);
    m.push_record(blocks[4]);
    for b in &blocks[5..] {
        m.push_record(b);
    }
    m.push_mark();
    let (r, host) = read_medium(m, raw());
    assert_raw_truth(&r.expect("reads").1, &j);
    assert!(host.all().is_empty(), "{:?}", host.all());
    // block 6 missing from the tape: rebuilt from the group
    let mut m = MemoryMedium::new(0);
    for (i, b) in blocks.iter().enumerate() {
        if i != 5 {
            m.push_record(b);
        }
    }
    m.push_mark();
    let (r, host) = read_medium(m, raw());
    assert_raw_truth(&r.expect("reads").1, &j);
    let w = host.all();
    assert!(
        w.iter().any(|x| x.contains("blocks 6 to 6 are missing"))
            && w.iter()
                .any(|x| x.contains("block 6 was damaged or missing and was rebuilt")),
        "{w:?}"
    );
}

#[test]
fn truncated_save_sets_fail_with_an_offset() {
    let Some((data, _)) = load("acmsdia031__acmsdia031.a") else {
        return;
    };
    for cut in [100usize, 9216 + 5000, 5 * 9216 + 17] {
        let (r, _) = read_medium(HostileMedium::new(data[..cut].to_vec(), &[]), raw());
        match r {
            Ok((_, members)) => {
                panic!("cut at {cut}: read {} entries without error", members.len())
            }
            Err(e) => assert!(e.offset.is_some(), "cut at {cut}: {e}"),
        }
    }
}

/// Blocks of the formats fixture with a record changed and the block's checks recomputed,
/// so the structure (not the CRC) is what is wrong.
fn tampered(f: impl Fn(&mut [u8], usize) -> bool) -> Vec<u8> {
    let mut data = std::fs::read(fixtures().join("formats.bck")).expect("fixture");
    let bs = 2048;
    for blk in data.chunks_mut(bs) {
        if u16::from_le_bytes([blk[6], blk[7]]) != 1 {
            continue;
        }
        let mut p = 256;
        while p + 16 <= bs {
            let rsize = u16::from_le_bytes([blk[p], blk[p + 1]]) as usize;
            if f(blk, p) {
                relic_format_vms_backup::crc::seal(blk);
                return data;
            }
            p += 16 + rsize;
        }
    }
    panic!("nothing tampered");
}

#[test]
fn bogus_lengths_are_errors_with_offsets_and_salvage_goes_on() {
    // the first FILE record's first attribute claims 65520 bytes
    let bad_attr = tampered(|b, p| {
        if u16::from_le_bytes([b[p + 2], b[p + 3]]) == 3 {
            b[p + 18..p + 20].copy_from_slice(&0xfff0u16.to_le_bytes());
            true
        } else {
            false
        }
    });
    let (r, _) = read_medium(HostileMedium::new(bad_attr.clone(), &[]), raw());
    let e = r.expect_err("bogus attribute length");
    assert_eq!(e.kind, ErrorKind::Corrupt);
    assert!(e.message.contains("claims 65520 bytes"), "{}", e.message);
    assert!(e.offset.is_some_and(|o| o > 256 + 16), "{:?}", e.offset);
    let (r, host) = read_medium(
        HostileMedium::new(bad_attr, &[]),
        ReadOptions {
            salvage: true,
            ..raw()
        },
    );
    let (_, members) = r.expect("salvage skips the file");
    assert!(
        host.all()
            .iter()
            .any(|w| w.contains("FILE record unreadable")),
        "{:?}",
        host.all()
    );
    assert!(members.len() > 10);
    // a VBN record whose length runs past its block
    let bad_rec = tampered(|b, p| {
        if u16::from_le_bytes([b[p + 2], b[p + 3]]) == 4 {
            b[p..p + 2].copy_from_slice(&0xfe00u16.to_le_bytes());
            true
        } else {
            false
        }
    });
    let (r, _) = read_medium(HostileMedium::new(bad_rec.clone(), &[]), raw());
    let e = r.expect_err("record past the block");
    assert!(
        e.message.contains("runs past the end of block"),
        "{}",
        e.message
    );
    assert!(e.offset.is_some());
    let (r, host) = read_medium(
        HostileMedium::new(bad_rec, &[]),
        ReadOptions {
            salvage: true,
            ..raw()
        },
    );
    assert!(r.is_ok(), "{:?}", r.err());
    assert!(
        host.all()
            .iter()
            .any(|w| w.contains("rest of the block skipped")),
        "{:?}",
        host.all()
    );
}
