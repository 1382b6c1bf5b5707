//! Integration tests of relic: the real `relic` binary with plugins loaded from dynamic
//! libraries (built by `cargo test` as dev-dependencies into `target/<profile>/deps`).
//! Every test gets fresh temporary directories.

// Shared helpers: running relic, building and comparing trees, hand-made tar archives.
mod util;

// Plugin loading: discovery, `relic plugins`, panicking and wrong-ABI plugins.
mod plugins;
// dir -> tar -> dir round trips and `relic verify`.
mod roundtrip;
// GNU tar as the independent peer, both directions.
mod gnutar;
// Hostile archives: nothing is ever written outside the extraction target.
mod hostile;
// Exit codes, --strict, temp+rename of outputs, format options.
mod cli;
// `relic media` (record structure) and --salvage.
mod media;
// insta snapshots of `relic list -l` for every committed fixture.
mod snapshots;
// Per-format end-to-end tests, one module per format plugin.
mod aix;
mod dump;
mod o2image;
mod vms;
mod xenix;
