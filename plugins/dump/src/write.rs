//! The dump writers: one engine ([`DumpWriter`]) and two flavours ([`Flavor`]).
//!
//! | | `irix-dump` | `bsd-dump` |
//! |---|---|---|
//! | byte order | big-endian (MIPS) | little-endian (what Linux dump on x86 writes) |
//! | magic | 60012 (NFS_MAGIC), or 60011 with `magic=60011` | 60012 |
//! | c_flags | DR_NEWHEADER on TS_TAPE only | DR_NEWINODEFMT everywhere, + DR_NEWHEADER on TS_TAPE |
//! | inode copy | 4.3BSD "sun_dinode": 16-bit ids, times in seconds | `new_bsd_inode`: 32-bit ids at +112/+116, microseconds |
//! | directories | 4.2BSD entries (16-bit d_namlen) | 4.4BSD entries (d_type, 8-bit d_namlen) |
//! | device numbers | IRIX: major<<8 \| minor when both fit a byte, else major<<18 \| minor | Linux/glibc 32-bit: minor low byte, major<<8, minor high bits <<12 |
//! | c_firstrec, c_ntrec | 0 | record number of each TS_TAPE, blocking factor |
//! | xattrs | none (IRIX dump had none) | EA side record after the data (c_flags 0x8000, c_extattributes 3) |
//!
//! Both go beyond what IRIX dump wrote: holes are encoded (c_addr 0 per 1 KiB block; IRIX set
//! every byte to 1) and link counts are kept (IRIX left di_nlink 0).
//!
//! How a dump is written (research note 2.5, 3.4; IRIX `dumptape.c` for volume changes):
//! 1. The catalog pass ([`FormatWriter::catalog_entry`]) numbers inodes in catalog order
//!    (root = 2), builds every directory's listing (parents missing from the source are
//!    made up), counts links, and decides per entry whether it is dumped: at level 0
//!    everything, at level N only what was modified or changed (mtime or ctime) since the
//!    base date taken from the dumpdates file, plus every directory on the way to such an
//!    entry and the root. Memory: proportional to the number of entries, never to data.
//! 2. `end_catalog` writes TS_TAPE, TS_CLRI (inodes in use), TS_BITS (inodes dumped) and
//!    every dumped directory in inode order.
//! 3. The data pass writes the other dumped inodes. The source delivers entries in the
//!    catalog's order, so inode numbers ascend as restore requires. A file's data is
//!    gathered one header's worth (512 blocks) at a time, so the header's hole map is
//!    known before its data is written: memory is 512 KiB whatever the file size.
//! 4. `finish` writes TS_END up to the end of the record, closes the medium, and only then
//!    updates the dumpdates file.
//!
//! Volumes: after each record the medium may report early warning; a `capacity=` makes a
//! volume end before a record would exceed it; `length=` with `density=` estimates tape
//! use as IRIX dump did. The next volume starts with a TS_TAPE that copies the header in
//! progress, with c_volume + 1, DR_NEWHEADER and c_count = its data blocks still to come.

use std::collections::HashMap;
use std::path::PathBuf;

use relic_model::{
    normalize_path, Capabilities, DataState, Entry, EntryKind, Error, FormatWriter, KindSet,
    LogLevel, Medium, Result, VolumeInfo, WriteSummary,
};
use relic_plugin_sdk::{HostHandle, Options};

use crate::dirs::{self, DirFormat};
use crate::dumpdates;
use crate::layout::*;
use crate::tape::BlockSink;
use crate::xattr;

/// Which system's dump to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// 4.4BSD/Linux, for Linux restore.
    Bsd,
    /// IRIX EFS dump.
    Irix,
}

impl Flavor {
    fn endian(self) -> Endian {
        match self {
            Flavor::Bsd => Endian::Little,
            Flavor::Irix => Endian::Big,
        }
    }
    fn ifmt(self) -> InodeFormat {
        match self {
            Flavor::Bsd => InodeFormat {
                new: true,
                usec: true,
            },
            Flavor::Irix => InodeFormat {
                new: false,
                usec: false,
            },
        }
    }
    fn dirfmt(self) -> DirFormat {
        match self {
            Flavor::Bsd => DirFormat::Bsd44,
            Flavor::Irix => DirFormat::Bsd42,
        }
    }
    /// c_flags of ordinary headers.
    fn flags(self) -> i32 {
        match self {
            Flavor::Bsd => DR_NEWINODEFMT,
            Flavor::Irix => 0,
        }
    }
    fn encode_rdev(self, major: u32, minor: u32) -> u32 {
        match self {
            Flavor::Irix if major < 256 && minor < 256 => (major << 8) | minor,
            Flavor::Irix => (major << 18) | (minor & 0x3ffff),
            Flavor::Bsd => (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12),
        }
    }
    pub fn id(self) -> &'static str {
        match self {
            Flavor::Bsd => crate::BSD_ID,
            Flavor::Irix => crate::IRIX_ID,
        }
    }
}

/// Writer options (see the plugin's option list).
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub level: u8,
    pub dumpdates: Option<PathBuf>,
    pub label: Option<Vec<u8>>,
    pub ntrec: u32,
    pub capacity: Option<u64>,
    /// (tenths of an inch per record, tenths per volume)
    pub tenths: Option<(u64, u64)>,
    pub host: Option<Vec<u8>>,
    pub filesystem: Option<Vec<u8>>,
    pub device: Option<Vec<u8>>,
    pub date: Option<i64>,
    pub magic: u32,
}

impl WriteOptions {
    pub fn parse(flavor: Flavor, o: &Options) -> Result<WriteOptions> {
        let known = crate::option_names(&[]);
        o.check_known(&known, "the dump writer")?;
        let level = o.parse::<u8>("level")?.unwrap_or(0);
        if level > 9 {
            return Err(Error::config(format!("level {level}: dump levels are 0-9")));
        }
        let density = o.parse::<u32>("density")?;
        let ntrec = match o.parse::<u32>("blocking-factor")? {
            Some(n) if (1..=MAX_NTREC).contains(&n) => n,
            Some(n) => {
                return Err(Error::config(format!(
                    "blocking-factor {n}: 1 to {MAX_NTREC} blocks of 1 KiB"
                )))
            }
            None if density.is_some_and(|d| d >= 6250) => HIGHDENSITYTREC,
            None => NTREC,
        };
        let record = ntrec as u64 * TP_BSIZE as u64;
        let capacity = o.size("capacity")?;
        if let Some(c) = capacity {
            if c < 2 * record {
                return Err(Error::config(format!(
                    "capacity {c} bytes holds less than two {record}-byte records"
                )));
            }
        }
        let tenths = match (o.parse::<u64>("length")?, density) {
            (Some(feet), Some(bpi)) if bpi >= 10 && feet > 0 => {
                // IRIX dumptape.c: tenths per record = writesize/density + inter-record gap
                // (density in bytes per 0.1 inch; gap 0.5" at 6250 bpi, else 0.8")
                let d = (bpi / 10) as u64;
                let gap = if bpi == 6250 { 5 } else { 8 };
                Some((record / d + gap, feet * 120))
            }
            (Some(_), None) => {
                return Err(Error::config(
                    "length= needs density= to estimate the capacity",
                ))
            }
            _ => None,
        };
        let magic = match o.get("magic") {
            None | Some("60012") => NFS_MAGIC,
            Some("60011") if flavor == Flavor::Irix => OFS_MAGIC,
            Some(m) => {
                return Err(Error::config(format!(
                    "magic={m}: {} writes 60012{}",
                    flavor.id(),
                    if flavor == Flavor::Irix {
                        " or 60011"
                    } else {
                        ""
                    }
                )))
            }
        };
        let bytes = |k: &str, max: usize| -> Result<Option<Vec<u8>>> {
            match o.get(k) {
                None => Ok(None),
                Some(v) if v.len() < max => Ok(Some(v.as_bytes().to_vec())),
                Some(v) => Err(Error::config(format!(
                    "{k}={v}: at most {} bytes fit in the header",
                    max - 1
                ))),
            }
        };
        Ok(WriteOptions {
            level,
            dumpdates: o.get("dumpdates").map(PathBuf::from),
            label: bytes("label", LBLSIZE)?,
            ntrec,
            capacity,
            tenths,
            host: bytes("host", NAMELEN)?,
            filesystem: bytes("filesystem", NAMELEN)?,
            device: bytes("device", NAMELEN)?,
            date: o.parse::<i64>("dump-date")?,
            magic,
        })
    }
}

/// One inode of the catalog.
#[derive(Debug, Clone)]
struct Node {
    kind: EntryKind,
    mode: u32,
    uid: u32,
    gid: u32,
    atime: Time,
    mtime: Time,
    ctime: Time,
    nlink: u32,
    parent: u32,
    changed: bool,
    dumped: bool,
    /// Made up because the source had no entry for this directory.
    synthetic: bool,
    /// Directories: (child inode, name).
    children: Vec<(u32, Box<[u8]>)>,
    /// Directories (bsd-dump): their xattr blob.
    xattrs: Option<Vec<u8>>,
}

/// A file being written: one header's worth of blocks gathered at a time.
struct FileState {
    ino: u32,
    header: Header,
    nblocks: u64,
    /// First block of the segment being gathered.
    seg_start: u64,
    seg: Vec<u8>,
    present: Vec<bool>,
    xattrs: Option<Vec<u8>>,
}

enum State {
    Idle,
    /// Entry whose data is not written (directory, hard link, unchanged, unknown).
    Skip,
    File(Box<FileState>),
}

/// The dump writer (both flavours).
pub struct DumpWriter {
    flavor: Flavor,
    opts: WriteOptions,
    host: HostHandle,
    sink: BlockSink,
    template: Header,
    nodes: Vec<Node>,
    paths: HashMap<Vec<u8>, u32>,
    base_date: i64,
    dump_date: i64,
    filesystem: Vec<u8>,
    state: State,
    last_ino: u32,
    /// Header in progress and its data blocks still to write (for a volume change).
    last_header: Header,
    data_left: u64,
    entries: u64,
    warned_absolute: bool,
    catalog_done: bool,
}

fn time_of(t: Option<relic_model::Timestamp>, default: Time) -> Time {
    t.map(|t| Time {
        secs: t.secs,
        nanos: t.nanos,
    })
    .unwrap_or(default)
}

fn host_name() -> Vec<u8> {
    std::fs::read("/proc/sys/kernel/hostname")
        .ok()
        .map(|mut h| {
            while h.last().is_some_and(|c| c.is_ascii_whitespace()) {
                h.pop();
            }
            h
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| b"localhost".to_vec())
}

impl DumpWriter {
    pub fn boxed(
        medium: Box<dyn Medium>,
        flavor: Flavor,
        opts: WriteOptions,
        host: HostHandle,
    ) -> Result<Box<dyn FormatWriter>> {
        Ok(Box::new(Self::create(medium, flavor, opts, host)))
    }

    pub fn create(
        medium: Box<dyn Medium>,
        flavor: Flavor,
        opts: WriteOptions,
        host: HostHandle,
    ) -> DumpWriter {
        let sink = BlockSink::new(medium, opts.ntrec, opts.capacity, opts.tenths);
        DumpWriter {
            flavor,
            opts,
            host,
            sink,
            template: Header::default(),
            nodes: Vec::new(),
            paths: HashMap::new(),
            base_date: 0,
            dump_date: 0,
            filesystem: Vec::new(),
            state: State::Idle,
            last_ino: ROOTINO,
            last_header: Header::default(),
            data_left: 0,
            entries: 0,
            warned_absolute: false,
            catalog_done: false,
        }
    }

    fn node(&self, ino: u32) -> &Node {
        &self.nodes[(ino - ROOTINO) as usize]
    }
    fn node_mut(&mut self, ino: u32) -> &mut Node {
        &mut self.nodes[(ino - ROOTINO) as usize]
    }
    fn next_ino(&self) -> Result<u32> {
        u32::try_from(self.nodes.len() as u64 + ROOTINO as u64)
            .map_err(|_| Error::unsupported("more than 2^32 inodes"))
    }

    fn synthetic_dir(&self, parent: u32) -> Node {
        let t = Time {
            secs: self.dump_date,
            nanos: 0,
        };
        Node {
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            atime: t,
            mtime: t,
            ctime: t,
            nlink: 2,
            parent,
            changed: true,
            dumped: false,
            synthetic: true,
            children: Vec::new(),
            xattrs: None,
        }
    }

    /// The path as the dump will hold it, or None (with a warning) when it cannot be held.
    fn dump_path(&mut self, raw: &[u8]) -> Option<Vec<u8>> {
        let mut p = normalize_path(raw);
        if p.first() == Some(&b'/') {
            if !self.warned_absolute {
                self.warned_absolute = true;
                self.host.warn(
                    &format!(
                        "{}: absolute names are stored relative to the dump's root",
                        String::from_utf8_lossy(raw)
                    ),
                    None,
                );
            }
            p = normalize_path(&p[1..]);
        }
        if p.split(|&b| b == b'/').any(|c| c == b"..") {
            self.host.warn(
                &format!(
                    "{}: a name with '..' cannot be stored in a dump; left out",
                    String::from_utf8_lossy(raw)
                ),
                None,
            );
            return None;
        }
        Some(p)
    }

    /// The inode of a directory path, creating missing directories.
    fn dir_ino(&mut self, path: &[u8]) -> Result<u32> {
        if path == b"." {
            return Ok(ROOTINO);
        }
        if let Some(&ino) = self.paths.get(path) {
            if self.node(ino).kind == EntryKind::Dir {
                return Ok(ino);
            }
            return Err(Error::corrupt(format!(
                "{} is used as a directory but is not one",
                String::from_utf8_lossy(path)
            )));
        }
        let (parent_path, name) = split(path);
        let parent = self.dir_ino(parent_path)?;
        let ino = self.next_ino()?;
        let node = self.synthetic_dir(parent);
        self.nodes.push(node);
        self.paths.insert(path.to_vec(), ino);
        self.node_mut(parent).children.push((ino, name.into()));
        Ok(ino)
    }

    fn is_changed(&self, e: &Entry) -> bool {
        if self.base_date == 0 {
            return true;
        }
        let m = e.mtime.map(|t| t.secs).unwrap_or(i64::MAX);
        let c = e.ctime.map(|t| t.secs).unwrap_or(m);
        m >= self.base_date || c >= self.base_date
    }

    fn fill_node(&self, n: &mut Node, e: &Entry) {
        let dd = Time {
            secs: self.dump_date,
            nanos: 0,
        };
        n.mode = e.mode & 0o7777;
        n.uid = e.uid.min(u32::MAX as u64) as u32;
        n.gid = e.gid.min(u32::MAX as u64) as u32;
        n.mtime = time_of(e.mtime, dd);
        n.atime = time_of(e.atime, n.mtime);
        n.ctime = time_of(e.ctime, n.mtime);
    }

    fn dinode(&self, kind: EntryKind, n: &Node, size: u64, rdev: u32) -> Dinode {
        Dinode {
            mode: kind.ifmt() | (n.mode & 0o7777),
            nlink: n.nlink,
            uid: n.uid,
            gid: n.gid,
            size,
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
            birth: None,
            rdev: [rdev, 0],
            flags: 0,
            blocks: (size.div_ceil(512)).min(u32::MAX as u64) as u32,
            gen: 0,
            extsize: 0,
        }
    }

    // ---- blocks and headers --------------------------------------------------------------

    fn change_volume(&mut self) -> Result<()> {
        self.sink.next_volume()?;
        let mut t = self.last_header.clone();
        t.c_type = TS_TAPE;
        t.volume = self.sink.volume as i32;
        t.flags |= DR_NEWHEADER;
        t.count = self.data_left.min(i32::MAX as u64) as i32;
        t.tapea = self.sink.tapea as i64;
        if self.flavor == Flavor::Bsd {
            t.firstrec = self.sink.tapea as i64;
        }
        let b = t.encode(self.flavor.endian(), self.opts.magic, self.flavor.ifmt());
        self.sink.put(&b)?;
        self.host.log(
            LogLevel::Info,
            &format!("volume {} begins at block {}", self.sink.volume, t.tapea),
        );
        Ok(())
    }

    fn put_data(&mut self, block: &[u8]) -> Result<()> {
        if self.sink.switch_pending() {
            self.change_volume()?;
        }
        self.sink.put(block)?;
        self.data_left = self.data_left.saturating_sub(1);
        Ok(())
    }

    fn put_header(&mut self, mut h: Header) -> Result<()> {
        if self.sink.switch_pending() {
            self.change_volume()?;
        }
        h.volume = self.sink.volume as i32;
        h.tapea = self.sink.tapea as i64;
        let layout = Layout {
            endian: self.flavor.endian(),
            generation: Generation::Nfs,
        };
        self.data_left = h.data_blocks(&layout)?;
        let b = h.encode(self.flavor.endian(), self.opts.magic, self.flavor.ifmt());
        self.sink.put(&b)?;
        self.last_header = h;
        Ok(())
    }

    fn header(&self, c_type: i32, ino: u32) -> Header {
        let mut h = self.template.clone();
        h.c_type = c_type;
        h.inumber = ino;
        h
    }

    /// A map of `maxino` bits: TS_CLRI (in use) or TS_BITS (dumped).
    fn write_map(&mut self, c_type: i32, dumped_only: bool) -> Result<()> {
        let maxino = self.nodes.len() as u64 + ROOTINO as u64 - 1;
        let bytes = maxino.div_ceil(8);
        let blocks = bytes.div_ceil(TP_BSIZE as u64).max(1);
        let mut h = self.header(c_type, maxino as u32);
        h.count = blocks as i32;
        h.addr = vec![0; TP_NINDIR];
        for a in h
            .addr
            .iter_mut()
            .take(blocks.min(TP_NINDIR as u64) as usize)
        {
            *a = 1;
        }
        self.put_header(h)?;
        let mut block = [0u8; TP_BSIZE];
        for b in 0..blocks {
            block.fill(0);
            for byte in 0..TP_BSIZE as u64 {
                let first = (b * TP_BSIZE as u64 + byte) * 8 + 1; // inode of bit 0
                let mut v = 0u8;
                for bit in 0..8u64 {
                    let ino = first + bit;
                    if ino >= ROOTINO as u64 && ino <= maxino {
                        let n = &self.nodes[(ino - ROOTINO as u64) as usize];
                        if !dumped_only || n.dumped {
                            v |= 1 << bit;
                        }
                    }
                }
                block[byte as usize] = v;
            }
            self.put_data(&block)?;
        }
        Ok(())
    }

    /// Write `data` (a whole small object) as the data of header `h` (TS_INODE first, then
    /// TS_ADDR every 512 blocks).
    fn write_small(&mut self, mut h: Header, data: &[u8]) -> Result<()> {
        let nblocks = data.len().div_ceil(TP_BSIZE);
        let mut at = 0usize;
        loop {
            let n = (nblocks - at).min(TP_NINDIR);
            h.count = n as i32;
            h.addr = vec![0; TP_NINDIR];
            for a in h.addr.iter_mut().take(n) {
                *a = 1;
            }
            self.put_header(h.clone())?;
            let mut block = [0u8; TP_BSIZE];
            for i in at..at + n {
                block.fill(0);
                let s = i * TP_BSIZE;
                let e = (s + TP_BSIZE).min(data.len());
                block[..e - s].copy_from_slice(&data[s..e]);
                self.put_data(&block)?;
            }
            at += n;
            if at >= nblocks {
                return Ok(());
            }
            h.c_type = TS_ADDR;
        }
    }

    /// The EA side record of a bsd-dump inode.
    fn write_xattrs(&mut self, base: &Header, blob: &[u8]) -> Result<()> {
        let mut h = base.clone();
        h.c_type = TS_INODE;
        h.flags |= DR_EXTATTRIBUTES;
        h.extattributes = EXT_XATTR;
        h.dinode.size = blob.len() as u64;
        self.write_small(h, blob)
    }

    fn xattr_blob(&self, e: &Entry) -> Option<Vec<u8>> {
        if self.flavor != Flavor::Bsd || (e.xattrs.is_empty() && e.acls.is_empty()) {
            return None;
        }
        let (blob, dropped) = xattr::build(&e.xattrs, &e.acls);
        if !dropped.is_empty() {
            self.host.warn(
                &format!(
                    "{}: attributes Linux restore cannot set were left out: {}",
                    e.display_path(),
                    dropped.join(", ")
                ),
                None,
            );
        }
        blob
    }

    fn write_directories(&mut self) -> Result<()> {
        let endian = self.flavor.endian();
        for idx in 0..self.nodes.len() {
            let ino = ROOTINO + idx as u32;
            let n = &self.nodes[idx];
            if n.kind != EntryKind::Dir || !n.dumped {
                continue;
            }
            let kids: Vec<(u32, &[u8], u32)> = n
                .children
                .iter()
                .map(|(c, name)| (*c, &name[..], self.node(*c).kind.ifmt()))
                .collect();
            let data = dirs::build(ino, n.parent, &kids, self.flavor.dirfmt(), endian);
            let mut h = self.header(TS_INODE, ino);
            h.dinode = self.dinode(EntryKind::Dir, n, data.len() as u64, 0);
            let xattrs = n.xattrs.clone();
            self.write_small(h.clone(), &data)?;
            if let Some(blob) = xattrs {
                self.write_xattrs(&h, &blob)?;
            }
        }
        Ok(())
    }

    // ---- files ------------------------------------------------------------------------

    /// Write the gathered segment of a file and move on to the next one.
    fn flush_segment(&mut self, f: &mut FileState) -> Result<()> {
        let n = (f.nblocks - f.seg_start).min(TP_NINDIR as u64) as usize;
        let mut h = f.header.clone();
        h.c_type = if f.seg_start == 0 { TS_INODE } else { TS_ADDR };
        h.count = n as i32;
        h.addr = vec![0; TP_NINDIR];
        for i in 0..n {
            h.addr[i] = f.present[i] as u8;
        }
        self.put_header(h)?;
        for i in 0..n {
            if f.present[i] {
                let block: Vec<u8> = f.seg[i * TP_BSIZE..(i + 1) * TP_BSIZE].to_vec();
                self.put_data(&block)?;
            }
        }
        f.seg_start += TP_NINDIR as u64;
        f.seg.fill(0);
        f.present.fill(false);
        Ok(())
    }

    fn end_file(&mut self, mut f: Box<FileState>) -> Result<()> {
        if f.nblocks == 0 {
            self.flush_segment(&mut f)?;
        }
        while f.seg_start < f.nblocks {
            self.flush_segment(&mut f)?;
        }
        if let Some(blob) = f.xattrs.take() {
            let h = f.header.clone();
            self.write_xattrs(&h, &blob)?;
        }
        Ok(())
    }
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b".", path),
    }
}

impl FormatWriter for DumpWriter {
    fn capabilities(&self) -> Capabilities {
        let irix = self.flavor == Flavor::Irix;
        Capabilities {
            max_path: None,
            max_name: Some(255),
            uid_max: Some(if irix { 65535 } else { u32::MAX as u64 }),
            gid_max: Some(if irix { 65535 } else { u32::MAX as u64 }),
            time_min: Some(i32::MIN as i64),
            time_max: Some(i32::MAX as i64),
            time_precision_ns: if irix { 1_000_000_000 } else { 1000 },
            atime: true,
            ctime: true,
            birth: false,
            max_file_size: if irix { Some(i32::MAX as u64) } else { None },
            kinds: KindSet::ALL,
            xattrs: !irix,
            acls: !irix,
            holes: true,
            levels: true,
            user_names: false,
            rdev_major_max: Some(if irix { 0x3fff } else { 0xfff }),
            rdev_minor_max: Some(if irix { 0x3ffff } else { 0xfffff }),
            extras: vec![],
            needs_catalog: true,
            ..Capabilities::unlimited()
        }
    }

    fn begin_archive(&mut self, volume: &VolumeInfo) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.dump_date = self
            .opts
            .date
            .or(volume.date.map(|t| t.secs))
            .unwrap_or(now);
        if self.dump_date < 0 || self.dump_date > i32::MAX as i64 {
            return Err(Error::config(format!(
                "dump date {} does not fit the 32-bit header",
                self.dump_date
            )));
        }
        self.filesystem = self
            .opts
            .filesystem
            .clone()
            .or(volume.filesystem.clone())
            .unwrap_or_else(|| b"an unlisted file system".to_vec());
        self.filesystem.truncate(NAMELEN - 1);
        if self.opts.level > 0 {
            if let Some(path) = &self.opts.dumpdates {
                let table = dumpdates::read(path)?;
                self.base_date = table
                    .base_date(&self.filesystem, self.opts.level)
                    .unwrap_or(0);
                self.host.log(
                    LogLevel::Info,
                    &format!(
                        "level {} dump of {}: {}",
                        self.opts.level,
                        String::from_utf8_lossy(&self.filesystem),
                        if self.base_date == 0 {
                            "no lower level in the dumpdates file, everything is dumped".into()
                        } else {
                            format!("changes since {}", dumpdates::ctime(self.base_date))
                        }
                    ),
                );
            }
        }
        let mut t = Header {
            date: self.dump_date,
            ddate: self.base_date,
            level: self.opts.level as i32,
            label: self.opts.label.clone().unwrap_or_else(|| b"none".to_vec()),
            filesys: self.filesystem.clone(),
            dev: self
                .opts
                .device
                .clone()
                .unwrap_or_else(|| self.filesystem.clone()),
            host: self
                .opts
                .host
                .clone()
                .or(volume.host.clone())
                .unwrap_or_else(host_name),
            flags: self.flavor.flags(),
            ..Header::default()
        };
        if self.flavor == Flavor::Bsd {
            t.ntrec = self.opts.ntrec as i32;
        }
        t.host.truncate(NAMELEN - 1);
        t.dev.truncate(NAMELEN - 1);
        self.template = t;
        // the root
        let mut root = self.synthetic_dir(ROOTINO);
        root.dumped = true;
        self.nodes.push(root);
        Ok(())
    }

    fn catalog_entry(&mut self, e: &Entry) -> Result<()> {
        let Some(path) = self.dump_path(&e.path) else {
            return Ok(());
        };
        if path == b"." {
            if e.kind == EntryKind::Dir {
                let mut root = self.nodes[0].clone();
                self.fill_node(&mut root, e);
                root.synthetic = false;
                root.xattrs = self.xattr_blob(e);
                self.nodes[0] = root;
            }
            return Ok(());
        }
        if let Some(&ino) = self.paths.get(&path) {
            let synthetic_dir = {
                let n = self.node(ino);
                n.synthetic && n.kind == EntryKind::Dir
            };
            if synthetic_dir && e.kind == EntryKind::Dir {
                let mut n = self.node(ino).clone();
                self.fill_node(&mut n, e);
                n.synthetic = false;
                n.changed = self.is_changed(e);
                n.xattrs = self.xattr_blob(e);
                *self.node_mut(ino) = n;
            } else {
                self.host.warn(
                    &format!(
                        "{}: a second entry with this name; left out",
                        e.display_path()
                    ),
                    None,
                );
            }
            return Ok(());
        }
        let (parent_path, name) = split(&path);
        let (parent_path, name) = (parent_path.to_vec(), name.to_vec());
        if name.is_empty() || name.len() > 255 {
            return Ok(());
        }
        let parent = self.dir_ino(&parent_path)?;
        if e.kind == EntryKind::HardLink {
            let target = e
                .link_target
                .as_deref()
                .and_then(|t| {
                    let t = normalize_path(t);
                    let t = if t.first() == Some(&b'/') {
                        normalize_path(&t[1..])
                    } else {
                        t
                    };
                    self.paths.get(&t).copied()
                })
                .filter(|&t| self.node(t).kind != EntryKind::Dir);
            let Some(target) = target else {
                self.host.warn(
                    &format!(
                        "{}: hard link to an entry that is not in the dump; left out",
                        e.display_path()
                    ),
                    None,
                );
                return Ok(());
            };
            self.node_mut(target).nlink += 1;
            self.paths.insert(path.clone(), target);
            self.node_mut(parent)
                .children
                .push((target, name.clone().into()));
            return Ok(());
        }
        let ino = self.next_ino()?;
        let mut n = self.synthetic_dir(parent);
        n.kind = e.kind;
        n.synthetic = false;
        n.nlink = if e.kind == EntryKind::Dir { 2 } else { 1 };
        self.fill_node(&mut n, e);
        n.changed = self.is_changed(e);
        if e.kind == EntryKind::Dir {
            n.xattrs = self.xattr_blob(e);
            self.node_mut(parent).nlink += 1;
        }
        self.nodes.push(n);
        self.paths.insert(path, ino);
        self.node_mut(parent).children.push((ino, name.into()));
        Ok(())
    }

    fn end_catalog(&mut self) -> Result<()> {
        // dumped: changed entries, every directory that names a dumped inode (so all names
        // of a dumped hard link come back), the root. Subdirectories have higher numbers
        // than their parents, so one pass from the top settles everything.
        for idx in (0..self.nodes.len()).rev() {
            let n = &self.nodes[idx];
            let mut dumped = n.dumped || n.changed;
            if n.kind == EntryKind::Dir && !dumped {
                dumped = n
                    .children
                    .iter()
                    .any(|(c, _)| self.nodes[(*c - ROOTINO) as usize].dumped);
            }
            self.nodes[idx].dumped = dumped;
        }
        self.nodes[0].dumped = true;
        let mut tape = self.header(TS_TAPE, 0);
        tape.flags |= DR_NEWHEADER;
        if self.flavor == Flavor::Bsd {
            tape.firstrec = 0;
        }
        tape.count = 0;
        self.put_header(tape)?;
        self.write_map(TS_CLRI, false)?;
        self.write_map(TS_BITS, true)?;
        self.write_directories()?;
        self.catalog_done = true;
        self.host.log(
            LogLevel::Info,
            &format!(
                "{} inodes, {} dumped",
                self.nodes.len(),
                self.nodes.iter().filter(|n| n.dumped).count()
            ),
        );
        Ok(())
    }

    fn begin_entry(&mut self, e: &Entry) -> Result<()> {
        if !self.catalog_done {
            return Err(Error::internal(
                "the dump writer needs the catalog pass before the data",
            ));
        }
        self.state = State::Skip;
        let Some(path) = self.dump_path(&e.path) else {
            return Ok(());
        };
        if matches!(e.kind, EntryKind::Dir | EntryKind::HardLink) {
            return Ok(());
        }
        let Some(&ino) = self.paths.get(&path) else {
            self.host.warn(
                &format!(
                    "{}: not seen in the catalog pass (the source changed?); left out",
                    e.display_path()
                ),
                None,
            );
            return Ok(());
        };
        let n = self.node(ino).clone();
        if n.kind != e.kind || !n.dumped || ino <= self.last_ino {
            if ino <= self.last_ino && n.dumped && n.kind == e.kind {
                return Err(Error::internal(format!(
                    "{}: entries came in another order than in the catalog pass",
                    e.display_path()
                )));
            }
            return Ok(());
        }
        self.last_ino = ino;
        self.entries += 1;
        let mut meta = n.clone();
        self.fill_node(&mut meta, e);
        let mut h = self.header(TS_INODE, ino);
        match e.kind {
            EntryKind::File => {
                let size = if e.data == DataState::None { 0 } else { e.size };
                h.dinode = self.dinode(EntryKind::File, &meta, size, 0);
                let nblocks = size.div_ceil(TP_BSIZE as u64);
                let xattrs = self.xattr_blob(e);
                self.state = State::File(Box::new(FileState {
                    ino,
                    header: h,
                    nblocks,
                    seg_start: 0,
                    seg: vec![0; TP_NINDIR * TP_BSIZE],
                    present: vec![false; TP_NINDIR],
                    xattrs,
                }));
            }
            EntryKind::Symlink => {
                let target = e.link_target.clone().unwrap_or_default();
                h.dinode = self.dinode(EntryKind::Symlink, &meta, target.len() as u64, 0);
                self.write_small(h.clone(), &target)?;
                if let Some(blob) = self.xattr_blob(e) {
                    self.write_xattrs(&h, &blob)?;
                }
            }
            kind => {
                let rdev = e
                    .rdev
                    .map(|d| self.flavor.encode_rdev(d.major, d.minor))
                    .unwrap_or(0);
                h.dinode = self.dinode(kind, &meta, 0, rdev);
                h.count = 0;
                self.put_header(h.clone())?;
                if let Some(blob) = self.xattr_blob(e) {
                    self.write_xattrs(&h, &blob)?;
                }
            }
        }
        Ok(())
    }

    fn write_data(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let State::File(mut f) = std::mem::replace(&mut self.state, State::Skip) else {
            return Ok(());
        };
        let size = f.header.dinode.size;
        let mut pos = offset;
        let end = (offset + data.len() as u64).min(size);
        while pos < end {
            let block = pos / TP_BSIZE as u64;
            while block >= f.seg_start + TP_NINDIR as u64 {
                self.flush_segment(&mut f)?;
            }
            let in_seg = (block - f.seg_start) as usize;
            let within = (pos % TP_BSIZE as u64) as usize;
            let n = ((TP_BSIZE - within) as u64).min(end - pos) as usize;
            let src = (pos - offset) as usize;
            let at = in_seg * TP_BSIZE + within;
            f.seg[at..at + n].copy_from_slice(&data[src..src + n]);
            f.present[in_seg] = true;
            pos += n as u64;
        }
        self.state = State::File(f);
        Ok(())
    }

    fn write_hole(&mut self, _offset: u64, _len: u64) -> Result<()> {
        // blocks nobody writes stay holes (c_addr 0)
        Ok(())
    }

    fn end_entry(&mut self) -> Result<()> {
        if let State::File(f) = std::mem::replace(&mut self.state, State::Idle) {
            let _ = f.ino;
            self.end_file(f)?;
        }
        self.state = State::Idle;
        Ok(())
    }

    fn finish(&mut self) -> Result<WriteSummary> {
        if !self.catalog_done {
            // an empty source: still a valid dump of an empty root
            self.end_catalog()?;
        }
        let end = self.header(TS_END, 0);
        self.put_header(end.clone())?;
        while self.sink.in_record() != 0 {
            self.put_header(end.clone())?;
        }
        self.sink.finish()?;
        if let Some(path) = &self.opts.dumpdates {
            dumpdates::record(path, &self.filesystem, self.opts.level, self.dump_date)?;
        }
        let mut notes = vec![format!(
            "{} level {}, blocking factor {}, {} blocks",
            self.flavor.id(),
            self.opts.level,
            self.sink.ntrec(),
            self.sink.tapea
        )];
        if self.base_date != 0 {
            notes.push(format!(
                "incremental since {}",
                dumpdates::ctime(self.base_date)
            ));
        }
        Ok(WriteSummary {
            entries: self.entries,
            bytes: self.sink.bytes,
            volumes: self.sink.volume,
            notes,
        })
    }
}
