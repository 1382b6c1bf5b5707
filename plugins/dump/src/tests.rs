//! Tests of the dump plugin: every fixture read (through the hostile medium) against Debian's
//! `restore` as the independent reader, the independent builder's IRIX/4.1BSD/UFS2 dumps,
//! both writers checked by `restore -t`/`restore -x`, multi-volume sets both ways, levels
//! with a dumpdates file, bad input and smoke fuzzing. Tests that need `restore` print a
//! note and pass when it is missing. The names-only path (`relic list`) is tested in
//! [`names`].

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use relic_model::{
    Acl, Device, Entry, EntryKind, Error, ErrorKind, Host, LogLevel, Medium, MediumInfo, Position,
    RecordRead, RecordStatus, Result, Space, Timestamp, VolumeInfo, WriteStatus, Xattr,
};
use relic_plugin_sdk::testing::{
    read_all, smoke_fuzz, write_all, HostileMedium, Member, MemoryMedium,
};
use relic_plugin_sdk::HostHandle;

use crate::read::{DumpReader, ReadOptions};
use crate::write::{DumpWriter, Flavor, WriteOptions};

mod names;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/dump")
}

fn have_restore() -> bool {
    let ok = Command::new("restore")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("restore (Debian package dump) absent: skipping the peer check");
    }
    ok
}

/// A host that records warnings.
#[derive(Default)]
struct Recorder {
    warnings: Mutex<Vec<String>>,
}
impl Host for Recorder {
    fn log(&self, _l: LogLevel, _m: &str) {}
    fn warn(&self, m: &str, _o: Option<u64>) {
        self.warnings.lock().expect("lock").push(m.to_string());
    }
    fn cancelled(&self) -> bool {
        false
    }
    fn event(&self, _k: u32, _p: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

/// Volumes of a set, each a byte stream handed out in odd record sizes.
struct Volumes {
    vols: Vec<Vec<u8>>,
    cur: HostileMedium,
    n: usize,
    /// Every volume number the reader asked for.
    asked: Arc<Mutex<Vec<u32>>>,
}
impl Volumes {
    fn new(vols: Vec<Vec<u8>>) -> Volumes {
        let cur = HostileMedium::new(vols[0].clone(), &HostileMedium::SIZES);
        Volumes {
            vols,
            cur,
            n: 0,
            asked: Arc::new(Mutex::new(Vec::new())),
        }
    }
}
impl Medium for Volumes {
    fn info(&self) -> MediumInfo {
        self.cur.info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        self.cur.read_record(buf)
    }
    fn write_record(&mut self, _d: &[u8]) -> Result<WriteStatus> {
        Err(Error::unsupported("read only"))
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Err(Error::unsupported("read only"))
    }
    fn position(&self) -> Position {
        self.cur.position()
    }
    fn space(&mut self, _o: Space, _c: i64) -> Result<i64> {
        Err(Error::unsupported("no"))
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.asked.lock().expect("lock").push(number);
        let i = (number as usize).saturating_sub(1);
        if i >= self.vols.len() {
            return Ok(false);
        }
        self.n = i;
        self.cur = HostileMedium::new(self.vols[i].clone(), &[7, 1024, 3000]);
        Ok(true)
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A write medium that keeps volumes and reports early warning at `capacity` bytes.
struct VolumeSink {
    vols: Arc<Mutex<Vec<Vec<u8>>>>,
    capacity: Option<u64>,
}
impl Medium for VolumeSink {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "volumes".into(),
            ..MediumInfo::default()
        }
    }
    fn read_record(&mut self, _b: &mut [u8]) -> Result<RecordRead> {
        Ok(RecordRead::mark(RecordStatus::EndOfData))
    }
    fn write_record(&mut self, d: &[u8]) -> Result<WriteStatus> {
        let mut v = self.vols.lock().expect("lock");
        let last = v.last_mut().expect("a volume");
        last.extend_from_slice(d);
        Ok(WriteStatus {
            early_warning: self.capacity.is_some_and(|c| last.len() as u64 >= c),
        })
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Ok(WriteStatus::default())
    }
    fn position(&self) -> Position {
        Position::default()
    }
    fn space(&mut self, _o: Space, _c: i64) -> Result<i64> {
        Ok(0)
    }
    fn next_volume(&mut self, _n: u32) -> Result<bool> {
        self.vols.lock().expect("lock").push(Vec::new());
        Ok(true)
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

fn open_bytes(data: Vec<u8>, opts: ReadOptions, host: HostHandle) -> Result<DumpReader> {
    DumpReader::open(
        Box::new(HostileMedium::new(data, &HostileMedium::SIZES)),
        host,
        opts,
        crate::BSD_ID,
    )
}

fn read_file(name: &str) -> (VolumeInfo, Vec<Member>) {
    let data = std::fs::read(fixtures().join(name)).expect("fixture");
    let mut r = open_bytes(data, ReadOptions::default(), Arc::new(Recorder::default()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    read_all(&mut r).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn read_set(dir: &str) -> (VolumeInfo, Vec<Member>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join(dir))
        .expect("dir")
        .map(|e| e.expect("e").path())
        .collect();
    files.sort();
    let vols = files
        .iter()
        .map(|f| std::fs::read(f).expect("vol"))
        .collect();
    let mut r = DumpReader::open(
        Box::new(Volumes::new(vols)),
        Arc::new(Recorder::default()),
        ReadOptions::default(),
        crate::BSD_ID,
    )
    .unwrap_or_else(|e| panic!("{dir}: {e}"));
    read_all(&mut r).unwrap_or_else(|e| panic!("{dir}: {e}"))
}

/// `restore -t` as a set of (inode, path); `multi` reads `PREFIX001...` with -M.
fn restore_list(path: &Path, multi: bool) -> BTreeSet<(u64, Vec<u8>)> {
    let mut c = Command::new("restore");
    c.arg("-t");
    if multi {
        c.arg("-M");
    }
    let o = c
        .arg("-f")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("restore runs");
    assert!(
        o.status.success(),
        "restore -t {}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut out = BTreeSet::new();
    for line in o.stdout.split(|&b| b == b'\n') {
        let Some(tab) = line.iter().position(|&b| b == b'\t') else {
            continue;
        };
        let Ok(ino) = std::str::from_utf8(&line[..tab])
            .unwrap_or("")
            .trim()
            .parse::<u64>()
        else {
            continue;
        };
        let p = &line[tab + 1..];
        let p = p.strip_prefix(b"./").unwrap_or(p);
        out.insert((ino, p.to_vec()));
    }
    out
}

fn our_list(members: &[Member]) -> BTreeSet<(u64, Vec<u8>)> {
    members
        .iter()
        .map(|m| {
            (
                m.entry.inode.expect("dumps number inodes"),
                m.entry.path.clone(),
            )
        })
        .collect()
}

const LINUX_FIXTURES: &[&str] = &[
    "basic.dump",
    "basic-be.dump",
    "zlib.dump",
    "bzip2.dump",
    "lzo.dump",
    "xattr-block.dump",
    "4k-64k.dump",
    "level1.dump",
    "incr/level0.dump",
    "irix.dump",
    "ofs-4.1bsd.dump",
];

#[test]
fn every_fixture_lists_like_restore() {
    let peer = have_restore();
    for name in LINUX_FIXTURES {
        let (_, members) = read_file(name);
        assert!(!members.is_empty(), "{name}");
        if peer {
            assert_eq!(
                our_list(&members),
                restore_list(&fixtures().join(name), false),
                "{name}"
            );
        }
    }
    for set in ["multivol", "multivol-zlib", "irix-multivol"] {
        let (_, members) = read_set(set);
        if peer {
            let prefix = fixtures().join(set).join("vol");
            assert_eq!(our_list(&members), restore_list(&prefix, true), "{set}");
        }
    }
}

/// Compare our reading of a dump with what `restore -x` made of it.
fn compare_with_restore(members: &[Member], root: &Path, what: &str) {
    let mut by_ino: BTreeMap<u64, Vec<&Member>> = BTreeMap::new();
    for m in members {
        by_ino
            .entry(m.entry.inode.expect("inode"))
            .or_default()
            .push(m);
        if m.entry.path == b"." {
            continue;
        }
        let p = root.join(std::ffi::OsStr::from_bytes(&m.entry.path));
        let meta = std::fs::symlink_metadata(&p).unwrap_or_else(|e| {
            panic!(
                "{what}: {}: restore made nothing: {e}",
                m.entry.display_path()
            )
        });
        let e = &m.entry;
        let ctx = format!("{what}: {}", e.display_path());
        if e.kind != EntryKind::Symlink {
            assert_eq!(meta.mode() & 0o7777, e.mode, "{ctx}: mode");
        }
        // Linux restore loses owners of 4.1BSD dumps (its conversion path); relic keeps them
        if !what.starts_with("ofs") {
            assert_eq!(
                (meta.uid() as u64, meta.gid() as u64),
                (e.uid, e.gid),
                "{ctx}: owner"
            );
        }
        match e.kind {
            EntryKind::File => {
                let disk = std::fs::read(&p).expect("read");
                assert_eq!(disk, m.data, "{ctx}: content");
                assert_eq!(meta.mtime(), e.mtime.expect("mtime").secs, "{ctx}: mtime");
                let mut ours: Vec<(Vec<u8>, Vec<u8>)> = e
                    .xattrs
                    .iter()
                    .map(|x| (x.name.clone(), x.value.clone()))
                    .collect();
                ours.sort();
                let mut theirs: Vec<(Vec<u8>, Vec<u8>)> = xattr::list(&p)
                    .expect("list")
                    .filter(|n| n.as_bytes().starts_with(b"user."))
                    .map(|n| {
                        (
                            n.as_bytes().to_vec(),
                            xattr::get(&p, &n).ok().flatten().unwrap_or_default(),
                        )
                    })
                    .collect();
                theirs.sort();
                assert_eq!(ours, theirs, "{ctx}: xattrs");
            }
            EntryKind::Symlink => {
                let t = std::fs::read_link(&p).expect("readlink");
                assert_eq!(
                    t.as_os_str().as_bytes(),
                    e.link_target.as_deref().unwrap_or_default(),
                    "{ctx}"
                );
            }
            EntryKind::HardLink => assert!(meta.nlink() > 1, "{ctx}: hard link"),
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                let d = e.rdev.expect("rdev");
                let (ma, mi) = (
                    libc::major(meta.rdev() as libc::dev_t),
                    libc::minor(meta.rdev() as libc::dev_t),
                );
                if d.major < 256 && d.minor < 256 {
                    assert_eq!((ma, mi), (d.major, d.minor), "{ctx}: device");
                }
            }
            EntryKind::Dir => assert!(meta.is_dir(), "{ctx}"),
            _ => {}
        }
    }
    // every name of an inode is one file on disk
    for (ino, ms) in by_ino {
        if ms.len() > 1 {
            let inos: BTreeSet<u64> = ms
                .iter()
                .map(|m| {
                    std::fs::symlink_metadata(root.join(std::ffi::OsStr::from_bytes(&m.entry.path)))
                        .expect("m")
                        .ino()
                })
                .collect();
            assert_eq!(
                inos.len(),
                1,
                "{what}: names of inode {ino} are not one file"
            );
        }
    }
}

fn restore_x(args: &[&str], input: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let o = Command::new("restore")
        .args(args)
        .arg("-f")
        .arg(input)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("restore runs");
    assert!(
        o.status.success(),
        "restore {args:?} {}: {}",
        input.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    dir
}

#[test]
fn every_linux_fixture_extracts_like_restore() {
    if !have_restore() {
        return;
    }
    for name in LINUX_FIXTURES {
        let (_, members) = read_file(name);
        let out = restore_x(&["-x", "-a"], &fixtures().join(name));
        compare_with_restore(&members, out.path(), name);
    }
    let (_, members) = read_set("multivol");
    let out = restore_x(&["-x", "-a", "-M"], &fixtures().join("multivol/vol"));
    compare_with_restore(&members, out.path(), "multivol");
}

#[test]
fn fixture_details_restore_gets_wrong_or_lacks() {
    let (vol, members) = read_file("basic.dump");
    assert_eq!(vol.label.as_deref(), Some(&b"testfs"[..]));
    assert_eq!(vol.record_size, Some(10240));
    let get = |p: &[u8]| members.iter().find(|m| m.entry.path == p).expect("entry");
    // ext2 keeps large device numbers in i_block[1]; restore recreates them as 0,0
    assert_eq!(
        get(b"bigdev").entry.rdev,
        Some(Device {
            major: 300,
            minor: 70000
        })
    );
    let sparse = get(b"sparse.img");
    assert_eq!(sparse.entry.size, 10 << 20);
    assert_eq!(&sparse.data[..3000], &[b'A'; 3000][..]);
    assert_eq!(&sparse.data[5 << 20..(5 << 20) + 5000], &[b'B'; 5000][..]);
    let map = sparse
        .entry
        .data_map
        .clone()
        .expect("map known before the data");
    assert_eq!(
        map.iter().map(|r| r.1).sum::<u64>(),
        3072 + 5120,
        "data runs are whole 1 KiB blocks"
    );
    assert!(sparse.holes.iter().map(|h| h.1).sum::<u64>() > 9 << 20);
    let xfile = get(b"xfile");
    assert_eq!(
        xfile.entry.xattrs.len(),
        2,
        "the EA record is attributes, not a second file"
    );
    assert_eq!(
        members
            .iter()
            .filter(|m| m.entry.inode == xfile.entry.inode)
            .count(),
        1
    );
    assert_eq!(get(b"xdir").entry.xattrs[0].value, b"on-a-dir");
    // compressed dumps and the 4 KiB/64 KiB one hold the same files
    for other in [
        "zlib.dump",
        "bzip2.dump",
        "lzo.dump",
        "4k-64k.dump",
        "basic-be.dump",
        "xattr-block.dump",
    ] {
        let (_, o) = read_file(other);
        for m in members.iter().filter(|m| m.entry.kind == EntryKind::File) {
            let t = o
                .iter()
                .find(|x| x.entry.path == m.entry.path)
                .unwrap_or_else(|| panic!("{other}: {}", m.entry.display_path()));
            assert_eq!(t.data, m.data, "{other}: {}", m.entry.display_path());
            let sorted = |x: &[Xattr]| {
                let mut v = x.to_vec();
                v.sort_by(|a, b| a.name.cmp(&b.name));
                v
            };
            assert_eq!(
                sorted(&t.entry.xattrs),
                sorted(&m.entry.xattrs),
                "{other}: {}",
                m.entry.display_path()
            );
        }
    }
    let (_, mv) = read_set("multivol-zlib");
    assert_eq!(
        mv.iter()
            .find(|m| m.entry.path == b"random.bin")
            .expect("r")
            .data,
        get(b"random.bin").data
    );
    // level 1: the changed and the new file (which reuses the deleted file's inode)
    let (vol1, l1) = read_file("level1.dump");
    assert!(vol1.since.is_some());
    let files: Vec<&[u8]> = l1
        .iter()
        .filter(|m| m.entry.kind == EntryKind::File)
        .map(|m| m.entry.path.as_slice())
        .collect();
    assert_eq!(files, vec![&b"hello.txt"[..], b"sub/dir/new.txt"]);
    let (_, l0) = read_file("incr/level0.dump");
    let deep = l0
        .iter()
        .find(|m| m.entry.path == b"sub/dir/deep.txt")
        .expect("deep");
    let new = l1
        .iter()
        .find(|m| m.entry.path == b"sub/dir/new.txt")
        .expect("new");
    assert_eq!(
        deep.entry.inode, new.entry.inode,
        "the fixture reuses the inode"
    );
    assert_eq!(new.data, b"a new file that takes the freed inode\n");
}

#[test]
fn independent_irix_and_legacy_fixtures() {
    let (vol, m) = read_file("irix.dump");
    assert_eq!(vol.variant, "nfs-be");
    assert_eq!(vol.host.as_deref(), Some(&b"indigo"[..]));
    let get = |m: &[Member], p: &[u8]| {
        m.iter()
            .find(|x| x.entry.path == p)
            .cloned()
            .expect("entry")
    };
    let big = get(&m, b"people/guest/big.bin");
    assert_eq!(big.data.len(), 614_523);
    assert!(big
        .data
        .iter()
        .enumerate()
        .all(|(i, &b)| b == ((i * 7 + (i >> 10)) & 0xff) as u8));
    assert_eq!(
        (big.entry.uid, big.entry.gid, big.entry.mode),
        (1001, 20, 0o600)
    );
    assert_eq!(
        get(&m, b"tty45").entry.rdev,
        Some(Device {
            major: 45,
            minor: 1
        })
    );
    assert_eq!(
        get(&m, b"dsk").entry.rdev,
        Some(Device {
            major: 130,
            minor: 70000
        })
    );
    assert_eq!(
        get(&m, b"motd.link").entry.link_target.as_deref(),
        Some(&b"motd"[..])
    );
    let link = get(&m, b"people/guest/notes.txt");
    assert_eq!(link.entry.kind, EntryKind::HardLink);
    let (vol, m60011) = read_file("irix-60011.dump");
    assert_eq!(vol.variant, "tahoe-60011-be");
    assert_eq!(m60011.len(), m.len());
    let (_, mv) = read_set("irix-multivol");
    assert_eq!(get(&mv, b"people/guest/big.bin").data.len(), 100_000);
    // 4.1BSD: owners survive (Linux restore drops them to 0)
    let (_, ofs) = read_file("ofs-4.1bsd.dump");
    let sh = get(&ofs, b"bin/sh");
    assert_eq!((sh.entry.uid, sh.entry.gid, sh.data.len()), (3, 3, 1536));
    // UFS2: holes and nanoseconds
    let (vol, ufs) = read_file("ufs2.dump");
    assert_eq!(vol.variant, "ufs2-le 4.4bsd");
    let s = get(&ufs, b"sparse.db");
    assert_eq!(s.entry.size, 60 * 1024);
    assert_eq!(
        s.entry.mtime,
        Some(Timestamp::new(990_000_000, 123_456_789))
    );
    assert_eq!(s.holes, vec![(8192, 40960), (51200, 10240)]);
    assert_eq!(
        &s.data[8192 + 40960..8192 + 40960 + 1024],
        &[b'a'; 1024][..]
    );
}

// ---- writers -------------------------------------------------------------------------

fn member(path: &str, kind: EntryKind, data: &[u8]) -> Member {
    let mut e = Entry::new(path, kind);
    e.mtime = Some(Timestamp::new(1_600_000_000, 500_000_000));
    e.atime = e.mtime;
    e.ctime = e.mtime;
    e.uid = 1234;
    e.gid = 567;
    if kind == EntryKind::File {
        e.size = data.len() as u64;
    }
    Member::new(e, data.to_vec())
}

fn sample(flavor: Flavor, root_user: bool) -> Vec<Member> {
    let mut v = vec![
        member(".", EntryKind::Dir, b""),
        member("dir", EntryKind::Dir, b""),
    ];
    v.push(member(
        "dir/hello.txt",
        EntryKind::File,
        b"hello, restore\n",
    ));
    let mut sparse = member("sparse", EntryKind::File, &[]);
    let mut data = vec![0u8; 3 << 20];
    data[..4096].fill(0xab);
    data[(2 << 20)..(2 << 20) + 8192].fill(0xcd);
    sparse.entry.size = data.len() as u64;
    sparse.data = data;
    sparse.holes = vec![
        (4096, (2 << 20) - 4096),
        ((2 << 20) + 8192, (1 << 20) - 8192),
    ];
    v.push(sparse);
    let big: Vec<u8> = (0..700_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    v.push(member("big.bin", EntryKind::File, &big));
    v.push(member("empty", EntryKind::File, b""));
    let mut s = member("link", EntryKind::Symlink, b"");
    s.entry.link_target = Some(b"dir/hello.txt".to_vec());
    v.push(s);
    let mut h = member("dir/again", EntryKind::HardLink, b"");
    h.entry.link_target = Some(b"dir/hello.txt".to_vec());
    v.push(h);
    v.push(member("fifo", EntryKind::Fifo, b""));
    let mut long = member(
        &format!("dir/{}", "n".repeat(200)),
        EntryKind::File,
        b"long name\n",
    );
    long.entry.mode = 0o4755;
    v.push(long);
    if root_user {
        let mut d = member("null", EntryKind::CharDevice, b"");
        d.entry.rdev = Some(Device { major: 1, minor: 3 });
        v.push(d);
    }
    if flavor == Flavor::Bsd {
        let f = v
            .iter_mut()
            .find(|m| m.entry.path == b"dir/hello.txt")
            .expect("f");
        f.entry.xattrs = vec![Xattr {
            name: b"user.comment".to_vec(),
            value: b"greeting".to_vec(),
        }];
        let d = v.iter_mut().find(|m| m.entry.path == b"dir").expect("d");
        d.entry.xattrs = vec![Xattr {
            name: b"user.d".to_vec(),
            value: b"on a dir".to_vec(),
        }];
    }
    v
}

fn write_to_bytes(
    flavor: Flavor,
    opts: WriteOptions,
    members: &[Member],
    host: HostHandle,
) -> Vec<u8> {
    let vols = Arc::new(Mutex::new(vec![Vec::new()]));
    let mut w = DumpWriter::create(
        Box::new(VolumeSink {
            vols: vols.clone(),
            capacity: None,
        }),
        flavor,
        opts,
        host,
    );
    write_all(&mut w, &VolumeInfo::default(), members).expect("write");
    let v = vols.lock().expect("lock");
    assert_eq!(v.len(), 1);
    v[0].clone()
}

fn opts(flavor: Flavor, pairs: &[(&str, &str)]) -> WriteOptions {
    let mut o = relic_plugin_sdk::Options::new();
    for (k, v) in pairs {
        o.set(k, v);
    }
    WriteOptions::parse(flavor, &o).expect("options")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn check_written(flavor: Flavor, bytes: &[u8], members: &[Member]) {
    // our own reader first
    let mut r = open_bytes(
        bytes.to_vec(),
        ReadOptions::default(),
        Arc::new(Recorder::default()),
    )
    .expect("open");
    let (_, back) = read_all(&mut r).expect("read back");
    for m in members {
        let b = back
            .iter()
            .find(|x| x.entry.path == m.entry.path)
            .unwrap_or_else(|| panic!("{} missing", m.entry.display_path()));
        assert_eq!(b.data, m.data, "{}", m.entry.display_path());
        assert_eq!(b.entry.xattrs, m.entry.xattrs, "{}", m.entry.display_path());
    }
    let sparse = back
        .iter()
        .find(|x| x.entry.path == b"sparse")
        .expect("sparse");
    assert_eq!(
        sparse.holes,
        vec![
            (4096, (2 << 20) - 4096),
            ((2 << 20) + 8192, (1 << 20) - 8192)
        ]
    );
    if !have_restore() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("out.dump");
    std::fs::write(&file, bytes).expect("write");
    // restore -t lists exactly our entries
    let listed: BTreeSet<Vec<u8>> = restore_list(&file, false)
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let ours: BTreeSet<Vec<u8>> = members.iter().map(|m| m.entry.path.clone()).collect();
    assert_eq!(listed, ours, "{flavor:?}");
    let out = restore_x(&["-x", "-a"], &file);
    for m in members.iter().filter(|m| m.entry.path != b".") {
        let p = out.path().join(std::ffi::OsStr::from_bytes(&m.entry.path));
        let meta = std::fs::symlink_metadata(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", m.entry.display_path()));
        let e = &m.entry;
        if e.kind != EntryKind::Symlink {
            assert_eq!(meta.mode() & 0o7777, e.mode, "{}", e.display_path());
        }
        assert_eq!(
            (meta.uid() as u64, meta.gid() as u64),
            (e.uid, e.gid),
            "{}",
            e.display_path()
        );
        if e.kind != EntryKind::Symlink {
            assert_eq!(meta.mtime(), 1_600_000_000, "{}", e.display_path());
            if flavor == Flavor::Bsd && e.kind != EntryKind::Dir {
                assert_eq!(
                    meta.mtime_nsec(),
                    500_000_000,
                    "{}: microseconds kept",
                    e.display_path()
                );
            }
        }
        match e.kind {
            EntryKind::File => assert_eq!(
                std::fs::read(&p).expect("r"),
                m.data,
                "{}",
                e.display_path()
            ),
            EntryKind::HardLink => assert_eq!(meta.nlink(), 2),
            EntryKind::Symlink => assert_eq!(
                std::fs::read_link(&p).expect("l").as_os_str().as_bytes(),
                b"dir/hello.txt"
            ),
            EntryKind::CharDevice => assert_eq!(meta.rdev(), libc::makedev(1, 3)),
            _ => {}
        }
        if flavor == Flavor::Bsd && !e.xattrs.is_empty() {
            assert_eq!(
                xattr::get(&p, "user.comment")
                    .ok()
                    .flatten()
                    .or(xattr::get(&p, "user.d").ok().flatten()),
                Some(e.xattrs[0].value.clone())
            );
        }
    }
    // sparse files come back sparse: the holes are holes on disk
    let f = std::fs::File::open(out.path().join("sparse")).expect("open");
    let m = f.metadata().expect("meta");
    assert!(
        m.blocks() * 512 < 1 << 20,
        "sparse file restored dense: {} blocks",
        m.blocks()
    );
}

#[test]
fn irix_writer_is_read_by_restore() {
    let members = sample(Flavor::Irix, is_root());
    let bytes = write_to_bytes(
        Flavor::Irix,
        opts(Flavor::Irix, &[("label", "irixtest")]),
        &members,
        Arc::new(Recorder::default()),
    );
    // big-endian Tahoe header with NFS_MAGIC, DR_NEWHEADER only
    assert_eq!(&bytes[24..28], &60012u32.to_be_bytes());
    assert_eq!(&bytes[888..892], &1i32.to_be_bytes());
    check_written(Flavor::Irix, &bytes, &members);
    let b60011 = write_to_bytes(
        Flavor::Irix,
        opts(Flavor::Irix, &[("magic", "60011")]),
        &members,
        Arc::new(Recorder::default()),
    );
    assert_eq!(&b60011[24..28], &60011u32.to_be_bytes());
    let mut r = open_bytes(
        b60011,
        ReadOptions::default(),
        Arc::new(Recorder::default()),
    )
    .expect("open");
    assert_eq!(read_all(&mut r).expect("read").1.len(), members.len());
}

#[test]
fn bsd_writer_is_read_by_restore() {
    let members = sample(Flavor::Bsd, is_root());
    let bytes = write_to_bytes(
        Flavor::Bsd,
        opts(Flavor::Bsd, &[("blocking-factor", "32")]),
        &members,
        Arc::new(Recorder::default()),
    );
    assert_eq!(&bytes[24..28], &60012u32.to_le_bytes());
    assert_eq!(&bytes[888..892], &3i32.to_le_bytes());
    check_written(Flavor::Bsd, &bytes, &members);
    // 1 MiB records
    let bytes = write_to_bytes(
        Flavor::Bsd,
        opts(Flavor::Bsd, &[("blocking-factor", "1024")]),
        &members,
        Arc::new(Recorder::default()),
    );
    assert_eq!(bytes.len() % (1 << 20), 0);
    let mut r = DumpReader::open(
        Box::new(MemoryMedium::from_bytes(&bytes, 1 << 20)),
        Arc::new(Recorder::default()),
        ReadOptions::default(),
        crate::BSD_ID,
    )
    .expect("open");
    assert_eq!(read_all(&mut r).expect("read").1.len(), members.len());
}

#[test]
fn acls_and_system_xattrs() {
    let mut members = sample(Flavor::Bsd, false);
    let acl = {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (1u16, 6u16, u32::MAX),
            (2, 4, 1000),
            (4, 4, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 0, u32::MAX),
        ] {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    };
    let f = members
        .iter_mut()
        .find(|m| m.entry.path == b"empty")
        .expect("f");
    f.entry.acls = vec![Acl {
        kind: "posix.access".into(),
        data: acl.clone(),
    }];
    f.entry.xattrs = vec![Xattr {
        name: b"system.foo".to_vec(),
        value: b"x".to_vec(),
    }];
    let host = Arc::new(Recorder::default());
    let bytes = write_to_bytes(Flavor::Bsd, opts(Flavor::Bsd, &[]), &members, host.clone());
    assert!(host
        .warnings
        .lock()
        .expect("l")
        .iter()
        .any(|w| w.contains("system.foo")));
    let mut r =
        open_bytes(bytes, ReadOptions::default(), Arc::new(Recorder::default())).expect("open");
    let (_, back) = read_all(&mut r).expect("read");
    let e = &back
        .iter()
        .find(|m| m.entry.path == b"empty")
        .expect("e")
        .entry;
    assert_eq!(
        e.acls,
        vec![Acl {
            kind: "posix.access".into(),
            data: acl
        }]
    );
}

#[test]
fn multi_volume_irix_at_1440k_restores_with_restore_m() {
    let mut members = sample(Flavor::Irix, false);
    let noise: Vec<u8> = (0..2_500_000u32)
        .map(|i| (i.wrapping_mul(2246822519) >> 11) as u8)
        .collect();
    members.push(member("noise.bin", EntryKind::File, &noise));
    for (label, cap_opt, medium_cap) in [
        ("capacity option", Some("1440k"), None),
        ("early warning", None, Some(1440 * 1024u64)),
    ] {
        let vols = Arc::new(Mutex::new(vec![Vec::new()]));
        let pairs: Vec<(&str, &str)> = cap_opt.map(|c| vec![("capacity", c)]).unwrap_or_default();
        let mut w = DumpWriter::create(
            Box::new(VolumeSink {
                vols: vols.clone(),
                capacity: medium_cap,
            }),
            Flavor::Irix,
            opts(Flavor::Irix, &pairs),
            Arc::new(Recorder::default()),
        );
        write_all(&mut w, &VolumeInfo::default(), &members).expect("write");
        let v = vols.lock().expect("lock").clone();
        assert_eq!(v.len(), 3, "{label}: 3.2 MB over 1440 KiB volumes");
        if cap_opt.is_some() {
            assert!(
                v.iter().all(|x| x.len() <= 1440 * 1024),
                "{label}: a volume passes the capacity"
            );
        }
        let mut r = DumpReader::open(
            Box::new(Volumes::new(v.clone())),
            Arc::new(Recorder::default()),
            ReadOptions::default(),
            crate::IRIX_ID,
        )
        .expect("open");
        let (_, back) = read_all(&mut r).expect("read the set");
        assert_eq!(
            back.iter()
                .find(|m| m.entry.path == b"noise.bin")
                .expect("n")
                .data,
            noise
        );
        // a missing volume is named
        let mut r = DumpReader::open(
            Box::new(Volumes::new(v[..2].to_vec())),
            Arc::new(Recorder::default()),
            ReadOptions::default(),
            crate::IRIX_ID,
        )
        .expect("open");
        let err = read_all(&mut r).expect_err("volume 3 missing");
        assert_eq!(err.kind, ErrorKind::Truncated, "{err}");
        if have_restore() {
            let dir = tempfile::tempdir().expect("tmp");
            for (i, vol) in v.iter().enumerate() {
                std::fs::write(dir.path().join(format!("vol{:03}", i + 1)), vol).expect("w");
            }
            let out = restore_x(&["-x", "-a", "-M"], &dir.path().join("vol"));
            assert_eq!(
                std::fs::read(out.path().join("noise.bin")).expect("r"),
                noise
            );
            assert_eq!(
                std::fs::read(out.path().join("big.bin")).expect("r"),
                members
                    .iter()
                    .find(|m| m.entry.path == b"big.bin")
                    .expect("b")
                    .data
            );
        }
    }
}

#[test]
fn levels_with_a_dumpdates_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let dd = dir.path().join("dumpdates");
    let dds = dd.to_str().expect("utf8");
    let mut members = sample(Flavor::Irix, false);
    let l0 = opts(
        Flavor::Irix,
        &[
            ("level", "0"),
            ("dumpdates", dds),
            ("filesystem", "/src"),
            ("dump-date", "1650000000"),
        ],
    );
    let _ = write_to_bytes(Flavor::Irix, l0, &members, Arc::new(Recorder::default()));
    let text = std::fs::read_to_string(&dd).expect("dumpdates written");
    assert_eq!(text, "/src             0 Fri Apr 15 05:20:00 2022\n");
    // one changed file, one new file, one removed
    let changed = members
        .iter_mut()
        .find(|m| m.entry.path == b"dir/hello.txt")
        .expect("h");
    changed.entry.mtime = Some(Timestamp::from_secs(1_700_000_000));
    let mut new = member("dir/new.txt", EntryKind::File, b"new\n");
    new.entry.ctime = Some(Timestamp::from_secs(1_700_000_001));
    members.push(new);
    members.retain(|m| m.entry.path != b"empty");
    let l1 = opts(
        Flavor::Irix,
        &[
            ("level", "1"),
            ("dumpdates", dds),
            ("filesystem", "/src"),
            ("dump-date", "1700000100"),
        ],
    );
    let bytes = write_to_bytes(Flavor::Irix, l1, &members, Arc::new(Recorder::default()));
    let text = std::fs::read_to_string(&dd).expect("dumpdates");
    assert!(
        text.contains("/src             1 Tue Nov 14 22:15:00 2023"),
        "{text}"
    );
    let mut r = open_bytes(
        bytes.clone(),
        ReadOptions::default(),
        Arc::new(Recorder::default()),
    )
    .expect("open");
    let (vol, back) = read_all(&mut r).expect("read");
    assert_eq!(vol.since, Some(Timestamp::from_secs(1_650_000_000)));
    assert_eq!(vol.level, Some(1));
    let paths: BTreeSet<&[u8]> = back.iter().map(|m| m.entry.path.as_slice()).collect();
    // the changed file's other name (dir/again) lives in a dumped directory: listed too
    let want: BTreeSet<&[u8]> = [
        &b"."[..],
        b"dir",
        b"dir/hello.txt",
        b"dir/again",
        b"dir/new.txt",
    ]
    .into_iter()
    .collect();
    assert_eq!(paths, want);
    if have_restore() {
        let f = dir.path().join("l1.dump");
        std::fs::write(&f, &bytes).expect("w");
        let listed: BTreeSet<Vec<u8>> = restore_list(&f, false)
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        assert_eq!(listed, want.iter().map(|p| p.to_vec()).collect());
    }
    assert!(crate::dumpdates_report(&dd).contains("Level 1, Date Tue Nov 14 22:15:00 2023"));
}

// ---- bad input -----------------------------------------------------------------------

#[test]
fn bad_headers_give_offsets_and_salvage_skips() {
    let data = std::fs::read(fixtures().join("basic.dump")).expect("f");
    // find the header of hello.txt's inode (16) and break its checksum
    let at = (0..data.len() / 1024)
        .map(|i| i * 1024)
        .find(|&o| {
            crate::layout::is_header(
                &data[o..],
                &crate::layout::Layout {
                    endian: crate::layout::Endian::Little,
                    generation: crate::layout::Generation::Nfs,
                },
            ) && data[o] == 2
                && data[o + 20] == 16
        })
        .expect("header of inode 16");
    let mut bad = data.clone();
    bad[at + 600] ^= 0xff;
    let mut r = open_bytes(
        bad.clone(),
        ReadOptions::default(),
        Arc::new(Recorder::default()),
    )
    .expect("open");
    let err = read_all(&mut r).expect_err("bad checksum");
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert_eq!(err.offset, Some(at as u64));
    assert!(
        err.message.contains("last complete file: fifo"),
        "{}",
        err.message
    );
    let host = Arc::new(Recorder::default());
    let mut r = open_bytes(
        bad,
        ReadOptions {
            salvage: true,
            ..ReadOptions::default()
        },
        host.clone(),
    )
    .expect("open");
    let (_, members) = read_all(&mut r).expect("salvaged");
    assert!(members.iter().all(|m| m.entry.path != b"hello.txt"));
    assert!(members.iter().any(|m| m.entry.path == b"xfile"));
    assert!(
        host.warnings
            .lock()
            .expect("l")
            .iter()
            .any(|w| w.contains("salvage: skipped 2 damaged blocks")),
        "{:?}",
        host.warnings.lock()
    );
    // truncation
    let mut r = open_bytes(
        data[..at + 1024].to_vec(),
        ReadOptions::default(),
        Arc::new(Recorder::default()),
    )
    .expect("open");
    let err = read_all(&mut r).expect_err("truncated");
    assert_eq!(err.kind, ErrorKind::Truncated, "{err}");
    // not a dump at all; a map that claims more than the input holds
    assert!(open_bytes(
        vec![0u8; 4096],
        ReadOptions::default(),
        Arc::new(Recorder::default())
    )
    .is_err());
    let mut huge = data[..1024 * 3].to_vec();
    let e = crate::layout::Endian::Little;
    e.put_i32(&mut huge[1024..], crate::layout::OFF_COUNT, i32::MAX);
    crate::layout::set_checksum(&mut huge[1024..2048], e);
    let r = open_bytes(huge, ReadOptions::default(), Arc::new(Recorder::default()));
    assert!(
        matches!(r, Err(ref e) if e.kind == ErrorKind::Truncated),
        "{:?}",
        r.err()
    );
}

#[test]
fn smoke_fuzz_over_the_fixtures() {
    let seeds: Vec<Vec<u8>> = [
        "level1.dump",
        "ofs-4.1bsd.dump",
        "ufs2.dump",
        "irix-60011.dump",
        "zlib.dump",
        "lzo.dump",
        "bzip2.dump",
    ]
    .iter()
    .map(|n| std::fs::read(fixtures().join(n)).expect("fixture"))
    .collect();
    smoke_fuzz(&seeds, 40, crate::fuzz_read);
}

#[test]
fn writer_options_follow_irix_dump() {
    let o = opts(Flavor::Irix, &[("density", "6250"), ("length", "2400")]);
    assert_eq!(o.ntrec, 32, "high density blocking");
    // 32 KiB records at 625 bytes per 0.1": 52 tenths + 5 gap; 2400 ft = 288000 tenths
    assert_eq!(o.tenths, Some((32768 / 625 + 5, 2400 * 120)));
    let mut bad = relic_plugin_sdk::Options::new();
    bad.set("magic", "60011");
    assert!(
        WriteOptions::parse(Flavor::Bsd, &bad).is_err(),
        "bsd-dump writes 60012 only"
    );
    for (k, v) in [
        ("level", "10"),
        ("blocking-factor", "2000"),
        ("capacity", "10k"),
        ("label", "a-label-that-is-too-long"),
        ("length", "100"),
        ("nonsense", "1"),
    ] {
        let mut o = relic_plugin_sdk::Options::new();
        o.set(k, v);
        assert!(WriteOptions::parse(Flavor::Irix, &o).is_err(), "{k}={v}");
    }
    // a volume change estimated from length x density
    let members = sample(Flavor::Irix, false);
    let vols = Arc::new(Mutex::new(vec![Vec::new()]));
    let o = opts(Flavor::Irix, &[("density", "1600"), ("length", "1")]);
    let mut w = DumpWriter::create(
        Box::new(VolumeSink {
            vols: vols.clone(),
            capacity: None,
        }),
        Flavor::Irix,
        o,
        Arc::new(Recorder::default()),
    );
    write_all(&mut w, &VolumeInfo::default(), &members).expect("write");
    let v = vols.lock().expect("lock").clone();
    // 1 ft = 120 tenths; a 10 KiB record at 160 bytes/0.1" takes 64 + 8 tenths: 2 records a volume
    assert!(
        v.len() > 10 && v.iter().all(|x| x.len() <= 2 * 10240),
        "{} volumes",
        v.len()
    );
    let mut r = DumpReader::open(
        Box::new(Volumes::new(v)),
        Arc::new(Recorder::default()),
        ReadOptions::default(),
        crate::IRIX_ID,
    )
    .expect("open");
    let (_, back) = read_all(&mut r).expect("read the set");
    assert_eq!(
        back.iter()
            .find(|m| m.entry.path == b"big.bin")
            .expect("b")
            .data
            .len(),
        700_000
    );
}
