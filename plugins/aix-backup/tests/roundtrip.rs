//! Writer -> reader round trips of every variant, single- and multi-volume, packed, with
//! levels; the packed streams are also decoded by gzip (an independent pack(1) decoder,
//! when installed). The independent checks of the written formats are elsewhere:
//! bffextract (tests/aix.rs at the workspace root) and the Python reader of
//! `fixtures/aix-backup/mkinode.py` (tests/fixtures.rs).

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::*;
use relic_format_aix_backup::write::{open_writer, Variant, WriteOptions};
use relic_format_aix_backup::{layout, ReadOptions};
use relic_model::{Device, Entry, EntryKind, ErrorKind, Timestamp, VolumeInfo};
use relic_plugin_sdk::testing::{write_all, Member, MemoryMedium};
use relic_plugin_sdk::Options;

fn ent(path: &str, kind: EntryKind, mode: u32, t: i64) -> Entry {
    let mut e = Entry::new(path.as_bytes().to_vec(), kind);
    e.mode = mode;
    e.uid = 1000;
    e.gid = 100;
    e.mtime = Some(Timestamp::from_secs(t));
    e.atime = Some(Timestamp::from_secs(t + 1));
    e.ctime = Some(Timestamp::from_secs(t + 2));
    e
}

fn file(path: &str, mode: u32, t: i64, data: Vec<u8>) -> Member {
    let mut e = ent(path, EntryKind::File, mode, t);
    e.size = data.len() as u64;
    Member::new(e, data)
}

/// Text that packs well.
fn text(n: usize, seed: u32) -> Vec<u8> {
    let words = [
        "backup ", "restore ", "volume ", "AIX ", "PC/IX ", "inode\n", "name ",
    ];
    let mut out = Vec::with_capacity(n);
    let mut x = seed;
    while out.len() < n {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        out.extend_from_slice(words[(x >> 16) as usize % words.len()].as_bytes());
    }
    out.truncate(n);
    out
}

fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A tree with every kind the dword formats hold; names fit 14 bytes (V7 directories).
fn tree() -> Vec<Member> {
    let t = 1_600_000_000;
    let mut v = vec![
        Member::new(ent(".", EntryKind::Dir, 0o755, t), vec![]),
        Member::new(ent("docs", EntryKind::Dir, 0o750, t + 10), vec![]),
        file("docs/read.me", 0o644, t + 20, b"hello, AIX\n".to_vec()),
        file("big.txt", 0o644, t + 30, text(200_000, 7)),
        file("noise.bin", 0o600, t + 40, noise(30_000, 3)),
        file("empty", 0o644, t + 50, vec![]),
        file("setuid", 0o4755, t + 60, b"#!/bin/sh\n".to_vec()),
    ];
    let mut linked = file("linked", 0o640, t + 70, b"two names\n".to_vec());
    linked.entry.nlink = 2;
    v.push(linked);
    let mut l2 = ent("docs/linked2", EntryKind::HardLink, 0o640, t + 70);
    l2.nlink = 2;
    l2.link_target = Some(b"linked".to_vec());
    v.push(Member::new(l2, vec![]));
    let mut s = ent("sym", EntryKind::Symlink, 0o777, t + 80);
    s.link_target = Some(b"docs/read.me".to_vec());
    v.push(Member::new(s, vec![]));
    let mut c = ent("tty0", EntryKind::CharDevice, 0o620, t + 90);
    c.rdev = Some(Device { major: 4, minor: 1 });
    v.push(Member::new(c, vec![]));
    let mut b = ent("hd0", EntryKind::BlockDevice, 0o600, t + 100);
    b.rdev = Some(Device {
        major: 3,
        minor: 64,
    });
    v.push(Member::new(b, vec![]));
    v.push(Member::new(
        ent("fifo", EntryKind::Fifo, 0o644, t + 110),
        vec![],
    ));
    v
}

/// What must survive: per path, kind (links resolved to their file), mode, owner, mtime,
/// content, target, device.
type Facts = BTreeMap<
    Vec<u8>,
    (
        String,
        u32,
        u64,
        u64,
        i64,
        Vec<u8>,
        Option<Vec<u8>>,
        Option<(u32, u32)>,
    ),
>;

fn facts(members: &[Member], times: bool) -> Facts {
    let by_path: BTreeMap<&[u8], &Member> = members
        .iter()
        .map(|m| (m.entry.path.as_slice(), m))
        .collect();
    members
        .iter()
        .map(|m| {
            let e = &m.entry;
            let (kind, data) = match e.kind {
                EntryKind::HardLink => {
                    let t = by_path[e.link_target.as_deref().expect("target")];
                    ("file".to_string(), t.data.clone())
                }
                k => (k.name().to_string(), m.data.clone()),
            };
            let target = (e.kind == EntryKind::Symlink)
                .then(|| e.link_target.clone())
                .flatten();
            (
                e.path.clone(),
                (
                    kind,
                    e.mode,
                    e.uid,
                    e.gid,
                    if times {
                        e.mtime.map(|t| t.secs).unwrap_or(0)
                    } else {
                        0
                    },
                    data,
                    target,
                    e.rdev.map(|d| (d.major, d.minor)),
                ),
            )
        })
        .collect()
}

fn options(pairs: &[(&str, &str)]) -> WriteOptions {
    let mut o = Options::new();
    for (k, v) in pairs {
        o.set(k, v);
    }
    WriteOptions::from_options(&o).expect("options")
}

fn vol() -> VolumeInfo {
    VolumeInfo {
        date: Some(Timestamp::from_secs(1_700_000_000)),
        filesystem: Some(b"/home".to_vec()),
        ..VolumeInfo::default()
    }
}

/// Write members into memory (one volume).
fn write_mem(members: &[Member], o: WriteOptions) -> Vec<u8> {
    let m = Arc::new(std::sync::Mutex::new(None::<Vec<u8>>));
    let out = SharedMedium(MemoryMedium::new(0), m.clone());
    let mut w = open_writer(Box::new(out), o, host()).expect("writer");
    write_all(w.as_mut(), &vol(), members).expect("write");
    let got = m.lock().expect("lock").take().expect("finished");
    got
}

/// A memory medium that hands its bytes out when finished.
struct SharedMedium(MemoryMedium, Arc<std::sync::Mutex<Option<Vec<u8>>>>);

impl relic_model::Medium for SharedMedium {
    fn info(&self) -> relic_model::MediumInfo {
        self.0.info()
    }
    fn read_record(&mut self, b: &mut [u8]) -> relic_model::Result<relic_model::RecordRead> {
        self.0.read_record(b)
    }
    fn write_record(&mut self, d: &[u8]) -> relic_model::Result<relic_model::WriteStatus> {
        self.0.write_record(d)
    }
    fn write_tape_mark(&mut self) -> relic_model::Result<relic_model::WriteStatus> {
        self.0.write_tape_mark()
    }
    fn position(&self) -> relic_model::Position {
        self.0.position()
    }
    fn space(&mut self, op: relic_model::Space, n: i64) -> relic_model::Result<i64> {
        self.0.space(op, n)
    }
    fn next_volume(&mut self, n: u32) -> relic_model::Result<bool> {
        self.0.next_volume(n)
    }
    fn finish(&mut self) -> relic_model::Result<()> {
        *self.1.lock().expect("lock") = Some(self.0.bytes());
        Ok(())
    }
}

/// The tree as a variant can hold it.
fn expected_for(variant: Variant) -> Vec<Member> {
    tree()
        .into_iter()
        .map(|mut m| {
            if variant.by_inode() {
                m.entry.nlink = 1;
            }
            m
        })
        .collect()
}

#[test]
fn every_variant_round_trips_the_tree() {
    for variant in ["by-name", "by-name-v2", "by-inode-v2", "by-inode"] {
        for record in ["512", "51200"] {
            let record = if variant == "by-inode" && record == "512" {
                "1024"
            } else {
                record
            };
            let o = options(&[("variant", variant), ("record-size", record)]);
            let bytes = write_mem(&tree(), o);
            let (vi, back) =
                read_bytes(&bytes, opts()).unwrap_or_else(|e| panic!("{variant}: {e}"));
            assert_eq!(vi.variant, variant);
            assert_eq!(vi.date.map(|t| t.secs), Some(1_700_000_000), "{variant}");
            assert_eq!(
                facts(&back, true),
                facts(&expected_for(Variant::parse(variant).expect("v")), true),
                "{variant} record {record}"
            );
            assert_eq!(
                bytes.len() % record.parse::<usize>().expect("n"),
                0,
                "{variant}: whole records"
            );
            // hard links come back as links, not copies
            assert_eq!(
                back.iter()
                    .filter(|m| m.entry.kind == EntryKind::HardLink)
                    .count(),
                1,
                "{variant}"
            );
        }
    }
}

#[test]
fn by_name_headers_look_like_aix_7() {
    let bytes = write_mem(&tree(), options(&[("user", "BUILD")]));
    let v = layout::Volume::decode(&bytes[..72]);
    assert_eq!(
        &bytes[..4],
        &[9, 0, 0x6b, 0xea],
        "file(1)'s AIX backup signature"
    );
    assert_eq!(
        (v.volnum, v.date, v.budate),
        (1, 1_700_000_000, 1_700_000_000)
    );
    assert_eq!(
        (v.disk.as_slice(), v.fsname.as_slice(), v.user.as_slice()),
        (&b"by name"[..], &b"by name"[..], &b"BUILD"[..])
    );
    assert_eq!(
        (v.incno, v.numwds),
        (layout::incno::BYNAME, layout::NUMWDS_UNBOUNDED)
    );
    assert_eq!(bytes.len() % 51200, 0, "AIX's cluster");
    // the root is "./" with the minimal security block after it
    let c = layout::Common::decode(&bytes[72..]);
    let fh = layout::FileHeader::decode_x(&c, &bytes[72..72 + c.len as usize * 8]);
    assert_eq!(fh.name.as_deref(), Some(&b"./"[..]));
    assert_eq!(
        fh.ino, 0xffff_ffff,
        "directories count down from 0xFFFFFFFF as AIX 7"
    );
    let sec = 72 + c.len as usize * 8;
    assert_eq!(&bytes[sec..sec + 8], &[2, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(
        &bytes[sec + 8 + 10..sec + 8 + 16],
        &[7, 0, 5, 0, 5, 0],
        "u/g/o access of 0755"
    );
}

#[test]
fn packed_files_decode_to_their_content_and_with_gzip() {
    let o = options(&[("pack", "")]);
    let bytes = write_mem(&tree(), o);
    let (_, back) = read_bytes(&bytes, opts()).expect("read");
    assert_eq!(facts(&back, true), facts(&tree(), true));
    let packed: Vec<&Member> = back
        .iter()
        .filter(|m| m.entry.extra("aix.packed").is_some())
        .collect();
    let names: Vec<&[u8]> = packed.iter().map(|m| m.entry.path.as_slice()).collect();
    assert_eq!(
        names,
        vec![&b"big.txt"[..]],
        "only where packing saves 4096 bytes (not noise.bin)"
    );
    let dsize: u64 = std::str::from_utf8(packed[0].entry.extra("aix.packed").expect("dsize"))
        .expect("utf8")
        .parse()
        .expect("n");
    assert!(dsize < 120_000, "{dsize}");
    // the 16-bit variants pack too (FS_NAME, FS_DINODE with magic 60012)
    for variant in ["by-name-v2", "by-inode-v2"] {
        let bytes = write_mem(&tree(), options(&[("pack", ""), ("variant", variant)]));
        let (_, back) = read_bytes(&bytes, opts()).expect("read");
        assert_eq!(
            facts(&back, true),
            facts(&expected_for(Variant::parse(variant).expect("v")), true),
            "{variant}"
        );
        let packed: Vec<&[u8]> = back
            .iter()
            .filter(|m| m.entry.extra("aix.packed").is_some())
            .map(|m| m.entry.path.as_slice())
            .collect();
        assert_eq!(packed, vec![&b"big.txt"[..]], "{variant}");
    }
    // gzip's pack(1) decoder on our stream: prefix 1F 1E + big-endian size, as the notes say
    let gzip = std::process::Command::new("gzip").arg("--version").output();
    if gzip.is_err() {
        eprintln!("gzip missing: skipping the independent decode");
        return;
    }
    let start = find_name(&bytes, b"./big.txt").expect("header");
    let c = layout::Common::decode(&bytes[start..]);
    assert!(c.is_packed());
    let data = start + c.len as usize * 8 + 40;
    let stream = &bytes[data..data + dsize as usize];
    let mut input = vec![0x1f, 0x1e];
    input.extend_from_slice(&200_000u32.to_be_bytes());
    input.extend_from_slice(stream);
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("x.z");
    std::fs::write(&p, &input).expect("write");
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&p)
        .output()
        .expect("gzip runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, text(200_000, 7));
}

/// Offset of the name record called `name`.
fn find_name(bytes: &[u8], name: &[u8]) -> Option<usize> {
    bytes
        .windows(name.len() + 1)
        .position(|w| &w[..name.len()] == name && w[name.len()] == 0)
        .map(|p| p - 64)
}

#[test]
fn multi_volume_at_early_warning_and_fixed_size() {
    for variant in ["by-name", "by-name-v2", "by-inode-v2", "by-inode"] {
        // tape-like: volumes end at the medium's early warning, numwds MAXINT
        let rs = if variant == "by-inode" { "1024" } else { "512" };
        let o = options(&[("variant", variant), ("record-size", rs)]);
        let set = SetMedium::writing(Some(40_000), 50);
        let shared = set.written.clone();
        let mut w = open_writer(Box::new(set), o, host()).expect("writer");
        write_all(w.as_mut(), &vol(), &tree()).expect("write");
        let vols = shared.lock().expect("lock").clone();
        assert!(vols.len() >= 4, "{variant}: {} volumes", vols.len());
        for (i, v) in vols.iter().enumerate() {
            assert!(
                v.len() <= 40_000 + 1024,
                "{variant}: volume {} is {}",
                i + 1,
                v.len()
            );
            if variant != "by-inode" {
                let h = layout::Volume::decode(&v[..72]);
                assert_eq!(
                    (h.volnum as usize, h.numwds),
                    (i + 1, layout::NUMWDS_UNBOUNDED)
                );
            }
        }
        let (_, back) = read_medium(Box::new(SetMedium::hostile(&vols)), opts())
            .unwrap_or_else(|e| panic!("{variant}: {e}"));
        assert_eq!(
            facts(&back, true),
            facts(&expected_for(Variant::parse(variant).expect("v")), true),
            "{variant}"
        );
        // a volume missing from the set is named
        let e = read_medium(Box::new(SetMedium::hostile(&vols[..2])), opts()).expect_err("missing");
        assert!(e.message.contains("no volume 3"), "{variant}: {e}");
        let mut swapped = vols.clone();
        swapped.swap(1, 2);
        let e = read_medium(Box::new(SetMedium::hostile(&swapped)), opts()).expect_err("order");
        assert!(
            e.message.contains("expected volume 2, found volume 3")
                || e.message.contains("expected volume 2 of"),
            "{variant}: {e}"
        );
    }
    // floppies: fixed volume size, numwds = size / 8, every volume exactly that long
    for variant in ["by-name", "by-name-v2", "by-inode-v2"] {
        let o = options(&[("variant", variant), ("volume-size", "36k")]);
        let set = SetMedium::writing(None, 50);
        let shared = set.written.clone();
        let mut w = open_writer(Box::new(set), o, host()).expect("writer");
        write_all(w.as_mut(), &vol(), &tree()).expect("write");
        let vols = shared.lock().expect("lock").clone();
        assert!(vols.len() >= 4, "{variant}");
        for (i, v) in vols.iter().enumerate() {
            let h = layout::Volume::decode(&v[..72]);
            assert_eq!(
                (h.volnum as usize, h.numwds),
                (i + 1, 36 * 1024 / 8),
                "{variant}"
            );
            if i + 1 < vols.len() {
                assert_eq!(v.len(), 36 * 1024, "{variant}: volume {} is full", i + 1);
            }
        }
        let (_, back) = read_medium(Box::new(SetMedium::hostile(&vols)), opts()).expect("read");
        assert_eq!(
            facts(&back, true),
            facts(&expected_for(Variant::parse(variant).expect("v")), true),
            "{variant}"
        );
    }
    // not enough volumes: the error names them
    let set = SetMedium::writing(None, 2);
    let mut w =
        open_writer(Box::new(set), options(&[("volume-size", "36k")]), host()).expect("writer");
    let e = write_all(w.as_mut(), &vol(), &tree()).expect_err("too few volumes");
    assert!(
        e.message.contains("volume 2 is full") && e.message.contains("no volume 3"),
        "{e}"
    );
}

#[test]
fn levels_come_from_the_dumpdates_history() {
    let dir = tempfile::tempdir().expect("tmp");
    let dd = dir.path().join("dumpdates");
    let dd_s = dd.to_str().expect("utf8");
    let old = file("old", 0o644, 1000, b"old\n".to_vec());
    let new = file("new", 0o644, 5000, b"new\n".to_vec());
    let root = Member::new(ent(".", EntryKind::Dir, 0o755, 1000), vec![]);
    let members = vec![root, old, new];
    for variant in ["by-inode-v2", "by-inode"] {
        let _ = std::fs::remove_file(&dd);
        let o = options(&[
            ("variant", variant),
            ("level", "0"),
            ("dumpdates", dd_s),
            ("date", "3000"),
            ("fsname", "/home"),
        ]);
        let (_, back) = read_bytes(&write_mem(&members, o), opts()).expect("level 0");
        assert_eq!(back.len(), 3, "{variant}: level 0 has everything");
        let h = std::fs::read_to_string(&dd).expect("history written");
        assert_eq!(
            h,
            "/home                            0 Thu Jan  1 00:50:00 1970\n"
        );
        // level 1: only what changed since the level-0 date (3000)
        let o = options(&[
            ("variant", variant),
            ("level", "1"),
            ("dumpdates", dd_s),
            ("date", "9000"),
            ("fsname", "/home"),
        ]);
        let (vi, back) = read_bytes(&write_mem(&members, o), opts()).expect("level 1");
        let paths: Vec<&[u8]> = back.iter().map(|m| m.entry.path.as_slice()).collect();
        assert_eq!(paths, vec![&b"."[..], b"new"], "{variant}");
        assert_eq!(vi.since.map(|t| t.secs), Some(3000), "{variant}: budate");
        if variant == "by-inode-v2" {
            assert_eq!(vi.level, Some(1));
        }
        let h = std::fs::read_to_string(&dd).expect("history");
        assert!(
            h.lines().count() == 2 && h.contains(" 1 Thu Jan  1 02:30:00 1970"),
            "{h}"
        );
    }
    // a backup that fails leaves the history alone
    let before = std::fs::read_to_string(&dd).expect("history");
    let o = options(&[
        ("variant", "by-inode"),
        ("level", "2"),
        ("dumpdates", dd_s),
        ("date", "99999"),
    ]);
    let mut w = open_writer(Box::new(FailingMedium), o, host()).expect("writer");
    assert!(write_all(w.as_mut(), &vol(), &members).is_err());
    assert_eq!(std::fs::read_to_string(&dd).expect("history"), before);
    // levels are for by-inode backups only
    let mut opt = Options::new();
    opt.set("level", "1");
    let e = WriteOptions::from_options(&opt).expect_err("by-name has no levels");
    assert_eq!(e.kind, ErrorKind::Config);
}

/// A medium whose writes fail.
struct FailingMedium;

impl relic_model::Medium for FailingMedium {
    fn info(&self) -> relic_model::MediumInfo {
        relic_model::MediumInfo::default()
    }
    fn read_record(&mut self, _b: &mut [u8]) -> relic_model::Result<relic_model::RecordRead> {
        Err(relic_model::Error::media("no"))
    }
    fn write_record(&mut self, _d: &[u8]) -> relic_model::Result<relic_model::WriteStatus> {
        Err(relic_model::Error::media("disk full"))
    }
    fn write_tape_mark(&mut self) -> relic_model::Result<relic_model::WriteStatus> {
        Err(relic_model::Error::media("disk full"))
    }
    fn position(&self) -> relic_model::Position {
        relic_model::Position::default()
    }
    fn space(&mut self, _op: relic_model::Space, _n: i64) -> relic_model::Result<i64> {
        Ok(0)
    }
    fn next_volume(&mut self, _n: u32) -> relic_model::Result<bool> {
        Ok(false)
    }
    fn finish(&mut self) -> relic_model::Result<()> {
        Err(relic_model::Error::media("disk full"))
    }
}

#[test]
fn acls_and_the_nfs4_side_record_round_trip() {
    let t = 1_600_000_000;
    let mut d = ent("acl", EntryKind::Dir, 0o770, t);
    // an extended AIXC ACL (from the acl_aixc_nfs4 sample's acl/nfs4 entry)
    let acl = vec![
        0x28, 0, 0, 0, 0, 0, 0, 2, 0, 0, 7, 0, 7, 0, 0, 0, 0x0c, 0, 7, 0x80, 8, 0, 1, 0, 0, 0, 0,
        0xcc, 0x0c, 0, 7, 0x80, 8, 0, 2, 0, 0, 0, 0x55, 0x28,
    ];
    d.acls.push(relic_model::Acl {
        kind: "aix.aixc".into(),
        data: acl.clone(),
    });
    d.acls.push(relic_model::Acl {
        kind: "aix.nfs4".into(),
        data: b"*\n* ACL_type   NFS4\n".to_vec(),
    });
    d.acls.push(relic_model::Acl {
        kind: "posix.access".into(),
        data: vec![2, 0, 0, 0],
    });
    let members = vec![
        Member::new(d, vec![]),
        file("acl/x.txt", 0o644, t, b"x".to_vec()),
        file("acl/y.txt", 0o644, t, b"y".to_vec()),
    ];
    let rec = Arc::new(Recorder::default());
    let m = Arc::new(std::sync::Mutex::new(None::<Vec<u8>>));
    let mut w = open_writer(
        Box::new(SharedMedium(MemoryMedium::new(0), m.clone())),
        options(&[]),
        rec.clone(),
    )
    .expect("w");
    write_all(w.as_mut(), &vol(), &members).expect("write");
    let bytes = m.lock().expect("l").take().expect("bytes");
    assert!(
        rec.warnings
            .lock()
            .expect("l")
            .iter()
            .any(|w| w.contains("posix.access")),
        "foreign ACL kinds are reported"
    );
    let (_, back) = read_bytes(&bytes, opts()).expect("read");
    assert_eq!(back.len(), 3, "the side record is not an entry");
    let kinds: Vec<(&str, usize)> = back[0]
        .entry
        .acls
        .iter()
        .map(|a| (a.kind.as_str(), a.data.len()))
        .collect();
    assert_eq!(kinds, vec![("aix.aixc", 40), ("aix.nfs4", 20)]);
    assert_eq!(back[0].entry.acls[0].data, acl);
    assert_eq!(back[1].data, b"x");
    // the raw archive holds the side record after the directory, in its parent, as AIX 7
    // writes it (acl/nfs4 -> acl/\x7f\x7f)
    assert!(find_name(&bytes, b"./\x7f\x7f").is_some());
}

#[test]
fn reading_options_are_checked() {
    let mut o = Options::new();
    o.set("variant", "tar");
    assert!(WriteOptions::from_options(&o).is_err());
    let mut o = Options::new();
    o.set("volume-size", "1000");
    assert!(
        WriteOptions::from_options(&o).is_err(),
        "not a multiple of the record size"
    );
    let mut o = Options::new();
    o.set("pack", "");
    o.set("variant", "by-inode");
    assert!(WriteOptions::from_options(&o).is_err());
    let _ = ReadOptions::default();
}
