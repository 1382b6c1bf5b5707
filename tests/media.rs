//! `relic media`: the record structure of any input through the real binary, checked against
//! `fixtures/tape-image/expected.json`, which the independent Python implementation
//! (`tapeimg.py`) wrote when it built the images; and `--salvage` on bad records.

use crate::util::*;

/// (kind, len, bad) of every object the Python generator put into `name`.
fn expected(name: &str) -> Vec<(String, u64, bool)> {
    let text = std::fs::read_to_string(fixtures().join("tape-image/expected.json"))
        .expect("expected.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v[name]
        .as_array()
        .unwrap_or_else(|| panic!("{name} not in expected.json"))
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().expect("kind").to_string(),
                o["len"].as_u64().unwrap_or(0),
                o["bad"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn media_json(path: &std::path::Path, extra: &[&str]) -> (Vec<(String, u64, bool)>, Out) {
    let mut args = vec![os("media"), os("--json"), path.as_os_str()];
    args.extend(extra.iter().map(|a| os(a)));
    let o = relic(&args);
    let objs = o
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON object per line");
            (
                v["kind"].as_str().expect("kind").to_string(),
                v["len"].as_u64().unwrap_or(0),
                v["bad"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    (objs, o)
}

#[test]
fn media_json_matches_the_independent_generator_for_every_container() {
    for name in [
        "common.simh.tap",
        "common.e11.tap",
        "common.tpc",
        "common.aws",
        "common.het",
        "big.aws",
    ] {
        let (got, o) = media_json(&fixtures().join("tape-image").join(name), &[]);
        o.ok();
        let mut want = expected(name);
        want.push(("end".into(), 0, false));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn media_summary_names_container_and_files() {
    let o = relic(&[
        os("media"),
        fixtures().join("tape-image/common.simh.tap").as_os_str(),
    ]);
    o.ok();
    assert!(o.stdout.contains("container:  simh"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("file 0: 3 records, 10593 bytes; sizes 80 x1, 513 x1, 10000 x1"),
        "{}",
        o.stdout
    );
}

#[test]
fn salvage_drops_bad_records_and_counts_them() {
    let f = fixtures().join("tape-image/extended.simh.tap");
    let (all, _) = media_json(&f, &[]);
    let bad = all.iter().filter(|r| r.2).count();
    assert!(bad > 0, "fixture has bad records: {all:?}");
    let (salvaged, o) = media_json(&f, &["--salvage"]);
    o.ok();
    assert_eq!(salvaged.len(), all.len() - bad);
    assert!(salvaged.iter().all(|r| !r.2));
    assert!(
        o.stderr
            .contains(&format!("--salvage skipped {bad} bad records")),
        "{}",
        o.stderr
    );
}

/// A SIMH image of 64 KiB records (the most common tape block) must be detected as SIMH: the
/// probe head has to hold more than one such record for the trailing lengths to be checked.
/// Regression: with a 64 KiB head it was taken for TPC.
#[test]
fn simh_with_64k_records_is_detected_as_simh() {
    let t = tempfile::tempdir().expect("tmp");
    let img = t.path().join("big-records.tap");
    let mut bytes = Vec::new();
    let rec: Vec<u8> = (0..65536usize).map(|i| (i % 251) as u8).collect();
    for _ in 0..6 {
        bytes.extend_from_slice(&65536u32.to_le_bytes());
        bytes.extend_from_slice(&rec);
        bytes.extend_from_slice(&65536u32.to_le_bytes());
    }
    bytes.extend_from_slice(&[0; 8]);
    std::fs::write(&img, &bytes).expect("w");
    let o = relic(&[os("media"), img.as_os_str()]);
    o.ok();
    assert!(o.stdout.contains("container:  simh"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("file 0: 6 records, 393216 bytes; sizes 65536 x6"),
        "{}",
        o.stdout
    );
}

/// `relic` writes and reads an archive on a "remote" tape through Debian's rmt servers,
/// spawned by a fake `$RSH` that ignores host and user and runs the server locally; the
/// bytes equal those of the direct path, and the archive reads back.
#[test]
fn rmt_through_debian_servers_is_byte_identical_to_the_direct_path() {
    let servers: Vec<&str> = ["/usr/sbin/rmt-dump", "/usr/sbin/rmt-tar"]
        .into_iter()
        .filter(|s| std::path::Path::new(s).exists())
        .collect();
    if servers.is_empty() {
        eprintln!("note: no Debian rmt server (packages dump, tar): rmt test skipped");
        return;
    }
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("a.txt"), b"over the wire\n").expect("w");
    std::fs::write(
        src.join("big"),
        (0..300_000u32)
            .map(|i| (i % 241) as u8)
            .collect::<Vec<u8>>(),
    )
    .expect("w");
    // the same conversion twice, once to a local file and once through rmt: tar -> tar is
    // deterministic (two `create` runs are not: reading a file changes its atime)
    let source_tar = t.path().join("source.tar");
    relic(&[
        os("create"),
        src.as_os_str(),
        source_tar.as_os_str(),
        os("--to"),
        os("tar"),
    ])
    .ok();
    let direct = t.path().join("direct.tar");
    relic(&[
        os("convert"),
        source_tar.as_os_str(),
        direct.as_os_str(),
        os("--to"),
        os("tar"),
    ])
    .ok();
    for server in servers {
        let rsh = t.path().join("fake-rsh");
        std::fs::write(
            &rsh,
            format!("#!/bin/sh\n# called as: $RSH HOST [-l USER] /etc/rmt\nexec {server}\n"),
        )
        .expect("w");
        std::fs::set_permissions(&rsh, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let remote_file = t.path().join(format!(
            "remote-{}.tar",
            server.rsplit('/').next().unwrap_or("rmt")
        ));
        let location = format!("tapehost:{}", remote_file.display());
        let env = [("RSH", rsh.to_str().expect("utf8 path"))];
        let o = relic_env(
            &[
                os("convert"),
                source_tar.as_os_str(),
                os(&location),
                os("--to"),
                os("tar"),
            ],
            &env,
        );
        assert_eq!(o.code, 0, "{server}: {o:?}");
        let (remote, local) = (
            std::fs::read(&remote_file).expect("written by rmt"),
            std::fs::read(&direct).expect("direct"),
        );
        assert!(
            remote == local,
            "{server}: {} bytes through rmt differ from {} bytes written directly",
            remote.len(),
            local.len()
        );
        let l = relic_env(&[os("list"), os(&location)], &env);
        assert_eq!(l.code, 0, "{server}: {l:?}");
        assert_eq!(l.stdout, ".\na.txt\nbig\n", "{server}");
        let out = t.path().join(format!("out-{}", server.len()));
        relic_env(
            &[os("extract"), os(&location), os("-C"), out.as_os_str()],
            &env,
        )
        .ok();
        assert_same_tree(
            &src,
            &out,
            &Compare {
                ns: true,
                xattrs: false,
                holes: true,
            },
        );
    }
}

/// Multi-volume sets on plain files, for any format that changes volumes (here IRIX dump on
/// 1.44 MB floppy images): written to a numbered pattern at a capacity, read back by the
/// pattern, as a list of files, and through a --next-volume hook.
#[test]
fn volume_sets_on_plain_files_by_pattern_list_and_hook() {
    let t = tempfile::tempdir().expect("tmp");
    let src = t.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(
        src.join("big"),
        (0..3_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
            .collect::<Vec<u8>>(),
    )
    .expect("w");
    std::fs::write(src.join("small"), b"hi\n").expect("w");
    let pattern = t.path().join("vol.%03d");
    let o = relic(&[
        os("create"),
        src.as_os_str(),
        pattern.as_os_str(),
        os("--to"),
        os("irix-dump"),
        os("--volume-size"),
        os("1440k"),
    ]);
    o.ok();
    let vol = |n: u32| t.path().join(format!("vol.{n:03}"));
    assert_eq!(
        std::fs::metadata(vol(1)).expect("volume 1").len(),
        1_474_560
    );
    assert_eq!(
        std::fs::metadata(vol(2)).expect("volume 2").len(),
        1_474_560
    );
    assert!(vol(3).exists() && !vol(4).exists());
    let leftovers = std::fs::read_dir(t.path())
        .expect("rd")
        .filter(|e| {
            e.as_ref()
                .expect("e")
                .file_name()
                .to_string_lossy()
                .contains(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0, "temporary volume files left behind");

    let by_pattern = relic(&[os("list"), pattern.as_os_str()]);
    by_pattern.ok();
    assert_eq!(by_pattern.stdout, ".\nbig\nsmall\n");
    let out = t.path().join("out");
    relic(&[
        os("extract"),
        vol(1).as_os_str(),
        vol(2).as_os_str(),
        vol(3).as_os_str(),
        os("-C"),
        out.as_os_str(),
    ])
    .ok();
    assert!(
        std::fs::read(out.join("big")).expect("big")
            == std::fs::read(src.join("big")).expect("big")
    );

    let hook = format!("printf '{}/vol.%03d\\n'", t.path().display());
    let by_hook = relic(&[
        os("list"),
        vol(1).as_os_str(),
        os("--next-volume"),
        os(&hook),
    ]);
    by_hook.ok();
    assert_eq!(by_hook.stdout, ".\nbig\nsmall\n");

    let missing = relic(&[os("list"), vol(1).as_os_str(), vol(3).as_os_str()]);
    assert_ne!(
        missing.code, 0,
        "volume 3 given as volume 2 must be refused: {missing:?}"
    );
}
