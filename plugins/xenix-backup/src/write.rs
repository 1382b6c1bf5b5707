//! The writer: [`XenixWriter`] makes a XENIX `backup` (V7 dump family) from model entries.
//!
//! A dump needs the whole tree before the first file: maps of every inode, then every
//! directory, then the files, in inode order. So the writer asks for a catalog pass
//! ([`Capabilities::needs_catalog`]): [`FormatWriter::catalog_entry`] numbers the inodes
//! (root = 2, then in catalog order; hard links share their target's number), builds each
//! directory's 16-byte entries and counts links; missing parent directories are made up
//! (mode 0755, the dump date). [`FormatWriter::end_catalog`] writes TS_TAPE, TS_CLRI and
//! TS_BITS with their maps and every directory. The data pass then writes one TS_INODE per
//! file, device or FIFO in the order it comes (the catalog order, so inode numbers ascend);
//! directories and hard links of the data pass add nothing, their names are already in the
//! directories.
//!
//! File data follows V7 `dump` (`icat`, `dmpspc`, `indir`): the TS_INODE header carries 10
//! flags for the direct blocks; every further NINDIR blocks get a TS_ADDR header, emitted for
//! every indirect block up to the file's size even when all its flags are zero (V7 left those
//! out, which breaks the positional mapping; research note §2.1). A block that is entirely a
//! hole has flag 0 and no data record. The inode's di_addr gets made-up nonzero addresses
//! where data and indirect blocks exist (readers that look at them see a consistent inode;
//! restore rebuilds its own). To flag a header's blocks before the header, one header's worth
//! of blocks is held in memory (at most 256 x 1 KiB).
//!
//! Blocks go out in 10240-byte records (NTREC x BSIZE). When a record brings the volume to
//! its size (`volume-size`) or the medium reports early warning, the next block opens the
//! next volume through [`Medium::next_volume`]: a TS_TAPE with the next volume number and
//! the running c_tapea, and a TS_BITS again before the next inode (as V7 `dump` does); data
//! of the file in progress simply continues. The dump ends with TS_END blocks up to the end
//! of the record (at least one).
//!
//! What does not fit (names over 14 bytes, ids over 65535, symlinks, sockets, xattrs, files
//! over the size limit, sub-second times) is declared in [`capabilities`], so the engine
//! reports it and `--strict` refuses; the writer trusts its input fits.

use std::collections::HashMap;

use relic_model::{
    Capabilities, Charset, Entry, EntryKind, Error, FormatWriter, KindSet, LogLevel, Medium,
    Result, VolumeInfo, WriteSummary,
};
use relic_plugin_sdk::HostHandle;

use crate::layout::{
    ByteOrder, Dinode, Header, Shape, Variant, DIRENT_SIZE, DIRSIZ, IFBLK, IFCHR, IFDIR, IFIFO,
    IFREG, MSIZ, NDIRECT, RECORD_BYTES, ROOTINO, TS_ADDR, TS_BITS, TS_CLRI, TS_END, TS_INODE,
    TS_TAPE,
};

/// The highest inode number a 16-bit c_inumber and d_ino can hold.
pub const MAX_INO: u32 = 65535;

/// Writer options.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Byte order and block size (the shape is always `Short`).
    pub variant: Variant,
    /// Bytes per volume (a floppy's capacity): the writer changes volumes before a record
    /// would pass it.
    pub volume_size: Option<u64>,
    /// The dump date (c_date); default: the source's date, else now.
    pub dump_date: Option<i64>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            variant: Variant::XENIX_512,
            volume_size: None,
            dump_date: None,
        }
    }
}

/// Floppy capacities by their usual names (a "1.44M" floppy holds 1440 KiB, not 1.44 MiB).
pub fn parse_volume_size(s: &str) -> Option<u64> {
    match s.trim().to_ascii_lowercase().as_str() {
        "360k" => Some(360 * 1024),
        "720k" => Some(720 * 1024),
        "1.2m" | "1.2mb" | "1200k" => Some(1200 * 1024),
        "1.44m" | "1.44mb" | "1440k" => Some(1440 * 1024),
        other => relic_plugin_sdk::options::parse_size(other),
    }
}

/// What a XENIX backup can hold.
pub fn capabilities(v: &Variant) -> Capabilities {
    let mut kinds = vec![
        EntryKind::File,
        EntryKind::Dir,
        EntryKind::HardLink,
        EntryKind::CharDevice,
        EntryKind::BlockDevice,
    ];
    // XENIX (System III/V) has named pipes; V7 and 2.9BSD on the PDP-11 have none.
    if v.order != ByteOrder::Pdp11 {
        kinds.push(EntryKind::Fifo);
    }
    Capabilities {
        max_path: None,
        max_name: Some(DIRSIZ as u32),
        charset: Charset::Bytes,
        uid_max: Some(65535),
        gid_max: Some(65535),
        time_min: Some(i64::from(i32::MIN)),
        time_max: Some(i64::from(i32::MAX)),
        time_precision_ns: 1_000_000_000,
        atime: true,
        ctime: true,
        birth: false,
        max_file_size: Some(v.max_file_size()),
        kinds: KindSet::of(&kinds),
        xattrs: false,
        acls: false,
        holes: true,
        levels: false,
        user_names: false,
        rdev_major_max: Some(255),
        rdev_minor_max: Some(255),
        extras: vec![],
        needs_catalog: true,
    }
}

/// Records on the medium, volume changes, c_tapea.
struct Tape<M: Medium> {
    medium: M,
    v: Variant,
    date: i32,
    record: Vec<u8>,
    filled: usize,
    tapea: u32,
    volume: u32,
    vol_bytes: u64,
    volume_size: Option<u64>,
    /// The last record filled the volume: the next block opens a new one.
    full: bool,
    /// A new volume began: a TS_BITS is due before the next inode.
    bits_pending: bool,
    /// Blocks of this volume other than its TS_TAPE and TS_BITS.
    vol_payload: u64,
    /// Inode being written (for the c_inumber of a continuation volume header).
    cur_ino: u32,
    records: u64,
    scratch: Vec<u8>,
}

impl<M: Medium> Tape<M> {
    fn new(medium: M, v: Variant, volume_size: Option<u64>) -> Tape<M> {
        Tape {
            medium,
            v,
            date: 0,
            record: vec![0u8; RECORD_BYTES],
            filled: 0,
            tapea: 0,
            volume: 1,
            vol_bytes: 0,
            volume_size,
            full: false,
            bits_pending: false,
            vol_payload: 0,
            cur_ino: 0,
            records: 0,
            scratch: vec![0u8; v.bsize],
        }
    }

    fn offset(&self) -> u64 {
        self.vol_bytes + self.filled as u64
    }

    fn ready(&mut self) -> Result<()> {
        if self.full {
            self.change_volume()?;
        }
        Ok(())
    }

    /// One block (exactly BSIZE bytes). `payload` = not volume overhead.
    fn push(&mut self, block: &[u8], payload: bool) -> Result<()> {
        self.ready()?;
        let b = self.v.bsize;
        self.record[self.filled..self.filled + b].copy_from_slice(&block[..b]);
        self.filled += b;
        self.tapea = self.tapea.wrapping_add(1);
        if payload {
            self.vol_payload += 1;
        }
        if self.filled == self.record.len() {
            self.flush()?;
        }
        Ok(())
    }

    /// A header block: c_date, c_volume and c_tapea are filled in here.
    fn header(&mut self, mut h: Header, flags: &[u8], payload: bool) -> Result<()> {
        self.ready()?;
        h.date = self.date;
        h.volume = self.volume;
        h.tapea = self.tapea;
        let mut blk = std::mem::take(&mut self.scratch);
        self.v.encode(&h, flags, &mut blk);
        let r = self.push(&blk, payload);
        self.scratch = blk;
        r
    }

    fn flush(&mut self) -> Result<()> {
        let at = self.vol_bytes;
        let st = self.medium.write_record(&self.record).map_err(|e| {
            if e.offset.is_none() {
                e.at(at)
            } else {
                e
            }
        })?;
        let rec = self.record.len() as u64;
        self.vol_bytes += rec;
        self.filled = 0;
        self.records += 1;
        if st.early_warning || self.volume_size.is_some_and(|vs| self.vol_bytes + rec > vs) {
            self.full = true;
        }
        Ok(())
    }

    fn change_volume(&mut self) -> Result<()> {
        self.full = false;
        if self.volume > 1 && self.vol_payload == 0 {
            return Err(Error::config(format!(
                "volume {} holds nothing but its volume header and map: the volume size is too small \
                 (at least two {RECORD_BYTES}-byte records are needed)",
                self.volume
            )));
        }
        let n = self.volume + 1;
        if !self.medium.next_volume(n)? {
            return Err(Error::media(format!(
                "volume {} is full and the output offers no volume {n}: write a numbered set \
                 (OUT.%03d), name further volumes, or use --next-volume",
                self.volume
            )));
        }
        self.volume = n;
        self.vol_bytes = 0;
        self.vol_payload = 0;
        let h = Header {
            c_type: TS_TAPE,
            inumber: self.cur_ino,
            ..Header::default()
        };
        self.header(h, &[], false)?;
        self.bits_pending = true;
        Ok(())
    }

    /// TS_END up to the end of the record (at least one), then finish the medium.
    fn finish(&mut self) -> Result<()> {
        loop {
            let h = Header {
                c_type: TS_END,
                inumber: self.cur_ino,
                ..Header::default()
            };
            self.header(h, &[], true)?;
            if self.filled == 0 {
                break;
            }
        }
        self.medium.finish()
    }
}

/// What an inode of the catalog is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Dir,
    File,
    Special,
}

struct Node {
    kind: NodeKind,
    dinode: Dinode,
    parent: u32,
    names: u32,
    children: Vec<([u8; DIRSIZ], u8, u32)>,
    written: bool,
}

/// The file being written: one header's worth of blocks is held until it is complete.
struct Current {
    ino: u32,
    dinode: Dinode,
    size: u64,
    /// Next offset the data may start at.
    pos: u64,
    seg: u64,
    buf: Vec<u8>,
    flags: Vec<u8>,
    path: Vec<u8>,
}

/// The writer.
pub struct XenixWriter<M: Medium> {
    tape: Option<Tape<M>>,
    v: Variant,
    host: HostHandle,
    opts: WriteOptions,
    nodes: Vec<Option<Node>>,
    paths: HashMap<Vec<u8>, u32>,
    dirs_written: bool,
    began: bool,
    cur: Option<Current>,
    entries: u64,
    bytes: u64,
    fake_block: u32,
    volumes: u32,
    records: u64,
    finished: bool,
}

/// Path components, without a leading `/` or `.`; `None` when a `..` makes it leave the tree.
fn components(path: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn time_of(t: Option<relic_model::Timestamp>, default: i32) -> i32 {
    t.map(|t| t.secs.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
        .unwrap_or(default)
}

impl<M: Medium> XenixWriter<M> {
    pub fn new(medium: M, opts: WriteOptions, host: HostHandle) -> Result<XenixWriter<M>> {
        let v = opts.variant;
        if v.shape != Shape::Short || !matches!(v.bsize, 512 | 1024) {
            return Err(Error::config(format!(
                "relic writes the short-field layout with 512- or 1024-byte blocks, not {}",
                v.name()
            )));
        }
        if let Some(vs) = opts.volume_size {
            if vs < 2 * RECORD_BYTES as u64 {
                return Err(Error::config(format!(
                    "volume-size {vs} is too small: a volume holds whole {RECORD_BYTES}-byte records, at least two"
                )));
            }
        }
        let mut w = XenixWriter {
            tape: Some(Tape::new(medium, v, opts.volume_size)),
            v,
            host,
            opts,
            nodes: Vec::new(),
            paths: HashMap::new(),
            dirs_written: false,
            began: false,
            cur: None,
            entries: 0,
            bytes: 0,
            fake_block: 100,
            volumes: 0,
            records: 0,
            finished: false,
        };
        w.nodes.resize_with(ROOTINO as usize + 1, || None);
        Ok(w)
    }

    /// The medium, once the writer has finished (tests look at what was written).
    pub fn into_medium(self) -> Option<M> {
        self.tape.map(|t| t.medium)
    }

    fn tape(&mut self) -> Result<&mut Tape<M>> {
        self.tape
            .as_mut()
            .ok_or_else(|| Error::internal("the XENIX writer is already finished"))
    }

    fn date(&self) -> i32 {
        self.tape.as_ref().map(|t| t.date).unwrap_or(0)
    }

    fn node(&self, ino: u32) -> Option<&Node> {
        self.nodes.get(ino as usize).and_then(|n| n.as_ref())
    }

    fn node_mut(&mut self, ino: u32) -> Option<&mut Node> {
        self.nodes.get_mut(ino as usize).and_then(|n| n.as_mut())
    }

    fn next_fake(&mut self) -> u32 {
        let b = self.fake_block;
        self.fake_block = if b >= 0x00ff_ffff { 100 } else { b + 1 };
        b
    }

    fn dinode_of(&self, e: &Entry, ifmt: u16) -> Dinode {
        let date = self.date();
        let mut d = Dinode {
            mode: ifmt | (e.mode & 0o7777) as u16,
            nlink: 1,
            uid: e.uid.min(65535) as u16,
            gid: e.gid.min(65535) as u16,
            size: 0,
            addr: [0; 13],
            mtime: time_of(e.mtime, date),
            atime: time_of(e.atime.or(e.mtime), date),
            ctime: time_of(e.ctime.or(e.mtime), date),
        };
        if matches!(e.kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            if let Some(dev) = e.rdev {
                d.set_device(dev);
            }
        }
        d
    }

    fn alloc(&mut self, node: Node) -> Result<u32> {
        let ino = self.nodes.len() as u32;
        if ino > MAX_INO {
            return Err(Error::unsupported(format!(
                "more than {} inodes: XENIX backup numbers inodes with 16 bits",
                MAX_INO - ROOTINO + 1
            )));
        }
        self.nodes.push(Some(node));
        Ok(ino)
    }

    fn add_child(&mut self, dir: u32, name: &[u8], ino: u32) {
        let mut n = [0u8; DIRSIZ];
        let len = name.len().min(DIRSIZ);
        n[..len].copy_from_slice(&name[..len]);
        if let Some(d) = self.node_mut(dir) {
            d.children.push((n, len as u8, ino));
        }
    }

    fn new_dir_node(&self, parent: u32, dinode: Dinode) -> Node {
        Node {
            kind: NodeKind::Dir,
            dinode,
            parent,
            names: 1,
            children: Vec::new(),
            written: false,
        }
    }

    /// The directory at `comps`, made up (with its parents) when the catalog has none.
    fn ensure_dirs(&mut self, comps: &[&[u8]]) -> Result<Option<u32>> {
        let mut cur = ROOTINO;
        for i in 0..comps.len() {
            let key = comps[..=i].join(&b'/');
            match self.paths.get(&key) {
                Some(&ino) => {
                    if self.node(ino).map(|n| n.kind) != Some(NodeKind::Dir) {
                        return Ok(None);
                    }
                    cur = ino;
                }
                None => {
                    let date = self.date();
                    let d = Dinode {
                        mode: IFDIR | 0o755,
                        nlink: 2,
                        mtime: date,
                        atime: date,
                        ctime: date,
                        ..Dinode::default()
                    };
                    let node = self.new_dir_node(cur, d);
                    let ino = self.alloc(node)?;
                    self.add_child(cur, comps[i], ino);
                    self.paths.insert(key, ino);
                    cur = ino;
                }
            }
        }
        Ok(Some(cur))
    }

    fn warn(&self, msg: &str) {
        self.host.warn(msg, None);
    }

    /// Open a file's data (or a directory's).
    fn start(&mut self, ino: u32, dinode: Dinode, size: u64, path: &[u8]) -> Result<()> {
        self.tape()?.cur_ino = ino;
        self.cur = Some(Current {
            ino,
            dinode,
            size,
            pos: 0,
            seg: 0,
            buf: vec![0u8; NDIRECT * self.v.bsize],
            flags: vec![0u8; NDIRECT],
            path: path.to_vec(),
        });
        Ok(())
    }

    /// First block and number of blocks of segment `s` (0 = TS_INODE, then TS_ADDRs).
    fn seg_range(&self, s: u64) -> (u64, u64) {
        let n = self.v.nindir() as u64;
        if s == 0 {
            (0, NDIRECT as u64)
        } else {
            (NDIRECT as u64 + (s - 1) * n, n)
        }
    }

    fn seg_of(&self, block: u64) -> u64 {
        if block < NDIRECT as u64 {
            0
        } else {
            1 + (block - NDIRECT as u64) / self.v.nindir() as u64
        }
    }

    /// A TS_BITS again at the start of a new volume, before the next inode.
    fn bits_if_due(&mut self) -> Result<()> {
        if self.tape()?.bits_pending {
            self.tape()?.bits_pending = false;
            self.write_map(TS_BITS, false)?;
        }
        Ok(())
    }

    /// Write the current segment: its header and its data blocks; then start the next.
    fn flush_seg(&mut self) -> Result<()> {
        let Some(mut c) = self.cur.take() else {
            return Ok(());
        };
        let b = self.v.bsize;
        let n = self.v.nindir() as u64;
        if c.seg == 0 {
            self.bits_if_due()?;
            // made-up addresses where blocks exist, so the inode agrees with its flags
            for i in 0..NDIRECT {
                c.dinode.addr[i] = if c.flags[i] != 0 { self.next_fake() } else { 0 };
            }
            let blocks = c.size.div_ceil(b as u64);
            let ranges = [
                NDIRECT as u64,
                NDIRECT as u64 + n,
                NDIRECT as u64 + n + n * n,
            ];
            for (k, start) in ranges.iter().enumerate() {
                c.dinode.addr[NDIRECT + k] = if blocks > *start { self.next_fake() } else { 0 };
            }
        }
        let h = Header {
            c_type: if c.seg == 0 { TS_INODE } else { TS_ADDR },
            inumber: c.ino,
            dinode: c.dinode,
            count: c.flags.len() as u32,
            ..Header::default()
        };
        let tape = self
            .tape
            .as_mut()
            .ok_or_else(|| Error::internal("the XENIX writer is already finished"))?;
        tape.header(h, &c.flags, true)?;
        for (i, &f) in c.flags.iter().enumerate() {
            if f != 0 {
                tape.push(&c.buf[i * b..(i + 1) * b], true)?;
            }
        }
        c.seg += 1;
        let cap = self.seg_range(c.seg).1 as usize;
        c.buf.clear();
        c.buf.resize(cap * b, 0);
        c.flags.clear();
        c.flags.resize(cap, 0);
        self.cur = Some(c);
        Ok(())
    }

    fn check_order(&self, c: &Current, offset: u64, len: u64) -> Result<()> {
        if offset < c.pos {
            return Err(Error::internal(format!(
                "data at {offset} after data up to {}: chunks must come in order",
                c.pos
            ))
            .entry(&c.path));
        }
        if offset.saturating_add(len) > c.size {
            return Err(Error::internal(format!(
                "{len} bytes at {offset} go past the entry's size {}",
                c.size
            ))
            .entry(&c.path));
        }
        Ok(())
    }

    fn data(&mut self, offset: u64, mut data: &[u8]) -> Result<()> {
        let b = self.v.bsize as u64;
        {
            let Some(c) = self.cur.as_ref() else {
                return Ok(());
            };
            self.check_order(c, offset, data.len() as u64)?;
        }
        let mut off = offset;
        while !data.is_empty() {
            let block = off / b;
            let seg = self.seg_of(block);
            while self.cur.as_ref().is_some_and(|c| c.seg < seg) {
                self.flush_seg()?;
            }
            let (first, count) = self.seg_range(seg);
            let Some(c) = self.cur.as_mut() else {
                return Ok(());
            };
            let seg_end = (first + count) * b;
            let n = ((seg_end - off) as usize).min(data.len());
            let at = (off - first * b) as usize;
            c.buf[at..at + n].copy_from_slice(&data[..n]);
            let (fb, lb) = (
                (off / b - first) as usize,
                ((off + n as u64 - 1) / b - first) as usize,
            );
            for f in &mut c.flags[fb..=lb] {
                *f = 1;
            }
            off += n as u64;
            c.pos = off;
            data = &data[n..];
        }
        Ok(())
    }

    /// Close the current file: its remaining segments, empty TS_ADDRs included.
    fn end(&mut self) -> Result<()> {
        let Some(c) = self.cur.as_ref() else {
            return Ok(());
        };
        let b = self.v.bsize as u64;
        let blocks = c.size.div_ceil(b);
        let last_seg = if blocks <= NDIRECT as u64 {
            0
        } else {
            self.seg_of(blocks - 1)
        };
        while self.cur.as_ref().is_some_and(|c| c.seg <= last_seg) {
            self.flush_seg()?;
        }
        if let Some(c) = self.cur.take() {
            if let Some(n) = self.node_mut(c.ino) {
                n.written = true;
            }
        }
        Ok(())
    }

    /// A TS_CLRI or TS_BITS with its map: every inode of the catalog.
    fn write_map(&mut self, c_type: u32, payload: bool) -> Result<()> {
        let v = self.v;
        let mut map = vec![0u8; MSIZ * 2];
        let mut max = 0u32;
        for (i, n) in self.nodes.iter().enumerate() {
            if n.is_some() {
                v.set_map_bit(&mut map, i as u32);
                max = i as u32;
            }
        }
        let last = (0..MSIZ)
            .rev()
            .find(|&w| map[2 * w] != 0 || map[2 * w + 1] != 0)
            .unwrap_or(0);
        let blocks = v.map_blocks(last);
        map.resize(blocks * v.bsize, 0);
        let h = Header {
            c_type,
            inumber: max,
            count: blocks as u32,
            ..Header::default()
        };
        let tape = self.tape()?;
        tape.header(h, &[], payload)?;
        for blk in map.chunks_exact(v.bsize) {
            tape.push(blk, payload)?;
        }
        Ok(())
    }

    /// The start of the dump: TS_TAPE, TS_CLRI, TS_BITS and every directory.
    fn write_directories(&mut self) -> Result<()> {
        if self.dirs_written {
            return Ok(());
        }
        self.dirs_written = true;
        let h = Header {
            c_type: TS_TAPE,
            ..Header::default()
        };
        self.tape()?.header(h, &[], false)?;
        self.write_map(TS_CLRI, true)?;
        self.write_map(TS_BITS, true)?;
        let b = self.v.bsize;
        for ino in 0..self.nodes.len() as u32 {
            let Some(node) = self.node(ino) else { continue };
            if node.kind != NodeKind::Dir {
                continue;
            }
            let mut data = vec![0u8; (node.children.len() + 2) * DIRENT_SIZE];
            let parent = if ino == ROOTINO { ROOTINO } else { node.parent };
            self.v.put_dirent(&mut data[0..], ino, b".");
            self.v.put_dirent(&mut data[DIRENT_SIZE..], parent, b"..");
            let mut subdirs = 0u32;
            for (i, (name, len, child)) in node.children.iter().enumerate() {
                self.v.put_dirent(
                    &mut data[(i + 2) * DIRENT_SIZE..],
                    *child,
                    &name[..*len as usize],
                );
                if self.node(*child).map(|n| n.kind) == Some(NodeKind::Dir) {
                    subdirs += 1;
                }
            }
            let mut d = node.dinode;
            d.size = data.len() as u32;
            d.nlink = (2 + subdirs).min(65535) as u16;
            self.start(ino, d, data.len() as u64, b"directory")?;
            for (i, chunk) in data.chunks(b).enumerate() {
                self.data((i * b) as u64, chunk)?;
            }
            self.end()?;
        }
        Ok(())
    }

    /// A device or FIFO: a TS_INODE and nothing else.
    fn special(&mut self, ino: u32, d: Dinode) -> Result<()> {
        self.bits_if_due()?;
        let tape = self.tape()?;
        tape.cur_ino = ino;
        let h = Header {
            c_type: TS_INODE,
            inumber: ino,
            dinode: d,
            count: 0,
            ..Header::default()
        };
        tape.header(h, &[], true)?;
        if let Some(n) = self.node_mut(ino) {
            n.written = true;
        }
        Ok(())
    }
}

impl<M: Medium> FormatWriter for XenixWriter<M> {
    fn capabilities(&self) -> Capabilities {
        capabilities(&self.v)
    }

    fn begin_archive(&mut self, volume: &VolumeInfo) -> Result<()> {
        if self.began {
            return Ok(());
        }
        self.began = true;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let date = self
            .opts
            .dump_date
            .or(volume.date.map(|d| d.secs))
            .unwrap_or(now)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        self.tape()?.date = date;
        let d = Dinode {
            mode: IFDIR | 0o755,
            nlink: 2,
            mtime: date,
            atime: date,
            ctime: date,
            ..Dinode::default()
        };
        let root = self.new_dir_node(ROOTINO, d);
        self.nodes[ROOTINO as usize] = Some(root);
        self.host.log(
            LogLevel::Info,
            &format!(
                "writing {} ({}), dump date {}",
                self.v.family(),
                self.v.name(),
                relic_model::time::format_utc(i64::from(date))
            ),
        );
        Ok(())
    }

    fn catalog_entry(&mut self, e: &Entry) -> Result<()> {
        if !self.began {
            self.begin_archive(&VolumeInfo::default())?;
        }
        let shown = relic_model::listing::escape(&e.path);
        let Some(comps) = components(&e.path) else {
            self.warn(&format!(
                "'{shown}': a path with '..' has no place in a dump's tree; left out"
            ));
            return Ok(());
        };
        if e.path.first() == Some(&b'/') && !comps.is_empty() {
            self.warn(&format!("'{shown}': leading '/' removed"));
        }
        let Some((name, parents)) = comps.split_last() else {
            // the root itself
            if e.kind == EntryKind::Dir {
                let mut d = self.dinode_of(e, IFDIR);
                d.nlink = 2;
                if let Some(r) = self.node_mut(ROOTINO) {
                    r.dinode = d;
                }
            }
            return Ok(());
        };
        if name.len() > DIRSIZ || name.contains(&0) {
            self.warn(&format!(
                "'{shown}': the name does not fit a 14-byte directory entry; left out"
            ));
            return Ok(());
        }
        let Some(parent) = self.ensure_dirs(parents)? else {
            self.warn(&format!("'{shown}': a parent is not a directory; left out"));
            return Ok(());
        };
        let key = comps.join(&b'/');
        if let Some(&ino) = self.paths.get(&key) {
            let is_dir = self.node(ino).map(|n| n.kind) == Some(NodeKind::Dir);
            if e.kind == EntryKind::Dir && is_dir {
                let d = self.dinode_of(e, IFDIR);
                if let Some(n) = self.node_mut(ino) {
                    n.dinode = d;
                }
            } else {
                self.warn(&format!("'{shown}' appears twice; the first is kept"));
            }
            return Ok(());
        }
        let ino = match e.kind {
            EntryKind::Dir => {
                let node = self.new_dir_node(parent, self.dinode_of(e, IFDIR));
                self.alloc(node)?
            }
            EntryKind::File | EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo => {
                let (kind, ifmt) = match e.kind {
                    EntryKind::File => (NodeKind::File, IFREG),
                    EntryKind::CharDevice => (NodeKind::Special, IFCHR),
                    EntryKind::BlockDevice => (NodeKind::Special, IFBLK),
                    _ => (NodeKind::Special, IFIFO),
                };
                let node = Node {
                    kind,
                    dinode: self.dinode_of(e, ifmt),
                    parent,
                    names: 1,
                    children: Vec::new(),
                    written: false,
                };
                self.alloc(node)?
            }
            EntryKind::HardLink => {
                let target = e
                    .link_target
                    .as_deref()
                    .and_then(components)
                    .map(|c| c.join(&b'/'));
                let ino = target.and_then(|t| self.paths.get(&t).copied());
                match ino {
                    Some(ino) if self.node(ino).is_some_and(|n| n.kind != NodeKind::Dir) => {
                        if let Some(n) = self.node_mut(ino) {
                            n.names += 1;
                        }
                        ino
                    }
                    _ => {
                        // the engine reports this loss (LinkTargetMissing) in the data pass
                        self.host.log(
                            LogLevel::Info,
                            &format!(
                                "'{shown}': hard link to '{}', which is not in the dump; left out",
                                relic_model::listing::escape(
                                    e.link_target.as_deref().unwrap_or_default()
                                )
                            ),
                        );
                        return Ok(());
                    }
                }
            }
            EntryKind::Symlink | EntryKind::Socket => {
                self.warn(&format!(
                    "'{shown}': a {} cannot be kept in a XENIX backup; left out",
                    e.kind.name()
                ));
                return Ok(());
            }
        };
        self.add_child(parent, name, ino);
        self.paths.insert(key, ino);
        Ok(())
    }

    fn end_catalog(&mut self) -> Result<()> {
        if !self.began {
            self.begin_archive(&VolumeInfo::default())?;
        }
        // link counts are known now
        for n in self.nodes.iter_mut().flatten() {
            if n.kind != NodeKind::Dir {
                n.dinode.nlink = n.names.min(65535) as u16;
            }
        }
        self.write_directories()
    }

    fn begin_entry(&mut self, e: &Entry) -> Result<()> {
        if !self.dirs_written {
            return Err(Error::internal(
                "the XENIX writer needs the catalog pass (end_catalog) before the data",
            ));
        }
        if self.cur.is_some() {
            self.end()?;
        }
        let Some(comps) = components(&e.path) else {
            return Ok(());
        };
        let key = comps.join(&b'/');
        if comps.is_empty() {
            self.entries += 1;
            return Ok(());
        }
        let Some(&ino) = self.paths.get(&key) else {
            if !matches!(e.kind, EntryKind::Symlink | EntryKind::Socket) {
                self.warn(&format!(
                    "'{}' was not in the catalog pass; left out",
                    relic_model::listing::escape(&e.path)
                ));
            }
            return Ok(());
        };
        let Some(node) = self.node(ino) else {
            return Ok(());
        };
        let (kind, written, nlink) = (node.kind, node.written, node.dinode.nlink);
        let wanted = match e.kind {
            EntryKind::Dir => NodeKind::Dir,
            EntryKind::File => NodeKind::File,
            EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo => NodeKind::Special,
            EntryKind::HardLink => {
                self.entries += 1;
                return Ok(());
            }
            EntryKind::Symlink | EntryKind::Socket => return Ok(()),
        };
        if kind != wanted {
            self.warn(&format!(
                "'{}' changed kind between the catalog and the data pass; left out",
                relic_model::listing::escape(&e.path)
            ));
            return Ok(());
        }
        if kind == NodeKind::Dir {
            self.entries += 1;
            return Ok(());
        }
        if written {
            self.warn(&format!(
                "'{}' appears twice; the first is kept",
                relic_model::listing::escape(&e.path)
            ));
            return Ok(());
        }
        self.entries += 1;
        match kind {
            NodeKind::File => {
                let mut d = self.dinode_of(e, IFREG);
                d.nlink = nlink;
                d.size = e.size.min(u64::from(u32::MAX)) as u32;
                self.start(ino, d, e.size, &e.path)
            }
            _ => {
                let ifmt = match e.kind {
                    EntryKind::CharDevice => IFCHR,
                    EntryKind::BlockDevice => IFBLK,
                    _ => IFIFO,
                };
                let mut d = self.dinode_of(e, ifmt);
                d.nlink = nlink;
                self.special(ino, d)
            }
        }
    }

    fn write_data(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        self.bytes += data.len() as u64;
        self.data(offset, data)
    }

    fn write_hole(&mut self, offset: u64, len: u64) -> Result<()> {
        let Some(c) = self.cur.as_ref() else {
            return Ok(());
        };
        self.check_order(c, offset, len)?;
        if let Some(c) = self.cur.as_mut() {
            c.pos = offset + len;
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<()> {
        self.end()
    }

    fn finish(&mut self) -> Result<WriteSummary> {
        if self.finished {
            return Err(Error::internal("the XENIX writer is already finished"));
        }
        self.finished = true;
        if !self.began {
            self.begin_archive(&VolumeInfo::default())?;
        }
        if !self.dirs_written {
            self.end_catalog()?;
        }
        self.end()?;
        let unwritten = self
            .nodes
            .iter()
            .flatten()
            .filter(|n| n.kind != NodeKind::Dir && !n.written)
            .count();
        if unwritten > 0 {
            self.warn(&format!(
                "{unwritten} files of the catalog pass did not come in the data pass; their names point nowhere"
            ));
        }
        let (volumes, records, bytes_on_last) = {
            let tape = self.tape()?;
            tape.finish()?;
            (tape.volume, tape.records, tape.offset())
        };
        self.volumes = volumes;
        self.records = records;
        let mut notes = vec![format!(
            "{} ({}), {} records of {RECORD_BYTES} bytes on {} volume(s), {} inodes",
            self.v.family(),
            self.v.name(),
            self.records,
            self.volumes,
            self.nodes.iter().flatten().count()
        )];
        if let Some(vs) = self.opts.volume_size {
            notes.push(format!(
                "volume size {vs} bytes; the last volume holds {bytes_on_last}"
            ));
        }
        if unwritten > 0 {
            notes.push(format!("{unwritten} cataloged files were not written"));
        }
        Ok(WriteSummary {
            entries: self.entries,
            bytes: self.bytes,
            volumes: self.volumes,
            notes,
        })
    }
}
