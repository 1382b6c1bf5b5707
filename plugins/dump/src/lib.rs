//! The `dump` format plugin: the BSD dump family with 1024-byte headers, as two formats.
//!
//! - `bsd-dump` (aliases `dump`, `linux-dump`, `ufsdump`): reads everything Linux dump
//!   0.4b47 writes and what Linux restore reads (4.2-4.4BSD and Linux NFS_MAGIC dumps in
//!   both byte orders, FreeBSD UFS2, 4.1BSD OFS_MAGIC, compressed zlib/bzip2/lzo records,
//!   records up to 1 MiB, multi-volume sets, incrementals, xattr side records); writes the
//!   4.4BSD/Linux format that Linux restore reads, with holes and xattrs.
//! - `irix-dump` (alias `efs-dump`): the same reader; writes IRIX's big-endian
//!   4.3BSD-Tahoe layout (magic 60012, or 60011 as the IRIX manual page says), with holes
//!   and link counts that IRIX's own dump never recorded.
//!
//! Modules:
//! - [`layout`]: the header record, every field's offset and source, checksum, detection;
//! - [`tape`]: blocks, records, compression framing and volumes under both directions;
//! - [`lzo`]: the LZO1X decoder for `dump -y` records;
//! - [`dirs`], [`xattr`]: directory data and ext2 xattr blobs, both directions;
//! - [`read`]: the reader, [`read::DumpReader`], with [`tree`]: the directory phase in
//!   memory (the directory tree walk and the other inodes' names by inode);
//! - [`write`](mod@write): the writer, [`write::DumpWriter`], with its two flavours ([`write::Flavor`]);
//! - [`dumpdates`]: the dumpdates file (`level=` with `dumpdates=`), and
//!   [`dumpdates_report`] for a `relic dumpdates FILE` command.
//!
//! Known model limitation worked around here: xattrs of a Linux dump follow the file's data,
//! so files up to `lookahead` bytes are read ahead (see [`read`]).
//!
//! The reader declares the host hint `relic-intent=WHAT`: for `relic list` without `-l` the
//! host says `names`, and a 4.4BSD/Linux dump is then listed like `restore -t` does, from
//! TS_BITS and the directory phase only, without reading the file phase (see [`read`] for
//! when it still reads everything). So `relic list` reads the directory phase only and
//! cannot see damage after it; `relic list -l` checks every header.

// `is_multiple_of` is newer (Rust 1.87) than the workspace's rust-version (1.80).
#![allow(clippy::manual_is_multiple_of)]

pub mod dirs;
pub mod dumpdates;
pub mod layout;
pub mod lzo;
pub mod read;
pub mod tape;
pub mod tree;
pub mod write;
pub mod xattr;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use relic_model::{Error, FormatReader, FormatWriter, NullHost, Result};
use relic_plugin_sdk::{
    Descriptor, FormatInfo, HostHandle, InputKind, Intent, Options, Plugin, ProbeContext, Stream,
};

pub use dumpdates::dumpdates_report;
pub use read::{DumpReader, ReadOptions};
pub use write::{DumpWriter, Flavor, WriteOptions};

pub struct DumpPlugin;

pub const BSD_ID: &str = "bsd-dump";
pub const IRIX_ID: &str = "irix-dump";
const BSD_ALIASES: &[&str] = &["dump", "linux-dump", "ufsdump"];
const IRIX_ALIASES: &[&str] = &["efs-dump"];

const READ_OPTIONS: &[(&str, &str)] = &[
    (
        "salvage",
        "read: skip damaged input to the next valid header (magic and checksum) and report what was skipped",
    ),
    (
        "lookahead=SIZE",
        "read: files up to SIZE (default 16m) are read ahead so the xattr record that follows them can be attached",
    ),
    (
        "relic-intent=WHAT",
        "host hint: with `names` (relic list without -l) answer from TS_BITS and the directory phase, like restore -t",
    ),
];

const WRITE_OPTIONS: &[(&str, &str)] = &[
    ("level=N", "write: dump level 0-9 (with dumpdates=, only what changed since the last lower level)"),
    (
        "dumpdates=FILE",
        "write: dumpdates file (IRIX text format) to take the base date from and to update after success",
    ),
    ("label=TEXT", "write: volume label (at most 15 bytes; default \"none\")"),
    ("blocking-factor=N", "write: 1 KiB blocks per record (default 10, or 32 at densities of 6250 bpi and more)"),
    ("density=BPI", "write: tape density, for the capacity estimate from length="),
    ("length=FEET", "write: tape length in feet; with density= gives the volume capacity (IRIX dump's s and d)"),
    (
        "capacity=SIZE",
        "write: bytes per volume (k/m/g suffixes; IRIX dump's C); a new volume starts before a record would pass it",
    ),
    ("host=NAME", "write: host name recorded in the header (default: the source's)"),
    ("filesystem=NAME", "write: file system name recorded (default: the source's; also the dumpdates key)"),
    ("device=NAME", "write: device name recorded (default: the file system name)"),
    ("dump-date=SECONDS", "write: the dump date, seconds since 1970 (default: the source's date or now)"),
    ("magic=60012|60011", "write (irix-dump): header magic; 60012 is what IRIX dump wrote and IRIX restore reads (default), 60011 the manual page's"),
];

fn option_names(list: &[(&str, &str)]) -> Vec<&'static str> {
    let _ = list;
    READ_OPTIONS
        .iter()
        .chain(WRITE_OPTIONS)
        .map(|(n, _)| n.split('=').next().unwrap_or(n))
        .collect()
}

fn flavor_of(id: &str) -> Option<Flavor> {
    if id == BSD_ID || BSD_ALIASES.contains(&id) {
        Some(Flavor::Bsd)
    } else if id == IRIX_ID || IRIX_ALIASES.contains(&id) {
        Some(Flavor::Irix)
    } else {
        None
    }
}

/// Parse reader options.
pub fn read_options(options: &Options) -> Result<ReadOptions> {
    options.check_known(&option_names(READ_OPTIONS), "the dump reader")?;
    let mut o = ReadOptions {
        salvage: options.flag("salvage"),
        names_only: Intent::of(options) == Intent::Names,
        metadata_only: Intent::of(options) == Intent::List,
        ..ReadOptions::default()
    };
    if let Some(n) = options.size("lookahead")? {
        if n > 1 << 30 {
            return Err(Error::config("lookahead above 1 GiB"));
        }
        o.lookahead = n;
    }
    Ok(o)
}

/// The bid of a format on the first bytes: bits verified (magic and checksum = 64).
pub fn bid(id: &str, head: &[u8]) -> u32 {
    let Some(flavor) = flavor_of(id) else {
        return 0;
    };
    let Some(l) = layout::detect(head) else {
        return 0;
    };
    // AIX 3+ by-inode backups are this same big-endian layout with xix_flag = 60013 at
    // offset 676, where a 4.3BSD-Tahoe header has its label (research: aix-backup.md 2.3):
    // those belong to the aix-backup format.
    if l.endian == layout::Endian::Big && head.len() >= 680 && l.endian.i32(head, 676) == 60013 {
        return 0;
    }
    let flags = l.endian.i32(head, layout::OFF_FLAGS);
    let new_inode = flags & layout::DR_NEWINODEFMT != 0;
    let irix_like = l.endian == layout::Endian::Big
        && !new_inode
        && matches!(
            l.generation,
            layout::Generation::Nfs | layout::Generation::Tahoe60011
        );
    match (flavor, irix_like) {
        (Flavor::Irix, true) => 66,
        (Flavor::Irix, false) => 60,
        (Flavor::Bsd, true) => 62,
        (Flavor::Bsd, false) => 64,
    }
}

impl Plugin for DumpPlugin {
    fn descriptor() -> Descriptor {
        let opts: Vec<(String, String)> = READ_OPTIONS
            .iter()
            .chain(WRITE_OPTIONS)
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect();
        let mut bsd = FormatInfo::new(
            BSD_ID,
            "4.4BSD/Linux dump (Linux dump 0.4b47 and restore): both byte orders, UFS2, 4.1BSD, compressed, multi-volume, incremental, xattrs",
        );
        bsd.aliases = BSD_ALIASES.iter().map(|s| s.to_string()).collect();
        bsd.extensions = vec!["dump".into()];
        bsd.input = InputKind::Medium;
        bsd.options = opts
            .iter()
            .filter(|(n, _)| !n.starts_with("magic"))
            .cloned()
            .collect();
        let mut irix = FormatInfo::new(
            IRIX_ID,
            "IRIX EFS dump(1M): big-endian 4.3BSD-Tahoe dump, magic 60012 (or 60011), read and write",
        );
        irix.aliases = IRIX_ALIASES.iter().map(|s| s.to_string()).collect();
        irix.input = InputKind::Medium;
        irix.options = opts;
        let mut dates = FormatInfo::new(
            "dumpdates",
            "dump's dumpdates file (which level of which file system was dumped when); read-only, see `relic dumpdates`",
        );
        dates.write = false;
        Descriptor {
            name: "dump".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![bsd, irix, dates],
            media: vec![],
        }
    }

    fn commands() -> Vec<relic_plugin_sdk::CommandInfo> {
        vec![relic_plugin_sdk::CommandInfo {
            name: "dumpdates".into(),
            format: "dumpdates".into(),
            help: "print dump's W report of a dumpdates file: the newest dump of each level per file system".into(),
        }]
    }

    fn probe(id: &str, head: &[u8], _ctx: &ProbeContext) -> u32 {
        if id == "dumpdates" {
            return dumpdates::bid(head);
        }
        bid(id, head)
    }

    fn open_reader(
        id: &str,
        mut input: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatReader>> {
        if id == "dumpdates" {
            options.check_known(&[], "the dumpdates format")?;
            let medium = input.take_medium("the dumpdates reader")?;
            return Ok(Box::new(dumpdates::DumpdatesReader::open(medium)?));
        }
        let Some(flavor) = flavor_of(id) else {
            return Err(Error::unsupported(format!(
                "the dump plugin does not read {id}"
            )));
        };
        let opts = read_options(options)?;
        let medium = input.take_medium("the dump reader")?;
        let fid = match flavor {
            Flavor::Bsd => BSD_ID,
            Flavor::Irix => IRIX_ID,
        };
        Ok(Box::new(DumpReader::open(medium, host, opts, fid)?))
    }

    fn open_writer(
        id: &str,
        mut output: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatWriter>> {
        let Some(flavor) = flavor_of(id) else {
            return Err(Error::unsupported(format!(
                "the dump plugin does not write {id}"
            )));
        };
        let opts = write::WriteOptions::parse(flavor, options)?;
        let medium = output.take_medium("the dump writer")?;
        DumpWriter::boxed(medium, flavor, opts, host)
    }
}

/// Read a whole dump from `data`, ignoring the outcome: the entry point of the cargo-fuzz
/// target (`fuzz/`) and of the smoke-fuzz tests. Reads four times: plain, with `salvage`,
/// names only (`relic-intent=names`) and metadata only (`relic-intent=list`). Never panics, hangs or allocates without bound,
/// whatever `data` holds.
pub fn fuzz_read(data: &[u8]) {
    for id in [BSD_ID, IRIX_ID] {
        let _ = bid(id, data);
    }
    for (salvage, names_only, metadata_only) in [
        (false, false, false),
        (true, false, false),
        (false, true, false),
        (false, false, true),
    ] {
        let medium = relic_plugin_sdk::testing::MemoryMedium::from_bytes(data, 10240);
        let host: HostHandle = Arc::new(NullHost);
        let opts = ReadOptions {
            salvage,
            lookahead: 1 << 20,
            names_only,
            metadata_only,
        };
        let Ok(mut r) = DumpReader::open(Box::new(medium), host, opts, BSD_ID) else {
            continue;
        };
        let _ = r.volume();
        let mut buf = vec![0u8; 8192];
        for _ in 0..100_000 {
            match r.next_entry() {
                Ok(Some(_)) => loop {
                    match r.read_data(&mut buf) {
                        Ok(relic_model::Chunk::End) | Err(_) => break,
                        Ok(_) => {}
                    }
                },
                Ok(None) | Err(_) => break,
            }
        }
    }
}
