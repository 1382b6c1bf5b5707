//! The `aix-backup` format plugin: AIX `backup`/`restore` archives from PC/IX (1984) to
//! AIX 7, including installp `.bff` packages. Read and write, by name and by inode, with
//! pack(1)-compressed members, AIX ACL/PCL/NFS4 security data, and multi-volume sets.
//!
//! The facts come from the research note `../shared/research/aix-backup.md`, checked
//! against the real archives in `../shared/corpus/aix` (see `tests/corpus.rs`). Two
//! unrelated on-media formats hide behind AIX `backup` (§0):
//!
//! 1. the **dword format**: variable-length little-endian headers in 8-byte units, used by
//!    every by-name backup (PC/IX FS_NAME, AIX 3-7 FS_NAME_X/FS_NAME_LF, every `.bff`) and
//!    by PC/IX / AIX v2 by-inode backups. Modules [`layout`] (every header type),
//!    [`checksum`], [`read`] (the reader), [`write`] (the writer).
//! 2. the **AIX 3+ by-inode format**: a big-endian 4.3BSD dump port with 1024-byte headers.
//!    No public sample exists; [`bsd`] (layout), [`read_bsd`], [`write_bsd`] follow the
//!    notes, and the tests check them against an independent fixture builder
//!    (`fixtures/aix-backup/mkinode.py`).
//!
//! Shared: [`pack`] (the Huffman code of packed members, decode and encode),
//! [`volume`] (volume sets: `numwds` accounting, header checks, volume changes on write),
//! [`tree`] (paths of by-inode backups rebuilt from their directories), [`catalog`] (the
//! plan of a by-inode backup from the engine's catalog pass: inode numbers, directories,
//! links, what a level holds), [`dumpdates`] (the level history of incremental by-inode
//! backups).
//!
//! Format id `aix-backup`, aliases `bff` and `aix`. Options (declared in the descriptor):
//! read: `salvage` (bad checksums become warnings, damaged headers are searched past; the
//! engine's `--salvage` sets it), `strip-slash` (absolute PC/IX names made relative);
//! write: `variant=` (`by-name` = AIX 3-7 `backup -i`, default; `by-name-v2` = 16-bit
//! FS_NAME as PC/IX and `backup -i -o`; `by-inode-v2` = PC/IX / AIX v2 by-inode;
//! `by-inode` = AIX 3+ BSD-style by-inode), `pack`, `volume-size=`, `record-size=`,
//! `level=`, `dumpdates=`, `date=`, `disk=`, `fsname=`, `user=`.

// `is_multiple_of` is newer (Rust 1.87) than the workspace's rust-version (1.80).
#![allow(clippy::manual_is_multiple_of)]

pub mod bsd;
pub mod catalog;
pub mod checksum;
pub mod dumpdates;
pub mod layout;
pub mod pack;
pub mod read;
pub mod read_bsd;
pub mod tree;
pub mod volume;
pub mod write;
pub mod write_bsd;

use std::sync::Arc;

use relic_model::{Error, FormatReader, FormatWriter, NullHost, Result};
use relic_plugin_sdk::{
    Descriptor, FormatInfo, HostHandle, InputKind, Options, Plugin, ProbeContext, Stream,
};

pub use read::{DwordReader, ReadOptions};
pub use read_bsd::BsdReader;
pub use write::{Variant, WriteOptions};

/// The format id.
pub const FORMAT_ID: &str = "aix-backup";
const ALIASES: &[&str] = &["bff", "aix"];

pub struct AixPlugin;

const READ_OPTIONS: &[(&str, &str)] = &[
    (
        "salvage",
        "read: a bad header checksum is a warning, a damaged header is searched past (set by --salvage)",
    ),
    (
        "strip-slash",
        "read: make absolute names relative (PC/IX by-name backups store /bin/adb)",
    ),
];

const WRITE_OPTIONS: &[(&str, &str)] = &[
    (
        "variant=VARIANT",
        "write: by-name (AIX 3-7 `backup -i`, FS_NAME_X; default), by-name-v2 (16-bit FS_NAME: PC/IX, `backup -i -o`), \
         by-inode-v2 (PC/IX / AIX v2 by-inode: V7 directories, 14-byte names) or by-inode (AIX 3+ BSD-style by-inode)",
    ),
    (
        "pack",
        "write: compress files with pack(1)'s Huffman code where it saves at least 4096 bytes, as `backup -p` (dword variants)",
    ),
    (
        "volume-size=N",
        "write: fixed-size volumes of N bytes (k/m suffixes; e.g. 360k floppies): numwds = N/8 in every volume header \
         and a new volume exactly every N bytes; without it a volume ends when the medium reports early warning",
    ),
    (
        "record-size=N",
        "write: record (block) size in bytes, a multiple of 8 (1024 for by-inode); default 51200 (AIX's 100 x 512 cluster), \
         512 with volume-size",
    ),
    (
        "level=N",
        "write: dump level 0-9 of a by-inode backup: only files changed since the last lower-level backup in the dumpdates file",
    ),
    (
        "dumpdates=FILE",
        "write: AIX-style level history (name, level, date per line) read for the level and updated after a successful backup",
    ),
    ("date=SECONDS", "write: the backup date (seconds since 1970; default: the source's date, or now)"),
    ("disk=NAME", "write: the volume header's disk field (default \"by name\", or the source's device)"),
    ("fsname=NAME", "write: the volume header's file system field (default \"by name\", or the source's directory)"),
    ("user=NAME", "write: the volume header's user field (default: the source's user, or $USER, or root)"),
];

fn is_ours(id: &str) -> bool {
    id == FORMAT_ID || ALIASES.contains(&id)
}

fn option_names() -> Vec<&'static str> {
    READ_OPTIONS
        .iter()
        .chain(WRITE_OPTIONS)
        .map(|(n, _)| n.split('=').next().unwrap_or(n))
        .collect()
}

/// Reader options from plugin options.
pub fn read_options(options: &Options) -> Result<ReadOptions> {
    options.check_known(&option_names(), "the aix-backup reader")?;
    Ok(ReadOptions {
        salvage: options.flag("salvage"),
        strip_slash: options.flag("strip-slash"),
    })
}

/// What kind of archive the first bytes start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    Dword,
    Bsd,
    None,
}

/// Recognise the first bytes: the dword FS_VOLUME or a BSD-style TS_TAPE header. The bid
/// counts the bits verified (libarchive's rule): the volume header's fixed bytes and
/// checksum, then every further header found whole in `head` by walking the records (up to
/// four), so a real archive outbids a tape-image container that happens to parse it too.
/// Whether a TS_TAPE block carries 4.3BSD-Tahoe volume text (label, file system, device,
/// host: bytes 676..900) rather than AIX's xix_flag and xix_dinode.
fn tahoe_text(block: &[u8]) -> bool {
    let area = &block[676.min(block.len())..900.min(block.len())];
    area.iter().filter(|b| b.is_ascii_graphic()).count() >= 4
}

pub fn sniff(head: &[u8]) -> (Sniff, u32) {
    if head.len() >= 4 && head[0] == 9 && head[1] == layout::ty::VOLUME {
        let m = u16::from_le_bytes([head[2], head[3]]);
        match m {
            layout::magic::MAGIC | layout::magic::PACKED => {
                let mut bid = 32;
                if head.len() >= layout::Volume::LEN {
                    let c = layout::Common::decode(head);
                    if checksum::dword(&head[..layout::Volume::LEN]) == c.checksum {
                        bid += 16 + walk_dword(head);
                        if plausible_volume(&layout::Volume::decode(head)) {
                            bid += 24;
                        }
                    }
                }
                return (Sniff::Dword, bid);
            }
            layout::magic::B1V1..=layout::magic::B1V2_PACKED => return (Sniff::Dword, 24),
            _ => {}
        }
    }
    if head.len() >= bsd::BLOCK {
        let h = bsd::Header::decode(head);
        if (h.magic == bsd::NFS_MAGIC || h.magic == bsd::OFS_MAGIC)
            && h.ctype == bsd::ts::TAPE
            && checksum::bsd_ok(&head[..bsd::BLOCK])
        {
            // An IRIX or 4.3BSD-Tahoe dump has the same big-endian header; there offset 676
            // is c_label and 692.. hold c_level, c_filesys, c_dev and c_host text, where an
            // AIX header has xix_flag and the xix_dinode (60013 and a JFS inode from AIX,
            // zeros from relic). Without xix_flag, text after it means "not AIX".
            if h.xix_flag != bsd::XIX_MAGIC && tahoe_text(&head[..bsd::BLOCK]) {
                return (Sniff::None, 0);
            }
            let mut bid = if h.xix_flag == bsd::XIX_MAGIC { 80 } else { 72 };
            // the next headers: the maps come right after TS_TAPE
            let mut at = bsd::BLOCK;
            for _ in 0..3 {
                let Some(b) = head.get(at..at + bsd::BLOCK) else {
                    break;
                };
                if !bsd::is_header(b) {
                    break;
                }
                bid += 64;
                let n = bsd::Header::decode(b);
                let skip = match n.ctype {
                    bsd::ts::CLRI | bsd::ts::BITS => n.count.clamp(0, 1 << 16) as usize,
                    _ => break,
                };
                at += bsd::BLOCK * (1 + skip);
            }
            return (Sniff::Bsd, bid);
        }
    }
    (Sniff::None, 0)
}

/// Whether the fields of a volume header look like what AIX writes: a volume number, a
/// numwds that holds at least the header, a known incno, printable strings. A later volume
/// of a set (which starts with data, not a header) is recognised by this alone.
fn plausible_volume(v: &layout::Volume) -> bool {
    let printable = |s: &[u8]| s.iter().all(|&b| (0x20..0x7f).contains(&b));
    (1..1000).contains(&v.volnum)
        && (v.numwds >= 10)
        && matches!(v.incno, 0..=9 | 48..=57 | 100..=102)
        && printable(&v.disk)
        && printable(&v.fsname)
        && printable(&v.user)
}

/// Bits verified by walking the dword headers after the volume header.
fn walk_dword(head: &[u8]) -> u32 {
    use layout::{ty, Common, FileHeader, DWORD};
    let mut at = layout::Volume::LEN;
    let mut bits = 0;
    for _ in 0..4 {
        let Some(first) = head.get(at..at + DWORD) else {
            break;
        };
        let c = Common::decode(first);
        if c.magic != layout::magic::MAGIC && c.magic != layout::magic::PACKED {
            break;
        }
        let Some((min, exact)) = ty::len_rule(c.rtype) else {
            break;
        };
        if c.len < min || (exact && c.len != min) {
            break;
        }
        let Some(h) = head.get(at..at + c.len as usize * DWORD) else {
            break;
        };
        if checksum::dword(h) != c.checksum {
            break;
        }
        bits += 40;
        at += h.len();
        let rest: u64 = match c.rtype {
            ty::CLRI | ty::BITS => layout::map_nwds(h) as u64 * DWORD as u64,
            ty::NAME | ty::DINODE | ty::NAME_X | ty::NAME_LF => {
                let fh = match c.rtype {
                    ty::NAME_X => FileHeader::decode_x(&c, h),
                    ty::NAME_LF => FileHeader::decode_lf(&c, h),
                    _ => FileHeader::decode16(&c, h),
                };
                let mut n = fh.stored_len().max(0) as u64;
                n += (DWORD as u64 - n % DWORD as u64) % DWORD as u64;
                if fh.has_security() {
                    let Some(sz) = head.get(at..at + 8) else {
                        break;
                    };
                    let a = u32::from_le_bytes([sz[0], sz[1], sz[2], sz[3]]) as u64;
                    let p = u32::from_le_bytes([sz[4], sz[5], sz[6], sz[7]]) as u64;
                    n += 8 + (a + p) * DWORD as u64;
                }
                n
            }
            ty::END => break,
            _ => 0,
        };
        at = match usize::try_from(rest).ok().and_then(|r| at.checked_add(r)) {
            Some(a) => a,
            None => break,
        };
    }
    bits
}

/// Open a reader of either format over a medium.
pub fn open(
    medium: Box<dyn relic_model::Medium>,
    host: HostHandle,
    opts: ReadOptions,
) -> Result<Box<dyn FormatReader>> {
    let records_meaningful = medium.info().records_meaningful;
    let mut vs = volume::VolStream::new(medium, host.clone(), opts.salvage);
    let head = vs.peek_raw(bsd::BLOCK)?.to_vec();
    match sniff(&head).0 {
        Sniff::Bsd => Ok(Box::new(BsdReader::open(
            vs,
            records_meaningful,
            host,
            opts,
        )?)),
        _ => Ok(Box::new(DwordReader::open(
            vs,
            records_meaningful,
            host,
            opts,
        )?)),
    }
}

impl Plugin for AixPlugin {
    fn descriptor() -> Descriptor {
        let mut f = FormatInfo::new(
            FORMAT_ID,
            "AIX backup/restore (PC/IX 1984 to AIX 7, installp .bff): by-name, by-inode, packed files, ACLs, multi-volume",
        );
        f.aliases = ALIASES.iter().map(|s| s.to_string()).collect();
        f.extensions = vec!["bff".into()];
        f.input = InputKind::Medium;
        f.options = READ_OPTIONS
            .iter()
            .chain(WRITE_OPTIONS)
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect();
        Descriptor {
            name: "aix-backup".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![f],
            media: vec![],
        }
    }

    fn probe(id: &str, head: &[u8], _ctx: &ProbeContext) -> u32 {
        if is_ours(id) {
            sniff(head).1
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
                "the aix-backup plugin does not read {id}"
            )));
        }
        let opts = read_options(options)?;
        let medium = input.take_medium("the aix-backup reader")?;
        open(medium, host, opts)
    }

    fn open_writer(
        id: &str,
        mut output: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatWriter>> {
        if !is_ours(id) {
            return Err(Error::unsupported(format!(
                "the aix-backup plugin does not write {id}"
            )));
        }
        options.check_known(&option_names(), "the aix-backup writer")?;
        let opts = WriteOptions::from_options(options)?;
        let medium = output.take_medium("the aix-backup writer")?;
        write::open_writer(medium, opts, host)
    }
}

/// Read a whole archive from `data` ignoring the outcome, with and without salvage: the
/// entry point of the cargo-fuzz target (`fuzz/`) and of the smoke-fuzz tests. Must never
/// panic, hang or allocate without bound.
pub fn fuzz_read(data: &[u8]) {
    let _ = sniff(data);
    for salvage in [false, true] {
        let medium = relic_plugin_sdk::testing::MemoryMedium::from_bytes(data, 4096);
        let host: HostHandle = Arc::new(NullHost);
        let Ok(mut r) = open(
            Box::new(medium),
            host,
            ReadOptions {
                salvage,
                strip_slash: salvage,
            },
        ) else {
            continue;
        };
        let _ = r.volume();
        let mut buf = vec![0u8; 8192];
        for _ in 0..100_000 {
            match r.next_entry() {
                Ok(Some(_)) => {
                    for _ in 0..10_000_000 {
                        match r.read_data(&mut buf) {
                            Ok(relic_model::Chunk::End) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
}
