//! The reader of AIX 3+ by-inode backups (the 4.3BSD dump port; layout and choices in
//! [`crate::bsd`]).
//!
//! The stream is a sequence of 1024-byte blocks: headers (each checked: magic 60012 or
//! 60011, the 84446 word sum; a mismatch is an error, or a warning with `salvage`) and the
//! data blocks their `c_addr` flags announce. Records of the medium do not matter (a
//! [`VolStream`] joins them, and joins volumes: each new volume's TS_TAPE header must carry
//! the next `c_volume` and the same date).
//!
//! As for the older by-inode format, directories come first: they are read whole (bounded)
//! and the tree is rebuilt from inode 2 ([`crate::tree`]); the directories are then handed
//! out sorted by path, followed by every other inode under its first name, further names as
//! hard links. Data comes out as `Data` chunks for flagged blocks and `Hole` chunks for
//! unflagged ones (a sparse file stays sparse), continuing through TS_ADDR headers.
//! TS_ACL / TS_PCL records after an inode are kept as its `aix.aixc` / `aix.pcl` ACLs: for
//! directories always, for other files when the file's data is small enough to be held
//! while looking at the next header ([`HOLD_BYTES`]); otherwise they are reported and
//! dropped. AIX 5.3+ record types 9-14 (TS_INODE_LF, TS_SEC, TS_J2DIR, TS_INODE_LN, TS_EA,
//! TS_ACL2; layouts not public) stop with "unsupported record type N at offset X".

use std::collections::{HashMap, VecDeque};

use relic_model::{
    Acl, Chunk, DataState, Device, Entry, EntryKind, Error, ErrorKind, Extra, FormatReader, Result,
    Timestamp, VolumeInfo,
};
use relic_plugin_sdk::HostHandle;

use crate::bsd::{self, ts, Header, BLOCK, NINDIR};
use crate::read::{ReadOptions, MAX_ALL_DIR_BYTES, MAX_DIR_BYTES, MAX_SYMLINK};
use crate::tree::{self, DirData, Tree};
use crate::volume::VolStream;

/// File data held in memory to see whether ACL records follow it.
pub const HOLD_BYTES: u64 = 1 << 20;
/// Largest map (TS_BITS/TS_CLRI) in blocks.
pub const MAX_MAP_BLOCKS: i32 = 1 << 16;
/// Largest ACL/PCL record in blocks.
pub const MAX_ACL_BLOCKS: i32 = 64;

#[derive(Debug, Clone)]
struct Hdr {
    h: Header,
    offset: u64,
    volume: u32,
}

/// Data of the current inode, read block by block.
struct Blocks {
    inumber: u32,
    size: u64,
    /// Logical position.
    pos: u64,
    /// Block index of the first flag in `addr`.
    base: u64,
    count: u64,
    addr: Vec<u8>,
}

enum Body {
    None,
    Blocks(Box<Blocks>),
    /// Held in memory: (offset, len, is_data) runs and the data bytes.
    Memory {
        runs: Vec<(u64, u64, bool)>,
        data: Vec<u8>,
        idx: usize,
        in_run: u64,
        dpos: usize,
    },
}

/// Reader of the BSD-style by-inode format.
pub struct BsdReader {
    vs: VolStream,
    host: HostHandle,
    opts: ReadOptions,
    tape: Header,
    record_size: Option<u32>,
    pending: Option<Hdr>,
    queue: VecDeque<(Entry, Body)>,
    body: Body,
    tree: Option<Tree>,
    done: bool,
}

fn ts_of(secs: i32) -> Option<Timestamp> {
    Some(Timestamp::from_secs(secs as i64))
}

impl BsdReader {
    pub fn open(
        mut vs: VolStream,
        records_meaningful: bool,
        host: HostHandle,
        opts: ReadOptions,
    ) -> Result<BsdReader> {
        let mut b = vec![0u8; BLOCK];
        vs.read_exact(&mut b, "the TS_TAPE header")?;
        let tape = Header::decode(&b);
        if !crate::checksum::bsd_ok(&b) {
            let msg = "TS_TAPE header checksum does not sum to 84446";
            if opts.salvage {
                host.warn(&format!("{msg} (salvage: going on)"), Some(28));
            } else {
                return Err(
                    Error::corrupt(format!("{msg} (--salvage reads on with warnings)")).at(28),
                );
            }
        }
        if tape.volume != 1 {
            return Err(Error::corrupt(format!(
                "this is volume {} of a dump dated {}: start with volume 1",
                tape.volume,
                relic_model::time::format_utc(tape.date as i64)
            ))
            .at(12));
        }
        vs.open_bsd(tape.date);
        let record_size =
            (records_meaningful && vs.last_record_len() > 0).then(|| vs.last_record_len() as u32);
        Ok(BsdReader {
            vs,
            host,
            opts,
            tape,
            record_size,
            pending: None,
            queue: VecDeque::new(),
            body: Body::None,
            tree: None,
            done: false,
        })
    }

    fn warn(&self, msg: &str, off: Option<u64>) {
        self.host.warn(msg, off);
    }

    fn verr(&self, hdr: &Hdr, kind: ErrorKind, msg: String) -> Error {
        let msg = if hdr.volume > 1 {
            format!("volume {}: {msg}", hdr.volume)
        } else {
            msg
        };
        Error::new(kind, msg).at(hdr.offset)
    }

    /// The next header block.
    fn read_header(&mut self) -> Result<Hdr> {
        let mut b = vec![0u8; BLOCK];
        let offset = self.vs.offset();
        let volume = self.vs.volume();
        self.vs.read_exact(&mut b, "a dump header")?;
        let h = Header::decode(&b);
        let hdr = Hdr { h, offset, volume };
        if hdr.h.magic != bsd::NFS_MAGIC && hdr.h.magic != bsd::OFS_MAGIC {
            let e = self.verr(
                &hdr,
                ErrorKind::Corrupt,
                format!(
                    "no dump header at offset {offset}: c_magic is {}, expected {}",
                    hdr.h.magic,
                    bsd::NFS_MAGIC
                ),
            );
            if !self.opts.salvage {
                return Err(e);
            }
            return self.resync(e);
        }
        if !crate::checksum::bsd_ok(&b) {
            let msg = format!(
                "{} header at offset {offset} does not sum to 84446",
                ts::name(hdr.h.ctype)
            );
            if self.opts.salvage {
                self.warn(&format!("{msg} (salvage: going on)"), Some(offset));
            } else {
                return Err(self.verr(
                    &hdr,
                    ErrorKind::Corrupt,
                    format!("{msg} (--salvage reads on with warnings)"),
                ));
            }
        }
        Ok(hdr)
    }

    /// Salvage: skip blocks until one is a header with a good checksum.
    fn resync(&mut self, why: Error) -> Result<Hdr> {
        self.warn(
            &format!("{} (salvage: searching for the next header)", why.message),
            why.offset,
        );
        let mut skipped = 1u64;
        loop {
            let mut b = vec![0u8; BLOCK];
            let offset = self.vs.offset();
            let volume = self.vs.volume();
            let mut got = 0;
            while got < BLOCK {
                let n = self.vs.read_some(&mut b[got..])?;
                if n == 0 {
                    self.warn(
                        &format!("no further dump header after {skipped} damaged blocks: the dump ends here"),
                        Some(offset),
                    );
                    return Ok(Hdr {
                        h: Header {
                            ctype: ts::END,
                            ..Header::default()
                        },
                        offset,
                        volume,
                    });
                }
                got += n;
            }
            if bsd::is_header(&b) {
                self.warn(
                    &format!("salvage: resumed after {skipped} blocks"),
                    Some(offset),
                );
                return Ok(Hdr {
                    h: Header::decode(&b),
                    offset,
                    volume,
                });
            }
            skipped += 1;
        }
    }

    fn check_type(&self, hdr: &Hdr) -> Result<()> {
        match hdr.h.ctype {
            ts::TAPE..=ts::PCL => Ok(()),
            ts::INODE_LF..=ts::ACL2 => Err(self.verr(
                hdr,
                ErrorKind::Unsupported,
                format!(
                    "unsupported record type {} at offset {} ({} of AIX 5.3 and later: its layout is not public)",
                    hdr.h.ctype,
                    hdr.offset,
                    ts::name(hdr.h.ctype)
                ),
            )),
            t => Err(self.verr(
                hdr,
                ErrorKind::Corrupt,
                format!("unknown record type {t} at offset {}", hdr.offset),
            )),
        }
    }

    fn check_count(&self, hdr: &Hdr, max: i32) -> Result<u64> {
        if hdr.h.count < 0 || hdr.h.count > max {
            return Err(self.verr(
                hdr,
                ErrorKind::Corrupt,
                format!(
                    "{} header at offset {} has c_count {} (0 to {max})",
                    ts::name(hdr.h.ctype),
                    hdr.offset,
                    hdr.h.count
                ),
            ));
        }
        Ok(hdr.h.count as u64)
    }

    fn entry_of(&self, hdr: &Hdr) -> Result<Entry> {
        let h = &hdr.h;
        let kind = match EntryKind::from_ifmt(h.mode as u32) {
            Some(EntryKind::Socket) | None => {
                return Err(self.verr(
                    hdr,
                    ErrorKind::Corrupt,
                    format!(
                        "inode {} has mode {:#o}, which names no file type",
                        h.inumber, h.mode
                    ),
                ))
            }
            Some(k) => k,
        };
        if h.size < 0 {
            return Err(self.verr(
                hdr,
                ErrorKind::Corrupt,
                format!("inode {} has size {}", h.inumber, h.size),
            ));
        }
        let mut e = Entry::new(Vec::new(), kind);
        e.mode = h.mode as u32 & 0o7777;
        e.uid = h.uid as u64;
        e.gid = h.gid as u64;
        e.nlink = h.nlink.max(0) as u32;
        e.mtime = ts_of(h.mtime);
        e.atime = ts_of(h.atime);
        e.ctime = ts_of(h.ctime);
        e.inode = Some(h.inumber as u64);
        if kind == EntryKind::File {
            e.size = h.size as u64;
        }
        if matches!(kind, EntryKind::CharDevice | EntryKind::BlockDevice) {
            e.rdev = Some(Device {
                major: h.rdev >> 16,
                minor: h.rdev & 0xffff,
            });
        }
        if h.xix_dinode.iter().any(|&b| b != 0) {
            let hex: String = h.xix_dinode.iter().map(|b| format!("{b:02x}")).collect();
            e.extras.push(Extra::new("aix.xix_dinode", hex));
        }
        Ok(e)
    }

    fn blocks_of(&self, hdr: &Hdr) -> Result<Body> {
        let count = self.check_count(hdr, NINDIR as i32)?;
        Ok(Body::Blocks(Box::new(Blocks {
            inumber: hdr.h.inumber,
            size: hdr.h.size.max(0) as u64,
            pos: 0,
            base: 0,
            count,
            addr: hdr.h.addr.clone(),
        })))
    }

    /// Next chunk of a block body.
    fn data_from(&mut self, body: &mut Body, buf: &mut [u8]) -> Result<Chunk> {
        match body {
            Body::None => Ok(Chunk::End),
            Body::Memory {
                runs,
                data,
                idx,
                in_run,
                dpos,
            } => {
                let Some(&(off, len, is_data)) = runs.get(*idx) else {
                    return Ok(Chunk::End);
                };
                if !is_data {
                    *idx += 1;
                    return Ok(Chunk::Hole { offset: off, len });
                }
                // a data run may be handed out in pieces
                let n = ((len - *in_run) as usize).min(buf.len());
                buf[..n].copy_from_slice(&data[*dpos..*dpos + n]);
                let at = off + *in_run;
                *dpos += n;
                *in_run += n as u64;
                if *in_run == len {
                    *idx += 1;
                    *in_run = 0;
                }
                Ok(Chunk::Data {
                    offset: at,
                    len: n as u64,
                })
            }
            Body::Blocks(b) => {
                if b.pos >= b.size {
                    return Ok(Chunk::End);
                }
                let blk = b.pos / BLOCK as u64;
                if blk >= b.base + b.count {
                    // the flags go on in a TS_ADDR header
                    let hdr = self.read_header()?;
                    if hdr.h.ctype != ts::ADDR || hdr.h.inumber != b.inumber {
                        return Err(self.verr(
                            &hdr,
                            ErrorKind::Corrupt,
                            format!(
                                "inode {} needs more blocks ({} of {} bytes given), found {} for inode {}",
                                b.inumber,
                                b.pos,
                                b.size,
                                ts::name(hdr.h.ctype),
                                hdr.h.inumber
                            ),
                        ));
                    }
                    let count = self.check_count(&hdr, NINDIR as i32)?;
                    if count == 0 {
                        return Err(self.verr(
                            &hdr,
                            ErrorKind::Corrupt,
                            "TS_ADDR header with no blocks".into(),
                        ));
                    }
                    b.base += b.count;
                    b.count = count;
                    b.addr = hdr.h.addr.clone();
                }
                let i = (blk - b.base) as usize;
                let flag = b.addr[i];
                // the run of equal flags in this header
                let mut j = i;
                while j < b.count as usize && (b.addr[j] != 0) == (flag != 0) {
                    j += 1;
                }
                let run_end = ((b.base + j as u64) * BLOCK as u64).min(b.size);
                let len = run_end - b.pos;
                if flag == 0 {
                    let off = b.pos;
                    b.pos = run_end;
                    return Ok(Chunk::Hole { offset: off, len });
                }
                let n = (len.min(buf.len() as u64)) as usize;
                let got = self.vs.read_some(&mut buf[..n])?;
                if got == 0 {
                    return Err(self.vs.err(
                        ErrorKind::Truncated,
                        format!(
                            "data of inode {} ends early: the input ends with volume {} and no volume {} was given",
                            b.inumber,
                            self.vs.volume(),
                            self.vs.volume() + 1
                        ),
                    ));
                }
                let off = b.pos;
                b.pos += got as u64;
                if b.pos == b.size && b.size % BLOCK as u64 != 0 {
                    // the rest of the last block
                    self.vs
                        .skip(BLOCK as u64 - b.size % BLOCK as u64, "block padding")?;
                }
                Ok(Chunk::Data {
                    offset: off,
                    len: got as u64,
                })
            }
        }
    }

    fn finish_body(&mut self) -> Result<()> {
        let mut body = std::mem::replace(&mut self.body, Body::None);
        if let Body::Blocks(_) = body {
            let mut buf = vec![0u8; 64 * 1024];
            while self.data_from(&mut body, &mut buf)? != Chunk::End {}
        }
        Ok(())
    }

    /// A whole body in memory (runs and data), bounded by the caller.
    fn hold(&mut self, mut body: Body) -> Result<Body> {
        let mut runs = Vec::new();
        let mut data = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.data_from(&mut body, &mut buf)? {
                Chunk::Data { offset, len } => {
                    match runs.last_mut() {
                        Some((o, l, true)) if *o + *l == offset => *l += len,
                        _ => runs.push((offset, len, true)),
                    }
                    data.extend_from_slice(&buf[..len as usize]);
                }
                Chunk::Hole { offset, len } | Chunk::Absent { offset, len } => {
                    runs.push((offset, len, false))
                }
                Chunk::End => break,
            }
        }
        Ok(Body::Memory {
            runs,
            data,
            idx: 0,
            in_run: 0,
            dpos: 0,
        })
    }

    fn bytes_of(body: &Body) -> Vec<u8> {
        match body {
            Body::Memory { runs, data, .. } => {
                let end = runs.last().map(|(o, l, _)| o + l).unwrap_or(0) as usize;
                let mut out = vec![0u8; end];
                let mut d = 0;
                for &(o, l, is_data) in runs {
                    if is_data {
                        out[o as usize..(o + l) as usize].copy_from_slice(&data[d..d + l as usize]);
                        d += l as usize;
                    }
                }
                out
            }
            _ => Vec::new(),
        }
    }

    /// TS_ACL/TS_PCL: the record's bytes (its length from acl_len/pcl_len, big-endian).
    fn read_acl(&mut self, hdr: &Hdr) -> Result<Acl> {
        let count = self.check_count(hdr, MAX_ACL_BLOCKS)?;
        let mut data = vec![0u8; count as usize * BLOCK];
        self.vs.read_exact(&mut data, "ACL data")?;
        let len = if data.len() >= 4 {
            u32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize
        } else {
            0
        };
        if len <= data.len() && len >= 4 {
            data.truncate(len);
        }
        Ok(Acl {
            kind: if hdr.h.ctype == ts::ACL {
                "aix.aixc"
            } else {
                "aix.pcl"
            }
            .into(),
            data,
        })
    }

    /// Maps and other records that are not inodes. False when `hdr` is not one of them.
    fn housekeeping(&mut self, hdr: &Hdr) -> Result<bool> {
        match hdr.h.ctype {
            ts::BITS | ts::CLRI => {
                let n = self.check_count(hdr, MAX_MAP_BLOCKS)?;
                self.vs.skip(
                    n * BLOCK as u64,
                    &format!("the {} map", ts::name(hdr.h.ctype)),
                )?;
                Ok(true)
            }
            ts::TAPE => Err(self.verr(
                hdr,
                ErrorKind::Corrupt,
                format!(
                    "a TS_TAPE header (volume {}) in the middle of volume {} at offset {}",
                    hdr.h.volume, hdr.volume, hdr.offset
                ),
            )),
            ts::ACL | ts::PCL => {
                let a = self.read_acl(hdr)?;
                self.warn(
                    &format!(
                        "{} of inode {} comes after more than {HOLD_BYTES} bytes of data (or no inode): dropped ({} bytes)",
                        ts::name(hdr.h.ctype),
                        hdr.h.inumber,
                        a.data.len()
                    ),
                    Some(hdr.offset),
                );
                Ok(true)
            }
            ts::ADDR => Err(self.verr(
                hdr,
                ErrorKind::Corrupt,
                format!(
                    "TS_ADDR header for inode {} without its TS_INODE",
                    hdr.h.inumber
                ),
            )),
            _ => Ok(false),
        }
    }

    fn load_dirs(&mut self, first: Hdr) -> Result<()> {
        let mut dirs: Vec<DirData> = Vec::new();
        let mut metas: HashMap<u32, Entry> = HashMap::new();
        let mut total = 0u64;
        let mut hdr = first;
        let mut last_dir: Option<u32> = None;
        loop {
            self.check_type(&hdr)?;
            match hdr.h.ctype {
                ts::INODE => {
                    if hdr.h.mode as u32 & 0o170000 != 0o040000 {
                        self.pending = Some(hdr);
                        break;
                    }
                    let ino = hdr.h.inumber;
                    if hdr.h.size < 0 || hdr.h.size as u64 > MAX_DIR_BYTES {
                        return Err(self.verr(
                            &hdr,
                            ErrorKind::Corrupt,
                            format!(
                                "directory inode {ino} has size {} (at most {MAX_DIR_BYTES})",
                                hdr.h.size
                            ),
                        ));
                    }
                    total += hdr.h.size as u64;
                    if total > MAX_ALL_DIR_BYTES {
                        return Err(self.verr(
                            &hdr,
                            ErrorKind::Unsupported,
                            format!("more than {MAX_ALL_DIR_BYTES} bytes of directories"),
                        ));
                    }
                    let e = self.entry_of(&hdr)?;
                    let body = self.blocks_of(&hdr)?;
                    let held = self.hold(body)?;
                    let data = Self::bytes_of(&held);
                    let mut entries = Vec::new();
                    for (k, blk) in data.chunks(bsd::DIRBLKSIZ).enumerate() {
                        if let Err(m) = bsd::parse_dir_block(blk, &mut entries) {
                            self.warn(
                                &format!("directory inode {ino}, block {k}: {m}: the rest of the block is ignored"),
                                Some(hdr.offset),
                            );
                        }
                    }
                    metas.insert(ino, e);
                    dirs.retain(|d| d.ino != ino);
                    dirs.push(DirData { ino, entries });
                    last_dir = Some(ino);
                }
                ts::ACL | ts::PCL => {
                    let a = self.read_acl(&hdr)?;
                    match metas.get_mut(&hdr.h.inumber) {
                        Some(e) if last_dir == Some(hdr.h.inumber) => e.acls.push(a),
                        _ => self.warn(
                            &format!(
                                "{} for inode {} that is not the directory before it: dropped",
                                ts::name(hdr.h.ctype),
                                hdr.h.inumber
                            ),
                            Some(hdr.offset),
                        ),
                    }
                }
                ts::END => {
                    self.pending = Some(hdr);
                    break;
                }
                _ => {
                    if !self.housekeeping(&hdr)? {
                        self.pending = Some(hdr);
                        break;
                    }
                }
            }
            hdr = self.read_header()?;
        }
        let tree = Tree::build(bsd::ROOT_INO, &dirs);
        for w in &tree.warnings {
            self.warn(w, None);
        }
        for e in tree.directory_entries(bsd::ROOT_INO, &mut metas) {
            self.queue.push_back((e, Body::None));
        }
        self.tree = Some(tree);
        Ok(())
    }

    /// A non-directory inode (or a late directory).
    fn inode(&mut self, hdr: Hdr) -> Result<()> {
        let mut e = self.entry_of(&hdr)?;
        let tree = self.tree.get_or_insert_with(Tree::default);
        let mut names = if e.kind == EntryKind::Dir {
            tree.dir_path(hdr.h.inumber)
                .map(|p| vec![p.to_vec()])
                .unwrap_or_default()
        } else {
            tree.paths_of(hdr.h.inumber)
        };
        if names.is_empty() {
            let p = tree::orphan_path(hdr.h.inumber);
            self.warn(
                &format!(
                    "inode {} is in no directory of the dump: kept as {}",
                    hdr.h.inumber,
                    String::from_utf8_lossy(&p)
                ),
                Some(hdr.offset),
            );
            names.push(p);
        }
        e.path = names[0].clone();
        let mut body = self.blocks_of(&hdr)?;
        match e.kind {
            EntryKind::Symlink => {
                if hdr.h.size as u64 > MAX_SYMLINK {
                    return Err(self.verr(
                        &hdr,
                        ErrorKind::Corrupt,
                        format!("symlink target of {} bytes", hdr.h.size),
                    ));
                }
                let held = self.hold(body)?;
                let mut t = Self::bytes_of(&held);
                while t.last() == Some(&0) {
                    t.pop();
                }
                e.size = t.len() as u64;
                e.link_target = Some(t);
                body = Body::None;
            }
            EntryKind::File => {}
            _ => {
                // devices, fifos, late directories: their blocks (if any) are skipped
                self.body = body;
                self.finish_body()?;
                body = Body::None;
            }
        }
        // ACL records may follow: look when the data can be held
        let small = e.kind != EntryKind::File || e.size <= HOLD_BYTES;
        if small {
            if matches!(body, Body::Blocks(_)) {
                body = self.hold(body)?;
            }
            loop {
                let next = self.read_header()?;
                if matches!(next.h.ctype, ts::ACL | ts::PCL) && next.h.inumber == hdr.h.inumber {
                    let a = self.read_acl(&next)?;
                    e.acls.push(a);
                } else {
                    self.pending = Some(next);
                    break;
                }
            }
        }
        let links: Vec<Entry> = names
            .iter()
            .skip(1)
            .map(|p| {
                let mut l = e.clone();
                l.path = p.clone();
                l.kind = EntryKind::HardLink;
                l.link_target = Some(names[0].clone());
                l.data = DataState::None;
                l.size = 0;
                l.rdev = None;
                l.acls.clear();
                l
            })
            .collect();
        self.queue.push_back((e, body));
        for l in links {
            self.queue.push_back((l, Body::None));
        }
        Ok(())
    }

    fn fill_queue(&mut self) -> Result<()> {
        while self.queue.is_empty() && !self.done {
            let hdr = match self.pending.take() {
                Some(h) => h,
                None => self.read_header()?,
            };
            self.check_type(&hdr)?;
            match hdr.h.ctype {
                ts::END => self.done = true,
                ts::INODE => {
                    let is_dir = hdr.h.mode as u32 & 0o170000 == 0o040000;
                    if is_dir && self.tree.is_none() {
                        self.load_dirs(hdr)?;
                    } else {
                        self.inode(hdr)?;
                    }
                }
                _ => {
                    if !self.housekeeping(&hdr)? {
                        return Err(self.verr(
                            &hdr,
                            ErrorKind::Corrupt,
                            format!("unexpected {} header", ts::name(hdr.h.ctype)),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

impl FormatReader for BsdReader {
    fn volume(&mut self) -> Result<VolumeInfo> {
        let t = &self.tape;
        let mut vi = VolumeInfo {
            format: crate::FORMAT_ID.into(),
            variant: "by-inode".into(),
            volume: Some(t.volume.max(0) as u32),
            date: Some(Timestamp::from_secs(t.date as i64)),
            since: (t.ddate != 0).then(|| Timestamp::from_secs(t.ddate as i64)),
            block_size: Some(BLOCK as u32),
            record_size: self.record_size,
            ..VolumeInfo::default()
        };
        vi.extras
            .push(Extra::new("aix.xix_flag", t.xix_flag.to_string()));
        Ok(vi)
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        self.finish_body()?;
        self.fill_queue()?;
        match self.queue.pop_front() {
            Some((e, b)) => {
                self.body = b;
                Ok(Some(e))
            }
            None => Ok(None),
        }
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let mut body = std::mem::replace(&mut self.body, Body::None);
        let r = self.data_from(&mut body, buf);
        self.body = body;
        r
    }
}
