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
        // describe() runs only when the library is not in the plugin cache
        &[("RELIC_TEST_PANIC", "describe"), ("RELIC_PLUGIN_CACHE", "off")],
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

fn cache_note(o: &Out) -> String {
    o.stderr
        .lines()
        .find(|l| l.contains("plugin cache"))
        .unwrap_or_else(|| panic!("no plugin cache note in:\n{}", o.stderr))
        .to_string()
}

#[test]
fn plugin_cache_describes_known_libraries_and_misses_replaced_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let cache = dir.path().join("cache.json");
    let cache_s = cache.to_str().expect("utf-8 temp path");
    // a private copy of the tar plugin, named first so it is the one used
    let copy = dir.path().join(format!(
        "{}relic_plugin_tar{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    std::fs::copy(plugin_lib("relic_plugin_tar"), &copy).expect("copy");
    let run = |args: &[&std::ffi::OsStr]| {
        let mut a = vec![os("-v"), os("--plugin"), copy.as_os_str()];
        a.extend_from_slice(args);
        relic_env(&a, &[("RELIC_PLUGIN_CACHE", cache_s)])
    };
    // cold: everything loaded and checked in full, then cached
    let cold = run(&[os("formats")]);
    cold.ok();
    assert!(cache_note(&cold).contains(": 0 of "), "{}", cold.stderr);
    let text = std::fs::read_to_string(&cache).expect("the cache was written");
    assert!(text.contains(&copy.display().to_string()), "{text}");
    // warm: every library described from the cache, same answer
    let warm = run(&[os("formats")]);
    warm.ok();
    let note = cache_note(&warm);
    let total = note
        .rsplit(" of ")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .expect("count");
    assert!(note.contains(&format!(": {total} of {total} ")), "{note}");
    assert_eq!(warm.stdout, cold.stdout);
    // a warm run opens the libraries it needs on first use and works like a cold one
    let tarball = fixtures().join("tar/posix.tar");
    let listed = run(&[os("list"), os("-l"), tarball.as_os_str()]);
    listed.ok();
    let uncached = relic_env(
        &[os("list"), os("-l"), tarball.as_os_str()],
        &[("RELIC_PLUGIN_CACHE", "off")],
    );
    uncached.ok();
    assert!(!listed.stdout.is_empty());
    assert_eq!(listed.stdout, uncached.stdout);
    // replace the copy by a library of another ABI: the cache must not vouch for it
    std::fs::remove_file(&copy).expect("rm");
    std::fs::copy(plugin_lib("relic_testplugin_wrong_abi"), &copy).expect("copy");
    let replaced = run(&[os("formats")]);
    replaced.ok();
    assert!(
        replaced
            .stderr
            .lines()
            .any(|l| l.contains(&copy.display().to_string()) && l.contains("0.9.0")),
        "the replaced library is checked again and refused:\n{}",
        replaced.stderr
    );
    assert!(!cache_note(&replaced).contains(&format!(": {total} of ")));
    // RELIC_PLUGIN_CACHE=off writes nothing
    let off = dir.path().join("never");
    let o = relic_env(&[os("formats")], &[("RELIC_PLUGIN_CACHE", "off")]);
    o.ok();
    assert!(!off.exists());
}

#[test]
fn host_hints_are_not_user_options() {
    let tarball = fixtures().join("tar/posix.tar");
    let o = relic(&[
        os("list"),
        tarball.as_os_str(),
        os("--opt"),
        os("relic-intent=names"),
    ]);
    assert_eq!(o.code, 2, "{o:?}");
    assert!(o.stderr.contains("set by relic itself"), "{}", o.stderr);
}
