//! relic against the independent builder and reader `fixtures/aix-backup/mkinode.py`
//! (written from the research note, sharing no code with relic):
//! - every fixture it built reads back as the listing it meant (`expected.json`), through
//!   the hostile medium, the volume sets included (a header cut by a volume end, the AIX 3+
//!   by-inode format continuing after a TS_TAPE in the middle of a file);
//! - relic's writer output, every variant and multi-volume, is listed by its Python reader
//!   exactly as the input tree says (skipped with a note when python3 is missing).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use relic_format_aix_backup::write::{open_writer, WriteOptions};
use relic_model::{Entry, EntryKind, ErrorKind, Timestamp, VolumeInfo};
use relic_plugin_sdk::testing::{write_all, Member};
use relic_plugin_sdk::Options;
use serde_json::{json, Value};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/aix-backup")
}

fn type_char(k: EntryKind) -> &'static str {
    match k {
        EntryKind::File => "f",
        EntryKind::Dir => "d",
        EntryKind::Symlink => "l",
        EntryKind::CharDevice => "c",
        EntryKind::BlockDevice => "b",
        EntryKind::Fifo => "p",
        EntryKind::HardLink => "h",
        EntryKind::Socket => "s",
    }
}

fn sha(data: &[u8]) -> String {
    sha16(data)
}

/// One listing line in mkinode.py's JSON form.
fn item(e: &Entry, data: &[u8]) -> Value {
    let mut v = json!({
        "path": String::from_utf8_lossy(&e.path),
        "type": type_char(e.kind),
        "mode": format!("{:04o}", e.mode),
        "uid": e.uid,
        "gid": e.gid,
        "size": if matches!(e.kind, EntryKind::File | EntryKind::Symlink) { e.size } else { 0 },
        "mtime": e.mtime.map(|t| t.secs).unwrap_or(0),
    });
    let o = v.as_object_mut().expect("object");
    match e.kind {
        EntryKind::File => {
            o.insert("sha256".into(), sha(data).into());
        }
        EntryKind::Symlink => {
            o.insert(
                "target".into(),
                String::from_utf8_lossy(e.link_target.as_deref().unwrap_or(b"")).into(),
            );
        }
        EntryKind::HardLink => {
            o.insert(
                "link".into(),
                String::from_utf8_lossy(e.link_target.as_deref().unwrap_or(b"")).into(),
            );
        }
        EntryKind::CharDevice | EntryKind::BlockDevice => {
            let d = e.rdev.expect("rdev");
            o.insert("rdev".into(), json!([d.major, d.minor]));
        }
        _ => {}
    }
    let mut acls: Vec<&str> = e.acls.iter().map(|a| a.kind.as_str()).collect();
    acls.sort();
    if !acls.is_empty() {
        o.insert("acls".into(), json!(acls));
    }
    v
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    v
}

fn listing(members: &[Member]) -> Vec<Value> {
    sorted(members.iter().map(|m| item(&m.entry, &m.data)).collect())
}

fn expected() -> BTreeMap<String, Vec<Value>> {
    let text = std::fs::read_to_string(dir().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn fixtures_read_as_their_builder_meant() {
    let exp = expected();
    for (name, want) in &exp {
        let members = if let Some(stem) = name.strip_suffix('*') {
            let mut vols: Vec<PathBuf> = std::fs::read_dir(dir().join("volumes"))
                .expect("volumes")
                .map(|e| e.expect("e").path())
                .filter(|p| {
                    p.to_string_lossy()
                        .contains(stem.trim_start_matches("volumes/"))
                })
                .collect();
            vols.sort();
            assert!(vols.len() >= 2, "{name}: a set");
            let bytes: Vec<Vec<u8>> = vols
                .iter()
                .map(|p| std::fs::read(p).expect("read"))
                .collect();
            read_medium(Box::new(SetMedium::hostile(&bytes)), opts())
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .1
        } else {
            let b = std::fs::read(dir().join(name)).expect("fixture");
            read_bytes(&b, opts())
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .1
        };
        assert_eq!(listing(&members), sorted(want.clone()), "{name}");
    }
    assert!(exp.len() >= 5);
}

#[test]
fn unsupported_record_types_are_named() {
    let b = std::fs::read(dir().join("unsupported-type13.bff")).expect("fixture");
    let e = read_bytes(&b, opts()).expect_err("type 13");
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert!(
        e.message
            .contains("unsupported record type 13 at offset 184"),
        "{e}"
    );
}

#[test]
fn a_volume_set_needs_all_its_volumes_in_order() {
    let vols: Vec<Vec<u8>> = (1..=4)
        .map(|i| std::fs::read(dir().join(format!("volumes/name-v2.vol{i}"))).expect("volume"))
        .collect();
    let e = read_medium(
        Box::new(SetMedium::hostile(&[vols[0].clone(), vols[2].clone()])),
        opts(),
    )
    .expect_err("order");
    assert!(
        e.message.contains("expected volume 2") && e.message.contains("found volume 3"),
        "{e}"
    );
    let e = read_medium(Box::new(SetMedium::hostile(&vols[..3])), opts()).expect_err("missing");
    assert!(e.message.contains("no volume 4"), "{e}");
    let b: Vec<Vec<u8>> = (1..=2)
        .map(|i| std::fs::read(dir().join(format!("volumes/aix3-inode.vol{i}"))).expect("volume"))
        .collect();
    let e = read_medium(Box::new(SetMedium::hostile(&b[..1])), opts()).expect_err("missing");
    assert!(e.message.contains("no volume 2"), "{e}");
    let e = read_medium(
        Box::new(SetMedium::hostile(&[b[0].clone(), b[0].clone()])),
        opts(),
    )
    .expect_err("volume 1 twice");
    assert!(e.message.contains("volume 2"), "{e}");
}

// ----------------------------------------------------------- relic's writer, Python's reader

fn python() -> bool {
    match std::process::Command::new("python3")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => true,
        _ => {
            eprintln!("python3 missing: skipping the independent reader");
            false
        }
    }
}

fn tree() -> Vec<Member> {
    let t = 1_650_000_000;
    let e = |p: &str, k: EntryKind, mode: u32| {
        let mut e = Entry::new(p.as_bytes().to_vec(), k);
        e.mode = mode;
        e.uid = 501;
        e.gid = 20;
        e.mtime = Some(Timestamp::from_secs(t));
        e
    };
    let f = |p: &str, data: &[u8]| {
        let mut x = e(p, EntryKind::File, 0o644);
        x.size = data.len() as u64;
        Member::new(x, data.to_vec())
    };
    let mut v = vec![
        Member::new(e(".", EntryKind::Dir, 0o755), vec![]),
        Member::new(e("src", EntryKind::Dir, 0o700), vec![]),
        f("src/main.c", b"int main(void) { return 0; }\n"),
        f(
            "src/big",
            &(0..70_000u32).map(|i| (i % 253) as u8).collect::<Vec<u8>>(),
        ),
        f("zero", b""),
    ];
    let mut a = f("a.txt", b"linked data\n");
    a.entry.nlink = 2;
    v.push(a);
    let mut h = e("src/b.txt", EntryKind::HardLink, 0o644);
    h.nlink = 2;
    h.link_target = Some(b"a.txt".to_vec());
    v.push(Member::new(h, vec![]));
    let mut s = e("lnk", EntryKind::Symlink, 0o777);
    s.link_target = Some(b"src/main.c".to_vec());
    s.size = 10;
    v.push(Member::new(s, vec![]));
    let mut c = e("tty", EntryKind::CharDevice, 0o600);
    c.rdev = Some(relic_model::Device { major: 5, minor: 3 });
    v.push(Member::new(c, vec![]));
    v.push(Member::new(e("pipe", EntryKind::Fifo, 0o600), vec![]));
    v
}

/// What a by-inode reader must list: every name of a multi-link file under its inode,
/// the first name (sorted) as the file.
fn by_inode_view(members: &[Member]) -> Vec<Member> {
    let mut out: Vec<Member> = members
        .iter()
        .filter(|m| m.entry.kind != EntryKind::HardLink)
        .cloned()
        .collect();
    for l in members
        .iter()
        .filter(|m| m.entry.kind == EntryKind::HardLink)
    {
        let t = l.entry.link_target.clone().expect("target");
        let (lo, hi) = if l.entry.path < t {
            (l.entry.path.clone(), t.clone())
        } else {
            (t.clone(), l.entry.path.clone())
        };
        let file = out.iter_mut().find(|m| m.entry.path == t).expect("target");
        file.entry.path = lo.clone();
        let mut link = l.clone();
        link.entry.path = hi;
        link.entry.link_target = Some(lo);
        out.push(link);
    }
    out
}

fn write_volumes(members: &[Member], opts: &[(&str, &str)], early: Option<u64>) -> Vec<Vec<u8>> {
    let mut o = Options::new();
    for (k, v) in opts {
        o.set(k, v);
    }
    let w = WriteOptions::from_options(&o).expect("options");
    let set = SetMedium::writing(early, 100);
    let shared = set.written.clone();
    let mut wr = open_writer(Box::new(set), w, Arc::new(relic_model::NullHost)).expect("writer");
    let vol = VolumeInfo {
        date: Some(Timestamp::from_secs(1_650_000_000)),
        ..VolumeInfo::default()
    };
    write_all(wr.as_mut(), &vol, members).expect("write");
    let v = shared.lock().expect("lock").clone();
    v
}

fn python_list(vols: &[Vec<u8>]) -> Vec<Value> {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut args = vec![
        dir().join("mkinode.py").to_string_lossy().into_owned(),
        "list".into(),
    ];
    for (i, v) in vols.iter().enumerate() {
        let p = tmp.path().join(format!("vol{}", i + 1));
        std::fs::write(&p, v).expect("write");
        args.push(p.to_string_lossy().into_owned());
    }
    let out = std::process::Command::new("python3")
        .args(&args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "mkinode.py list: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sorted(serde_json::from_slice(&out.stdout).expect("json"))
}

#[test]
fn the_independent_reader_lists_what_relic_wrote() {
    if !python() {
        return;
    }
    let t = tree();
    for (variant, early, rs) in [
        ("by-name", None, "51200"),
        ("by-name", Some(20_000), "512"),
        ("by-name-v2", None, "51200"),
        ("by-name-v2", Some(20_000), "512"),
        ("by-inode-v2", None, "51200"),
        ("by-inode-v2", Some(20_000), "512"),
        ("by-inode", None, "10240"),
        ("by-inode", Some(20_000), "1024"),
    ] {
        let vols = write_volumes(&t, &[("variant", variant), ("record-size", rs)], early);
        assert_eq!(
            vols.len() > 1,
            early.is_some(),
            "{variant}: {} volumes",
            vols.len()
        );
        let want = if variant.contains("inode") {
            by_inode_view(&t)
        } else {
            t.clone()
        };
        assert_eq!(python_list(&vols), listing(&want), "{variant} {early:?}");
    }
    // fixed-size volumes (floppies) too
    let vols = write_volumes(
        &t,
        &[("variant", "by-name-v2"), ("volume-size", "16k")],
        None,
    );
    assert!(vols.len() >= 5);
    assert_eq!(python_list(&vols), listing(&t));
}
