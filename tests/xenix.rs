//! XENIX backup (and the V7 dump family): the real relic binary against the independent
//! builder's fixtures, and dir -> xenix-backup (512 and 1024 blocks, multi-volume at 360k)
//! -> relic extract, which must reproduce the tree minus the losses relic reports; the same
//! output extracted by the independent builder (`fixtures/xenix-backup/builder.py read`)
//! must agree.
//!
//! Needs the xenix-backup plugin library in the test's deps directory:
//! `cargo build -p relic-plugin-xenix-backup` with the same target directory.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::util::*;

fn xenix_plugin_present() -> bool {
    let p = plugin_lib("relic_plugin_xenix_backup");
    if !p.exists() {
        eprintln!(
            "note: {} is missing (build it with `cargo build -p relic-plugin-xenix-backup`): skipping",
            p.display()
        );
    }
    p.exists()
}

fn python3() -> bool {
    let ok = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("note: python3 absent: skipping the independent reader");
    }
    ok
}

fn xenix_fixtures() -> PathBuf {
    fixtures().join("xenix-backup")
}

/// The rich tree, plus a 1 MB file so a dump needs several 360k floppies.
fn source(root: &Path, big: bool) {
    build_rich_tree(root, false);
    if big {
        let data: Vec<u8> = (0..1_000_000u32)
            .map(|i| (i * 7 + (i >> 11)) as u8)
            .collect();
        std::fs::write(root.join("dir/bigfile"), data).expect("write");
        let o = run(
            "touch",
            &[
                os("-h"),
                os("-d"),
                os("@1600000000"),
                root.join("dir/bigfile").as_os_str(),
                root.join("dir").as_os_str(),
            ],
        );
        assert_eq!(o.code, 0, "{o:?}");
    }
}

/// `src` minus what a XENIX backup cannot hold: symlinks, and names over 14 bytes (with
/// everything below them). Parent directories keep the times of the source.
fn expected_tree(src: &Path, dst: &Path) {
    let o = run("cp", &[os("-a"), src.as_os_str(), dst.as_os_str()]);
    assert_eq!(o.code, 0, "{o:?}");
    let mut parents = vec![PathBuf::from(".")];
    for (rel, meta) in walk(dst) {
        let name_len = rel.file_name().map(|n| n.len()).unwrap_or(0);
        if meta.file_type().is_symlink() || name_len > 14 {
            let p = dst.join(&rel);
            if !p.exists() && !meta.file_type().is_symlink() {
                continue; // already gone with its parent
            }
            if meta.is_dir() {
                std::fs::remove_dir_all(&p).expect("rm -r");
            } else {
                std::fs::remove_file(&p).expect("rm");
            }
            if let Some(parent) = rel.parent() {
                parents.push(parent.to_path_buf());
            }
        }
    }
    for p in parents {
        let o = run(
            "touch",
            &[
                os("-h"),
                os("-r"),
                src.join(&p).as_os_str(),
                dst.join(&p).as_os_str(),
            ],
        );
        assert_eq!(o.code, 0, "{o:?}");
    }
}

fn cmp() -> Compare {
    Compare {
        ns: false,
        xattrs: false,
        holes: true,
    }
}

fn check_loss_report(stderr: &str) {
    for line in [
        "name too long for the target",
        "entry kind the target cannot hold",
        "sub-second time precision",
    ] {
        assert!(
            stderr.contains(line),
            "loss report lacks '{line}':\n{stderr}"
        );
    }
}

fn dir_round_trip(block_size: &str) {
    if !xenix_plugin_present() {
        return;
    }
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    source(&src, false);
    let want = t.path().join("want");
    expected_tree(&src, &want);
    let dump = t.path().join("out.dump");
    let o = relic(&[
        os("create"),
        src.as_os_str(),
        dump.as_os_str(),
        os("--to"),
        os("xenix-backup"),
        os("--block-size"),
        os(block_size),
    ]);
    o.ok();
    check_loss_report(&o.stderr);
    let info = relic(&[os("info"), dump.as_os_str()]);
    info.ok();
    assert!(info.stdout.contains("xenix-backup"), "{}", info.stdout);
    assert!(
        info.stdout.contains(&format!("intel-short-{block_size}")),
        "{}",
        info.stdout
    );
    let out = t.path().join("out");
    relic(&[os("extract"), dump.as_os_str(), os("-C"), out.as_os_str()]).ok();
    assert_same_tree(&want, &out, &cmp());
    // the independent reader extracts the same tree from relic's output
    if python3() {
        let ind = t.path().join("independent");
        let script = xenix_fixtures().join("builder.py");
        let o = run(
            "python3",
            &[
                script.as_os_str(),
                os("read"),
                os("--extract"),
                ind.as_os_str(),
                dump.as_os_str(),
            ],
        );
        assert_eq!(o.code, 0, "builder.py read: {}", o.stderr);
        assert_same_tree(&want, &ind, &cmp());
    }
}

#[test]
fn dir_to_xenix_512_and_back_minus_the_reported_losses() {
    dir_round_trip("512");
}

#[test]
fn dir_to_xenix_1024_and_back_minus_the_reported_losses() {
    dir_round_trip("1024");
}

#[test]
fn multi_volume_on_360k_floppies() {
    if !xenix_plugin_present() {
        return;
    }
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    source(&src, true);
    let want = t.path().join("want");
    expected_tree(&src, &want);
    let pattern = t.path().join("floppy.%03d");
    let o = relic(&[
        os("create"),
        src.as_os_str(),
        pattern.as_os_str(),
        os("--to"),
        os("xenix-backup"),
        os("--volume-size"),
        os("360k"),
    ]);
    o.ok();
    let vols: Vec<PathBuf> = (1..)
        .map(|i| t.path().join(format!("floppy.{i:03}")))
        .take_while(|p| p.exists())
        .collect();
    assert!(vols.len() >= 3, "{} volumes: {}", vols.len(), o.stderr);
    for v in &vols[..vols.len() - 1] {
        assert_eq!(
            std::fs::metadata(v).expect("volume").len(),
            368_640,
            "{} is a full 360k floppy",
            v.display()
        );
    }
    // read back by pattern, and by listing the volumes
    let out = t.path().join("out");
    relic(&[
        os("extract"),
        pattern.as_os_str(),
        os("-C"),
        out.as_os_str(),
    ])
    .ok();
    assert_same_tree(&want, &out, &cmp());
    let mut args = vec![os("list"), vols[0].as_os_str()];
    args.extend(vols[1..].iter().map(|v| v.as_os_str()));
    let l = relic(&args);
    l.ok();
    assert!(l.stdout.lines().any(|x| x == "dir/bigfile"), "{}", l.stdout);
    // the first volume alone names the missing one
    let l = relic(&[os("list"), vols[0].as_os_str()]);
    assert_eq!(l.code, 3, "{l:?}");
    assert!(l.stderr.contains("volume 2"), "{}", l.stderr);
    // the independent reader follows the set too
    if python3() {
        let ind = t.path().join("independent");
        let script = xenix_fixtures().join("builder.py");
        let mut a = vec![
            script.as_os_str(),
            os("read"),
            os("--extract"),
            ind.as_os_str(),
        ];
        a.extend(vols.iter().map(|v| v.as_os_str()));
        let o = run("python3", &a);
        assert_eq!(o.code, 0, "builder.py read: {}", o.stderr);
        assert_same_tree(&want, &ind, &cmp());
    }
}

#[test]
fn strict_refuses_and_leaves_no_output() {
    if !xenix_plugin_present() {
        return;
    }
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    source(&src, false);
    let dump = t.path().join("out.dump");
    let o = relic(&[
        os("create"),
        src.as_os_str(),
        dump.as_os_str(),
        os("--to"),
        os("xenix-backup"),
        os("--strict"),
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("--strict"), "{}", o.stderr);
    assert!(!dump.exists(), "no output after a refused run");
}

#[test]
fn the_independent_fixtures_list_and_extract() {
    if !xenix_plugin_present() {
        return;
    }
    let dir = xenix_fixtures();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let t = tempfile::tempdir().expect("tmp");
    for (name, e) in expected.as_object().expect("object") {
        let vols: Vec<PathBuf> = e["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .map(|v| dir.join(v.as_str().expect("name")))
            .collect();
        let mut args = vec![os("list")];
        args.extend(vols.iter().map(|v| v.as_os_str()));
        let l = relic(&args);
        l.ok();
        assert!(l.stderr.is_empty(), "{name}: {}", l.stderr);
        let out = t.path().join(name);
        let mut args = vec![os("extract")];
        args.extend(vols.iter().map(|v| v.as_os_str()));
        args.extend([os("-C"), out.as_os_str()]);
        relic(&args).ok();
        for rec in e["entries"].as_array().expect("entries") {
            let names: Vec<String> = rec["names"]
                .as_array()
                .expect("names")
                .iter()
                .map(|n| n.as_str().expect("s").to_string())
                .collect();
            for n in &names {
                // the builder writes Latin-1 names as text; on disk and in relic's listing
                // they are bytes (shown escaped)
                let bytes: Vec<u8> = n.chars().map(|c| c as u32 as u8).collect();
                let shown = relic_model::listing::escape(&bytes);
                assert!(
                    l.stdout.lines().any(|x| x == shown),
                    "{name}: {shown} not listed:\n{}",
                    l.stdout
                );
                let p = out.join(OsStr::from_bytes(&bytes));
                let meta = std::fs::symlink_metadata(&p)
                    .unwrap_or_else(|err| panic!("{name}: {}: {err}", p.display()));
                let mode = rec["mode"].as_u64().expect("mode");
                assert_eq!(u64::from(meta.mode() & 0o7777), mode, "{name}: {n} mode");
                assert_eq!(
                    meta.mtime(),
                    rec["mtime"].as_i64().expect("mtime"),
                    "{name}: {n} mtime"
                );
                assert_eq!(
                    u64::from(meta.uid()),
                    rec["uid"].as_u64().expect("uid"),
                    "{name}: {n}"
                );
                if let Some(h) = rec.get("sha256") {
                    let s = run("sha256sum", &[p.as_os_str()]);
                    assert!(
                        s.stdout.starts_with(h.as_str().expect("hash")),
                        "{name}: {n} contents"
                    );
                    assert_eq!(
                        meta.len(),
                        rec["size"].as_u64().expect("size"),
                        "{name}: {n}"
                    );
                    let runs: Vec<(u64, u64)> = rec["data"]
                        .as_array()
                        .expect("runs")
                        .iter()
                        .map(|r| (r[0].as_u64().expect("o"), r[1].as_u64().expect("l")))
                        .collect();
                    // holes stay holes (the fixtures' runs are whole 512/1024-byte blocks,
                    // the file system's may be coarser: data must lie inside the mapped runs)
                    for (o, len) in data_map(&p) {
                        for page in (o / 4096 * 4096..o + len).step_by(4096) {
                            assert!(
                                runs.iter()
                                    .any(|(ro, rl)| page < ro + rl && *ro < page + 4096),
                                "{name}: {n}: data at {page} where the dump has a hole"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// V7 68k dumps with int fields share their header prefix and magic with 4.3BSD/IRIX dumps;
/// with both plugins loaded, every dump-family fixture must go to its own format.
/// Regression: the IRIX 60011 fixture was taken for xenix-backup.
#[test]
fn dump_and_xenix_fixtures_are_told_apart() {
    let mut seen = 0;
    for (dir, want) in [("dump", None), ("xenix-backup", Some("xenix-backup"))] {
        let mut files: Vec<_> = std::fs::read_dir(fixtures().join(dir))
            .expect("fixtures")
            .map(|e| e.expect("e").path())
            .collect();
        files.sort();
        for f in files
            .into_iter()
            .filter(|f| f.extension().is_some_and(|x| x == "dump"))
        {
            let o = relic(&[os("info"), f.as_os_str()]);
            o.ok();
            let format = o
                .stdout
                .lines()
                .find(|l| l.starts_with("format:"))
                .expect("a format line")
                .to_string();
            match want {
                Some(w) => assert!(format.contains(w), "{}: {format}", f.display()),
                None => assert!(
                    format.contains("bsd-dump") || format.contains("irix-dump"),
                    "{}: {format}",
                    f.display()
                ),
            }
            seen += 1;
        }
    }
    assert!(seen >= 15, "only {seen} fixtures checked");
}
