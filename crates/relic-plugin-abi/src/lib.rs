//! The binary interface between the relic host and its dynamically loaded plugins.
//!
//! This is the only crate that depends on `abi_stable` (an architecture invariant): the model
//! is mirrored here as `#[repr(C)]` types, and the SDK converts between the two, so a later
//! move to another FFI layer touches this crate and the SDK only.
//!
//! # Versioning
//! The interface is versioned by [`ABI_MAJOR`].[`ABI_MINOR`], never by the crate version
//! (research note A1.4: anyrun broke every plugin by tying the two). abi_stable accepts a
//! plugin whose interface has *at least* the host's fields and methods, never fewer, so:
//! - anything that adds a root-module field or a trait method bumps the minor, and the host
//!   then refuses older plugins until they are rebuilt;
//! - the surface is meant to grow through data instead: every struct that might need more
//!   carries a `more`/`extras` key-value bag, enums are integer constants where unknown values
//!   are legal, and [`AbiHost::event`] takes requests no method names.
//!
//! # Panics
//! A panic that reaches an abi_stable shim calls `process::exit(1)` (research finding 4). The
//! SDK therefore catches every unwind inside the plugin and returns [`AbiError`] with
//! [`codes::INTERNAL`]; plugins must be built with `panic = "unwind"`, which
//! [`AbiDescriptor::unwind`] reports.
//!
//! # Data path
//! Whole records, chunks and headers cross the boundary, never single bytes: one call per tape
//! record, per data chunk (typically 64 KiB-1 MiB, into a buffer the caller owns) or per entry.
#![allow(
    non_local_definitions,
    non_camel_case_types,
    improper_ctypes_definitions
)]

use std::path::Path;

pub use abi_stable::sabi_trait::TD_Opaque;
pub use abi_stable::std_types::{
    RArc, RBox, ROption, RResult, RSlice, RSliceMut, RStr, RString, RVec,
};
use abi_stable::{
    declare_root_module_statics,
    library::{lib_header_from_path, LibraryError, RootModule},
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    StableAbi,
};

/// ABI major version: plugins of another major are refused.
pub const ABI_MAJOR: u32 = 1;
/// ABI minor version: a plugin must have at least the host's minor.
pub const ABI_MINOR: u32 = 0;

/// Error and warning codes (values of `relic_model::ErrorKind`).
pub mod codes {
    pub const IO: u32 = 1;
    pub const MEDIA: u32 = 2;
    pub const CORRUPT: u32 = 3;
    pub const TRUNCATED: u32 = 4;
    pub const UNSUPPORTED: u32 = 5;
    pub const CANCELLED: u32 = 6;
    pub const CONFIG: u32 = 7;
    pub const INTERNAL: u32 = 8;
    pub const UNSAFE: u32 = 9;
    pub const LOSS: u32 = 10;
    pub const NOT_FOUND: u32 = 11;
}

/// Roles and input kinds of a format.
pub mod flags {
    /// The format reads from a medium the host opens.
    pub const INPUT_MEDIUM: u8 = 1;
    /// The format reads from / writes to a path itself (a directory tree).
    pub const INPUT_PATH: u8 = 2;
}

/// An error crossing the boundary.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct AbiError {
    pub code: u32,
    pub message: RString,
    pub offset: ROption<u64>,
    pub entry: ROption<RVec<u8>>,
    pub file: ROption<RString>,
    pub recoverable: bool,
}

/// A key with a byte value: format-specific extras and forward-compatible bags.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiKv {
    pub key: RString,
    pub value: RVec<u8>,
}

/// A key with a text value: options.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiOption {
    pub key: RString,
    pub value: RString,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiTimestamp {
    pub secs: i64,
    pub nanos: u32,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiDevice {
    pub major: u32,
    pub minor: u32,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiXattr {
    pub name: RVec<u8>,
    pub value: RVec<u8>,
}

/// One entry header (frozen per ABI major; grows only through `extras`).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiEntry {
    pub path: RVec<u8>,
    /// `relic_model::EntryKind::code`.
    pub kind: u8,
    /// `relic_model::DataState::code`.
    pub data: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: ROption<RVec<u8>>,
    pub gname: ROption<RVec<u8>>,
    pub size: u64,
    pub mtime: ROption<AbiTimestamp>,
    pub atime: ROption<AbiTimestamp>,
    pub ctime: ROption<AbiTimestamp>,
    pub birth: ROption<AbiTimestamp>,
    pub nlink: u32,
    pub inode: ROption<u64>,
    pub generation: ROption<u32>,
    pub dev: ROption<u64>,
    pub rdev: ROption<AbiDevice>,
    pub link_target: ROption<RVec<u8>>,
    pub xattrs: RVec<AbiXattr>,
    pub acls: RVec<AbiKv>,
    pub extras: RVec<AbiKv>,
    /// Data runs `(offset, len)` the reader will deliver, when it knows them up front.
    pub data_map: ROption<RVec<AbiRun>>,
}

/// A run of file data.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiRun {
    pub offset: u64,
    pub len: u64,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiVolume {
    pub format: RString,
    pub variant: RString,
    pub label: ROption<RVec<u8>>,
    pub volume: ROption<u32>,
    pub date: ROption<AbiTimestamp>,
    pub since: ROption<AbiTimestamp>,
    pub level: ROption<u8>,
    pub host: ROption<RVec<u8>>,
    pub filesystem: ROption<RVec<u8>>,
    pub device: ROption<RVec<u8>>,
    pub user: ROption<RVec<u8>>,
    pub block_size: ROption<u32>,
    pub record_size: ROption<u32>,
    pub extras: RVec<AbiKv>,
}

/// A data chunk: `kind` is `relic_model::Chunk::code` (0 end, 1 data, 2 hole, 3 absent).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiChunk {
    pub kind: u8,
    pub offset: u64,
    pub len: u64,
}

/// Writer capabilities (see `relic_model::Capabilities`).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiCaps {
    pub max_path: ROption<u32>,
    pub max_name: ROption<u32>,
    /// 0 bytes, 1 ASCII.
    pub charset: u8,
    pub uid_max: ROption<u64>,
    pub gid_max: ROption<u64>,
    pub time_min: ROption<i64>,
    pub time_max: ROption<i64>,
    pub time_precision_ns: u32,
    pub atime: bool,
    pub ctime: bool,
    pub birth: bool,
    pub max_file_size: ROption<u64>,
    pub kinds: u32,
    pub xattrs: bool,
    pub acls: bool,
    pub holes: bool,
    pub levels: bool,
    pub user_names: bool,
    pub rdev_major_max: ROption<u32>,
    pub rdev_minor_max: ROption<u32>,
    pub extras: RVec<RString>,
    pub needs_catalog: bool,
    pub more: RVec<AbiKv>,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq, Default)]
pub struct AbiWriteSummary {
    pub entries: u64,
    pub bytes: u64,
    pub volumes: u32,
    pub notes: RVec<RString>,
}

/// One read from a medium: `status` is `relic_model::RecordStatus::code`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiRecordRead {
    pub status: u8,
    pub len: u64,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiWriteStatus {
    pub early_warning: bool,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbiPosition {
    pub file: u64,
    pub record: u64,
    pub offset: u64,
    pub volume: u32,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiMediumInfo {
    pub kind: RString,
    pub name: RString,
    pub record_size: u32,
    pub max_record: u32,
    pub seekable: bool,
    pub can_space: bool,
    pub records_meaningful: bool,
    pub size: ROption<u64>,
    pub more: RVec<AbiKv>,
}

/// An option a format or medium accepts, for `relic formats -v` and validation.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiOptionInfo {
    pub name: RString,
    pub help: RString,
}

/// A format a plugin provides.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiFormatInfo {
    pub id: RString,
    pub aliases: RVec<RString>,
    pub description: RString,
    /// Customary file extensions: shown to users, never used for detection.
    pub extensions: RVec<RString>,
    pub read: bool,
    pub write: bool,
    /// [`flags::INPUT_MEDIUM`] or [`flags::INPUT_PATH`].
    pub input: u8,
    pub options: RVec<AbiOptionInfo>,
}

/// A medium kind a plugin provides.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiMediumKind {
    pub id: RString,
    pub aliases: RVec<RString>,
    pub description: RString,
    pub read: bool,
    pub write: bool,
    /// The medium is a container that must be detected inside another medium's bytes
    /// (tape images inside a file), as opposed to one addressed by its location.
    pub container: bool,
    pub options: RVec<AbiOptionInfo>,
}

/// What `describe` returns.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiDescriptor {
    pub name: RString,
    pub version: RString,
    pub abi_major: u32,
    pub abi_minor: u32,
    pub sdk_version: RString,
    /// Built with `panic = "unwind"` (the host refuses plugins that abort on panic).
    pub unwind: bool,
    pub formats: RVec<AbiFormatInfo>,
    pub media: RVec<AbiMediumKind>,
    pub more: RVec<AbiKv>,
}

/// What a probe may look at.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct AbiProbeContext {
    /// The location as the user gave it.
    pub location: RString,
    /// The location is a directory (for path formats).
    pub is_dir: bool,
    /// The location is a character device (tape drives).
    pub is_char_device: bool,
    /// Lengths of the first records `head` was assembled from (empty for byte streams).
    pub record_lengths: RVec<u32>,
    /// The best bid so far: an expensive probe may give up when it cannot beat it.
    pub best_bid: u32,
    pub more: RVec<AbiKv>,
}

/// Host services a plugin may call.
#[sabi_trait]
pub trait AbiHost: Send + Sync {
    fn log(&self, level: u8, message: RStr<'_>);
    fn warn(&self, message: RStr<'_>, offset: ROption<u64>);
    fn cancelled(&self) -> bool;
    fn event(&self, kind: u32, payload: RSlice<'_, u8>) -> RVec<u8>;
}
pub type HostBox = AbiHost_TO<'static, RArc<()>>;

/// A record-oriented medium (see `relic_model::Medium`).
#[sabi_trait]
pub trait AbiMedium: Send {
    fn info(&self) -> AbiMediumInfo;
    fn read_record(&mut self, buf: RSliceMut<'_, u8>) -> RResult<AbiRecordRead, AbiError>;
    fn write_record(&mut self, data: RSlice<'_, u8>) -> RResult<AbiWriteStatus, AbiError>;
    fn write_tape_mark(&mut self) -> RResult<AbiWriteStatus, AbiError>;
    fn position(&self) -> AbiPosition;
    fn space(&mut self, op: u8, count: i64) -> RResult<i64, AbiError>;
    fn next_volume(&mut self, number: u32) -> RResult<bool, AbiError>;
    fn finish(&mut self) -> RResult<(), AbiError>;
}
pub type MediumBox = AbiMedium_TO<'static, RBox<()>>;

/// A format reader (see `relic_model::FormatReader`).
#[sabi_trait]
pub trait AbiReader: Send {
    fn volume(&mut self) -> RResult<AbiVolume, AbiError>;
    fn next_entry(&mut self) -> RResult<ROption<AbiEntry>, AbiError>;
    fn read_data(&mut self, buf: RSliceMut<'_, u8>) -> RResult<AbiChunk, AbiError>;
    fn skip_data(&mut self) -> RResult<(), AbiError>;
}
pub type ReaderBox = AbiReader_TO<'static, RBox<()>>;

/// A format writer (see `relic_model::FormatWriter`).
#[sabi_trait]
pub trait AbiWriter: Send {
    fn capabilities(&self) -> AbiCaps;
    fn begin_archive(&mut self, volume: &AbiVolume) -> RResult<(), AbiError>;
    fn catalog_entry(&mut self, entry: &AbiEntry) -> RResult<(), AbiError>;
    fn end_catalog(&mut self) -> RResult<(), AbiError>;
    fn begin_entry(&mut self, entry: &AbiEntry) -> RResult<(), AbiError>;
    fn write_data(&mut self, offset: u64, data: RSlice<'_, u8>) -> RResult<(), AbiError>;
    fn write_hole(&mut self, offset: u64, len: u64) -> RResult<(), AbiError>;
    fn end_entry(&mut self) -> RResult<(), AbiError>;
    fn finish(&mut self) -> RResult<AbiWriteSummary, AbiError>;
}
pub type WriterBox = AbiWriter_TO<'static, RBox<()>>;

/// Where a reader reads from or a writer writes to: a path (for path formats such as `fs`)
/// and, for medium formats, the medium the host opened there.
#[repr(C)]
#[derive(StableAbi)]
pub struct AbiStream {
    pub location: RVec<u8>,
    pub medium: ROption<MediumBox>,
}

/// The root module every plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = RelicPlugin_Ref)))]
#[sabi(missing_field(panic))]
pub struct RelicPlugin {
    pub describe: extern "C" fn() -> RResult<AbiDescriptor, AbiError>,
    /// Bid on a format or container: the number of bits verified; 0 = not mine.
    pub probe: extern "C" fn(id: RStr<'_>, head: RSlice<'_, u8>, ctx: &AbiProbeContext) -> u32,
    pub open_reader: extern "C" fn(
        id: RStr<'_>,
        input: AbiStream,
        options: RVec<AbiOption>,
        host: HostBox,
    ) -> RResult<ReaderBox, AbiError>,
    pub open_writer: extern "C" fn(
        id: RStr<'_>,
        output: AbiStream,
        options: RVec<AbiOption>,
        host: HostBox,
    ) -> RResult<WriterBox, AbiError>,
    /// Open a medium. For container media (`AbiMediumKind::container`) `inner` is the medium
    /// holding the container's bytes; otherwise `location` names the medium.
    #[sabi(last_prefix_field)]
    pub open_medium: extern "C" fn(
        id: RStr<'_>,
        location: RStr<'_>,
        write: bool,
        inner: ROption<MediumBox>,
        options: RVec<AbiOption>,
        host: HostBox,
    ) -> RResult<MediumBox, AbiError>,
}

impl RootModule for RelicPlugin_Ref {
    declare_root_module_statics! {RelicPlugin_Ref}
    const BASE_NAME: &'static str = "relic_plugin";
    const NAME: &'static str = "relic plugin";
    // Deliberately not package_version_strings!(): the ABI version is its own constant.
    const VERSION_STRINGS: VersionStrings = VersionStrings::new(ABI_VERSION_STRING);
}

/// `ABI_MAJOR.ABI_MINOR.0`, checked by abi_stable when a library is loaded.
pub const ABI_VERSION_STRING: &str = "1.0.0";

/// Build the root module value a plugin exports (used by the SDK's export macro).
pub fn make_root(module: RelicPlugin) -> RelicPlugin_Ref {
    use abi_stable::prefix_type::PrefixTypeTrait;
    module.leak_into_prefix()
}

/// The version of this interface crate (informational; the ABI is [`ABI_VERSION_STRING`]).
pub fn interface_crate_version() -> String {
    let v: VersionStrings = package_version_strings!();
    v.version.to_string()
}

/// Why a library could not be loaded: a one-line summary and the full report.
#[derive(Debug, Clone)]
pub struct LoadFailure {
    pub summary: String,
    pub detail: String,
}

/// Load a plugin library. Uses `lib_header_from_path` + `init_root_module`, not
/// `RootModule::load_from_file`, which caches one module per type (research finding 1).
///
/// This checks the library's ABI version and compares the layout of every type reachable
/// from the root module with the host's, which costs about a millisecond per plugin (most
/// of a short command's run time); see [`load_library_prechecked`].
pub fn load_library(path: &Path) -> Result<RelicPlugin_Ref, LoadFailure> {
    load(path, true)
}

/// Load a library whose layout check already passed for this very file and this very host
/// executable: the ABI version is still checked, the type layouts are not compared again.
/// abi_stable documents `unchecked_layout` for exactly this use (a cache of checked libraries).
///
/// # Safety
/// The caller must know that [`load_library`] accepted the same file (same device, inode,
/// size, modification and change times) in a process of the same host executable; otherwise
/// a plugin with another layout would be called through the wrong types.
pub unsafe fn load_library_prechecked(path: &Path) -> Result<RelicPlugin_Ref, LoadFailure> {
    load(path, false)
}

fn load(path: &Path, check_layout: bool) -> Result<RelicPlugin_Ref, LoadFailure> {
    let fail = |e: LibraryError| {
        let detail = e.to_string();
        let summary = match &e {
            LibraryError::OpenError { .. } => format!("cannot open library: {}", last_line(&detail)),
            LibraryError::GetSymbolError { .. } => "not a relic plugin (no abi_stable root module)".to_string(),
            LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => format!(
                "plugin ABI {actual_version}, host ABI {expected_version}: rebuild the plugin against this relic"
            ),
            LibraryError::AbiInstability(_) => format!(
                "plugin ABI layout differs from host ABI {ABI_VERSION_STRING}: {} (full report with -v)",
                last_error_line(&detail)
            ),
            LibraryError::InvalidAbiHeader(_) => {
                "built with an incompatible abi_stable version (host uses 0.11)".to_string()
            }
            LibraryError::RootModule { .. } => format!("plugin failed to initialise: {}", last_line(&detail)),
            _ => last_line(&detail),
        };
        LoadFailure { summary, detail }
    };
    let header = lib_header_from_path(path).map_err(fail)?;
    if check_layout {
        header.init_root_module::<RelicPlugin_Ref>().map_err(fail)
    } else {
        // SAFETY: guaranteed by load_library_prechecked's caller (see there).
        unsafe { header.init_root_module_with_unchecked_layout::<RelicPlugin_Ref>() }
            .map_err(fail)
    }
}

fn last_line(s: &str) -> String {
    s.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .chars()
        .take(300)
        .collect()
}

fn last_error_line(s: &str) -> String {
    s.lines()
        .rfind(|l| l.contains("Error:") || l.contains("error"))
        .map(|l| l.trim().chars().take(200).collect())
        .unwrap_or_else(|| last_line(s))
}

/// Wrap a host-side implementation into the boxed trait objects the ABI passes around.
pub fn medium_box<T: AbiMedium + 'static>(t: T) -> MediumBox {
    AbiMedium_TO::from_value(t, TD_Opaque)
}
pub fn reader_box<T: AbiReader + 'static>(t: T) -> ReaderBox {
    AbiReader_TO::from_value(t, TD_Opaque)
}
pub fn writer_box<T: AbiWriter + 'static>(t: T) -> WriterBox {
    AbiWriter_TO::from_value(t, TD_Opaque)
}
pub fn host_box<T: AbiHost + 'static>(t: T) -> HostBox {
    AbiHost_TO::from_ptr(RArc::new(t), TD_Opaque)
}

#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{
        __call_root_module_loader, CheckTypeLayout, IntoRootModuleResult, LibHeader,
        RootModuleResult, ROOT_MODULE_LOADER_NAME,
    };
}

/// Export `$root: fn() -> RelicPlugin_Ref` as the library's root module.
///
/// This is what abi_stable's `#[export_root_module]` generates, written with `$crate` paths so
/// that plugin crates need no direct abi_stable dependency. The symbol name is abi_stable's
/// `ROOT_MODULE_LOADER_NAME` (checked by a test in this crate).
#[macro_export]
macro_rules! export_root {
    ($root:path) => {
        #[no_mangle]
        #[allow(non_upper_case_globals)]
        pub static _1as_0lib_1header_0root_bmodule_bloader: $crate::__private::LibHeader = {
            pub extern "C" fn _sabi_erased_module() -> $crate::__private::RootModuleResult {
                $crate::__private::__call_root_module_loader($root)
            }
            unsafe {
                $crate::__private::LibHeader::from_constructor::<$crate::RelicPlugin_Ref>(
                    _sabi_erased_module,
                    $crate::__private::CheckTypeLayout::Yes,
                )
            }
        };
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_symbol_is_abi_stables() {
        assert_eq!(
            super::__private::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
