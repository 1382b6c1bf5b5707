//! The save-set reader: records out of checked blocks, entries out of records.
//!
//! Records (research note §1.5-§1.10) follow each other from offset 256 of every data block
//! that [`crate::blocks`] releases; a record never crosses a block. The reader handles every
//! type: SUMMARY (volume info), VOLUME (/IMAGE volume initialisation data, into the volume
//! extras), FILE (an entry), VBN (file data), ALIAS (noted for the FILE that follows),
//! PHYSVOL and LBN / LBN_576 (/PHYSICAL: one entry holding the disk image), NULL (block
//! padding); FID, FILE_EXT and RSTS/E directory records are skipped with a log line, an
//! unknown type with a warning.
//!
//! Model mapping:
//! - `[DIR.SUB]NAME.TYPE;VER` -> `DIR/SUB/NAME.TYPE` ([`crate::names`]); the first (newest,
//!   BACKUP stores the highest version first) occurrence of a name is plain, later versions
//!   are `NAME.TYPE;N` (`versions=all`, default) or left out (`versions=latest`); the version
//!   and the full specification stay in `vms.version` / `vms.name`.
//! - Directory files (BRH flag DIRECTORY or UCHAR directory bit) become directories, their
//!   raw contents (up to 64 KiB) kept in `vms.dir-data`.
//! - A FILE whose file ID was already seen (an alias entry of a file saved earlier) becomes
//!   a hard link to the first name; an ALIAS record's primary name is kept in `vms.alias`.
//! - UIC -> uid (member) / gid (group); protection -> permission bits (OWNER/GROUP/WORLD,
//!   R/W/E -> r/w/x) with the original in `vms.fpro`; revision date -> mtime, creation date
//!   -> birth, ODS-5 access date -> atime; every date also exact in `vms.credate`,
//!   `vms.revdate`, `vms.expdate`, `vms.bakdate`; the ACL segments -> an `Acl` of kind
//!   `vms.acl`; the RMS attributes -> `vms.org`, `vms.rfm`, `vms.rat`, `vms.mrs`, `vms.fsz`,
//!   `vms.ebk`, `vms.ffb`, `vms.hbk`, `vms.bks`, `vms.maxrec`, `vms.deq`, `vms.gbc`,
//!   `vms.verlimit`; and the whole attribute list as stored in `vms.attrs`, so a VMS -> VMS
//!   copy ([`crate::write`]) reproduces every attribute.
//!
//! Data (`vms-records`): `raw` is the stored bytes through EOF (sequential files) or the whole
//! allocation (relative/indexed, as BACKUP saves them), streamed straight from the VBN
//! records. `text` converts every sequential FIX/VAR/VFC/STM* file, `auto` (the default) only
//! those whose record attributes carry carriage control ([`crate::records`]).
//!
//! **Size before data.** A converted file's length is known only after converting it, and
//! `Entry::size` comes before the data. Choice: a text-mode file's raw bytes are collected
//! into a [`Spool`] (in memory up to 8 MiB, then an anonymous temporary file) while the entry
//! is prepared, converted once to count (a record that does not parse switches the file to
//! raw, with a warning, before the entry is returned) and converted again while delivering.
//! This works on any medium, seekable or not; the cost is reading the spool twice, and only
//! text files pay it. `vms.data` says which form the data has (`raw` or `text`).

use std::collections::{HashMap, HashSet, VecDeque};

use relic_model::{
    Acl, Chunk, DataState, Entry, EntryKind, Error, FormatReader, LogLevel, Medium, Result,
    VolumeInfo,
};
use relic_plugin_sdk::HostHandle;

use crate::ansi::Hdr1;
use crate::blocks::{Block, BlockSource};
use crate::layout::{
    self, attr, brh_flags, format_vms_time, opsys, org, protection_string, protection_to_mode, rat,
    rfm, rtype, uic_string, Attr, Brh, Fat, BBH_SIZE, BRH_SIZE, UCHAR_DIRECTORY, VBN_SIZE,
};
use crate::names;
use crate::records::{Converter, Policy};
use crate::spool::{Spool, DEFAULT_LIMIT};

/// `vms-records=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordsMode {
    Raw,
    Text,
    Auto,
}

/// `versions=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    All,
    Latest,
}

/// `saveset=NAME|N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Name(String),
    Number(u32),
}

#[derive(Debug, Clone)]
pub struct ReadOptions {
    pub records: RecordsMode,
    pub versions: Versions,
    pub saveset: Option<Selector>,
    pub salvage: bool,
    /// Honour PRN carriage control in text conversion.
    pub prn: bool,
    /// In-memory part of the text-conversion spool.
    pub spool_limit: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            records: RecordsMode::Auto,
            versions: Versions::All,
            saveset: None,
            salvage: false,
            prn: false,
            spool_limit: DEFAULT_LIMIT,
        }
    }
}

/// Directory contents kept in `vms.dir-data` up to this size.
const DIR_DATA_MAX: usize = 64 * 1024;
/// Spool read size.
const CHUNK: usize = 64 * 1024;

/// A record of the current block.
#[derive(Debug, Clone, Copy)]
struct Rec {
    h: Brh,
    /// Body start and end in the current block.
    body: usize,
    end: usize,
    /// Input offset of the record header.
    offset: u64,
}

/// Data of the current entry, streamed from VBN (or LBN) records.
#[derive(Debug)]
struct Stream {
    size: u64,
    delivered: u64,
    next_addr: u64,
    base: u64,
    unit: u64,
    /// Record types that carry this entry's data.
    types: [u16; 2],
    /// Unread part of the current data record (start in the block, length).
    cur: Option<(usize, usize)>,
    path: Vec<u8>,
}

struct Spooled {
    spool: Spool,
    conv: Option<Converter>,
    finished: bool,
    in_pos: u64,
    out: Vec<u8>,
    out_pos: usize,
    delivered: u64,
    /// Raw delivery of a damaged file: this range is absent after the spool ...
    absent: Option<(u64, u64)>,
    /// ... and the rest streams from the records.
    tail: Option<Stream>,
}

enum Data {
    None,
    Stream(Stream),
    Spooled(Box<Spooled>),
}

/// What an ALIAS record said (research note §1.10).
#[derive(Debug, Clone, Default)]
struct Alias {
    primary: Vec<u8>,
}

/// The decoded attributes of a FILE record.
#[derive(Debug, Clone, Default)]
struct FileAttrs {
    name: Option<Vec<u8>>,
    fid: Option<(u32, u16, u8)>,
    backlink: Option<(u32, u16, u8)>,
    filesize: Option<u32>,
    uic: Option<u32>,
    fpro: Option<u16>,
    uchar: u32,
    fat: Fat,
    has_fat: bool,
    revision: Option<u64>,
    dates: [u64; 4],
    accdate: u64,
    acl: Vec<u8>,
    verlimit: Option<u16>,
}

fn fid_str(f: (u32, u16, u8)) -> String {
    format!("({},{},{})", f.0, f.1, f.2)
}

/// Everything a FILE record carries.
fn decode_file(list: &[Attr<'_>]) -> FileAttrs {
    let mut a = FileAttrs::default();
    for it in list {
        let v = it.value;
        match it.code {
            attr::FILENAME => a.name = Some(v.to_vec()),
            attr::FID => a.fid = layout::fid_parts(v),
            attr::BACKLINK => a.backlink = layout::fid_parts(v),
            attr::FILESIZE => a.filesize = Some(layout::attr_uint(v) as u32),
            attr::UIC => a.uic = Some(layout::attr_uint(v) as u32),
            attr::FPRO => a.fpro = Some(layout::attr_uint(v) as u16),
            attr::UCHAR => a.uchar = layout::attr_uint(v) as u32,
            attr::RECATTR => {
                a.fat = Fat::parse(v);
                a.has_fat = true;
            }
            attr::REVISION => a.revision = Some(layout::attr_uint(v)),
            attr::CREDATE => a.dates[0] = layout::attr_uint(v),
            attr::REVDATE => a.dates[1] = layout::attr_uint(v),
            attr::EXPDATE => a.dates[2] = layout::attr_uint(v),
            attr::BAKDATE => a.dates[3] = layout::attr_uint(v),
            attr::ACCDATE => a.accdate = layout::attr_uint(v),
            attr::ACLSEGMENT => a.acl.extend_from_slice(v),
            attr::VERLIMIT => a.verlimit = Some(layout::attr_uint(v) as u16),
            _ => {}
        }
    }
    a
}

/// The reader.
pub struct VmsReader<M: Medium> {
    src: BlockSource<M>,
    host: HostHandle,
    opts: ReadOptions,
    volume: VolumeInfo,
    block: Option<Block>,
    pos: usize,
    pushback: Option<Rec>,
    /// Blocks were lost before the current one (salvage).
    gap: bool,
    data: Data,
    seen: HashSet<Vec<u8>>,
    fids: HashMap<(u32, u16, u8), Vec<u8>>,
    alias: Option<Alias>,
    /// Path prefix: the save-set name on a tape read whole.
    prefix: Option<Vec<u8>>,
    /// A save set was chosen with `saveset=`.
    selected: bool,
    queue: VecDeque<Entry>,
    savesets: u32,
    physvol: Vec<(u16, Vec<u8>)>,
    orphans: u64,
    unnamed: u32,
    /// The /PHYSICAL disk image entry was emitted.
    physical_done: bool,
    /// The summary of the save set being read (for the prefix directory of tapes).
    current_summary_date: Option<relic_model::Timestamp>,
    current_summary_extras: Vec<relic_model::Extra>,
}

fn summary_extras(list: &[Attr<'_>], vol: &mut VolumeInfo, prefix: &str) {
    for it in list {
        let v = it.value;
        let text = || String::from_utf8_lossy(v).trim_end().to_string();
        let key = format!("{prefix}{}", attr::name(it.code));
        let value: Option<String> = match it.code {
            attr::SSNAME
            | attr::COMMAND
            | attr::COMMENT
            | attr::SYSVER
            | attr::NODENAME
            | attr::DRIVEID
            | attr::BACKVER
            | attr::VOLSETNAM => Some(text()),
            attr::USERNAME => Some(String::from_utf8_lossy(v).to_string()),
            attr::USERUIC => Some(uic_string(layout::attr_uint(v) as u32)),
            attr::DATE => Some(format_vms_time(layout::attr_uint(v))),
            attr::OPSYS => {
                let c = layout::attr_uint(v) as u16;
                Some(format!("{c:#06x} {}", opsys::name(c)))
            }
            attr::SIR => Some(format!("{:08x}", layout::attr_uint(v))),
            attr::BLOCKSIZE
            | attr::XORSIZE
            | attr::BUFFERS
            | attr::NVOLS
            | attr::BACKSIZE
            | attr::BACKFILES => Some(layout::attr_uint(v).to_string()),
            _ => None,
        };
        if let Some(val) = value {
            vol.extras.push(relic_model::Extra::new(key, val));
        }
        match it.code {
            attr::SSNAME => vol.label = Some(v.to_vec()),
            attr::DATE => vol.date = layout::vms_time(layout::attr_uint(v)),
            attr::NODENAME => vol.host = Some(v.to_vec()),
            attr::DRIVEID => vol.device = Some(v.to_vec()),
            attr::USERNAME => {
                vol.user = Some(String::from_utf8_lossy(v).trim_end().as_bytes().to_vec())
            }
            attr::VOLSETNAM | attr::NVOLS => vol.variant = "image".into(),
            _ => {}
        }
    }
}

/// VOLUME / PHYSVOL attribute values as text.
fn volume_value(code: u16, v: &[u8]) -> String {
    match code {
        attr::VOLNAME | attr::OWNERNAME | attr::FORMAT | attr::DEVNAM | attr::LABEL => {
            String::from_utf8_lossy(v).trim_end().to_string()
        }
        attr::VOLOWNER => uic_string(layout::attr_uint(v) as u32),
        attr::PROTECT | attr::FILEPROT | attr::RECPROT => format!("{:#06x}", layout::attr_uint(v)),
        attr::VOLDATE => format_vms_time(layout::attr_uint(v)),
        _ if v.len() <= 8 => layout::attr_uint(v).to_string(),
        _ => v.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

impl<M: Medium> VmsReader<M> {
    pub fn open(medium: M, host: HostHandle, opts: ReadOptions) -> Result<VmsReader<M>> {
        let src = BlockSource::open(medium, host.clone(), opts.salvage)?;
        let mut r = VmsReader {
            src,
            host,
            opts,
            volume: VolumeInfo {
                format: "vms-backup".into(),
                variant: "file-by-file".into(),
                volume: Some(1),
                ..VolumeInfo::default()
            },
            block: None,
            pos: 0,
            pushback: None,
            gap: false,
            data: Data::None,
            seen: HashSet::new(),
            fids: HashMap::new(),
            alias: None,
            prefix: None,
            selected: false,
            queue: VecDeque::new(),
            savesets: 0,
            physvol: Vec::new(),
            orphans: 0,
            unnamed: 0,
            physical_done: false,
            current_summary_date: None,
            current_summary_extras: Vec::new(),
        };
        if r.src.labelled {
            let sel = r.opts.saveset.clone();
            let mut names = Vec::new();
            loop {
                let Some(h) = r.src.begin_saveset()? else {
                    return Err(match &sel {
                        Some(s) => Error::new(
                            relic_model::ErrorKind::NotFound,
                            format!(
                                "no save set {} on this tape (it holds: {})",
                                match s {
                                    Selector::Name(n) => format!("named '{n}'"),
                                    Selector::Number(n) => format!("number {n}"),
                                },
                                if names.is_empty() {
                                    "none".into()
                                } else {
                                    names.join(", ")
                                }
                            ),
                        ),
                        None => Error::corrupt("the tape has labels but no save set"),
                    });
                };
                r.savesets += 1;
                names.push(format!("{} ({})", h.file_id, r.savesets));
                let hit = match &sel {
                    None => true,
                    Some(Selector::Number(n)) => *n == r.savesets,
                    Some(Selector::Name(n)) => name_matches(n, &h.file_id),
                };
                if hit {
                    r.selected = sel.is_some();
                    break;
                }
                r.src.skip_saveset()?;
            }
            if let Some(v) = &r.src.tape.volume_id {
                r.volume
                    .extras
                    .push(relic_model::Extra::new("vms.tape.volume-id", v.clone()));
            }
        }
        r.read_summary(true)?;
        if r.src.labelled && !r.selected {
            r.start_prefix();
        } else if let Some(sel) = &r.opts.saveset {
            if !r.src.labelled {
                let name =
                    String::from_utf8_lossy(r.volume.label.as_deref().unwrap_or(b"")).to_string();
                let ok = match sel {
                    Selector::Number(n) => *n == 1,
                    Selector::Name(n) => name_matches(n, &name),
                };
                if !ok {
                    return Err(Error::new(
                        relic_model::ErrorKind::NotFound,
                        format!(
                            "this input holds one save set, '{name}'; saveset= does not select it"
                        ),
                    ));
                }
            }
        }
        r.volume.block_size = Some(r.src.bs as u32);
        r.volume.record_size = Some(r.src.bs as u32);
        Ok(r)
    }

    fn warn(&self, msg: &str, off: u64) {
        self.host.warn(msg, Some(off));
    }

    /// The save-set name directory of a tape read whole, with the summary in its extras.
    fn start_prefix(&mut self) {
        let name = self
            .volume_label_for_prefix()
            .unwrap_or_else(|| format!("SAVESET{}", self.savesets));
        let mut p: Vec<u8> = name.into_bytes();
        if p.is_empty() || p == b"." || p == b".." || p.contains(&b'/') {
            p = format!("SAVESET{}", self.savesets).into_bytes();
        }
        let mut e = Entry::new(p.clone(), EntryKind::Dir);
        e.mtime = self.current_summary_date;
        e.extras = self.current_summary_extras.clone();
        e.extras.push(relic_model::Extra::new(
            "vms.saveset-number",
            self.savesets.to_string(),
        ));
        self.queue.push_back(e);
        self.prefix = Some(p);
    }

    fn volume_label_for_prefix(&self) -> Option<String> {
        let from_summary = self
            .current_summary_extras
            .iter()
            .find(|x| x.key == "vms.ssname")
            .map(|x| String::from_utf8_lossy(&x.value).to_string())
            .filter(|s| !s.is_empty());
        from_summary.or_else(|| self.src.tape.hdr1.as_ref().map(|h| h.file_id.clone()))
    }

    /// Block 1: the SUMMARY record, then VOLUME records (/IMAGE).
    fn read_summary(&mut self, first: bool) -> Result<()> {
        let Some(rec) = self.next_record()? else {
            return Err(Error::truncated("the save set has no data blocks").at(0));
        };
        let mut vol = VolumeInfo::default();
        if rec.h.rtype != rtype::SUMMARY {
            let msg = format!(
                "block 1 starts with a {} record, not the save-set SUMMARY",
                rtype::name(rec.h.rtype)
            );
            if !self.opts.salvage {
                return Err(Error::corrupt(msg).at(rec.offset));
            }
            self.warn(&msg, rec.offset);
            self.pushback = Some(rec);
        } else {
            let body = self.body(&rec).to_vec();
            let list = layout::attr_list(&body, rec.offset + BRH_SIZE as u64)?;
            summary_extras(&list, &mut vol, "vms.");
        }
        // VOLUME records follow the summary in /IMAGE save sets
        let mut nvol = 0;
        while let Some(r) = self.next_record()? {
            match r.h.rtype {
                rtype::NULL => continue,
                rtype::VOLUME => {
                    nvol += 1;
                    let body = self.body(&r).to_vec();
                    let list = layout::attr_list(&body, r.offset + BRH_SIZE as u64)?;
                    for it in &list {
                        vol.extras.push(relic_model::Extra::new(
                            format!("vms.volume{nvol}.{}", attr::name(it.code)),
                            volume_value(it.code, it.value),
                        ));
                    }
                    vol.variant = "image".into();
                }
                rtype::PHYSVOL => {
                    let body = self.body(&r).to_vec();
                    let list = layout::attr_list(&body, r.offset + BRH_SIZE as u64)?;
                    self.physvol = list.iter().map(|a| (a.code, a.value.to_vec())).collect();
                    for (c, v) in &self.physvol {
                        vol.extras.push(relic_model::Extra::new(
                            format!("vms.physvol.{}", attr::name(*c)),
                            volume_value(*c, v),
                        ));
                    }
                    vol.variant = "physical".into();
                }
                _ => {
                    self.pushback = Some(r);
                    break;
                }
            }
        }
        self.current_summary_date = vol.date;
        self.current_summary_extras = vol.extras.clone();
        if first {
            let variant = if vol.variant.is_empty() {
                self.volume.variant.clone()
            } else {
                vol.variant.clone()
            };
            self.volume.label = vol.label;
            self.volume.date = vol.date;
            self.volume.host = vol.host;
            self.volume.device = vol.device;
            self.volume.user = vol.user;
            self.volume.variant = variant;
            self.volume.extras.extend(vol.extras);
        }
        Ok(())
    }

    fn body(&self, r: &Rec) -> &[u8] {
        match &self.block {
            Some(b) => &b.data[r.body..r.end],
            None => &[],
        }
    }

    /// The next record of the save set (`None` at its end).
    fn next_record(&mut self) -> Result<Option<Rec>> {
        if let Some(r) = self.pushback.take() {
            return Ok(Some(r));
        }
        loop {
            let Some(b) = &self.block else {
                match self.src.next_block()? {
                    Some(b) => {
                        if b.after_gap {
                            self.gap = true;
                        }
                        self.block = Some(b);
                        self.pos = BBH_SIZE;
                        continue;
                    }
                    None => return Ok(None),
                }
            };
            let len = b.data.len();
            if self.pos + BRH_SIZE > len {
                self.block = None;
                continue;
            }
            let h = Brh::parse(&b.data[self.pos..]);
            let offset = b.offset + self.pos as u64;
            let body = self.pos + BRH_SIZE;
            let end = body + h.rsize as usize;
            if end > len {
                let msg = format!(
                    "{} record of {} bytes runs past the end of block {} ({} bytes left)",
                    rtype::name(h.rtype),
                    h.rsize,
                    b.number,
                    len - body
                );
                if self.opts.salvage {
                    self.warn(&format!("{msg}; rest of the block skipped"), offset);
                    self.block = None;
                    self.gap = true;
                    continue;
                }
                return Err(Error::corrupt(msg).at(offset));
            }
            self.pos = end;
            if h.rtype == rtype::NULL {
                continue;
            }
            return Ok(Some(Rec {
                h,
                body,
                end,
                offset,
            }));
        }
    }

    /// Skip what is left of the current entry's data records.
    fn finish_current(&mut self) -> Result<()> {
        let types = match &self.data {
            Data::Stream(s) => Some(s.types),
            Data::Spooled(sp) => sp.tail.as_ref().map(|t| t.types),
            Data::None => None,
        };
        self.data = Data::None;
        if let Some(types) = types {
            self.drain(types)?;
        }
        Ok(())
    }

    /// Consume data records of the current entry (they follow it without a gap).
    fn drain(&mut self, types: [u16; 2]) -> Result<usize> {
        let mut n = 0;
        while let Some(r) = self.next_record()? {
            if types.contains(&r.h.rtype) && (!self.gap || types[0] != rtype::VBN) {
                n += 1;
                continue;
            }
            self.pushback = Some(r);
            break;
        }
        Ok(n)
    }

    /// Move to the next save set of a tape read whole. False when there is none.
    fn next_saveset(&mut self) -> Result<bool> {
        if !self.src.labelled || self.selected {
            return Ok(false);
        }
        let Some(_h): Option<Hdr1> = self.src.begin_saveset()? else {
            return Ok(false);
        };
        self.savesets += 1;
        self.block = None;
        self.pushback = None;
        self.gap = false;
        self.seen.clear();
        self.fids.clear();
        self.physical_done = false;
        self.physvol.clear();
        self.read_summary(false)?;
        self.start_prefix();
        Ok(true)
    }

    fn prefixed(&self, p: Vec<u8>) -> Vec<u8> {
        match &self.prefix {
            Some(pre) => {
                let mut v = pre.clone();
                v.push(b'/');
                v.extend_from_slice(&p);
                v
            }
            None => p,
        }
    }

    fn next_entry_inner(&mut self) -> Result<Option<Entry>> {
        if let Some(e) = self.queue.pop_front() {
            return Ok(Some(e));
        }
        self.finish_current()?;
        loop {
            let Some(rec) = self.next_record()? else {
                if self.orphans > 0 {
                    self.orphans = 0;
                }
                if !self.next_saveset()? {
                    return Ok(None);
                }
                if let Some(e) = self.queue.pop_front() {
                    return Ok(Some(e));
                }
                continue;
            };
            match rec.h.rtype {
                rtype::FILE => {
                    self.gap = false;
                    self.orphans = 0;
                    if let Some(e) = self.file_entry(rec)? {
                        return Ok(Some(e));
                    }
                }
                rtype::LBN | rtype::LBN_576 if !self.physical_done => {
                    self.physical_done = true;
                    self.pushback = Some(rec);
                    return self.physical_entry(rec.h.rtype).map(Some);
                }
                rtype::LBN | rtype::LBN_576 => self.orphan(&rec),
                rtype::VBN => self.orphan(&rec),
                rtype::ALIAS => {
                    let body = self.body(&rec).to_vec();
                    self.alias = parse_alias(&body);
                }
                rtype::PHYSVOL => {
                    let body = self.body(&rec).to_vec();
                    let list = layout::attr_list(&body, rec.offset + BRH_SIZE as u64)?;
                    self.physvol = list.iter().map(|a| (a.code, a.value.to_vec())).collect();
                    self.volume.variant = "physical".into();
                    for (c, v) in &self.physvol {
                        self.volume.extras.push(relic_model::Extra::new(
                            format!("vms.physvol.{}", attr::name(*c)),
                            volume_value(*c, v),
                        ));
                    }
                }
                rtype::SUMMARY | rtype::VOLUME => {
                    self.host.log(
                        LogLevel::Debug,
                        &format!(
                            "{} record after the start ignored",
                            rtype::name(rec.h.rtype)
                        ),
                    );
                }
                rtype::FID | rtype::FILE_EXT | rtype::RS_DIRATTR => {
                    self.host.log(
                        LogLevel::Debug,
                        &format!("{} record skipped", rtype::name(rec.h.rtype)),
                    );
                }
                t => self.warn(
                    &format!("unknown record type {t} ({} bytes) skipped", rec.h.rsize),
                    rec.offset,
                ),
            }
        }
    }

    fn orphan(&mut self, rec: &Rec) {
        if self.orphans == 0 {
            self.warn(
                &format!(
                    "{} data (block {}) without a FILE record before it skipped",
                    rtype::name(rec.h.rtype),
                    rec.h.address
                ),
                rec.offset,
            );
        }
        self.orphans += 1;
    }

    /// /PHYSICAL: the disk image as one entry.
    fn physical_entry(&mut self, first_type: u16) -> Result<Entry> {
        let unit: u64 = if first_type == rtype::LBN_576 {
            576
        } else {
            VBN_SIZE as u64
        };
        let get = |c: u16| {
            self.physvol
                .iter()
                .find(|(k, _)| *k == c)
                .map(|(_, v)| v.clone())
        };
        let maxblock = get(attr::MAXBLOCK).map(|v| layout::attr_uint(&v));
        let label = get(attr::LABEL)
            .map(|v| String::from_utf8_lossy(&v).trim().to_string())
            .filter(|s| !s.is_empty() && !s.contains('/') && s != "." && s != "..")
            .unwrap_or_else(|| "PHYSICAL".into());
        let Some(maxblock) = maxblock else {
            return Err(Error::unsupported(
                "a /PHYSICAL save set without the MAXBLOCK attribute: the disk size is unknown",
            ));
        };
        let path = self.prefixed(format!("{label}.img").into_bytes());
        let mut e = Entry::new(path.clone(), EntryKind::File);
        e.size = maxblock.saturating_mul(unit);
        e.mtime = self.volume.date;
        e.extras.push(relic_model::Extra::new("vms.data", "raw"));
        self.data = Data::Stream(Stream {
            size: e.size,
            delivered: 0,
            next_addr: 0,
            base: 0,
            unit,
            types: [rtype::LBN, rtype::LBN_576],
            cur: None,
            path,
        });
        Ok(e)
    }

    /// Build the entry of a FILE record; `None` when it is left out (`versions=latest`).
    fn file_entry(&mut self, rec: Rec) -> Result<Option<Entry>> {
        let body = self.body(&rec).to_vec();
        let list = match layout::attr_list(&body, rec.offset + BRH_SIZE as u64) {
            Ok(l) => l,
            Err(e) if self.opts.salvage => {
                self.warn(
                    &format!("FILE record unreadable ({}); file skipped", e.message),
                    rec.offset,
                );
                self.drain([rtype::VBN, rtype::VBN])?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let a = decode_file(&list);
        let alias = self.alias.take();
        let raw_name = match &a.name {
            Some(n) => n.clone(),
            None => {
                self.unnamed += 1;
                self.warn("FILE record without a file name", rec.offset);
                format!("[000000]UNNAMED_{}.;1", self.unnamed).into_bytes()
            }
        };
        let spec = names::parse_spec(&raw_name);
        for p in &spec.problems {
            self.warn(
                &format!("{}: {p}", String::from_utf8_lossy(&raw_name)),
                rec.offset,
            );
        }
        let is_dir = rec.h.flags & brh_flags::DIRECTORY != 0 || a.uchar & UCHAR_DIRECTORY != 0;
        // [000000]000000.DIR is the volume's root directory (the MFD) itself
        let mfd = is_dir && spec.dirs.is_empty() && spec.stem() == b"000000";
        if mfd && self.prefix.is_some() {
            self.drain([rtype::VBN, rtype::VBN])?;
            return Ok(None);
        }
        let mut base = if mfd {
            b".".to_vec()
        } else if is_dir {
            let mut d = spec.dirs.clone();
            d.push(spec.stem().to_vec());
            d.join(&b'/')
        } else {
            spec.path()
        };
        if base.is_empty() {
            base = b"_".to_vec();
        }
        let base = self.prefixed(base);
        let version = spec.version.unwrap_or(1);
        let path = if self.seen.insert(base.clone()) {
            base
        } else {
            if self.opts.versions == Versions::Latest {
                self.drain([rtype::VBN, rtype::VBN])?;
                return Ok(None);
            }
            let mut p = base;
            p.extend_from_slice(format!(";{version}").as_bytes());
            self.seen.insert(p.clone());
            p
        };
        let fat = a.fat;
        let mut headonly = rec.h.flags & brh_flags::HEADONLY != 0;
        // BACKUP/ENCRYPT keys (DES, AES): the data is ciphertext in an undocumented scheme
        if list
            .iter()
            .any(|x| x.code == attr::CRYPDATKEY || x.code == attr::CRYPAESDATKEY)
        {
            let msg = format!(
                "{} is encrypted (BACKUP/ENCRYPT), which relic cannot decrypt",
                String::from_utf8_lossy(&raw_name)
            );
            if !self.opts.salvage {
                return Err(Error::unsupported(msg).at(rec.offset));
            }
            self.warn(&format!("{msg}: its data is left out"), rec.offset);
            headonly = true;
        }
        let link = a
            .fid
            .filter(|f| f.0 != 0)
            .and_then(|f| self.fids.get(&f).cloned());
        let kind = if is_dir {
            EntryKind::Dir
        } else if link.is_some() {
            EntryKind::HardLink
        } else {
            EntryKind::File
        };
        let mut e = Entry::new(path.clone(), kind);
        if let Some(p) = a.fpro {
            e.mode = protection_to_mode(p);
        }
        if let Some(u) = a.uic {
            e.uid = (u & 0xffff) as u64;
            e.gid = (u >> 16) as u64;
        }
        e.birth = layout::vms_time(a.dates[0]);
        e.mtime = layout::vms_time(a.dates[1]);
        e.atime = layout::vms_time(a.accdate);
        e.inode = a.fid.map(|f| f.0 as u64);
        if !a.acl.is_empty() {
            e.acls.push(Acl {
                kind: "vms.acl".into(),
                data: a.acl.clone(),
            });
        }
        // extras
        let x = &mut e.extras;
        let mut put = |k: &str, v: String| x.push(relic_model::Extra::new(k, v));
        put("vms.name", String::from_utf8_lossy(&raw_name).into_owned());
        put("vms.version", version.to_string());
        if let Some(f) = a.fid {
            put("vms.fid", fid_str(f));
        }
        if let Some(f) = a.backlink {
            put("vms.did", fid_str(f));
        }
        if let Some(u) = a.uic {
            put("vms.uic", uic_string(u));
        }
        if let Some(p) = a.fpro {
            put("vms.fpro", protection_string(p));
        }
        put("vms.uchar", format!("{:#010x}", a.uchar));
        if a.has_fat {
            put("vms.org", org::name(fat.org).into());
            put("vms.rfm", rfm::name(fat.rfm).into());
            put("vms.rat", rat::names(fat.rat));
            put("vms.mrs", fat.rsize.to_string());
            put("vms.fsz", fat.vfcsize.to_string());
            put("vms.ebk", fat.efblk.to_string());
            put("vms.ffb", fat.ffbyte.to_string());
            put("vms.hbk", fat.hiblk.to_string());
            put("vms.bks", fat.bktsize.to_string());
            put("vms.maxrec", fat.maxrec.to_string());
            put("vms.deq", fat.defext.to_string());
            put("vms.gbc", fat.gbc.to_string());
            if fat.versions != 0 {
                put("vms.verlimit-default", fat.versions.to_string());
            }
        }
        if let Some(v) = a.verlimit {
            put("vms.verlimit", v.to_string());
        }
        if let Some(r) = a.revision {
            put("vms.revision", r.to_string());
        }
        for (k, t) in ["vms.credate", "vms.revdate", "vms.expdate", "vms.bakdate"]
            .iter()
            .zip(a.dates)
        {
            if t != 0 {
                put(k, format_vms_time(t));
            }
        }
        if rec.h.flags != 0 {
            put("vms.brh-flags", format!("{:#x}", rec.h.flags));
        }
        if let Some(al) = &alias {
            put(
                "vms.alias",
                String::from_utf8_lossy(&al.primary).into_owned(),
            );
        }
        e.extras.push(relic_model::Extra::new(
            "vms.attrs",
            body.get(2..).unwrap_or(&[]).to_vec(),
        ));

        // data
        let saved = fat.saved_bytes();
        let mut size = saved;
        if fat.org == org::SEQ && fat.hiblk > 0 && saved > fat.hiblk as u64 * VBN_SIZE as u64 {
            size = fat.hiblk as u64 * VBN_SIZE as u64;
            self.warn(
                &format!(
                    "{}: end of file (block {}) lies beyond the allocation ({} blocks); reading the allocation",
                    String::from_utf8_lossy(&raw_name),
                    fat.efblk,
                    fat.hiblk
                ),
                rec.offset,
            );
        }
        match kind {
            EntryKind::Dir => {
                let dd = self.collect_small(size, &path)?;
                if let Some(dd) = dd {
                    e.extras.push(relic_model::Extra::new("vms.dir-data", dd));
                }
                e.size = 0;
            }
            EntryKind::HardLink => {
                e.link_target = link;
                self.drain([rtype::VBN, rtype::VBN])?;
                e.size = 0;
            }
            _ => {
                if let Some(f) = a.fid.filter(|f| f.0 != 0) {
                    self.fids.insert(f, path.clone());
                }
                if headonly {
                    e.data = DataState::Absent;
                    e.size = size;
                    self.drain([rtype::VBN, rtype::VBN])?;
                } else {
                    self.data = Data::Stream(Stream {
                        size,
                        delivered: 0,
                        next_addr: 1,
                        base: 1,
                        unit: VBN_SIZE as u64,
                        types: [rtype::VBN, rtype::VBN],
                        cur: None,
                        path: path.clone(),
                    });
                    e.size = size;
                    let text = fat.org == org::SEQ
                        && a.has_fat
                        && match self.opts.records {
                            RecordsMode::Raw => false,
                            RecordsMode::Text => true,
                            RecordsMode::Auto => fat.rat & rat::CC != 0,
                        };
                    let policy = if text {
                        Policy::for_fat(&fat, self.opts.prn)
                    } else {
                        None
                    };
                    let mut form = "raw";
                    if let Some(p) = policy {
                        if let Some(n) = self.spool_text(p, &path, rec.offset)? {
                            e.size = n;
                            form = "text";
                        }
                    }
                    e.extras.push(relic_model::Extra::new("vms.data", form));
                }
            }
        }
        Ok(Some(e))
    }

    /// Read a directory file's data into memory when it is small.
    fn collect_small(&mut self, size: u64, path: &[u8]) -> Result<Option<Vec<u8>>> {
        if size == 0 || size > DIR_DATA_MAX as u64 {
            self.drain([rtype::VBN, rtype::VBN])?;
            return Ok(None);
        }
        self.data = Data::Stream(Stream {
            size,
            delivered: 0,
            next_addr: 1,
            base: 1,
            unit: VBN_SIZE as u64,
            types: [rtype::VBN, rtype::VBN],
            cur: None,
            path: path.to_vec(),
        });
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.read_stream(&mut buf)? {
                Chunk::Data { len, .. } => out.extend_from_slice(&buf[..len as usize]),
                Chunk::End => break,
                Chunk::Hole { len, .. } | Chunk::Absent { len, .. } => {
                    out.resize(out.len() + len as usize, 0)
                }
            }
        }
        self.finish_current()?;
        Ok(Some(out))
    }

    /// Spool a text file and count its converted size. `None` when it must stay raw (bad
    /// data: the spooled raw bytes are delivered; incomplete data under `salvage`: the bytes
    /// before the gap, the gap as absent, then the rest streamed raw).
    fn spool_text(&mut self, p: Policy, path: &[u8], off: u64) -> Result<Option<u64>> {
        let mut spool = Spool::new(self.opts.spool_limit);
        let mut buf = vec![0u8; CHUNK];
        let mut absent = None;
        loop {
            match self.read_stream(&mut buf)? {
                Chunk::Data { len, .. } => spool.write(&buf[..len as usize])?,
                Chunk::End => break,
                Chunk::Hole { offset, len } | Chunk::Absent { offset, len } => {
                    absent = Some((offset, len));
                    break;
                }
            }
        }
        let tail = if absent.is_some() {
            match std::mem::replace(&mut self.data, Data::None) {
                Data::Stream(s) => Some(s),
                _ => None,
            }
        } else {
            self.finish_current()?;
            None
        };
        let mut conv = if absent.is_none() {
            Some(Converter::new(p))
        } else {
            None
        };
        if let Some(c) = &mut conv {
            let mut sink = Vec::with_capacity(CHUNK * 2);
            let mut pos = 0u64;
            let r = loop {
                let n = spool.read_at(pos, &mut buf)?;
                if n == 0 {
                    break c.finish(&mut sink);
                }
                pos += n as u64;
                if let Err(e) = c.feed(&buf[..n], &mut sink) {
                    break Err(e);
                }
                sink.clear();
            };
            if let Err(bad) = r {
                self.warn(
                    &format!(
                        "{}: not valid {} records ({} at byte {} of the file): delivered raw",
                        String::from_utf8_lossy(path),
                        rfm::name(p.rfm).to_uppercase(),
                        bad.message,
                        bad.offset
                    ),
                    off,
                );
                conv = None;
            }
        }
        let size = conv.as_ref().map(|c| c.out_len());
        self.data = Data::Spooled(Box::new(Spooled {
            spool,
            conv: conv.map(|_| Converter::new(p)),
            finished: false,
            in_pos: 0,
            out: Vec::new(),
            out_pos: 0,
            delivered: 0,
            absent,
            tail,
        }));
        Ok(size)
    }

    fn missing(&mut self, missing: u64, why: &str) -> Result<Chunk> {
        let (path, off_in_file) = match &self.data {
            Data::Stream(s) => (s.path.clone(), s.delivered),
            _ => (Vec::new(), 0),
        };
        let at = self
            .block
            .as_ref()
            .map(|b| b.offset + self.pos as u64)
            .unwrap_or_else(|| self.src.offset_now());
        if !self.opts.salvage {
            return Err(Error::corrupt(format!(
                "{why}: {missing} bytes from byte {off_in_file} of the file are not in the save set (salvage keeps going)"
            ))
            .entry(&path)
            .at(at));
        }
        self.warn(
            &format!(
                "{}: {why}: {missing} bytes from byte {off_in_file} are missing",
                String::from_utf8_lossy(&path)
            ),
            at,
        );
        if let Data::Stream(s) = &mut self.data {
            s.delivered += missing;
        }
        Ok(Chunk::Absent {
            offset: off_in_file,
            len: missing,
        })
    }

    /// Data from the entry's data records, as much as fits `buf` (across records).
    fn read_stream(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let mut filled = 0usize;
        let first = match &self.data {
            Data::Stream(s) => s.delivered,
            _ => return Ok(Chunk::End),
        };
        let done = |filled: usize| {
            if filled > 0 {
                Chunk::Data {
                    offset: first,
                    len: filled as u64,
                }
            } else {
                Chunk::End
            }
        };
        loop {
            let Data::Stream(s) = &mut self.data else {
                return Ok(done(filled));
            };
            if s.delivered >= s.size || filled == buf.len() {
                return Ok(done(filled));
            }
            if let Some((start, len)) = s.cur {
                if len > 0 {
                    let want = (len as u64)
                        .min((buf.len() - filled) as u64)
                        .min(s.size - s.delivered) as usize;
                    let Some(b) = &self.block else {
                        return Err(Error::internal("data record without its block"));
                    };
                    buf[filled..filled + want].copy_from_slice(&b.data[start..start + want]);
                    s.cur = Some((start + want, len - want));
                    s.delivered += want as u64;
                    filled += want;
                    continue;
                }
                s.cur = None;
            }
            let types = s.types;
            let rec = self.next_record()?;
            // a gap ends a file's VBN data (what follows may belong to a file whose FILE
            // record was lost); LBN records carry their position on the disk, so the disk
            // image goes on past a gap
            let gap = self.gap && types[0] == rtype::VBN;
            let Data::Stream(s) = &mut self.data else {
                return Ok(done(filled));
            };
            let usable = rec.filter(|r| types.contains(&r.h.rtype) && !gap);
            let Some(r) = usable else {
                self.pushback = rec;
                if filled > 0 {
                    return Ok(done(filled));
                }
                let left = s.size - s.delivered;
                let why = if gap {
                    "blocks of the save set were lost"
                } else {
                    "the file's data records end early"
                };
                return self.missing(left, why);
            };
            let addr = r.h.address as u64;
            let blocks = (r.h.rsize as u64).div_ceil(s.unit);
            if addr == s.next_addr {
                s.cur = Some((r.body, r.h.rsize as usize));
                s.next_addr += blocks;
            } else if addr > s.next_addr {
                self.pushback = Some(r);
                if filled > 0 {
                    return Ok(done(filled));
                }
                let have = (s.next_addr - s.base) * s.unit;
                let missing = ((addr - s.base) * s.unit)
                    .min(s.size)
                    .saturating_sub(have.max(s.delivered));
                let from = s.next_addr;
                s.next_addr = addr;
                if missing > 0 {
                    return self.missing(
                        missing,
                        &format!("data records jump from block {from} to {addr}"),
                    );
                }
            } else if addr + blocks <= s.next_addr {
                // a repeated record: its blocks were delivered already
                self.host.log(
                    LogLevel::Info,
                    &format!("data record for block {addr} repeated: skipped"),
                );
            } else {
                let skip = ((s.next_addr - addr) * s.unit) as usize;
                s.cur = Some((r.body + skip, (r.h.rsize as usize).saturating_sub(skip)));
                s.next_addr = addr + blocks;
            }
        }
    }

    fn read_spooled(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let Data::Spooled(sp) = &mut self.data else {
            return Ok(Chunk::End);
        };
        loop {
            if sp.out_pos < sp.out.len() {
                let n = (sp.out.len() - sp.out_pos).min(buf.len());
                if n == 0 {
                    return Err(Error::internal("read_data called with an empty buffer"));
                }
                buf[..n].copy_from_slice(&sp.out[sp.out_pos..sp.out_pos + n]);
                sp.out_pos += n;
                let offset = sp.delivered;
                sp.delivered += n as u64;
                return Ok(Chunk::Data {
                    offset,
                    len: n as u64,
                });
            }
            sp.out.clear();
            sp.out_pos = 0;
            if sp.in_pos >= sp.spool.len() {
                if let (Some(c), false) = (&mut sp.conv, sp.finished) {
                    sp.finished = true;
                    c.finish(&mut sp.out).map_err(|e| {
                        Error::internal(format!("text conversion changed its mind: {}", e.message))
                    })?;
                    if !sp.out.is_empty() {
                        continue;
                    }
                }
                if let Some((offset, len)) = sp.absent.take() {
                    return Ok(Chunk::Absent { offset, len });
                }
                if let Some(t) = sp.tail.take() {
                    self.data = Data::Stream(t);
                    return self.read_stream(buf);
                }
                return Ok(Chunk::End);
            }
            let mut chunk = vec![0u8; CHUNK];
            let n = sp.spool.read_at(sp.in_pos, &mut chunk)?;
            sp.in_pos += n as u64;
            match &mut sp.conv {
                Some(c) => c.feed(&chunk[..n], &mut sp.out).map_err(|e| {
                    Error::internal(format!("text conversion changed its mind: {}", e.message))
                })?,
                None => sp.out.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// Save-set names match case-insensitively; an HDR1 file identifier holds only 17
/// characters, so a longer name matches its first 17.
fn name_matches(want: &str, have: &str) -> bool {
    let w = want.trim();
    let h = have.trim();
    w.eq_ignore_ascii_case(h) || (h.len() == 17 && w.len() > 17 && w[..17].eq_ignore_ascii_case(h))
}

/// Parse an ALIAS record body (research note §1.10; layout partly verified).
fn parse_alias(b: &[u8]) -> Option<Alias> {
    if b.len() < 32 {
        return None;
    }
    let w = |o: usize| layout::get_u16(b, o) as usize;
    let (adir, aname, pdir, pname) = (w(8), w(10), w(24), w(26));
    let strings = &b[32..];
    if adir + aname + pdir + pname > strings.len() {
        return None;
    }
    let primary = strings[adir + aname..adir + aname + pdir + pname].to_vec();
    Some(Alias { primary })
}

impl<M: Medium> FormatReader for VmsReader<M> {
    fn volume(&mut self) -> Result<VolumeInfo> {
        Ok(self.volume.clone())
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        self.next_entry_inner()
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        match &self.data {
            Data::None => Ok(Chunk::End),
            Data::Stream(_) => self.read_stream(buf),
            Data::Spooled(_) => self.read_spooled(buf),
        }
    }

    fn skip_data(&mut self) -> Result<()> {
        self.finish_current()
    }
}
