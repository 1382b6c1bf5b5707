//! Reading the committed fixtures (fixtures/tar, made by GNU tar 1.34 and Python's
//! tarfile, see SOURCES.md) through the hostile medium. Expectations are what make.sh put
//! into each archive, and, for GNU-made archives, what GNU tar itself lists and extracts.

use relic_model::{Device, EntryKind, ErrorKind, Timestamp};

use crate::common::*;

const LONG1: &str = "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"; // 60
fn long2() -> String {
    "f".repeat(120)
}
const T: Timestamp = Timestamp::new(1_000_000_000, 123_456_789);

fn sparse_expect(data: &[u8], size: usize, parts: &[(usize, &[u8])]) {
    assert_eq!(data.len(), size);
    let mut want = vec![0u8; size];
    for (o, t) in parts {
        want[*o..*o + t.len()].copy_from_slice(t);
    }
    assert!(data == want.as_slice(), "sparse content differs");
}

#[test]
fn posix_fixture() {
    let (vol, ms) = read_ok(&fixture("posix.tar"));
    assert_eq!((vol.format.as_str(), vol.variant.as_str()), ("tar", "pax"));
    let paths: Vec<String> = ms.iter().map(|m| m.entry.display_path()).collect();
    let long = format!("dir/{LONG1}/{}", long2());
    assert_eq!(
        paths,
        [
            "dir",
            "dir/caf\u{fffd}",
            &format!("dir/{LONG1}"),
            &long,
            "dir/fifo",
            "dir/hardlink",
            "dir/hello.txt",
            "dir/longlink",
            "dir/sparse",
            "dir/suid",
            "dir/symlink"
        ]
    );
    for m in &ms {
        let e = &m.entry;
        assert_eq!((e.uid, e.gid), (1000, 1001), "{}", e.display_path());
        assert_eq!(
            (e.uname.as_deref(), e.gname.as_deref()),
            (Some(&b"relic"[..]), Some(&b"archive"[..]))
        );
        assert_eq!(
            e.mtime,
            Some(T),
            "{}: nanosecond mtime from the pax header",
            e.display_path()
        );
    }
    assert_eq!(member(&ms, b"dir/caf\xe9").data, b"latin1\n");
    assert_eq!(member(&ms, long.as_bytes()).data, b"long name\n");
    // --sort=name stores "hardlink" first: it holds the data and the xattrs
    let h = member(&ms, b"dir/hardlink");
    assert_eq!(h.data, b"hello, world\n");
    let mut x: Vec<(&[u8], &[u8])> = h
        .entry
        .xattrs
        .iter()
        .map(|x| (x.name.as_slice(), x.value.as_slice()))
        .collect();
    x.sort();
    assert_eq!(
        x,
        vec![
            (&b"user.binary"[..], &b"\x00\x01\xff=\n"[..]),
            (&b"user.comment"[..], &b"relic fixture"[..])
        ]
    );
    let l = &member(&ms, b"dir/hello.txt").entry;
    assert_eq!(
        (l.kind, l.link_target.as_deref()),
        (EntryKind::HardLink, Some(&b"dir/hardlink"[..]))
    );
    let s = &member(&ms, b"dir/symlink").entry;
    assert_eq!(
        (s.kind, s.link_target.as_deref()),
        (EntryKind::Symlink, Some(&b"hello.txt"[..]))
    );
    let ll = &member(&ms, b"dir/longlink").entry;
    assert_eq!(
        ll.link_target.as_deref(),
        Some(format!("{LONG1}/{}", long2()).as_bytes())
    );
    assert_eq!(member(&ms, b"dir/fifo").entry.kind, EntryKind::Fifo);
    assert_eq!(member(&ms, b"dir/suid").entry.mode, 0o4755);
    assert_eq!(member(&ms, b"dir").entry.mode, 0o755);
    // GNU sparse 1.0 (the default of --format=posix --sparse); ext4 allocates 4 KiB blocks
    let sp = member(&ms, b"dir/sparse");
    assert_eq!(sp.entry.size, 262_144);
    sparse_expect(&sp.data, 262_144, &[(0, b"BEGIN"), (131_072, b"MIDDLE")]);
    assert_eq!(sp.holes, vec![(4096, 126_976), (135_168, 126_976)]);
}

#[test]
fn pax_sparse_00_and_01() {
    for f in ["sparse-0.0.tar", "sparse-0.1.tar"] {
        let (vol, ms) = read_ok(&fixture(f));
        assert_eq!(vol.variant, "pax");
        assert_eq!(ms.len(), 1, "{f}");
        let m = &ms[0];
        assert_eq!(
            m.entry.path, b"sparse",
            "{f}: the real name, not GNU's GNUSparseFile.%p one"
        );
        assert_eq!(m.entry.size, 262_144);
        sparse_expect(&m.data, 262_144, &[(0, b"BEGIN"), (131_072, b"MIDDLE")]);
        assert_eq!(m.holes, vec![(4096, 126_976), (135_168, 126_976)], "{f}");
        assert_eq!(m.entry.mtime, Some(T));
    }
}

#[test]
fn gnu_fixture() {
    let (vol, ms) = read_ok(&fixture("gnu.tar"));
    assert_eq!(vol.variant, "gnu");
    assert_eq!(vol.label.as_deref(), Some(&b"RELIC TEST VOLUME"[..]));
    assert_eq!(ms.len(), 11);
    for m in &ms {
        assert_eq!(
            (m.entry.uid, m.entry.gid),
            (3_000_000, 0),
            "base-256 uid of {}",
            m.entry.display_path()
        );
        assert_eq!(m.entry.uname.as_deref(), Some(&b"big"[..]));
    }
    let sp = member(&ms, b"g/sparse");
    assert_eq!(sp.entry.size, 393_216);
    let parts: Vec<(usize, Vec<u8>)> = (0..6)
        .map(|i| (i * 65536, format!("run{i}").into_bytes()))
        .collect();
    let parts: Vec<(usize, &[u8])> = parts.iter().map(|(o, t)| (*o, t.as_slice())).collect();
    sparse_expect(&sp.data, 393_216, &parts);
    // six data runs + GNU's terminator = 7 entries: 4 in the header, 3 in an extension block
    let holes: Vec<(u64, u64)> = (0..6).map(|i| (i * 65536 + 4096, 61440)).collect();
    assert_eq!(sp.holes, holes);
    let old = &member(&ms, b"g/old").entry;
    assert_eq!(
        old.mtime,
        Some(Timestamp::from_secs(-86400)),
        "negative base-256 mtime"
    );
    assert_eq!(
        member(&ms, b"g/null").entry.rdev,
        Some(Device { major: 1, minor: 3 })
    );
    assert_eq!(member(&ms, b"g/null").entry.kind, EntryKind::CharDevice);
    assert_eq!(
        member(&ms, b"g/loop0").entry.rdev,
        Some(Device { major: 7, minor: 0 })
    );
    assert_eq!(member(&ms, b"g/loop0").entry.kind, EntryKind::BlockDevice);
    let long = format!("g/{LONG1}/{}", long2());
    assert_eq!(
        member(&ms, long.as_bytes()).data,
        b"long name\n",
        "GNU 'L' long name"
    );
    let ll = &member(&ms, b"g/longlink").entry;
    assert_eq!(
        ll.link_target.as_deref(),
        Some(format!("{LONG1}/{}", long2()).as_bytes()),
        "GNU 'K' long link"
    );
    let h = &member(&ms, b"g/hardlink").entry;
    assert_eq!(
        (h.kind, h.link_target.as_deref()),
        (EntryKind::HardLink, Some(&b"g/file"[..]))
    );
    assert_eq!(member(&ms, b"g/file").data, b"gnu\n");
}

#[test]
fn ustar_and_v7_fixtures() {
    let (vol, ms) = read_ok(&fixture("ustar.tar"));
    assert_eq!(vol.variant, "ustar");
    let split = format!("u/{}/{}", "p".repeat(80), "n".repeat(90));
    assert_eq!(
        member(&ms, split.as_bytes()).data,
        b"split name\n",
        "prefix + name"
    );
    assert!(ms
        .iter()
        .all(|m| m.entry.mtime == Some(Timestamp::from_secs(1_234_567_890))));
    assert_eq!(
        member(&ms, b"u/hardlink").entry.link_target.as_deref(),
        Some(&b"u/file"[..])
    );
    assert_eq!(member(&ms, b"u/fifo").entry.kind, EntryKind::Fifo);
    assert_eq!(
        member(&ms, b"u/symlink").entry.link_target.as_deref(),
        Some(&b"file"[..])
    );

    let (vol, ms) = read_ok(&fixture("v7.tar"));
    assert_eq!(vol.variant, "v7");
    let kinds: Vec<(String, EntryKind)> = ms
        .iter()
        .map(|m| (m.entry.display_path(), m.entry.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("v".to_string(), EntryKind::Dir),
            ("v/file".to_string(), EntryKind::File),
            ("v/hardlink".to_string(), EntryKind::HardLink),
            ("v/sub".to_string(), EntryKind::Dir),
            ("v/sub/file".to_string(), EntryKind::File),
            ("v/symlink".to_string(), EntryKind::Symlink),
        ],
        "v7 directories are regular entries whose name ends in '/'"
    );
    assert_eq!(member(&ms, b"v/sub/file").data, b"sub\n");
    assert!(ms.iter().all(
        |m| m.entry.uname.is_none() && m.entry.mtime == Some(Timestamp::from_secs(500_000_000))
    ));
}

#[test]
fn incremental_dumpdir_is_a_directory() {
    let (vol, ms) = read_ok(&fixture("incremental.tar"));
    assert_eq!(vol.variant, "gnu");
    let kinds: Vec<(String, EntryKind)> = ms
        .iter()
        .map(|m| (m.entry.display_path(), m.entry.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("i".to_string(), EntryKind::Dir),
            ("i/sub".to_string(), EntryKind::Dir),
            ("i/file".to_string(), EntryKind::File),
            ("i/sub/file".to_string(), EntryKind::File),
        ]
    );
    assert_eq!(member(&ms, b"i/sub/file").data, b"sub\n");
    // GNU incremental headers carry atime and ctime in the old GNU fields
    assert!(ms.iter().all(|m| m.entry.ctime.is_some()));
}

#[test]
fn multivolume_continuation_is_a_clear_unsupported_error() {
    let (r, _) = read_hostile(&fixture("multivol-2.tar"));
    let e = r.expect_err("an 'M' volume cannot be read alone");
    assert_eq!((e.kind, e.offset), (ErrorKind::Unsupported, Some(0)));
    assert!(e.message.contains("multi-volume"), "{e}");
    // the first volume ends inside the file: truncated, like GNU tar's "Unexpected EOF"
    let (r, _) = read_hostile(&fixture("multivol-1.tar"));
    let e = r.expect_err("first volume is cut");
    assert_eq!((e.kind, e.offset), (ErrorKind::Truncated, Some(20480)));
    assert_eq!(e.entry.as_deref(), Some(&b"big"[..]));
}

#[test]
fn hostile_names_are_kept_for_the_extractor_to_refuse() {
    let (_, ms) = read_ok(&fixture("hostile.tar"));
    let got: Vec<(String, EntryKind, Option<String>)> = ms
        .iter()
        .map(|m| {
            (
                m.entry.display_path(),
                m.entry.kind,
                m.entry
                    .link_target
                    .as_ref()
                    .map(|t| String::from_utf8_lossy(t).into_owned()),
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        [
            (s("../x"), EntryKind::File, None),
            (s("/etc/x"), EntryKind::File, None),
            (s("link"), EntryKind::Symlink, Some(s("/tmp"))),
            (s("link/evil"), EntryKind::File, None),
            (s("up"), EntryKind::Symlink, Some(s(".."))),
            (s("up/evil2"), EntryKind::File, None),
            (s("hl"), EntryKind::HardLink, Some(s("../outside"))),
            (s("safe"), EntryKind::File, None),
        ]
    );
    assert!(
        relic_model::is_unsafe_path(&ms[0].entry.path)
            && relic_model::is_unsafe_path(&ms[1].entry.path)
    );
}

#[test]
fn pax_keywords_gnu_tar_does_not_write() {
    let (vol, ms) = read_ok(&fixture("pax-misc.tar"));
    assert_eq!(vol.variant, "pax");
    let x = &member(&ms, b"xattrs").entry;
    let mut xa: Vec<(&[u8], &[u8])> = x
        .xattrs
        .iter()
        .map(|x| (x.name.as_slice(), x.value.as_slice()))
        .collect();
    xa.sort();
    assert_eq!(
        xa,
        vec![
            (&b"user.a=b"[..], &[0u8, 1, 255][..]),
            (&b"user.plain"[..], &b"plain"[..])
        ]
    );
    assert_eq!(x.extra("vms.rfm"), Some(&[2u8][..]));
    assert_eq!(x.extra("vms.version"), Some(&[0u8, 3][..]));
    assert_eq!((x.dev, x.inode, x.nlink), (Some(2049), Some(131), 3));
    assert_eq!(
        x.mtime,
        Some(Timestamp::new(-2, 750_000_000)),
        "mtime=-1.25"
    );
    assert_eq!(x.atime, Some(Timestamp::new(1_000_000_001, 500_000_000)));
    assert_eq!(x.ctime, Some(Timestamp::new(1_000_000_002, 250_000_000)));
    assert_eq!(x.birth, Some(Timestamp::from_secs(999_999_999)));
    assert_eq!(
        x.uname.as_deref(),
        Some(&b"globaluser"[..]),
        "from the global header"
    );
    let b = &member(&ms, b"bigids").entry;
    assert_eq!((b.uid, b.gid), (4_000_000_000, 4_000_000_001));
    assert_eq!(b.uname, None, "an empty pax value deletes the global one");
    assert_eq!(b.gname.as_deref(), Some(&b"g"[..]));
    let name = [&b"nonutf8-"[..], &[0xff; 120]].concat();
    assert_eq!(
        member(&ms, &name).data,
        b"binary name\n",
        "hdrcharset=BINARY path"
    );
    assert_eq!(
        member(&ms, b"dev").entry.rdev,
        Some(Device {
            major: 3_000_000,
            minor: 5
        }),
        "SCHILY.devmajor"
    );
}

/// GNU tar's own `tar -tv` of each GNU-made fixture equals our reading of it.
#[test]
fn gnu_tar_lists_what_we_read() {
    for f in [
        "posix.tar",
        "gnu.tar",
        "ustar.tar",
        "v7.tar",
        "sparse-0.0.tar",
        "sparse-0.1.tar",
        "incremental.tar",
    ] {
        let (_, ms) = read_ok(&fixture(f));
        compare_listing(&fixture_dir().join(f), &ms);
    }
}

/// GNU tar extracts each GNU-made fixture into exactly what we read from it: bytes, holes,
/// modes, nanosecond times, links, devices, xattrs (and owners when running as root).
#[test]
fn gnu_tar_extracts_what_we_read() {
    let root = is_root();
    for f in [
        "posix.tar",
        "gnu.tar",
        "ustar.tar",
        "v7.tar",
        "sparse-0.0.tar",
        "sparse-0.1.tar",
        "incremental.tar",
    ] {
        if f == "gnu.tar" && !root {
            eprintln!("gnu.tar holds device nodes: extraction checked only as root");
            continue;
        }
        let (_, ms) = read_ok(&fixture(f));
        let dir = tempfile::tempdir().expect("tempdir");
        let archive = fixture_dir().join(f);
        let mut args = vec![
            "-xf",
            archive.to_str().expect("utf-8 path"),
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=user.*",
        ];
        if f == "incremental.tar" {
            args.push("--incremental");
        }
        gnu_tar(&args, dir.path());
        compare_tree(dir.path(), &ms, root, true);
    }
}
