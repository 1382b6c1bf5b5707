//! IRIX dump and 4.4BSD/Linux dump: the real relic binary against Debian's dump/restore.
//! (Owned by the dump plugin.) Every test needs `restore` (Debian package `dump`) and prints
//! a note and passes when it is missing. Multi-volume sets go through the simh tape-image
//! container (capacity=1440k, volumes=PATTERN) and are unpacked to plain files for
//! `restore -M`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

fn have_restore() -> bool {
    let ok = Command::new("restore")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("restore (Debian package dump) absent: skipping");
    }
    ok
}

/// `restore ARGS -f INPUT` in `dir`, no questions asked.
fn restore_in(dir: &Path, args: &[&str], input: &Path) {
    let o = Command::new("restore")
        .args(args)
        .arg("-f")
        .arg(input)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("restore runs");
    assert!(
        o.status.success(),
        "restore {args:?} {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Names `restore -t` lists, escaped the way `relic list` prints them.
fn restore_names(input: &Path, multi: bool) -> BTreeSet<String> {
    let mut c = Command::new("restore");
    c.arg("-t");
    if multi {
        c.arg("-M");
    }
    let o = c
        .arg("-f")
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .expect("restore");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
        .split(|&b| b == b'\n')
        .filter_map(|l| {
            let tab = l.iter().position(|&b| b == b'\t')?;
            std::str::from_utf8(&l[..tab])
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()?;
            let p = &l[tab + 1..];
            Some(relic_model::listing::escape(
                p.strip_prefix(b"./").unwrap_or(p),
            ))
        })
        .collect()
}

fn relic_names(args: &[&std::ffi::OsStr]) -> BTreeSet<String> {
    let mut a = vec![os("list")];
    a.extend_from_slice(args);
    let o = relic(&a);
    o.ok();
    o.stdout.lines().map(|l| l.to_string()).collect()
}

const FIXTURES: &[&str] = &[
    "basic.dump",
    "basic-be.dump",
    "zlib.dump",
    "bzip2.dump",
    "lzo.dump",
    "xattr-block.dump",
    "4k-64k.dump",
    "level1.dump",
    "irix.dump",
    "ufs2.dump",
];

#[test]
fn relic_list_matches_restore_t_on_every_fixture() {
    if !have_restore() {
        return;
    }
    let dir = fixtures().join("dump");
    for f in FIXTURES {
        let p = dir.join(f);
        if *f == "ufs2.dump" {
            // Linux restore reads UFS2 only through -c; relic reads it directly
            assert_eq!(relic_names(&[p.as_os_str()]).len(), 3);
            continue;
        }
        assert_eq!(
            relic_names(&[p.as_os_str()]),
            restore_names(&p, false),
            "{f}"
        );
        // `relic list` answers from the directory phase (names only); the full read behind
        // `--json` gives the same names in the same order
        let names = relic(&[os("list"), p.as_os_str()]);
        names.ok();
        let full = relic(&[os("list"), os("--json"), p.as_os_str()]);
        full.ok();
        let full_paths: Vec<String> = full
            .stdout
            .lines()
            .map(|l| {
                let j: serde_json::Value = serde_json::from_str(l).expect("json line");
                j["path"].as_str().expect("path").to_string()
            })
            .collect();
        let name_paths: Vec<String> = names.stdout.lines().map(str::to_string).collect();
        assert_eq!(name_paths, full_paths, "{f}");
    }
}

#[test]
fn relic_extract_matches_restore_x() {
    if !have_restore() {
        return;
    }
    let probe = tempfile::tempdir().expect("tmp");
    let xattrs = xattrs_supported(probe.path());
    for f in [
        "basic.dump",
        "lzo.dump",
        "4k-64k.dump",
        "basic-be.dump",
        "level1.dump",
        "irix.dump",
    ] {
        let input = fixtures().join("dump").join(f);
        let ours = tempfile::tempdir().expect("tmp");
        let theirs = tempfile::tempdir().expect("tmp");
        relic(&[
            os("extract"),
            input.as_os_str(),
            os("-C"),
            ours.path().as_os_str(),
        ])
        .ok();
        restore_in(theirs.path(), &["-x", "-a"], &input);
        copy_root_metadata(ours.path(), theirs.path());
        let how = Compare {
            ns: false,
            xattrs,
            holes: true,
        };
        assert_same_tree(ours.path(), theirs.path(), &how);
    }
}

fn make_source(root: &Path, xattrs: bool) {
    build_rich_tree(root, xattrs);
    // something bigger than one 512-block header
    let big: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("dir/big.bin"), big).expect("write");
}

fn dir_to_dump_restores(format: &str, xattrs: bool) {
    let src = tempfile::tempdir().expect("tmp");
    let root = src.path().join("tree");
    make_source(&root, xattrs);
    let work = tempfile::tempdir().expect("tmp");
    let out = work.path().join("out.dump");
    relic(&[
        os("create"),
        root.as_os_str(),
        out.as_os_str(),
        os("--to"),
        os(format),
    ])
    .ok();
    // restore -t lists exactly our entries
    let listed = restore_names(&out, false);
    let ours = relic_names(&[out.as_os_str()]);
    assert_eq!(listed, ours, "{format}");
    assert_eq!(
        ours.len(),
        walk(&root).len(),
        "{format}: one listed name per source object"
    );
    let x = tempfile::tempdir().expect("tmp");
    restore_in(x.path(), &["-x", "-a"], &out);
    copy_root_metadata(&root, x.path());
    let how = Compare {
        ns: false,
        xattrs,
        holes: true,
    };
    assert_same_tree(&root, x.path(), &how);
}

#[test]
fn dir_to_irix_dump_to_restore_reproduces_the_tree() {
    if have_restore() {
        dir_to_dump_restores("irix-dump", false);
    }
}

#[test]
fn dir_to_bsd_dump_to_restore_reproduces_the_tree() {
    if have_restore() {
        let probe = tempfile::tempdir().expect("tmp");
        dir_to_dump_restores("bsd-dump", xattrs_supported(probe.path()));
    }
}

/// SIMH .tap images to the plain volume files `restore -M` reads (PREFIX001, ...).
fn simh_to_raw(tap: &Path, raw: &Path) {
    let d = std::fs::read(tap).expect("tap");
    let mut out = Vec::new();
    let mut i = 0;
    while i + 4 <= d.len() {
        let l = u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
        i += 4;
        if l == 0 || l == 0xffff_ffff {
            continue;
        }
        let n = (l & 0x00ff_ffff) as usize;
        out.extend_from_slice(&d[i..i + n]);
        i += n + (n & 1) + 4;
    }
    std::fs::write(raw, out).expect("raw");
}

#[test]
fn irix_dump_multi_volume_at_1440k_restores_with_restore_m() {
    if !have_restore() {
        return;
    }
    let src = tempfile::tempdir().expect("tmp");
    let root = src.path().join("tree");
    make_source(&root, false);
    let noise: Vec<u8> = (0..2_500_000u32)
        .map(|i| (i.wrapping_mul(2246822519) >> 11) as u8)
        .collect();
    std::fs::write(root.join("noise.bin"), &noise).expect("write");
    let work = tempfile::tempdir().expect("tmp");
    let first = work.path().join("set001.tap");
    let pattern = work.path().join("set%03d.tap");
    relic(&[
        os("create"),
        root.as_os_str(),
        first.as_os_str(),
        os("--to"),
        os("irix-dump"),
        os("--out-medium"),
        os("simh"),
        os("--capacity"),
        os("1440k"),
        os("--volumes"),
        pattern.as_os_str(),
    ])
    .ok();
    let mut n = 0;
    while work.path().join(format!("set{:03}.tap", n + 1)).exists() {
        n += 1;
        simh_to_raw(
            &work.path().join(format!("set{n:03}.tap")),
            &work.path().join(format!("vol{n:03}")),
        );
        let len = std::fs::metadata(work.path().join(format!("vol{n:03}")))
            .expect("vol")
            .len();
        assert!(len <= 1440 * 1024, "volume {n} holds {len} bytes");
    }
    assert!(n >= 3, "{n} volumes");
    // relic reads the set back
    let listed = relic_names(&[first.as_os_str(), os("--volumes"), pattern.as_os_str()]);
    assert_eq!(listed, restore_names(&work.path().join("vol"), true));
    let x = tempfile::tempdir().expect("tmp");
    restore_in(x.path(), &["-x", "-a", "-M"], &work.path().join("vol"));
    copy_root_metadata(&root, x.path());
    assert_same_tree(
        &root,
        x.path(),
        &Compare {
            ns: false,
            xattrs: false,
            holes: true,
        },
    );
}

#[test]
fn irix_dump_levels_0_and_1_with_dumpdates() {
    if !have_restore() {
        return;
    }
    let src = tempfile::tempdir().expect("tmp");
    let root = src.path().join("tree");
    std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
    std::fs::create_dir_all(root.join("quiet")).expect("mkdir");
    std::fs::write(root.join("a/b/keep.txt"), b"unchanged\n").expect("w");
    std::fs::write(root.join("a/edit.txt"), b"version 1\n").expect("w");
    std::fs::write(root.join("quiet/still.txt"), b"nothing happens here\n").expect("w");
    std::fs::write(root.join("gone.txt"), b"deleted later\n").expect("w");
    // ctimes of the tree must fall before the level 0 date (whole seconds)
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let work = tempfile::tempdir().expect("tmp");
    let dd = work.path().join("dumpdates");
    let l0 = work.path().join("l0.dump");
    let l1 = work.path().join("l1.dump");
    let create = |out: &Path, level: &str| {
        relic(&[
            os("create"),
            root.as_os_str(),
            out.as_os_str(),
            os("--to"),
            os("irix-dump"),
            os("--level"),
            os(level),
            os("--dumpdates"),
            dd.as_os_str(),
            os("--filesystem"),
            os("/test/tree"),
        ])
        .ok();
    };
    create(&l0, "0");
    let text = std::fs::read_to_string(&dd).expect("dumpdates after level 0");
    assert!(text.starts_with("/test/tree       0 "), "{text}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(root.join("a/edit.txt"), b"version 2, longer\n").expect("w");
    std::fs::write(root.join("a/new.txt"), b"new\n").expect("w");
    std::fs::remove_file(root.join("gone.txt")).expect("rm");
    create(&l1, "1");
    let text = std::fs::read_to_string(&dd).expect("dumpdates after level 1");
    assert_eq!(text.lines().count(), 2, "{text}");
    // level 1 holds the changes, the directories leading to them and the root (whose
    // listing no longer names gone.txt)
    let want: BTreeSet<String> = [".", "a", "a/edit.txt", "a/new.txt"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(restore_names(&l1, false), want);
    assert_eq!(relic_names(&[l1.as_os_str()]), want);
    // level 0 then level 1 on top gives the new tree (extraction does not delete)
    let x = tempfile::tempdir().expect("tmp");
    restore_in(x.path(), &["-x", "-a"], &l0);
    restore_in(x.path(), &["-x", "-a", "-u"], &l1);
    std::fs::remove_file(x.path().join("gone.txt")).expect("level 0 had it");
    copy_root_metadata(&root, x.path());
    assert_same_tree(
        &root,
        x.path(),
        &Compare {
            ns: false,
            xattrs: false,
            holes: true,
        },
    );
}

/// `relic dumpdates FILE` is a command the dump plugin declares; the driver only dispatches
/// it. The report lists the newest dump of each level per file system, newest first, and a
/// real dumpdates file written by `--dumpdates` reads back.
#[test]
fn dumpdates_command_prints_the_w_report() {
    let t = tempfile::tempdir().expect("tmp");
    let dd = t.path().join("dumpdates");
    std::fs::write(
        &dd,
        "/dev/dsk/dks0d1s0 0 Sat Nov 21 23:29:07 2026\n/dev/dsk/dks0d1s0 1 Sun Nov 22 01:00:00 2026\n/dev/usr         0 Mon Jan  5 10:00:00 1998\n",
    )
    .expect("w");
    let o = relic(&[os("dumpdates"), dd.as_os_str()]);
    o.ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], "Last dump(s) done (Dump '>' file systems):");
    assert!(
        lines[1].contains("/dev/dsk/dks0d1s0")
            && lines[1].contains("Level 1, Date Sun Nov 22 01:00:00 2026"),
        "{}",
        o.stdout
    );
    assert!(
        lines[2].contains("Level 0, Date Sat Nov 21 23:29:07 2026"),
        "{}",
        o.stdout
    );
    assert!(
        lines[3].contains("/dev/usr") && lines[3].contains("Mon Jan  5 10:00:00 1998"),
        "{}",
        o.stdout
    );

    // one written by a real level-0 dump
    let src = t.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("f"), b"x").expect("w");
    let dd2 = t.path().join("dumpdates2");
    let out = t.path().join("l0.dump");
    relic(&[
        os("create"),
        src.as_os_str(),
        out.as_os_str(),
        os("--to"),
        os("irix-dump"),
        os("--level"),
        os("0"),
        os("--dumpdates"),
        dd2.as_os_str(),
    ])
    .ok();
    let o = relic(&[os("dumpdates"), dd2.as_os_str()]);
    o.ok();
    assert!(
        o.stdout.contains("Last dump: Level 0, Date"),
        "{}",
        o.stdout
    );

    let bad = relic(&[os("no-such-command"), dd.as_os_str()]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("plugin commands: dumpdates"),
        "{}",
        bad.stderr
    );
}
