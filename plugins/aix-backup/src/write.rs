//! The writer of the dword format: by-name as AIX 3 to 7 `backup -i` writes it (FS_NAME_X,
//! FS_NAME_LF for files of 2 GiB and more), by-name with 16-bit FS_NAME records as PC/IX
//! and `backup -i -o` write it, and the PC/IX / AIX v2 by-inode format. Options and their
//! checks are here too ([`WriteOptions`]); the AIX 3+ by-inode writer is
//! [`crate::write_bsd`].
//!
//! What is written (research note §7 "Writer", §1.6):
//! - FS_VOLUME: `date` (option `date`, else the source's date, else now); `budate` = date
//!   for by-name, the level's budate for by-inode; `disk` and `fsname` "by name" for
//!   by-name, the source's device and directory for by-inode (options `disk`, `fsname`);
//!   `user`; `incno` 100 for by-name, the level as an ASCII digit for by-inode (as PC/IX);
//!   `numwds` MAXINT, or `volume-size / 8` with fixed-size volumes.
//! - By-name, per entry: the name as `./relative` (absolute names stay absolute), size 0
//!   for directories, devices and FIFOs, `dsize` = the stored length; FS_NAME_X/LF get the
//!   security block: the entry's `aix.aixc` and `aix.pcl` ACLs verbatim, else the minimal
//!   block AIX writes (ACL and PCL from the mode); symlinks get no security block and
//!   carry their target as data. Inode numbers as AIX 7: 0 for files, counting down from
//!   0xFFFFFFFF for directories; files with several links get a real number, and because
//!   AIX restore links a name to an earlier one with the same (ino, dev) while every name
//!   carries the full data, the data of multi-link files is kept in a temporary spool and
//!   written again under each further name (so bffextract, which knows no links, extracts
//!   every name whole). An entry with an `aix.nfs4` ACL gets the S_IXACL mode bit and is
//!   followed by the AIX 7 side record `DIR/\x7f\x7f` holding the ACL text.
//! - By-inode v2 (after the catalog pass, see [`crate::catalog`]): FS_CLRI (incremental
//!   levels) and FS_BITS maps, every directory as FS_DINODE with V7 16-byte entries, then
//!   each dumped file, FS_END. No FS_FINDEX (it is only for random access; tapes have none).
//! - `pack`: a file is gathered in an anonymous temporary file while its byte counts are
//!   made, then written as a PACKED record when its pack(1) stream saves at least 4096 bytes
//!   (AIX's BUFSIZ rule, §3.1) and it does not already start with pack's magic `1F 1E`;
//!   otherwise as is. Memory stays bounded; the cost is that packed candidates are written
//!   twice.
//! - FS_END, then zeros to the end of the record (`record-size`, AIX's 51200 by default).
//!
//! Volumes: [`VolOut`]. Levels: the budate comes from the `dumpdates` file, which is updated
//! in [`FormatWriter::finish`] only after the output medium finished without error.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use relic_model::{
    Capabilities, Charset, Entry, EntryKind, Error, FormatWriter, KindSet, Medium, Result,
    VolumeInfo, WriteSummary,
};
use relic_plugin_sdk::{HostHandle, Options};

use crate::catalog::{Catalog, Plan};
use crate::dumpdates;
use crate::layout::{self, incno, security, ty, FileHeader, Volume, DWORD, S_IXACL};
use crate::pack::{Code, Encoder};
use crate::volume::{OutHeader, VolOut};

/// Which archive to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// AIX 3-7 `backup -i`: FS_NAME_X (FS_NAME_LF for large files).
    ByName,
    /// 16-bit FS_NAME: PC/IX, AIX/RT, AIX 3+ `backup -i -o`.
    ByNameV2,
    /// PC/IX / AIX v2 by-inode (dword format).
    ByInodeV2,
    /// AIX 3+ by-inode (BSD style).
    ByInode,
}

impl Variant {
    pub fn parse(s: &str) -> Option<Variant> {
        Some(match s {
            "by-name" | "name" | "name-x" => Variant::ByName,
            "by-name-v2" | "name-v2" | "name16" => Variant::ByNameV2,
            "by-inode-v2" | "inode-v2" | "pcix" => Variant::ByInodeV2,
            "by-inode" | "inode" => Variant::ByInode,
            _ => return None,
        })
    }
    pub fn id(self) -> &'static str {
        match self {
            Variant::ByName => "by-name",
            Variant::ByNameV2 => "by-name-v2",
            Variant::ByInodeV2 => "by-inode-v2",
            Variant::ByInode => "by-inode",
        }
    }
    pub fn by_inode(self) -> bool {
        matches!(self, Variant::ByInodeV2 | Variant::ByInode)
    }
}

/// Writer options.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub variant: Variant,
    pub pack: bool,
    pub volume_size: Option<u64>,
    pub record_size: usize,
    pub level: Option<u8>,
    pub dumpdates: Option<PathBuf>,
    pub date: Option<i64>,
    pub disk: Option<Vec<u8>>,
    pub fsname: Option<Vec<u8>>,
    pub user: Option<Vec<u8>>,
}

/// AIX's default cluster: 100 blocks of 512 bytes.
pub const DEFAULT_RECORD: usize = 51200;
/// A file is packed only when that saves at least this much (AIX BUFSIZ).
pub const PACK_SAVING: u64 = 4096;

impl WriteOptions {
    pub fn new(variant: Variant) -> WriteOptions {
        WriteOptions {
            variant,
            pack: false,
            volume_size: None,
            record_size: DEFAULT_RECORD,
            level: None,
            dumpdates: None,
            date: None,
            disk: None,
            fsname: None,
            user: None,
        }
    }

    pub fn from_options(o: &Options) -> Result<WriteOptions> {
        let variant = match o.get("variant") {
            None | Some("") => Variant::ByName,
            Some(v) => Variant::parse(v).ok_or_else(|| {
                Error::config(format!(
                    "aix-backup variant={v}: expected by-name, by-name-v2, by-inode-v2 or by-inode"
                ))
            })?,
        };
        let mut w = WriteOptions::new(variant);
        w.pack = o.flag("pack");
        w.volume_size = o.size("volume-size")?;
        let unit = if variant == Variant::ByInode {
            1024
        } else {
            DWORD as u64
        };
        let rs = o.size("record-size")?;
        w.record_size = match (rs, w.volume_size) {
            (Some(r), _) => {
                usize::try_from(r).map_err(|_| Error::config("record-size too large"))?
            }
            (None, Some(_)) if variant == Variant::ByInode => 1024,
            (None, Some(_)) => 512,
            (None, None) => DEFAULT_RECORD,
        };
        if w.record_size == 0
            || w.record_size as u64 % unit != 0
            || w.record_size > relic_plugin_sdk::stream::MAX_RECORD
        {
            return Err(Error::config(format!(
                "record-size {} must be a positive multiple of {unit} up to 16 MiB",
                w.record_size
            )));
        }
        if let Some(v) = w.volume_size {
            if v < 4096
                || v % w.record_size as u64 != 0
                || v / DWORD as u64 >= layout::NUMWDS_UNBOUNDED as u64
            {
                return Err(Error::config(format!(
                    "volume-size {v} must be at least 4096 bytes, a multiple of the record size {} and under 16 GiB",
                    w.record_size
                )));
            }
        }
        if w.pack && variant == Variant::ByInode {
            return Err(Error::config(
                "pack: AIX 3+ by-inode backups are not packed (use a dword variant)",
            ));
        }
        w.level = match o.parse::<u8>("level")? {
            Some(l) if l > 9 => return Err(Error::config(format!("level {l}: levels are 0 to 9"))),
            l => l,
        };
        w.dumpdates = o
            .get("dumpdates")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        if (w.level.is_some() || w.dumpdates.is_some()) && !variant.by_inode() {
            return Err(Error::config(
                "level/dumpdates: AIX by-name backups have no levels (incno is 100); use variant=by-inode or by-inode-v2",
            ));
        }
        w.date = o.parse::<i64>("date")?;
        if let Some(d) = w.date {
            if d < i32::MIN as i64 || d > i32::MAX as i64 {
                return Err(Error::config(format!(
                    "date {d} does not fit a 32-bit time"
                )));
            }
        }
        let s = |k: &str| o.get(k).map(|v| v.as_bytes().to_vec());
        w.disk = s("disk");
        w.fsname = s("fsname");
        w.user = s("user");
        Ok(w)
    }
}

/// The writer for the options' variant.
pub fn open_writer(
    medium: Box<dyn Medium>,
    opts: WriteOptions,
    host: HostHandle,
) -> Result<Box<dyn FormatWriter>> {
    if opts.variant == Variant::ByInode {
        Ok(Box::new(crate::write_bsd::BsdWriter::new(
            medium, opts, host,
        )))
    } else {
        Ok(Box::new(DwordWriter::new(medium, opts, host)))
    }
}

/// Capabilities of a variant.
pub fn capabilities(variant: Variant) -> Capabilities {
    let mut c = Capabilities::unlimited();
    c.charset = Charset::Bytes;
    c.time_min = Some(i32::MIN as i64);
    c.time_max = Some(i32::MAX as i64);
    c.time_precision_ns = 1_000_000_000;
    c.birth = false;
    c.xattrs = false;
    c.holes = false;
    c.user_names = false;
    c.extras = vec!["aix".into()];
    c.kinds = KindSet::of(&[
        EntryKind::File,
        EntryKind::Dir,
        EntryKind::Symlink,
        EntryKind::HardLink,
        EntryKind::CharDevice,
        EntryKind::BlockDevice,
        EntryKind::Fifo,
    ]);
    match variant {
        Variant::ByName => {
            c.max_path = Some(layout::max_name(8) as u32 - 2);
            c.uid_max = Some(u32::MAX as u64);
            c.gid_max = Some(u32::MAX as u64);
            c.max_file_size = Some(i64::MAX as u64);
            c.rdev_major_max = Some(u32::MAX);
            c.rdev_minor_max = Some(u32::MAX);
            c.acls = true;
            c.levels = false;
        }
        Variant::ByNameV2 => {
            c.max_path = Some(layout::max_name(6) as u32 - 2);
            c.uid_max = Some(u16::MAX as u64);
            c.gid_max = Some(u16::MAX as u64);
            c.max_file_size = Some(i32::MAX as u64);
            c.rdev_major_max = Some(u16::MAX as u32);
            c.rdev_minor_max = Some(u16::MAX as u32);
            c.acls = false;
            c.levels = false;
        }
        Variant::ByInodeV2 => {
            c.max_name = Some(layout::V7_NAME as u32);
            c.uid_max = Some(u16::MAX as u64);
            c.gid_max = Some(u16::MAX as u64);
            c.max_file_size = Some(i32::MAX as u64);
            c.rdev_major_max = Some(u16::MAX as u32);
            c.rdev_minor_max = Some(u16::MAX as u32);
            c.acls = false;
            c.levels = true;
            c.needs_catalog = true;
        }
        Variant::ByInode => {
            c.max_name = Some(255);
            c.uid_max = Some(u16::MAX as u64);
            c.gid_max = Some(u16::MAX as u64);
            c.max_file_size = Some(i64::MAX as u64);
            c.rdev_major_max = Some(u16::MAX as u32);
            c.rdev_minor_max = Some(u16::MAX as u32);
            c.acls = false;
            c.holes = true;
            c.levels = true;
            c.needs_catalog = true;
        }
    }
    c
}

/// The backup date and level facts shared by both by-inode writers.
pub struct LevelInfo {
    pub date: i64,
    pub level: u8,
    pub budate: i64,
    /// Key of the history line.
    pub name: String,
}

/// After a successful archive: record its level in the history file (the budate history,
/// dump's `u`) and say so in the summary notes. Shared by the dword and BSD-style writers.
pub(crate) fn record_level(
    level: &Option<LevelInfo>,
    history: Option<&std::path::Path>,
    notes: &mut Vec<String>,
) -> Result<()> {
    if let (Some(li), Some(p)) = (level, history) {
        dumpdates::update(p, &li.name, li.level, li.date)?;
        notes.push(format!(
            "{} updated: {} level {}",
            p.display(),
            li.name,
            li.level
        ));
    }
    Ok(())
}

/// Date, level and budate of a backup from the options, the source's volume and history.
pub fn level_info(opts: &WriteOptions, volume: &VolumeInfo) -> Result<LevelInfo> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let date = opts
        .date
        .or(volume.date.map(|t| t.secs))
        .unwrap_or(now)
        .clamp(i32::MIN as i64, i32::MAX as i64);
    let level = opts.level.unwrap_or(0);
    let name = String::from_utf8_lossy(
        opts.fsname
            .as_deref()
            .or(volume.filesystem.as_deref())
            .unwrap_or(b"/"),
    )
    .into_owned();
    let budate = match &opts.dumpdates {
        Some(p) if level > 0 => dumpdates::budate(&dumpdates::read(p)?, &name, level),
        _ => 0,
    };
    Ok(LevelInfo {
        date,
        level,
        budate,
        name,
    })
}

/// The user field: option, source, $USER, root.
pub fn user_of(opts: &WriteOptions, volume: &VolumeInfo) -> Vec<u8> {
    opts.user
        .clone()
        .or(volume.user.clone())
        .or_else(|| std::env::var("USER").ok().map(String::into_bytes))
        .unwrap_or_else(|| b"root".to_vec())
}

/// How the current entry is being written.
enum Cur {
    None,
    /// Header written; data goes straight out.
    Direct {
        left: u64,
        written: u64,
        link: bool,
    },
    /// Gathered for packing.
    Spool {
        file: File,
        counts: Box<[u64; 256]>,
        len: u64,
        first2: Vec<u8>,
        fh: FileHeader,
        entry: Box<Entry>,
        link: bool,
    },
    /// Left out (level) or already written (directories of a by-inode backup).
    Skip,
}

/// Data of multi-link files, kept for their further names.
struct LinkSpool {
    file: File,
    len: u64,
    /// Path -> (ino, offset, size, nlink).
    files: HashMap<Vec<u8>, (u32, u64, u64, i32)>,
}

/// The dword-format writer.
pub struct DwordWriter {
    medium: Option<Box<dyn Medium>>,
    out: Option<VolOut>,
    opts: WriteOptions,
    host: HostHandle,
    caps: Capabilities,
    cur: Cur,
    next_dir_ino: u32,
    next_file_ino: u32,
    next_link_ino: u32,
    links: Option<LinkSpool>,
    /// Entry whose NFS4 side record follows it.
    side: Option<(Vec<u8>, Entry)>,
    acl_warned: BTreeSet<String>,
    // by-inode v2
    date: i64,
    level: Option<LevelInfo>,
    catalog: Catalog,
    plan: Option<Plan>,
    volume_in: VolumeInfo,
    entries: u64,
    bytes: u64,
    notes: Vec<String>,
}

impl DwordWriter {
    pub fn new(medium: Box<dyn Medium>, opts: WriteOptions, host: HostHandle) -> DwordWriter {
        let caps = capabilities(opts.variant);
        DwordWriter {
            medium: Some(medium),
            out: None,
            opts,
            host,
            caps,
            cur: Cur::None,
            next_dir_ino: u32::MAX,
            next_file_ino: 1,
            next_link_ino: 1,
            links: None,
            side: None,
            acl_warned: BTreeSet::new(),
            date: 0,
            level: None,
            catalog: Catalog::default(),
            plan: None,
            volume_in: VolumeInfo::default(),
            entries: 0,
            bytes: 0,
            notes: Vec::new(),
        }
    }

    fn out(&mut self) -> Result<&mut VolOut> {
        self.out
            .as_mut()
            .ok_or_else(|| Error::internal("aix-backup writer used before begin_archive"))
    }

    fn start(&mut self, vol: Volume) -> Result<()> {
        let medium = self
            .medium
            .take()
            .ok_or_else(|| Error::internal("begin_archive called twice"))?;
        let mut out = VolOut::new(
            medium,
            self.opts.record_size,
            self.opts.volume_size,
            OutHeader::Dword(vol),
            self.host.clone(),
        );
        out.start()?;
        self.out = Some(out);
        Ok(())
    }

    fn volume_header(&self, budate: i64, incno_v: i16, by_inode: bool) -> Volume {
        let v = &self.volume_in;
        let (disk, fsname) = if by_inode {
            (
                self.opts
                    .disk
                    .clone()
                    .or(v.device.clone())
                    .unwrap_or_default(),
                self.opts
                    .fsname
                    .clone()
                    .or(v.filesystem.clone())
                    .unwrap_or_default(),
            )
        } else {
            (
                self.opts
                    .disk
                    .clone()
                    .unwrap_or_else(|| b"by name".to_vec()),
                self.opts
                    .fsname
                    .clone()
                    .unwrap_or_else(|| b"by name".to_vec()),
            )
        };
        Volume {
            volnum: 1,
            date: self.date as i32,
            budate: budate as i32,
            numwds: self
                .opts
                .volume_size
                .map(|s| (s / DWORD as u64) as u32)
                .unwrap_or(layout::NUMWDS_UNBOUNDED),
            disk,
            fsname,
            user: user_of(&self.opts, &self.volume_in),
            incno: incno_v,
        }
    }

    /// The archive name of a path: `./relative`, absolute names as they are.
    fn archive_name(path: &[u8]) -> Vec<u8> {
        if path.first() == Some(&b'/') {
            path.to_vec()
        } else if path == b"." {
            b"./".to_vec()
        } else {
            let mut n = b"./".to_vec();
            n.extend_from_slice(path);
            n
        }
    }

    /// Full mode: type, permissions, AIX flags from `aix.mode` and the ACLs.
    fn full_mode(e: &Entry, kind: EntryKind) -> u32 {
        let mut m = kind.ifmt() | (e.mode & 0o7777);
        if let Some(v) = e
            .extra("aix.mode")
            .and_then(|v| std::str::from_utf8(v).ok())
        {
            if let Ok(x) = u32::from_str_radix(v.trim_start_matches("0o"), 8) {
                m |= x & !0xffff;
            }
        }
        if e.acls.iter().any(|a| a.kind == "aix.nfs4")
            || e.acls
                .iter()
                .any(|a| a.kind == "aix.aixc" && !security::acl_is_minimal(&a.data))
        {
            m |= S_IXACL;
        }
        m
    }

    /// The security block of an entry.
    fn security_block(&mut self, e: &Entry, mode: u32) -> Vec<u8> {
        let mut acl: Option<Vec<u8>> = None;
        let mut pcl: Option<Vec<u8>> = None;
        for a in &e.acls {
            match a.kind.as_str() {
                "aix.aixc"
                    if security::acl_len(&a.data).is_some_and(|l| l as usize == a.data.len()) =>
                {
                    acl = Some(a.data.clone())
                }
                "aix.pcl"
                    if security::acl_len(&a.data).is_some_and(|l| l as usize == a.data.len()) =>
                {
                    pcl = Some(a.data.clone())
                }
                "aix.nfs4" => {}
                k => {
                    if self.acl_warned.insert(k.to_string()) {
                        self.host.warn(
                            &format!("ACLs of kind {k} cannot be stored in an AIX backup: dropped (first: {})", e.display_path()),
                            None,
                        );
                    }
                }
            }
        }
        let mut acl = acl.unwrap_or_else(|| security::minimal_acl(mode).to_vec());
        let mut pcl = pcl.unwrap_or_else(|| security::minimal_pcl(mode).to_vec());
        acl.resize(acl.len().div_ceil(DWORD) * DWORD, 0);
        pcl.resize(pcl.len().div_ceil(DWORD) * DWORD, 0);
        let mut b = Vec::with_capacity(8 + acl.len() + pcl.len());
        b.extend_from_slice(&((acl.len() / DWORD) as u32).to_le_bytes());
        b.extend_from_slice(&((pcl.len() / DWORD) as u32).to_le_bytes());
        b.extend_from_slice(&acl);
        b.extend_from_slice(&pcl);
        b
    }

    /// Header fields of a by-name entry (size and dsize filled by the caller).
    fn name_header(&mut self, e: &Entry, kind: EntryKind) -> FileHeader {
        let mode = Self::full_mode(e, kind);
        let v2 = self.opts.variant == Variant::ByNameV2;
        let ino = match kind {
            EntryKind::Dir if !v2 => {
                let i = self.next_dir_ino;
                self.next_dir_ino = self.next_dir_ino.wrapping_sub(1).max(0x8000_0000);
                i
            }
            _ if e.nlink > 1 && kind != EntryKind::Dir => {
                let i = self.next_link_ino;
                self.next_link_ino = self.next_link_ino % if v2 { 0xffff } else { 0x7fff_ffff } + 1;
                i
            }
            _ if v2 => {
                let i = self.next_file_ino;
                self.next_file_ino = self.next_file_ino % 0xffff + 1;
                i
            }
            _ => 0,
        };
        let t = |x: Option<relic_model::Timestamp>, d: i64| x.map(|t| t.secs).unwrap_or(d) as i32;
        let mtime = t(e.mtime, self.date);
        FileHeader {
            rtype: if v2 { ty::NAME } else { ty::NAME_X },
            packed: false,
            ino,
            mode,
            nlink: e.nlink.min(i16::MAX as u32) as i32,
            uid: e.uid as u32,
            gid: e.gid as u32,
            size: 0,
            atime: t(e.atime, mtime as i64),
            mtime,
            ctime: t(e.ctime, mtime as i64),
            devmaj: 0,
            devmin: 0,
            rdevmaj: e.rdev.map(|d| d.major).unwrap_or(0),
            rdevmin: e.rdev.map(|d| d.minor).unwrap_or(0),
            dsize: 0,
            name: Some(Self::archive_name(&e.path)),
        }
    }

    fn encode(&self, fh: &FileHeader) -> Vec<u8> {
        match fh.rtype {
            ty::NAME_X if fh.size > i32::MAX as i64 || fh.dsize > i32::MAX as i64 => {
                let mut f = fh.clone();
                f.rtype = ty::NAME_LF;
                f.encode_lf()
            }
            ty::NAME_X => fh.encode_x(),
            _ => fh.encode16(),
        }
    }

    /// Write a header, and the security block where the record has one.
    fn put_header(&mut self, fh: &FileHeader, e: &Entry) -> Result<()> {
        let h = self.encode(fh);
        self.out()?.write(&h)?;
        if fh.rtype == ty::NAME_X && fh.mode & 0o170000 != 0o120000 {
            let sec = self.security_block(e, fh.mode);
            self.out()?.write(&sec)?;
        }
        Ok(())
    }

    fn pad(&mut self, n: u64) -> Result<()> {
        let p = (DWORD as u64 - n % DWORD as u64) % DWORD as u64;
        self.out()?.zeros(p)
    }

    /// Whether a file of this size goes through the pack spool.
    fn pack_candidate(&self, size: u64) -> bool {
        self.opts.pack && size > PACK_SAVING && size <= i32::MAX as u64
    }

    /// Start a file: header now (plain) or spool (pack).
    fn start_file(&mut self, e: &Entry, mut fh: FileHeader) -> Result<()> {
        let link = e.nlink > 1 && !self.opts.variant.by_inode();
        if link && self.links.is_none() {
            let file = tempfile::tempfile()
                .map_err(|err| Error::io("cannot create a spool file for hard links", &err))?;
            self.links = Some(LinkSpool {
                file,
                len: 0,
                files: HashMap::new(),
            });
        }
        if link {
            let (ino, nlink) = (fh.ino, fh.nlink);
            if let Some(l) = self.links.as_mut() {
                let off = l.len;
                l.files.insert(e.path.clone(), (ino, off, e.size, nlink));
            }
        }
        if self.pack_candidate(e.size) {
            let file = tempfile::tempfile()
                .map_err(|err| Error::io("cannot create a spool file for packing", &err))?;
            self.cur = Cur::Spool {
                file,
                counts: Box::new([0u64; 256]),
                len: 0,
                first2: Vec::new(),
                fh,
                entry: Box::new(e.clone()),
                link,
            };
            return Ok(());
        }
        fh.size = e.size as i64;
        fh.dsize = e.size as i64;
        self.put_header(&fh, e)?;
        self.cur = Cur::Direct {
            left: e.size,
            written: 0,
            link,
        };
        Ok(())
    }

    fn tee_link(&mut self, data: &[u8]) -> Result<()> {
        if let Some(l) = self.links.as_mut() {
            l.file
                .write_all(data)
                .map_err(|e| Error::io("cannot write the hard-link spool", &e))?;
            l.len += data.len() as u64;
        }
        Ok(())
    }

    /// Finish a spooled file: packed when it pays, plain otherwise.
    fn flush_spool(&mut self) -> Result<()> {
        let Cur::Spool {
            mut file,
            counts,
            len,
            first2,
            mut fh,
            entry,
            ..
        } = std::mem::replace(&mut self.cur, Cur::None)
        else {
            return Ok(());
        };
        if len != entry.size {
            self.host.warn(
                &format!(
                    "{}: {len} bytes of data for a size of {}: the size written is {len}",
                    entry.display_path(),
                    entry.size
                ),
                None,
            );
        }
        let code = if first2 == [0x1f, 0x1e] {
            None
        } else {
            Code::build(&counts)
        };
        let packed_len = code.as_ref().map(|c| c.stream_len(&counts));
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("cannot rewind the pack spool", &e))?;
        fh.size = len as i64;
        let mut buf = vec![0u8; 64 * 1024];
        match (code, packed_len) {
            (Some(code), Some(plen)) if len >= plen + PACK_SAVING => {
                fh.packed = true;
                fh.dsize = plen as i64;
                self.put_header(&fh, &entry)?;
                self.out()?.write(code.header())?;
                let mut written = code.header().len() as u64;
                let mut enc = Encoder::new(code);
                let mut packed = Vec::with_capacity(buf.len());
                loop {
                    let n = file
                        .read(&mut buf)
                        .map_err(|e| Error::io("cannot read the pack spool", &e))?;
                    if n == 0 {
                        break;
                    }
                    packed.clear();
                    enc.encode(&buf[..n], &mut packed).map_err(|b| {
                        Error::internal(format!("byte {b:#04x} missing from the pack code"))
                    })?;
                    written += packed.len() as u64;
                    self.out()?.write(&packed)?;
                }
                packed.clear();
                enc.finish(&mut packed);
                written += packed.len() as u64;
                self.out()?.write(&packed)?;
                if written != plen {
                    return Err(Error::internal(format!(
                        "packed stream of {} is {written} bytes, {plen} were announced",
                        entry.display_path()
                    )));
                }
                self.pad(plen)?;
            }
            _ => {
                fh.dsize = len as i64;
                self.put_header(&fh, &entry)?;
                loop {
                    let n = file
                        .read(&mut buf)
                        .map_err(|e| Error::io("cannot read the pack spool", &e))?;
                    if n == 0 {
                        break;
                    }
                    self.out()?.write(&buf[..n])?;
                }
                self.pad(len)?;
            }
        }
        Ok(())
    }

    /// A further name of a multi-link file, by name: the full data again.
    fn write_link(&mut self, e: &Entry) -> Result<()> {
        let target = e.link_target.clone().unwrap_or_default();
        let found = self
            .links
            .as_ref()
            .and_then(|l| l.files.get(&target).copied());
        let mut fh = self.name_header(e, EntryKind::File);
        let Some((ino, off, size, nlink)) = found else {
            self.host.warn(
                &format!(
                    "{}: hard link to {}, whose data was not kept: written as an empty file",
                    e.display_path(),
                    String::from_utf8_lossy(&target)
                ),
                None,
            );
            return self.put_header(&fh, e);
        };
        fh.ino = ino;
        fh.nlink = nlink;
        fh.size = size as i64;
        fh.dsize = size as i64;
        self.put_header(&fh, e)?;
        let mut left = size;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let l = self
                .links
                .as_mut()
                .ok_or_else(|| Error::internal("link spool vanished"))?;
            l.file
                .seek(SeekFrom::Start(off + size - left))
                .map_err(|err| Error::io("cannot read the hard-link spool", &err))?;
            let n = (left.min(buf.len() as u64)) as usize;
            l.file
                .read_exact(&mut buf[..n])
                .map_err(|err| Error::io("cannot read the hard-link spool", &err))?;
            l.file
                .seek(SeekFrom::End(0))
                .map_err(|err| Error::io("cannot seek the hard-link spool", &err))?;
            self.out()?.write(&buf[..n])?;
            left -= n as u64;
        }
        self.pad(size)
    }

    /// The AIX 7 NFS4 side record after an entry with an NFS4 ACL.
    fn write_side(&mut self, e: &Entry, text: &[u8]) -> Result<()> {
        let dir = match e.path.iter().rposition(|&b| b == b'/') {
            Some(i) => e.path[..i].to_vec(),
            None => b".".to_vec(),
        };
        let mut p = if dir == b"." { Vec::new() } else { dir };
        if !p.is_empty() {
            p.push(b'/');
        }
        p.extend_from_slice(layout::NFS4_SIDE_NAME);
        let mut side = Entry::new(p, EntryKind::File);
        side.mode = 0o644;
        side.uid = e.uid;
        side.gid = e.gid;
        side.mtime = e.mtime;
        side.atime = e.atime;
        side.ctime = e.ctime;
        side.size = text.len() as u64;
        let mut fh = self.name_header(&side, EntryKind::File);
        fh.size = text.len() as i64;
        fh.dsize = text.len() as i64;
        self.put_header(&fh, &side)?;
        self.out()?.write(text)?;
        self.pad(text.len() as u64)
    }

    /// By-inode v2: volume header, maps and every directory.
    fn write_inode_prologue(&mut self) -> Result<()> {
        let li = level_info(&self.opts, &self.volume_in)?;
        let plan = self
            .catalog
            .plan(layout::ROOT_INO, li.date, li.budate, u16::MAX as u32)?;
        for w in &plan.warnings {
            self.host.warn(w, None);
        }
        self.date = li.date;
        let vol = self.volume_header(li.budate, b'0' as i16 + li.level as i16, true);
        self.start(vol)?;
        let nbytes = (plan.max_ino as usize).div_ceil(8);
        let nwds = nbytes.div_ceil(DWORD);
        let mut map = vec![0u8; nwds * DWORD];
        let set = |map: &mut Vec<u8>, ino: u32| {
            let i = ino as usize - 1;
            map[i / 8] |= 1 << (i % 8);
        };
        if li.level > 0 {
            let mut used = vec![0u8; nwds * DWORD];
            for i in 1..=plan.max_ino {
                set(&mut used, i);
            }
            self.out()?
                .write(&layout::encode_map_header(ty::CLRI, nwds as u16))?;
            self.out()?.write(&used)?;
        }
        for &i in &plan.dumped {
            set(&mut map, i);
        }
        self.out()?
            .write(&layout::encode_map_header(ty::BITS, nwds as u16))?;
        self.out()?.write(&map)?;
        for d in &plan.dirs {
            let mut data = Vec::with_capacity(d.entries.len() * layout::V7_DIRENT);
            for (ino, name) in &d.entries {
                layout::v7_encode(*ino as u16, name, &mut data);
            }
            let m = &d.meta;
            let fh = FileHeader {
                rtype: ty::DINODE,
                packed: false,
                ino: d.ino,
                mode: 0o040000 | m.mode,
                nlink: d.nlink.min(i16::MAX as u32) as i32,
                uid: m.uid as u32,
                gid: m.gid as u32,
                size: data.len() as i64,
                atime: m.atime as i32,
                mtime: m.mtime as i32,
                ctime: m.ctime as i32,
                dsize: data.len() as i64,
                ..FileHeader::default()
            };
            let h = fh.encode16();
            let out = self.out()?;
            out.write(&h)?;
            out.write(&data)?;
            let n = data.len() as u64;
            self.pad(n)?;
            self.entries += 1;
        }
        self.notes.push(format!(
            "level {}, budate {}, {} inodes, {} directories",
            li.level,
            li.budate,
            plan.max_ino - 1,
            plan.dirs.len()
        ));
        self.level = Some(li);
        self.plan = Some(plan);
        Ok(())
    }

    /// By-inode v2: an entry of the data pass.
    fn begin_inode_entry(&mut self, e: &Entry) -> Result<()> {
        let plan = self
            .plan
            .as_ref()
            .ok_or_else(|| Error::internal("data pass before the catalog"))?;
        let path = crate::catalog::relative(&e.path);
        let kind = e.kind;
        if matches!(kind, EntryKind::Dir | EntryKind::HardLink) {
            self.cur = Cur::Skip;
            return Ok(());
        }
        let Some(&ino) = plan.inode_of.get(&path) else {
            self.host.warn(
                &format!(
                    "{}: not seen in the catalog pass: left out",
                    e.display_path()
                ),
                None,
            );
            self.cur = Cur::Skip;
            return Ok(());
        };
        if !plan.dumped.contains(&ino) {
            self.cur = Cur::Skip;
            return Ok(());
        }
        let nlink = plan.nlink.get(&ino).copied().unwrap_or(1);
        let t = |x: Option<relic_model::Timestamp>, d: i64| x.map(|t| t.secs).unwrap_or(d) as i32;
        let mtime = t(e.mtime, self.date);
        let mut fh = FileHeader {
            rtype: ty::DINODE,
            packed: false,
            ino,
            mode: kind.ifmt() | (e.mode & 0o7777),
            nlink: nlink.min(i16::MAX as u32) as i32,
            uid: e.uid as u32,
            gid: e.gid as u32,
            atime: t(e.atime, mtime as i64),
            mtime,
            ctime: t(e.ctime, mtime as i64),
            rdevmaj: e.rdev.map(|d| d.major).unwrap_or(0),
            rdevmin: e.rdev.map(|d| d.minor).unwrap_or(0),
            ..FileHeader::default()
        };
        self.entries += 1;
        match kind {
            EntryKind::File => self.start_file(e, fh),
            EntryKind::Symlink => {
                let t = e.link_target.clone().unwrap_or_default();
                fh.size = t.len() as i64;
                fh.dsize = t.len() as i64;
                self.out()?.write(&fh.encode16())?;
                self.out()?.write(&t)?;
                self.pad(t.len() as u64)?;
                self.cur = Cur::Skip;
                Ok(())
            }
            _ => {
                self.out()?.write(&fh.encode16())?;
                self.cur = Cur::Skip;
                Ok(())
            }
        }
    }
}

impl FormatWriter for DwordWriter {
    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    fn begin_archive(&mut self, volume: &VolumeInfo) -> Result<()> {
        self.volume_in = volume.clone();
        if self.opts.variant == Variant::ByInodeV2 {
            // everything waits for the catalog
            return Ok(());
        }
        let li = level_info(&self.opts, volume)?;
        self.date = li.date;
        let vol = self.volume_header(li.date, incno::BYNAME, false);
        self.start(vol)
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
        if self.opts.variant == Variant::ByInodeV2 {
            self.write_inode_prologue()?;
        }
        Ok(())
    }

    fn begin_entry(&mut self, e: &Entry) -> Result<()> {
        if self.opts.variant == Variant::ByInodeV2 {
            if self.plan.is_none() {
                // a caller without a catalog pass: plan from nothing is impossible
                return Err(Error::internal(
                    "by-inode-v2 needs the catalog pass (the engine provides it)",
                ));
            }
            return self.begin_inode_entry(e);
        }
        self.entries += 1;
        let kind = e.kind;
        match kind {
            EntryKind::HardLink => {
                self.write_link(e)?;
                self.cur = Cur::Skip;
            }
            EntryKind::File => {
                let fh = self.name_header(e, kind);
                self.start_file(e, fh)?;
            }
            EntryKind::Symlink => {
                let mut fh = self.name_header(e, kind);
                let t = e.link_target.clone().unwrap_or_default();
                fh.size = t.len() as i64;
                fh.dsize = t.len() as i64;
                self.put_header(&fh, e)?;
                self.out()?.write(&t)?;
                self.pad(t.len() as u64)?;
                self.cur = Cur::Skip;
            }
            _ => {
                let fh = self.name_header(e, kind);
                self.put_header(&fh, e)?;
                self.cur = Cur::Skip;
            }
        }
        if let Some(a) = e.acls.iter().find(|a| a.kind == "aix.nfs4") {
            if self.opts.variant == Variant::ByName {
                self.side = Some((a.data.clone(), e.clone()));
            }
        }
        Ok(())
    }

    fn write_data(&mut self, _offset: u64, data: &[u8]) -> Result<()> {
        self.bytes += data.len() as u64;
        let mut tee = false;
        match &mut self.cur {
            Cur::Direct {
                left,
                written,
                link,
            } => {
                if data.len() as u64 > *left {
                    return Err(Error::internal(format!(
                        "{} bytes of data beyond the entry's size",
                        data.len() as u64 - *left
                    )));
                }
                *left -= data.len() as u64;
                *written += data.len() as u64;
                tee = *link;
                self.out
                    .as_mut()
                    .ok_or_else(|| Error::internal("no output"))?
                    .write(data)?;
            }
            Cur::Spool {
                file,
                counts,
                len,
                first2,
                link,
                ..
            } => {
                for &b in data {
                    counts[b as usize] += 1;
                }
                if first2.len() < 2 {
                    let k = (2 - first2.len()).min(data.len());
                    first2.extend_from_slice(&data[..k]);
                }
                file.write_all(data)
                    .map_err(|e| Error::io("cannot write the pack spool", &e))?;
                *len += data.len() as u64;
                tee = *link;
            }
            Cur::Skip => {}
            Cur::None => return Err(Error::internal("data outside an entry")),
        }
        if tee {
            self.tee_link(data)?;
        }
        Ok(())
    }

    fn write_hole(&mut self, offset: u64, len: u64) -> Result<()> {
        // holes arrive only if a caller ignores `holes: false`: write zeros
        let z = vec![0u8; 64 * 1024];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(z.len() as u64) as usize;
            self.write_data(offset + done, &z[..n])?;
            done += n as u64;
        }
        Ok(())
    }

    fn end_entry(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.cur, Cur::None) {
            Cur::Direct {
                left,
                written,
                link,
            } => {
                if left > 0 {
                    self.host.warn(
                        &format!("an entry ended {left} bytes short of its size (it shrank while being read?): padded with zeros"),
                        None,
                    );
                    self.out()?.zeros(left)?;
                    if link {
                        let z = [0u8; 4096];
                        let mut n = left;
                        while n > 0 {
                            let k = n.min(z.len() as u64) as usize;
                            self.tee_link(&z[..k])?;
                            n -= k as u64;
                        }
                    }
                }
                self.pad(written + left)?;
            }
            s @ Cur::Spool { .. } => {
                self.cur = s;
                self.flush_spool()?;
            }
            _ => {}
        }
        if let Some((text, e)) = self.side.take() {
            self.write_side(&e, &text)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<WriteSummary> {
        if self.out.is_none() && self.opts.variant == Variant::ByInodeV2 {
            // no catalog pass happened (no entries): an empty backup
            self.write_inode_prologue()?;
        }
        let out = self.out()?;
        out.write(&layout::encode_end(ty::END))?;
        out.finish()?;
        let volumes = out.volumes();
        record_level(&self.level, self.opts.dumpdates.as_deref(), &mut self.notes)?;
        Ok(WriteSummary {
            entries: self.entries,
            bytes: self.bytes,
            volumes,
            notes: std::mem::take(&mut self.notes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relic_plugin_sdk::testing::MemoryMedium;

    #[test]
    fn large_files_get_fs_name_lf_and_names_get_dot_slash() {
        let w = DwordWriter::new(
            Box::new(MemoryMedium::new(0)),
            WriteOptions::new(Variant::ByName),
            std::sync::Arc::new(relic_model::NullHost),
        );
        let fh = FileHeader {
            rtype: ty::NAME_X,
            mode: 0o100644,
            size: 3 << 30,
            dsize: 3 << 30,
            name: Some(b"./big".to_vec()),
            ..FileHeader::default()
        };
        let h = w.encode(&fh);
        let c = layout::Common::decode(&h);
        assert_eq!((c.rtype, c.len), (ty::NAME_LF, 10));
        assert_eq!(FileHeader::decode_lf(&c, &h).size, 3 << 30);
        let small = FileHeader {
            size: 10,
            dsize: 10,
            ..fh
        };
        assert_eq!(layout::Common::decode(&w.encode(&small)).rtype, ty::NAME_X);
        assert_eq!(DwordWriter::archive_name(b"."), b"./");
        assert_eq!(DwordWriter::archive_name(b"a/b"), b"./a/b");
        assert_eq!(DwordWriter::archive_name(b"/etc/x"), b"/etc/x");
    }
}
