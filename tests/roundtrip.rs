//! dir -> tar -> dir: the tree that comes back must be identical (content, holes, modes,
//! ns mtimes, symlinks, hard links, fifos, long and non-UTF-8 names, xattrs), and
//! `relic verify` must agree, and disagree when something changes.

use crate::util::*;

fn roundtrip(format: &str) {
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    let out = t.path().join("out");
    let xattrs = xattrs_supported(t.path());
    if !xattrs {
        eprintln!(
            "note: no user xattrs on {}, not testing them",
            t.path().display()
        );
    }
    build_rich_tree(&src, xattrs);
    let tarball = t.path().join("a.tar");
    relic(&[
        os("create"),
        src.as_os_str(),
        tarball.as_os_str(),
        os("--to"),
        os("tar"),
        os("--format"),
        os(format),
    ])
    .ok();
    relic(&[
        os("extract"),
        tarball.as_os_str(),
        os("-C"),
        out.as_os_str(),
    ])
    .ok();
    let ns = format == "pax";
    assert_same_tree(
        &src,
        &out,
        &Compare {
            ns,
            xattrs: xattrs && format == "pax",
            holes: true,
        },
    );
    let v = relic(&[os("verify"), src.as_os_str(), tarball.as_os_str()]);
    assert_eq!(v.code, 0, "verify dir vs tar: {v:?}");
}

#[test]
fn dir_tar_dir_pax_is_identical() {
    roundtrip("pax");
}

#[test]
fn dir_tar_dir_gnu_is_identical_to_the_second() {
    roundtrip("gnu");
}

#[test]
fn verify_reports_a_changed_byte_and_exits_1() {
    let t = tempfile::tempdir().expect("tmp");
    let a = t.path().join("a");
    std::fs::create_dir(&a).expect("mkdir");
    std::fs::write(a.join("f"), b"one").expect("w");
    let tarball = t.path().join("a.tar");
    relic(&[
        os("create"),
        a.as_os_str(),
        tarball.as_os_str(),
        os("--to"),
        os("tar"),
    ])
    .ok();
    std::fs::write(a.join("f"), b"two").expect("w");
    std::fs::write(a.join("g"), b"new").expect("w");
    let v = relic(&[os("verify"), a.as_os_str(), tarball.as_os_str()]);
    assert_eq!(v.code, 1, "{v:?}");
    assert!(v.stdout.contains("f: contents differ"), "{}", v.stdout);
    assert!(v.stdout.contains("g: only in A"), "{}", v.stdout);
}
