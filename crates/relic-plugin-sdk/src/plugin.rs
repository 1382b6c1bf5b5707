//! The plugin side: the native [`Plugin`] trait an author implements, and the adapters that
//! expose it through the ABI root module with every call guarded against panics.
//!
//! A plugin crate implements [`Plugin`] on a unit struct; its 3-line `dylib` shim crate calls
//! [`export_plugin!`](crate::export_plugin). [`root_module`] builds the same root module for
//! in-process use, so tests of a plugin go through exactly the vtables a loaded library uses.

use std::sync::Arc;

use relic_model::{Error, FormatReader, FormatWriter, Host, LogLevel, Medium, OpenMode, Result};
use relic_plugin_abi::*;

use crate::client::{HostClient, MediumClient};
use crate::convert::*;
use crate::guard::{guard, guard_value};
use crate::options::Options;

/// How a format takes its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// Bytes from a medium the host opens (archives, images).
    Medium,
    /// A path the plugin opens itself (a directory tree).
    Path,
}

/// A format a plugin provides. (Serde: the host's plugin cache stores descriptors.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FormatInfo {
    pub id: String,
    pub aliases: Vec<String>,
    pub description: String,
    pub extensions: Vec<String>,
    pub read: bool,
    pub write: bool,
    pub input: InputKind,
    /// `(name, help)` of every option the format accepts.
    pub options: Vec<(String, String)>,
}

impl FormatInfo {
    pub fn new(id: &str, description: &str) -> FormatInfo {
        FormatInfo {
            id: id.into(),
            aliases: vec![],
            description: description.into(),
            extensions: vec![],
            read: true,
            write: true,
            input: InputKind::Medium,
            options: vec![],
        }
    }
}

/// A medium kind a plugin provides.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediumKindInfo {
    pub id: String,
    pub aliases: Vec<String>,
    pub description: String,
    pub read: bool,
    pub write: bool,
    /// Detected inside another medium's bytes (tape image containers).
    pub container: bool,
    pub options: Vec<(String, String)>,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Descriptor {
    pub name: String,
    pub version: String,
    pub formats: Vec<FormatInfo>,
    pub media: Vec<MediumKindInfo>,
}

/// A command a plugin adds to `relic` (`relic NAME INPUT`): it reads INPUT with `format`
/// and prints the `report` extra of its volume info (or its listing when there is none).
/// This is how format-specific reports (dump's `dumpdates` W report) reach the command line
/// without the driver knowing any format.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommandInfo {
    pub name: String,
    pub format: String,
    pub help: String,
}

/// Key prefix of commands in the descriptor's `more` bag (`command.NAME` = `FORMAT\nHELP`).
const COMMAND_KEY: &str = "command.";

/// Facts a probe may use besides the first bytes.
#[derive(Debug, Clone, Default)]
pub struct ProbeContext {
    pub location: String,
    pub is_dir: bool,
    pub is_char_device: bool,
    pub record_lengths: Vec<u32>,
    pub best_bid: u32,
}

/// Where a reader reads from or a writer writes to.
pub struct Stream {
    /// The location as given by the user (a directory for path formats).
    pub location: Vec<u8>,
    /// The opened medium, for medium formats.
    pub medium: Option<Box<dyn Medium>>,
}

impl Stream {
    /// The medium, or a clear error for a path-only call.
    pub fn take_medium(&mut self, what: &str) -> Result<Box<dyn Medium>> {
        self.medium
            .take()
            .ok_or_else(|| Error::internal(format!("{what} needs a medium and the host gave none")))
    }
    pub fn location_str(&self) -> String {
        String::from_utf8_lossy(&self.location).into_owned()
    }
}

/// Shared handle to the host's services.
pub type HostHandle = Arc<dyn Host>;

/// What a plugin author implements. Every method has a default that says "not provided".
pub trait Plugin: 'static {
    /// What the plugin provides. It must depend only on the library itself (not on the
    /// environment, files or time): the host caches it per library file and does not call
    /// it again until the file changes.
    fn descriptor() -> Descriptor;

    /// Commands this plugin adds to `relic` (none by default).
    fn commands() -> Vec<CommandInfo> {
        Vec::new()
    }

    /// Bid on `id` for input starting with `head`: the number of bits verified, 0 for no.
    fn probe(_id: &str, _head: &[u8], _ctx: &ProbeContext) -> u32 {
        0
    }

    fn open_reader(
        id: &str,
        _input: Stream,
        _options: &Options,
        _host: HostHandle,
    ) -> Result<Box<dyn FormatReader>> {
        Err(Error::unsupported(format!(
            "this plugin does not read {id}"
        )))
    }

    fn open_writer(
        id: &str,
        _output: Stream,
        _options: &Options,
        _host: HostHandle,
    ) -> Result<Box<dyn FormatWriter>> {
        Err(Error::unsupported(format!(
            "this plugin does not write {id}"
        )))
    }

    fn open_medium(
        id: &str,
        _location: &str,
        _mode: OpenMode,
        _inner: Option<Box<dyn Medium>>,
        _options: &Options,
        _host: HostHandle,
    ) -> Result<Box<dyn Medium>> {
        Err(Error::unsupported(format!(
            "this plugin does not open medium {id}"
        )))
    }
}

pub(crate) fn options_from_abi(o: &RVec<AbiOption>) -> Options {
    Options::from_pairs(
        o.iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect(),
    )
}

pub(crate) fn options_to_abi(o: &Options) -> RVec<AbiOption> {
    o.pairs()
        .iter()
        .map(|(k, v)| AbiOption {
            key: k.as_str().into(),
            value: v.as_str().into(),
        })
        .collect()
}

fn descriptor_to_abi(d: Descriptor) -> AbiDescriptor {
    let strs = |v: Vec<String>| v.into_iter().map(RString::from).collect::<RVec<_>>();
    let opts = |v: Vec<(String, String)>| {
        v.into_iter()
            .map(|(n, h)| AbiOptionInfo {
                name: n.into(),
                help: h.into(),
            })
            .collect::<RVec<_>>()
    };
    AbiDescriptor {
        name: d.name.into(),
        version: d.version.into(),
        abi_major: ABI_MAJOR,
        abi_minor: ABI_MINOR,
        sdk_version: env!("CARGO_PKG_VERSION").into(),
        unwind: cfg!(panic = "unwind"),
        formats: d
            .formats
            .into_iter()
            .map(|f| AbiFormatInfo {
                id: f.id.into(),
                aliases: strs(f.aliases),
                description: f.description.into(),
                extensions: strs(f.extensions),
                read: f.read,
                write: f.write,
                input: match f.input {
                    InputKind::Medium => flags::INPUT_MEDIUM,
                    InputKind::Path => flags::INPUT_PATH,
                },
                options: opts(f.options),
            })
            .collect(),
        media: d
            .media
            .into_iter()
            .map(|m| AbiMediumKind {
                id: m.id.into(),
                aliases: strs(m.aliases),
                description: m.description.into(),
                read: m.read,
                write: m.write,
                container: m.container,
                options: opts(m.options),
            })
            .collect(),
        more: RVec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Native objects exposed through the ABI. Each adapter guards every call and refuses to be
// used again after a panic (its state may be broken).

struct Poison(bool);

impl Poison {
    fn run<T>(&mut self, what: &str, f: impl FnOnce() -> Result<T>) -> RResult<T, AbiError> {
        if self.0 {
            return RResult::RErr(error_to_abi(Error::internal(format!(
                "{what}: plugin object unusable after an earlier panic"
            ))));
        }
        let r = guard(what, f);
        if matches!(&r, Err(e) if e.kind == relic_model::ErrorKind::Internal && e.message.contains("panicked"))
        {
            self.0 = true;
        }
        rresult(r, |v| v)
    }
}

/// A native [`Medium`] exposed as an ABI medium.
pub struct MediumExport {
    inner: Box<dyn Medium>,
    poison: Poison,
}

impl MediumExport {
    pub fn new(inner: Box<dyn Medium>) -> MediumExport {
        MediumExport {
            inner,
            poison: Poison(false),
        }
    }
    pub fn boxed(inner: Box<dyn Medium>) -> MediumBox {
        medium_box(MediumExport::new(inner))
    }
}

impl AbiMedium for MediumExport {
    fn info(&self) -> AbiMediumInfo {
        medium_info_to_abi(guard_value("medium info", Default::default(), || {
            self.inner.info()
        }))
    }
    fn read_record(&mut self, mut buf: RSliceMut<'_, u8>) -> RResult<AbiRecordRead, AbiError> {
        let inner = &mut self.inner;
        self.poison.run("read_record", || {
            inner.read_record(buf.as_mut_slice()).map(record_to_abi)
        })
    }
    fn write_record(&mut self, data: RSlice<'_, u8>) -> RResult<AbiWriteStatus, AbiError> {
        let inner = &mut self.inner;
        self.poison.run("write_record", || {
            inner.write_record(data.as_slice()).map(write_status_to_abi)
        })
    }
    fn write_tape_mark(&mut self) -> RResult<AbiWriteStatus, AbiError> {
        let inner = &mut self.inner;
        self.poison.run("write_tape_mark", || {
            inner.write_tape_mark().map(write_status_to_abi)
        })
    }
    fn position(&self) -> AbiPosition {
        position_to_abi(guard_value("position", Default::default(), || {
            self.inner.position()
        }))
    }
    fn space(&mut self, op: u8, count: i64) -> RResult<i64, AbiError> {
        let inner = &mut self.inner;
        self.poison.run("space", || {
            let op = relic_model::Space::from_code(op)
                .ok_or_else(|| Error::internal(format!("unknown space op {op}")))?;
            inner.space(op, count)
        })
    }
    fn next_volume(&mut self, number: u32) -> RResult<bool, AbiError> {
        let inner = &mut self.inner;
        self.poison.run("next_volume", || inner.next_volume(number))
    }
    fn finish(&mut self) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison.run("finish", || inner.finish())
    }
}

/// A native [`FormatReader`] exposed through the ABI.
pub struct ReaderExport {
    inner: Box<dyn FormatReader>,
    poison: Poison,
}

impl ReaderExport {
    pub fn boxed(inner: Box<dyn FormatReader>) -> ReaderBox {
        reader_box(ReaderExport {
            inner,
            poison: Poison(false),
        })
    }
}

impl AbiReader for ReaderExport {
    fn volume(&mut self) -> RResult<AbiVolume, AbiError> {
        let inner = &mut self.inner;
        self.poison
            .run("volume", || inner.volume().map(|v| volume_to_abi(&v)))
    }
    fn next_entry(&mut self) -> RResult<ROption<AbiEntry>, AbiError> {
        let inner = &mut self.inner;
        self.poison.run("next_entry", || {
            inner.next_entry().map(|e| ropt(e, entry_into_abi))
        })
    }
    fn read_data(&mut self, mut buf: RSliceMut<'_, u8>) -> RResult<AbiChunk, AbiError> {
        let inner = &mut self.inner;
        self.poison.run("read_data", || {
            inner.read_data(buf.as_mut_slice()).map(chunk_to_abi)
        })
    }
    fn skip_data(&mut self) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison.run("skip_data", || inner.skip_data())
    }
}

/// A native [`FormatWriter`] exposed through the ABI.
pub struct WriterExport {
    inner: Box<dyn FormatWriter>,
    poison: Poison,
}

impl WriterExport {
    pub fn boxed(inner: Box<dyn FormatWriter>) -> WriterBox {
        writer_box(WriterExport {
            inner,
            poison: Poison(false),
        })
    }
}

impl AbiWriter for WriterExport {
    fn capabilities(&self) -> AbiCaps {
        let caps = guard_value("capabilities", None, || Some(self.inner.capabilities()));
        // A writer that panics while describing itself accepts nothing; its next call fails.
        caps_to_abi(&caps.unwrap_or_else(|| relic_model::Capabilities {
            kinds: relic_model::KindSet(0),
            ..relic_model::Capabilities::unlimited()
        }))
    }
    fn begin_archive(&mut self, volume: &AbiVolume) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison.run("begin_archive", || {
            inner.begin_archive(&volume_from_abi(volume))
        })
    }
    fn catalog_entry(&mut self, entry: &AbiEntry) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison.run("catalog_entry", || {
            inner.catalog_entry(&entry_from_abi(entry)?)
        })
    }
    fn end_catalog(&mut self) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison.run("end_catalog", || inner.end_catalog())
    }
    fn begin_entry(&mut self, entry: &AbiEntry) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison
            .run("begin_entry", || inner.begin_entry(&entry_from_abi(entry)?))
    }
    fn write_data(&mut self, offset: u64, data: RSlice<'_, u8>) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison
            .run("write_data", || inner.write_data(offset, data.as_slice()))
    }
    fn write_hole(&mut self, offset: u64, len: u64) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison
            .run("write_hole", || inner.write_hole(offset, len))
    }
    fn end_entry(&mut self) -> RResult<(), AbiError> {
        let inner = &mut self.inner;
        self.poison.run("end_entry", || inner.end_entry())
    }
    fn finish(&mut self) -> RResult<AbiWriteSummary, AbiError> {
        let inner = &mut self.inner;
        self.poison
            .run("finish", || inner.finish().map(summary_to_abi))
    }
}

// ---------------------------------------------------------------------------------------
// Root-module entry points, monomorphised per plugin type.

extern "C" fn describe_shim<P: Plugin>() -> RResult<AbiDescriptor, AbiError> {
    rresult(
        guard("describe", || Ok((P::descriptor(), P::commands()))),
        |(d, commands)| {
            let mut abi = descriptor_to_abi(d);
            for c in commands {
                abi.more.push(AbiKv {
                    key: format!("{COMMAND_KEY}{}", c.name).into(),
                    value: format!("{}\n{}", c.format, c.help).into_bytes().into(),
                });
            }
            abi
        },
    )
}

/// Commands from a descriptor's `more` bag.
pub(crate) fn commands_from_abi(more: &RVec<AbiKv>) -> Vec<CommandInfo> {
    more.iter()
        .filter_map(|kv| {
            let name = kv.key.as_str().strip_prefix(COMMAND_KEY)?;
            let value = String::from_utf8_lossy(kv.value.as_slice()).into_owned();
            let (format, help) = value.split_once('\n').unwrap_or((value.as_str(), ""));
            Some(CommandInfo {
                name: name.to_string(),
                format: format.to_string(),
                help: help.to_string(),
            })
        })
        .collect()
}

extern "C" fn probe_shim<P: Plugin>(
    id: RStr<'_>,
    head: RSlice<'_, u8>,
    ctx: &AbiProbeContext,
) -> u32 {
    let ctx = ProbeContext {
        location: ctx.location.to_string(),
        is_dir: ctx.is_dir,
        is_char_device: ctx.is_char_device,
        record_lengths: ctx.record_lengths.to_vec(),
        best_bid: ctx.best_bid,
    };
    guard_value("probe", 0, || P::probe(id.as_str(), head.as_slice(), &ctx))
}

fn stream_from_abi(s: AbiStream) -> Stream {
    Stream {
        location: s.location.into_vec(),
        medium: s
            .medium
            .into_option()
            .map(|m| Box::new(MediumClient::new(m)) as Box<dyn Medium>),
    }
}

extern "C" fn open_reader_shim<P: Plugin>(
    id: RStr<'_>,
    input: AbiStream,
    options: RVec<AbiOption>,
    host: HostBox,
) -> RResult<ReaderBox, AbiError> {
    let r = guard("open_reader", || {
        P::open_reader(
            id.as_str(),
            stream_from_abi(input),
            &options_from_abi(&options),
            Arc::new(HostClient::new(host)),
        )
    });
    rresult(r, ReaderExport::boxed)
}

extern "C" fn open_writer_shim<P: Plugin>(
    id: RStr<'_>,
    output: AbiStream,
    options: RVec<AbiOption>,
    host: HostBox,
) -> RResult<WriterBox, AbiError> {
    let r = guard("open_writer", || {
        P::open_writer(
            id.as_str(),
            stream_from_abi(output),
            &options_from_abi(&options),
            Arc::new(HostClient::new(host)),
        )
    });
    rresult(r, WriterExport::boxed)
}

extern "C" fn open_medium_shim<P: Plugin>(
    id: RStr<'_>,
    location: RStr<'_>,
    write: bool,
    inner: ROption<MediumBox>,
    options: RVec<AbiOption>,
    host: HostBox,
) -> RResult<MediumBox, AbiError> {
    let r = guard("open_medium", || {
        let inner = inner
            .into_option()
            .map(|m| Box::new(MediumClient::new(m)) as Box<dyn Medium>);
        let mode = if write {
            OpenMode::Write
        } else {
            OpenMode::Read
        };
        P::open_medium(
            id.as_str(),
            location.as_str(),
            mode,
            inner,
            &options_from_abi(&options),
            Arc::new(HostClient::new(host)),
        )
    });
    rresult(r, MediumExport::boxed)
}

/// The root module of plugin `P`: what [`export_plugin!`](crate::export_plugin) exports, and
/// what the host and tests use for an in-process plugin.
pub fn root_module<P: Plugin>() -> RelicPlugin_Ref {
    make_root(RelicPlugin {
        describe: describe_shim::<P>,
        probe: probe_shim::<P>,
        open_reader: open_reader_shim::<P>,
        open_writer: open_writer_shim::<P>,
        open_medium: open_medium_shim::<P>,
    })
}

/// Log through the host at `Info` (convenience for plugin code).
pub fn info(host: &HostHandle, msg: &str) {
    host.log(LogLevel::Info, msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    struct WithCommand;

    impl Plugin for WithCommand {
        fn descriptor() -> Descriptor {
            Descriptor {
                name: "t".into(),
                version: "0".into(),
                formats: vec![FormatInfo::new("f", "a format")],
                media: vec![],
            }
        }
        fn commands() -> Vec<CommandInfo> {
            vec![CommandInfo {
                name: "report".into(),
                format: "f".into(),
                help: "prints\na report".into(),
            }]
        }
    }

    #[test]
    fn commands_travel_in_the_descriptor() {
        let p = crate::LoadedPlugin::new(root_module::<WithCommand>()).expect("loads");
        assert_eq!(
            p.commands,
            vec![CommandInfo {
                name: "report".into(),
                format: "f".into(),
                help: "prints\na report".into()
            }]
        );
        assert_eq!(p.descriptor.formats[0].id, "f");
    }
}
