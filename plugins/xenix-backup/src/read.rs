//! The streaming reader of the V7 dump family: [`XenixReader`], the probe's [`bid`] and the
//! variant detection ([`detect`]).
//!
//! # Detection
//!
//! A block counts as a header only when its magic AND its checksum are right
//! ([`Variant::is_header`]). For every candidate shape and byte order of
//! [`layout::CANDIDATES`] and both block sizes, [`detect`] walks the chain of headers from
//! the first byte: each header says how many blocks follow it (maps: c_count; inode and
//! address headers: their nonzero c_addr flags) so the next header's position is known. The
//! candidate that verifies the longest chain wins; a 1 KiB header whose second half is zero
//! also checksums as 512 bytes, but only the 1 KiB walk finds the next header. Intel and
//! PDP-11 headers have identical 16-bit words, so [`order_score`] decides between them from
//! the 32-bit fields: c_tapea must equal the block's own index, sizes that are small in the
//! right order read as multiples of 65536 in the wrong one, and times must be positive and
//! not after the dump date. The probe bids the bits verified: magic + checksum of up to four
//! chained headers.
//!
//! # Reading
//!
//! The tape order is TS_TAPE, TS_CLRI + map, TS_BITS + map, every dumped directory
//! (ascending inode), every other dumped inode, TS_END (V7 `dump.c main`). Directories are
//! kept (names only, capped) until the first non-directory header; then the tree is walked
//! from the root (inode 2) and directories are emitted parents first, followed by every
//! other inode in tape order under its first name, its other names as hard links.
//! Unreachable inodes get `lost+found/#INO`.
//!
//! File data is positional: flag k of the TS_INODE header and then of each TS_ADDR header
//! covers one block; a zero flag is a hole. The first TS_ADDR maps to the single-indirect
//! range, the next to the leaves of the double-indirect range and so on, guided by which
//! indirect roots the inode's di_addr says exist (V7 `dump` writes no TS_ADDR for a missing
//! indirect block, research note §2.1). A file whose headers stop before its size ends in a
//! hole; flagged blocks beyond the size are consumed and dropped.
//!
//! # Volumes
//!
//! When a volume ends (end of data, a tape mark, end of medium, or `volume-size` bytes) the
//! reader asks the medium for the next one (or finds it in the same stream after a tape mark
//! or at the `volume-size` boundary) and accepts it only if it starts with a TS_TAPE of the
//! next volume number and the same dump date. Data may continue in the middle of a file.
//! Volumes concatenated into one input are found by the same test: a block that is the
//! TS_TAPE of this dump's next volume (magic, checksum, type, volume number and dump date all
//! right) starts that volume wherever it is, even between two data blocks of a file.
//!
//! # Damage
//!
//! A bad header is a `Corrupt` error with its offset, the volume and the last complete file;
//! a short input is `Truncated`. With `salvage`, the reader skips block by block to the next
//! block with magic and checksum and says how much it skipped. Maps, directories and name
//! tables are capped, so no input makes it allocate without bound.

use std::collections::{HashMap, HashSet, VecDeque};

use relic_model::{
    Chunk, DataState, Entry, EntryKind, Error, ErrorKind, Extra, FormatReader, LogLevel, Medium,
    Result, Timestamp, VolumeInfo,
};
use relic_plugin_sdk::stream::RecordStream;
use relic_plugin_sdk::HostHandle;

use crate::layout::{
    self, ByteOrder, Dinode, Header, Shape, Variant, BLOCK_SIZES, DIRENT_SIZE, IFBLK, IFCHR, IFDIR,
    IFIFO, IFLNK, IFMPB, IFMPC, IFNAM, IFREG, MAGIC, NDIRECT, ROOTINO, TS_ADDR, TS_BITS, TS_CLRI,
    TS_END, TS_INODE, TS_TAPE,
};

/// Bytes looked at for detection.
pub const PROBE_BYTES: usize = 64 * 1024;
/// Headers of the chain counted for the bid.
const BID_HEADERS: usize = 4;
/// A map (TS_CLRI/TS_BITS) longer than this many bytes is refused: 65536 inodes need 8 KiB,
/// a 4-byte c_inumber layout could in theory need more.
const MAX_MAP_BYTES: usize = 64 * 1024;
/// One directory's data is read into memory up to this size (a V7 directory holding all
/// 65536 inodes of a file system is 1 MiB).
const MAX_DIR_BYTES: u64 = 4 << 20;
/// All directories together (their 16-byte entries): a million names.
const MAX_DIR_TOTAL: usize = 16 << 20;
/// Directories kept during the directory phase.
const MAX_DIRS: usize = 1 << 20;
/// Names of non-directory inodes kept.
const MAX_NAMES: usize = 1 << 20;
/// Longest path built from the tree (twice Linux's PATH_MAX); deeper entries go to
/// lost+found. Building a path costs its length, so reading stays linear in what it lists.
const MAX_PATH: usize = 8 * 1024;
/// Longest symbolic link target read (2.9BSD's MAXPATHLEN is 1024).
const MAX_LINK: u64 = 64 * 1024;

/// Reader options.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Skip damage to the next valid header instead of stopping.
    pub salvage: bool,
    /// Bytes per volume when several volumes follow one another in one input (a
    /// concatenation of floppy images).
    pub volume_size: Option<u64>,
    /// Force the block size instead of detecting it.
    pub block_size: Option<usize>,
    /// Force the byte order instead of detecting it.
    pub byte_order: Option<ByteOrder>,
}

/// What [`detect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub variant: Variant,
    /// Headers verified in a chain from the first byte.
    pub headers: usize,
}

/// Offsets of the headers found by walking from offset 0 under `v` (at most `max`).
fn chain(v: &Variant, head: &[u8], max: usize) -> Vec<usize> {
    let b = v.bsize;
    let mut out = Vec::new();
    let mut off = 0usize;
    while out.len() < max && off + b <= head.len() {
        let blk = &head[off..off + b];
        if !v.is_header(blk) {
            break;
        }
        let h = v.parse(blk);
        let follow = match h.c_type {
            TS_TAPE => 0,
            TS_END => {
                out.push(off);
                break;
            }
            TS_CLRI | TS_BITS => h.count as usize,
            TS_INODE | TS_ADDR => v.flags(blk, h.count).iter().filter(|&&f| f != 0).count(),
            _ => break,
        };
        out.push(off);
        off = match follow
            .checked_add(1)
            .and_then(|n| n.checked_mul(b))
            .and_then(|n| n.checked_add(off))
        {
            Some(o) => o,
            None => break,
        };
    }
    out
}

/// How plausible the 32-bit fields of the headers at `offs` are in `v`'s byte order (higher
/// is better). Used to tell Intel from PDP-11 order, whose 16-bit words are identical.
pub fn order_score(v: &Variant, head: &[u8], offs: &[usize]) -> i64 {
    let mut score = 0i64;
    // a small value read in the wrong word order becomes a nonzero multiple of 65536
    let size_like = |x: u32| -> i64 {
        if x != 0 && x & 0xffff == 0 {
            -2
        } else if x > i32::MAX as u32 {
            -1
        } else {
            0
        }
    };
    for &off in offs {
        let blk = &head[off..off + v.bsize];
        let h = v.parse(blk);
        let date_ok = h.date > 0;
        score += if date_ok { 1 } else { -1 };
        if h.ddate != 0 {
            score += if h.ddate > 0 && (!date_ok || h.ddate <= h.date) {
                1
            } else {
                -1
            };
        }
        // c_tapea is the index of the header's own block in the dump (V7 `taprec`)
        if h.tapea as usize == off / v.bsize {
            score += if off > 0 { 4 } else { 0 };
        } else {
            score += size_like(h.tapea);
        }
        if matches!(h.c_type, TS_INODE | TS_ADDR) {
            score += size_like(h.dinode.size);
            for t in [h.dinode.atime, h.dinode.mtime, h.dinode.ctime] {
                if t < 0 || (date_ok && t > h.date.saturating_add(366 * 86400)) {
                    score -= 1;
                }
            }
        }
    }
    score
}

/// Recognise the variant of a dump from its first bytes. `None` when no candidate has a
/// valid header at offset 0.
pub fn detect(head: &[u8], opts: &ReadOptions) -> Option<Detected> {
    let mut best: Option<(Detected, Vec<usize>)> = None;
    for (order, shape) in layout::CANDIDATES {
        if let Some(o) = opts.byte_order {
            let fits = o == order || (o == ByteOrder::Pdp11 && order == ByteOrder::Intel);
            if !fits || (o == ByteOrder::Pdp11 && shape != Shape::Short) {
                continue;
            }
        }
        for bsize in BLOCK_SIZES {
            if opts.block_size.is_some_and(|b| b != bsize) {
                continue;
            }
            let v = Variant::new(order, shape, bsize);
            let offs = chain(&v, head, 64);
            if offs.is_empty() {
                continue;
            }
            let better = match &best {
                None => true,
                Some((d, _)) => offs.len() > d.headers,
            };
            if better {
                best = Some((
                    Detected {
                        variant: v,
                        headers: offs.len(),
                    },
                    offs,
                ));
            }
        }
    }
    let (mut d, offs) = best?;
    if d.variant.order == ByteOrder::Intel && d.variant.shape == Shape::Short {
        let pdp = Variant {
            order: ByteOrder::Pdp11,
            ..d.variant
        };
        let forced_pdp = opts.byte_order == Some(ByteOrder::Pdp11);
        let forced_intel = opts.byte_order == Some(ByteOrder::Intel);
        if forced_pdp
            || (!forced_intel
                && order_score(&pdp, head, &offs) > order_score(&d.variant, head, &offs))
        {
            d.variant = pdp;
        }
    }
    Some(d)
}

/// The probe's bid: bits verified (magic + checksum) over the first headers of the chain.
///
/// A 4.2/4.3BSD or IRIX dump header (magic 60011 as well) has the same prefix as the 68k
/// V7 layout with int fields, and its checksum also verifies over 1024 bytes. What tells
/// them apart is the first TS_TAPE header: V7 dump wrote it from a fresh, zeroed `spcl`, so
/// everything after `c_addr[c_count]` is zero, while a 4.3BSD header keeps its label, level,
/// file-system, device and host names there. Such a chain is not ours: bid 0.
pub fn bid(head: &[u8]) -> u32 {
    match detect(head, &ReadOptions::default()) {
        Some(d) if bsd_style_tape_header(&d.variant, head) => 0,
        Some(d) => {
            let per = if d.variant.fields().word == 2 { 32 } else { 64 };
            per * d.headers.min(BID_HEADERS) as u32
        }
        None => 0,
    }
}

/// Whether the first block, read as a TS_TAPE header of `v`, carries data after its
/// `c_addr` map (see [`bid`]).
fn bsd_style_tape_header(v: &Variant, head: &[u8]) -> bool {
    let Some(blk) = head.get(..v.bsize) else {
        return false;
    };
    let h = v.parse(blk);
    if h.c_type != TS_TAPE {
        return false;
    }
    let start = v.fields().c_addr.saturating_add(h.count as usize);
    blk.get(start..)
        .is_some_and(|rest| rest.iter().any(|&b| b != 0))
}

fn type_name(t: u32) -> String {
    match t {
        TS_TAPE => "TS_TAPE".into(),
        TS_INODE => "TS_INODE".into(),
        TS_BITS => "TS_BITS".into(),
        TS_ADDR => "TS_ADDR".into(),
        TS_END => "TS_END".into(),
        TS_CLRI => "TS_CLRI".into(),
        other => format!("type {other}"),
    }
}

fn date_str(t: i32) -> String {
    relic_model::time::format_utc(i64::from(t))
}

/// Blocks of one dump over a medium, across volumes.
struct Source<M: Medium> {
    stream: RecordStream<M>,
    v: Variant,
    /// Dump date of volume 1: every further volume must carry it.
    date: Option<i32>,
    volume: u32,
    /// Stream offset where the current volume began.
    vol_start: u64,
    volume_size: Option<u64>,
    salvage: bool,
    host: HostHandle,
}

impl<M: Medium> Source<M> {
    /// Offset within the current volume.
    fn offset(&self) -> u64 {
        self.stream.offset() - self.vol_start
    }

    fn locate(&self, mut e: Error) -> Error {
        if e.offset.is_none() {
            e.offset = Some(self.offset());
        }
        if self.volume > 1 && !e.message.starts_with("volume ") {
            e.message = format!("volume {}: {}", self.volume, e.message);
        }
        e
    }

    /// What it means that the input ends where the dump goes on.
    fn end_note(&self) -> String {
        format!(
            "the input ends at offset {} of volume {} before the end of the dump: volume {} is missing or the input is truncated",
            self.offset(),
            self.volume,
            self.volume + 1
        )
    }

    fn medium_name(&self) -> String {
        self.stream.medium().info().name
    }

    /// Make sure a whole block is buffered, crossing into the next volume when this one
    /// ends. `Ok(false)`: the input ends here and there is no further volume.
    fn ensure(&mut self) -> Result<bool> {
        let b = self.v.bsize;
        loop {
            let at_limit = self.volume_size.is_some_and(|vs| self.offset() >= vs);
            let have = self.stream.fill(b).map_err(|e| self.locate(e))?;
            if have >= b && !at_limit {
                // the next volume's header of this very dump (magic, checksum, TS_TAPE, the
                // next volume number and the dump date): volumes concatenated in one input
                let (v, volume, date) = (self.v, self.volume, self.date);
                if is_next_volume(&v, volume, date, self.stream.peek(b)?) {
                    self.start_volume()?;
                    self.host.warn(
                        &format!("volume {} follows in the same input", self.volume),
                        Some(0),
                    );
                    continue;
                }
                return Ok(true);
            }
            if have >= b {
                // concatenated volumes: the next one follows in this stream
                self.start_volume()?;
                continue;
            }
            if have > 0 {
                let e = Error::truncated(format!(
                    "the volume ends inside a block: {have} of {b} bytes"
                ));
                if !self.salvage {
                    return Err(self.locate(e));
                }
                self.host
                    .warn(&format!("salvage: {}", self.locate(e)), Some(self.offset()));
                self.stream.consume(have);
            }
            if !self.switch_medium()? {
                return Ok(false);
            }
            self.start_volume()?;
        }
    }

    /// Find the next volume: the next tape file of the same medium if it starts with this
    /// dump's next volume header, else whatever the medium offers as the next volume.
    fn switch_medium(&mut self) -> Result<bool> {
        let b = self.v.bsize;
        if self.stream.at_tape_mark() && self.stream.next_file() {
            let have = self.stream.fill(b).map_err(|e| self.locate(e))?;
            if have >= b {
                let (v, volume, date) = (self.v, self.volume, self.date);
                let blk = self.stream.peek(b)?;
                if is_next_volume(&v, volume, date, blk) {
                    return Ok(true);
                }
            }
            self.stream.discard_buffered();
        }
        let n = self.volume + 1;
        if !self
            .stream
            .medium_mut()
            .next_volume(n)
            .map_err(|e| self.locate(e))?
        {
            return Ok(false);
        }
        self.stream.resume();
        self.stream.next_file();
        Ok(true)
    }

    /// Check and consume the TS_TAPE that must open the next volume.
    fn start_volume(&mut self) -> Result<()> {
        let b = self.v.bsize;
        let n = self.volume + 1;
        let start = self.stream.offset();
        let name = self.medium_name();
        let have = self.stream.fill(b)?;
        let err = |msg: String| Error::corrupt(format!("volume {n} ({name}): {msg}")).at(0);
        if have < b {
            return Err(Error::truncated(format!(
                "volume {n} ({name}) is empty or shorter than one {b}-byte block"
            ))
            .at(0));
        }
        let blk = self.stream.peek(b)?;
        if !self.v.is_header(blk) {
            return Err(err(
                "does not start with a dump header (magic 60011 and a valid checksum)".into(),
            ));
        }
        let h = self.v.parse(blk);
        if h.c_type != TS_TAPE {
            return Err(err(format!(
                "starts with a {} header, not a volume header (TS_TAPE)",
                type_name(h.c_type)
            )));
        }
        if Some(h.date) != self.date {
            return Err(err(format!(
                "belongs to another dump: dated {}, volume 1 is dated {}",
                date_str(h.date),
                self.date.map(date_str).unwrap_or_default()
            )));
        }
        if h.volume != n {
            return Err(err(format!(
                "is volume {} of the dump; volume {n} was expected",
                h.volume
            )));
        }
        self.stream.consume(b);
        self.volume = n;
        self.vol_start = start;
        self.host.log(
            LogLevel::Info,
            &format!("volume {n} ({name}) of the dump of {}", date_str(h.date)),
        );
        Ok(())
    }

    /// The next block without consuming it (crossing volumes).
    fn peek(&mut self) -> Result<Option<&[u8]>> {
        if !self.ensure()? {
            return Ok(None);
        }
        let b = self.v.bsize;
        Ok(Some(self.stream.peek(b)?))
    }

    fn consume(&mut self) {
        self.stream.consume(self.v.bsize);
    }

    /// Read whole blocks into `out` (a multiple of the block size), crossing volumes.
    fn read_blocks(&mut self, out: &mut [u8], what: &str) -> Result<()> {
        let b = self.v.bsize;
        let mut done = 0;
        while done < out.len() {
            if !self.ensure()? {
                return Err(self.locate(Error::truncated(format!(
                    "{} ({what}: {} of {} bytes read)",
                    self.end_note(),
                    done,
                    out.len()
                ))));
            }
            let mut want = out.len() - done;
            if let Some(vs) = self.volume_size {
                want = want.min((vs.saturating_sub(self.offset()) as usize).max(b));
            }
            let avail = self.stream.fill(want).map_err(|e| self.locate(e))?;
            let mut n = (avail.min(want) / b).max(1) * b;
            let (v, volume, date) = (self.v, self.volume, self.date);
            let got = self.stream.peek(n)?;
            // stop before a volume header inside the run (ensure() crosses it next time)
            if let Some(i) = (b..n)
                .step_by(b)
                .find(|&i| is_next_volume(&v, volume, date, &got[i..i + b]))
            {
                n = i;
            }
            let got = &got[..n];
            out[done..done + n].copy_from_slice(got);
            self.stream.consume(n);
            done += n;
        }
        Ok(())
    }

    /// Skip `n` blocks.
    fn skip_blocks(&mut self, n: usize, what: &str) -> Result<()> {
        for i in 0..n {
            if !self.ensure()? {
                return Err(self.locate(Error::truncated(format!(
                    "{} ({what}: {i} of {n} blocks)",
                    self.end_note()
                ))));
            }
            self.consume();
        }
        Ok(())
    }
}

/// Whether `blk` is the TS_TAPE of volume `volume + 1` of the dump dated `date`.
fn is_next_volume(v: &Variant, volume: u32, date: Option<i32>, blk: &[u8]) -> bool {
    if !v.is_header(blk) {
        return false;
    }
    let h = v.parse(blk);
    h.c_type == TS_TAPE && h.volume == volume + 1 && Some(h.date) == date
}

/// A name in a directory (at most 14 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Name {
    bytes: [u8; layout::DIRSIZ],
    len: u8,
}

impl Name {
    fn new(b: &[u8]) -> Name {
        let mut bytes = [0u8; layout::DIRSIZ];
        let n = b.len().min(layout::DIRSIZ);
        bytes[..n].copy_from_slice(&b[..n]);
        Name {
            bytes,
            len: n as u8,
        }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// A dumped directory: its inode and its entries.
struct Dir {
    dinode: Dinode,
    entries: Vec<(u32, Name)>,
}

/// The directory tree, built once the directories are read.
#[derive(Default)]
struct Tree {
    /// Parent and name of every directory reached (orphan roots have none).
    parent: HashMap<u32, (u32, Name)>,
    /// Names of the other inodes, in tree order: (directory, name).
    names: HashMap<u32, Vec<(u32, Name)>>,
    names_total: usize,
}

/// Data of the entry being read: positional flags over the TS_INODE and TS_ADDR headers.
struct FileData {
    ino: u32,
    size: u64,
    /// Next byte offset to deliver.
    pos: u64,
    flags: Vec<u8>,
    idx: usize,
    /// Block index of `flags[0]`.
    base: u64,
    /// Which indirect roots (single, double, triple) the inode says exist.
    roots: [bool; 3],
    /// TS_ADDR headers consumed so far.
    addrs: u64,
    /// A block read for a caller whose buffer is smaller than one block.
    partial: Option<(u64, Vec<u8>, usize)>,
}

impl FileData {
    fn new(ino: u32, d: &Dinode, flags: &[u8], size: u64) -> FileData {
        FileData {
            ino,
            size,
            pos: 0,
            flags: flags.to_vec(),
            idx: 0,
            base: 0,
            roots: [d.addr[10] != 0, d.addr[11] != 0, d.addr[12] != 0],
            addrs: 0,
            partial: None,
        }
    }

    /// First block covered by the k-th TS_ADDR header.
    fn addr_base(&self, k: u64, n: u64) -> u64 {
        if !self.roots.iter().any(|&r| r) {
            return NDIRECT as u64 + k * n;
        }
        let mut k = k;
        if self.roots[0] {
            if k == 0 {
                return NDIRECT as u64;
            }
            k -= 1;
        }
        let dbl = NDIRECT as u64 + n;
        if self.roots[1] {
            if k < n {
                return dbl + k * n;
            }
            k -= n;
        }
        let tpl = dbl + n * n;
        if self.roots[2] {
            if k < n * n {
                return tpl + k * n;
            }
            k -= n * n;
        }
        tpl + n * n * n + k * n
    }
}

enum Phase {
    /// Reading the directories at the start of the dump.
    Dirs,
    /// Directories emitted (or being emitted), reading the other inodes.
    Files,
}

/// The reader. `M` is the medium the engine hands over (any [`Medium`]).
pub struct XenixReader<M: Medium> {
    src: Source<M>,
    v: Variant,
    host: HostHandle,
    salvage: bool,
    info: VolumeInfo,
    phase: Phase,
    dirs: HashMap<u32, Dir>,
    dir_order: Vec<u32>,
    dir_bytes: usize,
    tree: Tree,
    emit_dirs: VecDeque<(u32, Vec<u8>)>,
    pending: Option<(Header, Vec<u8>)>,
    file: Option<FileData>,
    links: VecDeque<Entry>,
    bits: Option<Vec<u8>>,
    seen: HashSet<u32>,
    last_file_ino: Option<u32>,
    last_complete: Option<Vec<u8>>,
    current_path: Vec<u8>,
    ended: bool,
    skipped_blocks: u64,
}

impl<M: Medium> XenixReader<M> {
    /// Open: detect the variant from the first bytes and read the volume header.
    pub fn new(medium: M, host: HostHandle, opts: ReadOptions) -> Result<XenixReader<M>> {
        let mut stream = RecordStream::new(medium);
        let head = stream.peek(PROBE_BYTES)?.to_vec();
        let det = detect(&head, &opts).or_else(|| {
            if opts.salvage {
                salvage_detect(&head, &opts)
            } else {
                None
            }
        });
        let Some(det) = det else {
            let why = if head.len() < 512 {
                format!("the input has only {} bytes", head.len())
            } else {
                let magics: Vec<String> = layout::CANDIDATES
                    .iter()
                    .flat_map(|(o, s)| BLOCK_SIZES.map(|b| Variant::new(*o, *s, b)))
                    .filter(|v| v.has_magic(&head))
                    .map(|v| v.name())
                    .collect();
                if magics.is_empty() {
                    "no magic number 60011 where any V7-family header has it".to_string()
                } else {
                    format!(
                        "the magic number of {} is there but the checksum is wrong",
                        magics.join(", ")
                    )
                }
            };
            return Err(
                Error::new(ErrorKind::Corrupt, format!("not a XENIX/V7 dump: {why}")).at(0),
            );
        };
        let v = det.variant;
        if let Some(vs) = opts.volume_size {
            if vs == 0 || vs % v.bsize as u64 != 0 {
                return Err(Error::config(format!(
                    "volume-size {vs} is not a positive multiple of the {}-byte block",
                    v.bsize
                )));
            }
        }
        let mut src = Source {
            stream,
            v,
            date: None,
            volume: 1,
            vol_start: 0,
            volume_size: opts.volume_size,
            salvage: opts.salvage,
            host: host.clone(),
        };
        // With salvage the dump may not start on a header: skip to the first one.
        let mut skipped = 0u64;
        loop {
            let Some(blk) = src.peek()? else {
                return Err(Error::truncated("the input holds no dump header").at(0));
            };
            if v.is_header(blk) || !opts.salvage {
                break;
            }
            src.consume();
            skipped += 1;
        }
        if skipped > 0 {
            host.warn(
                &format!("salvage: skipped {skipped} blocks before the first valid header"),
                Some(0),
            );
        }
        let off = src.offset();
        let blk = match src.peek()? {
            Some(b) => b.to_vec(),
            None => return Err(Error::truncated("the input holds no dump header").at(off)),
        };
        let h = v.parse(&blk);
        let mut info = VolumeInfo {
            format: "xenix-backup".into(),
            variant: v.name(),
            block_size: Some(v.bsize as u32),
            record_size: Some(layout::RECORD_BYTES as u32),
            extras: vec![Extra::new("xenix.family", v.family())],
            ..VolumeInfo::default()
        };
        if h.c_type == TS_TAPE {
            src.consume();
            if h.volume != 1 {
                let e = Error::corrupt(format!(
                    "this is volume {} of the dump of {}; reading starts with volume 1",
                    h.volume,
                    date_str(h.date)
                ))
                .at(off);
                if !opts.salvage {
                    return Err(e);
                }
                host.warn(
                    &format!("salvage: {e}; files before this volume are missing"),
                    Some(off),
                );
                src.volume = h.volume;
            }
            info.volume = Some(h.volume);
        } else {
            let e = Error::corrupt(format!(
                "the dump starts with a {} header, not a volume header (TS_TAPE)",
                type_name(h.c_type)
            ))
            .at(off);
            if !opts.salvage {
                return Err(e);
            }
            host.warn(&format!("salvage: {e}"), Some(off));
        }
        src.date = Some(h.date);
        info.date = Some(Timestamp::from_secs(i64::from(h.date)));
        if h.ddate != 0 {
            info.since = Some(Timestamp::from_secs(i64::from(h.ddate)));
        }
        host.log(
            LogLevel::Info,
            &format!(
                "{} ({}), dump of {}",
                v.family(),
                v.name(),
                date_str(h.date)
            ),
        );
        Ok(XenixReader {
            src,
            v,
            host,
            salvage: opts.salvage,
            info,
            phase: Phase::Dirs,
            dirs: HashMap::new(),
            dir_order: Vec::new(),
            dir_bytes: 0,
            tree: Tree::default(),
            emit_dirs: VecDeque::new(),
            pending: None,
            file: None,
            links: VecDeque::new(),
            bits: None,
            seen: HashSet::new(),
            last_file_ino: None,
            last_complete: None,
            current_path: Vec::new(),
            ended: false,
            skipped_blocks: 0,
        })
    }

    /// The variant being read.
    pub fn variant(&self) -> Variant {
        self.v
    }

    /// Blocks skipped by salvage so far.
    pub fn skipped_blocks(&self) -> u64 {
        self.skipped_blocks
    }

    fn last_complete(&self) -> String {
        match &self.last_complete {
            Some(p) => format!("last complete file: {}", relic_model::listing::escape(p)),
            None => "no file was complete yet".into(),
        }
    }

    fn warn(&self, msg: &str) {
        self.host.warn(msg, Some(self.src.offset()));
    }

    /// The next header block: a valid header of a known type. Skips damage with salvage.
    /// `None` when the input ends (only with salvage; otherwise that is an error).
    fn next_header(&mut self) -> Result<Option<(Header, Vec<u8>)>> {
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        let v = self.v;
        let mut skipped = 0u64;
        let mut skip_from = (0u64, 0u32);
        loop {
            let off = self.src.offset();
            let Some(blk) = self.src.peek()? else {
                let e = Error::truncated(format!(
                    "{} (no end record, TS_END); {}",
                    self.src.end_note(),
                    self.last_complete()
                ))
                .at(self.src.offset());
                let e = self.src.locate(e);
                if self.salvage {
                    self.warn(&format!("salvage: {e}"));
                    return Ok(None);
                }
                return Err(e);
            };
            if v.is_header(blk) {
                let h = v.parse(blk);
                if (TS_TAPE..=TS_CLRI).contains(&h.c_type) {
                    let blk = blk.to_vec();
                    self.src.consume();
                    if skipped > 0 {
                        self.skipped_blocks += skipped;
                        self.host.warn(
                            &format!(
                                "salvage: skipped {skipped} blocks ({} bytes) from offset {}{} to the next valid header ({} of inode {})",
                                skipped * v.bsize as u64,
                                skip_from.0,
                                if skip_from.1 > 1 { format!(" of volume {}", skip_from.1) } else { String::new() },
                                type_name(h.c_type),
                                h.inumber
                            ),
                            Some(skip_from.0),
                        );
                    }
                    return Ok(Some((h, blk)));
                }
            }
            if !self.salvage {
                let why = if v.is_header(blk) {
                    format!("an unknown record type {}", v.parse(blk).c_type)
                } else if v.has_magic(blk) {
                    "the magic number but a wrong checksum".to_string()
                } else {
                    "no magic number".to_string()
                };
                return Err(self.src.locate(
                    Error::corrupt(format!(
                        "expected a dump header (magic {MAGIC} and a valid checksum), found a block with {why}; {}; --salvage skips to the next valid header",
                        self.last_complete()
                    ))
                    .at(off),
                ));
            }
            if skipped == 0 {
                skip_from = (off, self.src.volume);
            }
            skipped += 1;
            self.src.consume();
        }
    }

    /// Read the blocks of a TS_CLRI / TS_BITS map.
    fn read_map(&mut self, h: &Header) -> Result<Vec<u8>> {
        let bytes = (h.count as usize).saturating_mul(self.v.bsize);
        if bytes > MAX_MAP_BYTES {
            return Err(self.src.locate(Error::corrupt(format!(
                "{} map of {} blocks ({bytes} bytes) is larger than any V7 inode map ({MAX_MAP_BYTES} bytes)",
                type_name(h.c_type),
                h.count
            ))));
        }
        let mut map = vec![0u8; bytes];
        self.src.read_blocks(&mut map, "an inode map")?;
        Ok(map)
    }

    /// Skip the data blocks flagged in a header (an orphan TS_ADDR, trailing blocks).
    fn skip_flagged(&mut self, blk: &[u8], h: &Header) -> Result<()> {
        let n = self
            .v
            .flags(blk, h.count)
            .iter()
            .filter(|&&f| f != 0)
            .count();
        self.src.skip_blocks(n, "data blocks")
    }

    /// The next block as a header of this file's TS_ADDR sequence, consumed; or false.
    fn next_addr(&mut self) -> Result<bool> {
        let Some(f) = self.file.as_ref() else {
            return Ok(false);
        };
        let ino = f.ino;
        let v = self.v;
        let Some(blk) = self.src.peek()? else {
            return Ok(false);
        };
        if !v.is_header(blk) {
            return Ok(false);
        }
        let h = v.parse(blk);
        if h.c_type != TS_ADDR || h.inumber != ino {
            return Ok(false);
        }
        let flags = v.flags(blk, h.count).to_vec();
        self.src.consume();
        let n = v.nindir() as u64;
        let Some(f) = self.file.as_mut() else {
            return Ok(false);
        };
        f.base = f.addr_base(f.addrs, n);
        f.addrs += 1;
        f.flags = flags;
        f.idx = 0;
        Ok(true)
    }

    /// Consume the rest of the current header's flagged blocks (beyond the file's size).
    fn drain_file(&mut self) -> Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let n = f.flags[f.idx.min(f.flags.len())..]
            .iter()
            .filter(|&&x| x != 0)
            .count();
        f.idx = f.flags.len();
        f.partial = None;
        self.src
            .skip_blocks(n, "data blocks beyond the file's size")
    }

    /// The next chunk of the current file (see the module docs for the mapping).
    fn file_chunk(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let b = self.v.bsize as u64;
        loop {
            let Some(f) = self.file.as_mut() else {
                return Ok(Chunk::End);
            };
            if let Some((off, data, done)) = f.partial.as_mut() {
                let n = (data.len() - *done).min(buf.len());
                buf[..n].copy_from_slice(&data[*done..*done + n]);
                let at = *off + *done as u64;
                *done += n;
                if *done >= data.len() {
                    f.partial = None;
                }
                f.pos = at + n as u64;
                return Ok(Chunk::Data {
                    offset: at,
                    len: n as u64,
                });
            }
            if f.pos >= f.size {
                self.drain_file()?;
                return Ok(Chunk::End);
            }
            if f.idx >= f.flags.len() {
                if !self.next_addr()? {
                    let Some(f) = self.file.as_mut() else {
                        return Ok(Chunk::End);
                    };
                    let (offset, len) = (f.pos, f.size - f.pos);
                    f.pos = f.size;
                    return Ok(Chunk::Hole { offset, len });
                }
                continue;
            }
            let blk = f.base + f.idx as u64;
            let start = blk.saturating_mul(b);
            if start >= f.size || start > f.pos {
                // a gap in the mapping, or the headers go past the size: a hole up to there
                let end = start.min(f.size);
                let (offset, len) = (f.pos, end - f.pos);
                f.pos = end;
                return Ok(Chunk::Hole { offset, len });
            }
            if start < f.pos {
                // a block mapped behind what was delivered (cannot happen with the monotone
                // mapping; consumed defensively)
                let flag = f.flags[f.idx];
                f.idx += 1;
                if flag != 0 {
                    self.src.skip_blocks(1, "a data block")?;
                }
                continue;
            }
            let remaining_blocks = (f.size - start).div_ceil(b);
            if f.flags[f.idx] == 0 {
                let mut run = 0u64;
                while f.idx < f.flags.len() && f.flags[f.idx] == 0 && run < remaining_blocks {
                    f.idx += 1;
                    run += 1;
                }
                let end = (start + run * b).min(f.size);
                f.pos = end;
                return Ok(Chunk::Hole {
                    offset: start,
                    len: end - start,
                });
            }
            if buf.len() < b as usize {
                let mut data = vec![0u8; b as usize];
                f.idx += 1;
                self.src.read_blocks(&mut data, "file data")?;
                let keep = (self.file.as_ref().map(|f| f.size).unwrap_or(0) - start).min(b);
                data.truncate(keep as usize);
                if let Some(f) = self.file.as_mut() {
                    f.partial = Some((start, data, 0));
                }
                continue;
            }
            let max = (buf.len() as u64 / b).min(remaining_blocks);
            let mut n = 0u64;
            while (f.idx + n as usize) < f.flags.len()
                && f.flags[f.idx + n as usize] != 0
                && n < max
            {
                n += 1;
            }
            f.idx += n as usize;
            let len = (n * b).min(f.size - start);
            f.pos = start + len;
            self.src
                .read_blocks(&mut buf[..(n * b) as usize], "file data")?;
            return Ok(Chunk::Data { offset: start, len });
        }
    }

    /// Read a whole (small) entry's data into memory: directories and symlink targets.
    fn slurp(&mut self, cap: u64, what: &str) -> Result<Vec<u8>> {
        let size = self.file.as_ref().map(|f| f.size).unwrap_or(0);
        if size > cap {
            return Err(self.src.locate(Error::unsupported(format!(
                "{what} of {size} bytes is larger than the {cap}-byte limit"
            ))));
        }
        let mut out = vec![0u8; size as usize];
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.file_chunk(&mut buf)? {
                Chunk::End => break,
                Chunk::Data { offset, len } => {
                    out[offset as usize..(offset + len) as usize]
                        .copy_from_slice(&buf[..len as usize]);
                }
                Chunk::Hole { .. } | Chunk::Absent { .. } => {}
            }
        }
        self.file = None;
        Ok(out)
    }

    /// A directory header: read its entries.
    fn read_dir(&mut self, h: &Header, blk: &[u8]) -> Result<()> {
        if self.dirs.len() >= MAX_DIRS {
            return Err(self.src.locate(Error::unsupported(format!(
                "more than {MAX_DIRS} directories"
            ))));
        }
        let d = h.dinode;
        self.file = Some(FileData::new(
            h.inumber,
            &d,
            self.v.flags(blk, h.count),
            u64::from(d.size),
        ));
        let data = self.slurp(MAX_DIR_BYTES, "a directory")?;
        self.dir_bytes += data.len();
        if self.dir_bytes > MAX_DIR_TOTAL {
            return Err(self.src.locate(Error::unsupported(format!(
                "the directories hold more than {MAX_DIR_TOTAL} bytes"
            ))));
        }
        let entries: Vec<(u32, Name)> = data
            .chunks_exact(DIRENT_SIZE)
            .map(|e| self.v.dirent(e))
            .filter(|(ino, name)| *ino != 0 && !name.is_empty())
            .map(|(ino, name)| (ino, Name::new(name)))
            .collect();
        if self.dirs.contains_key(&h.inumber) {
            self.warn(&format!(
                "directory inode {} appears twice; keeping the first",
                h.inumber
            ));
            return Ok(());
        }
        self.seen.insert(h.inumber);
        self.dir_order.push(h.inumber);
        self.dirs.insert(h.inumber, Dir { dinode: d, entries });
        Ok(())
    }

    fn add_name(&mut self, ino: u32, dir: u32, name: Name) -> Result<()> {
        if self.tree.names_total >= MAX_NAMES {
            return Err(self.src.locate(Error::unsupported(format!(
                "the directories name more than {MAX_NAMES} files"
            ))));
        }
        self.tree.names_total += 1;
        self.tree.names.entry(ino).or_default().push((dir, name));
        Ok(())
    }

    /// End of the directory phase: walk the tree from the root, queue the directories.
    fn build_tree(&mut self) -> Result<()> {
        self.phase = Phase::Files;
        let mut visited: HashSet<u32> = HashSet::new();
        let mut roots: Vec<u32> = Vec::new();
        if self.dirs.contains_key(&ROOTINO) {
            roots.push(ROOTINO);
        }
        let mut order = self.dir_order.clone();
        order.sort_unstable();
        roots.extend(order.iter().copied().filter(|&i| i != ROOTINO));
        for root in roots {
            if !visited.insert(root) {
                continue;
            }
            let mut queue = VecDeque::from([root]);
            let mut emitted: Vec<u32> = vec![root];
            while let Some(d) = queue.pop_front() {
                let entries = match self.dirs.get(&d) {
                    Some(dir) => dir.entries.clone(),
                    None => continue,
                };
                for (ino, name) in entries {
                    let nb = name.as_bytes();
                    if nb == b"." || nb == b".." {
                        continue;
                    }
                    if self.dirs.contains_key(&ino) {
                        if visited.insert(ino) {
                            self.tree.parent.insert(ino, (d, name));
                            queue.push_back(ino);
                            emitted.push(ino);
                        }
                    } else {
                        self.add_name(ino, d, name)?;
                    }
                }
            }
            for d in emitted {
                let path = self.dir_path(d);
                self.emit_dirs.push_back((d, path));
            }
        }
        Ok(())
    }

    /// Path of a directory from the tree.
    fn dir_path(&self, ino: u32) -> Vec<u8> {
        let mut comps: Vec<&[u8]> = Vec::new();
        let mut cur = ino;
        let mut len = 0usize;
        loop {
            if cur == ROOTINO {
                break;
            }
            match self.tree.parent.get(&cur) {
                Some((p, name)) => {
                    comps.push(name.as_bytes());
                    len += name.len as usize + 1;
                    if len > MAX_PATH {
                        return orphan_path(ino);
                    }
                    cur = *p;
                }
                None => {
                    // an orphan root
                    let mut p = orphan_path(cur);
                    for c in comps.iter().rev() {
                        p.push(b'/');
                        p.extend_from_slice(c);
                    }
                    return p;
                }
            }
        }
        if comps.is_empty() {
            return b".".to_vec();
        }
        comps.reverse();
        comps.join(&b'/')
    }

    /// Paths of a non-directory inode (first = the entry, the rest = hard links).
    fn file_paths(&self, ino: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(names) = self.tree.names.get(&ino) {
            for (dir, name) in names {
                let mut p = self.dir_path(*dir);
                if p == b"." {
                    p.clear();
                } else {
                    p.push(b'/');
                }
                p.extend_from_slice(name.as_bytes());
                out.push(p);
            }
        }
        out
    }

    /// Build an entry from a dinode; None for kinds the model has no place for.
    fn make_entry(&self, path: Vec<u8>, ino: u32, d: &Dinode) -> Option<Entry> {
        let kind = match d.ifmt() {
            IFDIR => EntryKind::Dir,
            IFREG => EntryKind::File,
            IFCHR => EntryKind::CharDevice,
            IFBLK => EntryKind::BlockDevice,
            IFIFO => EntryKind::Fifo,
            IFLNK => EntryKind::Symlink,
            other => {
                let what = match other {
                    IFMPC | IFMPB => "a V7 multiplexed file",
                    IFNAM => "a XENIX semaphore or shared-data name",
                    0 => "an inode without a type (mode 0)",
                    _ => "an unknown inode type",
                };
                self.warn(&format!(
                    "inode {ino} ({}): {what} (mode {:06o}) has no equivalent; skipped",
                    relic_model::listing::escape(&path),
                    d.mode
                ));
                return None;
            }
        };
        let mut e = Entry::new(path, kind);
        e.mode = u32::from(d.mode) & 0o7777;
        e.uid = u64::from(d.uid);
        e.gid = u64::from(d.gid);
        e.nlink = u32::from(d.nlink);
        e.inode = Some(u64::from(ino));
        e.mtime = Some(Timestamp::from_secs(i64::from(d.mtime)));
        e.atime = Some(Timestamp::from_secs(i64::from(d.atime)));
        e.ctime = Some(Timestamp::from_secs(i64::from(d.ctime)));
        match kind {
            EntryKind::File => e.size = u64::from(d.size),
            EntryKind::CharDevice | EntryKind::BlockDevice => e.rdev = Some(d.device()),
            _ => {}
        }
        Some(e)
    }

    /// Handle a non-directory TS_INODE: returns the entry to emit (if any).
    fn start_file(&mut self, h: Header, blk: &[u8]) -> Result<Option<Entry>> {
        let ino = h.inumber;
        let d = h.dinode;
        let first_time = self.seen.insert(ino);
        self.last_file_ino = Some(ino);
        let flags = self.v.flags(blk, h.count).to_vec();
        let mut paths = self.file_paths(ino);
        if paths.is_empty() {
            let p = orphan_path(ino);
            self.warn(&format!(
                "inode {ino} is on the tape but in no dumped directory; named {}",
                String::from_utf8_lossy(&p)
            ));
            paths.push(p);
        }
        if !first_time {
            self.warn(&format!("inode {ino} appears twice on the tape"));
        }
        let first = paths[0].clone();
        let Some(mut e) = self.make_entry(first.clone(), ino, &d) else {
            self.file = Some(FileData::new(ino, &d, &flags, 0));
            self.drain_file()?;
            self.file = None;
            return Ok(None);
        };
        let size = match e.kind {
            EntryKind::File | EntryKind::Symlink => u64::from(d.size),
            _ => 0,
        };
        self.file = Some(FileData::new(ino, &d, &flags, size));
        match e.kind {
            EntryKind::File => {
                if size <= (NDIRECT * self.v.bsize) as u64 {
                    e.data_map = Some(direct_map(&flags, size, self.v.bsize as u64));
                }
            }
            EntryKind::Symlink => {
                let target = self.slurp(MAX_LINK, "a symbolic link target")?;
                let end = target.iter().position(|&c| c == 0).unwrap_or(target.len());
                e.link_target = Some(target[..end].to_vec());
                e.size = end as u64;
                self.last_complete = Some(first.clone());
            }
            _ => {
                self.drain_file()?;
                self.file = None;
                self.last_complete = Some(first.clone());
            }
        }
        for p in paths.into_iter().skip(1) {
            let mut l = e.clone();
            l.path = p;
            l.kind = EntryKind::HardLink;
            l.link_target = Some(first.clone());
            l.data = DataState::None;
            l.size = 0;
            l.data_map = None;
            l.rdev = None;
            self.links.push_back(l);
        }
        self.current_path = first;
        Ok(Some(e))
    }

    /// A directory met after the directory phase (not how dump orders a tape).
    fn late_dir(&mut self, h: Header, blk: &[u8]) -> Result<Option<Entry>> {
        self.read_dir(&h, blk)?;
        let ino = h.inumber;
        let path = match self.file_paths(ino).into_iter().next() {
            Some(p) => p,
            None => orphan_path(ino),
        };
        if let Some(dir) = self.dirs.get(&ino) {
            let entries = dir.entries.clone();
            for (child, name) in entries {
                let nb = name.as_bytes();
                if nb != b"." && nb != b".." {
                    self.add_name(child, ino, name)?;
                }
            }
        }
        if let Some((p, name)) = self.tree.names.get(&ino).and_then(|v| v.first()).copied() {
            self.tree.parent.insert(ino, (p, name));
        }
        self.warn(&format!(
            "directory inode {ino} comes after the files; its entries may be named late"
        ));
        let d = h.dinode;
        Ok(self.make_entry(path, ino, &d))
    }

    /// At TS_END: compare what was on the tape with the dump map.
    fn check_bits(&mut self) {
        let Some(bits) = self.bits.take() else {
            return;
        };
        let max = (bits.len() * 8) as u32;
        let missing = (1..=max)
            .filter(|&i| self.v.map_bit(&bits, i) && !self.seen.contains(&i))
            .count();
        if missing > 0 {
            self.warn(&format!(
                "{missing} inodes listed in the dump map (TS_BITS) were not on the tape"
            ));
        }
    }
}

/// Name for an inode no dumped directory reaches.
fn orphan_path(ino: u32) -> Vec<u8> {
    format!("lost+found/#{ino}").into_bytes()
}

/// Data runs of a file that fits in the direct blocks of its TS_INODE header.
fn direct_map(flags: &[u8], size: u64, b: u64) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (i, &f) in flags.iter().enumerate() {
        let start = i as u64 * b;
        if start >= size {
            break;
        }
        if f == 0 {
            continue;
        }
        let len = b.min(size - start);
        match runs.last_mut() {
            Some((o, l)) if *o + *l == start => *l += len,
            _ => runs.push((start, len)),
        }
    }
    runs
}

/// Detection for salvage when offset 0 is not a header: the first block (at a 512-byte
/// boundary) that is a header in some variant.
fn salvage_detect(head: &[u8], opts: &ReadOptions) -> Option<Detected> {
    let mut off = 512;
    while off + 512 <= head.len() {
        if let Some(d) = detect(&head[off..], opts) {
            if off % d.variant.bsize == 0 {
                return Some(d);
            }
        }
        off += 512;
    }
    None
}

impl<M: Medium> FormatReader for XenixReader<M> {
    fn volume(&mut self) -> Result<VolumeInfo> {
        Ok(self.info.clone())
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        loop {
            if self.file.is_some() {
                self.skip_data()?;
            }
            if let Some(l) = self.links.pop_front() {
                return Ok(Some(l));
            }
            if let Some((ino, path)) = self.emit_dirs.pop_front() {
                let Some(dir) = self.dirs.get(&ino) else {
                    continue;
                };
                let d = dir.dinode;
                if let Some(e) = self.make_entry(path, ino, &d) {
                    return Ok(Some(e));
                }
                continue;
            }
            if self.ended {
                return Ok(None);
            }
            let Some((h, blk)) = self.next_header()? else {
                self.ended = true;
                if matches!(self.phase, Phase::Dirs) {
                    self.build_tree()?;
                }
                continue;
            };
            match h.c_type {
                TS_END => {
                    if matches!(self.phase, Phase::Dirs) {
                        self.build_tree()?;
                    }
                    self.ended = true;
                    self.check_bits();
                }
                TS_CLRI | TS_BITS => {
                    let map = self.read_map(&h)?;
                    if h.c_type == TS_BITS && self.bits.is_none() {
                        self.bits = Some(map);
                    }
                }
                TS_TAPE => {
                    self.warn(&format!(
                        "a volume header (volume {}, dated {}) where a file header belongs; ignored",
                        h.volume,
                        date_str(h.date)
                    ));
                }
                TS_ADDR => {
                    if Some(h.inumber) != self.last_file_ino {
                        self.warn(&format!(
                            "a continuation header (TS_ADDR) of inode {} without its file; skipped",
                            h.inumber
                        ));
                    }
                    self.skip_flagged(&blk, &h)?;
                }
                _ => {
                    // TS_INODE
                    let is_dir = h.dinode.ifmt() == IFDIR;
                    match (&self.phase, is_dir) {
                        (Phase::Dirs, true) => self.read_dir(&h, &blk)?,
                        (Phase::Dirs, false) => {
                            self.build_tree()?;
                            self.pending = Some((h, blk));
                        }
                        (Phase::Files, true) => {
                            if let Some(e) = self.late_dir(h, &blk)? {
                                return Ok(Some(e));
                            }
                        }
                        (Phase::Files, false) => {
                            if let Some(e) = self.start_file(h, &blk)? {
                                return Ok(Some(e));
                            }
                        }
                    }
                }
            }
        }
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let c = self.file_chunk(buf).map_err(|e| {
            if e.entry.is_none() && !self.current_path.is_empty() {
                e.entry(&self.current_path)
            } else {
                e
            }
        })?;
        if c == Chunk::End && self.file.take().is_some() {
            self.last_complete = Some(std::mem::take(&mut self.current_path));
        }
        Ok(c)
    }

    fn skip_data(&mut self) -> Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        // Data blocks are consumed without copying them out.
        f.partial = None;
        loop {
            let Some(f) = self.file.as_mut() else {
                return Ok(());
            };
            if f.pos >= f.size {
                break;
            }
            if f.idx >= f.flags.len() {
                if !self.next_addr()? {
                    break;
                }
                continue;
            }
            let b = self.v.bsize as u64;
            let start = (f.base + f.idx as u64).saturating_mul(b);
            if start >= f.size {
                break;
            }
            let flag = f.flags[f.idx];
            f.idx += 1;
            f.pos = (start + b).min(f.size);
            if flag != 0 {
                self.src.skip_blocks(1, "file data")?;
            }
        }
        self.drain_file()?;
        self.file = None;
        self.last_complete = Some(std::mem::take(&mut self.current_path));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_mapping_follows_the_indirect_roots() {
        let mut d = Dinode::default();
        let f = |d: &Dinode| FileData::new(5, d, &[], 0);
        // no roots known: continuous
        assert_eq!(f(&d).addr_base(0, 128), 10);
        assert_eq!(f(&d).addr_base(2, 128), 266);
        // single and double present
        d.addr[10] = 7;
        d.addr[11] = 8;
        assert_eq!(f(&d).addr_base(0, 128), 10);
        assert_eq!(f(&d).addr_base(1, 128), 138);
        assert_eq!(f(&d).addr_base(2, 128), 266);
        // single absent (V7 wrote no TS_ADDR for it): the first TS_ADDR is a double leaf
        d.addr[10] = 0;
        assert_eq!(f(&d).addr_base(0, 128), 138);
        d.addr[11] = 0;
        d.addr[12] = 9;
        assert_eq!(f(&d).addr_base(0, 128), 10 + 128 + 128 * 128);
    }

    #[test]
    fn direct_map_clips_to_size() {
        assert_eq!(
            direct_map(&[1, 1, 0, 1, 1, 0, 0, 0, 0, 0], 2000, 512),
            vec![(0, 1024), (1536, 464)]
        );
        assert_eq!(direct_map(&[0; 10], 100, 512), vec![]);
    }
}
