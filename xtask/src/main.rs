//! `cargo xtask`: every project task that is not a plain cargo command.
//!
//! - `test`: build the driver and every plugin, then run all tests (including the insta
//!   snapshots). This is the test command of README and CI.
//! - `fixtures [NAME]`: regenerate fixtures from the real tools that made them, by running
//!   each `fixtures/<name>/make.sh` (its SOURCES.md names the exact commands).
//! - `new-plugin NAME [--medium]`: scaffold a plugin crate, its dylib shim, a fixture
//!   directory and a snapshot test that builds and loads.
//! - `dist DIR`: install layout `DIR/bin/relic` + `DIR/lib/relic/plugins/*.so`.
//! - `bench`: dir -> tar -> dir throughput and peak RSS, with `cat` of the same bytes as the
//!   reference, and the 2 GiB file -> tar peak-RSS check.
//! - `demo`: build everything and run a real conversion on a bundled fixture.
//! - `fuzz [PLUGIN...] [--seconds N]`: run each plugin's cargo-fuzz target (`plugins/*/fuzz`)
//!   for N seconds (default 30), seeded with the plugin's fixtures. Needs `cargo install
//!   cargo-fuzz`; works on stable Rust through `RUSTC_BOOTSTRAP=1` without a sanitizer.

mod bench;
mod scaffold;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut c: Command) -> Result<()> {
    let shown = format!("{c:?}");
    let st = c.status().with_context(|| format!("cannot run {shown}"))?;
    if !st.success() {
        bail!("{shown} failed with {st}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("usage: cargo xtask <test|fixtures|new-plugin|dist|bench|demo> [args]");
        std::process::exit(2);
    };
    let rest = &args[1..];
    match cmd.as_str() {
        "test" => test(rest),
        "fixtures" => fixtures(rest),
        "new-plugin" => scaffold::new_plugin(&root(), rest),
        "dist" => dist(rest),
        "bench" => bench::bench(&root(), rest),
        "demo" => demo(),
        "fuzz" => fuzz(rest),
        other => bail!("unknown task '{other}'"),
    }
}

/// Build the workspace (driver + every plugin library), then run every test. Uses
/// cargo-nextest when installed (parallel across test binaries), `cargo test` otherwise.
fn test(extra: &[String]) -> Result<()> {
    let mut b = cargo();
    b.args(["build", "--workspace", "--all-targets"]);
    run(b)?;
    let nextest = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let mut t = cargo();
    if nextest && std::env::var_os("RELIC_NO_NEXTEST").is_none() {
        // nextest does not run doctests: run them first, so the last summary CI reads is
        // nextest's count of every test.
        let mut d = cargo();
        d.args(["test", "--workspace", "--doc", "--quiet"]);
        run(d)?;
        t.args([
            "nextest",
            "run",
            "--workspace",
            "--no-fail-fast",
            "--config-file",
            "xtask/nextest.toml",
        ]);
        t.args(extra);
        run(t)
    } else {
        t.args(["test", "--workspace", "--no-fail-fast"]);
        t.args(extra);
        run(t)
    }
}

fn fixtures(which: &[String]) -> Result<()> {
    let dir = root().join("fixtures");
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("make.sh"))
        .filter(|p| p.exists())
        .filter(|p| {
            which.is_empty()
                || which.iter().any(|w| {
                    p.parent()
                        .and_then(|d| d.file_name())
                        .is_some_and(|n| n.to_string_lossy() == *w)
                })
        })
        .collect();
    scripts.sort();
    if scripts.is_empty() {
        bail!("no fixtures/<name>/make.sh matches {which:?}");
    }
    for s in scripts {
        println!("== {}", s.display());
        let mut c = Command::new("bash");
        c.arg(&s).current_dir(s.parent().expect("script dir"));
        run(c)?;
    }
    println!(
        "fixtures regenerated; review with `git diff --stat fixtures/` and `cargo insta review`"
    );
    Ok(())
}

fn plugin_libs(profile_dir: &Path) -> Result<Vec<PathBuf>> {
    let prefix = format!("{}relic_plugin_", std::env::consts::DLL_PREFIX);
    let mut v: Vec<PathBuf> = std::fs::read_dir(profile_dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .is_some_and(|n| {
                    n.starts_with(&prefix) && n.ends_with(std::env::consts::DLL_SUFFIX)
                })
        })
        .collect();
    v.sort();
    Ok(v)
}

fn dist(args: &[String]) -> Result<()> {
    let Some(dest) = args.first() else {
        bail!("usage: cargo xtask dist DIR")
    };
    let dest = PathBuf::from(dest);
    let mut b = cargo();
    b.args(["build", "--release", "--workspace"]);
    run(b)?;
    let rel = root().join("target/release");
    std::fs::create_dir_all(dest.join("bin"))?;
    std::fs::create_dir_all(dest.join("lib/relic/plugins"))?;
    std::fs::copy(rel.join("relic"), dest.join("bin/relic")).context("copy relic")?;
    let libs = plugin_libs(&rel)?;
    for l in &libs {
        std::fs::copy(
            l,
            dest.join("lib/relic/plugins")
                .join(l.file_name().expect("file name")),
        )?;
    }
    println!(
        "installed bin/relic and {} plugins under {}",
        libs.len(),
        dest.display()
    );
    Ok(())
}

/// The quick start: build the driver and all plugins, then convert a bundled fixture.
fn demo() -> Result<()> {
    let mut b = cargo();
    b.args(["build", "--workspace", "--quiet"]);
    run(b)?;
    let relic = root().join("target/debug/relic");
    let fixture = root().join("fixtures/tar/posix.tar");
    let out = tempfile::tempdir()?;
    let extracted = out.path().join("extracted");
    let steps: Vec<Vec<String>> = vec![
        vec!["plugins".into()],
        vec!["info".into(), fixture.display().to_string()],
        vec!["list".into(), "-l".into(), fixture.display().to_string()],
        vec![
            "convert".into(),
            fixture.display().to_string(),
            out.path().join("copy.tar").display().to_string(),
            "--to".into(),
            "tar".into(),
            "--format".into(),
            "gnu".into(),
        ],
        vec![
            "extract".into(),
            out.path().join("copy.tar").display().to_string(),
            "-C".into(),
            extracted.display().to_string(),
        ],
        vec![
            "verify".into(),
            fixture.display().to_string(),
            extracted.display().to_string(),
        ],
    ];
    for s in steps {
        println!("$ relic {}", s.join(" "));
        let mut c = Command::new(&relic);
        c.args(&s);
        run(c)?;
    }
    Ok(())
}

fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 30u64;
    let mut only: Vec<String> = vec![];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--seconds" {
            seconds = it
                .next()
                .and_then(|v| v.parse().ok())
                .context("--seconds takes a number")?;
        } else {
            only.push(a.clone());
        }
    }
    let mut targets: Vec<PathBuf> = std::fs::read_dir(root().join("plugins"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("fuzz/Cargo.toml").exists())
        .filter(|p| {
            only.is_empty()
                || p.file_name()
                    .is_some_and(|n| only.iter().any(|o| *o == n.to_string_lossy()))
        })
        .collect();
    targets.sort();
    if targets.is_empty() {
        bail!("no plugins/*/fuzz target matches {only:?}");
    }
    let target_dir = root().join("target/fuzz");
    for plugin in targets {
        let name = plugin
            .file_name()
            .expect("plugin dir")
            .to_string_lossy()
            .into_owned();
        // seed corpus: the plugin's fixtures, copied (libFuzzer writes into its corpus)
        let corpus = tempfile::tempdir()?;
        let fixtures = root().join("fixtures").join(&name);
        if fixtures.is_dir() {
            for e in walkdir::WalkDir::new(&fixtures)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_file())
            {
                if e.metadata().map(|m| m.len() <= 1 << 20).unwrap_or(false) {
                    let dest = corpus.path().join(
                        e.path()
                            .strip_prefix(&fixtures)
                            .unwrap_or(e.path())
                            .to_string_lossy()
                            .replace('/', "_"),
                    );
                    std::fs::copy(e.path(), dest)?;
                }
            }
        }
        println!("== fuzz {name} for {seconds} s");
        let mut c = Command::new("cargo");
        c.current_dir(plugin.join("fuzz"))
            .env("RUSTC_BOOTSTRAP", "1")
            .env("CARGO_TARGET_DIR", &target_dir)
            .args(["fuzz", "run", "--sanitizer", "none", "--fuzz-dir", "."])
            .arg("read")
            .arg(corpus.path())
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=2048")
            .arg("-timeout=10");
        run(c)?;
    }
    Ok(())
}
