//! Shared helpers of the o2image plugin tests: the committed fixtures (xz-compressed, made
//! by fixtures/o2image/make.sh) decompressed once per test process with `xz -dc`, the guest
//! kernel's oracle of every path, a host that records warnings, reading a whole image in
//! process, and building packed images from chosen blocks.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use relic_format_o2image::image::{FileSource, MemSource, ReadAt};
use relic_format_o2image::{O2Reader, ReadOptions};
use relic_model::{Chunk, Entry, FormatReader, Host, LogLevel};
use relic_plugin_sdk::HostHandle;

/// Every populated or empty volume, with the images make.sh committed for it.
pub const VOLUMES: &[(&str, &[&str])] = &[
    ("empty-1k", &["o2i", "raw"]),
    ("default-1k", &["o2i", "raw", "img"]),
    ("maxfeat-4k-8k", &["o2i", "raw"]),
    ("maxcompat-1k-2slot", &["o2i", "raw", "img"]),
    ("xattrdir-4k", &["o2i", "raw", "img"]),
    ("backup-1100m", &["o2i"]),
];

pub fn images_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/o2image/images")
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

/// `images/NAME.EXT.xz` decompressed (once per process) into a temporary directory.
pub fn fixture(name: &str, ext: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = scratch().join(format!("{name}.{ext}"));
    if !out.exists() {
        let src = images_dir().join(format!("{name}.{ext}.xz"));
        assert!(src.exists(), "missing fixture {}", src.display());
        let tmp = out.with_extension("part");
        let f = std::fs::File::create(&tmp).expect("create");
        let st = Command::new("xz")
            .arg("-dc")
            .arg(&src)
            .stdout(Stdio::from(f))
            .status()
            .expect("xz runs (install xz-utils)");
        assert!(st.success(), "xz -dc {}", src.display());
        std::fs::rename(&tmp, &out).expect("rename");
    }
    out
}

/// A copy of a fixture that a test may change.
pub fn fixture_copy(name: &str, ext: &str, dir: &Path) -> PathBuf {
    let p = dir.join(format!("{name}.{ext}"));
    std::fs::copy(fixture(name, ext), &p).expect("copy");
    p
}

/// One path as the guest kernel saw it right after populating (populate.c `oracle`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oracle {
    pub ino: u64,
    pub mode: u32,
    pub nlink: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    pub rdev: (u32, u32),
    pub target: Option<Vec<u8>>,
    pub xattrs: BTreeSet<Vec<u8>>,
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return vec![];
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn time(s: &str) -> (i64, u32) {
    let (a, b) = s.split_once('.').expect("secs.nsec");
    (a.parse().expect("secs"), b.parse().expect("nsec"))
}

pub fn oracle(name: &str) -> BTreeMap<Vec<u8>, Oracle> {
    let text = std::fs::read_to_string(fixture(name, "guest.txt")).expect("oracle");
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!(f.len(), 13, "oracle line {line}");
        let (ma, mi) = f[10].split_once(',').expect("rdev");
        m.insert(
            unhex(f[0]),
            Oracle {
                ino: f[1].parse().expect("ino"),
                mode: u32::from_str_radix(f[2], 8).expect("mode"),
                nlink: f[3].parse().expect("nlink"),
                uid: f[4].parse().expect("uid"),
                gid: f[5].parse().expect("gid"),
                size: f[6].parse().expect("size"),
                atime: time(f[7]),
                mtime: time(f[8]),
                ctime: time(f[9]),
                rdev: (ma.parse().expect("major"), mi.parse().expect("minor")),
                target: (f[11] != "-").then(|| unhex(f[11])),
                xattrs: if f[12] == "-" {
                    BTreeSet::new()
                } else {
                    f[12].split(',').map(unhex).collect()
                },
            },
        );
    }
    m
}

/// A host that keeps warnings.
#[derive(Default)]
pub struct Capture(pub Mutex<Vec<String>>);

impl Host for Capture {
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn warn(&self, message: &str, _offset: Option<u64>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.to_string());
    }
    fn cancelled(&self) -> bool {
        false
    }
    fn event(&self, _kind: u32, _payload: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

impl Capture {
    pub fn warnings(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// One entry as read: its data chunks (only the bytes of `Data` chunks are kept, so huge
/// sparse or absent files cost nothing), holes and absent ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub entry: Entry,
    pub chunks: Vec<(u64, Vec<u8>)>,
    pub holes: Vec<(u64, u64)>,
    pub absent: Vec<(u64, u64)>,
}

impl Got {
    /// `len` bytes at `off` (zeros outside data chunks).
    pub fn at(&self, off: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        for (o, d) in &self.chunks {
            let (a, b) = (*o, *o + d.len() as u64);
            let (x, y) = (a.max(off), b.min(off + len as u64));
            if x < y {
                out[(x - off) as usize..(y - off) as usize]
                    .copy_from_slice(&d[(x - a) as usize..(y - a) as usize]);
            }
        }
        out
    }
    /// The whole content (for small files).
    pub fn data(&self) -> Vec<u8> {
        self.at(0, self.entry.size as usize)
    }
}

/// Read a whole image in process: entries by path, and the warnings.
pub fn read_src(src: Box<dyn ReadAt>, opts: ReadOptions) -> (BTreeMap<Vec<u8>, Got>, Vec<String>) {
    let cap = Arc::new(Capture::default());
    let host: HostHandle = cap.clone();
    let mut r = O2Reader::open(src, opts, host).expect("opens");
    let _ = r.volume().expect("volume");
    let mut m = BTreeMap::new();
    let mut buf = vec![0u8; 1 << 20];
    while let Some(entry) = r.next_entry().expect("next entry") {
        let mut g = Got {
            entry,
            chunks: vec![],
            holes: vec![],
            absent: vec![],
        };
        let mut pos = 0u64;
        if g.entry.has_data() {
            loop {
                let c = r.read_data(&mut buf).expect("read data");
                let (off, len) = match c {
                    Chunk::End => break,
                    Chunk::Data { offset, len } => {
                        g.chunks.push((offset, buf[..len as usize].to_vec()));
                        (offset, len)
                    }
                    Chunk::Hole { offset, len } => {
                        g.holes.push((offset, len));
                        (offset, len)
                    }
                    Chunk::Absent { offset, len } => {
                        g.absent.push((offset, len));
                        (offset, len)
                    }
                };
                assert_eq!(off, pos, "chunks in order without gaps");
                assert!(len > 0, "no empty chunks");
                pos += len;
            }
            assert!(pos <= g.entry.size, "chunks end at the size");
            // a data map announced before the data must be exactly the data delivered
            if let Some(map) = &g.entry.data_map {
                let mut got: Vec<(u64, u64)> = vec![];
                for (o, d) in &g.chunks {
                    match got.last_mut() {
                        Some(l) if l.0 + l.1 == *o => l.1 += d.len() as u64,
                        _ => got.push((*o, d.len() as u64)),
                    }
                }
                assert_eq!(
                    &got,
                    map,
                    "{}: data map",
                    String::from_utf8_lossy(&g.entry.path)
                );
            }
        }
        let p = g.entry.path.clone();
        assert!(
            m.insert(p.clone(), g).is_none(),
            "duplicate path {}",
            String::from_utf8_lossy(&p)
        );
    }
    (m, cap.warnings())
}

pub fn read_path(path: &Path, opts: ReadOptions) -> (BTreeMap<Vec<u8>, Got>, Vec<String>) {
    let src = FileSource::open(&path.to_string_lossy()).expect("open");
    read_src(Box::new(src), opts)
}

/// Records which blocks (of size `bs`) a reader touches.
pub struct Recorder {
    pub inner: Box<dyn ReadAt>,
    pub bs: u64,
    pub blocks: Arc<Mutex<BTreeSet<u64>>>,
    pub bytes: Arc<Mutex<u64>>,
}

impl ReadAt for Recorder {
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read_at(off, buf)?;
        if n > 0 {
            let mut b = self.blocks.lock().unwrap_or_else(|e| e.into_inner());
            for blk in off / self.bs..=(off + n as u64 - 1) / self.bs {
                b.insert(blk);
            }
            *self.bytes.lock().unwrap_or_else(|e| e.into_inner()) += n as u64;
        }
        Ok(n)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
}

/// A packed o2image of a `fs_blocks`-block volume holding `blocks` (fs block number and
/// contents), written like o2image does: header, blocks in ascending order, 4096-byte
/// bitmap chunks.
pub fn build_packed(bs: u64, fs_blocks: u64, blocks: &BTreeMap<u64, Vec<u8>>, out: &mut dyn Write) {
    let mut hdr = vec![0u8; bs as usize];
    hdr[0..4].copy_from_slice(&0x72a3_d45fu32.to_le_bytes());
    hdr[4..8].copy_from_slice(&1_000_000_000u32.to_le_bytes());
    hdr[8..20].copy_from_slice(b"OCFS2 IMAGE\0");
    hdr[0x18..0x20].copy_from_slice(&1u64.to_le_bytes());
    hdr[0x20..0x28].copy_from_slice(&fs_blocks.to_le_bytes());
    hdr[0x28..0x30].copy_from_slice(&bs.to_le_bytes());
    hdr[0x30..0x38].copy_from_slice(&(blocks.len() as u64).to_le_bytes());
    hdr[0x38..0x40].copy_from_slice(&4096u64.to_le_bytes());
    out.write_all(&hdr).expect("write");
    for b in blocks.values() {
        assert_eq!(b.len() as u64, bs);
        out.write_all(b).expect("write");
    }
    let chunks = fs_blocks.div_ceil(32768);
    let mut chunk = vec![0u8; 4096];
    let mut it = blocks.keys().peekable();
    for k in 0..chunks {
        chunk.fill(0);
        while let Some(&&n) = it.peek() {
            if n >= (k + 1) * 32768 {
                break;
            }
            let bit = n - k * 32768;
            chunk[(bit / 8) as usize] |= 1 << (bit % 8);
            it.next();
        }
        out.write_all(&chunk).expect("write");
    }
}

/// The blocks a listing (with the system directory; `with_data`: also reading every
/// file's data) of a raw image touches, with their contents: a small packed image of just
/// the metadata relic needs.
pub fn touched_blocks(raw: &Path, bs: u64, with_data: bool) -> BTreeMap<u64, Vec<u8>> {
    let blocks = Arc::new(Mutex::new(BTreeSet::new()));
    let rec = Recorder {
        inner: Box::new(FileSource::open(&raw.to_string_lossy()).expect("open")),
        bs,
        blocks: blocks.clone(),
        bytes: Arc::new(Mutex::new(0)),
    };
    let opts = ReadOptions {
        system: true,
        kind: None,
    };
    if with_data {
        let _ = read_src(Box::new(rec), opts);
    } else {
        let mut r =
            O2Reader::open(Box::new(rec), opts, Arc::new(Capture::default())).expect("opens");
        while let Some(e) = r.next_entry().expect("entry") {
            if e.has_data() {
                r.skip_data().expect("skip");
            }
        }
    }
    let data = std::fs::read(raw).expect("read raw");
    let set = blocks.lock().unwrap_or_else(|e| e.into_inner()).clone();
    set.into_iter()
        .filter_map(|n| {
            let s = (n * bs) as usize;
            data.get(s..s + bs as usize).map(|b| (n, b.to_vec()))
        })
        .collect()
}

/// Block size and block count of a fixture volume (from its superblock at 2 x B).
pub fn geometry(raw: &Path) -> (u64, u64) {
    let data = std::fs::read(raw).expect("read");
    for bs in [512u64, 1024, 2048, 4096] {
        let sb = &data[(2 * bs) as usize..(3 * bs) as usize];
        if &sb[..6] == b"OCFSV2" {
            let clusters = u32::from_le_bytes(sb[0x14..0x18].try_into().expect("4")) as u64;
            let cbits = u32::from_le_bytes(sb[0xC0 + 0x3C..0xC0 + 0x40].try_into().expect("4"));
            let bbits = u32::from_le_bytes(sb[0xC0 + 0x38..0xC0 + 0x3C].try_into().expect("4"));
            return (bs, clusters << (cbits - bbits));
        }
    }
    panic!("no superblock in {}", raw.display());
}

/// The bytes of a packed image built from `blocks`.
pub fn packed_bytes(bs: u64, fs_blocks: u64, blocks: &BTreeMap<u64, Vec<u8>>) -> Vec<u8> {
    let mut v = Vec::new();
    build_packed(bs, fs_blocks, blocks, &mut v);
    v
}

pub fn mem(v: Vec<u8>) -> Box<dyn ReadAt> {
    Box::new(MemSource(v))
}

/// The stored blocks of a packed image (read with the format's rules, independently of the
/// plugin: header fields, then one block per set bitmap bit, in order).
pub fn unpack_packed(path: &Path) -> (u64, u64, BTreeMap<u64, Vec<u8>>) {
    let v = std::fs::read(path).expect("read");
    let le = |o: usize| u64::from_le_bytes(v[o..o + 8].try_into().expect("8 bytes"));
    let (fs_blocks, bs, n) = (le(0x20), le(0x28), le(0x30));
    let bitmap = ((n + 1) * bs) as usize;
    let mut out = BTreeMap::new();
    let mut idx = 1u64;
    for blk in 0..fs_blocks {
        if v[bitmap + (blk / 8) as usize] & (1 << (blk % 8)) != 0 {
            let at = (idx * bs) as usize;
            out.insert(blk, v[at..at + bs as usize].to_vec());
            idx += 1;
        }
    }
    assert_eq!(idx - 1, n);
    (bs, fs_blocks, out)
}
