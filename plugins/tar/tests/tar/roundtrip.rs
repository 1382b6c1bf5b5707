//! Our writer, checked by GNU tar (extraction, listing, byte-for-byte output) and by our
//! reader: members -> relic tar -> GNU tar -x -> compare bytes, holes, modes, times,
//! links, devices, xattrs; and GNU tar's output of a tree read back by our reader.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use relic_format_tar::{write::capabilities, TarFormat, WriteOptions};
use relic_model::{adapt_entry, Device, Entry, EntryKind, Extra, Timestamp, VolumeInfo, Xattr};
use relic_plugin_sdk::testing::Member;

use crate::common::*;

fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.wrapping_mul(2_654_435_761) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as u8
        })
        .collect()
}

fn ent(path: &[u8], kind: EntryKind, i: u32) -> Entry {
    let mut e = Entry::new(path.to_vec(), kind);
    e.mtime = Some(Timestamp::new(
        1_600_000_000 + i64::from(i),
        100_000_000 + i * 1_234_567,
    ));
    e.uid = 1234;
    e.gid = 2345;
    e.uname = Some(b"alice".to_vec());
    e.gname = Some(b"staff".to_vec());
    e
}

fn file(path: &[u8], i: u32, data: Vec<u8>, holes: Vec<(u64, u64)>) -> Member {
    let mut e = ent(path, EntryKind::File, i);
    e.size = data.len() as u64;
    Member {
        entry: e,
        data,
        holes,
        absent: vec![],
    }
}

/// A sparse file: `size` bytes with data `(offset, len)` runs of noise, holes elsewhere.
fn sparse(path: &[u8], i: u32, size: usize, runs: &[(usize, usize)]) -> Member {
    let mut data = vec![0u8; size];
    let mut holes = Vec::new();
    let mut pos = 0;
    for (k, (o, l)) in runs.iter().enumerate() {
        data[*o..o + l].copy_from_slice(&noise(*l, i * 100 + k as u32 + 1));
        if *o > pos {
            holes.push((pos as u64, (o - pos) as u64));
        }
        pos = o + l;
    }
    if pos < size {
        holes.push((pos as u64, (size - pos) as u64));
    }
    file(path, i, data, holes)
}

/// The tree every round trip writes: everything the brief asks a tar to keep.
fn sample(devices: bool) -> Vec<Member> {
    let mut v = Vec::new();
    let mut r = ent(b".", EntryKind::Dir, 21); // the root, written as "./"
    r.mode = 0o711;
    v.push(Member::new(r, vec![]));
    let mut d = ent(b"rt", EntryKind::Dir, 0);
    d.mode = 0o750;
    v.push(Member::new(d, vec![]));
    let mut small = file(b"rt/small", 1, b"hello, relic\n".to_vec(), vec![]);
    small.entry.mode = 0o640;
    small.entry.atime = Some(Timestamp::new(1_700_000_000, 5));
    small.entry.xattrs.push(Xattr {
        name: b"user.comment".to_vec(),
        value: b"round trip".to_vec(),
    });
    small.entry.xattrs.push(Xattr {
        name: b"user.bin".to_vec(),
        value: vec![0, 255, 10, b'='],
    });
    small.entry.extras.push(Extra::new("vms.rfm", vec![2u8]));
    v.push(small);
    v.push(file(b"rt/empty", 2, vec![], vec![]));
    v.push(file(b"rt/dense", 3, noise(1_500_000, 3), vec![])); // over the 1 MiB memory spool
    v.push(sparse(
        b"rt/sparse-mid",
        4,
        1 << 20,
        &[(0, 4096), (524_288, 8192)],
    ));
    v.push(sparse(b"rt/sparse-start", 5, 266_240, &[(262_144, 4096)]));
    v.push(sparse(b"rt/allhole", 6, 65536, &[]));
    v.push(sparse(
        b"rt/big-sparse",
        7,
        3 << 20,
        &[(1 << 20, 1_200_000)],
    )); // spooled and sparse
    let mut many: Vec<(usize, usize)> = (0..30).map(|k| (k * 16384, 4096)).collect();
    many.push((30 * 16384, 100));
    v.push(sparse(b"rt/many-runs", 8, 30 * 16384 + 100, &many)); // > 21 runs: GNU extension blocks
    let longdir = format!("rt/{}", "d".repeat(150));
    v.push(Member::new(
        ent(longdir.as_bytes(), EntryKind::Dir, 9),
        vec![],
    ));
    let longfile = format!("{longdir}/{}", "f".repeat(150));
    v.push(file(longfile.as_bytes(), 10, b"long\n".to_vec(), vec![]));
    let mut latin = b"rt/caf\xe9-".to_vec();
    latin.extend(vec![b'x'; 120]);
    v.push(file(&latin, 11, b"latin1 long name\n".to_vec(), vec![]));
    v.push(file(b"rt/caf\xe9", 12, b"latin1\n".to_vec(), vec![]));
    let mut h = ent(b"rt/hard", EntryKind::HardLink, 13);
    h.link_target = Some(b"rt/small".to_vec());
    h.mode = 0o640;
    v.push(Member::new(h, vec![]));
    let mut s = ent(b"rt/sym", EntryKind::Symlink, 14);
    s.link_target = Some(b"small".to_vec());
    s.mode = 0o777;
    v.push(Member::new(s, vec![]));
    let mut ls = ent(b"rt/longsym", EntryKind::Symlink, 15);
    ls.link_target = Some(format!("{}/{}", "d".repeat(150), "f".repeat(150)).into_bytes());
    ls.mode = 0o777;
    v.push(Member::new(ls, vec![]));
    let mut f = ent(b"rt/fifo", EntryKind::Fifo, 16);
    f.mode = 0o600;
    v.push(Member::new(f, vec![]));
    let mut su = file(b"rt/suid", 17, b"#!/bin/sh\n".to_vec(), vec![]);
    su.entry.mode = 0o4755;
    v.push(su);
    let mut st = ent(b"rt/sticky", EntryKind::Dir, 18);
    st.mode = 0o1777;
    v.push(Member::new(st, vec![]));
    if devices {
        let mut c = ent(b"rt/null", EntryKind::CharDevice, 19);
        c.rdev = Some(Device { major: 1, minor: 3 });
        v.push(Member::new(c, vec![]));
        let mut b = ent(b"rt/loop", EntryKind::BlockDevice, 20);
        b.rdev = Some(Device {
            major: 7,
            minor: 200,
        });
        v.push(Member::new(b, vec![]));
    }
    v
}

/// Fit members to a format as the engine would (adapt_entry), filling holes the format
/// cannot keep.
/// ustar's 100-byte link name is a limit the capabilities cannot express: the writer leaves
/// such entries out with a warning, so the expectation does too.
fn adapt(members: &[Member], opts: &WriteOptions) -> Vec<Member> {
    let caps = capabilities(opts);
    members
        .iter()
        .filter_map(|m| {
            let (e, _) = adapt_entry(m.entry.clone(), &caps);
            let e = e?;
            if opts.format == TarFormat::Ustar
                && e.link_target.as_ref().is_some_and(|t| t.len() > 100)
            {
                return None;
            }
            if e.kind == EntryKind::HardLink
                && !members.iter().any(|t| {
                    Some(&t.entry.path) == e.link_target.as_ref()
                        && adapt_entry(t.entry.clone(), &caps).0.is_some()
                })
            {
                return None;
            }
            let holes = if caps.holes { m.holes.clone() } else { vec![] };
            Some(Member {
                entry: e,
                data: m.data.clone(),
                holes,
                absent: vec![],
            })
        })
        .collect()
}

/// What our reader gives back must be what we wrote (for the fields the format keeps).
fn assert_read_back(bytes: &[u8], want: &[Member], format: TarFormat) {
    let (_, got) = read_ok(bytes);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        let (ge, we) = (&g.entry, &w.entry);
        let what = we.display_path();
        assert_eq!(ge.path, we.path, "path");
        assert_eq!(
            (ge.kind, ge.mode, ge.uid, ge.gid),
            (we.kind, we.mode, we.uid, we.gid),
            "{what}"
        );
        assert_eq!((&ge.uname, &ge.gname), (&we.uname, &we.gname), "{what}");
        assert_eq!(
            (ge.mtime, ge.atime, ge.ctime),
            (we.mtime, we.atime, we.ctime),
            "{what}: times"
        );
        assert_eq!(
            (&ge.link_target, ge.rdev),
            (&we.link_target, we.rdev),
            "{what}"
        );
        assert_eq!(ge.xattrs, we.xattrs, "{what}");
        assert_eq!(ge.extras, we.extras, "{what}");
        if we.kind == EntryKind::File {
            assert_eq!(ge.size, we.size, "{what}");
            assert!(g.data == w.data, "{what}: data");
            assert_eq!(g.holes, w.holes, "{what}: holes ({format:?})");
        }
    }
}

fn round_trip(format: TarFormat) {
    let root = is_root();
    let opts = WriteOptions {
        format,
        ..WriteOptions::default()
    };
    let members = adapt(&sample(root), &opts);
    let volume = VolumeInfo::default();
    let medium = write_mem(opts, &volume, &members);
    let bytes = medium.bytes();
    assert!(
        medium.records().iter().all(|r| r.len() == 10240),
        "every record is 10240 bytes"
    );
    assert_read_back(&bytes, &members, format);

    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("out.tar");
    std::fs::write(&archive, &bytes).expect("write archive");
    compare_listing(&archive, &members);
    let x = dir.path().join("x");
    std::fs::create_dir(&x).expect("mkdir");
    gnu_tar(
        &[
            "-xf",
            archive.to_str().expect("utf-8"),
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=user.*",
        ],
        &x,
    );
    compare_tree(&x, &members, root, format == TarFormat::Pax);
}

#[test]
fn pax_output_is_extracted_identically_by_gnu_tar() {
    round_trip(TarFormat::Pax);
}

#[test]
fn gnu_output_is_extracted_identically_by_gnu_tar() {
    round_trip(TarFormat::Gnu);
}

#[test]
fn ustar_output_is_extracted_identically_by_gnu_tar() {
    let opts = WriteOptions {
        format: TarFormat::Ustar,
        ..WriteOptions::default()
    };
    let kept = adapt(&sample(false), &opts);
    // the 150-byte components cannot be represented; everything else is
    assert!(kept.iter().all(|m| m.entry.path.len() <= 255));
    assert!(kept
        .iter()
        .any(|m| m.entry.path == b"rt/big-sparse" && m.holes.is_empty()));
    round_trip(TarFormat::Ustar);
}

#[test]
fn sparse_no_streams_and_fills_holes() {
    let opts = WriteOptions {
        sparse: false,
        ..WriteOptions::default()
    };
    assert!(!capabilities(&opts).holes);
    let members = adapt(&sample(false), &opts);
    let bytes = write_mem(opts, &VolumeInfo::default(), &members).bytes();
    assert_read_back(&bytes, &members, TarFormat::Pax);
}

#[test]
fn record_size_and_end_of_archive_as_gnu_tar() {
    let mut members = vec![file(b"a", 1, b"x".to_vec(), vec![])];
    members[0].entry.mtime = Some(Timestamp::from_secs(1_600_000_000)); // no pax header needed
    for (opts, rec) in [
        (WriteOptions::default(), 10240),
        (
            WriteOptions {
                record_size: 512,
                ..WriteOptions::default()
            },
            512,
        ),
        (
            WriteOptions {
                record_size: 4096,
                ..WriteOptions::default()
            },
            4096,
        ),
    ] {
        let m = write_mem(opts, &VolumeInfo::default(), &members);
        let b = m.bytes();
        assert!(m.records().iter().all(|r| r.len() == rec));
        // header + one data block + two zero blocks, padded to the record
        let used: usize = 512 + 512 + 1024;
        assert_eq!(b.len(), used.div_ceil(rec) * rec, "record {rec}");
        assert!(b[1024..].iter().all(|&x| x == 0));
    }
    let o = relic_plugin_sdk::Options::new().with("blocking-factor", "1");
    assert_eq!(
        relic_format_tar::write_options("tar", &o)
            .expect("ok")
            .record_size,
        512
    );
    let o = relic_plugin_sdk::Options::new().with("record-size", "1000");
    assert!(
        relic_format_tar::write_options("tar", &o).is_err(),
        "not a multiple of 512"
    );
    let o = relic_plugin_sdk::Options::new().with("format", "cpio");
    assert!(relic_format_tar::write_options("tar", &o).is_err());
    assert_eq!(
        relic_format_tar::write_options("ustar", &relic_plugin_sdk::Options::new())
            .expect("ok")
            .format,
        TarFormat::Ustar
    );
    assert_eq!(
        relic_format_tar::write_options("gnutar", &relic_plugin_sdk::Options::new())
            .expect("ok")
            .format,
        TarFormat::Gnu
    );
}

#[test]
fn volume_label_gnu_and_pax() {
    let members = vec![file(b"a", 1, b"x".to_vec(), vec![])];
    let vol = VolumeInfo {
        label: Some(b"MY LABEL".to_vec()),
        ..VolumeInfo::default()
    };
    for format in [TarFormat::Gnu, TarFormat::Pax] {
        let b = write_mem(
            WriteOptions {
                format,
                ..WriteOptions::default()
            },
            &vol,
            &members,
        )
        .bytes();
        let (v, ms) = read_ok(&b);
        assert_eq!(v.label.as_deref(), Some(&b"MY LABEL"[..]), "{format:?}");
        assert_eq!(ms.len(), 1);
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("l.tar");
        std::fs::write(&a, &b).expect("write");
        let out = gnu_tar(&["-tvf", a.to_str().expect("utf-8")], dir.path());
        if format == TarFormat::Gnu {
            assert!(out.contains("MY LABEL--Volume Header--"), "{out}");
        }
        let lbl = gnu_tar(
            &["--test-label", "-f", a.to_str().expect("utf-8")],
            dir.path(),
        );
        assert_eq!(lbl.trim(), "MY LABEL", "GNU tar --test-label of {format:?}");
    }
}

/// Build a tree on disk, let GNU tar archive it, and write the same members with our
/// writer: the archives must be identical byte for byte (gnu format, and pax without sparse
/// files, whose GNUSparseFile.%p name holds GNU tar's pid).
#[test]
fn byte_for_byte_equal_to_gnu_tar() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let t = src.join("t");
    std::fs::create_dir_all(t.join("sub")).expect("mkdir");
    std::fs::write(t.join("file"), b"some content\n").expect("write");
    std::fs::write(t.join("sub/other"), noise(3000, 9)).expect("write");
    let long = "n".repeat(130);
    std::fs::write(t.join(&long), b"long\n").expect("write");
    std::fs::hard_link(t.join("file"), t.join("hard")).expect("link");
    std::os::unix::fs::symlink(format!("sub/{}", "s".repeat(120)), t.join("lsym"))
        .expect("symlink");
    std::os::unix::fs::symlink("file", t.join("sym")).expect("symlink");
    {
        let f = std::fs::File::create(t.join("sparse")).expect("create");
        f.set_len(1 << 20).expect("truncate");
        use std::os::unix::fs::FileExt;
        f.write_all_at(&noise(4096, 1), 65536).expect("write");
        f.write_all_at(&noise(4096, 2), 40 * 4096).expect("write");
    }
    let all = [
        "t",
        "t/file",
        "t/hard",
        "t/lsym",
        &format!("t/{long}"),
        "t/sparse",
        "t/sub",
        "t/sub/other",
        "t/sym",
    ];
    let set_times = |nsec: i64| {
        for p in all.iter().rev() {
            let c = std::ffi::CString::new(src.join(p).as_os_str().as_bytes()).expect("cstring");
            let ts = [libc::timespec {
                tv_sec: 1_500_000_000,
                tv_nsec: nsec,
            }; 2];
            // SAFETY: c is a valid NUL-terminated path and ts points at two timespecs.
            let r = unsafe {
                libc::utimensat(
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    ts.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            assert_eq!(r, 0);
        }
    };
    let fs_sparse = fs_data_ranges(&t.join("sparse"));
    if fs_sparse.len() != 2 {
        eprintln!("the file system does not keep holes as expected ({fs_sparse:?}); byte comparison skipped");
        return;
    }
    for (format, flag) in [
        (TarFormat::Gnu, "--format=gnu"),
        (TarFormat::Pax, "--format=posix"),
    ] {
        // whole seconds for gnu; pax gets nanoseconds, i.e. an 'x' header for every member
        set_times(if format == TarFormat::Gnu {
            0
        } else {
            250_000_000
        });
        let list: Vec<&str> = all
            .iter()
            .copied()
            .filter(|p| format == TarFormat::Gnu || *p != "t/sparse")
            .collect();
        let gnu_out = dir.path().join(format!("{}.tar", format.name()));
        let mut args = vec![
            flag,
            "--sparse",
            "--owner=relic:1000",
            "--group=archive:1001",
            "--no-recursion",
            "-cf",
            gnu_out.to_str().expect("utf-8"),
        ];
        if format == TarFormat::Pax {
            args.push("--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime");
        }
        args.extend(list.iter().copied());
        gnu_tar(&args, &src);
        let gnu_bytes = std::fs::read(&gnu_out).expect("read");

        // the same members, from the file system
        let mut members: Vec<Member> = Vec::new();
        let mut seen: Vec<(u64, Vec<u8>)> = Vec::new();
        for p in &list {
            let full = src.join(p);
            let md = std::fs::symlink_metadata(&full).expect("lstat");
            let ft = md.file_type();
            let kind = if ft.is_dir() {
                EntryKind::Dir
            } else if ft.is_symlink() {
                EntryKind::Symlink
            } else if let Some((_, first)) = seen.iter().find(|(ino, _)| *ino == md.ino()) {
                let mut e = Entry::new(p.as_bytes().to_vec(), EntryKind::HardLink);
                e.link_target = Some(first.clone());
                fill_meta(&mut e, &md);
                members.push(Member::new(e, vec![]));
                continue;
            } else {
                assert!(ft.is_file() && !ft.is_fifo());
                EntryKind::File
            };
            let mut e = Entry::new(p.as_bytes().to_vec(), kind);
            fill_meta(&mut e, &md);
            let mut m = Member::new(e, vec![]);
            match kind {
                EntryKind::Symlink => {
                    m.entry.link_target = Some(
                        std::fs::read_link(&full)
                            .expect("readlink")
                            .as_os_str()
                            .as_bytes()
                            .to_vec(),
                    )
                }
                EntryKind::File => {
                    seen.push((md.ino(), p.as_bytes().to_vec()));
                    m.data = std::fs::read(&full).expect("read");
                    m.entry.size = m.data.len() as u64;
                    let mut pos = 0;
                    for (o, l) in fs_data_ranges(&full)
                        .into_iter()
                        .chain(std::iter::once((m.entry.size, 0)))
                    {
                        if o > pos {
                            m.holes.push((pos, o - pos));
                        }
                        pos = o + l;
                    }
                }
                _ => {}
            }
            members.push(m);
        }
        let ours = write_mem(
            WriteOptions {
                format,
                ..WriteOptions::default()
            },
            &VolumeInfo::default(),
            &members,
        )
        .bytes();
        assert_eq!(ours.len(), gnu_bytes.len(), "{format:?}: archive sizes");
        if let Some(i) = (0..ours.len()).find(|&i| ours[i] != gnu_bytes[i]) {
            let b = i / 512 * 512;
            panic!(
                "{format:?}: first difference at byte {i} (block at {b}, offset {} in it)\nours: {:?}\ngnu:  {:?}",
                i - b,
                String::from_utf8_lossy(&ours[b..b + 512]),
                String::from_utf8_lossy(&gnu_bytes[b..b + 512])
            );
        }
        // and GNU tar's archive reads back as the same members
        assert_read_back(&gnu_bytes, &members, format);
    }
}

fn fill_meta(e: &mut Entry, md: &std::fs::Metadata) {
    e.mode = md.mode() & 0o7777;
    e.uid = 1000;
    e.gid = 1001;
    e.uname = Some(b"relic".to_vec());
    e.gname = Some(b"archive".to_vec());
    e.mtime = Some(Timestamp::new(md.mtime(), md.mtime_nsec() as u32));
}

#[test]
fn written_archives_pass_through_the_plugin_boundary() {
    // the same writer and reader, reached through the ABI root module in-process
    use relic_plugin_sdk::{root_module, LoadedPlugin, Options};
    let p = LoadedPlugin::new(root_module::<relic_format_tar::TarPlugin>()).expect("loads");
    let f = &p.descriptor.formats[0];
    assert_eq!(
        (f.id.as_str(), f.aliases.clone()),
        (
            "tar",
            vec!["ustar".to_string(), "pax".into(), "gnutar".into()]
        )
    );
    let bytes = fixture("posix.tar");
    let ctx = relic_plugin_sdk::ProbeContext::default();
    assert_eq!(p.probe("tar", &bytes, &ctx), 48 + 56 + 2);
    assert_eq!(p.probe("zip", &bytes, &ctx), 0);
    let m = relic_plugin_sdk::testing::MemoryMedium::from_bytes(&bytes, 10240);
    let host = std::sync::Arc::new(RecHost::default());
    let mut r = p
        .open_reader(
            "tar",
            b"posix.tar",
            Some(Box::new(m)),
            &Options::new(),
            host.clone(),
        )
        .expect("open");
    let (v, ms) = relic_plugin_sdk::testing::read_all(r.as_mut()).expect("read");
    assert_eq!((v.variant.as_str(), ms.len()), ("pax", 11));
    let bad = p.open_reader(
        "tar",
        b"x",
        Some(Box::new(relic_plugin_sdk::testing::MemoryMedium::new(0))),
        &Options::new().with("bogus", "1"),
        host,
    );
    assert!(bad.is_err(), "unknown options are refused");
    let _ = Path::new("/");
}

/// An entry whose reader announced its data runs (`Entry::data_map`) is streamed, not
/// spooled; the archive must be byte-for-byte what the spooling path writes.
#[test]
fn streamed_with_data_map_equals_spooled() {
    use relic_model::{Entry, EntryKind, VolumeInfo};
    use relic_plugin_sdk::testing::Member;
    let mut members = Vec::new();
    for (name, size, holes) in [
        ("dense", 3_000_000u64, vec![]),
        (
            "sparse",
            5_000_000,
            vec![(4096u64, 1_000_000u64), (2_000_000, 2_000_000)],
        ),
        ("tail-hole", 300_000, vec![(100_000, 200_000)]),
        ("all-hole", 1 << 20, vec![(0, 1 << 20)]),
    ] {
        let mut e = Entry::new(name, EntryKind::File);
        e.size = size;
        let mut data: Vec<u8> = (0..size).map(|i| (i % 253) as u8 | 1).collect();
        for &(o, l) in &holes {
            data[o as usize..(o + l) as usize].fill(0);
        }
        let mut m = Member::new(e, data);
        m.holes = holes;
        members.push(m);
    }
    let vol = VolumeInfo::default();
    for format in [TarFormat::Pax, TarFormat::Gnu] {
        let opts = || WriteOptions {
            format,
            ..WriteOptions::default()
        };
        let spooled = crate::common::write_mem(opts(), &vol, &members).bytes();
        let mapped: Vec<Member> = members
            .iter()
            .cloned()
            .map(|mut m| {
                let mut runs = vec![];
                let mut pos = 0;
                for &(o, l) in m.holes.iter().chain(std::iter::once(&(m.entry.size, 0))) {
                    if o > pos {
                        runs.push((pos, o - pos));
                    }
                    pos = o + l;
                }
                m.entry.data_map = Some(runs);
                m
            })
            .collect();
        let streamed = crate::common::write_mem(opts(), &vol, &mapped).bytes();
        assert!(
            streamed == spooled,
            "{format:?}: streamed archive differs from the spooled one"
        );
    }
}
