//! Hostile tar archives: `../x`, `/abs/x`, a symlink followed by a write through it, a hard
//! link to outside. Nothing may be written outside the target; every such entry is refused
//! with a message naming it, and the rest of the archive is still extracted.

use crate::util::*;

fn extract_hostile(members: &[TarMember<'_>]) -> (tempfile::TempDir, Out) {
    let t = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(t.path().join("outside")).expect("mkdir");
    std::fs::write(t.path().join("outside/secret"), b"secret").expect("w");
    std::fs::create_dir(t.path().join("target")).expect("mkdir");
    let tarball = t.path().join("hostile.tar");
    std::fs::write(&tarball, ustar(members)).expect("w");
    let o = relic(&[
        os("extract"),
        tarball.as_os_str(),
        os("-C"),
        t.path().join("target").as_os_str(),
    ]);
    (t, o)
}

fn outside_untouched(t: &tempfile::TempDir) {
    let names: Vec<_> = std::fs::read_dir(t.path().join("outside"))
        .expect("rd")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("secret")],
        "something was written outside"
    );
    assert_eq!(
        std::fs::read(t.path().join("outside/secret")).expect("r"),
        b"secret"
    );
    let top: Vec<_> = std::fs::read_dir(t.path())
        .expect("rd")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert!(
        top.len() == 3,
        "unexpected files next to the target: {top:?}"
    );
}

fn m<'a>(name: &'a [u8], typeflag: u8, linkname: &'a [u8], data: &'a [u8]) -> TarMember<'a> {
    TarMember {
        name,
        typeflag,
        linkname,
        data,
        mode: 0o644,
    }
}

#[test]
fn dotdot_is_refused() {
    let (t, o) = extract_hostile(&[
        m(b"../outside/evil", b'0', b"", b"pwned"),
        m(b"ok.txt", b'0', b"", b"fine"),
    ]);
    assert_eq!(o.code, 1, "refusals make the exit code 1: {o:?}");
    assert!(o.stderr.contains("../outside/evil"), "{}", o.stderr);
    assert_eq!(
        std::fs::read(t.path().join("target/ok.txt")).expect("the rest is extracted"),
        b"fine"
    );
    outside_untouched(&t);
}

#[test]
fn absolute_names_are_refused() {
    let t0 = tempfile::tempdir().expect("tmp");
    let abs = t0.path().join("abs-target");
    let name = abs.as_os_str().to_string_lossy().into_owned();
    let (t, o) = extract_hostile(&[m(name.as_bytes(), b'0', b"", b"pwned")]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains(&name), "{}", o.stderr);
    assert!(!abs.exists(), "absolute path was written");
    outside_untouched(&t);
}

#[test]
fn symlink_then_write_through_it_is_refused() {
    let t0 = tempfile::tempdir().expect("tmp");
    let outside = t0.path().to_string_lossy().into_owned();
    let (t, o) = extract_hostile(&[
        m(b"link", b'2', outside.as_bytes(), b""),
        m(b"link/evil", b'0', b"", b"pwned"),
        m(b"up", b'2', b"../outside", b""),
        m(b"up/evil2", b'0', b"", b"pwned"),
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("link/evil") && o.stderr.contains("up/evil2"),
        "{}",
        o.stderr
    );
    assert!(
        !t0.path().join("evil").exists(),
        "written through an absolute symlink"
    );
    outside_untouched(&t);
}

#[test]
fn hard_link_to_outside_is_refused() {
    let (t, o) = extract_hostile(&[
        m(b"hl", b'1', b"../outside/secret", b""),
        m(b"hl2", b'1', b"/etc/passwd", b""),
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stderr.contains("hl") && o.stderr.contains("hl2"),
        "{}",
        o.stderr
    );
    assert!(!t.path().join("target/hl").exists() && !t.path().join("target/hl2").exists());
    outside_untouched(&t);
}
