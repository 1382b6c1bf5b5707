//! The dump reader shared by `bsd-dump` and `irix-dump`: every variant of the family that
//! uses 1024-byte headers (4.1BSD OFS, 4.2-4.4BSD, Linux, IRIX, SunOS, FreeBSD UFS2), both
//! byte orders, compressed Linux dumps, multi-volume sets, incrementals.
//!
//! How a dump is turned into entries (research note 3.3, 3.4):
//! 1. TS_TAPE, TS_CLRI and TS_BITS open the dump ([`DumpReader::open`]); the maps are
//!    counted, and TS_BITS is kept only for a names-only read (below). A map is a bitmap
//!    of inodes, inode `n` at bit `(n-1) % 8` of byte `(n-1) / 8` (4.4BSD `dumprestore.h`
//!    and Linux dump's `dump.h`: `MWORD`, `MBIT`).
//! 2. The directory phase: every dumped directory comes first. Their contents are parsed
//!    ([`crate::dirs`]) into one table of names for all directories ([`crate::tree`]),
//!    memory proportional to the number of names. At the first non-directory inode (or
//!    TS_END) the directories are emitted depth first from the root, each with its path,
//!    and every other name is remembered by inode (as its directory and name: the path is
//!    built when the entry goes out).
//! 3. The file phase: each TS_INODE (with its TS_ADDR continuations) becomes an entry
//!    named by its first name; further names become hard links after it. Names of inodes
//!    that are not on this tape (unchanged in an incremental) are never emitted, exactly
//!    like `restore -t`. Inodes on tape with no name anywhere (a damaged dump, a set read
//!    from a later volume) are emitted as `lost+found/#<ino>` with a warning.
//! 4. TS_END ends the dump.
//!
//! Names only (`relic list` without `-l`, like `restore -t`): with
//! [`ReadOptions::names_only`] (the host hint `relic-intent=names`) the reader keeps the
//! TS_BITS map (the inodes on this tape; at most [`MAX_NAMES_MAP`] bytes, only what was
//! actually read) and stops reading at the first non-directory inode: the file phase is
//! answered from the map and the directories. Its entries, in order, are those of a full
//! read of an undamaged dump: directories as in step 2, then every inode set in the map
//! that is not a dumped directory, in inode order, named by its first name, with its other
//! names as hard links after it. Only paths, kinds, inode numbers and hard-link targets are
//! filled; no entry has data. The kinds come from the 4.4BSD/Linux directory entries'
//! d_type ([`crate::dirs`]). Whenever the answer could differ from a full read the reader
//! silently goes on reading as in step 3 instead: directories without d_type (4.2/4.3BSD,
//! IRIX, 4.1BSD), DT_UNKNOWN or conflicting types, a d_type that is not DT_DIR for a dumped
//! directory, an inode in the map without a name (a full read would put it in lost+found
//! under a kind only its header knows) or whose type says directory, no complete map, a map
//! above the cap, a dump read from a later volume, the `salvage` option, or a first file
//! header that is not the map's first non-directory inode or not of the type its names
//! say. Answered this way, a multi-volume set is read no further than its directory phase
//! (the first volume but for huge trees on small volumes), so the next volume is not asked
//! for. What is read is checked as in a full read (the same errors at the same offsets);
//! what is not read cannot be checked, exactly as with `restore -t`: `relic list` reads the
//! directory phase only, `relic list -l` checks every header.
//!
//! Extended attributes (Linux): a second TS_INODE of the same inode with DR_EXTATTRIBUTES
//! follows the data. Entries carry their xattrs, so a file's data is read ahead into memory
//! when it is at most `lookahead` bytes (default 16 MiB) to see whether such a record
//! follows; larger files are streamed and their attribute record, if any, is reported and
//! left out (a model limitation, see the crate docs). Only dumps in the 4.4/Linux inode
//! format can carry them, so IRIX and 4.3BSD dumps always stream. When the host only lists
//! (hint `relic-intent=list`: `list -l`, `info`; [`ReadOptions::metadata_only`]) the data
//! is skipped instead of read ahead (seeking where the medium can) and the header after it
//! is read, so every file gets its xattrs whatever its size, and `read_data` is an error.
//!
//! Holes: a zero c_addr byte is a 1 KiB hole ([`Chunk::Hole`]); data runs go out in chunks
//! of whole blocks. Buffered entries also get [`Entry::data_map`].
//!
//! Bad input: a header counts only when magic AND checksum match. A bad header where one
//! is expected is a `Corrupt` error with the byte offset and the last complete file; with
//! `salvage`, the reader skips to the next valid header of the same dump date and warns
//! with what it skipped. Input that ends before TS_END is `Truncated` (a warning under
//! `salvage`).

use std::collections::VecDeque;

use relic_model::listing::escape;
use relic_model::{
    Chunk, DataState, Device, Entry, EntryKind, Error, ErrorKind, Extra, FormatReader, Medium,
    Result, Timestamp, VolumeInfo,
};
use relic_plugin_sdk::HostHandle;

use crate::dirs::{self, DirFormat};
use crate::layout::{self, *};
use crate::tape::{BlockSource, Compression};
use crate::tree::{Names, Tree, DT_CONFLICT};
use crate::xattr;

/// Reader options.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Skip damaged input to the next valid header instead of failing.
    pub salvage: bool,
    /// Files up to this size are read ahead to attach a following xattr record.
    pub lookahead: u64,
    /// Only paths and kinds are wanted (host hint `relic-intent=names`): answer the file
    /// phase from the directories and the TS_BITS map when that gives exactly the entries
    /// of a full read (see the module docs); entries then carry no data.
    pub names_only: bool,
    /// Entries are listed with every field but their data is never read (host hint
    /// `relic-intent=list`: `list -l`, `info`): a file that may be followed by an xattr
    /// record is skipped (seeking where the medium can) instead of read ahead, whatever its
    /// size, and `read_data` on it is an error.
    pub metadata_only: bool,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            salvage: false,
            lookahead: 16 << 20,
            names_only: false,
            metadata_only: false,
        }
    }
}

/// Largest directory (data bytes) the reader holds in memory.
const MAX_DIR: u64 = 256 << 20;
/// Largest symlink target.
const MAX_LINK: u64 = 64 << 10;
/// Deepest directory nesting followed when building paths.
const MAX_DEPTH: usize = 4096;
/// Largest TS_BITS map kept for a names-only read (bytes; 8 inodes a byte). Above it the
/// reader reads the file phase instead.
pub const MAX_NAMES_MAP: usize = 64 << 20;
/// The directory data buffer is kept for the next directory up to this capacity.
const KEEP_DIRBUF: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Dirs,
    Files,
    /// Names only: the file phase is answered from the TS_BITS map, nothing more is read.
    Names,
    Done,
}

/// A run of a file's blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Data {
        offset: u64,
        blocks: u64,
    },
    Hole {
        offset: u64,
        blocks: u64,
    },
    /// The rest of the file is missing from the tape (damage).
    Missing {
        offset: u64,
    },
}

/// Walks the blocks of one inode across its TS_INODE and TS_ADDR headers.
#[derive(Debug, Clone)]
struct Cursor {
    ino: u32,
    size: u64,
    addr: Vec<u8>,
    idx: usize,
    /// File offset of `addr[idx]`.
    pos: u64,
    /// Blocks of a data run handed out but not yet read.
    pending_data: u64,
    finished: bool,
}

/// Data of the current entry.
enum Current {
    None,
    /// Streamed from the tape.
    Stream(Box<StreamState>),
    /// Read ahead into memory.
    Buffered(Box<Buffered>),
    /// Skipped: the reader was opened for metadata only.
    Skipped,
}

struct StreamState {
    cur: Cursor,
    /// A run read while merging holes, to be handed out next.
    stash: Option<Run>,
    /// Bytes of a block read but not yet delivered (buffers under one block).
    carry: Vec<u8>,
    carry_off: u64,
}

struct Buffered {
    size: u64,
    ahead: Ahead,
    next: usize,
    pos: u64,
}

/// What comes with a queued entry.
enum Pending {
    None,
    Ahead(Ahead),
    Stream(Cursor),
    /// The data was skipped (metadata only).
    Skipped,
}

/// A file read ahead.
struct Ahead {
    runs: Vec<(u64, u64, usize)>,
    data: Vec<u8>,
    absent_from: Option<u64>,
}

pub struct DumpReader {
    src: BlockSource,
    host: HostHandle,
    opts: ReadOptions,
    layout: Layout,
    ifmt: InodeFormat,
    dirfmt: DirFormat,
    volume: VolumeInfo,
    date: i64,
    pending: Option<(Header, u64)>,
    phase: Phase,
    /// The directories of the directory phase, until its end.
    tree: Tree,
    /// Names of non-directory inodes, filled at the end of the directory phase.
    names: Names,
    /// Data of the directory being read (kept between directories).
    dirbuf: Vec<u8>,
    queue: VecDeque<(Entry, Pending)>,
    /// Path of the file being streamed (it becomes the last complete file).
    stream_path: Option<Vec<u8>>,
    /// An error met while looking ahead, returned by the next read.
    deferred: Option<Error>,
    current: Current,
    last_complete: Option<Vec<u8>>,
    /// Inode of the last file emitted, for trailing records that belong to it.
    last_ino: Option<u32>,
    lost_found_emitted: bool,
    block: Box<[u8; TP_BSIZE]>,
    scratch: Vec<u8>,
    /// The dump ended at TS_END.
    complete: bool,
    /// Names only: the TS_BITS map (bit `ino - 1`), while complete and under the cap; the
    /// dumped directories are cleared from it at the end of the directory phase.
    bits: Option<Vec<u8>>,
    /// Names only: something in the directories makes their d_types doubtful.
    names_doubt: bool,
    /// The file phase was answered from the directories (names only).
    from_dirs: bool,
}

fn ts(t: Time) -> Timestamp {
    Timestamp::new(t.secs, t.nanos)
}

impl DumpReader {
    /// Open a dump: read its volume header and maps.
    pub fn open(
        medium: Box<dyn Medium>,
        host: HostHandle,
        opts: ReadOptions,
        format_id: &str,
    ) -> Result<DumpReader> {
        let mut src = BlockSource::new(medium, host.clone());
        let mut block = Box::new([0u8; TP_BSIZE]);
        let mut off = 0u64;
        if !src.next(&mut block)? {
            return Err(Error::truncated("the input is empty: no dump header").at(0));
        }
        let mut layout = layout::detect(&block[..]);
        if layout.is_none() && opts.salvage {
            let mut skipped = 1u64;
            while layout.is_none() {
                off = src.offset();
                if !src.next(&mut block)? {
                    break;
                }
                layout = layout::detect(&block[..]);
                skipped += 1;
            }
            if layout.is_some() {
                host.warn(
                    &format!(
                        "salvage: skipped {skipped} blocks before the first valid dump header"
                    ),
                    Some(off),
                );
            }
        }
        let Some(layout) = layout else {
            return Err(Error::corrupt(
                "not a dump: the first 1024 bytes are not a header with a known magic number \
                 and a valid checksum",
            )
            .at(off));
        };
        // The volume header decides the inode format; decode it once to see its flags.
        let probe = Header::decode(
            &block[..],
            &layout,
            InodeFormat {
                new: false,
                usec: false,
            },
        );
        let ifmt = InodeFormat {
            new: probe.flags & DR_NEWINODEFMT != 0 || layout.generation == Generation::Ufs2,
            usec: probe.ntrec != 0,
        };
        let tape = Header::decode(&block[..], &layout, ifmt);
        let dirfmt = match layout.generation {
            Generation::Ofs => DirFormat::V7,
            _ if ifmt.new => DirFormat::Bsd44,
            _ => DirFormat::Bsd42,
        };
        let compression = (tape.flags & DR_COMPRESSED != 0).then_some(Compression {
            endian: layout.endian,
        });
        if compression.is_some() && tape.ntrec <= 0 {
            return Err(Error::corrupt(
                "compressed dump whose volume header gives no blocking factor (c_ntrec)",
            )
            .at(off));
        }
        if tape.ntrec > MAX_NTREC as i32 {
            return Err(Error::unsupported(format!(
                "blocking factor {} above {MAX_NTREC} (records larger than 1 MiB)",
                tape.ntrec
            ))
            .at(off));
        }
        src.configure(
            layout,
            ifmt,
            compression,
            if tape.ntrec > 0 {
                tape.ntrec as u32
            } else {
                NTREC
            },
            tape.date,
            tape.ddate,
        );
        let mut volume = VolumeInfo {
            format: format_id.to_string(),
            variant: format!(
                "{}{}",
                layout.name(),
                match (ifmt.new, ifmt.usec) {
                    (true, true) => " linux",
                    (true, false) => " 4.4bsd",
                    (false, _) => "",
                }
            ),
            label: (!tape.label.is_empty()).then(|| tape.label.clone()),
            volume: Some(tape.volume.max(0) as u32),
            date: Some(Timestamp::from_secs(tape.date)),
            since: (tape.ddate != 0).then(|| Timestamp::from_secs(tape.ddate)),
            level: (0..=9).contains(&tape.level).then_some(tape.level as u8),
            host: (!tape.host.is_empty()).then(|| tape.host.clone()),
            filesystem: (!tape.filesys.is_empty()).then(|| tape.filesys.clone()),
            device: (!tape.dev.is_empty()).then(|| tape.dev.clone()),
            block_size: Some(TP_BSIZE as u32),
            record_size: (tape.ntrec > 0).then(|| tape.ntrec as u32 * TP_BSIZE as u32),
            ..VolumeInfo::default()
        };
        volume
            .extras
            .push(Extra::new("dump.flags", format!("{:#x}", tape.flags)));
        let mut r = DumpReader {
            src,
            host,
            opts,
            layout,
            ifmt,
            dirfmt,
            volume,
            date: tape.date,
            pending: None,
            phase: Phase::Dirs,
            tree: Tree::default(),
            names: Names::default(),
            dirbuf: Vec::new(),
            queue: VecDeque::new(),
            stream_path: None,
            deferred: None,
            current: Current::None,
            last_complete: None,
            last_ino: None,
            lost_found_emitted: false,
            block,
            scratch: vec![0u8; 64 * TP_BSIZE],
            complete: false,
            bits: None,
            names_doubt: false,
            from_dirs: false,
        };
        // names only needs d_types, the whole directory phase and the map of a first volume
        if r.opts.salvage
            || dirfmt != DirFormat::Bsd44
            || (tape.c_type != TS_TAPE && tape.c_type != TS_TAPE_1986)
            || tape.volume > 1
        {
            r.opts.names_only = false;
        }
        if tape.c_type != TS_TAPE && tape.c_type != TS_TAPE_1986 {
            r.host.warn(
                &format!(
                    "the dump does not start with a volume header (record type {})",
                    tape.c_type
                ),
                Some(off),
            );
            r.pending = Some((tape, off));
        } else if tape.volume > 1 {
            r.host.warn(
                &format!(
                    "this is volume {} of a dump: what the earlier volumes held is not \
                     available, files without a known name go to lost+found",
                    tape.volume
                ),
                Some(off),
            );
            // the rest of the file in progress at the volume change
            if tape.flags & DR_NEWHEADER != 0 && tape.count > 0 {
                r.skip_blocks(tape.count as u64)?;
            }
        }
        r.read_maps()?;
        Ok(r)
    }

    /// The dump ended properly at TS_END (false after a salvaged truncation, and after a
    /// names-only read that stopped at the end of the directory phase).
    pub fn complete(&self) -> bool {
        self.complete
    }

    /// Whether the file phase was answered from the directories and the TS_BITS map
    /// without being read ([`ReadOptions::names_only`]; false when the reader fell back to
    /// reading it).
    pub fn answered_from_directories(&self) -> bool {
        self.from_dirs
    }

    fn last(&self) -> String {
        match &self.last_complete {
            Some(p) => format!("last complete file: {}", escape(p)),
            None => "no file was complete yet".into(),
        }
    }

    /// TS_CLRI and TS_BITS: counted; TS_BITS is also kept for a names-only read.
    fn read_maps(&mut self) -> Result<()> {
        for (want, key) in [
            (TS_CLRI, "dump.inodes-in-use"),
            (TS_BITS, "dump.inodes-dumped"),
        ] {
            let Some((h, off)) = self.next_header()? else {
                return Ok(());
            };
            if h.c_type != want {
                self.pending = Some((h, off));
                continue;
            }
            let n = h.data_blocks(&self.layout).map_err(|e| e.at(off))?;
            let keep = want == TS_BITS && self.opts.names_only;
            if keep {
                self.bits = Some(Vec::new());
            }
            let bits = self.count_map(n, keep)?;
            self.volume.extras.push(Extra::new(key, bits.to_string()));
            // newer Linux dump continues very large maps in TS_ADDR records
            while let Some((h2, off2)) = self.next_header()? {
                if h2.c_type != TS_ADDR {
                    self.pending = Some((h2, off2));
                    break;
                }
                let n = h2.data_blocks(&self.layout).map_err(|e| e.at(off2))?;
                self.count_map(n, keep)?;
            }
        }
        Ok(())
    }

    /// Count the set bits of `blocks` map blocks; with `keep`, append them to `self.bits`
    /// (dropped, so the read falls back to the file phase, once above [`MAX_NAMES_MAP`]).
    fn count_map(&mut self, blocks: u64, keep: bool) -> Result<u64> {
        let mut bits = 0u64;
        let mut left = blocks;
        while left > 0 {
            let n = left.min((self.scratch.len() / TP_BSIZE) as u64) as usize;
            let got = self.src.read_blocks(&mut self.scratch[..n * TP_BSIZE])?;
            let chunk = &self.scratch[..got * TP_BSIZE];
            bits += chunk.iter().map(|b| b.count_ones() as u64).sum::<u64>();
            if keep {
                match self.bits.as_mut() {
                    Some(map) if map.len() + chunk.len() <= MAX_NAMES_MAP => {
                        map.extend_from_slice(chunk)
                    }
                    _ => self.bits = None,
                }
            }
            if got < n {
                return Err(self.ended_early());
            }
            left -= n as u64;
        }
        Ok(bits)
    }

    fn ended_early(&self) -> Error {
        Error::truncated("the dump ends before its end record (TS_END)").at(self.src.offset())
    }

    /// Name the last complete file in an input error.
    fn with_last(&self, mut e: Error) -> Error {
        if matches!(
            e.kind,
            ErrorKind::Corrupt | ErrorKind::Truncated | ErrorKind::Unsupported
        ) && !e.message.contains("last complete file")
        {
            e.message = format!("{}; {}", e.message, self.last());
        }
        e
    }

    fn skip_blocks(&mut self, mut n: u64) -> Result<()> {
        n -= self.src.skip_blocks(n)?;
        while n > 0 {
            let k = n.min((self.scratch.len() / TP_BSIZE) as u64) as usize;
            let got = self.src.read_blocks(&mut self.scratch[..k * TP_BSIZE])?;
            if got < k {
                return Err(self.ended_early());
            }
            n -= k as u64;
        }
        Ok(())
    }

    /// The next header (pending first). `None` at the end of the input.
    fn next_header(&mut self) -> Result<Option<(Header, u64)>> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if let Some(p) = self.pending.take() {
            return Ok(Some(p));
        }
        let off = self.src.offset();
        if !self.src.next(&mut self.block)? {
            return Ok(None);
        }
        if layout::is_header(&self.block[..], &self.layout) {
            return Ok(Some((
                Header::decode(&self.block[..], &self.layout, self.ifmt),
                off,
            )));
        }
        if !self.opts.salvage {
            return Err(Error::corrupt(
                "expected a dump header here, found a block with a bad magic number or \
                 checksum (the salvage option skips to the next valid header)",
            )
            .at(off));
        }
        let mut skipped = 1u64;
        loop {
            let o = self.src.offset();
            if !self.src.next(&mut self.block)? {
                self.host.warn(
                    &format!(
                        "salvage: skipped {skipped} damaged blocks ({} bytes) to the end of \
                         the input; {}",
                        skipped * TP_BSIZE as u64,
                        self.last()
                    ),
                    Some(off),
                );
                return Ok(None);
            }
            if layout::is_header(&self.block[..], &self.layout) {
                let h = Header::decode(&self.block[..], &self.layout, self.ifmt);
                if h.date == self.date {
                    self.host.warn(
                        &format!(
                            "salvage: skipped {skipped} damaged blocks ({} bytes) from offset \
                             {off} to the next valid header at {o}; {}",
                            skipped * TP_BSIZE as u64,
                            self.last()
                        ),
                        Some(off),
                    );
                    return Ok(Some((h, o)));
                }
            }
            skipped += 1;
        }
    }

    /// Input ended without TS_END.
    fn end_of_input(&mut self) -> Result<()> {
        if self.opts.salvage {
            self.host.warn(
                &format!(
                    "the dump ends before its end record (TS_END); {}",
                    self.last()
                ),
                Some(self.src.offset()),
            );
            self.phase = Phase::Done;
            Ok(())
        } else {
            Err(self.ended_early())
        }
    }

    fn kind_of(mode: u32) -> Option<EntryKind> {
        EntryKind::from_ifmt(mode)
    }

    fn device(&self, d: &Dinode) -> Device {
        let mut v = d.rdev[0];
        if self.ifmt.new && self.layout.generation != Generation::Ufs2 {
            // Linux: old 16-bit encoding in db[0], large numbers (new_encode_dev) in db[1]
            if v == 0 && d.rdev[1] != 0 {
                v = d.rdev[1];
            }
            return Device {
                major: (v >> 8) & 0xfff,
                minor: (v & 0xff) | ((v >> 12) & 0xfff00),
            };
        }
        match (self.layout.generation, self.layout.endian) {
            (Generation::Ufs2, _) => Device {
                major: (v >> 8) & 0xff,
                minor: v & 0xffff_00ff,
            },
            // IRIX: 16-bit "old" form if it fits, else major<<18 | minor (14/18 bits)
            (_, Endian::Big) if v > 0xffff => Device {
                major: v >> 18,
                minor: v & 0x3ffff,
            },
            _ => Device {
                major: (v >> 8) & 0xff,
                minor: v & 0xff,
            },
        }
    }

    /// An entry from a header's inode (path filled by the caller).
    fn entry_from(&self, h: &Header, path: Vec<u8>) -> Option<Entry> {
        let d = &h.dinode;
        let kind = Self::kind_of(d.mode)?;
        let mut e = Entry::new(path, kind);
        e.mode = d.mode & 0o7777;
        e.uid = d.uid as u64;
        e.gid = d.gid as u64;
        e.size = if kind == EntryKind::File { d.size } else { 0 };
        e.mtime = Some(ts(d.mtime));
        e.atime = Some(ts(d.atime));
        e.ctime = Some(ts(d.ctime));
        e.birth = d.birth.map(ts);
        e.nlink = d.nlink.max(1);
        e.inode = Some(h.inumber as u64);
        if d.gen != 0 {
            e.generation = Some(d.gen);
        }
        if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            e.rdev = Some(self.device(d));
        }
        if d.flags != 0 && self.ifmt.usec {
            e.set_extra("dump.ext2-flags", format!("{:#x}", d.flags));
        }
        Some(e)
    }

    fn cursor(&self, h: &Header, size: u64) -> Cursor {
        let n = (h.count.max(0) as usize).min(Header::nindir(&self.layout));
        Cursor {
            ino: h.inumber,
            size,
            addr: h.addr[..n].to_vec(),
            idx: 0,
            pos: 0,
            pending_data: 0,
            finished: false,
        }
    }

    /// The next run of a file. Reads continuation headers as needed.
    fn next_run(&mut self, cur: &mut Cursor) -> Result<Option<Run>> {
        if cur.pending_data > 0 {
            return Err(Error::internal("data run not consumed"));
        }
        loop {
            if cur.finished {
                return Ok(None);
            }
            if cur.pos >= cur.size {
                // junk blocks after the end of the file in this header
                let junk = cur.addr[cur.idx..].iter().filter(|&&a| a != 0).count() as u64;
                cur.idx = cur.addr.len();
                self.skip_blocks(junk)?;
                cur.finished = true;
                return Ok(None);
            }
            if cur.idx >= cur.addr.len() {
                // continuation header
                match self.next_header()? {
                    Some((h, off)) if h.c_type == TS_ADDR && h.inumber == cur.ino => {
                        let n = (h.count.max(0) as usize).min(Header::nindir(&self.layout));
                        if h.count < 0 || h.count as usize > Header::nindir(&self.layout) {
                            return Err(Error::corrupt(format!(
                                "continuation header with c_count {}",
                                h.count
                            ))
                            .at(off));
                        }
                        cur.addr = h.addr[..n].to_vec();
                        cur.idx = 0;
                        if n == 0 {
                            // a continuation that maps nothing: the rest is missing
                            cur.finished = true;
                            return Ok(Some(Run::Missing { offset: cur.pos }));
                        }
                        continue;
                    }
                    other => {
                        let off = other.as_ref().map(|(_, o)| *o);
                        self.pending = other;
                        cur.finished = true;
                        self.host.warn(
                            &format!(
                                "inode {}: the tape holds {} of its {} bytes; the rest is \
                                 missing",
                                cur.ino, cur.pos, cur.size
                            ),
                            off,
                        );
                        return Ok(Some(Run::Missing { offset: cur.pos }));
                    }
                }
            }
            let present = cur.addr[cur.idx] != 0;
            let max_blocks = (cur.size - cur.pos).div_ceil(TP_BSIZE as u64);
            let mut n = 0u64;
            while cur.idx < cur.addr.len() && (cur.addr[cur.idx] != 0) == present && n < max_blocks
            {
                cur.idx += 1;
                n += 1;
            }
            let offset = cur.pos;
            cur.pos += n * TP_BSIZE as u64;
            return Ok(Some(if present {
                cur.pending_data = n;
                Run::Data { offset, blocks: n }
            } else {
                Run::Hole { offset, blocks: n }
            }));
        }
    }

    /// Read a whole (small) inode's data into memory: directories, symlinks, xattr blobs.
    fn read_small(&mut self, h: &Header, cap: u64, what: &str, off: u64) -> Result<Vec<u8>> {
        let mut out: Vec<u8> = Vec::new();
        self.read_small_into(h, cap, what, off, &mut out)?;
        Ok(out)
    }

    /// [`Self::read_small`] into `out` (cleared first), to reuse its allocation.
    fn read_small_into(
        &mut self,
        h: &Header,
        cap: u64,
        what: &str,
        off: u64,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let size = h.dinode.size;
        if size > cap {
            return Err(Error::unsupported(format!(
                "{what} of inode {} claims {size} bytes, more than the {cap}-byte limit",
                h.inumber
            ))
            .at(off));
        }
        let mut cur = self.cursor(h, size);
        out.clear();
        while let Some(run) = self.next_run(&mut cur)? {
            match run {
                Run::Data { offset, blocks } => {
                    out.resize(offset as usize, 0);
                    let start = out.len();
                    out.resize(start + blocks as usize * TP_BSIZE, 0);
                    let got = self.src.read_blocks(&mut out[start..])?;
                    cur.pending_data = 0;
                    if got < blocks as usize {
                        return Err(self.ended_early());
                    }
                }
                Run::Hole { offset, blocks } => {
                    out.resize((offset + blocks * TP_BSIZE as u64) as usize, 0);
                }
                Run::Missing { .. } => break,
            }
        }
        out.resize(size as usize, 0);
        Ok(())
    }

    /// Xattr records of `ino` that follow; merged into `e`. A bad header found while
    /// looking is kept for the next read, so the entry itself still goes out.
    fn attach_xattrs(&mut self, ino: u32, e: &mut Entry) -> Result<()> {
        loop {
            let next = match self.next_header() {
                Ok(n) => n,
                Err(err) => {
                    self.deferred = Some(err);
                    return Ok(());
                }
            };
            match next {
                Some((h, off))
                    if h.c_type == TS_INODE
                        && h.inumber == ino
                        && h.flags & DR_EXTATTRIBUTES != 0 =>
                {
                    if h.extattributes != EXT_XATTR {
                        self.host.warn(
                            &format!(
                                "{}: attribute record of kind {} (MacOS data) left out",
                                escape(&e.path),
                                h.extattributes
                            ),
                            Some(off),
                        );
                        let blob = self.read_small(&h, MAX_DIR, "attribute record", off)?;
                        drop(blob);
                        continue;
                    }
                    let blob =
                        self.read_small(&h, xattr::MAX_BLOB as u64 * 4, "xattr record", off)?;
                    let p = xattr::parse(&blob);
                    for problem in &p.problems {
                        self.host
                            .warn(&format!("{}: {problem}", escape(&e.path)), Some(off));
                    }
                    e.xattrs.extend(p.xattrs);
                    e.acls.extend(p.acls);
                }
                other => {
                    self.pending = other;
                    return Ok(());
                }
            }
        }
    }

    /// Directory phase: one directory inode. Its entries go to the tree.
    fn read_dir(&mut self, h: Header, off: u64) -> Result<()> {
        let mut data = std::mem::take(&mut self.dirbuf);
        let read = self.read_small_into(&h, MAX_DIR, "directory", off, &mut data);
        let mark = self.tree.mark();
        let mangled = match read {
            Ok(()) => {
                let tree = &mut self.tree;
                dirs::parse_each(&data, self.dirfmt, self.layout.endian, |ino, t, name| {
                    tree.push_name(ino, t, name)
                })
            }
            Err(_) => 0,
        };
        if data.capacity() <= KEEP_DIRBUF {
            self.dirbuf = data;
        }
        read?;
        if mangled > 0 {
            self.host.warn(
                &format!(
                    "directory inode {}: {mangled} mangled directory blocks skipped",
                    h.inumber
                ),
                Some(off),
            );
        }
        let Some(mut e) = self.entry_from(&h, Vec::new()) else {
            self.tree.rollback(mark);
            return Ok(());
        };
        if let Err(err) = self.attach_xattrs(h.inumber, &mut e) {
            self.tree.rollback(mark);
            return Err(err);
        }
        self.tree.add_dir(h.inumber, mark, e);
        Ok(())
    }

    /// End of the directory phase: emit directories depth first, remember file names.
    fn end_dir_phase(&mut self) {
        self.phase = Phase::Files;
        let names_only = self.opts.names_only && self.bits.is_some();
        let tree = std::mem::take(&mut self.tree);
        if let Some(map) = self.bits.as_mut() {
            // the directories go out here: what is left in the map are the other inodes
            for ino in tree.inodes() {
                let Some(i) = (ino as usize).checked_sub(1) else {
                    continue;
                };
                if let Some(byte) = map.get_mut(i / 8) {
                    *byte &= !(1 << (i % 8));
                }
            }
        }
        let queue = &mut self.queue;
        let walked = tree.walk(names_only, MAX_DEPTH, |e| {
            queue.push_back((e, Pending::None))
        });
        if walked.root_missing {
            self.host.warn(
                "the root directory is not on this tape: directories without a path are \
                 put in lost+found",
                None,
            );
        }
        self.names_doubt |= walked.doubt;
        self.names = walked.names;
        // directories nobody names
        let mut out: Vec<(Entry, Pending)> = Vec::new();
        for (ino, mut e) in walked.orphans {
            e.path = self.orphan_path(ino, &mut out);
            out.push((e, Pending::None));
        }
        self.queue.extend(out);
    }

    /// `lost+found/#<ino>`, with a lost+found directory emitted first when needed.
    fn orphan_path(&mut self, ino: u32, out: &mut Vec<(Entry, Pending)>) -> Vec<u8> {
        if !self.lost_found_emitted {
            self.lost_found_emitted = true;
            let have = out.iter().any(|(e, _)| e.path == b"lost+found")
                || self.queue.iter().any(|(e, _)| e.path == b"lost+found");
            if !have {
                let mut d = Entry::new("lost+found", EntryKind::Dir);
                d.mode = 0o700;
                out.push((d, Pending::None));
            }
        }
        self.host.warn(
            &format!("inode {ino} is on the tape but no directory names it: extracted as lost+found/#{ino}"),
            None,
        );
        format!("lost+found/#{ino}").into_bytes()
    }

    /// Read a file's data ahead into memory.
    fn read_ahead(&mut self, cur: &mut Cursor) -> Result<Ahead> {
        let mut a = Ahead {
            runs: Vec::new(),
            data: Vec::new(),
            absent_from: None,
        };
        while let Some(run) = self.next_run(cur)? {
            match run {
                Run::Data { offset, blocks } => {
                    let start = a.data.len();
                    a.data.resize(start + blocks as usize * TP_BSIZE, 0);
                    let got = self.src.read_blocks(&mut a.data[start..])?;
                    cur.pending_data = 0;
                    if got < blocks as usize {
                        return Err(self.ended_early());
                    }
                    let len = (blocks * TP_BSIZE as u64).min(cur.size - offset);
                    match a.runs.last_mut() {
                        Some(last)
                            if last.0 + last.1 == offset && last.2 + last.1 as usize == start =>
                        {
                            last.1 += len
                        }
                        _ => a.runs.push((offset, len, start)),
                    }
                }
                Run::Hole { .. } => {}
                Run::Missing { offset } => a.absent_from = Some(offset),
            }
        }
        Ok(a)
    }

    /// Skip a file's data, returning the data runs [`DumpReader::read_ahead`] would have
    /// found (merged the same way) and whether part of the file is missing.
    fn skip_mapping(&mut self, cur: &mut Cursor) -> Result<(Vec<(u64, u64)>, bool)> {
        let mut map: Vec<(u64, u64)> = Vec::new();
        let mut absent = false;
        while let Some(run) = self.next_run(cur)? {
            match run {
                Run::Data { offset, blocks } => {
                    cur.pending_data = 0;
                    self.skip_blocks(blocks)?;
                    let len = (blocks * TP_BSIZE as u64).min(cur.size - offset);
                    match map.last_mut() {
                        Some(last) if last.0 + last.1 == offset => last.1 += len,
                        _ => map.push((offset, len)),
                    }
                }
                Run::Hole { .. } => {}
                Run::Missing { .. } => absent = true,
            }
        }
        Ok((map, absent))
    }

    /// File phase: one inode header.
    fn file_inode(&mut self, h: Header, off: u64) -> Result<()> {
        let ino = h.inumber;
        let Some(kind) = Self::kind_of(h.dinode.mode) else {
            self.host.warn(
                &format!(
                    "inode {ino}: unknown file type {:o}; skipped",
                    h.dinode.mode & S_IFMT
                ),
                Some(off),
            );
            let mut cur = self.cursor(&h, h.dinode.size);
            self.skip_file(&mut cur)?;
            return Ok(());
        };
        let mut paths = self.names.take(ino);
        let mut out: Vec<(Entry, Pending)> = Vec::new();
        if paths.is_empty() {
            let p = self.orphan_path(ino, &mut out);
            paths.push(p);
        }
        let mut paths = paths.into_iter();
        let Some(mut e) = self.entry_from(&h, paths.next().unwrap_or_default()) else {
            return Ok(());
        };
        let mut pending = Pending::None;
        match kind {
            EntryKind::File => {
                let can_have_xattrs = self.ifmt.new && self.layout.generation == Generation::Nfs;
                let mut cur = self.cursor(&h, h.dinode.size);
                if can_have_xattrs && self.opts.metadata_only {
                    // what read_ahead would map, without the bytes
                    let (map, absent) = self.skip_mapping(&mut cur)?;
                    if map.len() <= Entry::MAX_DATA_MAP && !absent {
                        e.data_map = Some(map);
                    }
                    self.attach_xattrs(ino, &mut e)?;
                    pending = Pending::Skipped;
                } else if can_have_xattrs && h.dinode.size <= self.opts.lookahead {
                    let a = self.read_ahead(&mut cur)?;
                    let map: Vec<(u64, u64)> = a.runs.iter().map(|r| (r.0, r.1)).collect();
                    if map.len() <= Entry::MAX_DATA_MAP && a.absent_from.is_none() {
                        e.data_map = Some(map);
                    }
                    self.attach_xattrs(ino, &mut e)?;
                    pending = Pending::Ahead(a);
                } else {
                    pending = Pending::Stream(cur);
                }
            }
            EntryKind::Symlink => {
                let target = self.read_small(&h, MAX_LINK, "symbolic link", off)?;
                let end = target.iter().position(|&b| b == 0).unwrap_or(target.len());
                e.link_target = Some(target[..end].to_vec());
                self.attach_xattrs(ino, &mut e)?;
            }
            EntryKind::Dir => {
                // a directory after the directory phase: kept, its contents' names are lost
                let _ = self.read_small(&h, MAX_DIR, "directory", off)?;
                self.attach_xattrs(ino, &mut e)?;
            }
            _ => {
                let mut cur = self.cursor(&h, h.dinode.size);
                self.skip_file(&mut cur)?;
                self.attach_xattrs(ino, &mut e)?;
            }
        }
        self.last_ino = Some(ino);
        let mut links = Vec::new();
        if kind != EntryKind::Dir {
            for p in paths {
                let mut l = e.clone();
                l.path = p;
                l.kind = EntryKind::HardLink;
                l.link_target = Some(e.path.clone());
                l.data = DataState::None;
                l.size = 0;
                l.data_map = None;
                l.xattrs.clear();
                l.acls.clear();
                links.push((l, Pending::None));
            }
        }
        out.push((e, pending));
        self.queue.extend(out);
        self.queue.extend(links);
        Ok(())
    }

    fn skip_file(&mut self, cur: &mut Cursor) -> Result<()> {
        if cur.pending_data > 0 {
            let n = cur.pending_data;
            cur.pending_data = 0;
            self.skip_blocks(n)?;
        }
        while let Some(run) = self.next_run(cur)? {
            if let Run::Data { blocks, .. } = run {
                cur.pending_data = 0;
                self.skip_blocks(blocks)?;
            }
        }
        Ok(())
    }

    /// Drop what is left of the current entry's data.
    fn finish_current(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::Stream(mut st) => {
                self.skip_file(&mut st.cur)?;
                if let Some(p) = self.stream_path.take() {
                    self.last_complete = Some(p);
                }
            }
            Current::Buffered(_) | Current::None | Current::Skipped => {}
        }
        Ok(())
    }

    fn read_stream(&mut self, st: &mut StreamState, buf: &mut [u8]) -> Result<Chunk> {
        let size = st.cur.size;
        if !st.carry.is_empty() {
            let n = st.carry.len().min(buf.len());
            buf[..n].copy_from_slice(&st.carry[..n]);
            st.carry.drain(..n);
            let offset = st.carry_off;
            st.carry_off += n as u64;
            return Ok(Chunk::Data {
                offset,
                len: n as u64,
            });
        }
        if st.cur.pending_data == 0 || st.stash.is_some() {
            let run = match st.stash.take() {
                Some(r) => Some(r),
                None => self.next_run(&mut st.cur)?,
            };
            match run {
                None => return Ok(Chunk::End),
                Some(Run::Hole { offset, blocks }) => {
                    // holes that continue in the next header go out as one
                    let mut end = offset + blocks * TP_BSIZE as u64;
                    loop {
                        match self.next_run(&mut st.cur)? {
                            Some(Run::Hole {
                                offset: o,
                                blocks: b,
                            }) if o == end => end += b * TP_BSIZE as u64,
                            other => {
                                st.stash = other;
                                break;
                            }
                        }
                    }
                    let len = end.min(size) - offset;
                    return Ok(Chunk::Hole { offset, len });
                }
                Some(Run::Missing { offset }) => {
                    st.cur.finished = true;
                    if offset >= size {
                        return Ok(Chunk::End);
                    }
                    return Ok(Chunk::Absent {
                        offset,
                        len: size - offset,
                    });
                }
                Some(Run::Data { .. }) => {}
            }
        }
        let pending = st.cur.pending_data;
        let offset = st.cur.pos - pending * TP_BSIZE as u64;
        let fit = (buf.len() / TP_BSIZE) as u64;
        if fit == 0 {
            let mut b = [0u8; TP_BSIZE];
            if !self.src.next(&mut b)? {
                return Err(self.ended_early());
            }
            st.cur.pending_data -= 1;
            let valid = (TP_BSIZE as u64).min(size - offset) as usize;
            let n = valid.min(buf.len());
            buf[..n].copy_from_slice(&b[..n]);
            st.carry.extend_from_slice(&b[n..valid]);
            st.carry_off = offset + n as u64;
            return Ok(Chunk::Data {
                offset,
                len: n as u64,
            });
        }
        let k = pending.min(fit) as usize;
        let got = self.src.read_blocks(&mut buf[..k * TP_BSIZE])?;
        if got < k {
            return Err(self.ended_early());
        }
        st.cur.pending_data -= k as u64;
        let len = (k as u64 * TP_BSIZE as u64).min(size - offset);
        Ok(Chunk::Data { offset, len })
    }

    /// Names only: the kind of a non-directory inode from its names' d_type (`dt`,
    /// [`DT_CONFLICT`] when they disagree), if they agree on a kind other than directory.
    fn named_kind(dt: u8) -> Option<EntryKind> {
        if dt == dirs::DT_UNKNOWN || dt == DT_CONFLICT || dt > 0o17 {
            return None;
        }
        Self::kind_of((dt as u32) << 12).filter(|k| *k != EntryKind::Dir)
    }

    /// Whether inode `ino` is set in a TS_BITS map.
    fn in_map(bits: &[u8], ino: u32) -> bool {
        let Some(i) = (ino as usize).checked_sub(1) else {
            return false;
        };
        bits.get(i / 8)
            .is_some_and(|byte| byte & (1 << (i % 8)) != 0)
    }

    /// Names only, at the first non-directory inode `h`: whether the rest of the dump can
    /// be answered from the map and the directories (see the module docs). If so the
    /// reader switches to [`Phase::Names`] and reads nothing more; if not, the map is
    /// dropped and the file phase is read.
    fn answer_from_dirs(&mut self, h: &Header) -> bool {
        // the dumped directories are already cleared from the map (end_dir_phase)
        let Some(bits) = self.bits.take() else {
            return false;
        };
        if !self.opts.names_only || self.names_doubt {
            return false;
        }
        // every inode set in the map must have names that give its kind: walk the named
        // inodes in inode order and count those in the map (each at most once), then
        // compare with the number of inodes in the map
        let mut first: Option<(u32, EntryKind)> = None;
        let mut named_in_map = 0u64;
        for run in self.names.runs() {
            if !Self::in_map(&bits, run.ino) {
                continue;
            }
            let Some(kind) = Self::named_kind(run.dtype) else {
                return false;
            };
            named_in_map += 1;
            first.get_or_insert((run.ino, kind));
        }
        let in_map: u64 = bits.iter().map(|b| b.count_ones() as u64).sum();
        // the header in hand must be the first of those inodes, of the kind its names say
        let ok = named_in_map == in_map
            && matches!(first, Some((ino, kind))
                if ino == h.inumber && Self::kind_of(h.dinode.mode) == Some(kind));
        if !ok {
            return false;
        }
        self.bits = Some(bits);
        self.phase = Phase::Names;
        self.from_dirs = true;
        true
    }

    /// Names only: the next inode of the map as an entry (its other names queued as hard
    /// links after it); `None` at the end, where the read is done (nothing is queued then,
    /// so [`Self::next_entry_inner`] returns its answer as it is).
    fn names_step(&mut self) -> Result<Option<Entry>> {
        let bits: &[u8] = self.bits.as_deref().unwrap_or_default();
        // every set bit has a name (answer_from_dirs): the named inodes in the map
        while let Some(run) = self.names.next_run() {
            if !Self::in_map(bits, run.ino) {
                continue;
            }
            let ino = run.ino;
            let Some(kind) = Self::named_kind(run.dtype) else {
                return Err(Error::internal(format!(
                    "names-only listing: inode {ino} lost its kind"
                )));
            };
            let mut names = run.range.map(|i| self.names.path(i));
            let first = names.next().unwrap_or_default();
            let mut links = names.peekable();
            let target = links.peek().is_some().then(|| first.clone());
            for p in links {
                let mut l = Entry::new(p, EntryKind::HardLink);
                l.inode = Some(ino as u64);
                l.link_target = target.clone();
                self.queue.push_back((l, Pending::None));
            }
            let mut e = Entry::new(first, kind);
            e.inode = Some(ino as u64);
            e.data = DataState::None;
            self.last_ino = Some(ino);
            return Ok(Some(e));
        }
        self.phase = Phase::Done;
        self.bits = None;
        self.names = Names::default();
        Ok(None)
    }

    /// Read the next record and act on it (directory, file, map, end).
    fn advance(&mut self) -> Result<()> {
        let Some((h, off)) = self.next_header()? else {
            if self.phase == Phase::Dirs {
                self.end_dir_phase();
            }
            self.end_of_input()?;
            self.phase = Phase::Done;
            return Ok(());
        };
        match h.c_type {
            TS_END => {
                if self.phase == Phase::Dirs {
                    self.end_dir_phase();
                }
                self.phase = Phase::Done;
                self.complete = true;
            }
            TS_CLRI | TS_BITS => {
                let n = h.data_blocks(&self.layout).map_err(|e| e.at(off))?;
                self.skip_blocks(n)?;
            }
            TS_TAPE | TS_TAPE_1986 => {
                self.host.warn(
                    "a volume header in the middle of the dump (concatenated dumps?) skipped",
                    Some(off),
                );
            }
            TS_ADDR => {
                if Some(h.inumber) != self.last_ino {
                    self.host.warn(
                        &format!(
                            "continuation record of inode {} without its file header; skipped",
                            h.inumber
                        ),
                        Some(off),
                    );
                }
                let n = h.data_blocks(&self.layout).map_err(|e| e.at(off))?;
                self.skip_blocks(n)?;
            }
            TS_INODE if h.flags & DR_EXTATTRIBUTES != 0 => {
                let what = if Some(h.inumber) == self.last_ino {
                    format!(
                        "{}: its extended attributes follow more data than the look-ahead \
                         ({} bytes) holds and are left out (raise the lookahead option)",
                        self.last_complete
                            .as_deref()
                            .map(escape)
                            .unwrap_or_else(|| format!("inode {}", h.inumber)),
                        self.opts.lookahead
                    )
                } else {
                    format!(
                        "attribute record of inode {} without its file; skipped",
                        h.inumber
                    )
                };
                self.host.warn(&what, Some(off));
                let mut cur = self.cursor(&h, h.dinode.size);
                self.skip_file(&mut cur)?;
            }
            TS_INODE => {
                let is_dir = h.dinode.mode & S_IFMT == S_IFDIR;
                if self.phase == Phase::Dirs {
                    if is_dir {
                        self.read_dir(h, off)?;
                    } else {
                        self.end_dir_phase();
                        if !self.answer_from_dirs(&h) {
                            self.pending = Some((h, off));
                        }
                    }
                } else {
                    self.file_inode(h, off)?;
                }
            }
            t => {
                let e = Error::corrupt(format!("unknown record type {t}")).at(off);
                if !self.opts.salvage {
                    return Err(e);
                }
                self.host.warn(&e.to_string(), Some(off));
            }
        }
        Ok(())
    }

    fn read_buffered(b: &mut Buffered, buf: &mut [u8]) -> Chunk {
        if b.pos >= b.size {
            return Chunk::End;
        }
        if let Some(&(off, len, start)) = b.ahead.runs.get(b.next) {
            if b.pos < off {
                let hole = off - b.pos;
                let at = b.pos;
                b.pos = off;
                return Chunk::Hole {
                    offset: at,
                    len: hole,
                };
            }
            let done = b.pos - off;
            let n = ((len - done) as usize).min(buf.len());
            let from = start + done as usize;
            buf[..n].copy_from_slice(&b.ahead.data[from..from + n]);
            let at = b.pos;
            b.pos += n as u64;
            if b.pos >= off + len {
                b.next += 1;
            }
            return Chunk::Data {
                offset: at,
                len: n as u64,
            };
        }
        let at = b.pos;
        b.pos = b.size;
        match b.ahead.absent_from {
            Some(a) if a <= at => Chunk::Absent {
                offset: at,
                len: b.size - at,
            },
            _ => Chunk::Hole {
                offset: at,
                len: b.size - at,
            },
        }
    }
}

impl FormatReader for DumpReader {
    fn volume(&mut self) -> Result<VolumeInfo> {
        Ok(self.volume.clone())
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        self.next_entry_inner().map_err(|e| self.with_last(e))
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        self.read_data_inner(buf).map_err(|e| self.with_last(e))
    }

    fn skip_data(&mut self) -> Result<()> {
        self.finish_current().map_err(|e| self.with_last(e))
    }
}

impl DumpReader {
    fn next_entry_inner(&mut self) -> Result<Option<Entry>> {
        self.finish_current()?;
        loop {
            if let Some((e, pending)) = self.queue.pop_front() {
                match pending {
                    Pending::None => {
                        if e.kind != EntryKind::HardLink {
                            self.last_complete = Some(e.path.clone());
                        }
                    }
                    Pending::Ahead(ahead) => {
                        self.current = Current::Buffered(Box::new(Buffered {
                            size: e.size,
                            ahead,
                            next: 0,
                            pos: 0,
                        }));
                        self.last_complete = Some(e.path.clone());
                    }
                    Pending::Skipped => {
                        self.current = Current::Skipped;
                        self.last_complete = Some(e.path.clone());
                    }
                    Pending::Stream(cur) => {
                        self.current = Current::Stream(Box::new(StreamState {
                            cur,
                            stash: None,
                            carry: Vec::new(),
                            carry_off: 0,
                        }));
                        self.stream_path = Some(e.path.clone());
                    }
                }
                return Ok(Some(e));
            }
            match self.phase {
                Phase::Done => return Ok(None),
                // straight out, not through the queue: nothing can fail after it
                Phase::Names => return self.names_step(),
                Phase::Dirs | Phase::Files => self.advance()?,
            }
        }
    }

    fn read_data_inner(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::None => Ok(Chunk::End),
            Current::Skipped => Err(Error::new(
                ErrorKind::Internal,
                "the dump reader was opened for a listing (relic-intent=list): file data is skipped, not read",
            )),
            Current::Buffered(mut b) => {
                let c = Self::read_buffered(&mut b, buf);
                if c != Chunk::End {
                    self.current = Current::Buffered(b);
                }
                Ok(c)
            }
            Current::Stream(mut st) => {
                let r = self.read_stream(&mut st, buf);
                match r {
                    Ok(Chunk::End) => {
                        if let Some(p) = self.stream_path.take() {
                            self.last_complete = Some(p);
                        }
                        Ok(Chunk::End)
                    }
                    Ok(c) => {
                        self.current = Current::Stream(st);
                        Ok(c)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// Whether an error kind means "the input is bad" (for callers that summarise).
pub fn is_input_error(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Corrupt | ErrorKind::Truncated | ErrorKind::Unsupported
    )
}
