//! The reader of the dword format: by-name backups of both generations (PC/IX FS_NAME,
//! AIX 3-7 FS_NAME_X and FS_NAME_LF, installp `.bff` images) and PC/IX / AIX v2 by-inode
//! backups (FS_BITS/FS_CLRI maps, FS_FINDEX chains, FS_DINODE files, V7 directories).
//!
//! Over a [`VolStream`] (volumes joined by `numwds`, each volume header checked), every
//! header is read whole (`len` dwords), its checksum verified (an error, or a warning with
//! the `salvage` option), its `len` checked against the type's size (research note §1.4),
//! and dispatched on its type:
//!
//! - FS_NAME / FS_ONAME / FS_NAME_X / FS_NAME_LF: one entry, named by the record. FS_NAME_X
//!   and FS_NAME_LF are followed by the security block (unless a symlink): an ACL or PCL
//!   that says more than the permission bits is kept in [`Entry::acls`] as `aix.aixc` /
//!   `aix.pcl` (the raw AIX structures, little-endian headers and big-endian ids exactly as
//!   stored); the AIX 7 NFS4 side record (a pseudo-file `DIR/\x7f\x7f` holding `aclget`
//!   text) is not an entry: its text becomes the `aix.nfs4` ACL of the preceding entry with
//!   an extended ACL (bffextract-rs does the same), found by a bounded look-ahead (see
//!   [`LOOKAHEAD_ENTRIES`]). Hard links: AIX repeats the data under every name; a name whose
//!   (ino, devmaj, devmin) matches an earlier file with nlink > 1 is given as a
//!   [`EntryKind::HardLink`] to it (AIX restore's rule, §1.6.5) and its copy is skipped.
//! - FS_DINODE / FS_OINODE (by-inode): the directories come first; they are read whole
//!   (bounded) and the paths rebuilt from inode 2 ([`crate::tree`]); the directories are
//!   handed out sorted by path, then every other inode as it comes, under its first name,
//!   with its other names as hard links. Inodes no directory names go to `lost+found/#N`.
//! - FS_BITS / FS_CLRI maps are read and skipped, FS_FINDEX is checked and skipped (only
//!   needed for random access), FS_DS is reported and skipped, FS_VOLEND changes volume,
//!   FS_END ends the archive; bytes after it (AIX leaves stale buffer contents, §1.1) are
//!   never read. Types 13-15 (AIX 5.3+ FS_NAME_EA/ACL/E, layouts not public) stop with
//!   "unsupported record type N at offset X".
//! - PACKED records (magic 60012) are decoded with [`crate::pack`] while streaming; the
//!   decoded length must equal the header's size.
//!
//! Names are kept as the archive says (`./usr/lpp`, `backup/x`, `/bin/adb`) apart from
//! [`normalize_path`]; absolute PC/IX names stay absolute (the extractor refuses them)
//! unless the reader option `strip-slash` asks for relative ones.
//!
//! Damage: with `salvage`, a bad checksum is a warning, and a header that does not parse
//! makes the reader search forward, dword by dword, from just after the last good header
//! (its security block included) for the next plausible header, reporting the bytes
//! skipped. Without it, the first problem is an error with its offset.
//!
//! Memory: one header (at most 2040 bytes), a 64 KiB input buffer for packed data, the
//! by-inode directories (bounded by [`crate::tree::MAX_NAMES`] and [`MAX_DIR_BYTES`]), the
//! hard-link table (files with nlink > 1 only, capped) and the bounded look-ahead queue.

use std::collections::{HashMap, VecDeque};

use relic_model::{
    normalize_path, Acl, Chunk, DataState, Device, Entry, EntryKind, Error, ErrorKind,
    FormatReader, Result, Timestamp, VolumeInfo,
};
use relic_plugin_sdk::HostHandle;

use crate::checksum;
use crate::layout::{self, magic, security, ty, Common, FileHeader, Findex, Volume, DWORD};
use crate::pack::{DecodeError, Decoder, Tree as PackTree, MAX_HEADER as PACK_HEADER};
use crate::tree::{self, DirData, Tree};
use crate::volume::VolStream;

/// Reader options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Bad checksums are warnings; unparseable headers are searched past.
    pub salvage: bool,
    /// Turn absolute names into relative ones.
    pub strip_slash: bool,
}

/// Largest directory (by-inode) read into memory.
pub const MAX_DIR_BYTES: u64 = 16 << 20;
/// Largest total of directory data of one by-inode backup.
pub const MAX_ALL_DIR_BYTES: u64 = 512 << 20;
/// Largest symlink target.
pub const MAX_SYMLINK: u64 = 64 * 1024;
/// Entries held back while looking for an NFS4 side record.
pub const LOOKAHEAD_ENTRIES: usize = 256;
/// Bytes of file data held back while looking for an NFS4 side record.
pub const LOOKAHEAD_BYTES: u64 = 4 << 20;
/// Files with nlink > 1 remembered for hard links (by-name).
pub const MAX_LINKS: usize = 1 << 20;

/// Which kind of dword archive this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// AIX 3-7 by-name (FS_NAME_X, FS_NAME_LF).
    ByName,
    /// PC/IX, AIX/RT, AIX 3+ `-o`: 16-bit FS_NAME.
    ByNameV2,
    /// PC/IX, AIX/RT by-inode (FS_DINODE).
    ByInodeV2,
}

impl Variant {
    pub fn id(self) -> &'static str {
        match self {
            Variant::ByName => "by-name",
            Variant::ByNameV2 => "by-name-v2",
            Variant::ByInodeV2 => "by-inode-v2",
        }
    }
}

/// A header as read: its common part, all its bytes, and where it started.
#[derive(Debug, Clone)]
struct Rec {
    c: Common,
    bytes: Vec<u8>,
    offset: u64,
    volume: u32,
}

/// The data of the current entry.
enum Body {
    None,
    /// Stored bytes not handed out yet, then dword padding.
    Plain {
        left: u64,
        pos: u64,
        pad: u64,
    },
    /// A packed stream being decoded.
    Packed(Box<Unpack>),
    /// Data held in memory (look-ahead, or read before the entry was given out).
    Memory {
        data: Vec<u8>,
        pos: usize,
    },
}

struct Unpack {
    dec: Decoder,
    stored_left: u64,
    pad: u64,
    inbuf: Vec<u8>,
    in_start: usize,
    in_end: usize,
    pos: u64,
    size: u64,
    offset: u64,
}

/// (ino, devmaj, devmin): what AIX restore matches hard links by.
type LinkKey = (u32, u32, u32);

/// The dword-format reader.
pub struct DwordReader {
    vs: VolStream,
    host: HostHandle,
    opts: ReadOptions,
    first: Volume,
    variant: Variant,
    record_size: Option<u32>,
    pending: Option<Rec>,
    queue: VecDeque<(Entry, Body)>,
    body: Body,
    done: bool,
    /// By-name hard links: (ino, devmaj, devmin) -> first path, its size and mtime.
    links: HashMap<LinkKey, (Vec<u8>, u64, i32)>,
    links_full: bool,
    /// By-inode names, once the directories are read.
    tree: Option<Tree>,
    /// FS_FINDEX claims not checked yet: inode -> (volume, byte offset in the volume).
    findex: HashMap<u32, (u32, u64)>,
    /// FS_FINDEX claims found wrong.
    pub findex_wrong: u64,
    /// Bytes after the first dword of the last good header, and its security block: where a
    /// salvage search starts.
    tail: Vec<u8>,
    /// Count of damaged spots skipped with `salvage`.
    pub salvaged: u64,
}

fn ts(secs: i32) -> Option<Timestamp> {
    Some(Timestamp::from_secs(secs as i64))
}

fn pad8(n: u64) -> u64 {
    (DWORD as u64 - n % DWORD as u64) % DWORD as u64
}

impl DwordReader {
    /// Open over a stream positioned at the first volume header: read it and the first
    /// record (which tells the variant).
    pub fn open(
        mut vs: VolStream,
        records_meaningful: bool,
        host: HostHandle,
        opts: ReadOptions,
    ) -> Result<DwordReader> {
        let first = vs.open_dword()?;
        let record_size =
            (records_meaningful && vs.last_record_len() > 0).then(|| vs.last_record_len() as u32);
        let mut r = DwordReader {
            vs,
            host,
            opts,
            first,
            variant: Variant::ByName,
            record_size,
            pending: None,
            queue: VecDeque::new(),
            body: Body::None,
            done: false,
            links: HashMap::new(),
            links_full: false,
            tree: None,
            findex: HashMap::new(),
            findex_wrong: 0,
            tail: Vec::new(),
            salvaged: 0,
        };
        // the first record that says which variant this is
        let rec = loop {
            let rec = r.read_header()?;
            match rec.c.rtype {
                ty::DS => {
                    r.report_ds(&rec);
                    continue;
                }
                _ => break rec,
            }
        };
        r.variant = match rec.c.rtype {
            ty::NAME_X | ty::NAME_LF => Variant::ByName,
            ty::NAME | ty::ONAME => Variant::ByNameV2,
            ty::BITS | ty::CLRI | ty::FINDEX | ty::DINODE | ty::OINODE => Variant::ByInodeV2,
            _ if r.first.incno == layout::incno::BYNAME => Variant::ByName,
            _ => Variant::ByInodeV2,
        };
        r.pending = Some(rec);
        Ok(r)
    }

    fn warn(&self, msg: &str, off: Option<u64>) {
        self.host.warn(msg, off);
    }

    fn report_ds(&self, rec: &Rec) {
        let path = layout::ds_path(&rec.bytes);
        self.warn(
            &format!(
                "FS_DS header (obsolete Distributed Services remote backup of '{}'): skipped",
                String::from_utf8_lossy(path)
            ),
            Some(rec.offset),
        );
    }

    fn verr(&self, rec_off: u64, volume: u32, kind: ErrorKind, msg: String) -> Error {
        let msg = if volume > 1 {
            format!("volume {volume}: {msg}")
        } else {
            msg
        };
        Error::new(kind, msg).at(rec_off)
    }

    /// Read the next header. Structural damage: an error, or with salvage a search for the
    /// next plausible header.
    fn read_header(&mut self) -> Result<Rec> {
        let mut first = [0u8; DWORD];
        let offset = self.vs.offset();
        let volume = self.vs.volume();
        self.vs.read_exact(&mut first, "a record header")?;
        match self.check_start(&first, offset, volume) {
            Ok(()) => {}
            Err(e) if self.opts.salvage && e.kind == ErrorKind::Corrupt => {
                return self.resync(first, e);
            }
            Err(e) => return Err(e),
        }
        let c = Common::decode(&first);
        let mut bytes = vec![0u8; c.len as usize * DWORD];
        bytes[..DWORD].copy_from_slice(&first);
        self.vs.read_exact(
            &mut bytes[DWORD..],
            &format!("a {} header", ty::name(c.rtype)),
        )?;
        let sum = checksum::dword(&bytes);
        if sum != c.checksum {
            let msg = format!(
                "{} header checksum is {:#06x}, the header sums to {sum:#06x}",
                ty::name(c.rtype),
                c.checksum
            );
            if self.opts.salvage {
                self.salvaged += 1;
                self.warn(&format!("{msg} (salvage: going on)"), Some(offset));
            } else {
                return Err(self.verr(
                    offset,
                    volume,
                    ErrorKind::Corrupt,
                    format!("{msg} (--salvage reads on with warnings)"),
                ));
            }
        }
        self.tail = bytes[DWORD..].to_vec();
        Ok(Rec {
            c,
            bytes,
            offset,
            volume,
        })
    }

    /// Check the first dword of a header: magic, type, length.
    fn check_start(&self, first: &[u8], offset: u64, volume: u32) -> Result<()> {
        let c = Common::decode(first);
        match c.magic {
            magic::MAGIC | magic::PACKED => {}
            magic::B1V1 | magic::B1V1_PACKED | magic::B1V2 | magic::B1V2_PACKED => {
                return Err(self.verr(
                    offset,
                    volume,
                    ErrorKind::Unsupported,
                    format!(
                        "header magic {} (\"B1\" security variant) at offset {offset}: no layout of these headers is public",
                        c.magic
                    ),
                ))
            }
            magic::JFS2 => {
                return Err(self.verr(
                    offset,
                    volume,
                    ErrorKind::Unsupported,
                    format!("header magic 60017 (JFS2 directory format) at offset {offset}: not supported"),
                ))
            }
            m => {
                return Err(self.verr(
                    offset,
                    volume,
                    ErrorKind::Corrupt,
                    format!(
                        "no header at offset {offset}: magic is {m}, expected {} or {} (bytes {:02x?})",
                        magic::MAGIC,
                        magic::PACKED,
                        first
                    ),
                ))
            }
        }
        if (ty::NAME_EA..=ty::NAME_E).contains(&c.rtype) {
            return Err(self.verr(
                offset,
                volume,
                ErrorKind::Unsupported,
                format!(
                    "unsupported record type {} at offset {offset} ({} of AIX 5.3 and later: its layout is not public)",
                    c.rtype,
                    ty::name(c.rtype)
                ),
            ));
        }
        let Some((min, exact)) = ty::len_rule(c.rtype) else {
            return Err(self.verr(
                offset,
                volume,
                ErrorKind::Corrupt,
                format!("unknown record type {} at offset {offset}", c.rtype),
            ));
        };
        if c.len == 0 || c.len < min || (exact && c.len != min) {
            return Err(self.verr(
                offset,
                volume,
                ErrorKind::Corrupt,
                format!(
                    "{} header at offset {offset} has length {} dwords; {} {min}",
                    ty::name(c.rtype),
                    c.len,
                    if exact {
                        "it must be"
                    } else {
                        "it must be at least"
                    }
                ),
            ));
        }
        Ok(())
    }

    /// Salvage: search forward for the next plausible header, starting just after the
    /// last good header.
    fn resync(&mut self, first: [u8; DWORD], why: Error) -> Result<Rec> {
        self.salvaged += 1;
        let start = self.vs.offset();
        let mut back = std::mem::take(&mut self.tail);
        back.extend_from_slice(&first);
        let back_len = back.len() as u64;
        self.vs.unread(&back);
        self.warn(
            &format!("{} (salvage: searching for the next header)", why.message),
            why.offset,
        );
        let mut skipped: u64 = 0;
        loop {
            let mut d = [0u8; DWORD];
            let offset = self.vs.offset();
            let volume = self.vs.volume();
            let mut got = 0;
            while got < DWORD {
                let n = self.vs.read_some(&mut d[got..])?;
                if n == 0 {
                    self.warn(
                        &format!(
                            "no further header found after offset {} ({skipped} bytes searched): the archive ends here",
                            start.saturating_sub(back_len)
                        ),
                        Some(offset),
                    );
                    let mut end = vec![0u8; DWORD];
                    end[0] = 1;
                    end[1] = ty::END;
                    return Ok(Rec {
                        c: Common {
                            len: 1,
                            rtype: ty::END,
                            magic: magic::MAGIC,
                            checksum: 0,
                        },
                        bytes: end,
                        offset,
                        volume,
                    });
                }
                got += n;
            }
            if self.check_start(&d, offset, volume).is_ok() {
                let c = Common::decode(&d);
                if c.rtype != ty::VOLUME {
                    let mut bytes = vec![0u8; c.len as usize * DWORD];
                    bytes[..DWORD].copy_from_slice(&d);
                    self.vs.read_exact(&mut bytes[DWORD..], "a header")?;
                    let names_ok = match c.rtype {
                        ty::NAME | ty::NAME_X | ty::NAME_LF | ty::ONAME => {
                            let fixed = match c.rtype {
                                ty::NAME => 48,
                                ty::NAME_X => 64,
                                ty::ONAME => 40,
                                _ => 72,
                            };
                            bytes[fixed..].contains(&0)
                        }
                        _ => true,
                    };
                    if names_ok {
                        if checksum::dword(&bytes) != c.checksum {
                            self.warn(
                                &format!(
                                    "{} header found by the search has a bad checksum too (salvage: going on)",
                                    ty::name(c.rtype)
                                ),
                                Some(offset),
                            );
                        }
                        self.warn(
                            &format!(
                                "salvage: resumed at a {} header after skipping {skipped} bytes",
                                ty::name(c.rtype)
                            ),
                            Some(offset),
                        );
                        self.tail = bytes[DWORD..].to_vec();
                        return Ok(Rec {
                            c,
                            bytes,
                            offset,
                            volume,
                        });
                    }
                    // not plausible after all: search on from the dword after its start
                    self.vs.unread(&bytes[DWORD..]);
                }
            }
            skipped += DWORD as u64;
        }
    }

    /// Skip the rest of the current entry's stored data and padding.
    fn finish_body(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.body, Body::None) {
            Body::None | Body::Memory { .. } => Ok(()),
            Body::Plain { left, pad, .. } => self.vs.skip(left + pad, "file data"),
            Body::Packed(u) => self.vs.skip(u.stored_left + u.pad, "packed file data"),
        }
    }

    /// The body of a record with `stored` bytes of data (packed or not).
    fn body_for(&mut self, fh: &FileHeader, stored: u64) -> Result<Body> {
        if !fh.packed {
            return Ok(Body::Plain {
                left: stored,
                pos: 0,
                pad: pad8(stored),
            });
        }
        // read and check the pack tree
        let offset = self.vs.offset();
        let mut head = Vec::with_capacity(64);
        loop {
            let need = PackTree::header_needed(&head);
            if need <= head.len() {
                break;
            }
            if need as u64 > stored || need > PACK_HEADER {
                return Err(self.vs.err(
                    ErrorKind::Corrupt,
                    format!("packed data of {stored} bytes cannot hold its {need}-byte code table"),
                ));
            }
            let old = head.len();
            head.resize(need, 0);
            self.vs
                .read_exact(&mut head[old..], "a packed stream's code table")?;
        }
        let tree =
            PackTree::parse(&head).map_err(|(o, m)| Error::corrupt(m).at(offset + o as u64))?;
        let size = fh.size.max(0) as u64;
        Ok(Body::Packed(Box::new(Unpack {
            dec: Decoder::new(tree, size),
            stored_left: stored - head.len() as u64,
            pad: pad8(stored),
            inbuf: vec![0u8; 64 * 1024],
            in_start: 0,
            in_end: 0,
            pos: 0,
            size,
            offset,
        })))
    }

    /// Read a whole body into memory (bounded by the caller), decoded.
    fn body_to_vec(&mut self, mut body: Body, size: u64) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(size.min(1 << 20) as usize);
        let mut buf = vec![0u8; 64 * 1024];
        while let Chunk::Data { len, .. } = self.data_from(&mut body, &mut buf)? {
            out.extend_from_slice(&buf[..len as usize]);
        }
        // the padding (and any unread rest) of the body
        self.body = body;
        self.finish_body()?;
        Ok(out)
    }

    /// Next chunk of a body.
    fn data_from(&mut self, body: &mut Body, buf: &mut [u8]) -> Result<Chunk> {
        match body {
            Body::None => Ok(Chunk::End),
            Body::Memory { data, pos } => {
                if *pos >= data.len() {
                    return Ok(Chunk::End);
                }
                let n = (data.len() - *pos).min(buf.len());
                buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                let off = *pos as u64;
                *pos += n;
                Ok(Chunk::Data {
                    offset: off,
                    len: n as u64,
                })
            }
            Body::Plain { left, pos, .. } => {
                if *left == 0 {
                    return Ok(Chunk::End);
                }
                let want = (*left).min(buf.len() as u64) as usize;
                let n = self.vs.read_some(&mut buf[..want])?;
                if n == 0 {
                    return Err(self.vs.err(
                        ErrorKind::Truncated,
                        format!(
                            "file data ends {} bytes early: the input ends with volume {} and no volume {} was given (truncated archive or missing volume)",
                            *left,
                            self.vs.volume(),
                            self.vs.volume() + 1
                        ),
                    ));
                }
                let off = *pos;
                *left -= n as u64;
                *pos += n as u64;
                Ok(Chunk::Data {
                    offset: off,
                    len: n as u64,
                })
            }
            Body::Packed(u) => {
                let mut written = 0;
                while written < buf.len() && !u.dec.is_done() {
                    if u.in_start == u.in_end {
                        if u.stored_left == 0 {
                            return Err(Error::corrupt(format!(
                                "packed stream ends before its end code: {} of {} bytes decoded",
                                u.dec.produced(),
                                u.size
                            ))
                            .at(u.offset));
                        }
                        let want = u.stored_left.min(u.inbuf.len() as u64) as usize;
                        let n = self.vs.read_some(&mut u.inbuf[..want])?;
                        if n == 0 {
                            return Err(self.vs.err(
                                ErrorKind::Truncated,
                                "packed file data is cut short (truncated archive or missing volume)",
                            ));
                        }
                        u.stored_left -= n as u64;
                        u.in_start = 0;
                        u.in_end = n;
                    }
                    let (c, w) = u
                        .dec
                        .decode(&u.inbuf[u.in_start..u.in_end], &mut buf[written..])
                        .map_err(|e| {
                            Error::corrupt(match e {
                                DecodeError::EarlyEnd { produced } => format!(
                                    "packed stream ends (end code) after {produced} bytes; the header says {}",
                                    u.size
                                ),
                                DecodeError::TooLong => format!(
                                    "packed stream decodes to more than the header's {} bytes",
                                    u.size
                                ),
                            })
                            .at(u.offset)
                        })?;
                    u.in_start += c;
                    written += w;
                }
                if written == 0 {
                    return Ok(Chunk::End);
                }
                let off = u.pos;
                u.pos += written as u64;
                Ok(Chunk::Data {
                    offset: off,
                    len: written as u64,
                })
            }
        }
    }

    /// An entry from a file record; the security block is read here.
    fn entry_of(&mut self, rec: &Rec, fh: &FileHeader, path: Vec<u8>) -> Result<(Entry, Vec<Acl>)> {
        let kind = match EntryKind::from_ifmt(fh.mode & 0o170000) {
            Some(EntryKind::Socket) | None => {
                return Err(self.verr(
                    rec.offset,
                    rec.volume,
                    ErrorKind::Corrupt,
                    format!(
                        "{} header at offset {} has mode {:#o}, which names no file type AIX backs up",
                        ty::name(rec.c.rtype),
                        rec.offset,
                        fh.mode
                    ),
                )
                .entry(&path))
            }
            Some(k) => k,
        };
        let mut e = Entry::new(path, kind);
        e.mode = fh.mode & 0o7777;
        e.uid = fh.uid as u64;
        e.gid = fh.gid as u64;
        e.mtime = ts(fh.mtime);
        e.atime = ts(fh.atime);
        e.ctime = ts(fh.ctime);
        e.nlink = fh.nlink.max(0) as u32;
        e.inode = (fh.ino != 0).then_some(fh.ino as u64);
        if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            e.rdev = Some(Device {
                major: fh.rdevmaj,
                minor: fh.rdevmin,
            });
        }
        if fh.mode >> 16 != 0 {
            e.set_extra("aix.mode", format!("{:#o}", fh.mode));
        }
        if fh.packed {
            e.set_extra("aix.packed", fh.dsize.to_string());
        }
        let mut acls = Vec::new();
        if fh.has_security() {
            acls = self.read_security(rec, fh)?;
        }
        Ok((e, acls))
    }

    /// The FS_NAME_X/LF security block.
    fn read_security(&mut self, rec: &Rec, fh: &FileHeader) -> Result<Vec<Acl>> {
        let offset = self.vs.offset();
        let mut sizes = [0u8; 8];
        self.vs.read_exact(&mut sizes, "the security block")?;
        self.tail.extend_from_slice(&sizes);
        let aclsize = u32::from_le_bytes([sizes[0], sizes[1], sizes[2], sizes[3]]) as usize;
        let pclsize = u32::from_le_bytes([sizes[4], sizes[5], sizes[6], sizes[7]]) as usize;
        let (acl_bytes, pcl_bytes) = (aclsize.saturating_mul(DWORD), pclsize.saturating_mul(DWORD));
        if acl_bytes > security::MAX_PART || pcl_bytes > security::MAX_PART {
            return Err(self.verr(
                offset,
                rec.volume,
                ErrorKind::Corrupt,
                format!(
                    "security block at offset {offset} claims an ACL of {aclsize} and a PCL of {pclsize} dwords (at most {} each)",
                    security::MAX_PART / DWORD
                ),
            ));
        }
        let mut acl = vec![0u8; acl_bytes];
        self.vs.read_exact(&mut acl, "the ACL")?;
        let mut pcl = vec![0u8; pcl_bytes];
        self.vs.read_exact(&mut pcl, "the PCL")?;
        self.tail.extend_from_slice(&acl);
        self.tail.extend_from_slice(&pcl);
        let mut out = Vec::new();
        for (what, part, kind, declared) in [
            ("ACL", &acl, "aix.aixc", aclsize),
            ("PCL", &pcl, "aix.pcl", pclsize),
        ] {
            if part.is_empty() {
                continue;
            }
            let len = security::acl_len(part).unwrap_or(0) as usize;
            if len < 4 || len.div_ceil(DWORD) != declared {
                let msg = format!(
                    "the {what} of {} says it is {len} bytes long in a block of {declared} dwords",
                    String::from_utf8_lossy(fh.name.as_deref().unwrap_or(b"")),
                );
                if self.opts.salvage {
                    self.salvaged += 1;
                    self.warn(&format!("{msg} (salvage: {what} dropped)"), Some(offset));
                    continue;
                }
                return Err(self.verr(
                    offset,
                    rec.volume,
                    ErrorKind::Corrupt,
                    format!("{msg} (--salvage reads on with warnings)"),
                ));
            }
            let minimal = if kind == "aix.aixc" {
                security::acl_is_minimal(part)
            } else {
                security::pcl_is_minimal(part)
            };
            if !minimal {
                out.push(Acl {
                    kind: kind.into(),
                    data: part[..len].to_vec(),
                });
            }
        }
        Ok(out)
    }

    /// The path of a name record.
    fn path_of(&self, raw: &[u8]) -> Vec<u8> {
        if self.opts.strip_slash {
            let t = match raw.iter().position(|&b| b != b'/') {
                Some(i) => &raw[i..],
                None => &b"."[..],
            };
            normalize_path(t)
        } else {
            normalize_path(raw)
        }
    }

    /// A by-name record: the entry and its body (data still on the stream).
    fn by_name(&mut self, rec: Rec) -> Result<(Entry, Body, bool)> {
        let fh = match rec.c.rtype {
            ty::NAME => FileHeader::decode16(&rec.c, &rec.bytes),
            ty::ONAME => FileHeader::decode_old(&rec.c, &rec.bytes),
            ty::NAME_X => FileHeader::decode_x(&rec.c, &rec.bytes),
            _ => {
                if FileHeader::lf_looks_like_ps2(&rec.bytes) {
                    return Err(self.verr(
                        rec.offset,
                        rec.volume,
                        ErrorKind::Unsupported,
                        format!(
                            "record type 12 at offset {} looks like an AIX PS/2 native FS_NAME (its layout is unconfirmed), not an AIX 5+ FS_NAME_LF",
                            rec.offset
                        ),
                    ));
                }
                FileHeader::decode_lf(&rec.c, &rec.bytes)
            }
        };
        let raw = fh.name.clone().unwrap_or_default();
        let path = self.path_of(&raw);
        let stored = fh.stored_len();
        if stored < 0 || fh.size < 0 {
            return Err(self
                .verr(
                    rec.offset,
                    rec.volume,
                    ErrorKind::Corrupt,
                    format!(
                        "{} header at offset {} has size {} and dsize {}",
                        ty::name(rec.c.rtype),
                        rec.offset,
                        fh.size,
                        fh.dsize
                    ),
                )
                .entry(&path));
        }
        let stored = stored as u64;
        let (mut e, acls) = self.entry_of(&rec, &fh, path)?;
        let is_side = e.kind == EntryKind::File && e.name() == layout::NFS4_SIDE_NAME;
        e.acls = acls;
        let body = match e.kind {
            EntryKind::File => {
                e.size = fh.size as u64;
                self.body_for(&fh, stored)?
            }
            EntryKind::Symlink => {
                if stored > MAX_SYMLINK {
                    return Err(self
                        .verr(
                            rec.offset,
                            rec.volume,
                            ErrorKind::Corrupt,
                            format!("symlink target of {stored} bytes (at most {MAX_SYMLINK})"),
                        )
                        .entry(&e.path));
                }
                let body = self.body_for(&fh, stored)?;
                let mut t = self.body_to_vec(body, fh.size as u64)?;
                while t.last() == Some(&0) {
                    t.pop();
                }
                e.size = t.len() as u64;
                e.link_target = Some(t);
                Body::None
            }
            _ => {
                if stored > 0 {
                    self.warn(
                        &format!(
                            "{} ({}) carries {stored} bytes of data: skipped",
                            e.display_path(),
                            e.kind.name()
                        ),
                        Some(rec.offset),
                    );
                }
                Body::Plain {
                    left: 0,
                    pos: 0,
                    pad: stored + pad8(stored),
                }
            }
        };
        // a later name of a multi-link file: a hard link to the first one
        if e.kind != EntryKind::Dir && fh.nlink > 1 && fh.ino != 0 {
            let key = (fh.ino, fh.devmaj, fh.devmin);
            if let Some((first, size, mtime)) = self.links.get(&key) {
                if *size != e.size || *mtime != fh.mtime {
                    // not the same file after all (a backup of several file systems):
                    // kept as a file of its own
                    self.warn(
                        &format!(
                            "{} has the inode number of {} but another size or time: not taken as a hard link",
                            e.display_path(),
                            String::from_utf8_lossy(first)
                        ),
                        Some(rec.offset),
                    );
                    return Ok((e, body, is_side));
                }
                let first = first.clone();
                let mut l = e.clone();
                l.kind = EntryKind::HardLink;
                l.link_target = Some(first);
                l.data = DataState::None;
                l.size = 0;
                l.rdev = None;
                return Ok((l, body, false));
            }
            if self.links.len() < MAX_LINKS {
                self.links.insert(key, (e.path.clone(), e.size, fh.mtime));
            } else if !self.links_full {
                self.links_full = true;
                self.warn(
                    &format!("more than {MAX_LINKS} multi-link files: later hard links are kept as copies"),
                    None,
                );
            }
        }
        Ok((e, body, is_side))
    }

    /// Check a by-inode header against what an FS_FINDEX said about its place.
    /// Only on fixed-size volumes (FS_FINDEX is for random access on disks, research note
    /// §1.6.2); the first disagreement is reported, the others counted silently: an index
    /// that is off once is stale (volumes joined onto a tape, say), not a damaged archive.
    fn check_findex(&mut self, rec: &Rec, ino: u32) {
        if let Some((vol, off)) = self.findex.remove(&ino) {
            if (vol != rec.volume || off != rec.offset) && self.vs.bounded() {
                self.findex_wrong += 1;
                if self.findex_wrong == 1 {
                    self.warn(
                        &format!(
                            "FS_FINDEX puts inode {ino} at byte {off} of volume {vol}; its header is at byte {} of volume {}: the index is stale and ignored (further disagreements are not reported)",
                            rec.offset, rec.volume
                        ),
                        Some(rec.offset),
                    );
                }
            }
        }
    }

    /// By-inode: read every directory (the first is `first`), rebuild the tree, queue the
    /// directory entries.
    fn load_dirs(&mut self, first: Rec) -> Result<()> {
        let mut dirs: Vec<DirData> = Vec::new();
        let mut metas: HashMap<u32, Entry> = HashMap::new();
        let mut total = 0u64;
        let mut rec = first;
        loop {
            match rec.c.rtype {
                ty::DINODE | ty::OINODE => {
                    let fh = if rec.c.rtype == ty::DINODE {
                        FileHeader::decode16(&rec.c, &rec.bytes)
                    } else {
                        FileHeader::decode_old(&rec.c, &rec.bytes)
                    };
                    if fh.mode & 0o170000 != 0o040000 {
                        self.pending = Some(rec);
                        break;
                    }
                    self.check_findex(&rec, fh.ino);
                    let stored = fh.stored_len();
                    if stored < 0 || fh.size < 0 || fh.size as u64 > MAX_DIR_BYTES {
                        return Err(self.verr(
                            rec.offset,
                            rec.volume,
                            ErrorKind::Corrupt,
                            format!(
                                "directory inode {} at offset {} has size {} (at most {MAX_DIR_BYTES})",
                                fh.ino, rec.offset, fh.size
                            ),
                        ));
                    }
                    total += fh.size as u64;
                    if total > MAX_ALL_DIR_BYTES {
                        return Err(self.verr(
                            rec.offset,
                            rec.volume,
                            ErrorKind::Unsupported,
                            format!("more than {MAX_ALL_DIR_BYTES} bytes of directories"),
                        ));
                    }
                    let (e, _) = self.entry_of(&rec, &fh, Vec::new())?;
                    let body = self.body_for(&fh, stored as u64)?;
                    let data = self.body_to_vec(body, fh.size as u64)?;
                    let mut entries = Vec::with_capacity(data.len() / layout::V7_DIRENT);
                    for ch in data.chunks_exact(layout::V7_DIRENT) {
                        let (ino, name) = layout::v7_dirent(ch);
                        if ino != 0 {
                            entries.push((ino as u32, name.to_vec()));
                        }
                    }
                    if data.len() % layout::V7_DIRENT != 0 {
                        self.warn(
                            &format!(
                                "directory inode {} is {} bytes, not a multiple of 16: the tail is ignored",
                                fh.ino,
                                data.len()
                            ),
                            Some(rec.offset),
                        );
                    }
                    if metas.insert(fh.ino, e).is_some() {
                        self.warn(
                            &format!(
                                "directory inode {} appears twice: the later copy is used",
                                fh.ino
                            ),
                            Some(rec.offset),
                        );
                        dirs.retain(|d| d.ino != fh.ino);
                    }
                    dirs.push(DirData {
                        ino: fh.ino,
                        entries,
                    });
                }
                ty::END => {
                    self.pending = Some(rec);
                    break;
                }
                _ => {
                    if !self.housekeeping(&rec)? {
                        self.pending = Some(rec);
                        break;
                    }
                }
            }
            rec = self.read_header()?;
        }
        let tree = Tree::build(layout::ROOT_INO, &dirs);
        for w in &tree.warnings {
            self.warn(w, None);
        }
        for e in tree.directory_entries(layout::ROOT_INO, &mut metas) {
            self.queue.push_back((e, Body::None));
        }
        self.tree = Some(tree);
        Ok(())
    }

    /// Records that are not entries. Returns false when `rec` is not one of them.
    fn housekeeping(&mut self, rec: &Rec) -> Result<bool> {
        match rec.c.rtype {
            ty::FINDEX => {
                let f = Findex::decode(&rec.bytes);
                if f.link < 0 || f.entries.iter().any(|(_, a)| *a < 0) {
                    self.warn(
                        &format!(
                            "FS_FINDEX at offset {} has negative addresses: ignored",
                            rec.offset
                        ),
                        Some(rec.offset),
                    );
                } else if self.findex.len() < 1 << 17 {
                    for (ino, a) in f.entries {
                        self.findex
                            .insert(ino as u32, (rec.volume, a as u64 * DWORD as u64));
                    }
                }
                Ok(true)
            }
            ty::CLRI | ty::BITS => {
                let nwds = layout::map_nwds(&rec.bytes) as u64;
                self.vs.skip(
                    nwds * DWORD as u64,
                    &format!("the {} map", ty::name(rec.c.rtype)),
                )?;
                Ok(true)
            }
            ty::DS => {
                self.report_ds(rec);
                Ok(true)
            }
            ty::VOLEND => {
                self.vs.end_volume()?;
                Ok(true)
            }
            ty::VOLUME => Err(self.verr(
                rec.offset,
                rec.volume,
                ErrorKind::Corrupt,
                format!(
                    "a volume header (volume {}) in the middle of volume {} at offset {}",
                    Volume::decode(&rec.bytes).volnum,
                    rec.volume,
                    rec.offset
                ),
            )),
            _ => Ok(false),
        }
    }

    /// A by-inode file record: its entry under its first name; other names are queued as
    /// hard links.
    fn by_inode(&mut self, rec: Rec) -> Result<(Entry, Body)> {
        let fh = if rec.c.rtype == ty::DINODE {
            FileHeader::decode16(&rec.c, &rec.bytes)
        } else {
            FileHeader::decode_old(&rec.c, &rec.bytes)
        };
        let stored = fh.stored_len();
        if stored < 0 || fh.size < 0 {
            return Err(self.verr(
                rec.offset,
                rec.volume,
                ErrorKind::Corrupt,
                format!(
                    "inode {} at offset {} has size {} and dsize {}",
                    fh.ino, rec.offset, fh.size, fh.dsize
                ),
            ));
        }
        let stored = stored as u64;
        self.check_findex(&rec, fh.ino);
        let tree = self.tree.get_or_insert_with(Tree::default);
        let is_dir = fh.mode & 0o170000 == 0o040000;
        let mut names = if is_dir {
            tree.dir_path(fh.ino)
                .map(|p| vec![p.to_vec()])
                .unwrap_or_default()
        } else {
            tree.paths_of(fh.ino)
        };
        if names.is_empty() {
            let p = tree::orphan_path(fh.ino);
            self.warn(
                &format!(
                    "inode {} is in no directory of the backup: kept as {}",
                    fh.ino,
                    String::from_utf8_lossy(&p)
                ),
                Some(rec.offset),
            );
            names.push(p);
        }
        let (mut e, _) = self.entry_of(&rec, &fh, names[0].clone())?;
        let body = match e.kind {
            EntryKind::File => {
                e.size = fh.size as u64;
                self.body_for(&fh, stored)?
            }
            EntryKind::Symlink => {
                if stored > MAX_SYMLINK {
                    return Err(self.verr(
                        rec.offset,
                        rec.volume,
                        ErrorKind::Corrupt,
                        format!("symlink target of {stored} bytes"),
                    ));
                }
                let body = self.body_for(&fh, stored)?;
                let mut t = self.body_to_vec(body, fh.size as u64)?;
                while t.last() == Some(&0) {
                    t.pop();
                }
                e.size = t.len() as u64;
                e.link_target = Some(t);
                Body::None
            }
            _ => {
                if is_dir {
                    self.warn(
                        &format!(
                            "directory inode {} comes after the files: its entries are not used for names",
                            fh.ino
                        ),
                        Some(rec.offset),
                    );
                }
                Body::Plain {
                    left: 0,
                    pos: 0,
                    pad: stored + pad8(stored),
                }
            }
        };
        for other in names.iter().skip(1) {
            let mut l = e.clone();
            l.path = other.clone();
            l.kind = EntryKind::HardLink;
            l.link_target = Some(names[0].clone());
            l.data = DataState::None;
            l.size = 0;
            l.rdev = None;
            self.queue.push_back((l, Body::None));
        }
        Ok((e, body))
    }

    /// The next entry from the stream (no queue).
    fn next_from_stream(&mut self) -> Result<Option<(Entry, Body, bool)>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let rec = match self.pending.take() {
                Some(r) => r,
                None => self.read_header()?,
            };
            match rec.c.rtype {
                ty::END => {
                    self.done = true;
                    return Ok(None);
                }
                ty::NAME | ty::NAME_X | ty::NAME_LF | ty::ONAME => {
                    return self.by_name(rec).map(Some);
                }
                ty::DINODE | ty::OINODE => {
                    let is_dir = {
                        let fh = FileHeader::decode16(&rec.c, &rec.bytes);
                        let mode = if rec.c.rtype == ty::DINODE {
                            fh.mode
                        } else {
                            FileHeader::decode_old(&rec.c, &rec.bytes).mode
                        };
                        mode & 0o170000 == 0o040000
                    };
                    if is_dir && self.tree.is_none() {
                        self.load_dirs(rec)?;
                        if let Some((e, b)) = self.queue.pop_front() {
                            return Ok(Some((e, b, false)));
                        }
                        continue;
                    }
                    let (e, b) = self.by_inode(rec)?;
                    return Ok(Some((e, b, false)));
                }
                _ => {
                    if !self.housekeeping(&rec)? {
                        return Err(self.verr(
                            rec.offset,
                            rec.volume,
                            ErrorKind::Corrupt,
                            format!(
                                "unexpected {} header at offset {}",
                                ty::name(rec.c.rtype),
                                rec.offset
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// Whether an entry starts a look-ahead for an NFS4 side record: an extended ACL.
    fn wants_side_record(e: &Entry) -> bool {
        e.extra("aix.mode")
            .and_then(|m| std::str::from_utf8(m).ok())
            .and_then(|m| u32::from_str_radix(m.trim_start_matches("0o"), 8).ok())
            .is_some_and(|m| m & layout::S_IXACL != 0)
    }

    /// Hold entries back (data in memory, bounded) until an NFS4 side record is found.
    fn look_ahead(&mut self, first: Entry, body: Body) -> Result<()> {
        let mut held: Vec<(Entry, Body)> = Vec::new();
        let mut bytes = 0u64;
        let mut cur = (first, body);
        loop {
            // bring the current entry's data into memory, if it fits
            let (e, b) = cur;
            let size = if e.has_data() { e.size } else { 0 };
            if bytes + size > LOOKAHEAD_BYTES || held.len() >= LOOKAHEAD_ENTRIES {
                held.push((e, b));
                break;
            }
            let b = match b {
                Body::None => Body::None,
                other => {
                    let data = self.body_to_vec(other, size)?;
                    bytes += data.len() as u64;
                    Body::Memory { data, pos: 0 }
                }
            };
            held.push((e, b));
            match self.next_from_stream()? {
                None => break,
                Some((e, b, true)) if e.size <= security::MAX_PART as u64 => {
                    // the side record: its text becomes the NFS4 ACL of the entry it is for
                    let text = self.body_to_vec(b, e.size)?;
                    let dir = e.path.rsplit_once_slash();
                    let target = held
                        .iter()
                        .rposition(|(h, _)| {
                            h.kind == EntryKind::Dir
                                && Self::wants_side_record(h)
                                && h.path.starts_with(dir)
                        })
                        .or_else(|| held.iter().rposition(|(h, _)| Self::wants_side_record(h)));
                    match target {
                        Some(i) => held[i].0.acls.push(Acl {
                            kind: "aix.nfs4".into(),
                            data: text,
                        }),
                        None => {
                            self.warn(
                                &format!(
                                    "NFS4 ACL record {} has no entry with an extended ACL before it: kept as a file",
                                    e.display_path()
                                ),
                                None,
                            );
                            held.push((e, Body::Memory { data: text, pos: 0 }));
                        }
                    }
                    break;
                }
                Some((e, b, _)) => cur = (e, b),
            }
        }
        self.queue.extend(held);
        Ok(())
    }
}

/// The directory part of a path, for matching side records.
trait DirOf {
    fn rsplit_once_slash(&self) -> &[u8];
}

impl DirOf for Vec<u8> {
    fn rsplit_once_slash(&self) -> &[u8] {
        match self.iter().rposition(|&b| b == b'/') {
            Some(i) => &self[..i],
            None => b"",
        }
    }
}

impl FormatReader for DwordReader {
    fn volume(&mut self) -> Result<VolumeInfo> {
        let v = &self.first;
        let by_inode = self.variant == Variant::ByInodeV2;
        let mut vi = VolumeInfo {
            format: crate::FORMAT_ID.into(),
            variant: self.variant.id().into(),
            volume: Some(v.volnum as u32),
            date: Some(Timestamp::from_secs(v.date as i64)),
            since: (by_inode && v.budate != 0).then(|| Timestamp::from_secs(v.budate as i64)),
            level: if by_inode { v.level() } else { None },
            filesystem: (!v.fsname.is_empty()).then(|| v.fsname.clone()),
            device: (!v.disk.is_empty()).then(|| v.disk.clone()),
            user: (!v.user.is_empty()).then(|| v.user.clone()),
            block_size: Some(DWORD as u32),
            record_size: self.record_size,
            ..VolumeInfo::default()
        };
        vi.extras
            .push(relic_model::Extra::new("aix.incno", v.incno.to_string()));
        vi.extras
            .push(relic_model::Extra::new("aix.numwds", v.numwds.to_string()));
        Ok(vi)
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        self.finish_body()?;
        if let Some((e, b)) = self.queue.pop_front() {
            self.body = b;
            return Ok(Some(e));
        }
        let Some((e, b, side)) = self.next_from_stream()? else {
            return Ok(None);
        };
        if side {
            self.warn(
                &format!(
                    "NFS4 ACL record {} has no entry with an extended ACL before it: kept as a file",
                    e.display_path()
                ),
                None,
            );
        }
        if !side && self.variant == Variant::ByName && Self::wants_side_record(&e) {
            self.look_ahead(e, b)?;
            return match self.queue.pop_front() {
                Some((e, b)) => {
                    self.body = b;
                    Ok(Some(e))
                }
                None => Ok(None),
            };
        }
        self.body = b;
        Ok(Some(e))
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let mut body = std::mem::replace(&mut self.body, Body::None);
        let r = self.data_from(&mut body, buf);
        self.body = body;
        r
    }
}
