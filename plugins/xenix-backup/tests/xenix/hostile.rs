//! Bad input: truncation and damaged headers give errors with kinds, offsets and the last
//! complete file; salvage skips to the next header with magic and checksum and says so;
//! absurd counts and sizes are refused before anything is allocated; a smoke fuzz over every
//! fixture never panics.

use relic_format_xenix_backup::layout::{self, Variant};
use relic_format_xenix_backup::{ReadOptions, XenixReader};
use relic_model::{Chunk, ErrorKind, FormatReader};
use relic_plugin_sdk::testing::HostileMedium;

use crate::common::*;

/// Offsets (in blocks) of the headers of a one-volume dump, walking as a reader would.
fn header_blocks(v: &Variant, d: &[u8]) -> Vec<usize> {
    let b = v.bsize;
    let mut out = vec![];
    let mut i = 0;
    while (i + 1) * b <= d.len() {
        let blk = &d[i * b..(i + 1) * b];
        assert!(v.is_header(blk), "block {i} is a header");
        out.push(i);
        let h = v.parse(blk);
        let follow = match h.c_type {
            layout::TS_END => break,
            layout::TS_TAPE => 0,
            layout::TS_CLRI | layout::TS_BITS => h.count as usize,
            _ => v.flags(blk, h.count).iter().filter(|&&f| f != 0).count(),
        };
        i += 1 + follow;
    }
    out
}

fn inode_header(v: &Variant, d: &[u8], ino: u32) -> usize {
    header_blocks(v, d)
        .into_iter()
        .find(|&i| {
            let h = v.parse(&d[i * v.bsize..]);
            h.c_type == layout::TS_INODE && h.inumber == ino
        })
        .expect("inode header")
}

#[test]
fn smoke_fuzz_over_every_fixture() {
    let mut seeds: Vec<Vec<u8>> = fixture_names().iter().map(|n| fixture(n)).collect();
    seeds.push(fixture("multivol/vol1.dump"));
    seeds.push(fixture("multivol/vol2.dump"));
    relic_plugin_sdk::testing::smoke_fuzz(&seeds, 60, |d| {
        relic_format_xenix_backup::fuzz_read(d);
    });
}

#[test]
fn truncation_is_an_error_with_the_offset_and_the_last_complete_file() {
    let d = fixture("xenix-512.dump");
    let v = Variant::XENIX_512;
    // cut inside the data of inode 12 (usr/lib/sparse)
    let h = inode_header(&v, &d, 12);
    let cut = (h + 2) * 512 + 100;
    let (r, _) = read_hostile(&d[..cut]);
    let e = r.expect_err("truncated");
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
    assert_eq!(e.offset, Some(((h + 2) * 512) as u64), "{e}");
    assert_eq!(
        e.entry.as_deref(),
        Some(b"usr/lib/sparse".as_slice()),
        "{e}"
    );
    // cut exactly after a file: the next header is missing
    let h13 = inode_header(&v, &d, 13);
    let (r, _) = read_hostile(&d[..h13 * 512]);
    let e = r.expect_err("truncated");
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
    assert_eq!(e.offset, Some((h13 * 512) as u64));
    assert!(
        e.message.contains("last complete file: usr/lib/sparse"),
        "{e}"
    );
    assert!(
        e.message
            .contains("volume 2 is missing or the input is truncated"),
        "{e}"
    );
    // every prefix fails cleanly or reads a consistent prefix; none panics
    for cut in (0..d.len()).step_by(97) {
        let _ = read_hostile(&d[..cut]);
    }
}

#[test]
fn a_bad_checksum_is_corrupt_and_salvage_skips_to_the_next_header() {
    let d = fixture("xenix-1024.dump");
    let v = Variant::new(layout::ByteOrder::Intel, layout::Shape::Short, 1024);
    let h = inode_header(&v, &d, 14); // usr/fourteen_chars
    let mut bad = d.clone();
    bad[h * 1024 + 40] ^= 0x55;
    let (r, _) = read_hostile(&bad);
    let e = r.expect_err("bad checksum");
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert_eq!(e.offset, Some((h * 1024) as u64));
    assert!(e.message.contains("wrong checksum"), "{e}");
    assert!(e.message.contains("last complete file"), "{e}");
    // salvage: the damaged header and its data block are skipped, the rest is read
    let (r, w) = read_set(
        vec![bad],
        ReadOptions {
            salvage: true,
            ..ReadOptions::default()
        },
    );
    let (_, members) = r.expect("salvaged");
    assert!(
        members
            .iter()
            .all(|m| m.entry.path != b"usr/fourteen_chars"),
        "the damaged file is left out"
    );
    for p in [
        b"usr/lib/sparse".as_slice(),
        b"su",
        b"dev/tty1",
        b"tmp/empty",
    ] {
        member(&members, p);
    }
    let skip = w
        .iter()
        .find(|(m, _)| m.contains("salvage: skipped 2 blocks"))
        .unwrap_or_else(|| panic!("{w:?}"));
    assert_eq!(skip.1, Some((h * 1024) as u64));
    // the data block of a file replaced by garbage with magic but no checksum is data: only
    // headers are checked, and data blocks never resynchronise the reader
    let sparse = inode_header(&v, &d, 17);
    let mut fake = d.clone();
    fake[(sparse + 1) * 1024 + 18] = 0x6b;
    fake[(sparse + 1) * 1024 + 19] = 0xea;
    let (_, members) = read_ok(&fake);
    assert_eq!(member(&members, b"su").data[18..20], [0x6b, 0xea]);
}

#[test]
fn damage_before_the_first_header() {
    let d = fixture("68k-int-1024.dump");
    let mut bad = d.clone();
    bad[30] ^= 1;
    let (r, _) = read_hostile(&bad);
    let e = r.expect_err("not a dump any more");
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(0)));
    assert!(e.message.contains("checksum is wrong"), "{e}");
    let (r, w) = read_set(
        vec![bad],
        ReadOptions {
            salvage: true,
            ..ReadOptions::default()
        },
    );
    let (_, members) = r.expect("salvage starts at the next header");
    assert!(!members.is_empty());
    assert!(w.iter().any(|(m, _)| m.contains("salvage")), "{w:?}");
    let (r, _) = read_hostile(&[0u8; 100]);
    assert_eq!(r.expect_err("short").kind, ErrorKind::Corrupt);
}

/// Re-encode one header after changing it.
fn patch(d: &mut [u8], v: &Variant, block: usize, f: impl FnOnce(&mut layout::Header)) {
    let b = v.bsize;
    let blk = &mut d[block * b..(block + 1) * b];
    let mut h = v.parse(blk);
    let flags = v.flags(blk, h.count).to_vec();
    f(&mut h);
    let tail = blk[v.fields().c_addr + flags.len()..].to_vec();
    v.encode(&h, &flags, blk);
    let a = v.fields().c_addr + flags.len();
    blk[a..].copy_from_slice(&tail);
    v.set_checksum(blk);
}

#[test]
fn absurd_counts_and_sizes_are_refused_not_allocated() {
    let d = fixture("xenix-512.dump");
    let v = Variant::XENIX_512;
    // a map that claims 60000 blocks
    let mut m = d.clone();
    patch(&mut m, &v, 1, |h| h.count = 60000);
    let (r, _) = read_hostile(&m);
    let e = r.expect_err("map too big");
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(e.message.contains("60000 blocks"), "{e}");
    // a directory that claims 2 GiB
    let root = inode_header(&v, &d, 2);
    let mut m = d.clone();
    patch(&mut m, &v, root, |h| h.dinode.size = 0x7fff_ffff);
    let (r, _) = read_hostile(&m);
    let e = r.expect_err("directory too big");
    assert_eq!(e.kind, ErrorKind::Unsupported, "{e}");
    // a file that claims 4 GiB with the same few blocks: it reads, the rest is a hole
    let f = inode_header(&v, &d, 10);
    let mut m = d.clone();
    patch(&mut m, &v, f, |h| h.dinode.size = u32::MAX);
    let host = std::sync::Arc::new(RecHost::default());
    let mut r =
        XenixReader::new(HostileMedium::new(m, &[]), host, ReadOptions::default()).expect("open");
    let mut chunks = Vec::new();
    let mut buf = vec![0u8; 4096];
    while let Some(e) = r.next_entry().expect("entry") {
        if e.path == b"etc/passwd" {
            assert_eq!(e.size, u64::from(u32::MAX));
            loop {
                match r.read_data(&mut buf).expect("data") {
                    Chunk::End => break,
                    c => chunks.push(c),
                }
            }
        }
    }
    assert_eq!(
        chunks,
        vec![
            Chunk::Data {
                offset: 0,
                len: 512
            },
            Chunk::Hole {
                offset: 512,
                len: 9 * 512
            },
            Chunk::Hole {
                offset: 5120,
                len: u64::from(u32::MAX) - 5120
            },
        ],
        "one data block, then holes"
    );
}

#[test]
fn orphans_and_unknown_kinds_are_named_and_warned() {
    let d = fixture("xenix-512.dump");
    let v = Variant::XENIX_512;
    // turn the FIFO (inode 22) into a XENIX semaphore name (IFNAM) and make inode 15's
    // directory entry point nowhere by renumbering it
    let fifo = inode_header(&v, &d, 22);
    let mut m = d.clone();
    patch(&mut m, &v, fifo, |h| h.dinode.mode = layout::IFNAM | 0o600);
    let empty = inode_header(&v, &d, 15);
    patch(&mut m, &v, empty, |h| h.inumber = 99);
    let (r, w) = read_hostile(&m);
    let (_, members) = r.expect("reads");
    assert!(members.iter().all(|m| m.entry.path != b"tmp/pipe"));
    member(&members, b"lost+found/#99");
    assert!(w.iter().any(|(m, _)| m.contains("semaphore")), "{w:?}");
    assert!(w.iter().any(|(m, _)| m.contains("inode 99")), "{w:?}");
    assert!(
        w.iter().any(|(m, _)| m.contains("not on the tape")),
        "{w:?}"
    );
}
