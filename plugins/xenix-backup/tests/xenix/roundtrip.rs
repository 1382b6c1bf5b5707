//! Our writer, checked by our reader and by the independent builder's reader (V7 restor's
//! logic in Python): 512 and 1024 blocks, the PDP-11 and 68k byte orders, sparse files
//! crossing the indirect ranges, hard links, devices, made-up parent directories,
//! multi-volume sets at 360k (volume size) and by the medium's early warning, and the
//! losses the engine reports through the writer's capabilities.

use std::collections::BTreeMap;

use relic_format_xenix_backup::layout::{self, ByteOrder, Shape, Variant};
use relic_format_xenix_backup::{write, ReadOptions, WriteOptions};
use relic_model::{
    adapt_entry, Device, Entry, EntryKind, ErrorKind, LossKind, Timestamp, VolumeInfo, Xattr,
};
use relic_plugin_sdk::testing::Member;

use crate::common::*;

const T: i64 = 600_000_000;

fn pattern(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u32 * 31 + seed as u32 * 7 + (i as u32 >> 9)) as u8)
        .collect()
}

fn file(path: &str, mode: u32, data: Vec<u8>, mtime: i64) -> Member {
    let mut e = entry(path, EntryKind::File, mode, mtime);
    e.size = data.len() as u64;
    Member::new(e, data)
}

/// A sparse member: `size` bytes, data at the given runs, holes elsewhere.
fn sparse(path: &str, size: u64, runs: &[(u64, Vec<u8>)], mtime: i64) -> Member {
    let mut data = vec![0u8; size as usize];
    let mut holes = Vec::new();
    let mut pos = 0;
    for (off, d) in runs {
        if *off > pos {
            holes.push((pos, off - pos));
        }
        data[*off as usize..*off as usize + d.len()].copy_from_slice(d);
        pos = off + d.len() as u64;
    }
    if size > pos {
        holes.push((pos, size - pos));
    }
    let mut e = entry(path, EntryKind::File, 0o640, mtime);
    e.size = size;
    Member {
        entry: e,
        data,
        holes,
        absent: vec![],
    }
}

fn dir(path: &str, mode: u32, mtime: i64) -> Member {
    Member::new(entry(path, EntryKind::Dir, mode, mtime), vec![])
}

/// A tree with every kind XENIX holds; holes aligned to `b`-byte blocks.
fn members(b: u64, fifo: bool) -> Vec<Member> {
    let n = b / 4;
    let mut v = vec![
        dir(".", 0o755, T),
        dir("bin", 0o755, T + 1),
        file("bin/sh", 0o755, pattern(1, 3000), T + 2),
        dir("etc", 0o750, T + 3),
        file("etc/motd", 0o644, b"Welcome to XENIX\n".repeat(50), T + 4),
        dir("usr", 0o755, T + 5),
        // data in the direct blocks, across the direct/single boundary, and at the end of
        // the double-indirect range's second leaf; holes between
        sparse(
            "usr/sparse",
            (10 + n + n + 7) * b,
            &[
                (0, pattern(2, 100)),
                (8 * b, pattern(3, (4 * b) as usize)),
                ((10 + n + n + 6) * b, pattern(4, b as usize)),
            ],
            T + 6,
        ),
        sparse("usr/allhole", 300 * b + 17, &[], T + 7),
        file("usr/empty", 0o600, vec![], T + 8),
        file("fourteen_chars", 0o444, b"name of 14\n".to_vec(), T + 9),
        file("caf\u{e9}", 0o644, b"utf-8 name\n".to_vec(), T + 10),
        dir("dev", 0o755, T + 11),
        file("su", 0o4755, pattern(5, 700), T + 12),
        file(
            "t/deep/er/file",
            0o644,
            b"parents made up\n".to_vec(),
            T + 13,
        ),
        file("old", 0o644, b"before 1970\n".to_vec(), -86_400),
    ];
    let mut link = entry("usr/motd", EntryKind::HardLink, 0o644, T + 4);
    link.link_target = Some(b"etc/motd".to_vec());
    v.push(Member::new(link, vec![]));
    let mut owner = file("owner", 0o640, b"ids at the limit\n".to_vec(), T + 14);
    owner.entry.uid = 65535;
    owner.entry.gid = 65534;
    v.push(owner);
    let mut tty = entry("dev/tty1", EntryKind::CharDevice, 0o622, T + 15);
    tty.rdev = Some(Device { major: 4, minor: 1 });
    v.push(Member::new(tty, vec![]));
    let mut fd = entry("dev/fd0", EntryKind::BlockDevice, 0o640, T + 16);
    fd.rdev = Some(Device {
        major: 2,
        minor: 52,
    });
    v.push(Member::new(fd, vec![]));
    if fifo {
        v.push(Member::new(
            entry("dev/pipe", EntryKind::Fifo, 0o600, T + 17),
            vec![],
        ));
    }
    v
}

fn opts(order: ByteOrder, bsize: usize) -> WriteOptions {
    WriteOptions {
        variant: Variant::new(order, Shape::Short, bsize),
        volume_size: None,
        dump_date: Some(T + 1000),
    }
}

/// The data runs a dump keeps: every block holding a data byte is a data block, clipped
/// to the size (a hole that covers only part of a block is written as zeros).
fn block_runs(m: &Member, b: u64) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (off, len) in data_runs(m) {
        let start = off / b * b;
        let end = ((off + len).div_ceil(b) * b).min(m.entry.size);
        match out.last_mut() {
            Some((o, l)) if *o + *l >= start => *l = end - *o,
            _ => out.push((start, end - start)),
        }
    }
    out
}

/// Everything written comes back from our reader.
fn check_read_back(src: &[Member], got: &[Member], b: u64, what: &str) {
    let by_path: BTreeMap<&[u8], &Member> =
        got.iter().map(|m| (m.entry.path.as_slice(), m)).collect();
    for s in src {
        let g = by_path
            .get(s.entry.path.as_slice())
            .unwrap_or_else(|| panic!("{what}: {} missing", s.entry.display_path()));
        let (se, ge) = (&s.entry, &g.entry);
        let p = se.display_path();
        if se.kind == EntryKind::HardLink || ge.kind == EntryKind::HardLink {
            // one of the names is the file, the other a link to it
            let file = if ge.kind == EntryKind::HardLink {
                ge.link_target.clone().expect("a target")
            } else {
                ge.path.clone()
            };
            let f = by_path[file.as_slice()];
            assert_eq!(f.entry.kind, EntryKind::File, "{what}: {p}");
            assert_eq!(f.entry.nlink, 2, "{what}: {p} nlink");
            continue;
        }
        assert_eq!(ge.kind, se.kind, "{what}: {p}");
        assert_eq!(ge.mode, se.mode, "{what}: {p} mode");
        assert_eq!((ge.uid, ge.gid), (se.uid, se.gid), "{what}: {p} owner");
        assert_eq!(ge.mtime, se.mtime, "{what}: {p} mtime");
        assert_eq!(ge.atime, se.atime, "{what}: {p} atime");
        assert_eq!(ge.ctime, se.ctime, "{what}: {p} ctime");
        assert_eq!(ge.rdev, se.rdev, "{what}: {p} rdev");
        if se.kind == EntryKind::File {
            assert_eq!(ge.size, se.size, "{what}: {p} size");
            assert!(g.data == s.data, "{what}: {p} contents");
            assert_eq!(data_runs(g), block_runs(s, b), "{what}: {p} holes");
        }
    }
    // the made-up parents
    for d in ["t", "t/deep", "t/deep/er"] {
        let m = by_path
            .get(d.as_bytes())
            .unwrap_or_else(|| panic!("{what}: made-up {d}"));
        assert_eq!((m.entry.kind, m.entry.mode), (EntryKind::Dir, 0o755), "{d}");
        assert_eq!(m.entry.mtime, Some(Timestamp::from_secs(T + 1000)), "{d}");
    }
    assert_eq!(got.len(), src.len() + 3, "{what}: nothing more");
}

/// The independent reader agrees with what we wrote.
fn check_builder(src: &[Member], vols: &[Vec<u8>], order: &str, b: u64, what: &str) {
    let dir = tempfile::tempdir().expect("tmp");
    let files: Vec<std::path::PathBuf> = vols
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let p = dir.path().join(format!("vol{:03}", i + 1));
            std::fs::write(&p, v).expect("write");
            p
        })
        .collect();
    let Some(out) = builder_read(&files, Some(order)) else {
        return;
    };
    assert_eq!(out["volumes"].as_u64(), Some(vols.len() as u64), "{what}");
    let recs = out["entries"].as_array().expect("entries");
    let find = |path: &str| {
        recs.iter()
            .find(|r| {
                r["names"]
                    .as_array()
                    .expect("names")
                    .iter()
                    .any(|n| n.as_str() == Some(path))
            })
            .unwrap_or_else(|| panic!("{what}: builder did not find {path}"))
    };
    for s in src {
        let e = &s.entry;
        // the builder prints names as Latin-1 text
        let path: String = e.path.iter().map(|&c| c as char).collect();
        let r = find(&path);
        if e.kind == EntryKind::HardLink {
            let t: String = e
                .link_target
                .as_deref()
                .expect("target")
                .iter()
                .map(|&c| c as char)
                .collect();
            assert!(
                r["names"]
                    .as_array()
                    .expect("n")
                    .iter()
                    .any(|n| n.as_str() == Some(&t)),
                "{what}: {path}"
            );
            assert_eq!(r["nlink"].as_u64(), Some(2), "{what}: {path}");
            continue;
        }
        let kind = match e.kind {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::CharDevice => "chardev",
            EntryKind::BlockDevice => "blockdev",
            EntryKind::Fifo => "fifo",
            _ => "other",
        };
        assert_eq!(r["kind"].as_str(), Some(kind), "{what}: {path}");
        assert_eq!(
            r["mode"].as_u64(),
            Some(u64::from(e.mode)),
            "{what}: {path} mode"
        );
        assert_eq!(r["uid"].as_u64(), Some(e.uid), "{what}: {path} uid");
        assert_eq!(r["gid"].as_u64(), Some(e.gid), "{what}: {path} gid");
        assert_eq!(
            r["mtime"].as_i64(),
            e.mtime.map(|t| t.secs),
            "{what}: {path} mtime"
        );
        assert_eq!(
            r["atime"].as_i64(),
            e.atime.map(|t| t.secs),
            "{what}: {path} atime"
        );
        if e.kind == EntryKind::File {
            assert_eq!(r["size"].as_u64(), Some(e.size), "{what}: {path} size");
            assert_eq!(
                r["sha256"].as_str(),
                Some(sha256(&s.data).as_str()),
                "{what}: {path} contents"
            );
            let runs: Vec<(u64, u64)> = r["data"]
                .as_array()
                .expect("runs")
                .iter()
                .map(|x| (x[0].as_u64().expect("o"), x[1].as_u64().expect("l")))
                .collect();
            assert_eq!(runs, block_runs(s, b), "{what}: {path} holes");
        }
        if let Some(d) = e.rdev {
            assert_eq!(
                r["rdev"][0].as_u64(),
                Some(u64::from(d.major)),
                "{what}: {path}"
            );
            assert_eq!(
                r["rdev"][1].as_u64(),
                Some(u64::from(d.minor)),
                "{what}: {path}"
            );
        }
    }
}

#[test]
fn writer_round_trips_through_both_readers() {
    for (order, bsize) in [
        (ByteOrder::Intel, 512),
        (ByteOrder::Intel, 1024),
        (ByteOrder::Pdp11, 512),
        (ByteOrder::Pdp11, 1024),
        (ByteOrder::M68k, 512),
    ] {
        let what = format!("{}-{bsize}", order.name());
        let src = members(bsize as u64, order != ByteOrder::Pdp11);
        let (m, warnings) =
            write_set(opts(order, bsize), &VolumeInfo::default(), &src, None, 1).expect("write");
        assert!(warnings.is_empty(), "{what}: {warnings:?}");
        assert!(m.finished, "{what}: the medium was finished");
        assert!(
            m.record_sizes.iter().all(|&r| r == 10240),
            "{what}: 10240-byte records"
        );
        let (vol, got) = read_ok(&m.vols[0]);
        assert_eq!(
            vol.variant,
            format!("{}-short-{bsize}", order.name()),
            "{what}"
        );
        assert_eq!(vol.date, Some(Timestamp::from_secs(T + 1000)));
        check_read_back(&src, &got, bsize as u64, &what);
        check_builder(&src, &m.vols, order.name(), bsize as u64, &what);
    }
}

#[test]
fn the_first_headers_are_those_v7_dump_writes() {
    let src = members(512, true);
    let (m, _) = write_set(
        opts(ByteOrder::Intel, 512),
        &VolumeInfo::default(),
        &src,
        None,
        1,
    )
    .expect("write");
    let d = &m.vols[0];
    let v = Variant::XENIX_512;
    let h = |i: usize| v.parse(&d[i * 512..(i + 1) * 512]);
    assert!(v.is_header(&d[..512]));
    assert_eq!(
        (h(0).c_type, h(0).volume, h(0).tapea, h(0).count),
        (layout::TS_TAPE, 1, 0, 0)
    );
    assert_eq!(
        (h(1).c_type, h(1).tapea, h(1).count),
        (layout::TS_CLRI, 1, 1)
    );
    assert_eq!((h(3).c_type, h(3).tapea), (layout::TS_BITS, 3));
    // then the root directory, inode 2, with c_count 10 (V7 `dmpspc(d, NADDR-3)`)
    let root = h(5);
    assert_eq!(
        (root.c_type, root.inumber, root.count),
        (layout::TS_INODE, 2, 10)
    );
    assert_eq!(root.dinode.mode & layout::IFMT, layout::IFDIR);
    // the directory's first entries are "." and ".."
    assert_eq!(v.dirent(&d[6 * 512..]), (2, b".".as_slice()));
    assert_eq!(v.dirent(&d[6 * 512 + 16..]), (2, b"..".as_slice()));
    // bytes of the magic in little-endian at 18
    assert_eq!(&d[18..20], &[0x6b, 0xea]);
    // the dump ends with TS_END up to the end of the record
    let last = d.len() / 512 - 1;
    assert_eq!(h(last).c_type, layout::TS_END);
    assert_eq!(d.len() % 10240, 0);
}

fn big_members() -> Vec<Member> {
    vec![
        dir(".", 0o755, T),
        file("a", 0o644, pattern(7, 500_000), T + 1),
        file("b", 0o644, pattern(8, 400_000), T + 2),
        file("c", 0o600, b"last\n".to_vec(), T + 3),
    ]
}

#[test]
fn multi_volume_at_360k_floppies() {
    let src = big_members();
    for bsize in [512usize, 1024] {
        let mut o = opts(ByteOrder::Intel, bsize);
        o.volume_size = write::parse_volume_size("360k");
        assert_eq!(o.volume_size, Some(368_640));
        let (m, _) = write_set(o, &VolumeInfo::default(), &src, None, 10).expect("write");
        assert_eq!(m.vols.len(), 3, "{bsize}: 900 KB on 360k floppies");
        for (i, vol) in m.vols.iter().enumerate() {
            if i + 1 < m.vols.len() {
                assert_eq!(vol.len(), 368_640, "{bsize}: volume {} is full", i + 1);
            }
            let v = Variant::new(ByteOrder::Intel, Shape::Short, bsize);
            let h = v.parse(&vol[..bsize]);
            assert!(v.is_header(&vol[..bsize]));
            assert_eq!((h.c_type, h.volume), (layout::TS_TAPE, i as u32 + 1));
            if i > 0 {
                // c_tapea keeps counting over the volumes
                assert_eq!(h.tapea as usize, i * 368_640 / bsize, "{bsize}");
            }
        }
        let (r, w) = read_set(m.vols.clone(), ReadOptions::default());
        let (_, got) = r.unwrap_or_else(|e| panic!("{bsize}: {e}"));
        assert!(w.is_empty(), "{w:?}");
        for s in &src {
            let g = member(&got, &s.entry.path);
            assert!(g.data == s.data, "{bsize}: {}", s.entry.display_path());
        }
        // 1.2M and 1.44M are the floppies' capacities, not powers of ten
        assert_eq!(write::parse_volume_size("1.44m"), Some(1_474_560));
        assert_eq!(write::parse_volume_size("1.2M"), Some(1_228_800));
        assert_eq!(write::parse_volume_size("720k"), Some(737_280));
        // the independent reader follows the volumes too
        let mut dummy = src.clone();
        dummy.retain(|m| m.entry.path != b".");
        if let Some(out) = {
            let dir = tempfile::tempdir().expect("tmp");
            let files: Vec<_> = m
                .vols
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let p = dir.path().join(format!("f{i}"));
                    std::fs::write(&p, v).expect("w");
                    p
                })
                .collect();
            builder_read(&files, None)
        } {
            assert_eq!(out["volumes"].as_u64(), Some(3));
            for s in &dummy {
                let name = String::from_utf8_lossy(&s.entry.path).into_owned();
                let r = out["entries"]
                    .as_array()
                    .expect("e")
                    .iter()
                    .find(|r| r["names"][0].as_str() == Some(&name))
                    .unwrap_or_else(|| panic!("{name}"));
                assert_eq!(
                    r["sha256"].as_str(),
                    Some(sha256(&s.data).as_str()),
                    "{name}"
                );
            }
        }
    }
}

#[test]
fn multi_volume_by_the_medium_early_warning() {
    let src = big_members();
    let (m, _) = write_set(
        opts(ByteOrder::Intel, 512),
        &VolumeInfo::default(),
        &src,
        Some(200 * 1024),
        10,
    )
    .expect("write");
    assert_eq!(m.vols.len(), 5);
    assert!(m.vols[..4].iter().all(|v| v.len() == 20 * 10240));
    let (r, _) = read_set(m.vols.clone(), ReadOptions::default());
    let (_, got) = r.expect("read");
    assert!(member(&got, b"b").data == src[2].data);
}

#[test]
fn a_full_volume_without_a_next_one_is_an_error() {
    let src = big_members();
    let mut o = opts(ByteOrder::Intel, 512);
    o.volume_size = Some(360 * 1024);
    let e = write_set(o, &VolumeInfo::default(), &src, None, 1)
        .err()
        .expect("no second volume");
    assert_eq!(e.kind, ErrorKind::Media, "{e}");
    assert!(e.message.contains("offers no volume 2"), "{e}");
    let mut o = opts(ByteOrder::Intel, 512);
    o.volume_size = Some(10240);
    let e = write_set(o, &VolumeInfo::default(), &src, None, 1)
        .err()
        .expect("too small");
    assert_eq!(e.kind, ErrorKind::Config, "{e}");
}

#[test]
fn losses_are_what_the_capabilities_say() {
    let caps = write::capabilities(&Variant::XENIX_512);
    assert!(caps.needs_catalog && caps.holes);
    let run = |e: Entry| adapt_entry(e, &caps);
    // names over 14 bytes drop the entry
    let (kept, l) = run(Entry::new("dir/fifteen_chars_x", EntryKind::File));
    assert!(kept.is_none());
    assert_eq!(l[0].kind, LossKind::NameTooLong);
    let (kept, _) = run(Entry::new("dir/fourteen_chars", EntryKind::File));
    assert!(kept.is_some());
    // symlinks and sockets
    for k in [EntryKind::Symlink, EntryKind::Socket] {
        let (kept, l) = run(Entry::new("x", k));
        assert!(kept.is_none());
        assert_eq!(l[0].kind, LossKind::KindUnsupported);
    }
    // ids over 65535 are mapped
    let mut e = Entry::new("f", EntryKind::File);
    e.uid = 70_000;
    e.gid = 1 << 20;
    let (kept, l) = run(e);
    let kept = kept.expect("kept");
    assert_eq!((kept.uid, kept.gid), (65535, 65535));
    let kinds: Vec<LossKind> = l.iter().map(|l| l.kind).collect();
    assert_eq!(kinds, vec![LossKind::UidMapped, LossKind::GidMapped]);
    // the V7 file size limit
    let mut e = Entry::new("huge", EntryKind::File);
    e.size = 1_082_201_089;
    let (kept, l) = run(e);
    assert!(kept.is_none());
    assert_eq!(l[0].kind, LossKind::FileTooLarge);
    let mut e = Entry::new("fits", EntryKind::File);
    e.size = 1_082_201_088;
    assert!(run(e).0.is_some());
    let caps1k = write::capabilities(&Variant::new(ByteOrder::Intel, Shape::Short, 1024));
    assert_eq!(caps1k.max_file_size, Some(i32::MAX as u64));
    // xattrs, ACLs, sub-second and 64-bit times, big device numbers
    let mut e = Entry::new("f", EntryKind::File);
    e.xattrs.push(Xattr {
        name: b"user.a".to_vec(),
        value: b"1".to_vec(),
    });
    e.acls.push(relic_model::Acl {
        kind: "posix.access".into(),
        data: vec![1],
    });
    e.mtime = Some(Timestamp::new(3_000_000_000, 5));
    let (kept, l) = run(e);
    let kinds: Vec<LossKind> = l.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        vec![
            LossKind::TimeClamped,
            LossKind::XattrsDropped,
            LossKind::AclsDropped
        ]
    );
    assert_eq!(
        kept.expect("kept").mtime,
        Some(Timestamp::from_secs(i64::from(i32::MAX)))
    );
    let mut e = Entry::new("f", EntryKind::File);
    e.mtime = Some(Timestamp::new(1_600_000_000, 123_456_789));
    let (kept, l) = run(e);
    assert_eq!(l[0].kind, LossKind::TimePrecision);
    assert_eq!(
        kept.expect("kept").mtime,
        Some(Timestamp::from_secs(1_600_000_000))
    );
    let mut e = Entry::new("d", EntryKind::CharDevice);
    e.rdev = Some(Device {
        major: 300,
        minor: 1,
    });
    assert_eq!(run(e).1[0].kind, LossKind::DeviceMapped);
    // V7/2.9BSD on the PDP-11 have no FIFOs
    let pdp = write::capabilities(&Variant::new(ByteOrder::Pdp11, Shape::Short, 512));
    assert!(adapt_entry(Entry::new("p", EntryKind::Fifo), &pdp)
        .0
        .is_none());
    assert!(run(Entry::new("p", EntryKind::Fifo)).0.is_some());
}

#[test]
fn the_summary_counts_entries_and_volumes() {
    let src = members(512, true);
    let s = write_summary(opts(ByteOrder::Intel, 512), &src);
    assert_eq!(s.entries, src.len() as u64);
    assert_eq!(s.volumes, 1);
    assert!(s.notes[0].contains("XENIX backup"), "{:?}", s.notes);
}
