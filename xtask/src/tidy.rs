//! Tidy: the code invariants of ARCHITECTURE.md, checked by ordinary `#[test]`s so they hold
//! on every `cargo xtask test` (rust-analyzer's habit: no separate lint step in CI).
//!
//! - every Rust source file opens with a `//!` module doc (after an optional `#![...]`);
//! - no `.unwrap()` in library or binary code (tests, `#[cfg(test)]` modules and fuzz targets
//!   are exempt; `expect("because ...")` is the rule);
//! - `relic-model` depends on no FFI crate; only `relic-plugin-abi` (and the deliberately
//!   incompatible test plugin) depends on abi_stable;
//! - the driver `relic` depends on no plugin crate, not even as a dev-dependency.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root")
            .to_path_buf()
    }

    fn rust_files() -> Vec<PathBuf> {
        let mut v = Vec::new();
        for top in ["crates", "plugins", "tests", "xtask"] {
            for e in walkdir::WalkDir::new(root().join(top))
                .into_iter()
                .filter_map(|e| e.ok())
            {
                let p = e.path();
                let s = p.to_string_lossy();
                if p.extension().is_some_and(|x| x == "rs")
                    && !s.contains("/target/")
                    && !s.contains("/fuzz/")
                {
                    v.push(p.to_path_buf());
                }
            }
        }
        v
    }

    #[test]
    fn every_file_has_module_docs() {
        let mut missing = vec![];
        for f in rust_files() {
            let text = std::fs::read_to_string(&f).expect("read source");
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("#!["));
            if !first.is_some_and(|l| l.starts_with("//!")) {
                missing.push(f.strip_prefix(root()).unwrap_or(&f).display().to_string());
            }
        }
        assert!(
            missing.is_empty(),
            "files without a //! module doc:\n{}",
            missing.join("\n")
        );
    }

    /// Test code: files under a `tests/` directory, and everything after `#[cfg(test)]`.
    fn library_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
        text.lines()
            .enumerate()
            .take_while(|(_, l)| !l.trim_start().starts_with("#[cfg(test)]"))
    }

    #[test]
    fn no_unwrap_outside_tests() {
        let mut found = vec![];
        for f in rust_files() {
            let rel = f.strip_prefix(root()).unwrap_or(&f).to_path_buf();
            let r = rel.to_string_lossy();
            if r.starts_with("tests/") || r.contains("/tests/") || r.starts_with("xtask/") {
                continue;
            }
            let text = std::fs::read_to_string(&f).expect("read source");
            for (i, line) in library_lines(&text) {
                let code = line.split("//").next().unwrap_or("");
                if code.contains(".unwrap()") {
                    found.push(format!("{}:{}: {}", r, i + 1, line.trim()));
                }
            }
        }
        assert!(
            found.is_empty(),
            "unwrap() in library code (use expect(\"because ...\")):\n{}",
            found.join("\n")
        );
    }

    fn manifest(path: &str) -> String {
        std::fs::read_to_string(root().join(path)).expect("manifest")
    }

    #[test]
    fn model_has_no_ffi_and_only_the_abi_crate_names_abi_stable() {
        let model = manifest("crates/relic-model/Cargo.toml");
        for ffi in ["abi_stable", "libloading", "libc"] {
            assert!(!model.contains(ffi), "relic-model must not depend on {ffi}");
        }
        let mut offenders = vec![];
        for e in walkdir::WalkDir::new(root())
            .max_depth(4)
            .into_iter()
            .filter_map(|e| e.ok())
        {
            let p = e.path();
            let s = p.to_string_lossy();
            if p.file_name().is_some_and(|n| n == "Cargo.toml")
                && !s.contains("/target/")
                && !s.contains("/fuzz/")
                && !s.ends_with("crates/relic-plugin-abi/Cargo.toml")
                && !s.ends_with("tests/plugins/wrong-abi/Cargo.toml")
                && p != root().join("Cargo.toml")
            {
                let text = std::fs::read_to_string(p).expect("manifest");
                if text
                    .lines()
                    .any(|l| l.trim_start().starts_with("abi_stable"))
                {
                    offenders.push(s.into_owned());
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "abi_stable outside relic-plugin-abi: {offenders:?}"
        );
    }

    #[test]
    fn driver_depends_on_no_plugin() {
        let driver = manifest("crates/relic/Cargo.toml");
        for line in driver.lines() {
            let l = line.trim_start();
            assert!(
                !(l.starts_with("relic-format-")
                    || l.starts_with("relic-medium-")
                    || l.starts_with("relic-plugin-") && !l.starts_with("relic-plugin-sdk")),
                "the driver names a plugin crate: {line}"
            );
        }
        let out =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(root())
                .args([
                    "tree", "-p", "relic", "--prefix", "none", "--format", "{p}", "-e", "all",
                ])
                .output()
                .expect("cargo tree runs");
        let tree = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plugins: Vec<&str> = tree
            .lines()
            .filter(|l| {
                l.starts_with("relic-format-")
                    || l.starts_with("relic-medium-")
                    || (l.starts_with("relic-plugin-")
                        && !l.starts_with("relic-plugin-sdk")
                        && !l.starts_with("relic-plugin-abi"))
            })
            .collect();
        assert!(
            plugins.is_empty(),
            "cargo tree -p relic lists plugin crates: {plugins:?}"
        );
    }
}
