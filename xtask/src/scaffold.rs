//! `cargo xtask new-plugin NAME [--medium]`: everything a new plugin needs, uniform with the
//! in-tree ones (the ruff `add_rule.py` idea):
//! - `plugins/NAME/` (rlib: module docs, `Plugin` impl, a reader skeleton that refuses
//!   cleanly, a load test with an insta snapshot of the descriptor),
//! - `plugins/NAME/dylib/` (the three-line cdylib shim),
//! - `fixtures/NAME/SOURCES.md`,
//! - a dev-dependency line in `tests/Cargo.toml` so the integration tests load the library.
//!
//! Then: fill in `src/lib.rs`, add fixtures with a `make.sh`, and a line to README's table.

use std::path::Path;

use anyhow::{bail, Context, Result};

pub fn new_plugin(root: &Path, args: &[String]) -> Result<()> {
    let Some(name) = args.iter().find(|a| !a.starts_with("--")) else {
        bail!("usage: cargo xtask new-plugin NAME [--medium]");
    };
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || name.starts_with('-')
    {
        bail!("plugin names are lower-case letters, digits and '-'");
    }
    let medium = args.iter().any(|a| a == "--medium");
    let snake = name.replace('-', "_");
    let kind = if medium { "medium" } else { "format" };
    let camel: String = name
        .split('-')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let dir = root.join("plugins").join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    std::fs::create_dir_all(dir.join("src"))?;
    std::fs::create_dir_all(dir.join("dylib/src"))?;
    std::fs::create_dir_all(dir.join("tests"))?;
    std::fs::create_dir_all(root.join("fixtures").join(name))?;

    let w = |p: &Path, s: String| {
        std::fs::write(p, s).with_context(|| format!("write {}", p.display()))
    };
    w(
        &dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "relic-{kind}-{name}"
description = "relic {kind} plugin: {name}."
version.workspace = true
edition.workspace = true
license.workspace = true
publish.workspace = true

[dependencies]
relic-plugin-sdk.workspace = true
relic-model.workspace = true

[dev-dependencies]
insta.workspace = true
"#
        ),
    )?;
    let info_type = if medium {
        "MediumKindInfo"
    } else {
        "FormatInfo"
    };
    let descriptor = if medium {
        format!(
            r#"Descriptor {{
            name: "{name}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![],
            media: vec![MediumKindInfo {{
                id: "{name}".into(),
                aliases: vec![],
                description: "TODO: what this medium is".into(),
                read: true,
                write: false,
                container: false,
                options: vec![],
            }}],
        }}"#
        )
    } else {
        format!(
            r#"Descriptor {{
            name: "{name}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![FormatInfo {{ write: false, ..FormatInfo::new("{name}", "TODO: what this format is") }}],
            media: vec![],
        }}"#
        )
    };
    w(
        &dir.join("src/lib.rs"),
        format!(
            r#"//! The `{name}` {kind} plugin.
//!
//! TODO: what it reads and writes, the on-media layout with offsets and the source of each
//! fact (or a `layout.rs` module that holds them), and what is not supported yet.

use relic_model::{{Error, Result}};
use relic_plugin_sdk::{{Descriptor, {info_type}, Plugin, ProbeContext}};

pub struct {camel}Plugin;

impl Plugin for {camel}Plugin {{
    fn descriptor() -> Descriptor {{
        {descriptor}
    }}

    fn probe(_id: &str, _head: &[u8], _ctx: &ProbeContext) -> u32 {{
        // TODO: bid the number of bits verified in `head` (magic, checksum, sane fields).
        0
    }}
}}

/// Not implemented yet: every open fails with a clear error.
pub fn not_yet() -> Result<()> {{
    Err(Error::unsupported("{name}: not implemented yet"))
}}
"#
        ),
    )?;
    w(
        &dir.join("tests/load.rs"),
        format!(
            r#"//! The plugin loads through the same ABI vtables a dynamic library uses and describes
//! itself; the snapshot records what `relic formats` will show.

use relic_plugin_sdk::LoadedPlugin;

#[test]
fn loads_and_describes_itself() {{
    let p = LoadedPlugin::new(relic_plugin_sdk::root_module::<relic_{kind}_{snake}::{camel}Plugin>()).expect("loads");
    let d = &p.descriptor;
    let lines: Vec<String> = d
        .formats
        .iter()
        .map(|f| format!("format {{}} read={{}} write={{}}: {{}}", f.id, f.read, f.write, f.description))
        .chain(d.media.iter().map(|m| format!("medium {{}} read={{}} write={{}}: {{}}", m.id, m.read, m.write, m.description)))
        .collect();
    insta::assert_snapshot!(format!("{{}} {{}}\n{{}}", d.name, p.abi.0, lines.join("\n")));
}}
"#
        ),
    )?;
    w(
        &dir.join("dylib/Cargo.toml"),
        format!(
            r#"[package]
name = "relic-plugin-{name}"
version.workspace = true
edition.workspace = true
license.workspace = true
publish.workspace = true

[lib]
name = "relic_plugin_{snake}"
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
relic-plugin-sdk.workspace = true
relic-{kind}-{name} = {{ path = ".." }}
"#
        ),
    )?;
    w(
        &dir.join("dylib/src/lib.rs"),
        format!(
            "//! Dynamic-library shim of the `{name}` plugin: exports its root module, nothing else.\nrelic_plugin_sdk::export_plugin!(relic_{kind}_{snake}::{camel}Plugin);\n"
        ),
    )?;
    w(
        &root.join("fixtures").join(name).join("SOURCES.md"),
        format!("# fixtures/{name}\n\nEvery file here, with the exact command (and tool version) that made it.\nRegenerate with `cargo xtask fixtures {name}` (runs `make.sh`).\n"),
    )?;
    let tests_toml = root.join("tests/Cargo.toml");
    let t = std::fs::read_to_string(&tests_toml)?;
    let line = format!("relic-plugin-{name} = {{ path = \"../plugins/{name}/dylib\" }}\n");
    let t = t.replacen(
        "[dev-dependencies]\n",
        &format!("[dev-dependencies]\n{line}"),
        1,
    );
    std::fs::write(&tests_toml, t)?;
    println!("created plugins/{name} (relic-{kind}-{name}), plugins/{name}/dylib, fixtures/{name}");
    println!(
        "next: cargo test -p relic-{kind}-{name} && cargo insta review; add a README table row"
    );
    Ok(())
}
