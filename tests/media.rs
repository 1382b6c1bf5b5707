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
