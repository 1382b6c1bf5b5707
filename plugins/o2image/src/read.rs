//! [`O2Reader`]: walks an OCFS2 tree from the root directory and hands it out as model
//! entries, streaming (one directory block per level of the walk in memory).
//!
//! Order: the root itself as `.`, then a depth-first walk in on-disk directory order (what
//! `debugfs.ocfs2 -R 'ls -l DIR'` shows), each subdirectory followed by its contents. With
//! the `system` option the system directory (debugfs' `//`) follows as `.ocfs2-system/...`
//! ([`SYSTEM_DIR`]); it is hidden by default (hidden by starting point, not by flag: mkfs
//! sets the SYSTEM flag on the root directory too).
//!
//! Per entry (research note §2): kind and permission bits from `i_mode`, uid/gid (32 bits),
//! size, link count (`i_links_count | i_links_count_hi << 16`), inode number (= its block),
//! generation, atime/mtime/ctime with nanoseconds (OCFS2 keeps no birth time), device
//! numbers, symlink targets (fast ones from the inode; slow ones from their extent when the
//! image holds it), xattrs (inline area, external block, indexed bucket trees; values stored
//! locally always, out-of-line values when the image holds their clusters), POSIX ACLs as
//! `posix.access`/`posix.default` in the Linux xattr form. Extras: `ocfs2.attr` (the
//! `chattr` flags, decimal, when not 0) and `ocfs2.xattrs_absent` (names, NUL-separated, of
//! xattrs whose out-of-line values the image does not hold; each is also a warning). A later
//! name of an inode with several links is a [`EntryKind::HardLink`] to the first name (size
//! 0, no data), as the fs reader does. A slow symlink whose target block is not in the image
//! (or whose target is longer than `PATH_MAX`, or whose extent map cannot be read) has no
//! `link_target`, its real size and [`DataState::Absent`]: `list` shows it as it is, and the
//! engine's `adapt_entry` drops it on extract and convert as a reported loss
//! ([`relic_model::LossKind::SymlinkTargetUnknown`]), so no writer sees a symlink without a
//! target.
//!
//! File data:
//! - inline-data files: their bytes are in the inode, so in every image: `Data` chunks;
//! - extent-mapped files: unallocated ranges are `Hole`s, unwritten extents (fallocate) are
//!   `Hole`s (they read as zeros), allocated ranges are `Data` where the image holds the
//!   blocks and `Absent` where it does not. A packed image knows which blocks it holds (its
//!   bitmap); a plain volume holds them all; a raw o2image holds only system files' blocks
//!   (o2image copies journals, quota files, ...), never user data. An entry whose allocated
//!   blocks are not all held is [`DataState::Absent`] with its real size; the engine writes
//!   absent ranges as holes and reports the bytes in its loss report.
//! - chain allocators, local-alloc and truncate-log inodes (system files whose body is not an
//!   extent list) are absent as a whole.
//!
//! Damage is reported and walked past, never fatal for the listing: an inode past the volume,
//! not in the image, not valid or from another file system (generation) is a warning naming
//! the path and block; a malformed directory record ends its block with a warning naming the
//! block and offset; a directory whose blocks are not in the image (o2image 1.8.7 omits the
//! blocks of a non-inline directory that owns an external xattr block) is reported as
//! incomplete by name; a directory reached twice is not entered again; metaecc failures are
//! warnings with block number and type ([`crate::tree::Fs::verify`]).

use std::collections::{HashMap, HashSet, VecDeque};

use relic_model::{
    Acl, Chunk, DataState, Device, Entry, EntryKind, Error, Extra, FormatReader, Result, Timestamp,
    VolumeInfo, Xattr,
};
use relic_plugin_sdk::HostHandle;

use crate::ecc;
use crate::image::{Avail, Image, Kind, ReadAt};
use crate::layout::{
    self, acl_to_xattr, inline_bytes, le16, le32, DirEntries, ExtentList, ExtentRec, Inode,
    EXT_UNWRITTEN, FL_SYSTEM, ID2, TRAILER_LEN, XATTR_BLOCK_ATTRS, XATTR_BUCKET_SIZE,
    XATTR_INDEXED, XATTR_SIZE_MAX,
};
use crate::tree::{Fs, WalkError, Walker};

/// How a file's data will come: its state, its data runs when known, and the cursor.
type FilePlan = (DataState, Option<Vec<(u64, u64)>>, DataCursor);

/// What a walk over a file's extents found (see `O2Reader::survey`).
struct Survey {
    /// Allocated, written blocks within the size.
    alloc: u64,
    /// Of them, the blocks the image holds.
    held: u64,
    /// The data runs, merged; `None` when there are too many.
    runs: Option<Vec<(u64, u64)>>,
}

/// Xattrs, ACLs, and the names of xattrs whose values are not in the image.
type XattrSet = (Vec<Xattr>, Vec<Acl>, Vec<Vec<u8>>);

/// Name under which the `system` option shows the system directory.
pub const SYSTEM_DIR: &[u8] = b".ocfs2-system";
/// Deepest directory nesting followed (each level holds one directory block).
pub const MAX_DEPTH: usize = 4096;
/// Most xattrs kept per inode.
pub const MAX_XATTRS: usize = 4096;
/// Slow symlink targets longer than this are not read (`PATH_MAX`).
pub const MAX_TARGET: u64 = 4096;

/// Reader options.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Also list the system directory.
    pub system: bool,
    /// Take a headerless input as this kind regardless of its length.
    pub kind: Option<Kind>,
}

/// One directory being listed.
struct DirCursor {
    /// The directory's path ("." for the root) and the prefix of its children.
    path: Vec<u8>,
    prefix: Vec<u8>,
    ino: u64,
    entries: VecDeque<(u64, u8, Vec<u8>)>,
    blocks: Option<DirBlocks>,
    has_xattr_block: bool,
}

/// The blocks of a non-inline directory still to read.
struct DirBlocks {
    walker: Walker,
    rec: Option<ExtentRec>,
    /// Next block within `rec`.
    in_rec: u64,
    /// Logical blocks in the directory (i_size / B).
    nblocks: u64,
    trailer: bool,
    read: u64,
    missing: u64,
    first_missing: Option<u64>,
    /// The extent tree could not be walked to its end (already reported).
    walk_failed: bool,
    /// Blocks left to read before the walk stops: no more than the image holds, so a
    /// directory whose extents map the same blocks over and over cannot run for ever.
    budget: u64,
}

/// Where the current entry's data comes from.
enum DataCursor {
    Done,
    Inline { bytes: Vec<u8>, pos: usize },
    AbsentAll { size: u64, pos: u64 },
    Extents(ExtentData),
}

struct ExtentData {
    walker: Walker,
    size: u64,
    pos: u64,
    rec: Option<ExtentRec>,
    /// Read allocated blocks the image holds; false: report them absent.
    read: bool,
    path: Vec<u8>,
    failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Root,
    Walk,
    System,
    Done,
}

/// The reader.
pub struct O2Reader {
    fs: Fs,
    opts: ReadOptions,
    volume: VolumeInfo,
    phase: Phase,
    stack: Vec<DirCursor>,
    /// Inodes with several links, their first path and links still to come.
    links: HashMap<u64, (Vec<u8>, u32)>,
    visited: HashSet<u64>,
    data: DataCursor,
    incomplete: u64,
    entries: u64,
    scratch: Vec<u8>,
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = prefix.to_vec();
    p.extend_from_slice(name);
    p
}

fn show(p: &[u8]) -> String {
    relic_model::listing::escape(p)
}

fn ts(secs: i64, nsec: u32) -> Timestamp {
    Timestamp::new(secs, if nsec < 1_000_000_000 { nsec } else { 0 })
}

impl O2Reader {
    /// Open an image from any random-access source.
    pub fn open(src: Box<dyn ReadAt>, opts: ReadOptions, host: HostHandle) -> Result<O2Reader> {
        let mut notes = Vec::new();
        let (img, sb, sb_at) = Image::open(src, opts.kind, &mut notes)?;
        for n in &notes {
            host.warn(n, None);
        }
        let mut fs = Fs::new(img, sb, host);
        let unknown = fs.sb.incompat & !layout::INCOMPAT_KNOWN;
        if unknown != 0 {
            fs.warn(&format!(
                "the volume uses incompat features relic does not know (0x{unknown:x}); the listing may be wrong"
            ));
        }
        if fs.sb.incompat & layout::INCOMPAT_HEARTBEAT_DEV != 0 {
            return Err(Error::unsupported(
                "this is an OCFS2 heartbeat device: it holds no file system",
            ));
        }
        if fs.sb.incompat & (layout::INCOMPAT_RESIZE_INPROG | layout::INCOMPAT_TUNEFS_INPROG) != 0 {
            fs.warn("the volume was left in the middle of a resize or tunefs operation");
        }
        // the superblock is a dinode: verify its check too
        if fs.ecc {
            if let Some(mut b) = fs.meta(sb_at, None)? {
                fs.verify(sb_at, &mut b, ecc::INODE, " superblock");
            }
        }
        let volume = describe(&fs, sb_at);
        fs.log(&format!(
            "o2image: {} image, {}-byte blocks, {} blocks; block index holds {} bytes",
            fs.img.kind.name(),
            fs.bs,
            fs.blocks(),
            fs.img.index_bytes()
        ));
        let bs = fs.bs;
        Ok(O2Reader {
            fs,
            opts,
            volume,
            phase: Phase::Root,
            stack: Vec::new(),
            links: HashMap::new(),
            visited: HashSet::new(),
            data: DataCursor::Done,
            incomplete: 0,
            entries: 0,
            scratch: vec![0u8; bs],
        })
    }

    /// The kind of input (packed, raw, volume).
    pub fn kind(&self) -> Kind {
        self.fs.img.kind
    }

    /// Bytes held for block lookups (the packed image's rank index and chunk cache).
    pub fn index_bytes(&self) -> usize {
        self.fs.img.index_bytes()
    }

    /// Directories reported incomplete so far.
    pub fn incomplete_dirs(&self) -> u64 {
        self.incomplete
    }

    /// Blocks whose metaecc check failed so far.
    pub fn ecc_failures(&self) -> u64 {
        self.fs.ecc_failures
    }

    fn warn(&self, msg: &str) {
        self.fs.warn(msg);
    }

    /// Read and check the inode of `ino` for `path`; warnings say why not.
    fn load_inode(&mut self, ino: u64, path: &[u8]) -> Result<Option<(Inode, Vec<u8>)>> {
        if ino >= self.fs.blocks() || ino < layout::SUPER_BLKNO {
            self.warn(&format!(
                "{}: inode number {ino} is outside the {}-block volume; entry skipped",
                show(path),
                self.fs.blocks()
            ));
            return Ok(None);
        }
        let owner = format!(" of {}", show(path));
        let Some(b) = self.fs.meta(ino, Some((ecc::INODE, &owner)))? else {
            self.warn(&format!(
                "{}: inode {ino} is not in the image; entry skipped",
                show(path)
            ));
            return Ok(None);
        };
        if let Err(e) = Inode::check(&b, ino) {
            self.warn(&format!(
                "{}: block {ino} is not a usable inode: {e}; entry skipped",
                show(path)
            ));
            return Ok(None);
        }
        let inode = Inode::parse(&b);
        if inode.fs_generation != self.fs.sb.fs_generation {
            self.warn(&format!(
                "{}: inode {ino} belongs to another file system (generation {:08x}, the volume's {:08x}); entry skipped",
                show(path),
                inode.fs_generation,
                self.fs.sb.fs_generation
            ));
            return Ok(None);
        }
        Ok(Some((inode, b)))
    }

    /// A walker over the inode's extent list.
    fn inode_walker(&self, inode: &Inode, b: &[u8]) -> std::result::Result<Walker, String> {
        let end = b.len() - inode.inline_xattr_len(b.len());
        let list = ExtentList::parse(&b[ID2..end.max(ID2 + 16)])?;
        Ok(Walker::new(list, 2 * inode.clusters as u64 + 16))
    }

    /// Whether allocated data of this inode can be read from this image.
    fn data_readable(&self, inode: &Inode) -> bool {
        match self.fs.img.kind {
            Kind::Volume | Kind::Packed => true,
            Kind::Raw => inode.flags & FL_SYSTEM != 0,
        }
    }

    /// Walk the extents of a file: the allocated written blocks within `size`, how many of
    /// them the image holds, and the data runs `(offset, len)` (merged; `None` past
    /// [`Entry::MAX_DATA_MAP`]). `None` when the tree is unreadable.
    fn survey(&mut self, mut walker: Walker, size: u64) -> Result<Option<Survey>> {
        let bs = self.fs.bs as u64;
        let csize = bs * self.fs.bpc;
        let in_file = self.fs.img.stored_blocks();
        let mut sv = Survey {
            alloc: 0,
            held: 0,
            runs: Some(Vec::new()),
        };
        loop {
            let rec = match walker.next(&mut self.fs)? {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(Some(sv)),
                Err(_) => return Ok(None),
            };
            if rec.flags & EXT_UNWRITTEN != 0 {
                continue;
            }
            let start = rec.cpos as u64 * csize;
            if start >= size {
                continue;
            }
            let bytes = (rec.clusters as u64 * csize).min(size - start);
            let blocks = bytes.div_ceil(bs);
            sv.alloc += blocks;
            sv.held += match self.fs.img.stored_in(rec.blkno, blocks)? {
                Some(n) => n,
                None => in_file.saturating_sub(rec.blkno).min(blocks),
            };
            if let Some(runs) = sv.runs.as_mut() {
                let full = runs.len() >= Entry::MAX_DATA_MAP;
                match runs.last_mut() {
                    Some(last) if last.0 + last.1 == start => last.1 += bytes,
                    _ if full => sv.runs = None,
                    _ => runs.push((start, bytes)),
                }
            }
        }
    }

    /// Read up to `size` bytes mapped by `walker` (slow symlink targets, xattr values):
    /// `None` when any allocated part is not in the image or the tree is damaged.
    fn read_mapped(
        &mut self,
        mut walker: Walker,
        size: u64,
        readable: bool,
    ) -> Result<Option<Vec<u8>>> {
        let bs = self.fs.bs as u64;
        let csize = bs * self.fs.bpc;
        let mut out = vec![0u8; size as usize];
        loop {
            let rec = match walker.next(&mut self.fs)? {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(Some(out)),
                Err(_) => return Ok(None),
            };
            let start = rec.cpos as u64 * csize;
            if start >= size || rec.flags & EXT_UNWRITTEN != 0 {
                continue;
            }
            if !readable {
                return Ok(None);
            }
            let end = (start + rec.clusters as u64 * csize).min(size);
            let mut pos = start;
            while pos < end {
                let blk = rec.blkno + (pos - start) / bs;
                if self.fs.img.read_block(blk, &mut self.scratch)? == Avail::Missing {
                    return Ok(None);
                }
                if self.fs.img.kind == Kind::Raw && self.scratch.iter().all(|&c| c == 0) {
                    return Ok(None);
                }
                let n = (end - pos).min(bs) as usize;
                out[pos as usize..pos as usize + n].copy_from_slice(&self.scratch[..n]);
                pos += n as u64;
            }
        }
    }

    /// Xattrs, ACLs and the names of xattrs whose values the image does not hold.
    fn xattrs(&mut self, inode: &Inode, b: &[u8], path: &[u8]) -> Result<XattrSet> {
        let mut found: Vec<layout::XattrEntry> = Vec::new();
        let mut errs: Vec<String> = Vec::new();
        let bs = self.fs.bs;
        // inline area at the end of the inode block
        let ilen = inode.inline_xattr_len(bs);
        if ilen >= 16 {
            let (e, er) = layout::xattr_entries(&b[bs - ilen..]);
            found.extend(e);
            errs.extend(er.into_iter().map(|m| format!("inline xattrs: {m}")));
        }
        // external block
        if inode.xattr_loc != 0 {
            let loc = inode.xattr_loc;
            let owner = format!(" of {}", show(path));
            if loc >= self.fs.blocks() {
                errs.push(format!("xattr block {loc} is outside the volume"));
            } else {
                match self.fs.meta(loc, Some((ecc::XATTR_BLOCK, &owner)))? {
                    None => errs.push(format!("xattr block {loc} is not in the image")),
                    Some(xb) => match layout::xattr_block_check(&xb, loc) {
                        Err(e) => errs.push(format!("block {loc}: {e}")),
                        Ok(flags) if flags & XATTR_INDEXED == 0 => {
                            let (e, er) = layout::xattr_entries(&xb[XATTR_BLOCK_ATTRS..]);
                            found.extend(e);
                            errs.extend(er.into_iter().map(|m| format!("xattr block {loc}: {m}")));
                        }
                        Ok(_) => self.bucket_xattrs(&xb, loc, &owner, &mut found, &mut errs)?,
                    },
                }
            }
        }
        for e in &errs {
            self.warn(&format!("{}: {e}", show(path)));
        }
        if found.len() > MAX_XATTRS {
            self.warn(&format!(
                "{}: {} xattrs, only the first {MAX_XATTRS} are kept",
                show(path),
                found.len()
            ));
            found.truncate(MAX_XATTRS);
        }
        let mut xattrs = Vec::new();
        let mut acls = Vec::new();
        let mut absent = Vec::new();
        let readable = matches!(self.fs.img.kind, Kind::Volume | Kind::Packed);
        for x in found {
            let value = match (x.local_value, x.value_root) {
                (Some(v), _) => Some(v),
                (None, Some(root)) if x.value_size <= XATTR_SIZE_MAX => {
                    let clusters = le32(&root, 0) as u64;
                    match ExtentList::parse(&root[16..]) {
                        Ok(list) => {
                            let w = Walker::new(list, 2 * clusters + 16);
                            self.read_mapped(w, x.value_size, readable)?
                        }
                        Err(_) => None,
                    }
                }
                _ => None,
            };
            match value {
                None => {
                    self.warn(&format!(
                        "{}: the value of xattr {} ({} bytes, stored outside the inode) is not in the image",
                        show(path),
                        show(&x.name),
                        x.value_size
                    ));
                    absent.push(x.name);
                }
                Some(v) => match x.index {
                    2 => acls.push(Acl {
                        kind: "posix.access".into(),
                        data: acl_to_xattr(&v),
                    }),
                    3 => acls.push(Acl {
                        kind: "posix.default".into(),
                        data: acl_to_xattr(&v),
                    }),
                    _ => xattrs.push(Xattr {
                        name: x.name,
                        value: v,
                    }),
                },
            }
        }
        Ok((xattrs, acls, absent))
    }

    /// Entries of an indexed xattr block: a tree of 4096-byte buckets (xb_attrs is an
    /// `ocfs2_xattr_tree_root`: 0x00 xt_clusters, 0x08 xt_last_eb_blk, 0x10 xt_list).
    fn bucket_xattrs(
        &mut self,
        xb: &[u8],
        loc: u64,
        owner: &str,
        found: &mut Vec<layout::XattrEntry>,
        errs: &mut Vec<String>,
    ) -> Result<()> {
        let root = &xb[XATTR_BLOCK_ATTRS..];
        let clusters = le32(root, 0) as u64;
        let list = match ExtentList::parse(&root[16..]) {
            Ok(l) => l,
            Err(e) => {
                errs.push(format!("xattr tree in block {loc}: {e}"));
                return Ok(());
            }
        };
        let bs = self.fs.bs;
        let per_bucket = (XATTR_BUCKET_SIZE / bs).max(1) as u64;
        let mut walker = Walker::new(list, 2 * clusters + 16);
        let mut bucket = vec![0u8; XATTR_BUCKET_SIZE.max(bs)];
        loop {
            let rec = match walker.next(&mut self.fs)? {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(e) => {
                    errs.push(format!("xattr tree in block {loc}: {e}"));
                    return Ok(());
                }
            };
            let blocks = rec.clusters as u64 * self.fs.bpc;
            let room = blocks / per_bucket;
            // the first bucket of an extent says how many buckets it holds
            let mut num = room.min(1);
            let mut i = 0;
            while i < num {
                let first = rec.blkno + i * per_bucket;
                let mut whole = true;
                for k in 0..per_bucket {
                    let part = &mut bucket[(k as usize) * bs..(k as usize + 1) * bs];
                    if self.fs.img.read_block(first + k, part)? == Avail::Missing {
                        whole = false;
                    }
                }
                if !whole || (self.fs.img.kind == Kind::Raw && bucket.iter().all(|&c| c == 0)) {
                    errs.push(format!("xattr bucket at block {first} is not in the image"));
                    if i == 0 {
                        break; // without the first bucket the count is unknown
                    }
                    i += 1;
                    continue;
                }
                self.fs.verify(
                    first,
                    &mut bucket[..XATTR_BUCKET_SIZE.max(bs)],
                    ecc::XATTR_BUCKET,
                    owner,
                );
                if i == 0 {
                    num = (le16(&bucket, 6) as u64).min(room);
                }
                let (e, er) = layout::xattr_entries(&bucket[..XATTR_BUCKET_SIZE.max(bs)]);
                found.extend(e);
                errs.extend(er.into_iter().map(|m| format!("xattr bucket {first}: {m}")));
                if found.len() > MAX_XATTRS {
                    return Ok(());
                }
                i += 1;
            }
        }
    }

    /// Build the entry for inode `ino` named `path`; also its directory cursor or data.
    fn make_entry(
        &mut self,
        path: Vec<u8>,
        prefix_for_children: Option<Vec<u8>>,
        ino: u64,
    ) -> Result<Option<Entry>> {
        let Some((inode, b)) = self.load_inode(ino, &path)? else {
            return Ok(None);
        };
        let Some(kind) = EntryKind::from_ifmt(inode.mode as u32) else {
            self.warn(&format!(
                "{}: inode {ino} has an unknown file type (mode {:o}); entry skipped",
                show(&path),
                inode.mode
            ));
            return Ok(None);
        };
        let mut e = Entry::new(path.clone(), kind);
        e.mode = inode.mode as u32 & 0o7777;
        e.uid = inode.uid as u64;
        e.gid = inode.gid as u64;
        e.size = inode.size;
        e.nlink = inode.links;
        e.inode = Some(ino);
        e.generation = Some(inode.generation);
        e.mtime = Some(ts(inode.mtime, inode.mtime_nsec));
        e.atime = Some(ts(inode.atime, inode.atime_nsec));
        e.ctime = Some(ts(inode.ctime, inode.ctime_nsec));
        if inode.attr != 0 {
            e.extras
                .push(Extra::new("ocfs2.attr", inode.attr.to_string()));
        }
        let (xattrs, acls, absent_x) =
            if inode.dyn_features & layout::DYN_HAS_XATTR != 0 || inode.xattr_loc != 0 {
                self.xattrs(&inode, &b, &path)?
            } else {
                (vec![], vec![], vec![])
            };
        e.xattrs = xattrs;
        e.acls = acls;
        if !absent_x.is_empty() {
            e.extras
                .push(Extra::new("ocfs2.xattrs_absent", absent_x.join(&0u8)));
        }
        self.data = DataCursor::Done;

        // hard links: later names of a multiply linked non-directory
        if kind != EntryKind::Dir && inode.links > 1 {
            if let Some((first, left)) = self.links.get_mut(&ino) {
                e.kind = EntryKind::HardLink;
                e.link_target = Some(first.clone());
                e.data = DataState::None;
                e.size = 0;
                *left = left.saturating_sub(1);
                if *left == 0 {
                    self.links.remove(&ino);
                }
                return Ok(Some(e));
            }
            self.links.insert(ino, (path.clone(), inode.links - 1));
        }

        match kind {
            EntryKind::Dir => {
                if let Some(prefix) = prefix_for_children {
                    self.enter_dir(&inode, &b, path, prefix, ino)?;
                }
            }
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                let (major, minor) = inode.device();
                e.rdev = Some(Device { major, minor });
            }
            EntryKind::Symlink => {
                let target = if inode.inline_data() {
                    let (bytes, err) = inline_bytes(&b, &inode);
                    if let Some(m) = err {
                        self.warn(&format!("{}: {m}", show(&path)));
                    }
                    Some(bytes.to_vec())
                } else if inode.clusters == 0 {
                    let cap = (self.fs.bs - ID2) as u64;
                    if inode.size > cap {
                        self.warn(&format!(
                            "{}: fast symlink claims {} bytes, the inode holds {cap}; cut",
                            show(&path),
                            inode.size
                        ));
                    }
                    let n = inode.size.min(cap) as usize;
                    Some(b[ID2..ID2 + n].to_vec())
                } else if inode.size > MAX_TARGET {
                    self.warn(&format!(
                        "{}: symlink target of {} bytes is longer than PATH_MAX; not read",
                        show(&path),
                        inode.size
                    ));
                    None
                } else {
                    match self.inode_walker(&inode, &b) {
                        Ok(w) => {
                            let readable = self.data_readable(&inode);
                            self.read_mapped(w, inode.size, readable)?
                        }
                        Err(m) => {
                            self.warn(&format!("{}: {m}", show(&path)));
                            None
                        }
                    }
                };
                match target {
                    Some(t) => e.link_target = Some(t),
                    None => e.data = DataState::Absent,
                }
            }
            EntryKind::File => {
                let (state, map, cursor) = self.plan_file(&inode, &b, &path)?;
                e.data = state;
                e.data_map = map;
                self.data = cursor;
            }
            _ => {}
        }
        Ok(Some(e))
    }

    fn plan_file(&mut self, inode: &Inode, b: &[u8], path: &[u8]) -> Result<FilePlan> {
        let size = inode.size;
        if inode.inline_data() {
            let (bytes, err) = inline_bytes(b, inode);
            if let Some(m) = err {
                self.warn(&format!("{}: {m}; the rest is reported absent", show(path)));
                let mut v = bytes.to_vec();
                v.truncate(size as usize);
                return Ok((
                    DataState::Absent,
                    None,
                    DataCursor::Inline { bytes: v, pos: 0 },
                ));
            }
            let runs = (!bytes.is_empty()).then(|| vec![(0, bytes.len() as u64)]);
            return Ok((
                DataState::Present,
                Some(runs.unwrap_or_default()),
                DataCursor::Inline {
                    bytes: bytes.to_vec(),
                    pos: 0,
                },
            ));
        }
        if size == 0 {
            return Ok((DataState::Present, Some(vec![]), DataCursor::Done));
        }
        if !inode.has_extent_list() {
            return Ok((
                DataState::Absent,
                None,
                DataCursor::AbsentAll { size, pos: 0 },
            ));
        }
        let walker = match self.inode_walker(inode, b) {
            Ok(w) => w,
            Err(m) => {
                self.warn(&format!(
                    "{}: extent list: {m}; data reported absent",
                    show(path)
                ));
                return Ok((
                    DataState::Absent,
                    None,
                    DataCursor::AbsentAll { size, pos: 0 },
                ));
            }
        };
        let read = self.data_readable(inode);
        let w2 = self
            .inode_walker(inode, b)
            .unwrap_or_else(|_| Walker::empty());
        // present: every allocated, written block is in the image and readable
        let (state, map) = match self.survey(w2, size)? {
            None => (DataState::Absent, None),
            Some(sv) if sv.alloc == 0 => (DataState::Present, sv.runs),
            Some(sv) if read && sv.held >= sv.alloc => (DataState::Present, sv.runs),
            Some(_) => (DataState::Absent, None),
        };
        Ok((
            state,
            map,
            DataCursor::Extents(ExtentData {
                walker,
                size,
                pos: 0,
                rec: None,
                read,
                path: path.to_vec(),
                failed: false,
            }),
        ))
    }

    /// Start listing directory `ino` (already emitted as `path`).
    fn enter_dir(
        &mut self,
        inode: &Inode,
        b: &[u8],
        path: Vec<u8>,
        prefix: Vec<u8>,
        ino: u64,
    ) -> Result<()> {
        if !self.visited.insert(ino) {
            self.warn(&format!(
                "{}: directory inode {ino} was already listed under another name; not entered again",
                show(&path)
            ));
            return Ok(());
        }
        if self.stack.len() >= MAX_DEPTH {
            self.warn(&format!(
                "{}: directories nested deeper than {MAX_DEPTH} levels; not entered",
                show(&path)
            ));
            return Ok(());
        }
        let mut cur = DirCursor {
            path,
            prefix,
            ino,
            entries: VecDeque::new(),
            blocks: None,
            has_xattr_block: inode.xattr_loc != 0,
        };
        if inode.inline_data() {
            let (bytes, err) = inline_bytes(b, inode);
            if let Some(m) = err {
                self.warn(&format!("{}: {m}", show(&cur.path)));
            }
            let mut it = DirEntries::new(bytes);
            for d in it.by_ref() {
                cur.entries
                    .push_back((d.inode, d.file_type, d.name.to_vec()));
            }
            if let Some((off, m)) = it.error {
                self.warn(&format!(
                    "{}: inline directory in inode {ino}, offset {off}: bad entry ({m}); the rest is skipped",
                    show(&cur.path)
                ));
            }
        } else {
            match self.inode_walker(inode, b) {
                Ok(walker) => {
                    let bs = self.fs.bs as u64;
                    let by_size = inode.size.div_ceil(bs);
                    let by_clusters = inode.clusters as u64 * self.fs.bpc;
                    let trailer = self.fs.ecc || inode.dyn_features & layout::DYN_INDEXED_DIR != 0;
                    cur.blocks = Some(DirBlocks {
                        walker,
                        rec: None,
                        in_rec: 0,
                        nblocks: by_size.min(by_clusters),
                        trailer,
                        read: 0,
                        missing: 0,
                        first_missing: None,
                        walk_failed: false,
                        budget: self.fs.img.stored_blocks(),
                    });
                }
                Err(m) => {
                    self.warn(&format!(
                        "{}: directory inode {ino}: extent list: {m}; not listed",
                        show(&cur.path)
                    ));
                    self.incomplete += 1;
                }
            }
        }
        self.stack.push(cur);
        Ok(())
    }

    /// Fill the top directory's entry queue from its next block. Returns false when the
    /// directory has no more blocks.
    fn next_dir_block(&mut self) -> Result<bool> {
        let bs = self.fs.bs;
        let Some(cur) = self.stack.last_mut() else {
            return Ok(false);
        };
        let Some(db) = cur.blocks.as_mut() else {
            return Ok(false);
        };
        // the next (logical, physical) block
        let (logical, phys) = loop {
            if let Some(rec) = db.rec {
                let len = rec.clusters as u64 * self.fs.bpc;
                if db.in_rec < len {
                    let logical = rec.cpos as u64 * self.fs.bpc + db.in_rec;
                    let phys = rec.blkno + db.in_rec;
                    db.in_rec += 1;
                    break (logical, phys);
                }
            }
            match db.walker.next(&mut self.fs)? {
                Ok(Some(r)) => {
                    db.rec = Some(r);
                    db.in_rec = 0;
                }
                Ok(None) => return Ok(false),
                Err(WalkError { message, missing }) => {
                    let what = if missing { "incomplete" } else { "damaged" };
                    let path = show(&cur.path);
                    self.fs.warn(&format!(
                        "directory {path} is {what}: {message}; entries in later blocks are not listed"
                    ));
                    db.walk_failed = true;
                    return Ok(false);
                }
            }
        };
        if logical >= db.nblocks {
            return Ok(false);
        }
        if db.budget == 0 {
            let path = show(&cur.path);
            self.fs.warn(&format!(
                "directory {path} maps more blocks than the image holds; the rest is not listed"
            ));
            return Ok(false);
        }
        let trailer = db.trailer;
        let dir_ino = cur.ino;
        let owner = format!(" of directory {}", show(&cur.path));
        let site = trailer.then(|| ecc::dir_block(bs));
        let mut blk = vec![0u8; bs];
        let present = self.fs.img.read_block(phys, &mut blk)? == Avail::Present
            && !(self.fs.img.kind == Kind::Raw && blk.iter().all(|&c| c == 0));
        if !present {
            // skip the whole run of missing blocks in this extent at once
            let left = {
                let cur = self.stack.last().expect("because it was there above");
                let db = cur.blocks.as_ref().expect("because it was there above");
                let rec_left = db
                    .rec
                    .map(|r| r.clusters as u64 * self.fs.bpc - (db.in_rec - 1))
                    .unwrap_or(1);
                rec_left.min(db.nblocks - logical).max(1)
            };
            let run = match self.fs.img.run(phys, left)? {
                (Avail::Missing, n) => n.clamp(1, left),
                _ => 1,
            };
            let cur = self.stack.last_mut().expect("because it was there above");
            let db = cur.blocks.as_mut().expect("because it was there above");
            db.missing += run;
            db.in_rec += run - 1;
            db.first_missing.get_or_insert(phys);
            return Ok(true);
        }
        let cur = self.stack.last_mut().expect("because it was there above");
        let db = cur.blocks.as_mut().expect("because it was there above");
        db.budget -= 1;
        db.read += 1;
        if let Some(site) = site {
            self.fs.verify(phys, &mut blk, site, &owner);
        }
        let cur = self.stack.last_mut().expect("because it was there above");
        let area: &[u8] = if trailer {
            if let Err(m) = layout::trailer_ok(&blk, phys, dir_ino) {
                self.fs.warn(&format!(
                    "directory {}: block {phys}: trailer: {m}",
                    show(&cur.path)
                ));
            }
            &blk[..bs - TRAILER_LEN]
        } else {
            &blk[..]
        };
        let mut it = DirEntries::new(area);
        for d in it.by_ref() {
            cur.entries
                .push_back((d.inode, d.file_type, d.name.to_vec()));
        }
        if let Some((off, m)) = it.error {
            self.fs.warn(&format!(
                "directory {}: block {phys}, offset {off}: bad entry ({m}); the rest of the block is skipped",
                show(&cur.path)
            ));
        }
        Ok(true)
    }

    /// Finish the top directory: report it if blocks were missing.
    fn leave_dir(&mut self) {
        let Some(cur) = self.stack.pop() else {
            return;
        };
        if let Some(db) = &cur.blocks {
            if db.walk_failed && db.missing == 0 {
                self.incomplete += 1;
            }
            if db.missing > 0 {
                self.incomplete += 1;
                let hint = if cur.has_xattr_block {
                    " (o2image 1.8.7 does not copy the blocks of a directory that has an external xattr block)"
                } else {
                    ""
                };
                let first = db
                    .first_missing
                    .map(|b| format!(", first missing: block {b}"))
                    .unwrap_or_default();
                self.fs.warn(&format!(
                    "directory {} is incomplete: {} of its {} blocks are not in the image{first}; the names they held are not listed{hint}",
                    show(&cur.path),
                    db.missing,
                    db.read + db.missing
                ));
            }
        }
    }

    fn root_entry(&mut self, ino: u64, path: &[u8], prefix: &[u8]) -> Result<Option<Entry>> {
        match self.make_entry(path.to_vec(), Some(prefix.to_vec()), ino)? {
            Some(e) if e.kind == EntryKind::Dir => Ok(Some(e)),
            Some(_) => Err(Error::corrupt(format!(
                "the {} (inode {ino}) is not a directory",
                if path == b"." {
                    "root directory"
                } else {
                    "system directory"
                }
            ))),
            None => Err(Error::corrupt(format!(
                "the {} (inode {ino}) cannot be read",
                if path == b"." {
                    "root directory"
                } else {
                    "system directory"
                }
            ))),
        }
    }

    fn read_extents(
        fs: &mut Fs,
        d: &mut ExtentData,
        buf: &mut [u8],
        scratch: &mut [u8],
    ) -> Result<Chunk> {
        let bs = fs.bs as u64;
        let csize = bs * fs.bpc;
        loop {
            if d.pos >= d.size {
                return Ok(Chunk::End);
            }
            if d.failed {
                let c = Chunk::Absent {
                    offset: d.pos,
                    len: d.size - d.pos,
                };
                d.pos = d.size;
                return Ok(c);
            }
            let rec = match d.rec {
                Some(r) if (r.cpos as u64 + r.clusters as u64) * csize > d.pos => r,
                _ => match d.walker.next(fs)? {
                    Ok(Some(r)) => {
                        d.rec = Some(r);
                        continue;
                    }
                    Ok(None) => {
                        let c = Chunk::Hole {
                            offset: d.pos,
                            len: d.size - d.pos,
                        };
                        d.pos = d.size;
                        return Ok(c);
                    }
                    Err(e) => {
                        fs.warn(&format!(
                            "{}: extent tree: {e}; the rest of the file is reported absent",
                            show(&d.path)
                        ));
                        d.failed = true;
                        continue;
                    }
                },
            };
            let start = rec.cpos as u64 * csize;
            if start >= d.size {
                d.rec = None;
                d.walker = Walker::empty();
                continue;
            }
            let end = (start + rec.clusters as u64 * csize).min(d.size);
            if d.pos < start {
                let c = Chunk::Hole {
                    offset: d.pos,
                    len: start - d.pos,
                };
                d.pos = start;
                return Ok(c);
            }
            if rec.flags & EXT_UNWRITTEN != 0 {
                let c = Chunk::Hole {
                    offset: d.pos,
                    len: end - d.pos,
                };
                d.pos = end;
                return Ok(c);
            }
            if !d.read {
                let c = Chunk::Absent {
                    offset: d.pos,
                    len: end - d.pos,
                };
                d.pos = end;
                return Ok(c);
            }
            let within = d.pos - start;
            let blk = rec.blkno + within / bs;
            let boff = within % bs;
            if boff != 0 || (buf.len() as u64) < bs {
                // a partial block: through the scratch buffer
                let n = (bs - boff).min(end - d.pos).min(buf.len() as u64);
                if fs.img.read_block(blk, scratch)? == Avail::Missing {
                    let c = Chunk::Absent {
                        offset: d.pos,
                        len: n,
                    };
                    d.pos += n;
                    return Ok(c);
                }
                buf[..n as usize].copy_from_slice(&scratch[boff as usize..(boff + n) as usize]);
                let c = Chunk::Data {
                    offset: d.pos,
                    len: n,
                };
                d.pos += n;
                return Ok(c);
            }
            let left = (end - d.pos).div_ceil(bs);
            if fs.img.stored_in(blk, left)? == Some(0) {
                // none of the rest of this extent is in the packed image
                let c = Chunk::Absent {
                    offset: d.pos,
                    len: end - d.pos,
                };
                d.pos = end;
                return Ok(c);
            }
            let maxb = (buf.len() as u64 / bs).min(left);
            let (avail, run) = fs.img.run(blk, maxb)?;
            let run = run.min(maxb).max(1);
            let bytes = (run * bs).min(end - d.pos);
            let c = match avail {
                Avail::Missing => {
                    // an absent run needs no buffer: take all of it
                    let (_, whole) = fs.img.run(blk, left)?;
                    let bytes = (whole.max(1) * bs).min(end - d.pos);
                    d.pos += bytes;
                    return Ok(Chunk::Absent {
                        offset: d.pos - bytes,
                        len: bytes,
                    });
                }
                Avail::Present => {
                    fs.img.read_run(blk, run, &mut buf[..(run * bs) as usize])?;
                    Chunk::Data {
                        offset: d.pos,
                        len: bytes,
                    }
                }
            };
            d.pos += bytes;
            return Ok(c);
        }
    }
}

/// The volume description.
fn describe(fs: &Fs, sb_at: u64) -> VolumeInfo {
    let sb = &fs.sb;
    let mut v = VolumeInfo {
        format: "o2image".into(),
        variant: fs.img.kind.name().into(),
        label: (!sb.label.is_empty()).then(|| sb.label.clone()),
        block_size: Some(fs.bs as u32),
        filesystem: Some(b"ocfs2".to_vec()),
        ..VolumeInfo::default()
    };
    if let Some(h) = &fs.img.header {
        v.date = Some(Timestamp::from_secs(h.timestamp as i64));
    }
    let u = &sb.uuid;
    let uuid: String = u.iter().map(|b| format!("{b:02X}")).collect();
    let mut ex = |k: &str, val: String| v.extras.push(Extra::new(k, val));
    ex("ocfs2.uuid", uuid);
    ex("ocfs2.cluster_size", sb.cluster_size().to_string());
    ex("ocfs2.blocks", sb.total_blocks().to_string());
    ex("ocfs2.slots", sb.max_slots.to_string());
    ex(
        "ocfs2.revision",
        format!("{}.{}", sb.major_rev, sb.minor_rev),
    );
    ex(
        "ocfs2.features",
        layout::feature_names(sb.compat, sb.incompat, sb.ro_compat).join(","),
    );
    if sb_at != layout::SUPER_BLKNO {
        ex("ocfs2.superblock", sb_at.to_string());
    }
    if let Some(h) = &fs.img.header {
        ex("o2image.blocks_stored", h.image_blocks.to_string());
    }
    v
}

impl FormatReader for O2Reader {
    fn volume(&mut self) -> Result<VolumeInfo> {
        Ok(self.volume.clone())
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        self.data = DataCursor::Done;
        loop {
            match self.phase {
                Phase::Root => {
                    self.phase = Phase::Walk;
                    let root = self.fs.sb.root_blkno;
                    let e = self.root_entry(root, b".", b"")?;
                    self.entries += 1;
                    return Ok(e);
                }
                Phase::System => {
                    self.phase = Phase::Walk;
                    let sys = self.fs.sb.system_dir_blkno;
                    let prefix = join(SYSTEM_DIR, b"/");
                    let e = self.root_entry(sys, SYSTEM_DIR, &prefix)?;
                    self.entries += 1;
                    return Ok(e);
                }
                Phase::Done => return Ok(None),
                Phase::Walk => {}
            }
            let Some(top) = self.stack.last_mut() else {
                if self.opts.system && !self.visited.contains(&self.fs.sb.system_dir_blkno) {
                    self.phase = Phase::System;
                    continue;
                }
                self.phase = Phase::Done;
                if self.fs.ecc_failures > MAX_ECC_WARNINGS_U64 {
                    self.fs.warn(&format!(
                        "metaecc: {} blocks failed their check in all (the first {} are named above)",
                        self.fs.ecc_failures,
                        crate::tree::MAX_ECC_WARNINGS
                    ));
                }
                return Ok(None);
            };
            let Some((ino, _ftype, name)) = top.entries.pop_front() else {
                if !self.next_dir_block()? {
                    self.leave_dir();
                }
                continue;
            };
            if name == b"." || name == b".." {
                continue;
            }
            let parent = top.path.clone();
            let parent_prefix = top.prefix.clone();
            let mut fixed = name.clone();
            if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
                if name.is_empty() {
                    self.warn(&format!(
                        "directory {}: an entry for inode {ino} has an empty name; skipped",
                        show(&parent)
                    ));
                    continue;
                }
                for c in fixed.iter_mut() {
                    if *c == b'/' || *c == 0 {
                        *c = b'_';
                    }
                }
                self.warn(&format!(
                    "directory {}: name {} holds '/' or NUL; listed as {}",
                    show(&parent),
                    show(&name),
                    show(&fixed)
                ));
            }
            let path = join(&parent_prefix, &fixed);
            let prefix = join(&path, b"/");
            if let Some(e) = self.make_entry(path, Some(prefix), ino)? {
                self.entries += 1;
                return Ok(Some(e));
            }
        }
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        match &mut self.data {
            DataCursor::Done => Ok(Chunk::End),
            DataCursor::Inline { bytes, pos } => {
                if *pos >= bytes.len() || buf.is_empty() {
                    self.data = DataCursor::Done;
                    return Ok(Chunk::End);
                }
                let n = (bytes.len() - *pos).min(buf.len());
                buf[..n].copy_from_slice(&bytes[*pos..*pos + n]);
                let c = Chunk::Data {
                    offset: *pos as u64,
                    len: n as u64,
                };
                *pos += n;
                Ok(c)
            }
            DataCursor::AbsentAll { size, pos } => {
                if *pos >= *size {
                    self.data = DataCursor::Done;
                    return Ok(Chunk::End);
                }
                let c = Chunk::Absent {
                    offset: *pos,
                    len: *size - *pos,
                };
                *pos = *size;
                Ok(c)
            }
            DataCursor::Extents(d) => {
                if buf.is_empty() {
                    return Err(Error::internal("read_data with an empty buffer"));
                }
                let c = O2Reader::read_extents(&mut self.fs, d, buf, &mut self.scratch)?;
                if c == Chunk::End {
                    self.data = DataCursor::Done;
                }
                Ok(c)
            }
        }
    }

    fn skip_data(&mut self) -> Result<()> {
        self.data = DataCursor::Done;
        Ok(())
    }
}

const MAX_ECC_WARNINGS_U64: u64 = crate::tree::MAX_ECC_WARNINGS as u64;
