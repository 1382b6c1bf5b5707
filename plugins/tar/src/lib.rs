//! The `tar` format plugin: v7, ustar, POSIX pax and GNU tar archives, read and written,
//! with sparse files, long names, hard and symbolic links, devices, fifos, xattrs and
//! nanosecond times. relic's own implementation (no `tar` crate), streaming over any medium.
//!
//! Modules:
//! - [`layout`]: the 512-byte header block, its fields and numeric encodings, the checksum;
//! - [`pax`]: pax extended-header records and their value encodings;
//! - [`sparse`]: the four GNU sparse formats' maps;
//! - [`read`]: [`read::TarReader`], the streaming reader, and the probe's bid;
//! - [`write`]: [`write::TarWriter`], the streaming writer (pax, gnu or ustar).
//!
//! Format id `tar`, aliases `ustar`, `pax`, `gnutar` (opening a writer under an alias picks
//! that dialect unless `format=` says otherwise). Reader option: `ignore-zeros`. Writer
//! options: `format=pax|gnu|ustar`, `record-size=N` or `blocking-factor=N`, `sparse=yes|no`,
//! `spool-dir=DIR`.

// `is_multiple_of` is newer (Rust 1.87) than the workspace's rust-version (1.80).
#![allow(clippy::manual_is_multiple_of)]

pub mod layout;
pub mod pax;
pub mod read;
pub mod sparse;
pub mod write;

use std::sync::Arc;

use relic_model::{Error, FormatReader, FormatWriter, NullHost, Result};
use relic_plugin_sdk::{
    Descriptor, FormatInfo, HostHandle, InputKind, Options, Plugin, ProbeContext, Stream,
};

pub use read::{ReadOptions, TarReader};
pub use write::{TarFormat, TarWriter, WriteOptions};

pub struct TarPlugin;

const READ_OPTIONS: &[(&str, &str)] = &[(
    "ignore-zeros",
    "read: go on past zero blocks (concatenated archives), like GNU tar --ignore-zeros",
)];

const WRITE_OPTIONS: &[(&str, &str)] = &[
    ("format=FORMAT", "write: pax (default; POSIX.1-2001), gnu (GNU tar's own) or ustar (POSIX.1-1988)"),
    ("record-size=N", "write: record size in bytes, a multiple of 512 (default 10240)"),
    ("blocking-factor=N", "write: record size in 512-byte blocks (default 20)"),
    (
        "sparse=yes|no",
        "write: keep holes as GNU sparse members (default yes; files over 1 MiB are spooled to a temporary \
         file first); no = stream every file directly, holes as zeros",
    ),
    ("spool-dir=DIR", "write: directory for those temporary files (default: the system's temporary directory)"),
];

const ALIASES: &[&str] = &["ustar", "pax", "gnutar"];

fn is_ours(id: &str) -> bool {
    id == "tar" || ALIASES.contains(&id)
}

/// Parse writer options; `id` may be an alias that picks the default dialect.
pub fn write_options(id: &str, options: &Options) -> Result<WriteOptions> {
    let known: Vec<&str> = WRITE_OPTIONS
        .iter()
        .chain(READ_OPTIONS)
        .map(|(n, _)| n.split('=').next().unwrap_or(n))
        .collect();
    options.check_known(&known, "the tar writer")?;
    let mut o = WriteOptions {
        format: match id {
            "ustar" => TarFormat::Ustar,
            "gnutar" => TarFormat::Gnu,
            _ => TarFormat::Pax,
        },
        ..WriteOptions::default()
    };
    if let Some(f) = options.get("format") {
        o.format = TarFormat::parse(f)
            .ok_or_else(|| Error::config(format!("tar format={f}: expected pax, gnu or ustar")))?;
    }
    match (
        options.size("record-size")?,
        options.parse::<u64>("blocking-factor")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(Error::config(
                "give record-size or blocking-factor, not both",
            ))
        }
        (Some(n), None) => {
            o.record_size =
                usize::try_from(n).map_err(|_| Error::config("record-size too large"))?
        }
        (None, Some(b)) => {
            o.record_size = usize::try_from(b.saturating_mul(512))
                .map_err(|_| Error::config("blocking-factor too large"))?
        }
        (None, None) => {}
    }
    if o.record_size == 0
        || o.record_size % 512 != 0
        || o.record_size > relic_plugin_sdk::stream::MAX_RECORD
    {
        return Err(Error::config(format!(
            "record size {} is not a positive multiple of 512 up to 16 MiB",
            o.record_size
        )));
    }
    if let Some(s) = options.get("sparse") {
        o.sparse = match s {
            "" | "yes" | "true" | "1" | "on" => true,
            "no" | "false" | "0" | "off" => false,
            _ => return Err(Error::config(format!("tar sparse={s}: expected yes or no"))),
        };
    }
    if let Some(d) = options.get("spool-dir") {
        o.spool_dir = Some(d.into());
    }
    Ok(o)
}

/// Parse reader options.
pub fn read_options(options: &Options) -> Result<ReadOptions> {
    let known: Vec<&str> = READ_OPTIONS
        .iter()
        .chain(WRITE_OPTIONS)
        .map(|(n, _)| n.split('=').next().unwrap_or(n))
        .collect();
    options.check_known(&known, "the tar reader")?;
    Ok(ReadOptions {
        ignore_zeros: options.flag("ignore-zeros"),
    })
}

impl Plugin for TarPlugin {
    fn descriptor() -> Descriptor {
        let mut f = FormatInfo::new(
            "tar",
            "tar archives: v7, ustar, POSIX pax and GNU; sparse files, long names, links, devices, xattrs",
        );
        f.aliases = ALIASES.iter().map(|s| s.to_string()).collect();
        f.extensions = vec!["tar".into()];
        f.input = InputKind::Medium;
        f.options = READ_OPTIONS
            .iter()
            .chain(WRITE_OPTIONS)
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect();
        Descriptor {
            name: "tar".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![f],
            media: vec![],
        }
    }

    fn probe(id: &str, head: &[u8], _ctx: &ProbeContext) -> u32 {
        if is_ours(id) {
            read::bid(head)
        } else {
            0
        }
    }

    fn open_reader(
        id: &str,
        mut input: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatReader>> {
        if !is_ours(id) {
            return Err(Error::unsupported(format!(
                "the tar plugin does not read {id}"
            )));
        }
        let opts = read_options(options)?;
        let medium = input.take_medium("the tar reader")?;
        Ok(Box::new(TarReader::new(medium, host, opts)))
    }

    fn open_writer(
        id: &str,
        mut output: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatWriter>> {
        if !is_ours(id) {
            return Err(Error::unsupported(format!(
                "the tar plugin does not write {id}"
            )));
        }
        let opts = write_options(id, options)?;
        let medium = output.take_medium("the tar writer")?;
        Ok(Box::new(TarWriter::new(medium, opts, host)?))
    }
}

/// Read a whole archive from `data`, ignoring the outcome: the entry point of the
/// cargo-fuzz target (`fuzz/`) and of the smoke-fuzz tests. Must never panic, hang or
/// allocate without bound, whatever `data` holds.
pub fn fuzz_read(data: &[u8]) {
    let _ = read::bid(data);
    let medium = relic_plugin_sdk::testing::MemoryMedium::from_bytes(data, 10240);
    let host: HostHandle = Arc::new(NullHost);
    let mut r = TarReader::new(medium, host, ReadOptions::default());
    let _ = r.volume();
    let mut buf = vec![0u8; 8192];
    // every call consumes input or ends, but bound the loop anyway
    for _ in 0..100_000 {
        match r.next_entry() {
            Ok(Some(_)) => loop {
                match r.read_data(&mut buf) {
                    Ok(relic_model::Chunk::End) | Err(_) => break,
                    Ok(_) => {}
                }
            },
            Ok(None) | Err(_) => return,
        }
    }
}
