//! End-to-end behaviour of the commands: exit codes, the loss report and `--strict`, outputs
//! written under a temporary name, option routing, and errors that name file and offset.

use crate::util::*;

fn dir_with_socket(t: &tempfile::TempDir) -> std::path::PathBuf {
    let src = t.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("f"), b"data").expect("w");
    let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).expect("bind socket");
    src
}

#[test]
fn loss_is_reported_and_strict_refuses_leaving_nothing() {
    let t = tempfile::tempdir().expect("tmp");
    let src = dir_with_socket(&t);
    let out = t.path().join("out.tar");
    let o = relic(&[
        os("create"),
        src.as_os_str(),
        out.as_os_str(),
        os("--to"),
        os("tar"),
    ]);
    o.ok();
    assert!(
        o.stderr.contains("loss report") && o.stderr.contains("entry kind"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("sock"), "names the example: {}", o.stderr);
    let listing = relic(&[os("list"), out.as_os_str()]);
    assert!(
        listing.stdout.lines().any(|l| l == "f") && !listing.stdout.contains("sock"),
        "{}",
        listing.stdout
    );

    let strict_out = t.path().join("strict.tar");
    let s = relic(&[
        os("create"),
        src.as_os_str(),
        strict_out.as_os_str(),
        os("--to"),
        os("tar"),
        os("--strict"),
    ]);
    assert_eq!(s.code, 1, "{s:?}");
    assert!(s.stderr.contains("sock"), "{}", s.stderr);
    assert!(!strict_out.exists(), "--strict left an output behind");
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .expect("rd")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert!(
        !leftovers
            .iter()
            .any(|n| n.to_string_lossy().contains(".tmp")),
        "temp file left: {leftovers:?}"
    );
}

#[test]
fn unrecognised_input_exits_3_and_names_the_file() {
    let t = tempfile::tempdir().expect("tmp");
    let f = t.path().join("noise.bin");
    std::fs::write(
        &f,
        (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect::<Vec<u8>>(),
    )
    .expect("w");
    let o = relic(&[os("list"), f.as_os_str()]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("noise.bin") && o.stderr.contains("--from"),
        "{}",
        o.stderr
    );
}

#[test]
fn truncated_input_fails_with_offset_and_leaves_no_output() {
    let t = tempfile::tempdir().expect("tmp");
    let full = ustar(&[TarMember {
        name: b"big",
        typeflag: b'0',
        linkname: b"",
        data: &[7u8; 5000],
        mode: 0o644,
    }]);
    let cut = t.path().join("cut.tar");
    std::fs::write(&cut, &full[..2048]).expect("w");
    let out = t.path().join("copy.tar");
    let o = relic(&[
        os("convert"),
        cut.as_os_str(),
        out.as_os_str(),
        os("--to"),
        os("tar"),
    ]);
    assert_eq!(o.code, 3, "{o:?}");
    assert!(
        o.stderr.contains("cut.tar") && o.stderr.contains("offset"),
        "{}",
        o.stderr
    );
    assert!(!out.exists(), "a failed conversion left {}", out.display());
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .expect("rd")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "temp files left: {leftovers:?}");
}

#[test]
fn unknown_option_is_a_usage_error() {
    let t = tempfile::tempdir().expect("tmp");
    let o = relic(&[
        os("create"),
        t.path().as_os_str(),
        t.path().join("x.tar").as_os_str(),
        os("--to"),
        os("tar"),
        os("-o"),
        os("no-such-option=1"),
    ]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("no-such-option"), "{}", o.stderr);
}

#[test]
fn info_shows_detection_and_counts() {
    let t = tempfile::tempdir().expect("tmp");
    let f = t.path().join("a.tar");
    std::fs::write(
        &f,
        ustar(&[
            TarMember {
                name: b"d/",
                typeflag: b'5',
                linkname: b"",
                data: b"",
                mode: 0o755,
            },
            TarMember {
                name: b"d/f",
                typeflag: b'0',
                linkname: b"",
                data: b"12345",
                mode: 0o644,
            },
        ]),
    )
    .expect("w");
    let o = relic(&[os("info"), f.as_os_str()]);
    o.ok();
    assert!(o.stdout.contains("format:     tar (bid"), "{}", o.stdout);
    assert!(
        o.stdout.contains("entries:    2 (1 dir, 1 file)"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("file bytes: 5"), "{}", o.stdout);
}

#[test]
fn list_json_has_the_documented_fields() {
    let t = tempfile::tempdir().expect("tmp");
    let f = t.path().join("a.tar");
    std::fs::write(
        &f,
        ustar(&[TarMember {
            name: b"l",
            typeflag: b'2',
            linkname: b"target",
            data: b"",
            mode: 0o777,
        }]),
    )
    .expect("w");
    let o = relic(&[os("list"), os("--json"), f.as_os_str()]);
    o.ok();
    let v: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("one JSON object");
    for k in [
        "path",
        "kind",
        "mode",
        "uid",
        "gid",
        "size",
        "mtime",
        "nlink",
        "link_target",
        "rdev",
        "data",
    ] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    assert_eq!(v["kind"], "symlink");
    assert_eq!(v["link_target"], "target");
}

#[test]
fn extract_with_patterns_selects_and_reports_unmatched() {
    let t = tempfile::tempdir().expect("tmp");
    let f = t.path().join("a.tar");
    std::fs::write(
        &f,
        ustar(&[
            TarMember {
                name: b"keep/a",
                typeflag: b'0',
                linkname: b"",
                data: b"a",
                mode: 0o644,
            },
            TarMember {
                name: b"drop/b",
                typeflag: b'0',
                linkname: b"",
                data: b"b",
                mode: 0o644,
            },
        ]),
    )
    .expect("w");
    let out = t.path().join("out");
    let o = relic(&[
        os("extract"),
        f.as_os_str(),
        os("-C"),
        out.as_os_str(),
        os("keep"),
        os("missing"),
    ]);
    assert_eq!(o.code, 1, "unmatched pattern: {o:?}");
    assert!(
        o.stderr.contains("missing: not found in archive"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(out.join("keep/a")).expect("selected"), b"a");
    assert!(!out.join("drop").exists());
}
