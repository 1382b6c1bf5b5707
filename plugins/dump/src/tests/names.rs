//! Tests of the names-only path (`relic-intent=names`, `relic list` without `-l`): on every
//! dump fixture it gives exactly the entries of a full read; on 4.4BSD/Linux dumps it stops
//! reading at the end of the directory phase and never asks for a second volume; it falls
//! back to a full read when the directories cannot be trusted to give the kinds; it agrees
//! with `restore -t` where the map and the tape disagree; damage in what it reads gives the
//! errors of a full read.

use std::sync::atomic::{AtomicU64, Ordering};

use relic_model::{Entry, EntryKind, ErrorKind, FormatReader, Medium, MediumInfo, Position, RecordRead};
use relic_model::{RecordStatus, Result, Space, WriteStatus};
use relic_plugin_sdk::testing::{read_all, HostileMedium, Member, MemoryMedium};
use relic_plugin_sdk::{Intent, Options, Plugin};

use super::*;
use crate::layout::{
    self, Generation, Header, InodeFormat, DR_COMPRESSED, DR_EXTATTRIBUTES, DR_NEWINODEFMT,
    S_IFDIR, S_IFMT, TP_BSIZE, TS_BITS, TS_END, TS_INODE,
};
use crate::read::MAX_NAMES_MAP;

/// One input: a single dump file or a volume set (a directory of `volNNN` files), by its
/// path under fixtures/dump.
#[derive(Debug, Clone)]
enum Input {
    File(String),
    Set(String),
}

impl Input {
    fn name(&self) -> &str {
        match self {
            Input::File(n) | Input::Set(n) => n,
        }
    }
}

/// Every dump under fixtures/dump, subdirectories included: files other than the helper
/// kinds the snapshot rule also leaves out, and directories of `volNNN` files as sets.
fn dump_inputs() -> Vec<Input> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<Input>) {
        let mut items: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("fixture directory")
            .map(|e| e.expect("entry").path())
            .collect();
        items.sort();
        for p in items {
            let name = p
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 fixture name")
                .to_string();
            let relp = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if p.is_dir() {
                let files: Vec<String> = std::fs::read_dir(&p)
                    .expect("dir")
                    .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
                    .collect();
                if !files.is_empty() && files.iter().all(|f| f.starts_with("vol")) {
                    out.push(Input::Set(relp));
                } else {
                    walk(&p, &relp, out);
                }
            } else if !["md", "sh", "py", "json", "txt"]
                .iter()
                .any(|x| name.ends_with(&format!(".{x}")))
            {
                out.push(Input::File(relp));
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixtures(), "", &mut out);
    out
}

fn set_volumes(dir: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures().join(dir))
        .expect("dir")
        .map(|e| e.expect("e").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).expect("vol"))
        .collect()
}

fn opts(names_only: bool) -> ReadOptions {
    ReadOptions {
        names_only,
        ..ReadOptions::default()
    }
}

/// What one read gave: the volume, the members, whether the file phase was answered from
/// the directories, and the volumes the reader asked for.
struct Outcome {
    volume: VolumeInfo,
    members: Vec<Member>,
    from_dirs: bool,
    asked: Vec<u32>,
}

fn read_medium(medium: Box<dyn Medium>, names_only: bool) -> Result<(DumpReader, Outcome)> {
    let mut r = DumpReader::open(
        medium,
        Arc::new(Recorder::default()),
        opts(names_only),
        crate::BSD_ID,
    )?;
    let (volume, members) = read_all(&mut r)?;
    let from_dirs = r.answered_from_directories();
    Ok((
        r,
        Outcome {
            volume,
            members,
            from_dirs,
            asked: Vec::new(),
        },
    ))
}

/// Read an input through the hostile medium (sets: through [`Volumes`]).
fn read_input(input: &Input, names_only: bool) -> Outcome {
    match input {
        Input::File(name) => {
            let data = std::fs::read(fixtures().join(name)).expect("fixture");
            read_bytes(data, names_only).unwrap_or_else(|e| panic!("{name}: {e}"))
        }
        Input::Set(dir) => {
            let vols = Volumes::new(set_volumes(dir));
            let asked = vols.asked.clone();
            let (_, mut o) =
                read_medium(Box::new(vols), names_only).unwrap_or_else(|e| panic!("{dir}: {e}"));
            o.asked = asked.lock().expect("lock").clone();
            o
        }
    }
}

fn read_bytes(data: Vec<u8>, names_only: bool) -> Result<Outcome> {
    let medium = HostileMedium::new(data, &HostileMedium::SIZES);
    read_medium(Box::new(medium), names_only).map(|(_, o)| o)
}

/// (path, kind, hard-link target, inode) of every entry, in order.
type Listed = Vec<(Vec<u8>, EntryKind, Option<Vec<u8>>, Option<u64>)>;

fn listed(members: &[Member]) -> Listed {
    members
        .iter()
        .map(|m| {
            let e = &m.entry;
            let target = (e.kind == EntryKind::HardLink)
                .then(|| e.link_target.clone())
                .flatten();
            (e.path.clone(), e.kind, target, e.inode)
        })
        .collect()
}

/// Whether a dump's directories carry d_type: the reader names the 4.4BSD/Linux inode
/// format (which comes with the 4.4BSD directory format) in the variant.
fn has_dtype(v: &VolumeInfo) -> bool {
    v.variant.ends_with(" linux") || v.variant.ends_with(" 4.4bsd")
}

#[test]
fn names_only_lists_exactly_like_a_full_read_on_every_fixture() {
    let inputs = dump_inputs();
    assert!(
        inputs.iter().any(|i| matches!(i, Input::Set(_)))
            && inputs
                .iter()
                .any(|i| matches!(i, Input::File(n) if n.contains('/'))),
        "the walk finds the sets and the files in subdirectories: {inputs:?}"
    );
    let (mut answered, mut fell_back) = (0, 0);
    for input in &inputs {
        let name = input.name();
        let full = read_input(input, false);
        let names = read_input(input, true);
        assert!(!full.members.is_empty(), "{name}");
        assert!(!full.from_dirs, "{name}: a full read reads everything");
        assert_eq!(listed(&names.members), listed(&full.members), "{name}");
        assert_eq!(names.volume, full.volume, "{name}: volume info");
        assert_eq!(
            names.from_dirs,
            has_dtype(&full.volume),
            "{name} ({}): names-only answered from the directories",
            full.volume.variant
        );
        if names.from_dirs {
            answered += 1;
            for m in &names.members {
                assert!(
                    !m.entry.has_data(),
                    "{name}: {} claims data",
                    m.entry.display_path()
                );
            }
        } else {
            fell_back += 1;
            // the fallback is a full read: same data too
            assert_eq!(names.members, full.members, "{name}");
        }
    }
    assert!(answered > 0 && fell_back > 0, "{answered} {fell_back}");
}

/// Headers of a single-volume uncompressed dump: (offset, header), up to TS_END.
fn headers(data: &[u8]) -> (layout::Layout, Vec<(usize, Header)>) {
    let l = layout::detect(data).expect("a dump");
    let probe = Header::decode(
        &data[..TP_BSIZE],
        &l,
        InodeFormat {
            new: false,
            usec: false,
        },
    );
    let ifmt = InodeFormat {
        new: probe.flags & DR_NEWINODEFMT != 0 || l.generation == Generation::Ufs2,
        usec: probe.ntrec != 0,
    };
    let mut out = Vec::new();
    let mut off = 0usize;
    while off + TP_BSIZE <= data.len() {
        let b = &data[off..off + TP_BSIZE];
        assert!(layout::is_header(b, &l), "a header at {off}");
        let h = Header::decode(b, &l, ifmt);
        let next = off + TP_BSIZE * (1 + h.data_blocks(&l).expect("count") as usize);
        let end = h.c_type == TS_END;
        out.push((off, h));
        if end {
            break;
        }
        off = next;
    }
    (l, out)
}

/// Offset of the first non-directory inode's header: where the directory phase ends.
fn end_of_dir_phase(hs: &[(usize, Header)]) -> Option<usize> {
    hs.iter()
        .find(|(_, h)| {
            h.c_type == TS_INODE
                && h.flags & DR_EXTATTRIBUTES == 0
                && h.dinode.mode & S_IFMT != S_IFDIR
        })
        .map(|(o, _)| *o)
}

/// Counts the bytes the reader takes from the medium.
struct Counting {
    inner: MemoryMedium,
    bytes: Arc<AtomicU64>,
}
impl Medium for Counting {
    fn info(&self) -> MediumInfo {
        self.inner.info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        let r = self.inner.read_record(buf)?;
        if r.status == RecordStatus::Data {
            self.bytes.fetch_add(r.len as u64, Ordering::Relaxed);
        }
        Ok(r)
    }
    fn write_record(&mut self, _d: &[u8]) -> Result<WriteStatus> {
        Err(Error::unsupported("read only"))
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Err(Error::unsupported("read only"))
    }
    fn position(&self) -> Position {
        self.inner.position()
    }
    fn space(&mut self, _o: Space, _c: i64) -> Result<i64> {
        Err(Error::unsupported(
            "counting: no spacing, every byte is read",
        ))
    }
    fn next_volume(&mut self, _n: u32) -> Result<bool> {
        Ok(false)
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Bytes read from a medium of `record`-byte records, and the outcome.
fn bytes_read(data: &[u8], record: usize, names_only: bool) -> (u64, Outcome) {
    let bytes = Arc::new(AtomicU64::new(0));
    let medium = Counting {
        inner: MemoryMedium::from_bytes(data, record),
        bytes: bytes.clone(),
    };
    let (_, o) = read_medium(Box::new(medium), names_only).expect("read");
    (bytes.load(Ordering::Relaxed), o)
}

#[test]
fn names_only_stops_reading_at_the_end_of_the_directory_phase() {
    let mut bounded = 0;
    for input in dump_inputs() {
        let Input::File(name) = input else { continue };
        let data = std::fs::read(fixtures().join(&name)).expect("fixture");
        let (l, hs) = headers_if_plain(&data);
        let Some(hs) = hs else { continue };
        let tape = &hs[0].1;
        if tape.flags & DR_NEWINODEFMT == 0 && l.generation != Generation::Ufs2 {
            continue; // no d_type: always a full read (see the test above)
        }
        let Some(dir_end) = end_of_dir_phase(&hs) else {
            continue;
        };
        let record = if tape.ntrec > 0 {
            tape.ntrec as usize * TP_BSIZE
        } else {
            10240
        };
        let (full_bytes, full) = bytes_read(&data, record, false);
        let (names_bytes, names) = bytes_read(&data, record, true);
        assert!(names.from_dirs, "{name}");
        assert_eq!(listed(&names.members), listed(&full.members), "{name}");
        assert_eq!(
            full_bytes,
            data.len() as u64,
            "{name}: a full read reads it all"
        );
        // the first file's header is read (in the record that holds it), nothing after
        let bound = (dir_end + TP_BSIZE + record) as u64;
        assert!(
            names_bytes < bound,
            "{name}: names-only read {names_bytes} bytes; the directory phase ends at \
             {dir_end}, records are {record} bytes"
        );
        eprintln!(
            "{name}: full read {full_bytes} bytes, names only {names_bytes} bytes \
             (directory phase ends at {dir_end}, {record}-byte records)"
        );
        if bound < data.len() as u64 {
            bounded += 1;
        }
    }
    assert!(
        bounded > 0,
        "no fixture has files after the directories beyond one record"
    );
}

/// Headers of an uncompressed single-volume dump, `None` for a compressed or non-dump one.
fn headers_if_plain(data: &[u8]) -> (layout::Layout, Option<Vec<(usize, Header)>>) {
    let Some(l) = layout::detect(data) else {
        return (
            layout::Layout {
                endian: layout::Endian::Little,
                generation: Generation::Nfs,
            },
            None,
        );
    };
    let flags = l.endian.i32(data, layout::OFF_FLAGS);
    if flags & DR_COMPRESSED != 0 || l.generation == Generation::Ofs {
        return (l, None);
    }
    let (l, hs) = headers(data);
    (l, Some(hs))
}

#[test]
fn names_only_reads_the_first_volume_of_a_set_only() {
    let mut checked = 0;
    for input in dump_inputs() {
        let Input::Set(dir) = &input else { continue };
        let full = read_input(&input, false);
        assert!(
            !full.asked.is_empty(),
            "{dir}: a full read goes through the volumes"
        );
        let names = read_input(&input, true);
        assert_eq!(listed(&names.members), listed(&full.members), "{dir}");
        if has_dtype(&full.volume) {
            assert!(names.from_dirs, "{dir}");
            assert_eq!(names.asked, Vec::<u32>::new(), "{dir}: asked for volumes");
            checked += 1;
        } else {
            assert_eq!(
                names.asked, full.asked,
                "{dir}: the fallback reads every volume"
            );
        }
    }
    assert!(checked >= 2, "multivol and multivol-zlib: {checked}");
}

/// Offset of the d_type byte of the directory entry `name` whose d_type is `dtype` (the
/// only such entry in the dumped directories; stale copies that dump's buffers leave in
/// unused space are not looked at).
fn dtype_at(data: &[u8], name: &[u8], dtype: u8) -> usize {
    let (_, hs) = headers(data);
    let mut hits = Vec::new();
    for (off, h) in &hs {
        if h.c_type != TS_INODE
            || h.flags & DR_EXTATTRIBUTES != 0
            || h.dinode.mode & S_IFMT != S_IFDIR
        {
            continue;
        }
        // small directories: one data block each in these fixtures
        let start = off + TP_BSIZE;
        let end = start + h.dinode.size as usize;
        assert!(h.dinode.size as usize <= TP_BSIZE * h.count.max(0) as usize);
        // walk the entries by d_reclen (4.4BSD layout: ino u32, reclen u16, type, namlen)
        let mut loc = start;
        while loc + 8 <= end {
            let reclen = u16::from_le_bytes([data[loc + 4], data[loc + 5]]) as usize;
            assert!(reclen >= 8, "a little-endian 4.4BSD directory");
            let n = data[loc + 7] as usize;
            if &data[loc + 8..loc + 8 + n] == name && data[loc + 6] == dtype {
                hits.push(loc + 6);
            }
            loc += reclen;
        }
    }
    assert_eq!(hits.len(), 1, "{}", String::from_utf8_lossy(name));
    hits[0]
}

/// Offset of the TS_BITS map's data and its length in bytes.
fn map_at(data: &[u8]) -> (usize, usize) {
    let (_, hs) = headers(data);
    let (off, h) = hs
        .iter()
        .find(|(_, h)| h.c_type == TS_BITS)
        .expect("TS_BITS");
    (off + TP_BSIZE, h.count as usize * TP_BSIZE)
}

fn ino_of(members: &[Member], path: &[u8]) -> u64 {
    members
        .iter()
        .find(|m| m.entry.path == path)
        .and_then(|m| m.entry.inode)
        .expect("entry with inode")
}

#[test]
fn names_only_falls_back_when_the_directories_are_doubtful() {
    let data = std::fs::read(fixtures().join("basic.dump")).expect("fixture");
    let full = read_bytes(data.clone(), false).expect("full");
    let (map, map_len) = map_at(&data);
    let unnamed = (1..map_len as u64 * 8)
        .find(|i| {
            data[map + (*i as usize - 1) / 8] & (1 << ((*i - 1) % 8)) == 0
                && full.members.iter().all(|m| m.entry.inode != Some(*i))
        })
        .expect("an inode number not on the tape");
    // the first file of the file phase is bigdev (a character device)
    let first_file = full
        .members
        .iter()
        .filter(|m| m.entry.kind != EntryKind::Dir)
        .min_by_key(|m| m.entry.inode)
        .expect("files");
    assert_eq!(
        (first_file.entry.path.as_slice(), first_file.entry.kind),
        (&b"bigdev"[..], EntryKind::CharDevice)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("the original", data.clone()),
        ("hello.txt DT_UNKNOWN", {
            let mut d = data.clone();
            d[dtype_at(&data, b"hello.txt", 8)] = 0;
            d
        }),
        ("hello.txt DT_WHT", {
            let mut d = data.clone();
            d[dtype_at(&data, b"hello.txt", 8)] = 14;
            d
        }),
        ("the dumped directory sub typed as a file", {
            let mut d = data.clone();
            d[dtype_at(&data, b"sub", 4)] = 8;
            d
        }),
        ("two names of one inode disagree", {
            let mut d = data.clone();
            d[dtype_at(&data, b"link2", 8)] = 10;
            d
        }),
        ("a named file typed as a directory", {
            let mut d = data.clone();
            d[dtype_at(&data, b"hello.txt", 8)] = 4;
            d
        }),
        ("the first file's header disagrees with its d_type", {
            let mut d = data.clone();
            d[dtype_at(&data, b"bigdev", 2)] = 8;
            d
        }),
        ("an inode in the map that no directory names", {
            let mut d = data.clone();
            d[map + (unnamed as usize - 1) / 8] |= 1 << ((unnamed - 1) % 8);
            d
        }),
    ];
    for (i, (what, d)) in cases.into_iter().enumerate() {
        let names = read_bytes(d.clone(), true).expect(what);
        let full_d = read_bytes(d, false).expect(what);
        assert_eq!(listed(&names.members), listed(&full_d.members), "{what}");
        assert_eq!(
            names.from_dirs,
            i == 0,
            "{what}: answered from the directories"
        );
    }
}

#[test]
fn names_only_follows_the_map_like_restore_t() {
    let data = std::fs::read(fixtures().join("basic.dump")).expect("fixture");
    let full = read_bytes(data.clone(), false).expect("full");
    let ino = ino_of(&full.members, b"hello.txt");
    let (map, _) = map_at(&data);
    let mut d = data.clone();
    let bit = (map + (ino as usize - 1) / 8, 1u8 << ((ino - 1) % 8));
    assert_ne!(d[bit.0] & bit.1, 0, "hello.txt is in the map");
    d[bit.0] &= !bit.1;
    let names = read_bytes(d.clone(), true).expect("names");
    assert!(names.from_dirs);
    let want: Listed = listed(&full.members)
        .into_iter()
        .filter(|e| e.3 != Some(ino))
        .collect();
    // the map says hello.txt is not on the tape: not listed, as restore -t does; a full
    // read finds its header
    assert_eq!(listed(&names.members), want);
    if have_restore() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("cleared.dump");
        std::fs::write(&f, &d).expect("write");
        assert_eq!(our_list(&names.members), restore_list(&f, false));
    }
}

#[test]
fn names_only_map_above_the_cap_falls_back() {
    let data = std::fs::read(fixtures().join("basic.dump")).expect("fixture");
    let (l, hs) = headers(&data);
    let (hoff, h) = hs
        .iter()
        .find(|(_, h)| h.c_type == TS_BITS)
        .expect("TS_BITS");
    let (hoff, count) = (*hoff, h.count as usize);
    let map_end = hoff + TP_BSIZE + count * TP_BSIZE;
    let zeros = vec![0u8; 1 << 20];
    // a longer map: `extra` zero blocks after the real one (no inode more on the tape)
    let medium = |extra: usize| {
        let mut head = data[hoff..hoff + TP_BSIZE].to_vec();
        l.endian
            .put_i32(&mut head, layout::OFF_COUNT, (count + extra) as i32);
        layout::set_checksum(&mut head, l.endian);
        let mut m = MemoryMedium::new(0);
        m.push_record(&data[..hoff]);
        m.push_record(&head);
        m.push_record(&data[hoff + TP_BSIZE..map_end]);
        let mut left = extra * TP_BSIZE;
        while left > 0 {
            let n = left.min(zeros.len());
            m.push_record(&zeros[..n]);
            left -= n;
        }
        m.push_record(&data[map_end..]);
        m
    };
    let full = read_bytes(data.clone(), false).expect("full");
    let over = MAX_NAMES_MAP / TP_BSIZE + 1 - count;
    for (extra, engaged) in [(1000, true), (over, false)] {
        let (_, names) = read_medium(Box::new(medium(extra)), true).expect("names");
        assert_eq!(names.from_dirs, engaged, "{extra} more map blocks");
        assert_eq!(listed(&names.members), listed(&full.members), "{extra}");
    }
}

#[test]
fn names_only_damage_in_what_is_read_is_the_full_reads_error() {
    let data = std::fs::read(fixtures().join("basic.dump")).expect("fixture");
    let (_, hs) = headers(&data);
    let dir_end = end_of_dir_phase(&hs).expect("files after the directories");
    let full = read_bytes(data.clone(), false).expect("full");
    let sub = ino_of(&full.members, b"sub") as u32;
    let hello = ino_of(&full.members, b"hello.txt") as u32;
    let header_of = |ino: u32| {
        hs.iter()
            .find(|(_, h)| h.c_type == TS_INODE && h.inumber == ino)
            .map(|(o, _)| *o)
            .expect("header")
    };
    let sub_at = header_of(sub);
    assert!(sub_at < dir_end);
    let mut bad_dir = data.clone();
    bad_dir[sub_at + 600] ^= 0xff;
    let cut_in_dirs = data[..sub_at + 512].to_vec();
    for (what, d, kind) in [
        ("bad directory header", bad_dir, ErrorKind::Corrupt),
        (
            "cut inside the directory phase",
            cut_in_dirs,
            ErrorKind::Truncated,
        ),
    ] {
        let full_err = read_bytes(d.clone(), false)
            .err()
            .unwrap_or_else(|| panic!("{what}: full read succeeds"));
        let names_err = read_bytes(d, true)
            .err()
            .unwrap_or_else(|| panic!("{what}: names-only read succeeds"));
        assert_eq!(full_err.kind, kind, "{what}: {full_err}");
        assert_eq!(
            (names_err.kind, names_err.offset, &names_err.message),
            (full_err.kind, full_err.offset, &full_err.message),
            "{what}"
        );
    }
    // after the directory phase nothing is read, so nothing is checked (like restore -t)
    let hello_at = header_of(hello);
    assert!(hello_at > dir_end);
    let mut bad_file = data.clone();
    bad_file[hello_at + 600] ^= 0xff;
    let cut_after = data[..dir_end + TP_BSIZE].to_vec();
    for (what, d, kind) in [
        ("bad file header", bad_file, ErrorKind::Corrupt),
        (
            "cut after the directory phase",
            cut_after,
            ErrorKind::Truncated,
        ),
    ] {
        let full_err = read_bytes(d.clone(), false)
            .err()
            .unwrap_or_else(|| panic!("{what}: full read succeeds"));
        assert_eq!(full_err.kind, kind, "{what}: {full_err}");
        let names = read_bytes(d, true).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(names.from_dirs, "{what}");
        assert_eq!(
            listed(&names.members),
            listed(&full.members),
            "{what}: listed from the directories"
        );
    }
}

#[test]
fn the_intent_hint_is_declared_and_parsed() {
    let d = crate::DumpPlugin::descriptor();
    for id in [crate::BSD_ID, crate::IRIX_ID] {
        let f = d.formats.iter().find(|f| f.id == id).expect("format");
        assert!(
            f.options.iter().any(|(n, _)| n == "relic-intent=WHAT"),
            "{id}: {:?}",
            f.options
        );
    }
    for (intent, names_only) in [
        (Intent::Names, true),
        (Intent::List, false),
        (Intent::Full, false),
    ] {
        let o = Options::new().with(relic_plugin_sdk::INTENT_OPTION, intent.as_str());
        assert_eq!(
            crate::read_options(&o).expect("known").names_only,
            names_only,
            "{intent:?}"
        );
    }
    assert!(
        !crate::read_options(&Options::new())
            .expect("none")
            .names_only
    );
    assert!(crate::read_options(&Options::new().with("relic-other", "x")).is_err());
}

#[test]
fn names_only_entries_are_bare() {
    let data = std::fs::read(fixtures().join("basic.dump")).expect("fixture");
    let names = read_bytes(data, true).expect("names");
    assert!(names.from_dirs);
    let get = |p: &[u8]| -> &Entry {
        &names
            .members
            .iter()
            .find(|m| m.entry.path == p)
            .expect("entry")
            .entry
    };
    // a file from the directories: kind and inode, no data, no size
    let f = get(b"random.bin");
    assert_eq!((f.kind, f.size, f.has_data()), (EntryKind::File, 0, false));
    // the second name of a hard-linked file points at the first, as in a full read
    let l = get(b"sub/link2");
    assert_eq!(l.kind, EntryKind::HardLink);
    assert_eq!(l.link_target.as_deref(), Some(&b"link1"[..]));
}

/// Every entry (all fields) and the volume of a read that only skips data, as `relic list -l`
/// drives the reader.
fn metadata_read(medium: Box<dyn Medium>, metadata_only: bool) -> Result<(VolumeInfo, Vec<Entry>)> {
    let opts = ReadOptions {
        metadata_only,
        ..ReadOptions::default()
    };
    let mut r = DumpReader::open(medium, Arc::new(Recorder::default()), opts, crate::BSD_ID)?;
    let volume = r.volume()?;
    let mut out = Vec::new();
    while let Some(e) = r.next_entry()? {
        if e.has_data() {
            r.skip_data()?;
        }
        out.push(e);
    }
    Ok((volume, out))
}

#[test]
fn metadata_only_lists_every_field_like_a_full_read_on_every_fixture() {
    for input in dump_inputs() {
        let medium = |input: &Input| -> Box<dyn Medium> {
            match input {
                Input::File(name) => Box::new(HostileMedium::new(
                    std::fs::read(fixtures().join(name)).expect("fixture"),
                    &HostileMedium::SIZES,
                )),
                Input::Set(dir) => Box::new(Volumes::new(set_volumes(dir))),
            }
        };
        let full = metadata_read(medium(&input), false)
            .unwrap_or_else(|e| panic!("{}: {e}", input.name()));
        let meta = metadata_read(medium(&input), true)
            .unwrap_or_else(|e| panic!("{}: {e}", input.name()));
        assert_eq!(meta.0, full.0, "{}: volume", input.name());
        assert_eq!(meta.1, full.1, "{}: entries", input.name());
        assert!(!full.1.is_empty(), "{}", input.name());
    }
}

#[test]
fn metadata_only_refuses_to_hand_out_data_and_attaches_xattrs_past_the_lookahead() {
    let data = std::fs::read(fixtures().join("xattr-block.dump")).expect("fixture");
    // a lookahead of 0: the full read streams every file and cannot attach their xattrs;
    // the metadata-only read skips the data and attaches them whatever the file's size
    let read = |metadata_only: bool| {
        let opts = ReadOptions {
            metadata_only,
            lookahead: 0,
            ..ReadOptions::default()
        };
        let medium = Box::new(MemoryMedium::from_bytes(&data, 10240));
        let mut r = DumpReader::open(medium, Arc::new(Recorder::default()), opts, crate::BSD_ID)
            .expect("opens");
        let mut files = Vec::new();
        while let Some(e) = r.next_entry().expect("entry") {
            if e.kind == EntryKind::File && e.size > 0 {
                let mut buf = vec![0u8; 4096];
                let got = r.read_data(&mut buf);
                files.push((e.xattrs.len(), got.is_err()));
            }
            r.skip_data().expect("skip");
        }
        files
    };
    let full = read(false);
    let meta = read(true);
    assert!(!full.is_empty());
    assert!(full.iter().all(|&(_, err)| !err), "a full read hands out data");
    assert!(meta.iter().all(|&(_, err)| err), "a metadata-only read refuses to");
    let xattrs = |v: &[(usize, bool)]| v.iter().map(|&(n, _)| n).sum::<usize>();
    assert!(
        xattrs(&meta) > xattrs(&full),
        "xattrs past the lookahead: {meta:?} vs {full:?}"
    );
}
