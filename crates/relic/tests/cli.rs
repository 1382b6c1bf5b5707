//! Command-line behaviour of the bare driver that needs no plugin: help, version, usage
//! errors and their exit codes. (Having an integration test here also makes
//! `cargo test --workspace` build the `relic` binary that `tests/` drives.)

use std::process::Command;

fn relic(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_relic"))
        .args(args)
        .env("RELIC_PLUGIN_PATH", "")
        .env("XDG_CONFIG_HOME", "/nonexistent-relic-config")
        .output()
        .expect("the relic binary runs")
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let o = relic(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in [
        "formats",
        "plugins",
        "info",
        "list",
        "extract",
        "convert",
        "create",
        "verify",
        "Exit codes",
    ] {
        assert!(text.contains(cmd), "help lacks {cmd}:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(relic(&["convert", "a"]).status.code(), Some(2));
    assert_eq!(relic(&["frobnicate"]).status.code(), Some(2));
    let o = relic(&[
        "--no-config",
        "convert",
        "/nonexistent-in",
        "/tmp/x",
        "--to",
        "no-such-format",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-format"));
}

#[test]
fn explicit_config_file_must_exist() {
    let o = relic(&["--config", "/nonexistent/relic.toml", "formats"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/relic.toml"));
}
