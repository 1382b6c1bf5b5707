//! Shared helpers: a host that records warnings, a builder for a tree with every kind of
//! object the source must handle, and an independent tree snapshot for comparisons.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use relic_format_fs::FsPlugin;
use relic_model::{FormatReader, FormatWriter, Host, LogLevel};
use relic_plugin_sdk::{HostHandle, Options, Plugin, Stream};

/// A host that keeps every warning.
#[derive(Default)]
pub struct RecordingHost {
    pub warnings: Mutex<Vec<String>>,
}

impl Host for RecordingHost {
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn warn(&self, message: &str, _offset: Option<u64>) {
        self.warnings
            .lock()
            .expect("lock not poisoned")
            .push(message.to_string());
    }
    fn cancelled(&self) -> bool {
        false
    }
    fn event(&self, _kind: u32, _payload: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

impl RecordingHost {
    pub fn new() -> Arc<RecordingHost> {
        Arc::new(RecordingHost::default())
    }
    pub fn all(&self) -> Vec<String> {
        self.warnings.lock().expect("lock not poisoned").clone()
    }
    /// Whether some warning contains every one of `parts`.
    pub fn has(&self, parts: &[&str]) -> bool {
        self.all()
            .iter()
            .any(|w| parts.iter().all(|p| w.contains(p)))
    }
}

pub fn handle(h: &Arc<RecordingHost>) -> HostHandle {
    h.clone()
}

pub fn open_reader(dir: &Path, opts: &Options, host: &Arc<RecordingHost>) -> Box<dyn FormatReader> {
    let s = Stream {
        location: dir.as_os_str().as_bytes().to_vec(),
        medium: None,
    };
    FsPlugin::open_reader("fs", s, opts, handle(host)).expect("open reader")
}

pub fn open_writer(dir: &Path, opts: &Options, host: &Arc<RecordingHost>) -> Box<dyn FormatWriter> {
    let s = Stream {
        location: dir.as_os_str().as_bytes().to_vec(),
        medium: None,
    };
    FsPlugin::open_writer("fs", s, opts, handle(host)).expect("open writer")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("test paths have no NUL")
}

/// Set atime and mtime (ns) without following a symlink.
pub fn set_times(p: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    let ts = [
        libc::timespec {
            tv_sec: atime.0,
            tv_nsec: atime.1,
        },
        libc::timespec {
            tv_sec: mtime.0,
            tv_nsec: mtime.1,
        },
    ];
    let c = cpath(p);
    // SAFETY: c is NUL-terminated and ts holds two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            ts.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(
        r,
        0,
        "utimensat {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

pub fn mkfifo(p: &Path, mode: u32) {
    let c = cpath(p);
    // SAFETY: c is NUL-terminated.
    let r = unsafe { libc::mkfifo(c.as_ptr(), mode) };
    assert_eq!(r, 0, "mkfifo: {}", std::io::Error::last_os_error());
}

/// Try to make a character device; false when this process may not (no CAP_MKNOD).
pub fn try_mknod_char(p: &Path, major: u32, minor: u32) -> bool {
    let c = cpath(p);
    // SAFETY: c is NUL-terminated.
    unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFCHR | 0o640,
            libc::makedev(major, minor),
        ) == 0
    }
}

pub fn lchown(p: &Path, uid: u32, gid: u32) {
    let c = cpath(p);
    // SAFETY: c is NUL-terminated.
    let r = unsafe { libc::lchown(c.as_ptr(), uid, gid) };
    assert_eq!(r, 0, "lchown: {}", std::io::Error::last_os_error());
}

pub fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Whether `user.*` xattrs work in `dir`.
pub fn user_xattrs_supported(dir: &Path) -> bool {
    let p = dir.join(".xattr-probe");
    File::create(&p).expect("create probe");
    let ok = xattr::set(&p, "user.probe", b"1").is_ok();
    fs::remove_file(&p).expect("remove probe");
    ok
}

/// A POSIX access ACL in the kernel's xattr form (`posix_acl_xattr_header` version 2, then
/// `{u16 tag, u16 perm, u32 id}` entries in tag order; see linux/posix_acl_xattr.h):
/// user::rw-, user:1000:r--, group::r--, mask::r--, other::---.
pub fn sample_access_acl() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 6u16, u32::MAX),
        (0x02, 4, 1000),
        (0x04, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}

/// A default ACL: user::rwx, group::r-x, other::r-x.
pub fn sample_default_acl() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm) in [(0x01u16, 7u16), (0x04, 5), (0x20, 5)] {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&u32::MAX.to_le_bytes());
    }
    v
}

pub const MIB: u64 = 1024 * 1024;
pub const NON_UTF8: &[u8] = b"caf\xe9-latin1";

/// What the tree built by [`build_tree`] holds beyond the basics.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub user_xattrs: bool,
    pub acls: bool,
    pub device: bool,
    pub owners: bool,
}

pub fn long_name() -> Vec<u8> {
    let mut p = vec![b'L'; 120];
    p.push(b'/');
    p.extend(vec![b'M'; 120]);
    p.extend_from_slice(b".txt");
    p
}

pub fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// Build a tree with files, nested and special-mode directories, symlinks, a three-name hard
/// link, a fifo, a sparse file, a socket, non-UTF-8 and long names, xattrs and ACLs where the
/// file system takes them, a device and foreign owners where this process may make them,
/// and distinct ns times on everything.
pub fn build_tree(root: &Path) -> (Features, std::os::unix::net::UnixListener) {
    fs::create_dir_all(root).expect("root");
    let p = |s: &str| root.join(s);
    fs::write(p("a.txt"), b"hello\n").expect("write");
    fs::write(p("empty"), b"").expect("write");
    fs::create_dir_all(p("bin")).expect("mkdir");
    fs::write(p("bin/suid"), b"#!/bin/sh\n").expect("write");
    chmod(&p("bin/suid"), 0o4755);
    fs::write(p("bin/sgid"), b"sgid").expect("write");
    chmod(&p("bin/sgid"), 0o2750);
    fs::create_dir_all(p("sticky")).expect("mkdir");
    chmod(&p("sticky"), 0o1777);
    fs::create_dir_all(p("nested/deep/er")).expect("mkdir");
    fs::write(p("nested/deep/er/file.bin"), pseudo_random(100_000, 7)).expect("write");
    std::os::unix::fs::symlink("a.txt", p("link-rel")).expect("symlink");
    std::os::unix::fs::symlink("does/not/exist", p("link-dangling")).expect("symlink");
    fs::create_dir_all(p("hard")).expect("mkdir");
    fs::create_dir_all(p("other")).expect("mkdir");
    fs::write(p("hard/one"), b"three names, one inode").expect("write");
    fs::hard_link(p("hard/one"), p("hard/two")).expect("link");
    fs::hard_link(p("hard/one"), p("other/three")).expect("link");
    mkfifo(&p("fifo"), 0o640);
    chmod(&p("fifo"), 0o640);
    {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(p("sparse.img"))
            .expect("sparse");
        f.set_len(8 * MIB).expect("set_len");
        use std::os::unix::fs::FileExt;
        f.write_all_at(b"middle", 3 * MIB).expect("write");
        f.write_all_at(b"end", 8 * MIB - 3).expect("write");
        f.flush().expect("flush");
        f.sync_all().expect("sync");
    }
    fs::write(root.join(OsStr::from_bytes(NON_UTF8)), b"latin-1 name").expect("write");
    let long = root.join(OsStr::from_bytes(&long_name()));
    fs::create_dir_all(long.parent().expect("has parent")).expect("mkdir");
    fs::write(&long, b"long").expect("write");
    fs::create_dir_all(p("ro")).expect("mkdir");
    fs::write(p("ro/inside.txt"), b"in a read-only dir").expect("write");

    let user_xattrs = user_xattrs_supported(root);
    if user_xattrs {
        fs::write(p("xattr.txt"), b"with attributes").expect("write");
        xattr::set(p("xattr.txt"), "user.relic", b"v\x00\xffalue").expect("set xattr");
        xattr::set(p("nested"), "user.dir", b"on a dir").expect("set xattr");
    } else {
        println!(
            "note: user xattrs not supported in {}; xattr assertions skipped",
            root.display()
        );
    }
    fs::write(p("acl.txt"), b"with an ACL").expect("write");
    chmod(&p("acl.txt"), 0o640);
    fs::create_dir_all(p("acl-dir")).expect("mkdir");
    let acls = xattr::set(
        p("acl.txt"),
        "system.posix_acl_access",
        &sample_access_acl(),
    )
    .is_ok()
        && xattr::set(
            p("acl-dir"),
            "system.posix_acl_default",
            &sample_default_acl(),
        )
        .is_ok();
    if !acls {
        println!("note: POSIX ACLs not supported here; ACL assertions skipped");
    }
    let device = is_root() && try_mknod_char(&p("null-dev"), 1, 3);
    if !device {
        println!("note: cannot create device nodes here (not root or no CAP_MKNOD); device assertions skipped");
    }
    let owners = is_root();
    if owners {
        fs::write(p("owned.txt"), b"foreign owner").expect("write");
        lchown(&p("owned.txt"), 1234, 5678);
        chmod(&p("owned.txt"), 0o4710);
        lchown(&p("link-rel"), 4321, 8765);
    } else {
        println!("note: not root; foreign-owner assertions skipped");
    }
    let sock = std::os::unix::net::UnixListener::bind(p("sock")).expect("bind socket");

    // Distinct ns times on everything, deepest first so directory times stick; then the
    // read-only directory's mode (last, so the test could still write into it).
    let mut all = walk_paths(root);
    all.sort_by_key(|rel| {
        std::cmp::Reverse(rel.iter().filter(|&&b| b == b'/').count() + usize::from(rel != b"."))
    });
    for (i, rel) in all.iter().enumerate() {
        let i = i as i64;
        set_times(
            &full(root, rel),
            (1_300_000_000 + i, 987_654_321 - i),
            (1_400_000_000 + i, 123_456_789 + i),
        );
    }
    chmod(&p("ro"), 0o555);
    set_times(&p("ro"), (1_300_000_999, 5), (1_400_000_999, 7));
    (
        Features {
            user_xattrs,
            acls,
            device,
            owners,
        },
        sock,
    )
}

/// Make every directory writable again so a temp dir can be removed by a non-root user.
pub fn make_removable(root: &Path) {
    for rel in walk_paths(root) {
        let p = full(root, &rel);
        if let Ok(m) = fs::symlink_metadata(&p) {
            if m.is_dir() {
                let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o755));
            }
        }
    }
}

pub fn full(root: &Path, rel: &[u8]) -> PathBuf {
    if rel == b"." {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(rel))
    }
}

/// Every path below `root` (relative, raw bytes, `.` for the root), by plain `read_dir`.
pub fn walk_paths(root: &Path) -> Vec<Vec<u8>> {
    let mut out = vec![b".".to_vec()];
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for e in rd {
            let e = e.expect("dir entry");
            let r = rel.join(e.file_name());
            if e.file_type().expect("type").is_dir() {
                stack.push(r.clone());
            }
            out.push(r.as_os_str().as_bytes().to_vec());
        }
    }
    out.sort();
    out
}

/// Data ranges of a file by `SEEK_DATA`/`SEEK_HOLE`.
pub fn data_map(p: &Path) -> Vec<(u64, u64)> {
    let f = File::open(p).expect("open for map");
    let size = f.metadata().expect("meta").len() as i64;
    let fd = f.as_raw_fd();
    let mut out = Vec::new();
    let mut pos = 0i64;
    while pos < size {
        // SAFETY: plain lseek on an open descriptor.
        let d = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if d < 0 {
            break;
        }
        // SAFETY: as above.
        let h = unsafe { libc::lseek(fd, d, libc::SEEK_HOLE) };
        let h = if h < 0 { size } else { h };
        out.push((d as u64, h as u64));
        pos = h;
    }
    out
}

/// Metadata of one object, as compared between trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    /// Not for directories: reading one (to list it) moves its atime under relatime.
    pub atime: Option<(i64, i64)>,
    pub rdev: Option<u64>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A tree: metadata by path, the hard-link grouping, and (taken separately, after the
/// metadata) contents and data maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub meta: BTreeMap<Vec<u8>, Meta>,
    /// Paths sharing an inode, as sorted groups of two or more.
    pub link_groups: Vec<Vec<Vec<u8>>>,
}

pub fn snapshot_meta(root: &Path, paths: &[Vec<u8>]) -> Snapshot {
    let mut meta = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<Vec<u8>>> = BTreeMap::new();
    for rel in paths {
        let p = full(root, rel);
        let m = fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
        let kind = m.mode() & libc::S_IFMT;
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = xattr::list(&p)
            .map(|names| {
                names
                    .filter_map(|n| {
                        xattr::get(&p, &n)
                            .ok()
                            .flatten()
                            .map(|v| (n.as_bytes().to_vec(), v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        xattrs.sort();
        let is_dir = kind == libc::S_IFDIR;
        meta.insert(
            rel.clone(),
            Meta {
                kind,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                size: if kind == libc::S_IFREG { m.len() } else { 0 },
                mtime: (m.mtime(), m.mtime_nsec()),
                atime: (!is_dir).then(|| (m.atime(), m.atime_nsec())),
                rdev: (kind == libc::S_IFCHR || kind == libc::S_IFBLK).then(|| m.rdev()),
                xattrs,
            },
        );
        if !is_dir && m.nlink() > 1 {
            inodes
                .entry((m.dev(), m.ino()))
                .or_default()
                .push(rel.clone());
        }
    }
    let mut link_groups: Vec<Vec<Vec<u8>>> = inodes.into_values().filter(|g| g.len() > 1).collect();
    for g in &mut link_groups {
        g.sort();
    }
    link_groups.sort();
    Snapshot { meta, link_groups }
}

/// Per path: contents (or a symlink's target) and the data map (empty for symlinks).
pub type DataSnapshot = BTreeMap<Vec<u8>, (Vec<u8>, Vec<(u64, u64)>)>;

/// Contents and data maps of the regular files among `paths`, and symlink targets (as
/// contents, with no map). Taken after [`snapshot_meta`]: reading moves atimes.
pub fn snapshot_data(root: &Path, paths: &[Vec<u8>]) -> DataSnapshot {
    let mut out = BTreeMap::new();
    for rel in paths {
        let p = full(root, rel);
        let m = fs::symlink_metadata(&p).expect("lstat");
        if m.file_type().is_file() {
            out.insert(rel.clone(), (fs::read(&p).expect("read"), data_map(&p)));
        } else if m.file_type().is_symlink() {
            let t = fs::read_link(&p).expect("readlink");
            out.insert(rel.clone(), (t.as_os_str().as_bytes().to_vec(), vec![]));
        }
    }
    out
}

/// Compare two snapshots and say precisely what differs.
pub fn assert_same_meta(a: &Snapshot, b: &Snapshot) {
    let ka: Vec<_> = a.meta.keys().collect();
    let kb: Vec<_> = b.meta.keys().collect();
    assert_eq!(ka, kb, "different paths");
    for (path, ma) in &a.meta {
        let mb = &b.meta[path];
        assert_eq!(
            ma,
            mb,
            "metadata of {} differs",
            String::from_utf8_lossy(path)
        );
    }
    assert_eq!(a.link_groups, b.link_groups, "hard link groups differ");
}
