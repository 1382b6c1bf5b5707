//! The calling side of the boundary: ABI trait objects wrapped back into the native traits.
//!
//! The host uses these for every plugin it loaded ([`LoadedPlugin`]); plugins use
//! [`MediumClient`] and [`HostClient`] for the medium and host services they were handed.
//! Errors coming back are checked (unknown codes, lengths larger than the buffer) so a broken
//! plugin yields an error here, never undefined behaviour or a panic.

use std::sync::Arc;

use relic_model::{
    Capabilities, Chunk, Entry, Error, FormatReader, FormatWriter, Host, LogLevel, Medium,
    MediumInfo, OpenMode, Position, RecordRead, Result, Space, VolumeInfo, WriteStatus,
    WriteSummary,
};
use relic_plugin_abi::*;

use crate::convert::*;
use crate::plugin::{
    options_to_abi, Descriptor, FormatInfo, InputKind, MediumKindInfo, ProbeContext,
};
use crate::Options;

/// An ABI medium used through the native [`Medium`] trait.
pub struct MediumClient {
    inner: MediumBox,
}

impl MediumClient {
    pub fn new(inner: MediumBox) -> MediumClient {
        MediumClient { inner }
    }
    pub fn into_inner(self) -> MediumBox {
        self.inner
    }
}

impl Medium for MediumClient {
    fn info(&self) -> MediumInfo {
        medium_info_from_abi(self.inner.info())
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        let len = buf.len();
        result(self.inner.read_record(buf.into()), |r| r).and_then(|r| record_from_abi(r, len))
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        result(self.inner.write_record(data.into()), write_status_from_abi)
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        result(self.inner.write_tape_mark(), write_status_from_abi)
    }
    fn position(&self) -> Position {
        position_from_abi(self.inner.position())
    }
    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        result(self.inner.space(op.code(), count), |v| v)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        result(self.inner.next_volume(number), |v| v)
    }
    fn finish(&mut self) -> Result<()> {
        result(self.inner.finish(), |v| v)
    }
}

/// An ABI reader used through the native [`FormatReader`] trait.
pub struct ReaderClient {
    inner: ReaderBox,
}

impl FormatReader for ReaderClient {
    fn volume(&mut self) -> Result<VolumeInfo> {
        result(self.inner.volume(), |v| volume_from_abi(&v))
    }
    fn next_entry(&mut self) -> Result<Option<Entry>> {
        match self.inner.next_entry() {
            RResult::ROk(ROption::RSome(e)) => entry_from_abi_owned(e).map(Some),
            RResult::ROk(ROption::RNone) => Ok(None),
            RResult::RErr(e) => Err(error_from_abi(e)),
        }
    }
    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let len = buf.len();
        result(self.inner.read_data(buf.into()), |c| c).and_then(|c| chunk_from_abi(c, len))
    }
    fn skip_data(&mut self) -> Result<()> {
        result(self.inner.skip_data(), |v| v)
    }
}

/// An ABI writer used through the native [`FormatWriter`] trait.
pub struct WriterClient {
    inner: WriterBox,
}

impl FormatWriter for WriterClient {
    fn capabilities(&self) -> Capabilities {
        caps_from_abi(&self.inner.capabilities())
    }
    fn begin_archive(&mut self, volume: &VolumeInfo) -> Result<()> {
        result(self.inner.begin_archive(&volume_to_abi(volume)), |v| v)
    }
    fn catalog_entry(&mut self, entry: &Entry) -> Result<()> {
        result(self.inner.catalog_entry(&entry_to_abi(entry)), |v| v)
    }
    fn end_catalog(&mut self) -> Result<()> {
        result(self.inner.end_catalog(), |v| v)
    }
    fn begin_entry(&mut self, entry: &Entry) -> Result<()> {
        result(self.inner.begin_entry(&entry_to_abi(entry)), |v| v)
    }
    fn write_data(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        result(self.inner.write_data(offset, data.into()), |v| v)
    }
    fn write_hole(&mut self, offset: u64, len: u64) -> Result<()> {
        result(self.inner.write_hole(offset, len), |v| v)
    }
    fn end_entry(&mut self) -> Result<()> {
        result(self.inner.end_entry(), |v| v)
    }
    fn finish(&mut self) -> Result<WriteSummary> {
        result(self.inner.finish(), summary_from_abi)
    }
}

/// The host's services as a plugin sees them.
pub struct HostClient {
    inner: HostBox,
}

impl HostClient {
    pub fn new(inner: HostBox) -> HostClient {
        HostClient { inner }
    }
}

impl Host for HostClient {
    fn log(&self, level: LogLevel, message: &str) {
        self.inner.log(level as u8, message.into())
    }
    fn warn(&self, message: &str, offset: Option<u64>) {
        self.inner.warn(message.into(), ropt(offset, |o| o))
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
    fn event(&self, kind: u32, payload: &[u8]) -> Vec<u8> {
        self.inner.event(kind, payload.into()).into_vec()
    }
}

/// A native [`Host`] exposed through the ABI (the host side builds this once per call).
struct HostExport(Arc<dyn Host>);

impl AbiHost for HostExport {
    fn log(&self, level: u8, message: RStr<'_>) {
        self.0.log(LogLevel::from_u8(level), message.as_str())
    }
    fn warn(&self, message: RStr<'_>, offset: ROption<u64>) {
        self.0.warn(message.as_str(), offset.into_option())
    }
    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
    fn event(&self, kind: u32, payload: RSlice<'_, u8>) -> RVec<u8> {
        self.0.event(kind, payload.as_slice()).into()
    }
}

/// Wrap a native host for passing to a plugin.
pub fn export_host(host: Arc<dyn Host>) -> HostBox {
    host_box(HostExport(host))
}

/// Wrap a native medium for passing to a plugin (the SDK guards calls into it).
pub fn export_medium(m: Box<dyn Medium>) -> MediumBox {
    crate::plugin::MediumExport::boxed(m)
}

/// Loads a library the first time one of its functions is needed.
type Loader = Box<dyn Fn() -> std::result::Result<RelicPlugin_Ref, String> + Send + Sync>;

/// The root module, or the way to get it.
#[derive(Clone)]
enum Root {
    Ready(RelicPlugin_Ref),
    /// Described from the host's plugin cache; the library is opened on first use.
    Deferred(Arc<Deferred>),
}

struct Deferred {
    load: Loader,
    cell: std::sync::OnceLock<std::result::Result<RelicPlugin_Ref, String>>,
}

/// A plugin the host loaded (from a library or in-process) with its description.
///
/// A plugin may also be *deferred* ([`LoadedPlugin::deferred`]): its description comes from
/// the host's cache and its library is opened the first time `probe` or an `open_*` needs
/// it, so commands that use three plugins do not pay for loading twelve.
#[derive(Clone)]
pub struct LoadedPlugin {
    root: Root,
    pub descriptor: Descriptor,
    /// ABI version the plugin was built for.
    pub abi: (u32, u32),
    /// Built with `panic = "unwind"`.
    pub unwind: bool,
    /// Commands the plugin adds to `relic`.
    pub commands: Vec<crate::plugin::CommandInfo>,
}

fn format_from_abi(f: &AbiFormatInfo) -> FormatInfo {
    FormatInfo {
        id: f.id.to_string(),
        aliases: f.aliases.iter().map(|s| s.to_string()).collect(),
        description: f.description.to_string(),
        extensions: f.extensions.iter().map(|s| s.to_string()).collect(),
        read: f.read,
        write: f.write,
        input: if f.input == flags::INPUT_PATH {
            InputKind::Path
        } else {
            InputKind::Medium
        },
        options: f
            .options
            .iter()
            .map(|o| (o.name.to_string(), o.help.to_string()))
            .collect(),
    }
}

fn medium_kind_from_abi(m: &AbiMediumKind) -> MediumKindInfo {
    MediumKindInfo {
        id: m.id.to_string(),
        aliases: m.aliases.iter().map(|s| s.to_string()).collect(),
        description: m.description.to_string(),
        read: m.read,
        write: m.write,
        container: m.container,
        options: m
            .options
            .iter()
            .map(|o| (o.name.to_string(), o.help.to_string()))
            .collect(),
    }
}

impl LoadedPlugin {
    /// Ask a root module to describe itself; refuses a plugin of another ABI major, an older
    /// minor, or one built to abort on panic.
    pub fn new(root: RelicPlugin_Ref) -> Result<LoadedPlugin> {
        let d = result((root.describe())(), |d| d)?;
        // ABI_MINOR is 0 today, which makes the second test trivially false; it is kept so
        // the rule holds the day the minor is bumped.
        #[allow(clippy::absurd_extreme_comparisons)]
        let too_old = d.abi_minor < ABI_MINOR;
        if d.abi_major != ABI_MAJOR || too_old {
            return Err(Error::new(
                relic_model::ErrorKind::Config,
                format!(
                    "plugin {} built for ABI {}.{}, host ABI {ABI_MAJOR}.{ABI_MINOR}: rebuild it against this relic",
                    d.name, d.abi_major, d.abi_minor
                ),
            ));
        }
        if !d.unwind {
            return Err(Error::config(format!(
                "plugin {} was built with panic=abort; relic needs panic=unwind to survive plugin bugs",
                d.name
            )));
        }
        Ok(LoadedPlugin {
            root: Root::Ready(root),
            abi: (d.abi_major, d.abi_minor),
            unwind: d.unwind,
            commands: crate::plugin::commands_from_abi(&d.more),
            descriptor: Descriptor {
                name: d.name.to_string(),
                version: d.version.to_string(),
                formats: d.formats.iter().map(format_from_abi).collect(),
                media: d.media.iter().map(medium_kind_from_abi).collect(),
            },
        })
    }

    /// A plugin described by the caller (from a cache of earlier [`LoadedPlugin::new`]
    /// results) whose library `load` opens the first time it is needed. If that fails, probes
    /// bid 0 and every `open_*` returns the failure.
    pub fn deferred(
        descriptor: Descriptor,
        abi: (u32, u32),
        unwind: bool,
        commands: Vec<crate::plugin::CommandInfo>,
        load: impl Fn() -> std::result::Result<RelicPlugin_Ref, String> + Send + Sync + 'static,
    ) -> LoadedPlugin {
        LoadedPlugin {
            root: Root::Deferred(Arc::new(Deferred {
                load: Box::new(load),
                cell: std::sync::OnceLock::new(),
            })),
            descriptor,
            abi,
            unwind,
            commands,
        }
    }

    /// Whether the plugin's library has been opened (always true for [`LoadedPlugin::new`]).
    pub fn is_loaded(&self) -> bool {
        match &self.root {
            Root::Ready(_) => true,
            Root::Deferred(d) => matches!(d.cell.get(), Some(Ok(_))),
        }
    }

    /// Open a deferred plugin's library now (a no-op when it is open). The host calls this
    /// from a background thread for the libraries a command will probably need, so that
    /// opening them overlaps with its other start-up work.
    pub fn preload(&self) {
        let _ = self.root();
    }

    fn root(&self) -> Result<RelicPlugin_Ref> {
        match &self.root {
            Root::Ready(r) => Ok(*r),
            Root::Deferred(d) => d.cell.get_or_init(|| (d.load)()).clone().map_err(|why| {
                Error::config(format!(
                    "plugin {} could not be loaded: {why}",
                    self.descriptor.name
                ))
            }),
        }
    }

    pub fn probe(&self, id: &str, head: &[u8], ctx: &ProbeContext) -> u32 {
        let Ok(root) = self.root() else {
            return 0;
        };
        let actx = AbiProbeContext {
            location: ctx.location.as_str().into(),
            is_dir: ctx.is_dir,
            is_char_device: ctx.is_char_device,
            record_lengths: ctx.record_lengths.iter().copied().collect(),
            best_bid: ctx.best_bid,
            more: RVec::new(),
        };
        (root.probe())(id.into(), head.into(), &actx)
    }

    fn stream(location: &[u8], medium: Option<Box<dyn Medium>>) -> AbiStream {
        AbiStream {
            location: location.to_vec().into(),
            medium: ropt(medium, export_medium_unwrapped),
        }
    }

    pub fn open_reader(
        &self,
        id: &str,
        location: &[u8],
        medium: Option<Box<dyn Medium>>,
        options: &Options,
        host: Arc<dyn Host>,
    ) -> Result<Box<dyn FormatReader>> {
        let r = (self.root()?.open_reader())(
            id.into(),
            Self::stream(location, medium),
            options_to_abi(options),
            export_host(host),
        );
        result(r, |inner| {
            Box::new(ReaderClient { inner }) as Box<dyn FormatReader>
        })
    }

    pub fn open_writer(
        &self,
        id: &str,
        location: &[u8],
        medium: Option<Box<dyn Medium>>,
        options: &Options,
        host: Arc<dyn Host>,
    ) -> Result<Box<dyn FormatWriter>> {
        let r = (self.root()?.open_writer())(
            id.into(),
            Self::stream(location, medium),
            options_to_abi(options),
            export_host(host),
        );
        result(r, |inner| {
            Box::new(WriterClient { inner }) as Box<dyn FormatWriter>
        })
    }

    pub fn open_medium(
        &self,
        id: &str,
        location: &str,
        mode: OpenMode,
        inner: Option<Box<dyn Medium>>,
        options: &Options,
        host: Arc<dyn Host>,
    ) -> Result<Box<dyn Medium>> {
        let r = (self.root()?.open_medium())(
            id.into(),
            location.into(),
            mode == OpenMode::Write,
            ropt(inner, export_medium_unwrapped),
            options_to_abi(options),
            export_host(host),
        );
        result(r, |m| Box::new(MediumClient::new(m)) as Box<dyn Medium>)
    }
}

/// Pass a medium on without wrapping it twice when it already is an ABI medium.
fn export_medium_unwrapped(m: Box<dyn Medium>) -> MediumBox {
    export_medium(m)
}
