//! The writer, checked by the independent reader `fixtures/vms-backup/vmsread.py` (written
//! from the research note, not from this crate: it verifies every block's checks, every XOR
//! block against its group, record alignment, VBN continuity, and reports every file's
//! attributes and raw sha256) and by our own reader:
//! - VMS -> relic -> VMS: every corpus save set read raw and written again; every file's
//!   raw bytes and every attribute equal the corpus ground truth;
//! - a Unix-like tree -> save set: names, STREAM_LF / FIX 512 attributes, bytes;
//! - tape output with labels, and a two-volume tape with EOV labels.
//!
//! Needs python3 (skipped with a note without it) and, for the first, the corpus.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::*;
use relic_format_vms_backup::{ReadOptions, RecordsMode, VmsReader, VmsWriter, WriteOptions};
use relic_model::{
    Entry, EntryKind, Medium, MediumInfo, NullHost, Position, RecordRead, Result, Space, Timestamp,
    VolumeInfo, WriteStatus,
};
use relic_plugin_sdk::testing::{read_all, write_all, Member, MemoryMedium};
use relic_plugin_sdk::HostHandle;
use serde_json::Value;

fn python() -> bool {
    let ok = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("python3 absent: skipping the independent-reader check");
    }
    ok
}

/// Run the independent reader on a save set.
fn vmsread(bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("out.bck");
    std::fs::write(&p, bytes).expect("write");
    let o = Command::new("python3")
        .arg(fixtures().join("vmsread.py"))
        .arg(&p)
        .output()
        .expect("python3 runs");
    assert!(
        o.status.success(),
        "vmsread rejects our save set: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json")
}

fn host() -> HostHandle {
    Arc::new(NullHost)
}

fn write(members: &[Member], vol: &VolumeInfo, opts: WriteOptions) -> MemoryMedium {
    let mut w = VmsWriter::new(MemoryMedium::new(0), opts, host()).expect("writer");
    write_all(&mut w, vol, members).expect("write");
    w.into_medium()
}

#[test]
fn vms_to_vms_keeps_every_raw_byte_and_attribute() {
    if !python() {
        return;
    }
    let Some(dir) = corpus() else { return };
    let mut refs: Vec<_> = std::fs::read_dir(dir.join("expected"))
        .expect("dir")
        .map(|e| e.expect("e").path())
        .filter(|p| p.to_string_lossy().ends_with(".ref.json"))
        .collect();
    refs.sort();
    for r in refs {
        let j: Value = serde_json::from_slice(&std::fs::read(&r).expect("ref")).expect("json");
        let data = std::fs::read(dir.join(j["file"].as_str().expect("file"))).expect("sample");
        let (got, _) = read_medium(
            MemoryMedium::from_bytes(&data, 1 << 16),
            ReadOptions {
                records: RecordsMode::Raw,
                ..ReadOptions::default()
            },
        );
        let (vol, members) = got.expect("read");
        let opts = WriteOptions {
            block_size: j["block_size"].as_u64().expect("bs") as usize,
            group_size: j["summary"]["groupsize"].as_u64().expect("g") as u32,
            nocrc: j["nocrc"].as_bool().expect("nocrc"),
            labels: Some(false),
            ..WriteOptions::default()
        };
        let out = write(&members, &vol, opts).bytes();
        let peer = vmsread(&out);
        assert_eq!(peer["summary"]["ssname"], j["summary"]["ssname"]);
        let (pf, rf) = (
            peer["files"].as_array().expect("files"),
            j["files"].as_array().expect("files"),
        );
        assert_eq!(pf.len(), rf.len(), "{}", r.display());
        for (a, b) in pf.iter().zip(rf) {
            let name = b["name"].as_str().expect("name");
            for k in [
                "name",
                "brh_flags",
                "fid",
                "did",
                "uic",
                "protection",
                "uchar",
                "org",
                "rfm",
                "rat",
                "rsize",
                "hiblk",
                "efblk",
                "ffbyte",
                "bktsize",
                "vfcsize",
                "maxrec",
                "revision",
                "created",
                "revised",
                "expires",
                "backup",
                "raw_sha256",
            ] {
                assert_eq!(a[k], b[k], "{}: {name}: {k}", r.display());
            }
        }
        // and our reader sees the same entries again
        let (again, _) = read_medium(
            MemoryMedium::from_bytes(&out, 1 << 16),
            ReadOptions {
                records: RecordsMode::Raw,
                ..ReadOptions::default()
            },
        );
        let (_, again) = again.expect("read back");
        assert_eq!(again.len(), members.len());
        for (a, b) in again.iter().zip(&members) {
            assert_eq!(a.entry, b.entry, "{}", a.entry.display_path());
            assert_eq!(a.data, b.data);
        }
    }
}

fn file(path: &str, data: &[u8], mode: u32) -> Member {
    let mut e = Entry::new(path, EntryKind::File);
    e.size = data.len() as u64;
    e.mode = mode;
    e.uid = 100;
    e.gid = 20;
    e.mtime = Some(Timestamp::new(1_234_567_890, 100));
    Member::new(e, data.to_vec())
}

fn dir(path: &str) -> Member {
    let mut e = Entry::new(path, EntryKind::Dir);
    e.mtime = Some(Timestamp::new(1_234_567_000, 0));
    Member::new(e, vec![])
}

fn tree() -> Vec<Member> {
    let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    vec![
        dir("src"),
        file("src/main.c", b"int main(void)\n{\n\treturn 0;\n}\n", 0o644),
        file("src/no-newline.txt", b"last line without newline", 0o600),
        file("src/data.bin", &big, 0o755),
        dir("src/sub.dir"),
        file(
            "src/sub.dir/a b.tar.gz",
            b"\x1f\x8b\x08\0binary\0\r\n",
            0o644,
        ),
        file("Makefile", b"all:\n\ttrue\n", 0o644),
        file("empty", b"", 0o644),
    ]
}

#[test]
fn a_unix_tree_becomes_a_save_set_the_independent_reader_accepts() {
    if !python() {
        return;
    }
    let members = tree();
    for (opts, names) in [
        (
            WriteOptions {
                labels: Some(false),
                ..WriteOptions::default()
            },
            [
                "[000000]SRC.DIR;1",
                "[SRC]MAIN.C;1",
                "[SRC]NO-NEWLINE.TXT;1",
                "[SRC]DATA.BIN;1",
                "[SRC]SUB_DIR.DIR;1",
                "[SRC.SUB_DIR]A_B_TAR.GZ;1",
                "[000000]MAKEFILE.;1",
                "[000000]EMPTY.;1",
            ],
        ),
        (
            WriteOptions {
                labels: Some(false),
                ods5: true,
                block_size: 2048,
                group_size: 3,
                nocrc: true,
                binary: true,
                ..WriteOptions::default()
            },
            [
                "[000000]src.DIR;1",
                "[src]main.c;1",
                "[src]no-newline.txt;1",
                "[src]data.bin;1",
                "[src]sub^.dir.DIR;1",
                "[src.sub^.dir]a^_b^.tar.gz;1",
                "[000000]Makefile.;1",
                "[000000]empty.;1",
            ],
        ),
    ] {
        let binary = opts.binary;
        let out = write(&members, &VolumeInfo::default(), opts.clone()).bytes();
        let peer = vmsread(&out);
        let files = peer["files"].as_array().expect("files");
        let got: Vec<&str> = files
            .iter()
            .map(|f| f["name"].as_str().expect("name"))
            .collect();
        assert_eq!(got, names);
        for (f, m) in files.iter().zip(&members) {
            if m.entry.kind == EntryKind::Dir {
                assert_eq!(f["brh_flags"], 2);
                assert_eq!(f["uchar"].as_u64().map(|u| u & 0x2000), Some(0x2000));
                continue;
            }
            assert_eq!(
                f["raw_sha256"].as_str(),
                Some(sha256(&m.data).as_str()),
                "{}",
                m.entry.display_path()
            );
            assert_eq!(f["size_bytes"].as_u64(), Some(m.data.len() as u64));
            let (rfm, rat) = if binary { (1, 0) } else { (5, 2) };
            assert_eq!(
                (f["rfm"].as_u64(), f["rat"].as_u64()),
                (Some(rfm), Some(rat))
            );
            assert_eq!(f["uic"], "[000024,000144]");
            assert_eq!(f["revised"], "2009-02-13 23:31:30.00");
            let order: Vec<u64> = f["attr_order"]
                .as_array()
                .expect("order")
                .iter()
                .map(|v| v.as_u64().expect("n"))
                .collect();
            assert_eq!(
                order,
                [
                    42, 43, 44, 46, 47, 52, 45, 48, 49, 50, 51, 75, 80, 87, 79, 53, 54, 55, 56, 57,
                    71, 72, 74
                ]
            );
        }
        assert!(peer["xor_blocks"].as_u64().expect("n") > 0);
        // our reader: STREAM_LF text comes back byte for byte in auto mode
        let (r, _) = read_medium(MemoryMedium::from_bytes(&out, 4096), ReadOptions::default());
        let (_, back) = r.expect("read back");
        let paths: Vec<String> = back.iter().map(|m| m.entry.display_path()).collect();
        if opts.ods5 {
            assert_eq!(
                paths,
                members
                    .iter()
                    .map(|m| m.entry.display_path())
                    .collect::<Vec<_>>()
            );
        }
        for (a, b) in back.iter().zip(&members) {
            assert_eq!(a.data, b.data, "{}", a.entry.display_path());
            assert_eq!(a.entry.mode, b.entry.mode & 0o777);
            assert_eq!(a.entry.mtime, b.entry.mtime);
        }
    }
}

/// Volumes of a tape set in memory, for writing and reading.
#[derive(Default)]
struct Reels {
    reels: Vec<MemoryMedium>,
    cur: usize,
    limit: u64,
    max: usize,
}

impl Medium for Reels {
    fn info(&self) -> MediumInfo {
        self.reels[self.cur].info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        self.reels[self.cur].read_record(buf)
    }
    fn write_record(&mut self, d: &[u8]) -> Result<WriteStatus> {
        self.reels[self.cur].write_record(d)
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        self.reels[self.cur].write_tape_mark()
    }
    fn position(&self) -> Position {
        self.reels[self.cur].position()
    }
    fn space(&mut self, op: Space, n: i64) -> Result<i64> {
        self.reels[self.cur].space(op, n)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        let i = number as usize - 1;
        if i >= self.max {
            return Ok(false);
        }
        while self.reels.len() <= i {
            let mut m = MemoryMedium::new(0);
            m.early_warning_at = Some(self.limit);
            self.reels.push(m);
        }
        self.cur = i;
        self.reels[i].rewind();
        Ok(true)
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// SIMH framing of a memory tape (records and marks are all the writer produced).
fn to_simh(m: &MemoryMedium) -> Vec<u8> {
    let mut out = Vec::new();
    let mut mm = m.clone();
    mm.rewind();
    let mut buf = vec![0u8; 70_000];
    loop {
        let r = mm.read_record(&mut buf).expect("read");
        match r.status {
            relic_model::RecordStatus::Data => {
                let n = (r.len as u32).to_le_bytes();
                out.extend_from_slice(&n);
                out.extend_from_slice(&buf[..r.len]);
                if r.len % 2 == 1 {
                    out.push(0);
                }
                out.extend_from_slice(&n);
            }
            relic_model::RecordStatus::TapeMark => out.extend_from_slice(&[0; 4]),
            _ => break,
        }
    }
    out.extend_from_slice(&[0xff; 4]);
    out
}

#[test]
fn tape_output_has_labels_and_continues_on_a_second_volume() {
    let members = tree();
    // one volume, labelled
    let m = write(
        &members,
        &VolumeInfo::default(),
        WriteOptions {
            labels: Some(true),
            block_size: 8192,
            saveset_name: Some("tree.bck".into()),
            ..WriteOptions::default()
        },
    );
    let recs = m.records();
    assert_eq!(&recs[0][..4], b"VOL1");
    assert_eq!(&recs[1][..21], b"HDR1TREE.BCK         ");
    assert!(recs.iter().any(|r| r.starts_with(b"EOF1")));
    if python() {
        let peer = vmsread(&to_simh(&m));
        assert_eq!(
            peer["files"].as_array().map(|f| f.len()),
            Some(members.len())
        );
    }
    // two volumes: early warning after 40 KiB
    let mut first = MemoryMedium::new(0);
    first.early_warning_at = Some(40 * 1024);
    let reels = Reels {
        reels: vec![first],
        cur: 0,
        limit: 40 * 1024,
        max: 4,
    };
    let opts = WriteOptions {
        labels: Some(true),
        block_size: 8192,
        group_size: 4,
        ..WriteOptions::default()
    };
    let mut w = VmsWriter::new(reels, opts, host()).expect("writer");
    write_all(&mut w, &VolumeInfo::default(), &members).expect("write");
    let s = relic_model::FormatWriter::finish(&mut w).expect("finish");
    assert!(s.volumes >= 2, "{s:?}");
    let mut reels = w.into_medium();
    assert!(reels.reels.len() >= 2);
    assert!(reels.reels[0]
        .records()
        .iter()
        .any(|r| r.starts_with(b"EOV1")));
    for r in &mut reels.reels {
        r.rewind();
    }
    reels.cur = 0;
    let mut rd = VmsReader::open(
        reels,
        host(),
        ReadOptions {
            records: RecordsMode::Raw,
            ..ReadOptions::default()
        },
    )
    .expect("open");
    let (_, back) = read_all(&mut rd).expect("read both volumes");
    // a labelled tape read whole: the save set's directory first
    assert_eq!(back[0].entry.display_path(), "RELIC.BCK");
    for (a, b) in back[1..].iter().zip(&members) {
        assert_eq!(
            a.entry.display_path(),
            format!(
                "RELIC.BCK/{}",
                b.entry
                    .display_path()
                    .to_uppercase()
                    .replace("SUB.DIR", "SUB_DIR")
                    .replace("A B.TAR.GZ", "A_B_TAR.GZ")
            )
        );
        assert_eq!(a.data, b.data);
    }
    // no second volume available: a clear error
    let mut first = MemoryMedium::new(0);
    first.early_warning_at = Some(20 * 1024);
    let reels = Reels {
        reels: vec![first],
        cur: 0,
        limit: 20 * 1024,
        max: 1,
    };
    let opts = WriteOptions {
        labels: Some(true),
        block_size: 8192,
        ..WriteOptions::default()
    };
    let mut w = VmsWriter::new(reels, opts, host()).expect("writer");
    let e = write_all(&mut w, &VolumeInfo::default(), &members).expect_err("one volume only");
    assert!(e.message.contains("volume 2"), "{}", e.message);
}

#[test]
fn fixtures_round_trip_with_links_roots_and_header_only_files() {
    for name in ["formats.bck", "image.bck", "nocrc.bck"] {
        let data = std::fs::read(fixtures().join(name)).expect("fixture");
        let raw = ReadOptions {
            records: RecordsMode::Raw,
            ..ReadOptions::default()
        };
        let (r, _) = read_medium(MemoryMedium::from_bytes(&data, 4096), raw.clone());
        let (vol, members) = r.expect("read");
        let out = write(
            &members,
            &vol,
            WriteOptions {
                labels: Some(false),
                block_size: 4096,
                group_size: 5,
                ..WriteOptions::default()
            },
        )
        .bytes();
        let (r, _) = read_medium(MemoryMedium::from_bytes(&out, 4096), raw);
        let (_, back) = r.expect("read back");
        assert_eq!(back.len(), members.len(), "{name}");
        for (a, b) in back.iter().zip(&members) {
            let (mut ea, mut eb) = (a.entry.clone(), b.entry.clone());
            if ea.kind == EntryKind::HardLink {
                // a link is written header-only (its data went with the first name)
                assert_eq!(extra(a, "vms.brh-flags").as_deref(), Some("0x30"));
                ea.extras.retain(|x| x.key != "vms.brh-flags");
                eb.extras.retain(|x| x.key != "vms.brh-flags");
            }
            assert_eq!(ea, eb, "{name}: {}", a.entry.display_path());
            assert_eq!(a.data, b.data, "{name}: {}", a.entry.display_path());
        }
        if python() {
            let peer = vmsread(&out);
            assert_eq!(
                peer["summary"]["ssname"].as_str(),
                vol.label
                    .as_deref()
                    .map(|l| std::str::from_utf8(l).expect("utf8"))
            );
        }
    }
}

#[test]
fn unlabelled_volumes_end_inside_an_xor_group() {
    let members = tree();
    let mut first = MemoryMedium::new(0);
    first.early_warning_at = Some(24 * 1024);
    let reels = Reels {
        reels: vec![first],
        cur: 0,
        limit: 24 * 1024,
        max: 20,
    };
    let opts = WriteOptions {
        labels: Some(false),
        block_size: 4096,
        group_size: 4,
        ..WriteOptions::default()
    };
    let mut w = VmsWriter::new(reels, opts, host()).expect("writer");
    write_all(&mut w, &VolumeInfo::default(), &members).expect("write");
    let mut reels = w.into_medium();
    assert!(reels.reels.len() >= 3, "{}", reels.reels.len());
    for r in &reels.reels[..reels.reels.len() - 1] {
        // the early-warning size, or one block more when an XOR block reached it; the last
        // block a data block (applic 1)
        let kinds: Vec<u16> = r
            .records()
            .iter()
            .map(|b| u16::from_le_bytes([b[6], b[7]]))
            .collect();
        let n = r.bytes().len();
        assert!(n == 24 * 1024 || n == 28 * 1024, "{n} {kinds:?}");
        assert_eq!(kinds.last(), Some(&1), "{kinds:?}");
    }
    for r in &mut reels.reels {
        r.rewind();
    }
    reels.cur = 0;
    let mut rd = VmsReader::open(
        reels,
        host(),
        ReadOptions {
            records: RecordsMode::Raw,
            ..ReadOptions::default()
        },
    )
    .expect("open");
    let (_, back) = read_all(&mut rd).expect("read all volumes");
    assert_eq!(back.len(), members.len());
    for (a, b) in back.iter().zip(&members) {
        assert_eq!(a.data, b.data);
    }
    // no XOR groups: an unlabelled set cannot say it goes on
    let mut first = MemoryMedium::new(0);
    first.early_warning_at = Some(24 * 1024);
    let reels = Reels {
        reels: vec![first],
        cur: 0,
        limit: 24 * 1024,
        max: 20,
    };
    let opts = WriteOptions {
        labels: Some(false),
        block_size: 4096,
        group_size: 0,
        ..WriteOptions::default()
    };
    let mut w = VmsWriter::new(reels, opts, host()).expect("writer");
    let e = write_all(&mut w, &VolumeInfo::default(), &members).expect_err("refused");
    assert!(e.message.contains("XOR groups"), "{}", e.message);
}
