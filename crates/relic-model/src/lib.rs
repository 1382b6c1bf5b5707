//! The neutral archive model of relic.
//!
//! Every format plugin translates its on-media structures into these types and back; the
//! engine converts, lists, extracts and verifies using nothing else. The crate is pure Rust
//! with no FFI: the `#[repr(C)]` mirrors that cross the plugin boundary live in
//! `relic-plugin-abi`, and `relic-plugin-sdk` converts between the two.
//!
//! What is here:
//! - [`entry`]: one archive member ([`Entry`]) with raw-byte paths, full metadata and a
//!   namespaced bag of format-specific extras.
//! - [`volume`]: archive/volume metadata ([`VolumeInfo`]).
//! - [`data`]: data comes as [`Chunk`]s with offsets; holes and "data not present" are
//!   explicit, so sparse files and metadata-only sources survive every conversion.
//! - [`caps`]: what a writer can represent ([`Capabilities`]) and the [`LossReport`] the
//!   engine builds when an entry does not fit.
//! - [`medium`], [`format`]: the native traits plugins implement ([`Medium`],
//!   [`FormatReader`], [`FormatWriter`]) and the host services they may call ([`Host`]).
//! - [`listing`]: the neutral `ls -l`/JSON listing that the driver prints and snapshot tests
//!   record.
//! - [`error`]: the one error type that crosses every layer.

pub mod caps;
pub mod data;
pub mod entry;
pub mod error;
pub mod format;
pub mod listing;
pub mod medium;
pub mod time;
pub mod volume;

pub use caps::{adapt_entry, Capabilities, Charset, KindSet, Loss, LossKind, LossReport};
pub use data::Chunk;
pub use entry::{
    is_unsafe_path, normalize_path, Acl, DataState, Device, Entry, EntryKind, Extra, Timestamp,
    Xattr,
};
pub use error::{Error, ErrorKind, Result};
pub use format::{FormatReader, FormatWriter, Host, LogLevel, NullHost, WriteSummary};
pub use medium::{
    Medium, MediumInfo, OpenMode, Position, RecordRead, RecordStatus, Space, WriteStatus,
};
pub use volume::VolumeInfo;
