//! The `xenix-backup` format plugin: XENIX `backup`/`restore` archives and the rest of the
//! V7 `dumprestor.h` family, read and written. relic's own implementation, streaming over any
//! medium, with multi-volume floppy and tape sets.
//!
//! Read: XENIX (Intel byte order, 512- or 1024-byte blocks, 2- or 4-byte c_inumber), Research
//! V7 and 2.9BSD `dump` (PDP-11 byte order, 512 and 1024), and 68k derivatives (big-endian,
//! `short` or `int` fields); the variant is detected from the first headers (magic and
//! checksum, the block size by which length checksums and chains, the Intel/PDP-11 order by
//! the plausibility of the 32-bit fields). Write: XENIX backup, 512-byte blocks by default,
//! 1024 with `block-size=1024`, V7 PDP-11 or 68k byte order with `byte-order=`.
//!
//! Modules:
//! - [`layout`]: the header, inode, directory and map layouts, every field with its offset
//!   and source; checksums and byte orders;
//! - [`read`]: [`read::XenixReader`], detection and the probe's bid;
//! - [`write`]: [`write::XenixWriter`] and the [`write::capabilities`] the engine fits
//!   entries to (14-byte names, 16-bit ids, no symlinks/sockets/xattrs, whole seconds in
//!   32 bits, the V7 file size limit).
//!
//! Format id `xenix-backup`, aliases `xenix` and `v7-dump`. Options: `block-size=512|1024`
//! (write; read: force), `byte-order=intel|pdp11|68k` (write; read: force), `volume-size=N`
//! (write: bytes per volume, e.g. `360k`, `720k`, `1.2m`, `1.44m`; read: split a
//! concatenation of volumes), `dump-date=SECONDS` (write) and `salvage` (read).

pub mod layout;
pub mod read;
pub mod write;

use std::sync::Arc;

use relic_model::{Error, FormatReader, FormatWriter, NullHost, Result};
use relic_plugin_sdk::{
    Descriptor, FormatInfo, HostHandle, InputKind, Options, Plugin, ProbeContext, Stream,
};

pub use layout::{ByteOrder, Shape, Variant};
pub use read::{ReadOptions, XenixReader};
pub use write::{WriteOptions, XenixWriter};

pub struct XenixPlugin;

const ID: &str = "xenix-backup";
const ALIASES: &[&str] = &["xenix", "v7-dump"];

const OPTIONS: &[(&str, &str)] = &[
    (
        "block-size=N",
        "write: 512 (default, XENIX 3.x and V7) or 1024 (XENIX's 1 KiB file system, 2.9BSD); read: force instead of detecting",
    ),
    (
        "byte-order=ORDER",
        "write: intel (default, XENIX), pdp11 (V7, 2.9BSD) or 68k; read: force instead of detecting",
    ),
    (
        "volume-size=N",
        "write: bytes per volume, the next volume starts before a record would pass it (360k, 720k, 1.2m, 1.44m floppies; k/m suffixes); read: the volumes of a set follow one another in one input",
    ),
    (
        "dump-date=SECONDS",
        "write: the dump date (c_date) in seconds since 1970; default the source's date, else now",
    ),
    (
        "salvage",
        "read: skip damaged blocks to the next header with a valid magic and checksum, and go on",
    ),
];

fn is_ours(id: &str) -> bool {
    id == ID || ALIASES.contains(&id)
}

fn known() -> Vec<&'static str> {
    OPTIONS
        .iter()
        .map(|(n, _)| n.split('=').next().unwrap_or(n))
        .collect()
}

fn block_size(options: &Options) -> Result<Option<usize>> {
    match options.parse::<usize>("block-size")? {
        None => Ok(None),
        Some(b @ (512 | 1024)) => Ok(Some(b)),
        Some(b) => Err(Error::config(format!(
            "block-size {b}: the V7 family uses 512 or 1024"
        ))),
    }
}

fn byte_order(options: &Options) -> Result<Option<ByteOrder>> {
    match options.get("byte-order") {
        None => Ok(None),
        Some(s) => ByteOrder::parse(s)
            .map(Some)
            .ok_or_else(|| Error::config(format!("byte-order {s}: expected intel, pdp11 or 68k"))),
    }
}

fn volume_size(options: &Options) -> Result<Option<u64>> {
    match options.get("volume-size") {
        None => Ok(None),
        Some(s) => write::parse_volume_size(s)
            .map(Some)
            .ok_or_else(|| Error::config(format!("volume-size {s}: not a size"))),
    }
}

/// Parse the reader's options.
pub fn read_options(options: &Options) -> Result<ReadOptions> {
    options.check_known(&known(), "the xenix-backup reader")?;
    Ok(ReadOptions {
        salvage: options.flag("salvage"),
        volume_size: volume_size(options)?,
        block_size: block_size(options)?,
        byte_order: byte_order(options)?,
    })
}

/// Parse the writer's options.
pub fn write_options(options: &Options) -> Result<WriteOptions> {
    options.check_known(&known(), "the xenix-backup writer")?;
    let order = byte_order(options)?.unwrap_or(ByteOrder::Intel);
    let bsize = block_size(options)?.unwrap_or(512);
    Ok(WriteOptions {
        variant: Variant::new(order, Shape::Short, bsize),
        volume_size: volume_size(options)?,
        dump_date: options.parse::<i64>("dump-date")?,
    })
}

impl Plugin for XenixPlugin {
    fn descriptor() -> Descriptor {
        let mut f = FormatInfo::new(
            ID,
            "XENIX backup and the V7 dump family (V7/2.9BSD PDP-11, 68k): 512/1024-byte blocks, multi-volume floppy sets",
        );
        f.aliases = ALIASES.iter().map(|s| s.to_string()).collect();
        f.input = InputKind::Medium;
        f.options = OPTIONS
            .iter()
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect();
        Descriptor {
            name: ID.into(),
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
                "the xenix-backup plugin does not read {id}"
            )));
        }
        let opts = read_options(options)?;
        let medium = input.take_medium("the xenix-backup reader")?;
        Ok(Box::new(XenixReader::new(medium, host, opts)?))
    }

    fn open_writer(
        id: &str,
        mut output: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatWriter>> {
        if !is_ours(id) {
            return Err(Error::unsupported(format!(
                "the xenix-backup plugin does not write {id}"
            )));
        }
        let opts = write_options(options)?;
        let medium = output.take_medium("the xenix-backup writer")?;
        Ok(Box::new(XenixWriter::new(medium, opts, host)?))
    }
}

/// Read a whole dump from `data`, ignoring the outcome, plainly and with salvage: the entry
/// point of the cargo-fuzz target (`fuzz/`) and of the smoke-fuzz tests. Must never panic,
/// hang or allocate without bound, whatever `data` holds.
pub fn fuzz_read(data: &[u8]) {
    let _ = read::bid(data);
    for salvage in [false, true] {
        let medium = relic_plugin_sdk::testing::MemoryMedium::from_bytes(data, 10240);
        let host: HostHandle = Arc::new(NullHost);
        let opts = ReadOptions {
            salvage,
            ..ReadOptions::default()
        };
        let Ok(mut r) = XenixReader::new(medium, host, opts) else {
            continue;
        };
        let _ = r.volume();
        let mut buf = vec![0u8; 8192];
        // every call consumes input or ends, but bound the loop anyway
        'entries: for _ in 0..100_000 {
            match r.next_entry() {
                Ok(Some(_)) => {
                    for _ in 0..1_000_000 {
                        match r.read_data(&mut buf) {
                            Ok(relic_model::Chunk::End) | Err(_) => continue 'entries,
                            Ok(_) => {}
                        }
                    }
                    break;
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_refuse_nonsense() {
        let w = write_options(
            &Options::new()
                .with("block-size", "1024")
                .with("byte-order", "pdp11")
                .with("volume-size", "1.44m")
                .with("dump-date", "550000000"),
        )
        .expect("good options");
        assert_eq!(w.variant.name(), "pdp11-short-1024");
        assert_eq!(w.volume_size, Some(1_474_560));
        assert_eq!(w.dump_date, Some(550_000_000));
        let d = write_options(&Options::new()).expect("defaults");
        assert_eq!(d.variant, Variant::XENIX_512);
        for (k, v) in [
            ("block-size", "2048"),
            ("byte-order", "vax"),
            ("volume-size", "lots"),
            ("dump-date", "yesterday"),
            ("level", "0"),
        ] {
            let e = write_options(&Options::new().with(k, v)).expect_err(k);
            assert_eq!(e.kind, relic_model::ErrorKind::Config, "{k}: {e}");
        }
        let r = read_options(&Options::new().with("salvage", "").with("byte-order", "68k"))
            .expect("read options");
        assert!(r.salvage);
        assert_eq!(r.byte_order, Some(ByteOrder::M68k));
    }

    #[test]
    fn descriptor_and_probe() {
        let d = XenixPlugin::descriptor();
        assert_eq!(d.formats[0].id, "xenix-backup");
        assert_eq!(d.formats[0].aliases, vec!["xenix", "v7-dump"]);
        let ctx = ProbeContext::default();
        assert_eq!(XenixPlugin::probe("xenix", &[0u8; 1024], &ctx), 0);
        assert_eq!(XenixPlugin::probe("tar", &[0u8; 1024], &ctx), 0);
    }
}
