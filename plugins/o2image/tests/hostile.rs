//! Bad input: every case ends in a clear error or in per-entry warnings naming blocks, never
//! a panic, a hang or an allocation proportional to a claimed size. The images are small
//! packed images holding only the blocks a listing of a real fixture reads (so every byte
//! a mutation touches matters), modified on purpose; then deterministic mutations of all of
//! them (smoke fuzz), and a 1 TiB volume's packed image listed with bounded reads.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use relic_format_o2image::layout::{self, DirEntries, ExtentList, Inode};
use relic_format_o2image::{O2Reader, ReadOptions};
use relic_model::{ErrorKind, NullHost};
use relic_plugin_sdk::testing::smoke_fuzz;

fn opts() -> ReadOptions {
    ReadOptions::default()
}

/// A fixture's metadata blocks, its block size and block count (computed once).
fn trimmed(name: &str) -> (BTreeMap<u64, Vec<u8>>, u64, u64) {
    type Cache = Mutex<std::collections::HashMap<String, (BTreeMap<u64, Vec<u8>>, u64, u64)>>;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    c.entry(name.to_string())
        .or_insert_with(|| {
            let raw = fixture(name, "raw");
            let (bs, n) = geometry(&raw);
            (touched_blocks(&raw, bs, false), bs, n)
        })
        .clone()
}

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// The inode number of `path` in a listing of `blocks`.
fn ino(blocks: &BTreeMap<u64, Vec<u8>>, bs: u64, n: u64, path: &str) -> u64 {
    let (got, _) = read_src(mem(packed_bytes(bs, n, blocks)), opts());
    got[path.as_bytes()].entry.inode.expect("inode")
}

#[test]
fn trimmed_images_list_like_the_originals() {
    for (name, _) in VOLUMES.iter().filter(|(_, e)| e.contains(&"raw")) {
        let (blocks, bs, n) = trimmed(name);
        let (a, wa) = read_path(
            &fixture(name, "raw"),
            ReadOptions {
                system: true,
                kind: None,
            },
        );
        let (b, wb) = read_src(
            mem(packed_bytes(bs, n, &blocks)),
            ReadOptions {
                system: true,
                kind: None,
            },
        );
        assert_eq!(wa, wb, "{name}");
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (p, g) in &a {
            let mut want = g.entry.clone();
            if p.starts_with(b".ocfs2-system/") {
                // the trimmed image holds no system-file data (a listing does not read it)
                want.data = b[p].entry.data;
                want.data_map = b[p].entry.data_map.clone();
            }
            assert_eq!(want, b[p].entry, "{name}: {}", String::from_utf8_lossy(p));
        }
    }
}

#[test]
fn broken_headers_are_clear_errors() {
    let (blocks, bs, n) = trimmed("empty-1k");
    let good = packed_bytes(bs, n, &blocks);
    let open = |v: Vec<u8>| O2Reader::open(mem(v), opts(), Arc::new(NullHost)).err();
    // truncated header
    let e = open(good[..100].to_vec()).expect("fails");
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
    // the header says more blocks are stored than the file holds
    let mut v = good.clone();
    v[0x30..0x38].copy_from_slice(&(n - 1).to_le_bytes());
    let e = open(v).expect("fails");
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
    assert!(e.message.contains("the file has"), "{e}");
    // ... or more than the file system has
    let mut v = good.clone();
    v[0x30..0x38].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = open(v).expect("fails");
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    // a file-system size whose bitmap would be 2^57 bytes: refused before allocating
    let mut v = good.clone();
    v[0x20..0x28].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let e = open(v).expect("fails");
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
    // a version from the future, a bad block size
    let mut v = good.clone();
    v[0x18] = 2;
    assert_eq!(open(v).expect("fails").kind, ErrorKind::Unsupported);
    let mut v = good.clone();
    v[0x28..0x30].copy_from_slice(&3000u64.to_le_bytes());
    assert_eq!(open(v).expect("fails").kind, ErrorKind::Corrupt);
    // the bitmap marks one more block (the volume's last) than the header says: a warning,
    // and the image index past N counts as not stored
    let mut v = good.clone();
    let stored = blocks.len() as u64;
    let bitmap_at = ((stored + 1) * bs) as usize;
    let last = n - 1;
    v[bitmap_at + (last / 8) as usize] |= 1 << (last % 8);
    let (got, w) = read_src(mem(v), opts());
    assert!(
        w.iter().any(|w| w.contains(&format!(
            "marks {} blocks as stored, the header says {stored}",
            stored + 1
        ))),
        "{w:?}"
    );
    assert!(got.contains_key(&b"lost+found"[..]));
    // no superblock anywhere
    let e = open(vec![0u8; 64 * 1024]).expect("fails");
    assert_eq!(e.kind, ErrorKind::Corrupt);
    assert!(e.message.contains("no OCFS2 superblock"), "{e}");
}

#[test]
fn loops_in_extent_trees_are_cut() {
    // default-1k's docs/fragmented.bin has an extent tree of depth 2
    let (mut blocks, bs, n) = trimmed("default-1k");
    let frag = ino(&blocks, bs, n, "docs/fragmented.bin");
    let di = blocks[&frag].clone();
    let root = ExtentList::parse(&di[layout::ID2..]).expect("list");
    assert_eq!(root.depth, 2);
    let top = root.recs[0].blkno;
    // 1. the depth-1 extent block points back at itself
    let mut eb = blocks[&top].clone();
    let child = le64(&eb, 0x40 + 8);
    eb[0x40 + 8..0x40 + 16].copy_from_slice(&top.to_le_bytes());
    blocks.insert(top, eb);
    let (got, w) = read_src(mem(packed_bytes(bs, n, &blocks)), opts());
    let f = &got[&b"docs/fragmented.bin"[..]];
    assert_eq!(f.entry.data, relic_model::DataState::Absent);
    assert!(
        w.iter().any(|w| w.contains("docs/fragmented.bin")
            && w.contains(&format!("extent block {top} has depth 1, its parent 1"))),
        "{w:?}"
    );
    // 2. the second record repeats the first subtree: leaves go backwards
    let mut eb = blocks[&top].clone();
    eb[0x40 + 8..0x40 + 16].copy_from_slice(&child.to_le_bytes());
    eb[0x50 + 8..0x50 + 16].copy_from_slice(&child.to_le_bytes());
    blocks.insert(top, eb);
    let (_, w) = read_src(mem(packed_bytes(bs, n, &blocks)), opts());
    assert!(
        w.iter()
            .any(|w| w.contains("docs/fragmented.bin") && w.contains("overlaps or precedes")),
        "{w:?}"
    );
    // 3. an extent block that is not one
    let mut eb = blocks[&top].clone();
    eb[0..8].copy_from_slice(b"GARBAGE!");
    blocks.insert(top, eb);
    let (got, w) = read_src(mem(packed_bytes(bs, n, &blocks)), opts());
    assert!(
        w.iter()
            .any(|w| w.contains(&format!("extent block {top}: no extent block signature"))),
        "{w:?}"
    );
    assert!(
        got.contains_key(&b"docs/sparse.bin"[..]),
        "the walk goes on"
    );
}

/// Offset of the entry named `name` in the inline directory of inode block `b`.
fn inline_entry(b: &[u8], name: &[u8]) -> usize {
    let size = le64(b, 0x20) as usize;
    let area = &b[layout::INLINE_DATA..layout::INLINE_DATA + size];
    let e = DirEntries::new(area)
        .find(|e| e.name == name)
        .expect("entry");
    layout::INLINE_DATA + e.offset
}

#[test]
fn directory_loops_are_not_followed() {
    let (mut blocks, bs, n) = trimmed("default-1k");
    let deep = ino(&blocks, bs, n, "deep");
    let d = ino(&blocks, bs, n, "deep/a/b/c/d");
    // deep/a/b/c/d/leaf now names the directory deep
    let mut b = blocks[&d].clone();
    let at = inline_entry(&b, b"leaf");
    b[at..at + 8].copy_from_slice(&deep.to_le_bytes());
    blocks.insert(d, b);
    let (got, w) = read_src(mem(packed_bytes(bs, n, &blocks)), opts());
    let leaf = &got[&b"deep/a/b/c/d/leaf"[..]];
    assert_eq!(leaf.entry.kind, relic_model::EntryKind::Dir);
    assert!(
        !got.contains_key(&b"deep/a/b/c/d/leaf/a"[..]),
        "not entered again"
    );
    assert!(
        w.iter().any(|w| w.contains("deep/a/b/c/d/leaf")
            && w.contains(&format!("directory inode {deep} was already listed"))),
        "{w:?}"
    );
}

#[test]
fn bad_directory_records_end_their_block() {
    // max-compat has no inline directories: entries live in directory blocks
    let (mut blocks, bs, n) = trimmed("maxcompat-1k-2slot");
    let dir = ino(&blocks, bs, n, "names");
    let di = Inode::parse(&blocks[&dir]);
    assert!(!di.inline_data());
    let list = ExtentList::parse(&blocks[&dir][layout::ID2..]).expect("list");
    let db = list.recs[0].blkno;
    let orig = blocks[&db].clone();
    let entries: Vec<(usize, Vec<u8>)> = DirEntries::new(&orig)
        .map(|e| (e.offset, e.name.to_vec()))
        .collect();
    // entries: . .. then the four files; break the record of the fourth entry
    let (at, victim) = entries[3].clone();
    let before: Vec<Vec<u8>> = entries[2..3].iter().map(|e| e.1.clone()).collect();
    let check = |blocks: &BTreeMap<u64, Vec<u8>>, want: &str| {
        let (got, w) = read_src(mem(packed_bytes(bs, n, blocks)), opts());
        for b in &before {
            let p = [b"names/".as_slice(), b].concat();
            assert!(got.contains_key(&p), "entries before the bad one stay");
        }
        let p = [b"names/".as_slice(), &victim].concat();
        assert!(!got.contains_key(&p));
        assert!(
            w.iter().any(|w| w.contains(&format!(
                "directory names: block {db}, offset {at}: bad entry ({want}"
            ))),
            "{w:?}"
        );
        assert!(got.contains_key(&b"xattrs/file"[..]), "the walk goes on");
    };
    // rec_len 0
    let mut b = orig.clone();
    b[at + 8..at + 10].copy_from_slice(&0u16.to_le_bytes());
    blocks.insert(db, b);
    check(&blocks, "rec_len 0 is below 12");
    // name_len past the record
    let mut b = orig.clone();
    b[at + 10] = 255;
    blocks.insert(db, b);
    check(&blocks, "name_len 255 does not fit");
    // rec_len past the block
    let mut b = orig.clone();
    b[at + 8..at + 10].copy_from_slice(&4000u16.to_le_bytes());
    blocks.insert(db, b);
    check(&blocks, "rec_len 4000 runs past the end");
    // an inode number past the volume: that entry alone is skipped
    let mut b = orig.clone();
    b[at..at + 8].copy_from_slice(&(n + 5).to_le_bytes());
    blocks.insert(db, b);
    let (got, w) = read_src(mem(packed_bytes(bs, n, &blocks)), opts());
    let p = [b"names/".as_slice(), &victim].concat();
    assert!(!got.contains_key(&p));
    assert!(
        w.iter().any(|w| w.contains(&format!(
            "inode number {} is outside the {n}-block volume",
            n + 5
        ))),
        "{w:?}"
    );
    assert!(
        got.contains_key(&[b"names/".as_slice(), &entries[4].1].concat()),
        "later entries stay"
    );
    // an inode the image does not hold
    let mut b = orig.clone();
    b[at..at + 8].copy_from_slice(&(n - 1).to_le_bytes());
    blocks.insert(db, b);
    let (_, w) = read_src(mem(packed_bytes(bs, n, &blocks)), opts());
    assert!(
        w.iter()
            .any(|w| w.contains(&format!("inode {} is not in the image", n - 1))),
        "{w:?}"
    );
}

#[test]
fn a_missing_directory_block_makes_it_incomplete() {
    let (mut blocks, bs, n) = trimmed("maxcompat-1k-2slot");
    let dir = ino(&blocks, bs, n, "many");
    let list = ExtentList::parse(&blocks[&dir][layout::ID2..]).expect("list");
    let second = list.recs[0].blkno + 1;
    assert!(blocks.remove(&second).is_some());
    let (got, w) = read_src(mem(packed_bytes(bs, n, &blocks)), opts());
    let listed = got.keys().filter(|k| k.starts_with(b"many/")).count();
    assert!(listed > 0 && listed < 300, "{listed}");
    assert!(
        w.iter()
            .any(|w| w.contains("directory many is incomplete: 1 of its")
                && w.contains(&format!("first missing: block {second}"))),
        "{w:?}"
    );
}

#[test]
fn lying_inodes_stay_bounded() {
    let (mut blocks, bs, n) = trimmed("default-1k");
    let hello = ino(&blocks, bs, n, "hello.txt");
    let many = ino(&blocks, bs, n, "many");
    // inline data claiming 2^62 bytes; a directory claiming 2^62 bytes and 2^32-1 clusters
    let mut b = blocks[&hello].clone();
    b[0x20..0x28].copy_from_slice(&(1u64 << 62).to_le_bytes());
    blocks.insert(hello, b);
    let mut b = blocks[&many].clone();
    b[0x20..0x28].copy_from_slice(&(1u64 << 62).to_le_bytes());
    b[0x14..0x18].copy_from_slice(&u32::MAX.to_le_bytes());
    blocks.insert(many, b);
    let (got, w) = read_src(mem(packed_bytes(bs, n, &blocks)), opts());
    let h = &got[&b"hello.txt"[..]];
    assert_eq!(h.entry.size, 1 << 62);
    assert_eq!(h.entry.data, relic_model::DataState::Absent);
    assert!(
        w.iter()
            .any(|w| w.contains("hello.txt: inline data claims")),
        "{w:?}"
    );
    assert_eq!(got.keys().filter(|k| k.starts_with(b"many/")).count(), 300);
}

#[test]
fn non_seekable_input_is_refused() {
    use relic_plugin_sdk::testing::HostileMedium;
    use relic_plugin_sdk::{Options, Plugin, Stream};
    let bytes = std::fs::read(fixture("empty-1k", "o2i")).expect("read");
    let stream = Stream {
        location: b"-".to_vec(),
        medium: Some(Box::new(HostileMedium::new(bytes, &[]))),
    };
    let e = relic_format_o2image::O2imagePlugin::open_reader(
        "o2image",
        stream,
        &Options::new(),
        Arc::new(NullHost),
    )
    .err()
    .expect("refused");
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert!(
        e.message.contains("random access") && e.message.contains("hostile medium"),
        "{e}"
    );
}

#[test]
fn smoke_fuzz_over_the_fixtures() {
    let mut seeds = Vec::new();
    for (name, _) in VOLUMES.iter().filter(|(_, e)| e.contains(&"raw")) {
        let (blocks, bs, n) = trimmed(name);
        seeds.push(packed_bytes(bs, n, &blocks));
    }
    // the whole packed image of the 1.1 GB volume too (a backup superblock, two slots)
    seeds.push(std::fs::read(fixture("backup-1100m", "o2i")).expect("read"));
    // small seeds get many mutations; the big one a few
    let small: Vec<Vec<u8>> = seeds
        .iter()
        .filter(|s| s.len() < 4 << 20)
        .cloned()
        .collect();
    let big: Vec<Vec<u8>> = seeds
        .iter()
        .filter(|s| s.len() >= 4 << 20)
        .cloned()
        .collect();
    smoke_fuzz(&small, 40, relic_format_o2image::fuzz_read);
    smoke_fuzz(&big, 3, relic_format_o2image::fuzz_read);
}

/// A ReadAt over a map of blocks (everything else zeros) of a given length: a raw image
/// without its gigabytes of holes.
struct Sparse {
    blocks: BTreeMap<u64, Vec<u8>>,
    bs: u64,
    len: u64,
}

impl relic_format_o2image::image::ReadAt for Sparse {
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        if off >= self.len {
            return Ok(0);
        }
        let n = ((self.len - off) as usize).min(buf.len());
        buf[..n].fill(0);
        let (first, last) = (off / self.bs, (off + n as u64 - 1) / self.bs);
        for (&k, b) in self.blocks.range(first..=last) {
            let (a, z) = (k * self.bs, (k + 1) * self.bs);
            let (x, y) = (a.max(off), z.min(off + n as u64));
            buf[(x - off) as usize..(y - off) as usize]
                .copy_from_slice(&b[(x - a) as usize..(y - a) as usize]);
        }
        Ok(n)
    }
    fn len(&self) -> u64 {
        self.len
    }
}

#[test]
fn smoke_fuzz_raw_layout() {
    // mutations inside the metadata blocks of raw images (the headerless code path)
    for name in ["default-1k", "maxfeat-4k-8k"] {
        let (blocks, bs, n) = trimmed(name);
        let keys: Vec<u64> = blocks.keys().copied().collect();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..60 {
            let mut m = blocks.clone();
            for _ in 0..1 + next() % 4 {
                let k = keys[(next() % keys.len() as u64) as usize];
                let b = m.get_mut(&k).expect("block");
                let at = (next() % bs) as usize;
                match next() % 3 {
                    0 => b[at] ^= 1 << (next() % 8),
                    1 => b[at] = 0xff,
                    _ => {
                        let at = at.min(bs as usize - 4);
                        b[at..at + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
                    }
                }
            }
            let src = Sparse {
                blocks: m,
                bs,
                len: (n - 1) * bs,
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let Ok(mut r) = O2Reader::open(
                    Box::new(src),
                    ReadOptions {
                        system: true,
                        kind: None,
                    },
                    Arc::new(NullHost),
                ) else {
                    return;
                };
                let mut buf = vec![0u8; 1 << 16];
                let mut count = 0;
                while let Ok(Some(e)) = relic_model::FormatReader::next_entry(&mut r) {
                    count += 1;
                    assert!(count < 100_000);
                    if e.has_data() {
                        let mut chunks = 0;
                        while let Ok(c) = relic_model::FormatReader::read_data(&mut r, &mut buf) {
                            if c == relic_model::Chunk::End {
                                break;
                            }
                            chunks += 1;
                            if chunks > 1000 {
                                let _ = relic_model::FormatReader::skip_data(&mut r);
                                break;
                            }
                        }
                    }
                }
            }));
            assert!(r.is_ok(), "{name}: round {round} panicked");
        }
    }
}

#[test]
fn a_one_tib_volume_lists_with_bounded_reads() {
    // xattrdir-4k's metadata, in a packed image that says the volume has 2^28 4 KiB blocks
    let (mut blocks, bs, _) = trimmed("xattrdir-4k");
    let fs_blocks = 1u64 << 28;
    let sb = blocks.get_mut(&2).expect("superblock");
    sb[0x14..0x18].copy_from_slice(&(fs_blocks as u32).to_le_bytes()); // 4K clusters: bpc 1
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("1tib.o2i");
    {
        let f = std::fs::File::create(&p).expect("create");
        let mut w = std::io::BufWriter::new(f);
        build_packed(bs, fs_blocks, &blocks, &mut w);
        w.flush().expect("flush");
    }
    let len = std::fs::metadata(&p).expect("meta").len();
    let bitmap = fs_blocks / 8;
    assert_eq!(len, (1 + blocks.len() as u64) * bs + bitmap);
    let bytes = Arc::new(Mutex::new(0u64));
    let rec = Recorder {
        inner: Box::new(
            relic_format_o2image::image::FileSource::open(&p.to_string_lossy()).expect("open"),
        ),
        bs,
        blocks: Arc::new(Mutex::new(Default::default())),
        bytes: bytes.clone(),
    };
    let cap = Arc::new(Capture::default());
    let mut r = O2Reader::open(Box::new(rec), opts(), cap.clone()).expect("opens");
    // the rank index: 8 bytes per 4096-byte bitmap chunk = 64 KiB for 1 TiB
    let idx = r.index_bytes();
    assert!(idx <= 64 * 1024 + 2 * 4096, "index {idx} bytes");
    let mut names = Vec::new();
    while let Some(e) = relic_model::FormatReader::next_entry(&mut r).expect("entry") {
        names.push(e.path);
    }
    assert!(names.contains(&b"plain/f".to_vec()));
    let idx = r.index_bytes();
    assert!(
        idx <= 64 * 1024 + relic_format_o2image::image::CACHE_CHUNKS * 4096,
        "index {idx} bytes"
    );
    // one streaming pass over the bitmap plus the blocks of the walk
    let read = *bytes.lock().unwrap_or_else(|e| e.into_inner());
    let limit = bitmap + (blocks.len() as u64 + 64) * bs * 4;
    assert!(read <= limit, "read {read} bytes, limit {limit}");
}

/// Seeds for the cargo-fuzz target (`cargo xtask fuzz o2image` copies fixtures/o2image/**
/// files up to 1 MiB into its corpus; the xz-compressed images are no use to it):
/// `RELIC_FUZZ_SEEDS=fixtures/o2image/seeds cargo test -p relic-format-o2image --test hostile
/// -- --ignored write_fuzz_seeds` writes the trimmed packed images of up to 128 KiB there.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let dir = std::env::var("RELIC_FUZZ_SEEDS").expect("set RELIC_FUZZ_SEEDS to a directory");
    for (name, _) in VOLUMES.iter().filter(|(_, e)| e.contains(&"raw")) {
        let (blocks, bs, n) = trimmed(name);
        let bytes = packed_bytes(bs, n, &blocks);
        if bytes.len() <= 128 << 10 {
            let p = std::path::Path::new(&dir).join(format!("{name}.trimmed.o2i"));
            std::fs::write(&p, bytes).expect("write seed");
        }
    }
}

#[test]
fn a_raw_volume_with_a_damaged_primary_superblock_uses_the_backup() {
    // the 1.1 GB volume as a raw image (its packed image's blocks at their offsets)
    let (bs, fs_blocks, mut blocks) = unpack_packed(&fixture("backup-1100m", "o2i"));
    let (clean, _) = read_src(
        Box::new(Sparse {
            blocks: blocks.clone(),
            bs,
            len: fs_blocks * bs,
        }),
        opts(),
    );
    assert!(
        blocks.contains_key(&262144),
        "the backup superblock at 1 GiB"
    );
    blocks.get_mut(&2).expect("superblock")[..8].copy_from_slice(b"XXXXXXXX");
    let cap = Arc::new(Capture::default());
    let src = Sparse {
        blocks,
        bs,
        len: fs_blocks * bs,
    };
    let mut r = O2Reader::open(Box::new(src), opts(), cap.clone()).expect("opens from the backup");
    assert_eq!(
        r.kind(),
        relic_format_o2image::Kind::Volume,
        "as long as the volume"
    );
    let mut names = vec![];
    while let Some(e) = relic_model::FormatReader::next_entry(&mut r).expect("entry") {
        names.push(e.path);
    }
    assert!(
        cap.warnings().iter().any(|w| w.contains("no valid primary superblock at block 2; using the backup at byte 1073741824 (block 262144)")),
        "{:?}",
        cap.warnings()
    );
    let want: std::collections::BTreeSet<Vec<u8>> = clean.keys().cloned().collect();
    let got: std::collections::BTreeSet<Vec<u8>> = names.into_iter().collect();
    assert_eq!(got, want);
}
