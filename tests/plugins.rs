//! Plugin loading through the real binary: discovery, `relic plugins`, and the two broken
//! plugins (one panics, one was built for another ABI): each costs one line and relic
//! carries on.

use crate::util::*;

#[test]
fn plugins_lists_fs_and_tar_from_their_libraries() {
    let o = relic(&["plugins"]);
    o.ok();
    for name in ["fs", "tar", "file"] {
        let lib = plugin_lib(&format!("relic_plugin_{name}"));
        let line = o
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for plugin {name}:\n{}", o.stdout));
        assert!(line.contains("ABI 1.0"), "{line}");
        assert!(
            line.contains(&lib.display().to_string()),
            "{line} does not name {}",
            lib.display()
        );
    }
    assert!(o.stdout.contains("format tar (rw)"), "{}", o.stdout);
    assert!(o.stdout.contains("format fs (rw)"), "{}", o.stdout);
}

#[test]
fn formats_lists_ids_and_media() {
    let o = relic(&["formats"]);
    o.ok();
    assert!(
        o.stdout
            .lines()
            .any(|l| l.starts_with("tar ") && l.contains("rw")),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.lines().any(|l| l.starts_with("file ")),
        "{}",
        o.stdout
    );
}

fn stderr_lines(o: &Out) -> Vec<&str> {
    o.stderr.lines().filter(|l| !l.trim().is_empty()).collect()
}

#[test]
fn panicking_plugin_in_describe_costs_one_line() {
    let lib = plugin_lib("relic_testplugin_panic");
    let o = relic_env(
        &[os("--plugin"), lib.as_os_str(), os("formats")],
        &[("RELIC_TEST_PANIC", "describe")],
    );
    o.ok();
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "expected one line, got:\n{}", o.stderr);
    assert!(
        lines[0].contains(&lib.display().to_string())
            && lines[0].contains("deliberate panic in describe"),
        "{}",
        lines[0]
    );
    assert!(
        o.stdout.lines().any(|l| l.starts_with("tar ")),
        "relic carried on:\n{}",
        o.stdout
    );
}

#[test]
fn panicking_plugin_in_probe_costs_one_line_and_listing_works() {
    let dir = tempfile::tempdir().expect("tmp");
    let tarball = dir.path().join("a.tar");
    std::fs::write(
        &tarball,
        ustar(&[TarMember {
            name: b"f",
            typeflag: b'0',
            linkname: b"",
            data: b"x",
            mode: 0o644,
        }]),
    )
    .expect("w");
    let lib = plugin_lib("relic_testplugin_panic");
    let o = relic_env(
        &[
            os("--plugin"),
            lib.as_os_str(),
            os("list"),
            tarball.as_os_str(),
        ],
        &[("RELIC_TEST_PANIC", "probe")],
    );
    o.ok();
    assert_eq!(o.stdout.trim(), "f");
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "expected one line, got:\n{}", o.stderr);
    assert!(
        lines[0].contains("deliberate panic in probe"),
        "{}",
        lines[0]
    );
}

#[test]
fn panicking_reader_is_an_internal_error_not_a_crash() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("x");
    std::fs::write(&f, b"anything").expect("w");
    let lib = plugin_lib("relic_testplugin_panic");
    for at in ["open_reader", "next_entry"] {
        let o = relic_env(
            &[
                os("--plugin"),
                lib.as_os_str(),
                os("list"),
                f.as_os_str(),
                os("--from"),
                os("panic-test"),
            ],
            &[("RELIC_TEST_PANIC", at)],
        );
        assert_eq!(
            o.code, 5,
            "internal error exit code for a panic in {at}: {o:?}"
        );
        let lines = stderr_lines(&o);
        assert_eq!(lines.len(), 1, "{}", o.stderr);
        assert!(
            lines[0].contains(&format!("deliberate panic in {at}")),
            "{}",
            lines[0]
        );
    }
}

#[test]
fn wrong_abi_plugin_costs_one_line() {
    let lib = plugin_lib("relic_testplugin_wrong_abi");
    let o = relic(&[os("--plugin"), lib.as_os_str(), os("formats")]);
    o.ok();
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "expected one line, got:\n{}", o.stderr);
    let l = lines[0];
    assert!(l.contains(&lib.display().to_string()), "{l}");
    assert!(
        l.contains("0.9.0") && l.contains("1.0.0"),
        "names plugin and host ABI: {l}"
    );
    assert!(l.len() < 400, "one short line, not the layout dump: {l}");
    assert!(
        o.stdout.lines().any(|l| l.starts_with("tar ")),
        "relic carried on:\n{}",
        o.stdout
    );
    // the full report is there for -v
    let v = relic(&[os("-v"), os("--plugin"), lib.as_os_str(), os("formats")]);
    assert!(v.stderr.len() > o.stderr.len(), "-v shows more");
}

#[test]
fn a_non_plugin_library_is_reported_and_skipped() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = dir.path().join(format!(
        "{}relic_plugin_fake{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    std::fs::write(&fake, b"not an ELF file").expect("w");
    let o = relic(&[os("--plugin-dir"), dir.path().as_os_str(), os("formats")]);
    o.ok();
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{}", o.stderr);
    assert!(lines[0].contains("relic_plugin_fake"), "{}", lines[0]);
}
