//! The save-set writer: file-by-file save sets following the research note's writer recipe
//! (§7), streaming.
//!
//! Layout written:
//! 1. Block 1: a block header with zero "current file" fields and the SUMMARY record, its
//!    attributes in ascending type: SSNAME, COMMAND (saying relic wrote it), [COMMENT],
//!    USERNAME, USERUIC, DATE, OPSYS (VAX, which every BACKUP version reads), SYSVER,
//!    SIR, BACKVER, BLOCKSIZE, XORSIZE, BUFFERS.
//! 2. Per entry a FILE record with the attributes in the order BACKUP V5-V7 writes them
//!    (42, 43, 44, 46, 47, 52, 45, 48, 49, 50, 51, 75, 80, 87, 79, 53, 54, 55, 56, 57, 71,
//!    72, 74, then 73 for directories, 78 for an ACL), then VBN records of whole 512-byte
//!    blocks sized to fill the save-set block, the last one zero-padded past EOF.
//! 3. A record never crosses a block: a block that cannot take the next record is closed
//!    with a NULL record. Each block header names the file whose record comes first in it.
//! 4. After every `group-size` data blocks and after the last (short) group, an XOR block.
//! 5. Every block gets its CRC-32 (unless `nocrc`) and CRC-16 header checksum.
//! 6. On a tape (or with `labels=yes`): VOL1, HDR1, HDR2, tape mark before; tape mark,
//!    EOF1, EOF2, tape mark, tape mark after. On early warning the volume is closed with
//!    EOV1/EOV2 and the set continues on the next volume (VOL1, HDR1 with the next file
//!    section, HDR2), the block headers carrying the new volume number. Without labels the
//!    writer moves to the next volume right after a data block, before that group's XOR
//!    block: a volume that ends inside an XOR group is how a reader knows the set goes on
//!    (so unlabelled sets need `group-size` > 0 to span volumes; a volume may exceed the
//!    early-warning size by one block).
//!
//! What a file record holds:
//! - From a VMS source (the entry has `vms.attrs` and its data is raw, i.e. its size is the
//!   size the FAT in those attributes gives): the attribute list exactly as it was read,
//!   with the file name, and the file ID only if another file already used it. So VMS ->
//!   relic -> VMS loses nothing: raw bytes and every RMS attribute come back identical.
//! - Otherwise, synthesised: STREAM_LF with carriage-return attributes for regular files
//!   (`vms-binary`: FIX 512, no attributes), EOF from the size, the owner as UIC (uid =
//!   member, gid = group), the permission bits as protection (SYSTEM RWED; R, W+D, E for
//!   r, w, x), revision date = mtime, creation date = birth time (or mtime); `vms.*` extras
//!   (UIC, protection, dates, revision) win where present and consistent. Directories are
//!   `NAME.DIR;1` files (VAR, no-span, directory characteristic, BRH directory flag) holding
//!   one empty directory block (restore creates the entries itself) or their `vms.dir-data`.
//!   Hard links are alias entries: an ALIAS record, then a FILE record flagged alias and
//!   header-only with the first name's file ID (our reader turns it back into a hard link).
//! - Names: ODS-2 (upper case, other characters `_`, 39-character name and type) or with
//!   `ods5` ODS-5 (`^` escapes, case kept: read back byte for byte). Older versions named
//!   `NAME;N` get version N. Names that collide after mapping get `_1`, `_2`, ... appended.

use std::collections::{HashMap, HashSet};

use relic_model::{
    Capabilities, Charset, DataState, Entry, EntryKind, Error, FormatWriter, KindSet, LogLevel,
    Medium, Result, Timestamp, VolumeInfo, WriteSummary,
};
use relic_plugin_sdk::HostHandle;

use crate::ansi::{self, Hdr1};
use crate::crc;
use crate::layout::{
    self, attr, bbh, brh_flags, opsys, org, parse_protection, parse_uic, parse_vms_time, rat, rfm,
    rtype, to_vms_time, AttrWriter, Bbh, Brh, Fat, BBH_SIZE, BRH_SIZE, STRUCLEV, UCHAR_DIRECTORY,
    VBN_SIZE,
};
use crate::names::{self, Style};
use crate::xor::xor_into;

/// Writer options (see the plugin's option list).
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub block_size: usize,
    pub group_size: u32,
    pub saveset_name: Option<String>,
    pub comment: Option<String>,
    pub binary: bool,
    pub ods5: bool,
    pub nocrc: bool,
    /// `None`: labels when the medium's records are meaningful (a tape).
    pub labels: Option<bool>,
    pub volume_id: String,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            block_size: 32256,
            group_size: 10,
            saveset_name: None,
            comment: None,
            binary: false,
            ods5: false,
            nocrc: false,
            labels: None,
            volume_id: "RELIC".into(),
        }
    }
}

/// The BBH "current file" fields of a file.
#[derive(Debug, Clone, Default)]
struct CurFile {
    fid: [u16; 3],
    did: [u16; 3],
    name: Vec<u8>,
    fat: Fat,
    filesize: u32,
}

/// The VBN record being filled.
#[derive(Debug, Clone, Copy)]
struct OpenRec {
    start: usize,
    cap: usize,
    filled: usize,
}

struct FileState {
    info: CurFile,
    path: Vec<u8>,
    size: u64,
    received: u64,
    total_blocks: u64,
    blocks_done: u64,
    flags: u32,
    rec: Option<OpenRec>,
    /// Header-only (absent data): whatever data comes is not stored.
    discard: bool,
}

/// An attribute list from a VMS source, renamed.
#[derive(Debug, Clone, Default)]
struct Rebuilt {
    body: Vec<u8>,
    fid: (u32, u16),
    /// The 6 FID bytes written (RVN and all).
    fid_bytes: [u8; 6],
    backlink: Option<(u32, u16, u8)>,
}

/// A directory's VMS form.
#[derive(Debug, Clone)]
struct DirMap {
    /// Components in VMS syntax (escapes kept).
    vms: Vec<Vec<u8>>,
    fid: (u32, u16),
}

/// What a hard link needs of its target.
#[derive(Debug, Clone)]
struct LinkTarget {
    fid: [u8; 6],
    fat: Fat,
    spec: Vec<u8>,
}

pub struct VmsWriter<M: Medium> {
    m: M,
    opts: WriteOptions,
    host: HostHandle,
    bs: usize,
    block: Vec<u8>,
    pos: usize,
    first_file: Option<CurFile>,
    block_open: bool,
    xor: Vec<u8>,
    in_group: u32,
    number: u32,
    volnum: u16,
    labels: bool,
    section: u32,
    section_blocks: u32,
    switch_pending: bool,
    ssname: Vec<u8>,
    date: Option<Timestamp>,
    cur: Option<FileState>,
    dirs: HashMap<Vec<u8>, DirMap>,
    specs: HashSet<Vec<u8>>,
    fids: HashSet<(u32, u16)>,
    links: HashMap<Vec<u8>, LinkTarget>,
    links_did: HashMap<Vec<u8>, [u8; 6]>,
    next_fid: u32,
    summary: WriteSummary,
    xor_blocks: u64,
    data_blocks: u64,
    finished: bool,
}

/// File number synthesised file IDs start at (far above what real volumes use, so IDs
/// kept from VMS sources do not collide).
const FIRST_FID: u32 = 0x80_0000;
/// The MFD's file ID (4,4).
const MFD_FID: (u32, u16) = (4, 4);

fn fid3(f: (u32, u16)) -> [u16; 3] {
    let b = layout::fid_bytes(f.0, f.1, 0);
    [
        layout::get_u16(&b, 0),
        layout::get_u16(&b, 2),
        layout::get_u16(&b, 4),
    ]
}

fn total_done(f: &Option<FileState>) -> u64 {
    f.as_ref().map(|f| f.blocks_done).unwrap_or(0)
}

fn extra_str<'a>(e: &'a Entry, key: &str) -> Option<&'a str> {
    e.extra(key).and_then(|v| std::str::from_utf8(v).ok())
}

impl<M: Medium> VmsWriter<M> {
    pub fn new(m: M, opts: WriteOptions, host: HostHandle) -> Result<VmsWriter<M>> {
        let bs = opts.block_size;
        if !(2048..=65024).contains(&bs) || bs % VBN_SIZE != 0 {
            return Err(Error::config(format!(
                "block size {bs}: expected a multiple of 512 from 2048 to 65024"
            )));
        }
        let mut dirs = HashMap::new();
        dirs.insert(
            Vec::new(),
            DirMap {
                vms: Vec::new(),
                fid: MFD_FID,
            },
        );
        Ok(VmsWriter {
            m,
            host,
            bs,
            block: vec![0; bs],
            pos: BBH_SIZE,
            first_file: None,
            block_open: false,
            xor: vec![0; bs],
            in_group: 0,
            number: 0,
            volnum: 1,
            labels: false,
            section: 1,
            section_blocks: 0,
            switch_pending: false,
            ssname: Vec::new(),
            date: None,
            cur: None,
            dirs,
            specs: HashSet::new(),
            fids: HashSet::new(),
            links: HashMap::new(),
            links_did: HashMap::new(),
            next_fid: FIRST_FID,
            summary: WriteSummary::default(),
            xor_blocks: 0,
            data_blocks: 0,
            finished: false,
            opts,
        })
    }

    /// The medium, after [`FormatWriter::finish`].
    pub fn into_medium(self) -> M {
        self.m
    }

    fn style(&self) -> Style {
        if self.opts.ods5 {
            Style::Ods5
        } else {
            Style::Ods2
        }
    }

    fn hdr1(&self, count: u32) -> Hdr1 {
        Hdr1 {
            file_id: String::from_utf8_lossy(&self.ssname).into_owned(),
            set_id: self.opts.volume_id.clone(),
            section: self.section,
            sequence: 1,
            block_count: count,
            system: ansi::SYSTEM_CODE.into(),
        }
    }

    fn write_labels(&mut self, kind: &str, count: u32) -> Result<()> {
        let h = self.hdr1(count);
        self.m.write_record(&ansi::hdr1(kind, &h, self.date))?;
        self.m.write_record(&ansi::hdr2(kind, self.bs as u32))?;
        Ok(())
    }

    fn start_volume_labels(&mut self) -> Result<()> {
        self.m
            .write_record(&ansi::vol1(&self.opts.volume_id, "RELIC"))?;
        self.write_labels("HDR", 0)?;
        self.m.write_tape_mark()?;
        Ok(())
    }

    // ---- blocks -------------------------------------------------------------------------

    fn open_block(&mut self) {
        self.block.fill(0);
        self.pos = BBH_SIZE;
        self.first_file = None;
        self.block_open = true;
    }

    fn ensure_room(&mut self, need: usize) -> Result<()> {
        if need > self.bs - BBH_SIZE {
            return Err(Error::unsupported(format!(
                "a record of {need} bytes does not fit a {}-byte block",
                self.bs
            )));
        }
        if !self.block_open {
            self.open_block();
        }
        if self.bs - self.pos < need {
            self.close_block()?;
            self.open_block();
        }
        Ok(())
    }

    /// Append a whole record (header and body) to the current block.
    fn put_record(&mut self, h: Brh, body: &[u8], file: Option<&CurFile>) -> Result<()> {
        let need = BRH_SIZE + body.len();
        self.ensure_room(need)?;
        if self.pos == BBH_SIZE && self.number > 0 {
            self.first_file = file.cloned();
        }
        h.write(&mut self.block[self.pos..]);
        self.block[self.pos + BRH_SIZE..self.pos + need].copy_from_slice(body);
        self.pos += need;
        Ok(())
    }

    fn bbh(&self, applic: u16) -> Bbh {
        Bbh {
            size: BBH_SIZE as u16,
            opsys: opsys::VAX,
            subsys: 1,
            applic,
            number: self.number + 1,
            struclev: STRUCLEV,
            volnum: self.volnum,
            crc: 0,
            blocksize: self.bs as u32,
            flags: if self.opts.nocrc { bbh::FLAG_NOCRC } else { 0 },
            ssname: self.ssname.clone(),
            ..Bbh::default()
        }
    }

    /// Close the current block: NULL fill, header, checks, out; XOR bookkeeping.
    fn close_block(&mut self) -> Result<()> {
        if !self.block_open {
            return Ok(());
        }
        if self.pos < self.bs {
            let h = Brh {
                rsize: (self.bs - self.pos - BRH_SIZE) as u16,
                rtype: rtype::NULL,
                flags: 0,
                address: 0,
            };
            h.write(&mut self.block[self.pos..]);
        }
        let mut h = self.bbh(bbh::APPLIC_DATA);
        if let Some(f) = &self.first_file {
            h.fid = f.fid;
            h.did = f.did;
            h.filename = f.name.clone();
            h.rtype = f.fat.org << 4 | f.fat.rfm;
            h.rattrib = f.fat.rat;
            h.rsize = f.fat.rsize;
            h.bktsize = f.fat.bktsize;
            h.vfcsize = f.fat.vfcsize;
            h.maxrec = f.fat.maxrec;
            h.filesize = f.filesize;
        }
        h.write(&mut self.block);
        crc::seal(&mut self.block);
        let block = std::mem::take(&mut self.block);
        let r = self.emit(&block, false);
        self.block = block;
        r?;
        self.block_open = false;
        self.data_blocks += 1;
        if self.opts.group_size > 0 {
            xor_into(&mut self.xor, &self.block);
            self.in_group += 1;
        }
        // Without labels a reader knows the set goes on only because the volume ends inside
        // an XOR group: switch after a data block, before its group's XOR block (which then
        // opens the next volume); an early warning raised by an XOR block waits for the next
        // data block.
        if self.switch_pending && (self.labels || self.in_group > 0 || self.opts.group_size == 0) {
            self.switch_volume()?;
        }
        if self.opts.group_size > 0 && self.in_group == self.opts.group_size {
            self.write_xor()?;
            if self.switch_pending && self.labels {
                self.switch_volume()?;
            }
        }
        Ok(())
    }

    fn write_xor(&mut self) -> Result<()> {
        if self.in_group == 0 {
            return Ok(());
        }
        let mut x = std::mem::replace(&mut self.xor, vec![0; self.bs]);
        layout::put_u16(&mut x, bbh::SIZE, BBH_SIZE as u16);
        layout::put_u16(&mut x, bbh::OPSYS, opsys::VAX);
        layout::put_u16(&mut x, bbh::SUBSYS, 1);
        layout::put_u16(&mut x, bbh::APPLIC, bbh::APPLIC_XOR);
        layout::put_u32(&mut x, bbh::NUMBER, self.number + 1);
        layout::put_u32(
            &mut x,
            bbh::FLAGS,
            if self.opts.nocrc { bbh::FLAG_NOCRC } else { 0 },
        );
        crc::seal(&mut x);
        self.emit(&x, true)?;
        self.in_group = 0;
        self.xor_blocks += 1;
        Ok(())
    }

    fn emit(&mut self, block: &[u8], _xor: bool) -> Result<()> {
        let st = self.m.write_record(block)?;
        self.number += 1;
        self.section_blocks += 1;
        if st.early_warning {
            self.switch_pending = true;
        }
        Ok(())
    }

    /// Close this volume and continue the save set on the next.
    fn switch_volume(&mut self) -> Result<()> {
        self.switch_pending = false;
        let next = self.volnum as u32 + 1;
        if !self.labels && self.opts.group_size == 0 {
            return Err(Error::config(format!(
                "the save set needs volume {next}: without tape labels a save set can span volumes only with XOR groups (group-size > 0) or labels=yes"
            )));
        }
        if self.labels {
            self.m.write_tape_mark()?;
            self.write_labels("EOV", self.section_blocks)?;
            self.m.write_tape_mark()?;
            self.m.write_tape_mark()?;
        }
        if !self.m.next_volume(next)? {
            return Err(Error::media(format!(
                "the save set needs volume {next}, and the medium has no further volume (give volumes=... or a larger volume)"
            )));
        }
        self.host.log(
            LogLevel::Info,
            &format!("continuing the save set on volume {next}"),
        );
        self.volnum = next as u16;
        self.section += 1;
        self.section_blocks = 0;
        if self.labels {
            self.start_volume_labels()?;
        }
        Ok(())
    }

    // ---- names --------------------------------------------------------------------------

    fn new_fid(&mut self) -> (u32, u16) {
        loop {
            let f = (self.next_fid, 1);
            self.next_fid = self.next_fid.wrapping_add(1) & 0xff_ffff;
            if self.next_fid < 16 {
                self.next_fid = 16;
            }
            if self.fids.insert(f) {
                return f;
            }
        }
    }

    /// The VMS form of a model directory path (creating mappings for unseen directories).
    fn dir_map(&mut self, path: &[u8]) -> DirMap {
        if let Some(d) = self.dirs.get(path) {
            return d.clone();
        }
        let (parent, name) = match path.iter().rposition(|&c| c == b'/') {
            Some(p) => (&path[..p], &path[p + 1..]),
            None => (&[][..], path),
        };
        let mut d = self.dir_map(parent);
        d.vms.push(names::vms_component(name, self.style()));
        d.fid = self.new_fid();
        self.dirs.insert(path.to_vec(), d.clone());
        d
    }

    /// A spec not used before: `_1`, `_2`, ... appended to the name when needed.
    fn unique_spec(&mut self, dir: &[Vec<u8>], name: &[u8], version: u32) -> Vec<u8> {
        let build = |n: &[u8]| {
            let mut s = names::vms_dir(dir);
            s.extend_from_slice(n);
            s.extend_from_slice(format!(";{version}").as_bytes());
            s
        };
        let key = |s: &[u8], ods5: bool| {
            if ods5 {
                s.to_vec()
            } else {
                s.to_ascii_uppercase()
            }
        };
        let first = build(name);
        if self.specs.insert(key(&first, self.opts.ods5)) {
            return first;
        }
        let (stem, ty) = match name.iter().rposition(|&c| c == b'.') {
            Some(p) => (&name[..p], &name[p..]),
            None => (name, &b""[..]),
        };
        for i in 1u32.. {
            let mut n = stem.to_vec();
            n.extend_from_slice(format!("_{i}").as_bytes());
            n.extend_from_slice(ty);
            let s = build(&n);
            if self.specs.insert(key(&s, self.opts.ods5)) {
                self.host.log(
                    LogLevel::Info,
                    &format!(
                        "{} is taken: written as {}",
                        String::from_utf8_lossy(&first),
                        String::from_utf8_lossy(&s)
                    ),
                );
                return s;
            }
        }
        first
    }

    /// The spec of an entry, and the DID (parent directory FID).
    fn spec_for(&mut self, e: &Entry) -> (Vec<u8>, (u32, u16)) {
        if e.path == b"." && e.kind == EntryKind::Dir {
            // the archive root is the MFD, [000000]000000.DIR;1, its own parent
            self.specs.insert(b"[000000]000000.DIR;1".to_vec());
            return (b"[000000]000000.DIR;1".to_vec(), MFD_FID);
        }
        let (path, path_version) = names::strip_version(&e.path);
        let path = path.to_vec();
        let is_dir = e.kind == EntryKind::Dir;
        let (parent, name) = match path.iter().rposition(|&c| c == b'/') {
            Some(p) => (path[..p].to_vec(), path[p + 1..].to_vec()),
            None => (Vec::new(), path.clone()),
        };
        // a VMS source: keep its own spelling when it still names this path
        if let Some(vn) = e.extra("vms.name") {
            let spec = names::parse_spec(vn);
            let model = if is_dir {
                let mut d = spec.dirs.clone();
                d.push(spec.stem().to_vec());
                d.join(&b'/')
            } else {
                spec.path()
            };
            if model == path && spec.problems.is_empty() {
                let (rdirs, rname, rver) = names::raw_parts(vn);
                let version = rver.unwrap_or(1);
                let parent_map = self.dir_map(&parent);
                let dir_vms = if rdirs.is_empty() && parent.is_empty() {
                    Vec::new()
                } else {
                    rdirs.clone()
                };
                let key = |s: &[u8]| s.to_ascii_uppercase();
                let mut s = names::vms_dir(&dir_vms);
                s.extend_from_slice(&rname);
                s.extend_from_slice(format!(";{version}").as_bytes());
                if self.specs.insert(key(&s)) {
                    if is_dir {
                        let stem_raw = match rname.iter().rposition(|&c| c == b'.') {
                            Some(p) => rname[..p].to_vec(),
                            None => rname.clone(),
                        };
                        let mut vms = dir_vms.clone();
                        vms.push(stem_raw);
                        let fid = self.new_fid();
                        self.dirs.insert(path.clone(), DirMap { vms, fid });
                    }
                    return (s, parent_map.fid);
                }
            }
        }
        let parent_map = self.dir_map(&parent);
        let version = path_version.unwrap_or(1);
        if is_dir {
            let comp = names::vms_component(&name, self.style());
            let mut fname = comp.clone();
            fname.extend_from_slice(b".DIR");
            let s = self.unique_spec(&parent_map.vms, &fname, 1);
            // the directory's own VMS component is what the spec ended up with
            let (_, rname, _) = names::raw_parts(&s);
            let stem = rname[..rname.len().saturating_sub(4)].to_vec();
            let mut vms = parent_map.vms.clone();
            vms.push(stem);
            let fid = self.new_fid();
            self.dirs.insert(path.clone(), DirMap { vms, fid });
            return (s, parent_map.fid);
        }
        let fname = names::vms_file_name(&name, self.style());
        let s = self.unique_spec(&parent_map.vms, &fname, version);
        (s, parent_map.fid)
    }

    // ---- file records -------------------------------------------------------------------

    /// Attributes kept from a VMS source, when they still describe this entry's data.
    fn vms_attrs(&self, e: &Entry) -> Option<(Vec<u8>, Fat)> {
        let raw = e.extra("vms.attrs")?;
        if extra_str(e, "vms.data").is_some_and(|d| d != "raw") {
            return None;
        }
        let mut body = STRUCLEV.to_le_bytes().to_vec();
        body.extend_from_slice(raw);
        let list = layout::attr_list(&body, 0).ok()?;
        let fat = Fat::parse(list.iter().find(|a| a.code == attr::RECATTR)?.value);
        let mut want = fat.saved_bytes();
        if fat.org == org::SEQ && fat.hiblk > 0 {
            want = want.min(fat.hiblk as u64 * VBN_SIZE as u64);
        }
        let ok = match e.kind {
            EntryKind::File => e.size == want,
            EntryKind::Dir => e
                .extra("vms.dir-data")
                .is_some_and(|d| d.len() as u64 == want),
            _ => true,
        };
        ok.then_some((raw.to_vec(), fat))
    }

    /// Re-emit a VMS attribute list with a new name (and file ID when needed).
    fn rebuild_attrs(&mut self, raw: &[u8], spec: &[u8]) -> Rebuilt {
        let mut body = STRUCLEV.to_le_bytes().to_vec();
        body.extend_from_slice(raw);
        let list = layout::attr_list(&body, 0).unwrap_or_default();
        let mut w = AttrWriter::new();
        let mut out = Rebuilt::default();
        for a in &list {
            match a.code {
                attr::FILENAME => w.push(attr::FILENAME, spec),
                attr::FID => {
                    let kept = layout::fid_parts(a.value)
                        .filter(|&(n, s, _)| n != 0 && !self.fids.contains(&(n, s)));
                    let bytes: [u8; 6] = match (kept, a.value.get(..6)) {
                        (Some((n, s, _)), Some(v)) => {
                            self.fids.insert((n, s));
                            out.fid = (n, s);
                            v.try_into().unwrap_or([0; 6])
                        }
                        _ => {
                            let nf = self.new_fid();
                            out.fid = nf;
                            layout::fid_bytes(nf.0, nf.1, 0)
                        }
                    };
                    out.fid_bytes = bytes;
                    w.push(attr::FID, &bytes);
                }
                attr::BACKLINK => {
                    out.backlink = layout::fid_parts(a.value);
                    w.push(a.code, a.value);
                }
                _ => w.push(a.code, a.value),
            }
        }
        out.body = w.finish();
        out
    }

    fn synth_fat(&self, e: &Entry, blocks: u64) -> Fat {
        let size = e.size;
        let binary = self.opts.binary;
        Fat {
            org: org::SEQ,
            rfm: if binary { rfm::FIX } else { rfm::STMLF },
            rat: if binary { 0 } else { rat::CR },
            rsize: if binary { 512 } else { 0 },
            hiblk: blocks as u32,
            efblk: (size / VBN_SIZE as u64 + 1) as u32,
            ffbyte: (size % VBN_SIZE as u64) as u16,
            maxrec: if binary { 512 } else { 0 },
            ..Fat::default()
        }
    }

    /// A synthesised attribute list.
    #[allow(clippy::too_many_arguments)]
    fn synth_attrs(
        &self,
        e: &Entry,
        spec: &[u8],
        fid: (u32, u16),
        did: (u32, u16),
        fat: &Fat,
        dir: bool,
    ) -> Vec<u8> {
        let uic = extra_str(e, "vms.uic")
            .and_then(parse_uic)
            .unwrap_or(((e.gid.min(0xffff) as u32) << 16) | e.uid.min(0xffff) as u32);
        let fpro = extra_str(e, "vms.fpro")
            .and_then(parse_protection)
            .filter(|p| layout::protection_to_mode(*p) == e.mode & 0o777)
            .unwrap_or_else(|| layout::mode_to_protection(e.mode));
        let date = |key: &str, ts: Option<Timestamp>| -> u64 {
            extra_str(e, key)
                .and_then(parse_vms_time)
                .or_else(|| ts.map(to_vms_time))
                .unwrap_or(0)
        };
        let revdate = date("vms.revdate", e.mtime);
        let credate = date("vms.credate", e.birth.or(e.mtime));
        let expdate = extra_str(e, "vms.expdate")
            .and_then(parse_vms_time)
            .unwrap_or(0);
        let bakdate = extra_str(e, "vms.bakdate")
            .and_then(parse_vms_time)
            .unwrap_or(0);
        let revision = extra_str(e, "vms.revision")
            .and_then(|v| v.parse::<u16>().ok())
            .unwrap_or(1);
        let mut w = AttrWriter::new();
        w.push(attr::FILENAME, spec);
        w.push(attr::STRUCLEV, &[1, 2]);
        w.push(attr::FID, &layout::fid_bytes(fid.0, fid.1, 0));
        w.push(attr::FILESIZE, &fat.hiblk.to_le_bytes());
        w.push(attr::UIC, &uic.to_le_bytes());
        w.push(attr::RECATTR, &fat.to_bytes());
        w.push(attr::BACKLINK, &layout::fid_bytes(did.0, did.1, 0));
        w.push(attr::FPRO, &fpro.to_le_bytes());
        w.push(attr::RPRO, &0u16.to_le_bytes());
        w.push(attr::ACLEVEL, &[0]);
        let uchar: u32 = if dir { UCHAR_DIRECTORY | 0x80 } else { 0 };
        w.push(attr::UCHAR, &uchar.to_le_bytes());
        w.push(attr::VERLIMIT, &0x7fffu16.to_le_bytes());
        w.push(attr::JNL_FLAGS, &[0]);
        w.push(attr::RU_ACTIVE, &[0]);
        w.push(attr::HIGHWATER, &(fat.hiblk + 1).to_le_bytes());
        w.push(attr::REVISION, &revision.to_le_bytes());
        w.push(attr::CREDATE, &credate.to_le_bytes());
        w.push(attr::REVDATE, &revdate.to_le_bytes());
        w.push(attr::EXPDATE, &expdate.to_le_bytes());
        w.push(attr::BAKDATE, &bakdate.to_le_bytes());
        w.push(attr::DIR_UIC, &uic.to_le_bytes());
        w.push(attr::DIR_FPRO, &0xaa88u16.to_le_bytes());
        w.push(attr::DIR_VERLIM, &0x7fffu16.to_le_bytes());
        if dir {
            w.push(attr::DIR_STATUS, &[0x0f]);
        }
        for acl in e.acls.iter().filter(|a| a.kind == "vms.acl") {
            w.push(attr::ACLSEGMENT, &acl.data);
        }
        w.finish()
    }

    fn alias_record(
        &mut self,
        spec: &[u8],
        target: &LinkTarget,
        did: (u32, u16),
        pdid: [u8; 6],
    ) -> Result<()> {
        let (dirs, name, version) = names::raw_parts(spec);
        let adir = names::vms_dir(&dirs);
        let mut aname = name.clone();
        aname.extend_from_slice(format!(";{}", version.unwrap_or(1)).as_bytes());
        let (pdirs, pname, pver) = names::raw_parts(&target.spec);
        let pdir = names::vms_dir(&pdirs);
        let mut pn = pname.clone();
        pn.extend_from_slice(format!(";{}", pver.unwrap_or(1)).as_bytes());
        let mut b = vec![0u8; 32];
        layout::put_u16(&mut b, 0, STRUCLEV);
        b[2..8].copy_from_slice(&layout::fid_bytes(did.0, did.1, 0));
        layout::put_u16(&mut b, 8, adir.len() as u16);
        layout::put_u16(&mut b, 10, aname.len() as u16);
        b[12..18].copy_from_slice(&pdid);
        b[18..24].copy_from_slice(&target.fid);
        layout::put_u16(&mut b, 24, pdir.len() as u16);
        layout::put_u16(&mut b, 26, pn.len() as u16);
        for s in [&adir, &aname, &pdir, &pn] {
            b.extend_from_slice(s);
        }
        let n = b.len().div_ceil(16) * 16;
        b.resize(n, 0);
        let h = Brh {
            rsize: b.len() as u16,
            rtype: rtype::ALIAS,
            flags: 0,
            address: 0,
        };
        self.put_record(h, &b, None)
    }

    // ---- data ---------------------------------------------------------------------------

    fn open_vbn(&mut self) -> Result<()> {
        let bs = self.bs;
        loop {
            let Some(f) = &self.cur else {
                return Err(Error::internal("data outside an entry"));
            };
            let left = f.total_blocks - f.blocks_done;
            let (flags, info) = (f.flags, f.info.clone());
            if left == 0 {
                return Err(Error::internal("more data blocks than the entry's size"));
            }
            if !self.block_open {
                self.open_block();
            }
            let room = (bs - self.pos).saturating_sub(BRH_SIZE) / VBN_SIZE;
            if room == 0 {
                self.close_block()?;
                self.open_block();
                continue;
            }
            let n = (left.min(room as u64)) as usize;
            let h = Brh {
                rsize: (n * VBN_SIZE) as u16,
                rtype: rtype::VBN,
                flags: flags & brh_flags::DIRECTORY,
                address: (total_done(&self.cur) + 1) as u32,
            };
            if self.pos == BBH_SIZE && self.number > 0 {
                self.first_file = Some(info);
            }
            h.write(&mut self.block[self.pos..]);
            let start = self.pos + BRH_SIZE;
            if let Some(f) = &mut self.cur {
                f.rec = Some(OpenRec {
                    start,
                    cap: n * VBN_SIZE,
                    filled: 0,
                });
            }
            return Ok(());
        }
    }

    fn close_vbn(&mut self) {
        if let Some(f) = &mut self.cur {
            if let Some(r) = f.rec.take() {
                self.pos = r.start + r.cap;
                f.blocks_done += (r.cap / VBN_SIZE) as u64;
            }
        }
    }

    fn push_data(&mut self, mut data: &[u8]) -> Result<()> {
        if self.cur.as_ref().is_some_and(|f| f.discard) {
            return Ok(());
        }
        while !data.is_empty() {
            let Some(f) = &self.cur else {
                return Err(Error::internal("data outside an entry"));
            };
            if f.received + data.len() as u64 > f.size {
                return Err(Error::internal(format!(
                    "entry delivers more than its size of {} bytes",
                    f.size
                ))
                .entry(&f.path));
            }
            if f.rec.is_none() {
                self.open_vbn()?;
            }
            let Some(f) = &mut self.cur else {
                return Err(Error::internal("data outside an entry"));
            };
            let Some(r) = &mut f.rec else {
                return Err(Error::internal("no open VBN record"));
            };
            let n = (r.cap - r.filled).min(data.len());
            self.block[r.start + r.filled..r.start + r.filled + n].copy_from_slice(&data[..n]);
            r.filled += n;
            f.received += n as u64;
            data = &data[n..];
            if r.filled == r.cap {
                self.close_vbn();
            }
        }
        Ok(())
    }

    fn begin(&mut self, e: &Entry) -> Result<()> {
        let (spec, did) = self.spec_for(e);
        let is_dir = e.kind == EntryKind::Dir;
        // hard links: alias entry without data
        if e.kind == EntryKind::HardLink {
            let target = e
                .link_target
                .as_ref()
                .and_then(|t| self.links.get(t))
                .cloned();
            let Some(target) = target else {
                return Err(
                    Error::unsupported("a hard link whose target was not written").entry(&e.path),
                );
            };
            let pdid = self
                .links_did
                .get(e.link_target.as_deref().unwrap_or(b""))
                .copied()
                .unwrap_or([0; 6]);
            self.alias_record(&spec, &target, did, pdid)?;
            let fid = layout::fid_parts(&target.fid)
                .map(|f| (f.0, f.1))
                .unwrap_or((0, 0));
            // a VMS source's own attributes where it has them, else synthesised ones
            let mut body = match e.extra("vms.attrs") {
                Some(raw) => {
                    let mut b = STRUCLEV.to_le_bytes().to_vec();
                    b.extend_from_slice(raw);
                    let mut w = AttrWriter::new();
                    for a in layout::attr_list(&b, 0).unwrap_or_default() {
                        if a.code == attr::FILENAME {
                            w.push(attr::FILENAME, &spec);
                        } else {
                            w.push(a.code, a.value);
                        }
                    }
                    w.finish()
                }
                None => self.synth_attrs(e, &spec, fid, did, &target.fat, false),
            };
            // keep the target's file ID exactly (RVN included)
            if let Ok(list) = layout::attr_list(&body, 0) {
                let mut w = AttrWriter::new();
                for a in list {
                    if a.code == attr::FID {
                        w.push(attr::FID, &target.fid);
                    } else {
                        w.push(a.code, a.value);
                    }
                }
                body = w.finish();
            }
            let h = Brh {
                rsize: body.len() as u16,
                rtype: rtype::FILE,
                flags: brh_flags::ALIAS_ENTRY | brh_flags::HEADONLY,
                address: 0,
            };
            let info = CurFile {
                fid: fid3(fid),
                did: fid3(did),
                name: spec.clone(),
                fat: target.fat,
                filesize: target.fat.hiblk,
            };
            self.put_record(h, &body, Some(&info))?;
            self.cur = Some(FileState {
                info,
                path: e.path.clone(),
                size: 0,
                received: 0,
                total_blocks: 0,
                blocks_done: 0,
                flags: 0,
                rec: None,
                discard: true,
            });
            return Ok(());
        }
        let dir_data: Option<Vec<u8>> = if is_dir {
            Some(match self.vms_attrs(e).and(e.extra("vms.dir-data")) {
                Some(d) => d.to_vec(),
                None => {
                    let mut d = vec![0u8; VBN_SIZE];
                    d[0] = 0xff;
                    d[1] = 0xff;
                    d
                }
            })
        } else {
            None
        };
        let size = match &dir_data {
            Some(d) => d.len() as u64,
            None if e.data == DataState::None => 0,
            None => e.size,
        };
        let total_blocks = size.div_ceil(VBN_SIZE as u64);
        let kept = self.vms_attrs(e);
        let mut alias_flag = 0;
        let (body, fat, fid, fid_bytes) = match kept {
            Some((raw, fat)) => {
                let rb = self.rebuild_attrs(&raw, &spec);
                // an alias entry of a VMS source: its ALIAS record again, then the flag
                let was_alias = extra_str(e, "vms.brh-flags")
                    .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                    .is_some_and(|f| f & brh_flags::ALIAS_ENTRY != 0);
                if let (true, Some(primary)) = (was_alias, e.extra("vms.alias")) {
                    let target = LinkTarget {
                        fid: rb.fid_bytes,
                        fat,
                        spec: primary.to_vec(),
                    };
                    let pdid = rb
                        .backlink
                        .map(|b| layout::fid_bytes(b.0, b.1, b.2))
                        .unwrap_or([0; 6]);
                    self.alias_record(&spec, &target, did, pdid)?;
                    alias_flag = brh_flags::ALIAS_ENTRY;
                }
                (rb.body, fat, rb.fid, rb.fid_bytes)
            }
            None => {
                let fid = if e.path == b"." {
                    MFD_FID
                } else if is_dir {
                    let (p, _) = names::strip_version(&e.path);
                    self.dirs
                        .get(p)
                        .map(|d| d.fid)
                        .unwrap_or_else(|| self.new_fid())
                } else {
                    self.new_fid()
                };
                let fat = if is_dir {
                    Fat {
                        org: org::SEQ,
                        rfm: rfm::VAR,
                        rat: rat::BLK,
                        rsize: 512,
                        hiblk: total_blocks as u32,
                        efblk: total_blocks as u32 + 1,
                        ffbyte: 0,
                        maxrec: 512,
                        ..Fat::default()
                    }
                } else {
                    let mut e2 = e.clone();
                    e2.size = size;
                    self.synth_fat(&e2, total_blocks)
                };
                (
                    self.synth_attrs(e, &spec, fid, did, &fat, is_dir),
                    fat,
                    fid,
                    layout::fid_bytes(fid.0, fid.1, 0),
                )
            }
        };
        if is_dir {
            // children use the directory's file ID as their backlink
            let (p, _) = names::strip_version(&e.path);
            if let Some(d) = self.dirs.get_mut(p) {
                d.fid = fid;
            }
        }
        let mut flags = if is_dir { brh_flags::DIRECTORY } else { 0 } | alias_flag;
        if e.data == DataState::Absent {
            flags |= brh_flags::HEADONLY;
        }
        let info = CurFile {
            fid: fid3(fid),
            did: fid3(did),
            name: spec.clone(),
            fat,
            filesize: fat.hiblk,
        };
        let h = Brh {
            rsize: body.len() as u16,
            rtype: rtype::FILE,
            flags,
            address: 0,
        };
        self.put_record(h, &body, Some(&info))?;
        if e.kind == EntryKind::File {
            self.links_did
                .insert(e.path.clone(), layout::fid_bytes(did.0, did.1, 0));
            self.links.insert(
                e.path.clone(),
                LinkTarget {
                    fid: fid_bytes,
                    fat,
                    spec: spec.clone(),
                },
            );
        }
        let absent = e.data == DataState::Absent;
        self.cur = Some(FileState {
            info,
            path: e.path.clone(),
            size: if absent { 0 } else { size },
            received: 0,
            total_blocks: if absent { 0 } else { total_blocks },
            blocks_done: 0,
            flags,
            rec: None,
            discard: absent,
        });
        if let Some(d) = dir_data {
            self.push_data(&d)?;
        }
        Ok(())
    }
}

impl<M: Medium> FormatWriter for VmsWriter<M> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_path: None,
            max_name: None,
            charset: Charset::Bytes,
            uid_max: Some(0xffff),
            gid_max: Some(0xffff),
            // VMS time: 100 ns ticks from 1858-11-17
            time_min: Some(-((layout::VMS_UNIX_EPOCH / 10_000_000) as i64) + 1),
            time_max: None,
            time_precision_ns: 100,
            atime: false,
            ctime: false,
            birth: true,
            max_file_size: Some(0xffff_ffff * VBN_SIZE as u64),
            kinds: KindSet::of(&[EntryKind::File, EntryKind::Dir, EntryKind::HardLink]),
            xattrs: false,
            acls: true,
            holes: false,
            levels: false,
            user_names: false,
            rdev_major_max: None,
            rdev_minor_max: None,
            extras: vec!["vms".into()],
            needs_catalog: false,
        }
    }

    fn begin_archive(&mut self, volume: &VolumeInfo) -> Result<()> {
        let name = self
            .opts
            .saveset_name
            .clone()
            .or_else(|| {
                volume
                    .label
                    .as_ref()
                    .map(|l| String::from_utf8_lossy(l).into_owned())
            })
            .unwrap_or_else(|| "RELIC.BCK".into());
        self.ssname = name.to_ascii_uppercase().into_bytes();
        self.ssname.truncate(31);
        self.date = volume.date.or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| Timestamp::new(d.as_secs() as i64, d.subsec_nanos()))
        });
        self.labels = self
            .opts
            .labels
            .unwrap_or_else(|| self.m.info().records_meaningful);
        if self.labels {
            self.start_volume_labels()?;
        }
        let g = self.opts.group_size;
        let bs = self.bs;
        let ss = String::from_utf8_lossy(&self.ssname).into_owned();
        let command = format!(
            "BACKUP/BLOCK_SIZE={bs}/GROUP_SIZE={g}{} [...]*.*;* {ss}/SAVE_SET ! written by relic {}",
            if self.opts.nocrc { "/NOCRC" } else { "" },
            env!("CARGO_PKG_VERSION")
        );
        let mut w = AttrWriter::new();
        w.push(attr::SSNAME, &self.ssname);
        w.push(attr::COMMAND, command.as_bytes());
        if let Some(c) = &self.opts.comment {
            w.push(attr::COMMENT, c.as_bytes());
        }
        w.push(attr::USERNAME, b"RELIC       ");
        w.push(attr::USERUIC, &(1u32 << 16 | 4).to_le_bytes());
        w.push(
            attr::DATE,
            &self.date.map(to_vms_time).unwrap_or(0).to_le_bytes(),
        );
        w.push(attr::OPSYS, &opsys::VAX.to_le_bytes());
        w.push(attr::SYSVER, b"V7.3");
        w.push(attr::SIR, &0u32.to_le_bytes());
        w.push(attr::BACKVER, b"V7.3");
        w.push(attr::BLOCKSIZE, &(bs as u32).to_le_bytes());
        w.push(attr::XORSIZE, &(g as u16).to_le_bytes());
        w.push(attr::BUFFERS, &3u16.to_le_bytes());
        let body = w.finish();
        let h = Brh {
            rsize: body.len() as u16,
            rtype: rtype::SUMMARY,
            flags: 0,
            address: 0,
        };
        self.open_block();
        self.put_record(h, &body, None)
    }

    fn begin_entry(&mut self, entry: &Entry) -> Result<()> {
        if self.cur.is_some() {
            return Err(Error::internal("begin_entry inside an entry"));
        }
        if !matches!(
            entry.kind,
            EntryKind::File | EntryKind::Dir | EntryKind::HardLink
        ) {
            return Err(Error::unsupported(format!(
                "a {} cannot be stored in a VMS save set",
                entry.kind.name()
            ))
            .entry(&entry.path));
        }
        for a in entry.acls.iter().filter(|a| a.kind != "vms.acl") {
            self.host.warn(
                &format!(
                    "{}: {} ACL not kept (VMS save sets hold VMS ACLs only)",
                    entry.display_path(),
                    a.kind
                ),
                None,
            );
        }
        self.begin(entry).map_err(|e| {
            if e.entry.is_none() {
                e.entry(&entry.path)
            } else {
                e
            }
        })
    }

    fn write_data(&mut self, _offset: u64, data: &[u8]) -> Result<()> {
        self.push_data(data)?;
        self.summary.bytes += data.len() as u64;
        Ok(())
    }

    fn write_hole(&mut self, _offset: u64, len: u64) -> Result<()> {
        if self.cur.as_ref().is_some_and(|f| f.discard) {
            return Ok(());
        }
        let zeros = [0u8; 8192];
        let mut left = len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            self.push_data(&zeros[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<()> {
        let Some(f) = &self.cur else {
            return Err(Error::internal("end_entry without an entry"));
        };
        if f.received < f.size {
            return Err(Error::truncated(format!(
                "the entry delivered {} of its {} bytes",
                f.received, f.size
            ))
            .entry(&f.path));
        }
        self.close_vbn();
        self.cur = None;
        self.summary.entries += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<WriteSummary> {
        if self.finished {
            return Ok(self.summary.clone());
        }
        if self.cur.is_some() {
            return Err(Error::internal("finish inside an entry"));
        }
        if !self.block_open && self.number == 0 {
            // begin_archive was never called: still write a valid empty save set
            self.begin_archive(&VolumeInfo::default())?;
        }
        self.close_block()?;
        self.write_xor()?;
        if self.labels {
            self.m.write_tape_mark()?;
            self.write_labels("EOF", self.section_blocks)?;
            self.m.write_tape_mark()?;
            self.m.write_tape_mark()?;
        }
        self.m.finish()?;
        self.finished = true;
        self.summary.volumes = self.volnum as u32;
        self.summary.notes.push(format!(
            "block size {}, group size {}, {} data and {} XOR blocks",
            self.bs, self.opts.group_size, self.data_blocks, self.xor_blocks
        ));
        Ok(self.summary.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relic_model::NullHost;
    use relic_plugin_sdk::testing::{read_all, write_all, Member, MemoryMedium};
    use std::sync::Arc;

    fn host() -> HostHandle {
        Arc::new(NullHost)
    }

    #[test]
    fn writes_a_tree_our_reader_reads_back() {
        let mut members = vec![];
        let mut d = Entry::new("dir", EntryKind::Dir);
        d.mtime = Some(Timestamp::new(1_000_000_000, 500));
        members.push(Member::new(d, vec![]));
        for (p, data) in [
            ("dir/hello.txt", b"hello\nworld\n".to_vec()),
            (
                "dir/big.bin",
                (0..70_000u32).map(|i| (i % 251) as u8).collect(),
            ),
            ("empty", vec![]),
        ] {
            let mut e = Entry::new(p, EntryKind::File);
            e.size = data.len() as u64;
            e.mode = 0o640;
            e.uid = 0o14;
            e.gid = 0o320;
            e.mtime = Some(Timestamp::new(1_600_000_000, 123_456_700));
            members.push(Member::new(e, data));
        }
        let mut link = Entry::new("dir/link", EntryKind::HardLink);
        link.link_target = Some(b"dir/hello.txt".to_vec());
        members.push(Member::new(link, vec![]));
        for (bs, g, nocrc) in [
            (2048usize, 3u32, false),
            (32256, 10, true),
            (8192, 0, false),
        ] {
            let opts = WriteOptions {
                block_size: bs,
                group_size: g,
                nocrc,
                ods5: true,
                labels: Some(false),
                ..WriteOptions::default()
            };
            let mut w = VmsWriter::new(MemoryMedium::new(0), opts, host()).expect("writer");
            write_all(&mut w, &VolumeInfo::default(), &members).expect("write");
            let bytes = w.m.bytes();
            assert_eq!(bytes.len() % bs, 0);
            let ropts = crate::read::ReadOptions {
                records: crate::read::RecordsMode::Raw,
                ..Default::default()
            };
            let mut r = crate::read::VmsReader::open(
                relic_plugin_sdk::testing::HostileMedium::new(bytes, &[]),
                host(),
                ropts,
            )
            .expect("open");
            let (_, got) = read_all(&mut r).expect("read");
            let paths: Vec<String> = got.iter().map(|m| m.entry.display_path()).collect();
            assert_eq!(
                paths,
                ["dir", "dir/hello.txt", "dir/big.bin", "empty", "dir/link"],
                "bs {bs}"
            );
            for (m, src) in got.iter().zip(&members) {
                assert_eq!(m.entry.kind, src.entry.kind);
                assert_eq!(m.data, src.data, "{}", m.entry.display_path());
                if m.entry.kind == EntryKind::File {
                    assert_eq!(m.entry.mode, 0o640);
                    assert_eq!((m.entry.uid, m.entry.gid), (0o14, 0o320));
                    assert_eq!(
                        m.entry.mtime,
                        Some(Timestamp::new(1_600_000_000, 123_456_700))
                    );
                }
            }
            assert_eq!(
                got[4].entry.link_target.as_deref(),
                Some(&b"dir/hello.txt"[..])
            );
        }
    }
}
