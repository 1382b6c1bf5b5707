//! The sink side of the `fs` format: the extractor behind `relic extract` and `--to fs`.
//!
//! Everything is created under the target directory (made if missing) and never outside it.
//! The rules, checked per entry; a refused entry is skipped with a host warning
//! `refusing 'PATH': REASON` and the run goes on:
//! - absolute names are refused unless the `absolute-names` option is given (then they are
//!   resolved from `/` under the same rules below); any `..` component is refused; a NUL byte
//!   is refused; empty and `.` components are ignored;
//! - every parent directory is reached one component at a time from an open directory
//!   descriptor with `fstatat(AT_SYMLINK_NOFOLLOW)` and `openat(O_DIRECTORY | O_NOFOLLOW)`.
//!   A component that is a symlink (for instance one the archive itself created a moment
//!   ago) or not a directory refuses the entry: `parent 'link' is a symlink`. Missing parents
//!   are created (mode 0755, fixed later if the archive has an entry for them);
//! - the final name is created relative to that descriptor with `*at` calls. An existing
//!   object of that name is unlinked first (an existing directory is kept for a directory
//!   entry) and files are opened `O_CREAT | O_EXCL | O_NOFOLLOW`, so nothing is ever written
//!   through an existing symlink;
//! - a hard link's target is checked the same way: relative (or absolute with
//!   `absolute-names`), no `..`, parents not symlinks, and it must exist as a non-symlink,
//!   non-directory; `linkat` is called without `AT_SYMLINK_FOLLOW`.
//!
//! What is restored: contents with holes (data is written with `pwrite` at its offset, holes
//! are skipped and the file is cut to its size at the end, so holes stay holes; absent ranges
//! likewise), permission bits including setuid/setgid/sticky (chmod after chown, since chown
//! clears them), mtime and atime with ns (`utimensat`, not following symlinks), hard links,
//! symlinks, fifos, devices (only as root: `mknod`), xattrs, POSIX ACLs (back to
//! `system.posix_acl_*`), and owners when running as root or with `same-owner` (numeric ids;
//! `no-same-owner` turns it off). Sockets cannot be restored meaningfully and are skipped with
//! a warning. Failures to set a piece of metadata are warnings; failures to create an entry
//! skip it with a warning; failures writing file data (a full disk) are errors that stop the
//! run.
//!
//! Directories are created at once (mode 0700, so their contents can be written) and their
//! final owner, ACLs, mode and times are applied in [`FsWriter::finish`], deepest first, so
//! read-only directories and directory mtimes come out right. That list is the only state
//! that grows with the archive: one small record per directory.

use std::collections::BTreeSet;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;

use relic_model::listing::escape;
use relic_model::{
    Acl, Capabilities, Entry, EntryKind, Error, ErrorKind, FormatWriter, KindSet, Result,
    Timestamp, VolumeInfo, WriteSummary, Xattr,
};
use relic_plugin_sdk::HostHandle;
use xattr::FileExt as _;

use crate::read::ACL_XATTRS;
use crate::sys;

/// Options of the sink.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteConfig {
    /// Extract absolute names where they say instead of refusing them.
    pub absolute_names: bool,
    /// Restore owners (root, or `same-owner`).
    pub owners: bool,
    /// Create device nodes (only root can).
    pub devices: bool,
}

/// Why an entry was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Skip {
    /// Unsafe or impossible by the rules: `refusing 'PATH': REASON`.
    Refused(String),
    /// The system said no: `cannot create 'PATH': REASON`.
    Failed(String),
}

/// An entry path split into checked components.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    absolute: bool,
    comps: Vec<Vec<u8>>,
}

/// Check an archive path against the rules (module docs) and split it.
fn parse_path(raw: &[u8], allow_absolute: bool) -> std::result::Result<Parsed, String> {
    if raw.contains(&0) {
        return Err("path contains a NUL byte".into());
    }
    let absolute = raw.first() == Some(&b'/');
    if absolute && !allow_absolute {
        return Err("absolute path (the absolute-names option allows it)".into());
    }
    let mut comps = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains '..'".into()),
            c => comps.push(c.to_vec()),
        }
    }
    Ok(Parsed { absolute, comps })
}

/// `a/b/c` for messages, with `/` in front of absolute paths.
fn join_shown(absolute: bool, comps: &[Vec<u8>]) -> String {
    let joined = comps.join(&b'/');
    if absolute {
        format!("/{}", escape(&joined))
    } else {
        escape(&joined)
    }
}

/// Deferred metadata of a directory, applied at the end.
struct DirFix {
    absolute: bool,
    comps: Vec<Vec<u8>>,
    mode: u32,
    uid: u64,
    gid: u64,
    atime: Option<Timestamp>,
    mtime: Option<Timestamp>,
    acls: Vec<Acl>,
}

/// The file being written.
struct FileOut {
    file: File,
    entry: Entry,
    warned_beyond: bool,
}

enum Current {
    None,
    /// The entry was refused or failed: its data is dropped.
    Skip,
    File(Box<FileOut>),
}

#[derive(Debug, Default)]
struct Counts {
    entries: u64,
    bytes: u64,
    refused: u64,
    failed: u64,
    skipped: u64,
    metadata_warnings: u64,
}

/// The extractor (see the module docs).
pub struct FsWriter {
    target: Vec<u8>,
    cfg: WriteConfig,
    host: HostHandle,
    /// The target directory, opened at the start.
    root: Option<OwnedFd>,
    /// `/`, for absolute names.
    slash: Option<OwnedFd>,
    /// The last parent directory resolved: (absolute, components, descriptor). Valid until
    /// another parent is resolved: an entry only changes names inside its own parent, never
    /// the parent itself or any of its ancestors.
    parent_cache: Option<(bool, Vec<Vec<u8>>, OwnedFd)>,
    current: Current,
    dirs: Vec<DirFix>,
    acl_kinds_warned: BTreeSet<String>,
    counts: Counts,
}

impl FsWriter {
    /// A writer extracting into the directory `target` (raw path bytes); nothing is touched
    /// before the first call.
    pub fn new(target: &[u8], cfg: WriteConfig, host: HostHandle) -> FsWriter {
        FsWriter {
            target: target.to_vec(),
            cfg,
            host,
            root: None,
            slash: None,
            parent_cache: None,
            current: Current::None,
            dirs: Vec::new(),
            acl_kinds_warned: BTreeSet::new(),
            counts: Counts::default(),
        }
    }

    fn ensure_open(&mut self) -> Result<()> {
        if self.root.is_some() {
            return Ok(());
        }
        let shown = escape(&self.target);
        let path = std::path::Path::new(OsStr::from_bytes(&self.target));
        std::fs::create_dir_all(path).map_err(|e| {
            Error::io(format!("cannot create target directory {shown}"), &e).in_file(shown.clone())
        })?;
        let root = sys::open_dir_path(&self.target).map_err(|e| {
            Error::io(format!("cannot open target directory {shown}"), &e).in_file(shown.clone())
        })?;
        self.root = Some(root);
        if self.cfg.absolute_names {
            let slash = sys::open_dir_path(b"/").map_err(|e| Error::io("cannot open /", &e))?;
            self.slash = Some(slash);
        }
        Ok(())
    }

    fn base(&self, absolute: bool) -> Result<RawFd> {
        let fd = if absolute {
            self.slash.as_ref()
        } else {
            self.root.as_ref()
        };
        fd.map(|f| f.as_raw_fd())
            .ok_or_else(|| Error::internal("fs writer used before its target was opened"))
    }

    fn warn(&self, msg: &str) {
        self.host.warn(msg, None);
    }

    fn meta_warn(&mut self, msg: &str) {
        self.counts.metadata_warnings += 1;
        self.host.warn(msg, None);
    }

    fn report(&mut self, shown: &str, skip: Skip) {
        match skip {
            Skip::Refused(reason) => {
                self.counts.refused += 1;
                self.warn(&format!("refusing '{shown}': {reason}"));
            }
            Skip::Failed(reason) => {
                self.counts.failed += 1;
                self.warn(&format!("cannot create '{shown}': {reason}"));
            }
        }
    }

    /// Walk `comps` from `base` one directory at a time, never through a symlink; create
    /// missing directories when `create`. Returns the last directory opened.
    fn walk(
        &self,
        absolute: bool,
        comps: &[Vec<u8>],
        create: bool,
    ) -> std::result::Result<OwnedFd, Skip> {
        let base = self.base(absolute).map_err(|e| Skip::Failed(e.message))?;
        let mut cur: Option<OwnedFd> = None;
        for (i, comp) in comps.iter().enumerate() {
            let shown = join_shown(absolute, &comps[..=i]);
            let dirfd = cur.as_ref().map(|f| f.as_raw_fd()).unwrap_or(base);
            let c = sys::cstring(comp)
                .ok_or_else(|| Skip::Refused("path contains a NUL byte".into()))?;
            match sys::lstat_at(dirfd, &c) {
                Ok(st) if sys::is_symlink(&st) => {
                    return Err(Skip::Refused(format!("parent '{shown}' is a symlink")))
                }
                Ok(st) if !sys::is_dir(&st) => {
                    return Err(Skip::Refused(format!(
                        "parent '{shown}' is not a directory"
                    )))
                }
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) && create => {
                    match sys::mkdir_at(dirfd, &c, 0o755) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(e) => {
                            return Err(Skip::Failed(format!(
                                "cannot create parent directory '{shown}': {e}"
                            )))
                        }
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    return Err(Skip::Refused(format!("parent '{shown}' does not exist")))
                }
                Err(e) => {
                    return Err(Skip::Failed(format!(
                        "cannot examine parent '{shown}': {e}"
                    )))
                }
            }
            let fd = sys::open_dir_at(dirfd, &c).map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
                    Skip::Refused(format!("parent '{shown}' is a symlink or not a directory"))
                }
                _ => Skip::Failed(format!("cannot open parent directory '{shown}': {e}")),
            })?;
            cur = Some(fd);
        }
        match cur {
            Some(fd) => Ok(fd),
            None => {
                let fd = if absolute {
                    self.slash.as_ref()
                } else {
                    self.root.as_ref()
                };
                fd.ok_or_else(|| Skip::Failed("target not open".into()))?
                    .try_clone()
                    .map_err(|e| Skip::Failed(format!("cannot duplicate a descriptor: {e}")))
            }
        }
    }

    /// The parent directory of an entry, from the cache or by [`Self::walk`] (creating it).
    fn parent_fd(&mut self, absolute: bool, comps: &[Vec<u8>]) -> std::result::Result<RawFd, Skip> {
        if comps.is_empty() {
            return self.base(absolute).map_err(|e| Skip::Failed(e.message));
        }
        if let Some((a, c, fd)) = &self.parent_cache {
            if *a == absolute && c.as_slice() == comps {
                return Ok(fd.as_raw_fd());
            }
        }
        self.parent_cache = None;
        let fd = self.walk(absolute, comps, true)?;
        let raw = fd.as_raw_fd();
        self.parent_cache = Some((absolute, comps.to_vec(), fd));
        Ok(raw)
    }

    /// Make room for a new object called `name` in `dir`. Returns true when an existing
    /// directory was kept (only with `keep_dir`).
    fn clear_name(dir: RawFd, name: &CString, keep_dir: bool) -> std::result::Result<bool, Skip> {
        match sys::lstat_at(dir, name) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(Skip::Failed(format!(
                "cannot examine the existing object: {e}"
            ))),
            Ok(st) if sys::is_dir(&st) => {
                if keep_dir {
                    return Ok(true);
                }
                sys::unlink_at(dir, name, true).map(|_| false).map_err(|e| {
                    Skip::Failed(format!("cannot replace the existing directory: {e}"))
                })
            }
            Ok(_) => sys::unlink_at(dir, name, false)
                .map(|_| false)
                .map_err(|e| Skip::Failed(format!("cannot replace the existing object: {e}"))),
        }
    }

    fn start_entry(&mut self, entry: &Entry) -> std::result::Result<Current, Skip> {
        let parsed = parse_path(&entry.path, self.cfg.absolute_names).map_err(Skip::Refused)?;
        let Some((name, parents)) = parsed.comps.split_last() else {
            // the target directory itself
            if entry.kind != EntryKind::Dir {
                return Err(Skip::Refused(format!(
                    "a {} cannot replace the target directory",
                    entry.kind.name()
                )));
            }
            if parsed.absolute {
                self.host.log(
                    relic_model::LogLevel::Info,
                    "leaving the metadata of '/' as it is",
                );
            } else {
                self.dirs.push(dir_fix(entry, false, Vec::new()));
            }
            return Ok(Current::None);
        };
        let name_c =
            sys::cstring(name).ok_or_else(|| Skip::Refused("path contains a NUL byte".into()))?;
        if entry.kind == EntryKind::HardLink {
            // refuse a bad target before creating any parent directory for the link
            let raw = entry.link_target.as_deref().unwrap_or_default();
            parse_path(raw, self.cfg.absolute_names)
                .map_err(|r| Skip::Refused(format!("hard link target '{}': {r}", escape(raw))))?;
        }
        let parent = self.parent_fd(parsed.absolute, parents)?;
        let shown = escape(&entry.path);
        match entry.kind {
            EntryKind::Dir => {
                let existed = Self::clear_name(parent, &name_c, true)?;
                if !existed {
                    sys::mkdir_at(parent, &name_c, 0o700)
                        .map_err(|e| Skip::Failed(e.to_string()))?;
                }
                if !entry.xattrs.is_empty() {
                    match sys::open_dir_at(parent, &name_c) {
                        Ok(fd) => self.set_xattrs_file(&File::from(fd), &shown, &entry.xattrs),
                        Err(e) => self.meta_warn(&format!(
                            "cannot set extended attributes on '{shown}': {e}"
                        )),
                    }
                }
                self.dirs
                    .push(dir_fix(entry, parsed.absolute, parsed.comps.clone()));
                Ok(Current::None)
            }
            EntryKind::File => {
                Self::clear_name(parent, &name_c, false)?;
                let fd = sys::open_at(
                    parent,
                    &name_c,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                    0o600,
                )
                .map_err(|e| Skip::Failed(e.to_string()))?;
                let mut meta = entry.clone();
                meta.extras.clear();
                Ok(Current::File(Box::new(FileOut {
                    file: File::from(fd),
                    entry: meta,
                    warned_beyond: false,
                })))
            }
            EntryKind::Symlink => {
                let target = entry.link_target.as_deref().unwrap_or_default();
                if target.is_empty() {
                    return Err(Skip::Refused("symlink without a target".into()));
                }
                let target_c = sys::cstring(target)
                    .ok_or_else(|| Skip::Refused("symlink target contains a NUL byte".into()))?;
                Self::clear_name(parent, &name_c, false)?;
                sys::symlink_at(&target_c, parent, &name_c)
                    .map_err(|e| Skip::Failed(e.to_string()))?;
                self.finish_at(parent, name, &name_c, entry, false);
                Ok(Current::None)
            }
            EntryKind::HardLink => {
                self.make_hard_link(parent, &name_c, entry)?;
                Ok(Current::None)
            }
            EntryKind::Fifo => {
                Self::clear_name(parent, &name_c, false)?;
                sys::mkfifo_at(parent, &name_c, 0o600).map_err(|e| Skip::Failed(e.to_string()))?;
                self.finish_at(parent, name, &name_c, entry, true);
                Ok(Current::None)
            }
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                if !self.cfg.devices {
                    return Err(Skip::Failed(
                        "devices can only be created by root; skipped".into(),
                    ));
                }
                let Some(dev) = entry.rdev else {
                    return Err(Skip::Refused("device without device numbers".into()));
                };
                Self::clear_name(parent, &name_c, false)?;
                let block = entry.kind == EntryKind::BlockDevice;
                sys::mknod_at(parent, &name_c, block, 0o600, dev.major, dev.minor)
                    .map_err(|e| Skip::Failed(e.to_string()))?;
                self.finish_at(parent, name, &name_c, entry, true);
                Ok(Current::None)
            }
            EntryKind::Socket => Err(Skip::Failed(
                "sockets cannot be restored meaningfully; skipped".into(),
            )),
        }
    }

    fn make_hard_link(
        &mut self,
        parent: RawFd,
        name_c: &CString,
        entry: &Entry,
    ) -> std::result::Result<(), Skip> {
        let raw = entry.link_target.as_deref().unwrap_or_default();
        let shown_t = escape(raw);
        let t = parse_path(raw, self.cfg.absolute_names)
            .map_err(|r| Skip::Refused(format!("hard link target '{shown_t}': {r}")))?;
        let Some((tname, tparents)) = t.comps.split_last() else {
            return Err(Skip::Refused(format!(
                "hard link target '{shown_t}' is not a file"
            )));
        };
        let tdir = self
            .walk(t.absolute, tparents, false)
            .map_err(|s| match s {
                Skip::Refused(r) => Skip::Refused(format!("hard link target '{shown_t}': {r}")),
                Skip::Failed(r) => Skip::Failed(format!("hard link target '{shown_t}': {r}")),
            })?;
        let tname_c = sys::cstring(tname)
            .ok_or_else(|| Skip::Refused("hard link target contains a NUL byte".into()))?;
        let tst = match sys::lstat_at(tdir.as_raw_fd(), &tname_c) {
            Ok(st) if sys::is_symlink(&st) => {
                return Err(Skip::Refused(format!(
                    "hard link target '{shown_t}' is a symlink"
                )))
            }
            Ok(st) if sys::is_dir(&st) => {
                return Err(Skip::Refused(format!(
                    "hard link target '{shown_t}' is a directory"
                )))
            }
            Ok(st) => st,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(Skip::Refused(format!(
                    "hard link target '{shown_t}' does not exist"
                )))
            }
            Err(e) => return Err(Skip::Failed(format!("hard link target '{shown_t}': {e}"))),
        };
        if let Ok(st) = sys::lstat_at(parent, name_c) {
            if st.st_dev == tst.st_dev && st.st_ino == tst.st_ino {
                return Ok(()); // already that very file (the link names itself, or a re-run)
            }
        }
        Self::clear_name(parent, name_c, false)?;
        sys::link_at(tdir.as_raw_fd(), &tname_c, parent, name_c)
            .map_err(|e| Skip::Failed(format!("cannot link to '{shown_t}': {e}")))
    }

    /// Owner, xattrs, mode and times of a non-file object just created as `name` in `dir`
    /// (symlinks get no mode: Linux has none to set).
    fn finish_at(&mut self, dir: RawFd, name: &[u8], name_c: &CString, entry: &Entry, chmod: bool) {
        let shown = escape(&entry.path);
        if self.cfg.owners {
            if let Some((uid, gid)) = self.ids(entry) {
                if let Err(e) = sys::lchown_at(dir, name_c, uid, gid) {
                    self.meta_warn(&format!(
                        "cannot set owner of '{shown}' to {uid}:{gid}: {e}"
                    ));
                }
            }
        }
        if !entry.xattrs.is_empty() || !entry.acls.is_empty() {
            match sys::fd_relative_path(&Fd(dir), name) {
                Some(path) => {
                    for x in &entry.xattrs {
                        if let Err(e) = xattr::set(&path, OsStr::from_bytes(&x.name), &x.value) {
                            self.meta_warn(&format!(
                                "cannot set extended attribute '{}' on '{shown}': {e}",
                                escape(&x.name)
                            ));
                        }
                    }
                    for (xname, value) in self.acl_xattrs(entry) {
                        if let Err(e) = xattr::set(&path, xname, &value) {
                            self.meta_warn(&format!("cannot set ACL '{xname}' on '{shown}': {e}"));
                        }
                    }
                }
                None => self.meta_warn(&format!(
                    "cannot set extended attributes on '{shown}': /proc is not mounted"
                )),
            }
        }
        if chmod {
            if let Err(e) = sys::chmod_at(dir, name_c, entry.mode & 0o7777) {
                self.meta_warn(&format!("cannot set mode of '{shown}': {e}"));
            }
        }
        if entry.atime.is_some() || entry.mtime.is_some() {
            if let Err(e) = sys::set_times_at(dir, name_c, entry.atime, entry.mtime) {
                self.meta_warn(&format!("cannot set times of '{shown}': {e}"));
            }
        }
    }

    /// Owner, xattrs, ACLs, mode and times of an open file or directory, in that order:
    /// chown clears setuid/setgid, and the times go last because everything else may touch
    /// them.
    fn finish_fd(&mut self, file: &File, shown: &str, m: &MetaToApply<'_>) {
        if self.cfg.owners {
            if let Some((uid, gid)) = self.ids_of(m.uid, m.gid) {
                if let Err(e) = sys::fchown(file.as_raw_fd(), uid, gid) {
                    self.meta_warn(&format!(
                        "cannot set owner of '{shown}' to {uid}:{gid}: {e}"
                    ));
                }
            }
        }
        self.set_xattrs_file(file, shown, m.xattrs);
        for (xname, value) in self.acl_xattrs_of(shown, m.acls) {
            if let Err(e) = file.set_xattr(xname, &value) {
                self.meta_warn(&format!("cannot set ACL '{xname}' on '{shown}': {e}"));
            }
        }
        if let Err(e) = sys::fchmod(file.as_raw_fd(), m.mode & 0o7777) {
            self.meta_warn(&format!("cannot set mode of '{shown}': {e}"));
        }
        if m.atime.is_some() || m.mtime.is_some() {
            if let Err(e) = sys::set_times_fd(file.as_raw_fd(), m.atime, m.mtime) {
                self.meta_warn(&format!("cannot set times of '{shown}': {e}"));
            }
        }
    }

    fn set_xattrs_file(&mut self, file: &File, shown: &str, xattrs: &[Xattr]) {
        for x in xattrs {
            if let Err(e) = file.set_xattr(OsStr::from_bytes(&x.name), &x.value) {
                self.meta_warn(&format!(
                    "cannot set extended attribute '{}' on '{shown}': {e}",
                    escape(&x.name)
                ));
            }
        }
    }

    fn acl_xattrs(&mut self, entry: &Entry) -> Vec<(&'static str, Vec<u8>)> {
        let shown = escape(&entry.path);
        self.acl_xattrs_of(&shown, &entry.acls)
    }

    /// The xattrs that restore `acls`; kinds Linux cannot hold are reported once per kind.
    fn acl_xattrs_of(&mut self, shown: &str, acls: &[Acl]) -> Vec<(&'static str, Vec<u8>)> {
        let mut out = Vec::new();
        for a in acls {
            match ACL_XATTRS.iter().find(|(_, kind)| *kind == a.kind) {
                Some((xname, _)) => out.push((*xname, a.data.clone())),
                None => {
                    if self.acl_kinds_warned.insert(a.kind.clone()) {
                        self.meta_warn(&format!(
                            "ACLs of kind '{}' cannot be restored on Linux; left out (first on '{shown}')",
                            a.kind
                        ));
                    }
                }
            }
        }
        out
    }

    fn ids(&mut self, entry: &Entry) -> Option<(u32, u32)> {
        self.ids_of(entry.uid, entry.gid)
    }

    /// Owner ids as `chown` takes them; `u32::MAX` means "leave as is" there, so it and
    /// anything larger is reported instead of passed on.
    fn ids_of(&mut self, uid: u64, gid: u64) -> Option<(u32, u32)> {
        match (u32::try_from(uid), u32::try_from(gid)) {
            (Ok(u), Ok(g)) if u != u32::MAX && g != u32::MAX => Some((u, g)),
            _ => {
                self.meta_warn(&format!(
                    "owner {uid}:{gid} does not fit this system; owner not set"
                ));
                None
            }
        }
    }

    fn end_file(&mut self, out: Box<FileOut>) -> Result<()> {
        let FileOut { file, entry, .. } = *out;
        let shown = escape(&entry.path);
        file.set_len(entry.size).map_err(|e| {
            Error::io(format!("cannot set the size of '{shown}'"), &e).entry(&entry.path)
        })?;
        self.finish_fd(&file, &shown, &MetaToApply::of(&entry));
        self.counts.entries += 1;
        Ok(())
    }

    /// Apply the deferred directory metadata, deepest first.
    fn finish_dirs(&mut self) {
        let mut dirs = std::mem::take(&mut self.dirs);
        // stable: of two entries for one directory, the later one is applied last and wins
        dirs.sort_by_key(|d| std::cmp::Reverse(d.comps.len()));
        self.parent_cache = None;
        for d in &dirs {
            let shown = if d.comps.is_empty() {
                ".".to_string()
            } else {
                join_shown(d.absolute, &d.comps)
            };
            let fd = match d.comps.split_last() {
                None => self.walk(false, &[], false),
                Some((name, parents)) => self.walk(d.absolute, parents, false).and_then(|p| {
                    let c = sys::cstring(name).ok_or_else(|| Skip::Refused("NUL byte".into()))?;
                    sys::open_dir_at(p.as_raw_fd(), &c).map_err(|e| Skip::Failed(e.to_string()))
                }),
            };
            match fd {
                Ok(fd) => {
                    let m = MetaToApply {
                        mode: d.mode,
                        uid: d.uid,
                        gid: d.gid,
                        atime: d.atime,
                        mtime: d.mtime,
                        xattrs: &[],
                        acls: &d.acls,
                    };
                    self.finish_fd(&File::from(fd), &shown, &m);
                }
                Err(Skip::Refused(r) | Skip::Failed(r)) => self.meta_warn(&format!(
                    "cannot set the metadata of directory '{shown}': {r}"
                )),
            }
        }
    }
}

/// A raw descriptor borrowed for [`sys::fd_relative_path`].
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The metadata [`FsWriter::finish_fd`] applies.
struct MetaToApply<'a> {
    mode: u32,
    uid: u64,
    gid: u64,
    atime: Option<Timestamp>,
    mtime: Option<Timestamp>,
    xattrs: &'a [Xattr],
    acls: &'a [Acl],
}

impl<'a> MetaToApply<'a> {
    fn of(e: &'a Entry) -> MetaToApply<'a> {
        MetaToApply {
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            atime: e.atime,
            mtime: e.mtime,
            xattrs: &e.xattrs,
            acls: &e.acls,
        }
    }
}

fn dir_fix(e: &Entry, absolute: bool, comps: Vec<Vec<u8>>) -> DirFix {
    DirFix {
        absolute,
        comps,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        atime: e.atime,
        mtime: e.mtime,
        acls: e.acls.clone(),
    }
}

impl FormatWriter for FsWriter {
    /// Everything the model says, except sockets (not restorable), birth and change times
    /// (Linux cannot set them), names over 255 bytes, owner id `u32::MAX` (chown's "no
    /// change"), and device numbers beyond Linux's 12-bit major and 20-bit minor.
    fn capabilities(&self) -> Capabilities {
        let kinds: Vec<EntryKind> = EntryKind::ALL
            .into_iter()
            .filter(|k| *k != EntryKind::Socket)
            .collect();
        Capabilities {
            kinds: KindSet::of(&kinds),
            birth: false,
            ctime: false,
            max_name: Some(255),
            uid_max: Some(u32::MAX as u64 - 1),
            gid_max: Some(u32::MAX as u64 - 1),
            rdev_major_max: Some(0xfff),
            rdev_minor_max: Some(0xf_ffff),
            ..Capabilities::unlimited()
        }
    }

    fn begin_archive(&mut self, _volume: &VolumeInfo) -> Result<()> {
        self.ensure_open()
    }

    fn begin_entry(&mut self, entry: &Entry) -> Result<()> {
        self.ensure_open()?;
        if self.host.cancelled() {
            return Err(Error::new(
                ErrorKind::Cancelled,
                "cancelled during extraction",
            ));
        }
        // an entry left open by a caller that skipped end_entry is closed properly first
        if let Current::File(out) = std::mem::replace(&mut self.current, Current::None) {
            self.end_file(out)?;
        }
        let shown = escape(&entry.path);
        match self.start_entry(entry) {
            Ok(cur) => {
                if !matches!(cur, Current::File(_)) {
                    self.counts.entries += 1;
                }
                self.current = cur;
            }
            Err(skip) => {
                if entry.kind == EntryKind::Socket
                    || (!self.cfg.devices
                        && matches!(entry.kind, EntryKind::CharDevice | EntryKind::BlockDevice))
                {
                    self.counts.skipped += 1;
                    self.warn(&format!(
                        "skipping '{shown}': {}",
                        match &skip {
                            Skip::Refused(r) | Skip::Failed(r) => r,
                        }
                    ));
                } else {
                    self.report(&shown, skip);
                }
                self.current = Current::Skip;
            }
        }
        Ok(())
    }

    fn write_data(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let Current::File(out) = &mut self.current else {
            return Ok(());
        };
        let size = out.entry.size;
        let keep = if offset >= size {
            0
        } else {
            (size - offset).min(data.len() as u64) as usize
        };
        if keep < data.len() && !out.warned_beyond {
            out.warned_beyond = true;
            let msg = format!(
                "'{}': data beyond the announced size {size} dropped (chunk at {offset}, {} bytes)",
                escape(&out.entry.path),
                data.len()
            );
            self.host.warn(&msg, None);
        }
        if keep == 0 {
            return Ok(());
        }
        out.file.write_all_at(&data[..keep], offset).map_err(|e| {
            Error::io(
                format!(
                    "cannot write '{}' at byte {offset}",
                    escape(&out.entry.path)
                ),
                &e,
            )
            .entry(&out.entry.path)
        })?;
        self.counts.bytes += keep as u64;
        Ok(())
    }

    fn write_hole(&mut self, _offset: u64, _len: u64) -> Result<()> {
        // Nothing to write: the range stays unallocated and end_entry sets the final size.
        Ok(())
    }

    fn end_entry(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::File(out) => self.end_file(out),
            _ => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<WriteSummary> {
        self.ensure_open()?;
        if let Current::File(out) = std::mem::replace(&mut self.current, Current::None) {
            self.end_file(out)?;
        }
        let ndirs = self.dirs.len();
        self.finish_dirs();
        let c = &self.counts;
        let mut notes = vec![format!(
            "{} entries extracted, {ndirs} directories finished",
            c.entries
        )];
        if c.refused > 0 {
            notes.push(format!(
                "{} entries refused (unsafe or impossible paths)",
                c.refused
            ));
        }
        if c.failed > 0 {
            notes.push(format!("{} entries could not be created", c.failed));
        }
        if c.skipped > 0 {
            notes.push(format!("{} sockets or devices skipped", c.skipped));
        }
        if c.metadata_warnings > 0 {
            notes.push(format!(
                "{} metadata items could not be set",
                c.metadata_warnings
            ));
        }
        Ok(WriteSummary {
            entries: c.entries,
            bytes: c.bytes,
            volumes: 1,
            notes,
        })
    }
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        // A writer dropped without finish() (an aborted run) still gets its directories
        // their modes and times where it can; errors were already reported per entry.
        if !self.dirs.is_empty() && self.root.is_some() {
            self.finish_dirs();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        assert_eq!(
            parse_path(b"a//./b/", false),
            Ok(Parsed {
                absolute: false,
                comps: vec![b"a".to_vec(), b"b".to_vec()]
            })
        );
        assert_eq!(
            parse_path(b"../x", false),
            Err("path contains '..'".to_string())
        );
        assert_eq!(
            parse_path(b"a/../../x", true),
            Err("path contains '..'".to_string())
        );
        assert!(parse_path(b"/etc/x", false).is_err());
        assert_eq!(parse_path(b"/etc/x", true).map(|p| p.absolute), Ok(true));
        assert!(parse_path(b"a\0b", false).is_err());
        assert_eq!(parse_path(b".", false).map(|p| p.comps.len()), Ok(0));
        assert_eq!(parse_path(b"a/..b", false).map(|p| p.comps.len()), Ok(2));
    }
}
