//! The writer of AIX 3+ by-inode backups (the 4.3BSD dump port; layout and the choices made
//! where the research note is silent are in [`crate::bsd`]).
//!
//! After the engine's catalog pass ([`crate::catalog`]): TS_TAPE; TS_CLRI with the map of
//! inodes in use; TS_BITS with the map of inodes in this backup; every directory
//! (ascending inode) as TS_INODE with its `struct direct` blocks; then every dumped
//! non-directory as it comes: TS_INODE with up to 512 block flags and the flagged 1 KiB
//! blocks, TS_ADDR headers for the next 512 blocks. Holes stay holes (a block no data
//! touched is flagged 0 and not written), so to know a header's flags before its blocks the
//! writer gathers one header's worth of blocks (at most 512 KiB) in memory. Symlinks carry
//! their target in one block, devices their number in db[0]. TS_END closes the dump.
//! Volumes change when the medium reports early warning (or every `volume-size` bytes); each
//! new volume starts with a TS_TAPE header carrying its number (see [`crate::volume`]).

use relic_model::{
    Capabilities, Entry, EntryKind, Error, FormatWriter, Medium, Result, VolumeInfo, WriteSummary,
};
use relic_plugin_sdk::HostHandle;

use crate::bsd::{self, ts, Header, TapeTemplate, BLOCK, NINDIR};
use crate::catalog::{Catalog, Plan};
use crate::volume::{OutHeader, VolOut};
use crate::write::{capabilities, level_info, LevelInfo, WriteOptions};

/// One inode being written.
struct InodeOut {
    hdr: Header,
    nblocks: u64,
    /// Group (of 512 blocks) being gathered.
    group: u64,
    buf: Vec<u8>,
    flags: Vec<u8>,
}

/// The AIX 3+ by-inode writer.
pub struct BsdWriter {
    medium: Option<Box<dyn Medium>>,
    out: Option<VolOut>,
    opts: WriteOptions,
    host: HostHandle,
    caps: Capabilities,
    volume_in: VolumeInfo,
    catalog: Catalog,
    plan: Option<Plan>,
    level: Option<LevelInfo>,
    cur: Option<InodeOut>,
    entries: u64,
    bytes: u64,
    notes: Vec<String>,
}

impl BsdWriter {
    pub fn new(medium: Box<dyn Medium>, opts: WriteOptions, host: HostHandle) -> BsdWriter {
        BsdWriter {
            medium: Some(medium),
            out: None,
            caps: capabilities(opts.variant),
            opts,
            host,
            volume_in: VolumeInfo::default(),
            catalog: Catalog::default(),
            plan: None,
            level: None,
            cur: None,
            entries: 0,
            bytes: 0,
            notes: Vec::new(),
        }
    }

    fn out(&mut self) -> Result<&mut VolOut> {
        self.out
            .as_mut()
            .ok_or_else(|| Error::internal("aix-backup by-inode writer used before its catalog"))
    }

    fn header(&self, ctype: i32) -> Header {
        let li = self.level.as_ref();
        let out = self.out.as_ref();
        Header {
            ctype,
            date: li.map(|l| l.date as i32).unwrap_or(0),
            ddate: li.map(|l| l.budate as i32).unwrap_or(0),
            volume: out.map(|o| o.volumes() as i32).unwrap_or(1),
            tapea: out
                .map(|o| (o.stream_bytes / BLOCK as u64) as i32)
                .unwrap_or(0),
            magic: bsd::NFS_MAGIC,
            ..Header::default()
        }
    }

    fn put_header(&mut self, mut h: Header) -> Result<()> {
        if let Some(o) = self.out.as_ref() {
            h.volume = o.volumes() as i32;
            h.tapea = (o.stream_bytes / BLOCK as u64) as i32;
        }
        let b = h.encode();
        self.out()?.write(&b)
    }

    /// A map header and its blocks.
    fn put_map(
        &mut self,
        ctype: i32,
        inodes: &mut dyn Iterator<Item = u32>,
        max_ino: u32,
    ) -> Result<()> {
        let bytes = (max_ino as usize).div_ceil(8);
        let blocks = bytes.div_ceil(BLOCK).max(1);
        let mut map = vec![0u8; blocks * BLOCK];
        for i in inodes {
            let k = i as usize - 1;
            map[k / 8] |= 1 << (k % 8);
        }
        let mut h = self.header(ctype);
        h.count = blocks as i32;
        self.put_header(h)?;
        self.out()?.write(&map)
    }

    fn inode_header(&self, ino: u32, kind: EntryKind, e: &Entry, nlink: u32) -> Header {
        let date = self.level.as_ref().map(|l| l.date).unwrap_or(0);
        let t = |x: Option<relic_model::Timestamp>, d: i64| x.map(|t| t.secs).unwrap_or(d) as i32;
        let mtime = t(e.mtime, date);
        let mut h = self.header(ts::INODE);
        h.inumber = ino;
        h.mode = (kind.ifmt() | (e.mode & 0o7777)) as u16;
        h.nlink = nlink.min(i16::MAX as u32) as i16;
        h.uid = e.uid.min(u16::MAX as u64) as u16;
        h.gid = e.gid.min(u16::MAX as u64) as u16;
        h.atime = t(e.atime, mtime as i64);
        h.mtime = mtime;
        h.ctime = t(e.ctime, mtime as i64);
        if let Some(d) = e.rdev {
            h.rdev = (d.major.min(0xffff) << 16) | d.minor.min(0xffff);
        }
        h
    }

    fn begin_inode(&mut self, mut hdr: Header, size: u64) {
        hdr.size = size as i64;
        self.cur = Some(InodeOut {
            hdr,
            nblocks: size.div_ceil(BLOCK as u64),
            group: 0,
            buf: Vec::new(),
            flags: Vec::new(),
        });
    }

    /// Write the gathered group of the current inode and move to the next group.
    fn flush_group(&mut self) -> Result<()> {
        let Some(mut c) = self.cur.take() else {
            return Ok(());
        };
        let start = c.group * NINDIR as u64;
        let n = c.nblocks.saturating_sub(start).min(NINDIR as u64) as usize;
        let mut h = c.hdr.clone();
        h.ctype = if c.group == 0 { ts::INODE } else { ts::ADDR };
        h.count = n as i32;
        let mut addr = vec![0u8; NINDIR];
        for (i, a) in addr.iter_mut().enumerate().take(n) {
            *a = c.flags.get(i).copied().unwrap_or(0);
        }
        h.addr = addr.clone();
        self.put_header(h)?;
        for (i, &f) in addr.iter().enumerate().take(n) {
            if f != 0 {
                let s = i * BLOCK;
                let mut block = [0u8; BLOCK];
                let have = c.buf.len().saturating_sub(s).min(BLOCK);
                block[..have].copy_from_slice(&c.buf[s..s + have]);
                self.out()?.write(&block)?;
            }
        }
        c.group += 1;
        c.buf.clear();
        c.flags.clear();
        self.cur = Some(c);
        Ok(())
    }

    /// Data at `offset` of the current inode.
    fn put_data(&mut self, offset: u64, mut data: &[u8]) -> Result<()> {
        let mut off = offset;
        while !data.is_empty() {
            let (group, nblocks) = match &self.cur {
                Some(c) => (c.group, c.nblocks),
                None => return Err(Error::internal("data outside an entry")),
            };
            let block = off / BLOCK as u64;
            if block >= nblocks {
                return Err(Error::internal(format!(
                    "data at {off} beyond the entry's size"
                )));
            }
            let g = block / NINDIR as u64;
            if g > group {
                self.flush_group()?;
                continue;
            }
            if g < group {
                return Err(Error::internal("data out of order"));
            }
            let c = self
                .cur
                .as_mut()
                .ok_or_else(|| Error::internal("no entry"))?;
            let gstart = g * (NINDIR * BLOCK) as u64;
            let in_group = (off - gstart) as usize;
            let room = NINDIR * BLOCK - in_group;
            let n = room.min(data.len());
            if c.buf.len() < in_group + n {
                c.buf.resize(in_group + n, 0);
            }
            c.buf[in_group..in_group + n].copy_from_slice(&data[..n]);
            let first = in_group / BLOCK;
            let last = (in_group + n - 1) / BLOCK;
            if c.flags.len() <= last {
                c.flags.resize(last + 1, 0);
            }
            for f in &mut c.flags[first..=last] {
                *f = 1;
            }
            data = &data[n..];
            off += n as u64;
        }
        Ok(())
    }

    /// Finish the current inode: every remaining group (holes included).
    fn end_inode(&mut self) -> Result<()> {
        loop {
            let Some(c) = &self.cur else { return Ok(()) };
            let groups = c.nblocks.div_ceil(NINDIR as u64).max(1);
            if c.group >= groups {
                self.cur = None;
                return Ok(());
            }
            self.flush_group()?;
        }
    }

    fn prologue(&mut self) -> Result<()> {
        let li = level_info(&self.opts, &self.volume_in)?;
        let plan = self
            .catalog
            .plan(bsd::ROOT_INO, li.date, li.budate, i32::MAX as u32)?;
        for w in &plan.warnings {
            self.host.warn(w, None);
        }
        let medium = self
            .medium
            .take()
            .ok_or_else(|| Error::internal("by-inode writer started twice"))?;
        let mut out = VolOut::new(
            medium,
            self.opts.record_size,
            self.opts.volume_size,
            OutHeader::Bsd(TapeTemplate {
                date: li.date as i32,
                ddate: li.budate as i32,
            }),
            self.host.clone(),
        );
        out.start()?;
        self.out = Some(out);
        self.level = Some(li);
        let max = plan.max_ino;
        self.put_map(ts::CLRI, &mut (1..=max), max)?;
        let mut dumped: Vec<u32> = plan.dumped.iter().copied().collect();
        dumped.sort_unstable();
        self.put_map(ts::BITS, &mut dumped.into_iter(), max)?;
        for d in plan.dirs.clone() {
            let data = bsd::encode_dir(&d.entries);
            let m = &d.meta;
            let mut e = Entry::new(m.path.clone(), EntryKind::Dir);
            e.mode = m.mode;
            e.uid = m.uid;
            e.gid = m.gid;
            e.mtime = Some(relic_model::Timestamp::from_secs(m.mtime));
            e.atime = Some(relic_model::Timestamp::from_secs(m.atime));
            e.ctime = Some(relic_model::Timestamp::from_secs(m.ctime));
            let h = self.inode_header(d.ino, EntryKind::Dir, &e, d.nlink);
            self.begin_inode(h, data.len() as u64);
            self.put_data(0, &data)?;
            self.end_inode()?;
            self.entries += 1;
        }
        let li = self
            .level
            .as_ref()
            .map(|l| (l.level, l.budate))
            .unwrap_or((0, 0));
        self.notes.push(format!(
            "level {}, budate {}, {} inodes, {} directories",
            li.0,
            li.1,
            max - 1,
            plan.dirs.len()
        ));
        self.plan = Some(plan);
        Ok(())
    }
}

impl FormatWriter for BsdWriter {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    fn begin_archive(&mut self, volume: &VolumeInfo) -> Result<()> {
        self.volume_in = volume.clone();
        Ok(())
    }

    fn catalog_entry(&mut self, entry: &Entry) -> Result<()> {
        let date = self
            .opts
            .date
            .or(self.volume_in.date.map(|t| t.secs))
            .unwrap_or(0);
        self.catalog.add(entry, date);
        Ok(())
    }

    fn end_catalog(&mut self) -> Result<()> {
        self.prologue()
    }

    fn begin_entry(&mut self, e: &Entry) -> Result<()> {
        let Some(plan) = self.plan.as_ref() else {
            return Err(Error::internal(
                "by-inode needs the catalog pass (the engine provides it)",
            ));
        };
        if matches!(e.kind, EntryKind::Dir | EntryKind::HardLink) {
            return Ok(());
        }
        let path = crate::catalog::relative(&e.path);
        let Some(&ino) = plan.inode_of.get(&path) else {
            self.host.warn(
                &format!(
                    "{}: not seen in the catalog pass: left out",
                    e.display_path()
                ),
                None,
            );
            return Ok(());
        };
        if !plan.dumped.contains(&ino) {
            return Ok(());
        }
        let nlink = plan.nlink.get(&ino).copied().unwrap_or(1);
        let h = self.inode_header(ino, e.kind, e, nlink);
        self.entries += 1;
        match e.kind {
            EntryKind::File => self.begin_inode(h, e.size),
            EntryKind::Symlink => {
                let t = e.link_target.clone().unwrap_or_default();
                self.begin_inode(h, t.len() as u64);
                self.put_data(0, &t)?;
                self.end_inode()?;
            }
            _ => {
                self.begin_inode(h, 0);
                self.end_inode()?;
            }
        }
        Ok(())
    }

    fn write_data(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        if self.cur.is_none() {
            return Ok(()); // an entry left out
        }
        self.bytes += data.len() as u64;
        self.put_data(offset, data)
    }

    fn write_hole(&mut self, _offset: u64, _len: u64) -> Result<()> {
        // untouched blocks are holes already
        Ok(())
    }

    fn end_entry(&mut self) -> Result<()> {
        self.end_inode()
    }

    fn finish(&mut self) -> Result<WriteSummary> {
        if self.out.is_none() {
            self.prologue()?;
        }
        let end = self.header(ts::END);
        self.put_header(end)?;
        let out = self.out()?;
        out.finish()?;
        let volumes = out.volumes();
        crate::write::record_level(&self.level, self.opts.dumpdates.as_deref(), &mut self.notes)?;
        Ok(WriteSummary {
            entries: self.entries,
            bytes: self.bytes,
            volumes,
            notes: std::mem::take(&mut self.notes),
        })
    }
}
