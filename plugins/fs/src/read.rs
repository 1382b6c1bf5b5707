//! The source side of the `fs` format: a directory tree read as an archive.
//!
//! The tree is walked with walkdir, sorted by file name (so the order is reproducible), never
//! following symlinks, and with `one-file-system` not descending into other file systems.
//! The first entry is the root itself as `.`; every other path is relative to it, in raw
//! bytes (names that are not UTF-8 pass unchanged).
//!
//! Per object ([`FsReader::next_entry`]):
//! - metadata from `lstat` (std uses `statx`, so the birth time is there where the file
//!   system keeps one): permission bits (`mode & 0o7777`), uid/gid and their names (looked up
//!   once per id), ns times, inode, device, link count; device numbers of char/block devices;
//!   a symlink's target as bytes;
//! - hard links: a non-directory, non-symlink with `nlink > 1` is remembered by
//!   `(dev, ino)`; its first path is emitted as itself, later paths as
//!   [`EntryKind::HardLink`] naming the first. The table forgets an inode once all its links
//!   were seen, so it holds only inodes with links still to come (hard-linked symlinks are
//!   emitted as separate symlinks);
//! - xattrs from `llistxattr`/`lgetxattr` (all namespaces the process may read);
//!   `system.posix_acl_access`/`system.posix_acl_default` become ACLs `posix.access`/
//!   `posix.default` holding the raw xattr value. A file system without xattrs yields none
//!   silently; a permission error is reported and the entry goes on without them.
//!
//! Data ([`FsReader::read_data`]) is read with `pread` straight into the caller's buffer. Holes
//! come from `SEEK_DATA`/`SEEK_HOLE`: a hole of at least one file-system block is a
//! [`Chunk::Hole`]; smaller ones are read as the zeros they are. A file system without
//! `SEEK_DATA` (`EINVAL`) is read plainly. A file that shrinks while being read is padded with
//! zeros to the size its entry announced, one that grows is cut there, and either way the host
//! is told "file changed as we read it" (GNU tar's words and behaviour). A read error mid-file
//! is reported and the rest padded with zeros, as GNU tar does.
//!
//! Objects that cannot be examined or opened (vanished, permission denied) are reported
//! through the host naming the path and the OS error, and skipped; the run goes on. A
//! directory whose contents cannot be listed is still emitted itself (its metadata was
//! readable), followed by a warning for its contents.
//!
//! Known limit: walkdir reads a directory's listing before the directory's own `lstat`, so a
//! directory's recorded atime may already be the time of this read (relatime); files are
//! examined before they are opened, so their atimes are the ones before the read.

use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use relic_model::listing::escape;
use relic_model::{
    Acl, Chunk, DataState, Device, Entry, EntryKind, Error, ErrorKind, FormatReader, Result,
    Timestamp, VolumeInfo, Xattr,
};
use relic_plugin_sdk::HostHandle;

use crate::sys::{self, Seek};

/// Options of the source.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadConfig {
    /// Do not descend into directories on another file system than the root.
    pub one_file_system: bool,
}

/// Xattr names that carry POSIX ACLs, and the model ACL kinds they map to.
pub const ACL_XATTRS: [(&str, &str); 2] = [
    ("system.posix_acl_access", "posix.access"),
    ("system.posix_acl_default", "posix.default"),
];

/// A directory tree read as an archive.
pub struct FsReader {
    root: PathBuf,
    walker: walkdir::IntoIter,
    host: HostHandle,
    /// Inodes with more links still to come: `(dev, ino)` -> (first path, links not yet seen).
    links: HashMap<(u64, u64), (Vec<u8>, u64)>,
    users: HashMap<u32, Option<Vec<u8>>>,
    groups: HashMap<u32, Option<Vec<u8>>>,
    current: Option<OpenFile>,
}

impl FsReader {
    /// Open the directory `location` (raw path bytes) for reading.
    pub fn open(location: &[u8], cfg: ReadConfig, host: HostHandle) -> Result<FsReader> {
        let root = PathBuf::from(std::ffi::OsStr::from_bytes(location));
        let shown = escape(location);
        let meta = std::fs::metadata(&root).map_err(|e| {
            Error::io(format!("cannot open directory {shown}"), &e).in_file(shown.clone())
        })?;
        if !meta.is_dir() {
            return Err(Error::config(format!("{shown} is not a directory")).in_file(shown));
        }
        let walker = walkdir::WalkDir::new(&root)
            .follow_links(false)
            .same_file_system(cfg.one_file_system)
            .sort_by_file_name()
            .into_iter();
        Ok(FsReader {
            root,
            walker,
            host,
            links: HashMap::new(),
            users: HashMap::new(),
            groups: HashMap::new(),
            current: None,
        })
    }

    /// The entry path of a walked path: `.` for the root, else relative raw bytes.
    fn relative(&self, path: &Path, depth: usize) -> Vec<u8> {
        if depth == 0 {
            return b".".to_vec();
        }
        match path.strip_prefix(&self.root) {
            Ok(rel) => rel.as_os_str().as_bytes().to_vec(),
            // walkdir joins names to the root it was given, so this cannot happen; keep the
            // full path rather than invent one
            Err(_) => path.as_os_str().as_bytes().to_vec(),
        }
    }

    fn warn(&self, msg: &str) {
        self.host.warn(msg, None);
    }

    fn user(&mut self, uid: u32) -> Option<Vec<u8>> {
        self.users
            .entry(uid)
            .or_insert_with(|| sys::user_name(uid))
            .clone()
    }

    fn group(&mut self, gid: u32) -> Option<Vec<u8>> {
        self.groups
            .entry(gid)
            .or_insert_with(|| sys::group_name(gid))
            .clone()
    }

    /// Turn one walked object into an entry; `None` when it was skipped (already reported).
    fn entry_for(&mut self, dent: &walkdir::DirEntry) -> Option<Entry> {
        let path = dent.path();
        let rel = self.relative(path, dent.depth());
        let meta = match dent.metadata() {
            Ok(m) => m,
            Err(e) => {
                let why = e
                    .io_error()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| e.to_string());
                self.warn(&format!(
                    "cannot examine '{}': {why}; entry skipped",
                    escape(&rel)
                ));
                return None;
            }
        };
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_file() {
            EntryKind::File
        } else if ft.is_char_device() {
            EntryKind::CharDevice
        } else if ft.is_block_device() {
            EntryKind::BlockDevice
        } else if ft.is_fifo() {
            EntryKind::Fifo
        } else if ft.is_socket() {
            EntryKind::Socket
        } else {
            self.warn(&format!(
                "'{}': unknown file type {:o}; entry skipped",
                escape(&rel),
                meta.mode()
            ));
            return None;
        };
        let mut e = Entry::new(rel.clone(), kind);
        self.fill_metadata(&mut e, &meta);

        // A later name of an inode already emitted is a hard link to the first name.
        // Symlinks are left out: a hard-linked symlink is rare, every extractor can make it
        // again as a symlink, and a hard link to a symlink is refused by careful extractors.
        let key = (meta.dev(), meta.ino());
        let linkable = !matches!(kind, EntryKind::Dir | EntryKind::Symlink) && meta.nlink() > 1;
        if linkable {
            if let Some((first, remaining)) = self.links.get_mut(&key) {
                e.kind = EntryKind::HardLink;
                e.link_target = Some(first.clone());
                e.data = DataState::None;
                e.size = 0;
                *remaining = remaining.saturating_sub(1);
                if *remaining == 0 {
                    self.links.remove(&key);
                }
                return Some(e);
            }
        }

        match kind {
            EntryKind::File => {
                let file = match open_regular(path, &meta) {
                    Ok(f) => f,
                    Err(err) => {
                        self.warn(&format!(
                            "cannot open '{}': {err}; entry skipped",
                            escape(&rel)
                        ));
                        return None;
                    }
                };
                e.size = meta.len();
                let min_hole = if meta.blksize() >= 512 {
                    meta.blksize()
                } else {
                    4096
                };
                let mut of = OpenFile {
                    file,
                    path: rel.clone(),
                    size: e.size,
                    pos: 0,
                    data_end: 0,
                    min_hole,
                    sparse: true,
                    padding: false,
                    mtime: (meta.mtime(), meta.mtime_nsec()),
                    plan: None,
                };
                e.data_map = of.plan_map();
                self.current = Some(of);
            }
            EntryKind::Symlink => match std::fs::read_link(path) {
                Ok(t) => e.link_target = Some(t.into_os_string().into_vec()),
                Err(err) => {
                    self.warn(&format!(
                        "cannot read symlink '{}': {err}; entry skipped",
                        escape(&rel)
                    ));
                    return None;
                }
            },
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                let rdev = meta.rdev() as libc::dev_t;
                e.rdev = Some(Device {
                    major: libc::major(rdev),
                    minor: libc::minor(rdev),
                });
            }
            _ => {}
        }
        if linkable {
            self.links.insert(key, (rel.clone(), meta.nlink() - 1));
        }
        self.read_xattrs(path, &mut e);
        Some(e)
    }

    fn fill_metadata(&mut self, e: &mut Entry, meta: &Metadata) {
        e.mode = meta.mode() & 0o7777;
        e.uid = meta.uid() as u64;
        e.gid = meta.gid() as u64;
        e.uname = self.user(meta.uid());
        e.gname = self.group(meta.gid());
        e.mtime = Some(ts(meta.mtime(), meta.mtime_nsec()));
        e.atime = Some(ts(meta.atime(), meta.atime_nsec()));
        e.ctime = Some(ts(meta.ctime(), meta.ctime_nsec()));
        e.birth = meta.created().ok().map(system_time);
        e.nlink = u32::try_from(meta.nlink()).unwrap_or(u32::MAX);
        e.inode = Some(meta.ino());
        e.dev = Some(meta.dev());
        e.size = 0;
    }

    fn read_xattrs(&self, path: &Path, e: &mut Entry) {
        let names = match xattr::list(path) {
            Ok(n) => n,
            Err(err) => {
                self.xattr_problem(e, None, &err);
                return;
            }
        };
        let mut names: Vec<_> = names.collect();
        names.sort();
        for name in names {
            match xattr::get(path, &name) {
                Ok(Some(value)) => {
                    let n = name.as_bytes();
                    match ACL_XATTRS.iter().find(|(x, _)| x.as_bytes() == n) {
                        Some((_, kind)) => e.acls.push(Acl {
                            kind: kind.to_string(),
                            data: value,
                        }),
                        None => e.xattrs.push(Xattr {
                            name: n.to_vec(),
                            value,
                        }),
                    }
                }
                // removed since it was listed
                Ok(None) => {}
                Err(err) => self.xattr_problem(e, Some(name.as_bytes()), &err),
            }
        }
    }

    fn xattr_problem(&self, e: &Entry, name: Option<&[u8]>, err: &io::Error) {
        // No xattr support (or no such namespace) is not worth a word; anything else is.
        if matches!(err.raw_os_error(), Some(libc::ENOTSUP))
            || err.kind() == io::ErrorKind::Unsupported
        {
            return;
        }
        let what = match name {
            Some(n) => format!("extended attribute '{}'", escape(n)),
            None => "extended attributes".to_string(),
        };
        self.warn(&format!(
            "cannot read {what} of '{}': {err}; left out",
            escape(&e.path)
        ));
    }
}

impl FormatReader for FsReader {
    fn volume(&mut self) -> Result<VolumeInfo> {
        Ok(VolumeInfo {
            format: crate::FORMAT_ID.into(),
            date: Some(system_time(SystemTime::now())),
            host: sys::host_name(),
            filesystem: Some(self.root.as_os_str().as_bytes().to_vec()),
            ..VolumeInfo::default()
        })
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        // unread data of the previous entry is simply not read
        self.current = None;
        loop {
            if self.host.cancelled() {
                return Err(Error::new(
                    ErrorKind::Cancelled,
                    "cancelled while walking the directory",
                ));
            }
            let item = match self.walker.next() {
                None => return Ok(None),
                Some(item) => item,
            };
            match item {
                Ok(dent) => {
                    if let Some(e) = self.entry_for(&dent) {
                        return Ok(Some(e));
                    }
                }
                Err(err) => {
                    let rel = err
                        .path()
                        .map(|p| escape(&self.relative(p, err.depth().max(1))))
                        .unwrap_or_else(|| "?".into());
                    let why = err
                        .io_error()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| err.to_string());
                    self.warn(&format!(
                        "cannot read directory '{rel}': {why}; its contents are skipped"
                    ));
                }
            }
        }
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let Some(cur) = self.current.as_mut() else {
            return Ok(Chunk::End);
        };
        if self.host.cancelled() {
            return Err(
                Error::new(ErrorKind::Cancelled, "cancelled while reading a file").entry(&cur.path),
            );
        }
        let chunk = cur.next_chunk(buf, &self.host)?;
        if chunk == Chunk::End {
            self.current = None;
        }
        Ok(chunk)
    }

    fn skip_data(&mut self) -> Result<()> {
        self.current = None;
        Ok(())
    }
}

/// Open a regular file for reading without following a symlink put in its place, without
/// blocking on a fifo put in its place, and check it is still the object that was examined.
fn open_regular(path: &Path, meta: &Metadata) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let st = sys::fstat(f.as_raw_fd())?;
    if sys::ifmt(&st) != libc::S_IFREG || st.st_ino != meta.ino() || st.st_dev != meta.dev() {
        return Err(io::Error::other(
            "replaced by another object while being archived",
        ));
    }
    Ok(f)
}

fn ts(secs: i64, nsec: i64) -> Timestamp {
    Timestamp::new(secs, nsec.clamp(0, 999_999_999) as u32)
}

fn system_time(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp::new(d.as_secs() as i64, d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let (mut secs, mut nanos) = (-(d.as_secs() as i64), d.subsec_nanos());
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            Timestamp::new(secs, nanos)
        }
    }
}

/// Where the next chunk of a file comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// A hole of this many bytes starts at the read position.
    Hole(u64),
    /// Data from the read position up to this offset.
    Data(u64),
}

/// The file whose data is being read.
struct OpenFile {
    file: File,
    path: Vec<u8>,
    /// The size announced in the entry; exactly this many bytes are delivered.
    size: u64,
    pos: u64,
    /// End of the data region being read (`pos < data_end` means inside one).
    data_end: u64,
    /// Smallest hole reported as a hole: one file-system block.
    min_hole: u64,
    /// `SEEK_DATA` works here (cleared on the first `EINVAL`).
    sparse: bool,
    /// The file shrank or failed to read: the rest is delivered as zeros.
    padding: bool,
    mtime: (i64, i64),
    /// The data runs announced in the entry's `data_map`; chunks follow them exactly.
    plan: Option<Vec<(u64, u64)>>,
}

impl OpenFile {
    /// Find the data runs up front (SEEK_DATA/SEEK_HOLE only, nothing is read) so writers
    /// that put the hole map before the data can stream. The chunks then follow this plan,
    /// so what the entry announced is what is delivered even if the file changes.
    fn plan_map(&mut self) -> Option<Vec<(u64, u64)>> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut pos = 0;
        while pos < self.size {
            self.pos = pos;
            match self.locate() {
                Region::Hole(len) => pos += len.max(1),
                Region::Data(end) => {
                    let end = end.max(pos + 1).min(self.size);
                    runs.push((pos, end - pos));
                    pos = end;
                }
            }
            if runs.len() > Entry::MAX_DATA_MAP {
                self.pos = 0;
                return None;
            }
        }
        self.pos = 0;
        self.data_end = 0;
        self.plan = Some(runs.clone());
        Some(runs)
    }

    fn next_chunk(&mut self, buf: &mut [u8], host: &HostHandle) -> Result<Chunk> {
        if self.pos >= self.size {
            self.check_unchanged(host);
            return Ok(Chunk::End);
        }
        if buf.is_empty() {
            return Err(Error::internal("read_data was given an empty buffer").entry(&self.path));
        }
        if !self.padding && self.pos >= self.data_end {
            match self.locate() {
                Region::Hole(len) => {
                    let offset = self.pos;
                    self.pos += len;
                    return Ok(Chunk::Hole { offset, len });
                }
                Region::Data(end) => self.data_end = end,
            }
        }
        let offset = self.pos;
        if !self.padding {
            let want = (self.data_end - self.pos).min(buf.len() as u64) as usize;
            loop {
                match self.file.read_at(&mut buf[..want], offset) {
                    Ok(0) => {
                        host.warn(
                            &format!(
                                "'{}': file changed as we read it: it shrank to {offset} bytes; padded with zeros to {}",
                                escape(&self.path),
                                self.size
                            ),
                            None,
                        );
                        self.padding = true;
                    }
                    Ok(n) => {
                        self.pos += n as u64;
                        return Ok(Chunk::Data {
                            offset,
                            len: n as u64,
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        host.warn(
                            &format!(
                                "'{}': read error at byte {offset}: {e}; the rest is padded with zeros",
                                escape(&self.path)
                            ),
                            None,
                        );
                        self.padding = true;
                    }
                }
                break;
            }
        }
        let n = (self.size - self.pos).min(buf.len() as u64) as usize;
        buf[..n].fill(0);
        self.pos += n as u64;
        Ok(Chunk::Data {
            offset,
            len: n as u64,
        })
    }

    /// Classify what starts at `pos` (which is below `size`).
    fn locate(&mut self) -> Region {
        let (pos, size) = (self.pos, self.size);
        if let Some(plan) = &self.plan {
            return match plan.iter().find(|(o, l)| o + l > pos) {
                None => Region::Hole(size - pos),
                Some(&(o, _)) if o > pos => Region::Hole(o - pos),
                Some(&(o, l)) => Region::Data(o + l),
            };
        }
        if !self.sparse {
            return Region::Data(size);
        }
        let fd = self.file.as_raw_fd();
        let at = |s: io::Result<Seek>, sparse: &mut bool| -> u64 {
            match s {
                Ok(Seek::At(x)) => x.min(size),
                Ok(Seek::PastEnd) => size,
                // EINVAL: no SEEK_DATA here; anything else: read plainly from now on too
                Err(_) => {
                    *sparse = false;
                    size
                }
            }
        };
        let d = at(sys::seek_data(fd, pos), &mut self.sparse).max(pos);
        if !self.sparse {
            return Region::Data(size);
        }
        if d - pos >= self.min_hole {
            return Region::Hole(d - pos);
        }
        // Data (or a hole too small to keep, read as zeros) starts at pos: find where the
        // data ends, merging holes smaller than a block into it.
        let mut start = d;
        let end = loop {
            let h = at(sys::seek_hole(fd, start), &mut self.sparse);
            if h >= size || !self.sparse {
                break size;
            }
            let next = at(sys::seek_data(fd, h), &mut self.sparse);
            if !self.sparse || next >= size {
                // the rest is a hole: keep it as one if it is big enough
                break if size - h >= self.min_hole { h } else { size };
            }
            if next - h >= self.min_hole {
                break h;
            }
            if next <= start {
                // the file changed under us; stop guessing and read the rest plainly
                break size;
            }
            start = next;
        };
        Region::Data(if end > pos { end } else { size })
    }

    /// After the last byte: say so when the file changed while it was read.
    fn check_unchanged(&self, host: &HostHandle) {
        if self.padding {
            return; // already reported
        }
        if let Ok(st) = sys::fstat(self.file.as_raw_fd()) {
            let now = st.st_size.max(0) as u64;
            let detail = if now > self.size {
                format!("it grew to {now} bytes; cut to {}", self.size)
            } else if now < self.size {
                // the end beyond the new size was read as a hole: zeros
                format!(
                    "it shrank to {now} bytes; padded with zeros to {}",
                    self.size
                )
            } else if (st.st_mtime, st.st_mtime_nsec) != self.mtime {
                "it was modified; the copy may be inconsistent".to_string()
            } else {
                return;
            };
            host.warn(
                &format!(
                    "'{}': file changed as we read it: {detail}",
                    escape(&self.path)
                ),
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holes smaller than the threshold are read as data; larger ones become hole chunks.
    #[test]
    fn small_holes_merge_into_data() {
        use std::os::unix::fs::FileExt as _;
        const K: u64 = 1024;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("s");
        let f = File::create(&p).expect("create");
        f.set_len(8 * K * K).expect("set_len");
        for off in [0, 512 * K, 6 * K * K] {
            f.write_all_at(b"data", off).expect("write");
        }
        f.sync_all().expect("sync");
        let file = File::open(&p).expect("open");
        if sys::seek_hole(file.as_raw_fd(), 0).expect("seek") == Seek::At(8 * K * K) {
            println!("note: no hole reporting on this file system; test skipped");
            return;
        }
        let mut of = OpenFile {
            file,
            path: b"s".to_vec(),
            size: 8 * K * K,
            pos: 0,
            data_end: 0,
            min_hole: K * K,
            sparse: true,
            padding: false,
            mtime: (0, 0),
            plan: None,
        };
        // the plan announced up front must be exactly the data runs delivered below
        let planned = of.plan_map().expect("a map");
        let host: HostHandle = std::sync::Arc::new(relic_model::NullHost);
        let mut buf = vec![0u8; 8 * K as usize * K as usize];
        let mut chunks = Vec::new();
        loop {
            let c = of.next_chunk(&mut buf, &host).expect("chunk");
            if c == Chunk::End {
                break;
            }
            chunks.push(c);
        }
        // a 4-byte write allocates one block
        let blk = std::fs::metadata(&p).expect("stat").blksize();
        assert_eq!(
            chunks,
            vec![
                Chunk::Data {
                    offset: 0,
                    len: 512 * K + blk
                },
                Chunk::Hole {
                    offset: 512 * K + blk,
                    len: 6 * K * K - 512 * K - blk
                },
                Chunk::Data {
                    offset: 6 * K * K,
                    len: blk
                },
                Chunk::Hole {
                    offset: 6 * K * K + blk,
                    len: 2 * K * K - blk
                },
            ]
        );
        assert_eq!(planned, vec![(0, 512 * K + blk), (6 * K * K, blk)]);
    }

    #[test]
    fn times_before_the_epoch() {
        let t = UNIX_EPOCH - std::time::Duration::new(1, 250_000_000);
        assert_eq!(system_time(t), Timestamp::new(-2, 750_000_000));
        assert_eq!(
            system_time(UNIX_EPOCH + std::time::Duration::new(5, 7)),
            Timestamp::new(5, 7)
        );
    }
}
