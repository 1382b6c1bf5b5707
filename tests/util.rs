//! Helpers: locate the `relic` binary and the plugin directory, run relic, build test trees,
//! describe a directory tree for exact comparison, and write tar archives by hand (so the
//! hostile-input tests do not depend on our own tar writer).

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/deps`, where cargo puts the dev-dependency cdylibs and this test binary.
pub fn deps_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .expect("test binary has a directory")
        .to_path_buf()
}

/// The plugin cache file the tests' relic runs share.
pub fn test_plugin_cache() -> PathBuf {
    deps_dir().join("relic-test-plugin-cache.json")
}

/// The `relic` binary next to `deps/`, built by `cargo test --workspace` (the driver package
/// has an integration test) or by `cargo xtask test`.
pub fn relic_bin() -> PathBuf {
    let p = deps_dir()
        .parent()
        .expect("deps has a parent")
        .join("relic");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo xtask test` or `cargo test --workspace`",
        p.display()
    );
    p
}

/// A plugin library built into deps/ (`name` without prefix and suffix).
pub fn plugin_lib(name: &str) -> PathBuf {
    deps_dir().join(format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ))
}

pub fn fixtures() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    std::fs::canonicalize(&p).unwrap_or(p)
}

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> &Out {
        assert_eq!(
            self.code, 0,
            "relic failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Run relic with the test plugin directory and no user configuration.
pub fn relic<S: AsRef<OsStr>>(args: &[S]) -> Out {
    relic_env(args, &[])
}

pub fn relic_env<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Out {
    let mut c = Command::new(relic_bin());
    c.args(args)
        .env("RELIC_PLUGIN_PATH", deps_dir())
        .env("XDG_CONFIG_HOME", "/nonexistent-relic-config")
        // one plugin cache for the whole test run, beside the binaries it describes (a
        // test that needs another passes its own RELIC_PLUGIN_CACHE)
        .env("RELIC_PLUGIN_CACHE", test_plugin_cache())
        .env_remove("RELIC_TEST_PANIC");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("relic runs");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn run(cmd: &str, args: &[&OsStr]) -> Out {
    let o = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} runs: {e}"));
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Whether the file system at `dir` accepts user xattrs.
pub fn xattrs_supported(dir: &Path) -> bool {
    let p = dir.join(".xattr-probe");
    let ok = std::fs::write(&p, b"").is_ok() && xattr::set(&p, "user.relic.probe", b"1").is_ok();
    let _ = std::fs::remove_file(&p);
    ok
}

fn set_mtime_ns(path: &Path, secs: i64, nanos: i64) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("no NUL");
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nanos,
        },
    ];
    // SAFETY: c is a valid NUL-terminated path and times points to two timespecs.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0, "utimensat {}", path.display());
}

/// A tree with every kind the tar round trip must keep: sparse files, hard links, symlinks,
/// a fifo, a long name, a non-UTF-8 name, xattrs (when supported), setuid/sticky bits and
/// sub-second mtimes.
pub fn build_rich_tree(root: &Path, with_xattrs: bool) {
    use std::io::{Seek, SeekFrom, Write};
    std::fs::create_dir_all(root.join("dir/sub")).expect("mkdir");
    std::fs::write(root.join("dir/hello.txt"), b"hello, relic\n").expect("write");
    std::fs::write(root.join("empty"), b"").expect("write");
    // sparse: data, 1 MiB hole, data, trailing hole
    {
        let mut f = std::fs::File::create(root.join("sparse.img")).expect("create");
        f.write_all(&[0xabu8; 4096]).expect("w");
        f.seek(SeekFrom::Start(1 << 20)).expect("seek");
        f.write_all(&[0xcdu8; 8192]).expect("w");
        f.set_len(3 << 20).expect("len");
    }
    // many small data islands: more holes than the engine has pooled buffers
    {
        let mut f = std::fs::File::create(root.join("islands")).expect("create");
        for i in 0..40u64 {
            f.seek(SeekFrom::Start(i * 65536)).expect("seek");
            f.write_all(&[i as u8 + 1; 4096]).expect("w");
        }
    }
    // a file that is all hole
    std::fs::File::create(root.join("allhole"))
        .expect("c")
        .set_len(1 << 20)
        .expect("len");
    // hard links
    std::fs::write(root.join("dir/linked"), b"shared inode\n").expect("write");
    std::fs::hard_link(root.join("dir/linked"), root.join("dir/sub/linked2")).expect("link");
    std::fs::hard_link(root.join("dir/linked"), root.join("linked3")).expect("link");
    std::os::unix::fs::symlink("dir/hello.txt", root.join("sym")).expect("symlink");
    std::os::unix::fs::symlink("../nowhere/at/all", root.join("dir/dangling")).expect("symlink");
    let fifo = std::ffi::CString::new(root.join("fifo").as_os_str().as_bytes()).expect("no NUL");
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0, "mkfifo");
    let long: String = "long_name_component_".repeat(6);
    std::fs::create_dir_all(root.join(&long).join(&long)).expect("long dir");
    std::fs::write(
        root.join(&long)
            .join(&long)
            .join("file_with_a_long_name_too.txt"),
        b"long\n",
    )
    .expect("write");
    let non_utf8 = OsStr::from_bytes(b"caf\xe9-latin1.txt");
    std::fs::write(root.join(non_utf8), b"latin-1 name\n").expect("write");
    std::fs::write(root.join("setuid-prog"), b"#!/bin/sh\n").expect("write");
    std::fs::set_permissions(
        root.join("setuid-prog"),
        std::os::unix::fs::PermissionsExt::from_mode(0o4755),
    )
    .expect("chmod");
    std::fs::create_dir(root.join("sticky")).expect("mkdir");
    std::fs::set_permissions(
        root.join("sticky"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod");
    std::fs::set_permissions(
        root.join("dir/hello.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o640),
    )
    .expect("chmod");
    if with_xattrs {
        xattr::set(root.join("dir/hello.txt"), "user.comment", b"greeting").expect("xattr");
        xattr::set(root.join("sparse.img"), "user.bin", &[0u8, 1, 2, 255]).expect("xattr");
    }
    // sub-second mtimes everywhere (directories last, deepest first)
    let mut paths: Vec<PathBuf> = walk(root).into_iter().map(|(p, _)| p).collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in paths.iter().enumerate() {
        set_mtime_ns(
            &root.join(p),
            1_600_000_000 + i as i64 * 1000,
            123_456_789 - i as i64,
        );
    }
    set_mtime_ns(root, 1_500_000_000, 987_654_321);
}

/// Relative paths (raw bytes) and metadata of everything under root, root included as ".".
pub fn walk(root: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut out = vec![(
        PathBuf::from("."),
        std::fs::symlink_metadata(root).expect("root"),
    )];
    fn rec(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) {
        let mut names: Vec<_> = std::fs::read_dir(root.join(rel))
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let m = std::fs::symlink_metadata(root.join(&r)).expect("lstat");
            let is_dir = m.is_dir();
            out.push((r.clone(), m));
            if is_dir {
                rec(root, &r, out);
            }
        }
    }
    rec(root, Path::new(""), &mut out);
    out
}

/// Data/hole map of a file via SEEK_DATA/SEEK_HOLE.
pub fn data_map(path: &Path) -> Vec<(u64, u64)> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).expect("open");
    let size = f.metadata().expect("meta").len() as i64;
    let mut out = vec![];
    let mut pos = 0i64;
    while pos < size {
        // SAFETY: valid fd.
        let data = unsafe { libc::lseek(f.as_raw_fd(), pos, libc::SEEK_DATA) };
        if data < 0 {
            break;
        }
        // SAFETY: valid fd.
        let hole = unsafe { libc::lseek(f.as_raw_fd(), data, libc::SEEK_HOLE) };
        out.push((data as u64, (hole - data) as u64));
        pos = hole;
    }
    out
}

/// Facts compared between trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub kind: &'static str,
    pub mode: u32,
    pub size: u64,
    pub mtime: (i64, i64),
    pub content: Option<Vec<u8>>,
    pub data_map: Option<Vec<(u64, u64)>>,
    pub target: Option<Vec<u8>>,
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Other names of the same inode within the tree.
    pub links: Vec<PathBuf>,
    pub uid: u32,
    pub gid: u32,
}

pub struct Compare {
    pub ns: bool,
    pub xattrs: bool,
    pub holes: bool,
}

pub fn describe(root: &Path, how: &Compare) -> BTreeMap<PathBuf, Facts> {
    let items = walk(root);
    let mut by_ino: BTreeMap<(u64, u64), Vec<PathBuf>> = BTreeMap::new();
    for (p, m) in &items {
        if m.is_file() && m.nlink() > 1 {
            by_ino
                .entry((m.dev(), m.ino()))
                .or_default()
                .push(p.clone());
        }
    }
    let mut out = BTreeMap::new();
    for (p, m) in items {
        let full = root.join(&p);
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_file() {
            "file"
        } else {
            "other"
        };
        let mut xattrs: Vec<(String, Vec<u8>)> = if how.xattrs && !ft.is_symlink() {
            xattr::list(&full)
                .map(|names| {
                    names
                        .filter_map(|n| {
                            let n = n.to_string_lossy().into_owned();
                            n.starts_with("user.").then(|| {
                                (
                                    n.clone(),
                                    xattr::get(&full, &n).ok().flatten().unwrap_or_default(),
                                )
                            })
                        })
                        .collect()
                })
                .unwrap_or_default()
        } else {
            vec![]
        };
        xattrs.sort();
        let mut links = by_ino.get(&(m.dev(), m.ino())).cloned().unwrap_or_default();
        links.retain(|l| *l != p);
        let f = Facts {
            kind,
            mode: m.mode() & 0o7777,
            size: if ft.is_file() { m.len() } else { 0 },
            mtime: (m.mtime(), if how.ns { m.mtime_nsec() } else { 0 }),
            content: ft.is_file().then(|| std::fs::read(&full).expect("read")),
            data_map: (ft.is_file() && how.holes).then(|| data_map(&full)),
            target: ft.is_symlink().then(|| {
                std::fs::read_link(&full)
                    .expect("readlink")
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
            }),
            xattrs,
            links,
            uid: m.uid(),
            gid: m.gid(),
        };
        out.insert(p, f);
    }
    out
}

/// Assert two trees are identical, naming every difference.
pub fn assert_same_tree(a: &Path, b: &Path, how: &Compare) {
    let (da, db) = (describe(a, how), describe(b, how));
    let mut diffs = vec![];
    for (p, fa) in &da {
        match db.get(p) {
            None => diffs.push(format!("{}: missing in {}", p.display(), b.display())),
            Some(fb) if fa != fb => diffs.push(format!(
                "{}:\n  A {:?}\n  B {:?}",
                p.display(),
                short(fa),
                short(fb)
            )),
            _ => {}
        }
    }
    for p in db.keys() {
        if !da.contains_key(p) {
            diffs.push(format!("{}: only in {}", p.display(), b.display()));
        }
    }
    assert!(diffs.is_empty(), "trees differ:\n{}", diffs.join("\n"));
}

fn short(f: &Facts) -> Facts {
    let mut f = f.clone();
    if let Some(c) = &f.content {
        if c.len() > 64 {
            f.content = Some(format!("<{} bytes>", c.len()).into_bytes());
        }
    }
    f
}

/// One hand-made ustar member.
pub struct TarMember<'a> {
    pub name: &'a [u8],
    pub typeflag: u8,
    pub linkname: &'a [u8],
    pub data: &'a [u8],
    pub mode: u32,
}

/// A ustar archive written by hand (independent of relic's tar writer).
pub fn ustar(members: &[TarMember<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut h = [0u8; 512];
        h[..m.name.len()].copy_from_slice(m.name);
        let oct = |h: &mut [u8; 512], off: usize, len: usize, v: u64| {
            let s = format!("{:0w$o}\0", v, w = len - 1);
            h[off..off + len].copy_from_slice(s.as_bytes());
        };
        oct(&mut h, 100, 8, m.mode as u64);
        oct(&mut h, 108, 8, 0);
        oct(&mut h, 116, 8, 0);
        oct(&mut h, 124, 12, m.data.len() as u64);
        oct(&mut h, 136, 12, 1_600_000_000);
        h[156] = m.typeflag;
        h[157..157 + m.linkname.len()].copy_from_slice(m.linkname);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| b as u64).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(m.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out.resize(out.len().div_ceil(10240) * 10240, 0);
    out
}

/// restore -x leaves the root directory's own metadata alone: copy it over for comparing.
pub fn copy_root_metadata(from: &Path, to: &Path) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(from).expect("root");
    std::fs::set_permissions(to, m.permissions()).expect("chmod");
    let c = std::ffi::CString::new(to.as_os_str().as_bytes()).expect("path");
    let t = [
        libc::timespec {
            tv_sec: m.atime(),
            tv_nsec: m.atime_nsec(),
        },
        libc::timespec {
            tv_sec: m.mtime(),
            tv_nsec: m.mtime_nsec(),
        },
    ];
    // SAFETY: valid path and two timespecs.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), t.as_ptr(), 0) },
        0
    );
}
