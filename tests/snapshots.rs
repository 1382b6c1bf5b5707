//! One insta snapshot of `relic list -l` per committed fixture file (fixtures/<format>/*).
//! The snapshot is the neutral listing a user sees, not internal structures, so refactors do
//! not churn it. Accept changes with `cargo insta review`.

use crate::util::*;

#[test]
fn listing_of_every_fixture() {
    let root = fixtures();
    let mut formats: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures/")
        .map(|e| e.expect("e").path())
        .collect();
    formats.sort();
    let mut seen = 0;
    for dir in formats.into_iter().filter(|p| p.is_dir()) {
        let fmt = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("fixture dir")
            .map(|e| e.expect("e").path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().expect("name").to_string_lossy().into_owned();
            let skip = [".md", ".sh", ".py", ".json", ".txt"];
            if !f.is_file() || skip.iter().any(|s| name.ends_with(s)) || name.starts_with('.') {
                continue;
            }
            let o = relic(&[os("list"), os("-l"), f.as_os_str()]);
            // paths differ between clones: show them relative to fixtures/
            let root_s = format!("{}/", root.display());
            let shown = format!(
                "exit {}\n{}{}",
                o.code,
                o.stdout,
                if o.stderr.is_empty() {
                    String::new()
                } else {
                    format!("--- stderr\n{}", o.stderr.replace(&root_s, "fixtures/"))
                }
            );
            insta::assert_snapshot!(format!("{fmt}__{name}"), shown);
            seen += 1;
        }
    }
    assert!(seen > 0, "no fixtures found under {}", root.display());
}
