//! Helpers shared by the tar tests: fixtures, reading through the hostile medium, writing
//! to memory, running GNU tar, and comparing an extracted tree with the members that should
//! have made it.

#![allow(dead_code)]

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use relic_format_tar::{ReadOptions, TarReader, TarWriter, WriteOptions};
use relic_model::{Entry, EntryKind, Host, LogLevel, Result, VolumeInfo};
use relic_plugin_sdk::testing::{read_all, write_all, HostileMedium, Member, MemoryMedium};

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tar")
}

pub fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

/// A host that records warnings.
#[derive(Default)]
pub struct RecHost {
    pub warnings: Mutex<Vec<(String, Option<u64>)>>,
}

impl Host for RecHost {
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn warn(&self, message: &str, offset: Option<u64>) {
        self.warnings
            .lock()
            .expect("lock")
            .push((message.to_string(), offset));
    }
    fn cancelled(&self) -> bool {
        false
    }
    fn event(&self, _kind: u32, _payload: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

impl RecHost {
    pub fn take(&self) -> Warnings {
        std::mem::take(&mut *self.warnings.lock().expect("lock"))
    }
}

/// Warnings a reader gave: message and offset.
pub type Warnings = Vec<(String, Option<u64>)>;

/// Read an archive through the hostile medium (records of 1, 7, 37 and 10240 bytes).
pub fn read_hostile(data: &[u8]) -> (Result<(VolumeInfo, Vec<Member>)>, Warnings) {
    let host = Arc::new(RecHost::default());
    let mut r = TarReader::new(
        HostileMedium::new(data.to_vec(), &[]),
        host.clone(),
        ReadOptions::default(),
    );
    let res = read_all(&mut r);
    (res, host.take())
}

pub fn read_ok(data: &[u8]) -> (VolumeInfo, Vec<Member>) {
    let (r, _) = read_hostile(data);
    r.unwrap_or_else(|e| panic!("reading failed: {e}"))
}

pub fn member<'a>(ms: &'a [Member], path: &[u8]) -> &'a Member {
    ms.iter()
        .find(|m| m.entry.path == path)
        .unwrap_or_else(|| panic!("no member {:?}", String::from_utf8_lossy(path)))
}

/// The data runs of a member: its size minus its holes.
pub fn data_runs(m: &Member) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut holes = m.holes.clone();
    holes.sort();
    for (o, l) in holes.into_iter().chain(std::iter::once((m.entry.size, 0))) {
        if o > pos {
            out.push((pos, o - pos));
        }
        pos = o + l;
    }
    out
}

/// Write members with our writer into memory; returns the medium (records kept).
pub fn write_mem(opts: WriteOptions, volume: &VolumeInfo, members: &[Member]) -> MemoryMedium {
    let host = Arc::new(RecHost::default());
    let mut w =
        TarWriter::new(MemoryMedium::new(opts.record_size as u32), opts, host).expect("writer");
    write_all(&mut w, volume, members).expect("write_all");
    w.into_medium()
        .expect("finished writer gives its medium back")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Run GNU tar; panics with its stderr when it fails. Returns stdout.
pub fn gnu_tar(args: &[&str], cwd: &Path) -> String {
    static CHECK: std::sync::Once = std::sync::Once::new();
    CHECK.call_once(|| {
        let v = Command::new("tar")
            .arg("--version")
            .output()
            .expect("GNU tar must be installed (apt-get install tar)");
        assert!(
            String::from_utf8_lossy(&v.stdout).contains("GNU tar"),
            "these tests need GNU tar as `tar`"
        );
    });
    let out = Command::new("tar")
        .args(args)
        .current_dir(cwd)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .output()
        .expect("GNU tar must be installed to run these tests (apt-get install tar)");
    assert!(
        out.status.success(),
        "tar {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ranges of data of a file as the file system reports them (SEEK_DATA/SEEK_HOLE).
pub fn fs_data_ranges(path: &Path) -> Vec<(u64, u64)> {
    use std::os::unix::io::AsRawFd;
    let f = std::fs::File::open(path).expect("open");
    let size = f.metadata().expect("stat").len() as i64;
    let fd = f.as_raw_fd();
    let mut out = Vec::new();
    let mut pos: i64 = 0;
    while pos < size {
        // SAFETY: fd is a valid open descriptor for the life of `f`.
        let d = unsafe { libc::lseek(fd, pos, libc::SEEK_DATA) };
        if d < 0 {
            break; // ENXIO: no more data
        }
        // SAFETY: as above.
        let h = unsafe { libc::lseek(fd, d, libc::SEEK_HOLE) };
        let h = if h < 0 { size } else { h };
        out.push((d as u64, (h - d) as u64));
        pos = h;
    }
    out
}

/// GNU tar's escaping of names in listings (`--quoting-style=escape`).
pub fn gnu_escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\{c:03o}")),
        }
    }
    s
}

/// One line of `tar -tv` as fields.
#[derive(Debug, PartialEq, Eq)]
pub struct ListLine {
    pub mode: String,
    pub owner: String,
    pub size: String,
    pub when: String,
    pub rest: String,
}

pub fn parse_gnu_listing(out: &str) -> Vec<ListLine> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            let mode = it.next().unwrap_or("").to_string();
            let owner = it.next().unwrap_or("").to_string();
            let size = it.next().unwrap_or("").to_string();
            let date = it.next().unwrap_or("").to_string();
            let time = it.next().unwrap_or("").to_string();
            let idx = l
                .find(&format!("{date} {time} "))
                .map(|i| i + date.len() + time.len() + 2)
                .unwrap_or(l.len());
            ListLine {
                mode,
                owner,
                size,
                when: format!("{date} {time}"),
                rest: l[idx..].to_string(),
            }
        })
        .collect()
}

/// Our entry as GNU tar would list it (numeric owners, UTC, minutes).
pub fn our_listing(e: &Entry) -> ListLine {
    let mut mode = relic_model::listing::mode_string(e.kind, e.mode);
    if e.kind == EntryKind::HardLink {
        mode.replace_range(0..1, "h");
    }
    let size = match (e.kind, e.rdev) {
        (EntryKind::CharDevice | EntryKind::BlockDevice, Some(d)) => {
            format!("{},{}", d.major, d.minor)
        }
        _ => e.size.to_string(),
    };
    let when = e
        .mtime
        .map(|t| relic_model::time::format_utc(t.secs)[..16].to_string())
        .unwrap_or_default();
    let mut rest = gnu_escape(&e.path);
    if e.kind == EntryKind::Dir {
        rest.push('/');
    }
    match e.kind {
        EntryKind::Symlink => rest.push_str(&format!(
            " -> {}",
            gnu_escape(e.link_target.as_deref().unwrap_or(b""))
        )),
        EntryKind::HardLink => rest.push_str(&format!(
            " link to {}",
            gnu_escape(e.link_target.as_deref().unwrap_or(b""))
        )),
        _ => {}
    }
    ListLine {
        mode,
        owner: format!("{}/{}", e.uid, e.gid),
        size,
        when,
        rest,
    }
}

/// Compare `tar -tv` of an archive file with what our reader says about it.
pub fn compare_listing(archive: &Path, members: &[Member]) {
    let out = gnu_tar(
        &[
            "--numeric-owner",
            "--quoting-style=escape",
            "-tvf",
            &archive.to_string_lossy(),
        ],
        Path::new("/"),
    );
    let gnu: Vec<ListLine> = parse_gnu_listing(&out)
        .into_iter()
        .filter(|l| !l.mode.starts_with('V'))
        .collect();
    assert_eq!(
        gnu.len(),
        members.len(),
        "GNU tar lists {} members, we read {}:\n{out}",
        gnu.len(),
        members.len()
    );
    for (g, m) in gnu.iter().zip(members) {
        let mut ours = our_listing(&m.entry);
        if m.entry.kind == EntryKind::Dir {
            ours.size = g.size.clone(); // GNU lists a dumpdir's size; directories carry no data here
        }
        // GNU prints a leading "./" of the root, and dirs as stored
        let grest = g.rest.strip_prefix("./").unwrap_or(&g.rest).to_string();
        let orest = ours
            .rest
            .strip_prefix("./")
            .unwrap_or(&ours.rest)
            .to_string();
        assert_eq!(
            (&g.mode, &g.owner, &g.size, &g.when, &grest),
            (&ours.mode, &ours.owner, &ours.size, &ours.when, &orest)
        );
    }
}

/// Check an extracted tree against members (what GNU tar made of an archive).
/// `owners`: compare uid/gid too (meaningful as root); `nanos`: mtimes to the nanosecond.
pub fn compare_tree(root: &Path, members: &[Member], owners: bool, nanos: bool) {
    use std::os::unix::ffi::OsStrExt;
    for m in members {
        let e = &m.entry;
        let p = root.join(std::ffi::OsStr::from_bytes(&e.path));
        let meta =
            std::fs::symlink_metadata(&p).unwrap_or_else(|err| panic!("{}: {err}", p.display()));
        let ft = meta.file_type();
        let what = e.display_path();
        match e.kind {
            EntryKind::File => {
                assert!(ft.is_file(), "{what}: not a file");
                let got = std::fs::read(&p).expect("read extracted file");
                assert!(
                    got == m.data,
                    "{what}: content differs ({} vs {} bytes)",
                    got.len(),
                    m.data.len()
                );
                if !m.holes.is_empty() {
                    let fs = fs_data_ranges(&p);
                    let whole = fs == vec![(0, e.size)];
                    if !whole {
                        // the file system allocates whole blocks: round the runs out to them
                        let blk = meta.blksize().max(512);
                        let mut want: Vec<(u64, u64)> = Vec::new();
                        for (o, l) in data_runs(m) {
                            let (s, t) = (o / blk * blk, ((o + l).div_ceil(blk) * blk).min(e.size));
                            match want.last_mut() {
                                Some((ps, pl)) if *ps + *pl >= s => *pl = t - *ps,
                                _ => want.push((s, t - s)),
                            }
                        }
                        assert_eq!(fs, want, "{what}: data ranges of the extracted file");
                    } else {
                        eprintln!(
                            "{what}: the file system reports no holes; hole layout not checked"
                        );
                    }
                }
            }
            EntryKind::Dir => assert!(ft.is_dir(), "{what}: not a dir"),
            EntryKind::Symlink => {
                assert!(ft.is_symlink(), "{what}: not a symlink");
                let t = std::fs::read_link(&p).expect("readlink");
                assert_eq!(
                    t.as_os_str().as_bytes(),
                    e.link_target.as_deref().unwrap_or(b""),
                    "{what}: target"
                );
            }
            EntryKind::HardLink => {
                let t = root.join(std::ffi::OsStr::from_bytes(
                    e.link_target.as_deref().unwrap_or(b""),
                ));
                let tm = std::fs::symlink_metadata(&t).expect("hard link target");
                assert_eq!(
                    (meta.dev(), meta.ino()),
                    (tm.dev(), tm.ino()),
                    "{what}: not the same inode as its target"
                );
                continue;
            }
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                assert!(
                    if e.kind == EntryKind::CharDevice {
                        ft.is_char_device()
                    } else {
                        ft.is_block_device()
                    },
                    "{what}"
                );
                let d = e.rdev.expect("rdev");
                let rdev = meta.rdev();
                assert_eq!(
                    (libc::major(rdev), libc::minor(rdev)),
                    (d.major, d.minor),
                    "{what}: device numbers"
                );
            }
            EntryKind::Fifo => assert!(ft.is_fifo(), "{what}: not a fifo"),
            EntryKind::Socket => assert!(ft.is_socket(), "{what}: not a socket"),
        }
        if e.kind != EntryKind::Symlink {
            assert_eq!(meta.mode() & 0o7777, e.mode, "{what}: mode");
        }
        if let Some(t) = e.mtime {
            let got = (meta.mtime(), meta.mtime_nsec() as u32);
            let want = (t.secs, if nanos { t.nanos } else { 0 });
            assert_eq!(got, want, "{what}: mtime");
        }
        if owners {
            assert_eq!(
                (u64::from(meta.uid()), u64::from(meta.gid())),
                (e.uid, e.gid),
                "{what}: owner"
            );
        }
        if e.kind != EntryKind::Symlink {
            let mut got: Vec<(Vec<u8>, Vec<u8>)> = xattr::list(&p)
                .expect("list xattrs")
                .filter(|n| n.as_bytes().starts_with(b"user."))
                .map(|n| {
                    (
                        n.as_bytes().to_vec(),
                        xattr::get(&p, &n).expect("get").unwrap_or_default(),
                    )
                })
                .collect();
            got.sort();
            let mut want: Vec<(Vec<u8>, Vec<u8>)> = e
                .xattrs
                .iter()
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect();
            want.sort();
            assert_eq!(got, want, "{what}: xattrs");
        }
    }
}
