//! The `vms-backup` format plugin: OpenVMS BACKUP save sets, read and written.
//!
//! A save set (`BACKUP ... /SAVE_SET`, disk `.BCK`/`.SAV`, kit files `X.A`, `X.B`, or a tape)
//! is a sequence of equal-sized blocks, each a 256-byte header and records; files are a FILE
//! record of typed attributes followed by VBN records holding their disk blocks verbatim.
//! Everything here follows the research note `shared/research/vms-backup.md`.
//!
//! Modules:
//! - [`layout`]: block header, record header, record types, attribute codes, the RMS FAT,
//!   VMS time / UIC / protection encodings, with offsets and sources;
//! - [`crc`]: CRC-16/ARC of block headers and CRC-32 of blocks;
//! - [`xor`]: XOR redundancy groups, recognised and used to rebuild one lost block per group;
//! - [`ansi`]: ANSI tape labels (VOL1, HDR1/HDR2, EOF1/EOF2, EOV1/EOV2);
//! - [`blocks`]: the block layer over a medium (disk byte streams and tapes, duplicate
//!   blocks, multi-volume continuation);
//! - [`names`]: `[DIR.SUB]NAME.TYPE;VER` <-> model paths, ODS-2 and ODS-5;
//! - [`records`]: RMS record formats to Unix text (`vms-records=text|auto`);
//! - [`spool`]: the bounded spool that lets a converted file's size precede its data;
//! - [`read`]: [`read::VmsReader`], every record type, the model mapping;
//! - [`write`]: [`write::VmsWriter`], file-by-file save sets per the note's writer recipe.
//!
//! Format id `vms-backup`, aliases `saveset`, `vms`. Reader options: `vms-records`,
//! `vms-prn`, `versions`, `saveset`, `salvage`. Writer options: `block-size`, `group-size`,
//! `saveset-name`, `comment`, `vms-binary`, `ods5`, `nocrc`, `labels`, `volume-id`.

// `is_multiple_of` is newer (Rust 1.87) than the workspace's rust-version (1.80).
#![allow(clippy::manual_is_multiple_of)]

pub mod ansi;
pub mod blocks;
pub mod crc;
pub mod layout;
pub mod names;
pub mod read;
pub mod records;
pub mod spool;
pub mod write;
pub mod xor;

use std::sync::Arc;

use relic_model::{Error, FormatReader, FormatWriter, NullHost, Result};
use relic_plugin_sdk::{
    Descriptor, FormatInfo, HostHandle, InputKind, Options, Plugin, ProbeContext, Stream,
};

pub use read::{ReadOptions, RecordsMode, Selector, Versions, VmsReader};
pub use write::{VmsWriter, WriteOptions};

pub struct VmsPlugin;

const ID: &str = "vms-backup";
const ALIASES: &[&str] = &["saveset", "vms"];

const READ_OPTIONS: &[(&str, &str)] = &[
    (
        "vms-records=raw|text|auto",
        "read: file data as stored (raw, what VMS FTP binary gives), as Unix text (text: records + LF, \
         VFC control dropped, STM CRLF -> LF, STMCR CR -> LF; the FTP ASCII policy), or text only for files \
         whose record attributes carry carriage control (auto, the default)",
    ),
    (
        "vms-prn",
        "read: in text conversion honour print-file (PRN) carriage control of VFC records instead of one line per record",
    ),
    (
        "versions=all|latest",
        "read: all versions (default; the newest plain, older ones as NAME.TYPE;N) or only the newest",
    ),
    (
        "saveset=NAME|N",
        "read: on a tape with several save sets, only this one (by name or position from 1); \
         without it every save set is read into a directory named after it",
    ),
    (
        "salvage",
        "read: go on past blocks that are damaged beyond XOR repair, skipping the damaged files' lost data",
    ),
];

const WRITE_OPTIONS: &[(&str, &str)] = &[
    (
        "block-size=N",
        "write: save-set block size, a multiple of 512 from 2048 to 65024 (default 32256; 8192 is usual on tape)",
    ),
    ("group-size=N", "write: XOR redundancy group size, 0 for none (default 10, at most 100)"),
    ("saveset-name=NAME", "write: the save-set name (default: the output file name, upper case)"),
    ("comment=TEXT", "write: the /COMMENT text of the summary record"),
    ("vms-binary", "write: regular files from non-VMS sources as FIX 512 (default STREAM_LF)"),
    ("ods5", "write: ODS-5 names (case kept, other characters ^-escaped) instead of ODS-2"),
    ("nocrc", "write: no block CRC-32 (/NOCRC); the header checksum is always written"),
    (
        "labels=auto|yes|no",
        "write: ANSI tape labels around the save set (auto: when the medium is a tape)",
    ),
    ("volume-id=ID", "write: the tape volume identifier of VOL1 (default RELIC)"),
];

fn is_ours(id: &str) -> bool {
    id == ID || ALIASES.contains(&id)
}

fn known() -> Vec<&'static str> {
    READ_OPTIONS
        .iter()
        .chain(WRITE_OPTIONS)
        .map(|(n, _)| n.split('=').next().unwrap_or(n))
        .collect()
}

/// Parse the reader options.
pub fn read_options(o: &Options) -> Result<ReadOptions> {
    o.check_known(&known(), "the vms-backup reader")?;
    let mut r = ReadOptions::default();
    if let Some(v) = o.get("vms-records") {
        r.records = match v {
            "raw" => RecordsMode::Raw,
            "text" => RecordsMode::Text,
            "auto" | "" => RecordsMode::Auto,
            _ => {
                return Err(Error::config(format!(
                    "vms-records={v}: expected raw, text or auto"
                )))
            }
        };
    }
    if let Some(v) = o.get("versions") {
        r.versions = match v {
            "all" | "" => Versions::All,
            "latest" => Versions::Latest,
            _ => {
                return Err(Error::config(format!(
                    "versions={v}: expected all or latest"
                )))
            }
        };
    }
    if let Some(v) = o.get("saveset") {
        let v = v.trim();
        if v.is_empty() {
            return Err(Error::config("saveset= needs a name or a number"));
        }
        r.saveset = Some(match v.parse::<u32>() {
            Ok(n) if n > 0 => Selector::Number(n),
            _ => Selector::Name(v.to_string()),
        });
    }
    r.salvage = o.flag("salvage");
    r.prn = o.flag("vms-prn");
    Ok(r)
}

/// Parse the writer options.
pub fn write_options(o: &Options) -> Result<WriteOptions> {
    o.check_known(&known(), "the vms-backup writer")?;
    let mut w = WriteOptions::default();
    if let Some(n) = o.size("block-size")? {
        if !(2048..=65024).contains(&n) || n % 512 != 0 {
            return Err(Error::config(format!(
                "block-size={n}: expected a multiple of 512 from 2048 to 65024"
            )));
        }
        w.block_size = n as usize;
    }
    if let Some(n) = o.parse::<u32>("group-size")? {
        if n > 100 {
            return Err(Error::config(format!("group-size={n}: at most 100")));
        }
        w.group_size = n;
    }
    if let Some(v) = o.get("saveset-name") {
        w.saveset_name = Some(v.to_string());
    }
    if let Some(v) = o.get("comment") {
        w.comment = Some(v.to_string());
    }
    w.binary = o.flag("vms-binary");
    w.ods5 = o.flag("ods5");
    w.nocrc = o.flag("nocrc");
    if let Some(v) = o.get("labels") {
        w.labels = match v {
            "auto" | "" => None,
            "yes" | "on" | "true" | "1" => Some(true),
            "no" | "off" | "false" | "0" => Some(false),
            _ => {
                return Err(Error::config(format!(
                    "labels={v}: expected auto, yes or no"
                )))
            }
        };
    }
    if let Some(v) = o.get("volume-id") {
        w.volume_id = v.to_string();
    }
    Ok(w)
}

impl Plugin for VmsPlugin {
    fn descriptor() -> Descriptor {
        let mut f = FormatInfo::new(
            ID,
            "OpenVMS BACKUP save sets (file-by-file and /IMAGE; disk and ANSI tape): CRC and XOR recovery, RMS record conversion",
        );
        f.aliases = ALIASES.iter().map(|s| s.to_string()).collect();
        f.extensions = vec!["bck".into(), "sav".into()];
        f.input = InputKind::Medium;
        f.options = READ_OPTIONS
            .iter()
            .chain(WRITE_OPTIONS)
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
            bid(head)
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
                "the vms-backup plugin does not read {id}"
            )));
        }
        let opts = read_options(options)?;
        let medium = input.take_medium("the vms-backup reader")?;
        Ok(Box::new(VmsReader::open(medium, host, opts)?))
    }

    fn open_writer(
        id: &str,
        mut output: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatWriter>> {
        if !is_ours(id) {
            return Err(Error::unsupported(format!(
                "the vms-backup plugin does not write {id}"
            )));
        }
        let mut opts = write_options(options)?;
        if opts.saveset_name.is_none() {
            let loc = output.location_str();
            let base = loc.rsplit('/').next().unwrap_or("").to_string();
            // a volume-set pattern or list (`out%02d.tap`, `a.tap,b.tap`) names no save set
            if !base.is_empty() && base != "-" && !base.contains(['%', ',']) {
                opts.saveset_name = Some(base);
            }
        }
        let medium = output.take_medium("the vms-backup writer")?;
        Ok(Box::new(VmsWriter::new(medium, opts, host)?))
    }
}

/// The probe: bits verified on the first bytes (libarchive's rule).
///
/// A disk save set: block header size 256 (16 bits), subsystem 1 and application 1 (32),
/// block number 1 (32), structure level 0x0101 (16), a plausible block size (8), the CRC-16
/// header checksum (16) and a SUMMARY record at 256 (16). A labelled tape: `VOL1`/`HDR1`
/// labels (32 each) and `DECFILE11A` in HDR1 (40) plus `F` and a plausible block length in
/// HDR2 (16).
pub fn bid(head: &[u8]) -> u32 {
    use layout::{bbh, get_u16, get_u32};
    if head.len() >= 256
        && get_u16(head, bbh::SIZE) == 256
        && get_u16(head, bbh::SUBSYS) == 1
        && get_u16(head, bbh::APPLIC) == 1
    {
        let mut bits = 16 + 32;
        if get_u32(head, bbh::NUMBER) != 1 {
            return 0;
        }
        bits += 32;
        if get_u16(head, bbh::STRUCLEV) == layout::STRUCLEV {
            bits += 16;
        }
        let bs = get_u32(head, bbh::BLOCKSIZE);
        if (layout::MIN_BLOCK..=65535).contains(&bs) {
            bits += 8;
        }
        if crc::header_checksum(head) == get_u16(head, bbh::CHECKSUM) {
            bits += 16;
        } else {
            return 0;
        }
        if head.len() >= 276 && get_u16(head, 258) == layout::rtype::SUMMARY {
            bits += 16;
        }
        return bits;
    }
    // labelled tape: 80-byte labels (the engine's head is the first tape file's records)
    let mut bits = 0;
    let mut off = 0;
    let mut saw_hdr1 = false;
    while off + ansi::LABEL_SIZE <= head.len() && off < 4 * ansi::LABEL_SIZE {
        let rec = &head[off..off + ansi::LABEL_SIZE];
        match ansi::label_id(rec) {
            Some(id) if &id == b"VOL1" && off == 0 => bits += 32,
            Some(id) if &id == b"HDR1" => {
                bits += 32;
                if ansi::Hdr1::parse(rec).system.starts_with("DECFILE11") {
                    bits += 40;
                    saw_hdr1 = true;
                }
            }
            Some(id) if &id == b"HDR2" => {
                let h = ansi::Hdr2::parse(rec);
                if h.format == b'F' && (layout::MIN_BLOCK..=65535).contains(&h.block_length) {
                    bits += 16;
                }
            }
            Some(_) => {}
            None => break,
        }
        off += ansi::LABEL_SIZE;
    }
    if saw_hdr1 {
        bits
    } else {
        0
    }
}

/// Read a whole save set from `data`, ignoring the outcome: the entry point of the
/// cargo-fuzz target (`fuzz/`) and of the smoke-fuzz tests. Must never panic, hang or
/// allocate without bound, whatever `data` holds.
pub fn fuzz_read(data: &[u8]) {
    let _ = bid(data);
    for salvage in [false, true] {
        let medium =
            relic_plugin_sdk::testing::HostileMedium::new(data.to_vec(), &[4096, 37, 9216]);
        let host: HostHandle = Arc::new(NullHost);
        let opts = ReadOptions {
            salvage,
            spool_limit: 1 << 16,
            ..ReadOptions::default()
        };
        let Ok(mut r) = VmsReader::open(medium, host, opts) else {
            continue;
        };
        let _ = r.volume();
        let mut buf = vec![0u8; 8192];
        // every call consumes input or ends, but bound the loop anyway
        'entries: for _ in 0..100_000 {
            match r.next_entry() {
                Ok(Some(e)) => {
                    if e.has_data() {
                        for _ in 0..1_000_000 {
                            match r.read_data(&mut buf) {
                                Ok(relic_model::Chunk::End) | Err(_) => break,
                                Ok(_) => {}
                            }
                        }
                    }
                }
                Ok(None) | Err(_) => break 'entries,
            }
        }
    }
}
