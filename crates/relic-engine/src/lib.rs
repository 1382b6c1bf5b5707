//! The relic engine: everything between the command line and the plugins.
//!
//! The engine knows no format and no medium (an architecture invariant): it discovers plugin
//! libraries ([`registry`]), asks them to bid on an input ([`detect`]), moves entries from a
//! reader to a writer on two threads joined by a bounded pool of reusable buffers
//! ([`pipeline`]), fits every entry to the writer's capabilities and reports what was lost,
//! and lists, extracts and compares archives ([`ops`]). Plugins reach it only through
//! `relic-plugin-sdk`'s [`LoadedPlugin`](relic_plugin_sdk::LoadedPlugin).
//!
//! Modules:
//! - [`config`]: the TOML configuration file.
//! - [`registry`]: discovery order, loading, one-line failure reports.
//! - [`plugin_cache`]: cached plugin descriptions, so a command opens only the libraries it
//!   uses.
//! - [`host`]: the services plugins call back into (logging, warnings, cancellation).
//! - [`media`]: host-side medium wrappers: replay of probed records, byte counting, spooling.
//! - [`detect`]: opening inputs and outputs: medium, container and format selection by bids.
//! - [`pipeline`]: conversion with catalog passes, loss reports, `--strict`, temp+rename.
//! - [`ops`]: list, info, verify.

pub mod config;
pub mod detect;
pub mod host;
pub mod media;
pub mod ops;
pub mod pipeline;
pub mod plugin_cache;
pub mod registry;
pub mod volumes;

pub use config::Config;
pub use detect::{InputSpec, OutputSpec};
pub use host::{EngineHost, Stats};
pub use pipeline::{ConvertOptions, ConvertReport};
pub use registry::{Registry, SearchPaths};

/// Exit codes of the `relic` driver (documented in README).
pub mod exit {
    pub const OK: i32 = 0;
    /// Differences found (`verify`) or information lost under `--strict`.
    pub const DIFFERENCES: i32 = 1;
    /// Bad command line, unknown format or option, missing plugin.
    pub const USAGE: i32 = 2;
    /// The input is corrupt, truncated or uses an unsupported feature.
    pub const BAD_INPUT: i32 = 3;
    /// An I/O or media error.
    pub const IO: i32 = 4;
    /// A bug: a plugin panicked or broke an invariant.
    pub const INTERNAL: i32 = 5;
    /// Interrupted by the user.
    pub const CANCELLED: i32 = 130;

    /// The exit code for an error kind.
    pub fn for_error(kind: relic_model::ErrorKind) -> i32 {
        use relic_model::ErrorKind::*;
        match kind {
            Corrupt | Truncated | Unsupported | Unsafe => BAD_INPUT,
            Io | Media => IO,
            Config | NotFound => USAGE,
            Loss => DIFFERENCES,
            Cancelled => CANCELLED,
            Internal => INTERNAL,
        }
    }
}
