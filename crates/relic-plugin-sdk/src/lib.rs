//! The relic plugin SDK: what a format or media plugin is written against.
//!
//! A plugin author works with the native traits of `relic-model` ([`FormatReader`],
//! [`FormatWriter`], [`Medium`]) and implements [`Plugin`] on a unit struct. The plugin's
//! `dylib` shim crate is three lines:
//!
//! ```ignore
//! relic_plugin_sdk::export_plugin!(relic_format_tar::TarPlugin);
//! ```
//!
//! What the SDK adds on top of the model:
//! - [`plugin`]: the [`Plugin`] trait and the adapters that expose it through the ABI, with
//!   every call guarded by [`guard`] so a panic becomes an error, never a process exit;
//! - [`client`]: the reverse direction, used by the host and by plugins for the media and
//!   host services they are handed ([`LoadedPlugin`] is how the engine talks to a plugin);
//! - [`stream`]: a read-ahead byte stream over records, and a record blocker for writers;
//! - [`testing`]: in-memory and deliberately hostile media, and helpers that read a whole
//!   archive for assertions;
//! - [`options`]: typed access to `key=value` options.

pub mod client;
pub mod convert;
pub mod guard;
pub mod options;
pub mod plugin;
pub mod stream;
pub mod testing;

pub use client::LoadedPlugin;
pub use guard::guard;
pub use options::{Intent, Options, HOST_OPTION_PREFIX, INTENT_OPTION};
pub use plugin::{
    root_module, CommandInfo, Descriptor, FormatInfo, HostHandle, InputKind, MediumKindInfo,
    Plugin, ProbeContext, Stream,
};
pub use relic_model as model;
pub use relic_model::{
    Capabilities, Chunk, Entry, EntryKind, Error, ErrorKind, FormatReader, FormatWriter, Host,
    Medium, MediumInfo, OpenMode, Result, VolumeInfo,
};

#[doc(hidden)]
pub use relic_plugin_abi as abi;

/// Export plugin type `$plugin` (which implements [`Plugin`]) as this library's root module.
/// Put this, and nothing else, in the plugin's `cdylib` shim crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        fn __relic_plugin_root() -> $crate::abi::RelicPlugin_Ref {
            $crate::root_module::<$plugin>()
        }
        $crate::abi::export_root!(__relic_plugin_root);
    };
}
