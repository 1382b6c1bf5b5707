//! OpenVMS BACKUP save sets: the real relic binary against the corpus ground truth.
//! (Owned by the vms-backup plugin.)
//!
//! - every corpus save set extracts (default `vms-records=auto`) to files whose sha256 equal
//!   `expected/*.ref.json` (text where the reference has a text form, raw otherwise), with
//!   `raw` giving every raw sha256; `relic list -l` of each is snapshotted;
//! - the synthetic SIMH tape `synthetic/ansi3.tap` is recognised as simh + vms-backup by
//!   `relic list` alone, and lists and extracts its three save sets;
//! - a corpus save set with one block zeroed extracts identically through XOR repair (with a
//!   warning), two bad blocks in one group fail with exit 3 naming the block;
//! - dir -> vms-backup (ODS-5 names) -> extract reproduces the tree; VMS -> VMS through
//!   `relic convert` keeps every raw byte.
//!
//! The corpus is `$RELIC_CORPUS/vms` or `../shared/corpus/vms`; without it those tests print
//! "corpus absent: skipping" and pass.

use std::path::{Path, PathBuf};

use crate::util::*;

fn corpus() -> Option<PathBuf> {
    let root = std::env::var_os("RELIC_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    let dir = root.join("vms");
    if dir.join("expected").is_dir() {
        Some(dir)
    } else {
        eprintln!("corpus absent: skipping ({} not found)", dir.display());
        None
    }
}

fn plugin_present() {
    assert!(
        plugin_lib("relic_plugin_vms_backup").exists(),
        "{} is missing: build relic-plugin-vms-backup into this target (it is a dev-dependency of relic-tests)",
        plugin_lib("relic_plugin_vms_backup").display()
    );
}

fn sha256_file(p: &Path) -> String {
    let o = run("sha256sum", &[p.as_os_str()]);
    assert_eq!(o.code, 0, "sha256sum {}", p.display());
    o.stdout
        .split_whitespace()
        .next()
        .expect("hash")
        .to_string()
}

fn refs(dir: &Path) -> Vec<serde_json::Value> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("expected"))
        .expect("expected/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".ref.json"))
        .collect();
    v.sort();
    v.iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).expect("read")).expect("json"))
        .collect()
}

/// `[A.B]NAME.TYPE;V` -> `A/B/NAME.TYPE` (what relic extracts for the newest version).
fn model_path(name: &str) -> String {
    let (dir, rest) = name.trim_start_matches('[').split_once(']').expect("spec");
    let file = rest.rsplit_once(';').map(|(f, _)| f).unwrap_or(rest);
    let file = file.strip_suffix('.').unwrap_or(file);
    let mut parts: Vec<&str> = dir.split('.').filter(|c| *c != "000000").collect();
    parts.push(file);
    parts.join("/")
}

/// Check an extracted save set against its reference.
fn check_tree(out: &Path, j: &serde_json::Value, text: bool) {
    let mut seen = std::collections::HashSet::new();
    for f in j["files"].as_array().expect("files") {
        let name = f["name"].as_str().expect("name");
        let mut p = model_path(name);
        if f["brh_flags"].as_u64() == Some(2) {
            let d = out.join(p.strip_suffix(".DIR").expect("dir file"));
            assert!(d.is_dir(), "{} is not a directory", d.display());
            continue;
        }
        if !seen.insert(p.clone()) {
            p = format!("{p};{}", name.rsplit(';').next().expect("version"));
        }
        let want = match (text, f["text_sha256"].as_str()) {
            (true, Some(t)) => t,
            _ => f["raw_sha256"].as_str().expect("raw"),
        };
        assert_eq!(sha256_file(&out.join(&p)), want, "{}: {p}", j["file"]);
    }
}

#[test]
fn corpus_save_sets_extract_to_the_ground_truth() {
    plugin_present();
    let Some(dir) = corpus() else { return };
    let t = tempfile::tempdir().expect("tmp");
    for (i, j) in refs(&dir).iter().enumerate() {
        let input = dir.join(j["file"].as_str().expect("file"));
        for (mode, text) in [("auto", true), ("raw", false)] {
            let out = t.path().join(format!("{i}-{mode}"));
            let o = relic(&[
                os("extract"),
                input.as_os_str(),
                os("-C"),
                out.as_os_str(),
                os("--vms-records"),
                os(mode),
            ]);
            o.ok();
            check_tree(&out, j, text);
        }
    }
}

#[test]
fn corpus_listings() {
    plugin_present();
    let Some(dir) = corpus() else { return };
    for j in refs(&dir) {
        let name = j["file"].as_str().expect("file");
        let o = relic(&[os("list"), os("-l"), dir.join(name).as_os_str()]);
        o.ok();
        // every file of the reference is listed (directories as directories)
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(
            lines.len(),
            j["files"].as_array().expect("files").len(),
            "{name}"
        );
        insta::assert_snapshot!(format!("vms-corpus__{name}"), o.stdout);
    }
}

#[test]
fn the_synthetic_ansi_tape_is_detected_listed_and_extracted() {
    plugin_present();
    let Some(dir) = corpus() else { return };
    let tap = dir.join("synthetic/ansi3.tap");
    let o = relic(&[os("info"), tap.as_os_str()]);
    o.ok();
    assert!(o.stdout.contains("format:     vms-backup"), "{}", o.stdout);
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with("container:") && l.contains("simh")),
        "{}",
        o.stdout
    );
    let o = relic(&[os("list"), tap.as_os_str()]);
    o.ok();
    let tops: Vec<&str> = o.stdout.lines().filter(|l| !l.contains('/')).collect();
    assert_eq!(tops, ["A1C032.A", "VAXFMS024.A", "THAI071.A"]);
    let t = tempfile::tempdir().expect("tmp");
    relic(&[
        os("extract"),
        tap.as_os_str(),
        os("-C"),
        t.path().as_os_str(),
    ])
    .ok();
    let all = refs(&dir);
    for (top, file) in [
        ("A1C032.A", "a1032__a1c032.a"),
        ("VAXFMS024.A", "vaxfms024__vaxfms024.a"),
        ("THAI071.A", "thai071__thai071.a"),
    ] {
        let j = all.iter().find(|j| j["file"] == file).expect("ref");
        check_tree(&t.path().join(top), j, true);
    }
    // one save set chosen by number: no directory of its name then
    let one = t.path().join("one");
    relic(&[
        os("extract"),
        tap.as_os_str(),
        os("-C"),
        one.as_os_str(),
        os("--saveset"),
        os("2"),
    ])
    .ok();
    let j = all
        .iter()
        .find(|j| j["file"] == "vaxfms024__vaxfms024.a")
        .expect("ref");
    check_tree(&one, j, true);
}

#[test]
fn a_zeroed_block_is_repaired_and_two_are_an_error() {
    plugin_present();
    let Some(dir) = corpus() else { return };
    let j = refs(&dir)
        .into_iter()
        .find(|j| j["file"] == "dcpsvax022__dcpsvax022.c")
        .expect("ref");
    let t = tempfile::tempdir().expect("tmp");
    let mut data = std::fs::read(dir.join("dcpsvax022__dcpsvax022.c")).expect("sample");
    let bs = 32256;
    data[6 * bs..7 * bs].fill(0);
    let damaged = t.path().join("damaged.c");
    std::fs::write(&damaged, &data).expect("write");
    let out = t.path().join("out");
    let o = relic(&[
        os("extract"),
        damaged.as_os_str(),
        os("-C"),
        out.as_os_str(),
    ]);
    o.ok();
    assert!(
        o.stderr
            .contains("block 7 was damaged or missing and was rebuilt"),
        "{}",
        o.stderr
    );
    check_tree(&out, &j, true);
    // a second bad block in the same group (blocks 1-10)
    data[8 * bs + 1000] ^= 1;
    std::fs::write(&damaged, &data).expect("write");
    let o = relic(&[os("list"), damaged.as_os_str()]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("block 7, 9"), "{}", o.stderr);
    // with salvage the other groups' files still come out
    let o = relic(&[os("list"), damaged.as_os_str(), os("--salvage")]);
    assert_eq!(o.code, 0, "{o:?}");
}

#[test]
fn dir_to_save_set_and_back_is_identical() {
    plugin_present();
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("Dir.With.Dots/sub")).expect("mkdir");
    std::fs::write(src.join("readme.txt"), b"hello\nVMS\n").expect("w");
    std::fs::write(src.join("Dir.With.Dots/no newline"), b"x").expect("w");
    std::fs::write(
        src.join("Dir.With.Dots/sub/bin.dat"),
        (0..5000u32).map(|i| (i % 256) as u8).collect::<Vec<_>>(),
    )
    .expect("w");
    std::fs::write(src.join("empty"), b"").expect("w");
    std::fs::set_permissions(
        src.join("readme.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .expect("chmod");
    let bck = t.path().join("tree.bck");
    relic(&[
        os("create"),
        src.as_os_str(),
        bck.as_os_str(),
        os("--to"),
        os("vms-backup"),
        os("--ods5"),
    ])
    .ok();
    let out = t.path().join("out");
    relic(&[os("extract"), bck.as_os_str(), os("-C"), out.as_os_str()]).ok();
    assert_same_tree(
        &src,
        &out,
        &Compare {
            ns: false,
            xattrs: false,
            holes: false,
        },
    );
    let o = relic(&[os("list"), bck.as_os_str()]);
    o.ok();
    assert!(
        o.stdout.contains("Dir.With.Dots/sub/bin.dat"),
        "{}",
        o.stdout
    );
}

#[test]
fn vms_to_vms_through_convert_keeps_raw_bytes() {
    plugin_present();
    let Some(dir) = corpus() else { return };
    let j = refs(&dir)
        .into_iter()
        .find(|j| j["file"] == "thai071__thai071.a")
        .expect("ref");
    let t = tempfile::tempdir().expect("tmp");
    let copy = t.path().join("copy.bck");
    relic(&[
        os("convert"),
        dir.join("thai071__thai071.a").as_os_str(),
        copy.as_os_str(),
        os("--to"),
        os("vms-backup"),
        os("--vms-records"),
        os("raw"),
        os("--block-size"),
        os("8192"),
    ])
    .ok();
    let out = t.path().join("out");
    relic(&[
        os("extract"),
        copy.as_os_str(),
        os("-C"),
        out.as_os_str(),
        os("--vms-records"),
        os("raw"),
    ])
    .ok();
    check_tree(&out, &j, false);
    let o = relic(&[os("info"), copy.as_os_str()]);
    assert!(o.stdout.contains("written by relic"), "{}", o.stdout);
}

#[test]
fn a_save_set_spans_plain_file_volumes_by_pattern() {
    plugin_present();
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    std::fs::create_dir_all(src.join("d")).expect("mkdir");
    let big: Vec<u8> = (0..400_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(src.join("d/big.bin"), &big).expect("w");
    std::fs::write(src.join("notes.txt"), b"one\ntwo\n").expect("w");
    let pattern = t.path().join("set%02d.bck");
    relic(&[
        os("create"),
        src.as_os_str(),
        pattern.as_os_str(),
        os("--to"),
        os("vms-backup"),
        os("--ods5"),
        os("--block-size"),
        os("8192"),
        os("--volume-size"),
        os("128k"),
    ])
    .ok();
    for n in 1..=3 {
        let v = t.path().join(format!("set{n:02}.bck"));
        // the early-warning size, or one block more when an XOR block reached it
        let n = std::fs::metadata(&v).expect("volume").len();
        assert!(n == 128 * 1024 || n == 136 * 1024, "{}: {n}", v.display());
    }
    let out = t.path().join("out");
    relic(&[
        os("extract"),
        pattern.as_os_str(),
        os("-C"),
        out.as_os_str(),
    ])
    .ok();
    assert_same_tree(
        &src,
        &out,
        &Compare {
            ns: false,
            xattrs: false,
            holes: false,
        },
    );
    // volume 1 alone: the reader says the set is cut or goes on, and fails on the lost data
    let o = relic(&[os("list"), t.path().join("set01.bck").as_os_str()]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(o.stderr.contains("continues on volume 2"), "{}", o.stderr);
}
