//! Tests of the tape-image plugin: fixtures made by an independent Python implementation and
//! by real peers (Hercules' hetupd, SIMH's mtcvtv23) read through the plugin's ABI root
//! module, detection, the forward-only (pipe) path through a hostile medium, round trips of
//! our writers, our writers checked by independent readers (the Python reader, SIMH's mtdump,
//! Hercules' hetupd), spacing, multi-volume sets, bad input, and smoke fuzzing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use relic_model::{ErrorKind, Host, LogLevel, NullHost, Position, RecordRead};
use relic_plugin_sdk::testing::{smoke_fuzz, HostileMedium, MemoryMedium};
use relic_plugin_sdk::{root_module, LoadedPlugin};
use sha2::{Digest, Sha256};

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tape-image")
}

fn fixture(name: &str) -> String {
    fixtures()
        .join(name)
        .to_str()
        .expect("utf-8 path")
        .to_string()
}

fn plugin() -> LoadedPlugin {
    LoadedPlugin::new(root_module::<TapeImagePlugin>()).expect("plugin loads")
}

/// A host that keeps warnings for assertions.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Host for Recorder {
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn warn(&self, message: &str, offset: Option<u64>) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("{message} @{offset:?}"));
    }
    fn cancelled(&self) -> bool {
        false
    }
    fn event(&self, _kind: u32, _payload: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

fn open(
    id: &str,
    location: &str,
    mode: OpenMode,
    inner: Option<Box<dyn Medium>>,
    opts: &Options,
) -> Result<Box<dyn Medium>> {
    plugin().open_medium(id, location, mode, inner, opts, Arc::new(NullHost))
}

/// One object as the Python generator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Obj {
    Rec { len: usize, bad: bool, sha: String },
    Mark,
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn expected(name: &str) -> Vec<Obj> {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).expect("expected.json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v[name]
        .as_array()
        .unwrap_or_else(|| panic!("no expectation for {name}"))
        .iter()
        .map(|o| match o["kind"].as_str() {
            Some("mark") => Obj::Mark,
            _ => Obj::Rec {
                len: o["len"].as_u64().expect("len") as usize,
                bad: o["bad"].as_bool().expect("bad"),
                sha: o["sha256"].as_str().expect("sha").to_string(),
            },
        })
        .collect()
}

/// Read a medium to its end, growing the buffer on TooSmall (which must consume nothing).
fn read_objs(m: &mut dyn Medium) -> Result<Vec<Obj>> {
    let mut buf = vec![0u8; 16];
    let mut out = vec![];
    loop {
        let r = m.read_record(&mut buf)?;
        match r.status {
            RecordStatus::TooSmall => {
                assert!(r.len > buf.len());
                buf.resize(r.len, 0);
            }
            RecordStatus::Data | RecordStatus::Bad => out.push(Obj::Rec {
                len: r.len,
                bad: r.status == RecordStatus::Bad,
                sha: sha(&buf[..r.len]),
            }),
            RecordStatus::TapeMark => out.push(Obj::Mark),
            RecordStatus::EndOfData => return Ok(out),
            RecordStatus::EndOfMedium => panic!("images report end of data"),
        }
    }
}

/// Every fixture, the medium that reads it, and the expectation it must meet.
const FIXTURES: &[(&str, &str, &str)] = &[
    ("common.simh.tap", "simh", "common.simh.tap"),
    ("common.e11.tap", "e11", "common.e11.tap"),
    ("common.tpc", "tpc", "common.tpc"),
    ("common.aws", "aws", "common.aws"),
    ("common.het", "het", "common.het"),
    ("big.aws", "aws", "big.aws"),
    ("extended.simh.tap", "simh", "extended.simh.tap"),
    // made by real peers from the Python images
    ("hercules-zlib.het", "het", "common.aws"),
    ("hercules-bzip2.het", "het", "common.aws"),
    ("hercules-strict.aws", "aws", "common.aws"),
    ("mtcvtv23-from-tpc.simh.tap", "simh", "common.tpc"),
];

#[test]
fn every_fixture_reads_as_its_generator_says() {
    for (file, id, exp) in FIXTURES {
        let mut m = open(id, &fixture(file), OpenMode::Read, None, &Options::new()).expect("open");
        let got = read_objs(m.as_mut()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(got, expected(exp), "{file}");
        let info = m.info();
        assert!(
            info.seekable && info.records_meaningful && info.can_space,
            "{file}"
        );
        assert_eq!(
            info.size,
            Some(std::fs::metadata(fixture(file)).expect("stat").len())
        );
    }
}

#[test]
fn the_same_records_through_every_container_read_identically() {
    let simh = read_objs(
        open(
            "simh",
            &fixture("common.simh.tap"),
            OpenMode::Read,
            None,
            &Options::new(),
        )
        .expect("open")
        .as_mut(),
    )
    .expect("read");
    assert_eq!(simh.len(), 11);
    for (file, id) in [
        ("common.e11.tap", "e11"),
        ("common.tpc", "tpc"),
        ("common.aws", "aws"),
        ("common.het", "het"),
    ] {
        let got = read_objs(
            open(id, &fixture(file), OpenMode::Read, None, &Options::new())
                .expect("open")
                .as_mut(),
        )
        .expect("read");
        assert_eq!(got, simh, "{file}");
    }
}

#[test]
fn fixtures_read_forward_only_through_a_hostile_pipe() {
    for (file, id, exp) in FIXTURES {
        let bytes = std::fs::read(fixture(file)).expect("fixture");
        let inner = Box::new(HostileMedium::new(bytes, &[])) as Box<dyn Medium>;
        // a location that is not a file: the plugin must read through `inner`
        let mut m = open(
            id,
            "|cat image",
            OpenMode::Read,
            Some(inner),
            &Options::new(),
        )
        .expect("open");
        assert!(!m.info().seekable);
        assert_eq!(
            read_objs(m.as_mut()).unwrap_or_else(|e| panic!("{file}: {e}")),
            expected(exp),
            "{file}"
        );
        assert_eq!(
            m.space(Space::Rewind, 0).err().map(|e| e.kind),
            Some(ErrorKind::Unsupported)
        );
    }
}

fn bids(head: &[u8]) -> Vec<(&'static str, u32)> {
    let p = plugin();
    let ctx = ProbeContext::default();
    Kind::ALL
        .iter()
        .map(|k| (k.id(), p.probe(k.id(), head, &ctx)))
        .collect()
}

fn winner(head: &[u8]) -> Option<&'static str> {
    let b = bids(head);
    let best = b.iter().map(|x| x.1).max().filter(|&m| m > 0)?;
    let top: Vec<_> = b.iter().filter(|x| x.1 == best).collect();
    (top.len() == 1).then(|| top[0].0)
}

#[test]
fn detection_by_content_picks_the_right_container() {
    for (file, id, _) in FIXTURES {
        let bytes = std::fs::read(fixture(file)).expect("fixture");
        // the engine offers a head; try a short one and the whole file (TPC needs a tape mark
        // in the head, which common.tpc has only after 10 KiB)
        for n in [if *id == "tpc" { 16384 } else { 4096 }, 65536, bytes.len()] {
            let head = &bytes[..n.min(bytes.len())];
            assert_eq!(
                winner(head),
                Some(*id),
                "{file} with a {n}-byte head: {:?}",
                bids(head)
            );
        }
    }
}

#[test]
fn simh_and_e11_tie_without_odd_records() {
    let mut w = ImageWriter::new(
        Kind::Simh,
        "mem",
        Sink::Medium(Box::new(MemoryMedium::new(0))),
    )
    .expect("writer");
    for n in [80usize, 512, 2048] {
        w.write_record(&vec![7u8; n]).expect("write");
    }
    w.write_tape_mark().expect("mark");
    let bytes = writer_bytes(w);
    let b = bids(&bytes);
    let simh = b.iter().find(|x| x.0 == "simh").expect("simh").1;
    let e11 = b.iter().find(|x| x.0 == "e11").expect("e11").1;
    assert!(simh > 0 && simh == e11, "{b:?}");
    assert_eq!(
        winner(&bytes),
        None,
        "ambiguous: the engine must ask for --medium"
    );
}

#[test]
fn non_images_get_no_bid() {
    let zeros = vec![0u8; 65536];
    let text = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(500);
    let mut noise = vec![0u8; 65536];
    let mut x = 12345u32;
    for b in noise.iter_mut() {
        x = x.wrapping_mul(1103515245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let mut tar = vec![0u8; 10240];
    tar[..8].copy_from_slice(b"hello.tx");
    tar[257..262].copy_from_slice(b"ustar");
    for head in [
        &zeros[..],
        &text[..],
        &noise[..],
        &tar[..],
        b"",
        b"\x50\x00",
    ] {
        assert!(bids(head).iter().all(|b| b.1 == 0), "{:?}", bids(head));
    }
    let ctx = ProbeContext {
        is_dir: true,
        ..Default::default()
    };
    assert_eq!(
        plugin().probe(
            "simh",
            &std::fs::read(fixture("common.simh.tap")).expect("f"),
            &ctx
        ),
        0
    );
}

/// The bytes a writer over a memory medium produced.
fn writer_bytes(mut w: ImageWriter) -> Vec<u8> {
    w.finish().expect("finish");
    let Sink::Medium(m) = w.into_sink() else {
        panic!("memory sink")
    };
    let mut m = m;
    let mut out = vec![];
    let mut buf = vec![0u8; 1 << 20];
    m.space(Space::Rewind, 0).expect("rewind");
    loop {
        let r = m.read_record(&mut buf).expect("read");
        match r.status {
            RecordStatus::Data => out.extend_from_slice(&buf[..r.len]),
            RecordStatus::TapeMark => {}
            _ => return out,
        }
    }
}

/// The test records: odd lengths, a 200 KiB record, marks.
fn sample() -> Vec<Option<Vec<u8>>> {
    let rec = |n: usize, s: u32| {
        Some(
            (0..n as u32)
                .map(|i| (i.wrapping_mul(2654435761).wrapping_add(s) >> 13) as u8)
                .collect(),
        )
    };
    vec![
        rec(80, 1),
        rec(513, 2),
        rec(1, 3),
        None,
        rec(200 * 1024, 4),
        rec(65536, 5),
        rec(65535, 7),
        None,
        rec(10240, 6),
        None,
    ]
}

/// The sample without records over 65535 bytes: Hercules 3.x's limit (mtdump's is 65536).
fn peer_sample() -> Vec<Option<Vec<u8>>> {
    sample()
        .into_iter()
        .filter(|r| r.as_ref().is_none_or(|d| d.len() <= 65535))
        .collect()
}

fn write_sample(id: &str, path: &str, opts: &Options) {
    write_records(id, path, opts, sample())
}

fn write_records(id: &str, path: &str, opts: &Options, records: Vec<Option<Vec<u8>>>) {
    let mut m = open(id, path, OpenMode::Write, None, opts).expect("open for write");
    for r in records {
        match r {
            Some(d) => assert!(!m.write_record(&d).expect("write").early_warning),
            None => {
                m.write_tape_mark().expect("mark");
            }
        }
    }
    m.finish().expect("finish");
}

fn sample_objs() -> Vec<Obj> {
    objs_of(sample())
}

fn objs_of(records: Vec<Option<Vec<u8>>>) -> Vec<Obj> {
    let mut v: Vec<Obj> = records
        .into_iter()
        .map(|r| match r {
            Some(d) => Obj::Rec {
                len: d.len(),
                bad: false,
                sha: sha(&d),
            },
            None => Obj::Mark,
        })
        .collect();
    v.push(Obj::Mark); // finish completes the logical end of tape
    v
}

#[test]
fn writers_round_trip_record_for_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (id, opts) in [
        ("simh", Options::new()),
        ("aws", Options::new()),
        ("aws", Options::new().with("chunk-size", "4096")),
    ] {
        let p = dir.path().join(format!("rt-{id}.img"));
        let p = p.to_str().expect("utf-8");
        write_sample(id, p, &opts);
        let bytes = std::fs::read(p).expect("image");
        assert_eq!(winner(&bytes[..bytes.len().min(65536)]), Some(id));
        let got = read_objs(
            open(id, p, OpenMode::Read, None, &Options::new())
                .expect("open")
                .as_mut(),
        )
        .expect("read");
        assert_eq!(got, sample_objs(), "{id} {opts:?}");
    }
}

#[test]
fn simh_writer_pads_odd_records_and_ends_with_two_marks() {
    let mut w = ImageWriter::new(
        Kind::Simh,
        "mem",
        Sink::Medium(Box::new(MemoryMedium::new(0))),
    )
    .expect("writer");
    w.write_record(b"abc").expect("write");
    w.write_tape_mark().expect("mark");
    assert_eq!(
        writer_bytes(w),
        [
            &3u32.to_le_bytes()[..],
            b"abc\0",
            &3u32.to_le_bytes(),
            &[0; 4],
            &[0; 4]
        ]
        .concat(),
        "record, pad, trailer, the format's mark and one more for the logical end"
    );
    let mut w = ImageWriter::new(
        Kind::Simh,
        "mem",
        Sink::Medium(Box::new(MemoryMedium::new(0))),
    )
    .expect("writer");
    assert_eq!(
        w.write_record(b"").err().map(|e| e.kind),
        Some(ErrorKind::Unsupported)
    );
}

/// Run a program; None (with a note) when it is not installed.
fn run(prog: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(prog).args(args).output() {
        Ok(o) => Some(o),
        Err(e) => {
            eprintln!("NOTE: {prog} not available ({e}); install it (apt-get install simh hercules) for this check");
            None
        }
    }
}

fn python_read(kind: &str, path: &str) -> Vec<Obj> {
    let script = fixture("tapeimg.py");
    let out = run("python3", &[&script, "read", kind, path])
        .expect("python3 is required for the independent reader");
    assert!(
        out.status.success(),
        "tapeimg.py read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            match v["kind"].as_str() {
                Some("mark") => Some(Obj::Mark),
                Some("record") => Some(Obj::Rec {
                    len: v["len"].as_u64().expect("len") as usize,
                    bad: v["bad"].as_bool().expect("bad"),
                    sha: v["sha256"].as_str().expect("sha").into(),
                }),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn our_writers_read_back_by_the_independent_python_reader() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (id, opts) in [
        ("simh", Options::new()),
        ("aws", Options::new().with("chunk-size", "4096")),
    ] {
        let p = dir.path().join(format!("py-{id}.img"));
        let p = p.to_str().expect("utf-8");
        write_sample(id, p, &opts);
        assert_eq!(python_read(id, p), sample_objs(), "{id}");
    }
}

#[test]
fn our_simh_writer_read_by_simh_mtdump() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("mtdump.tap");
    let p = p.to_str().expect("utf-8");
    write_records("simh", p, &Options::new(), peer_sample());
    let Some(out) = run("mtdump", &["-s", p]) else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    // "Obj 1, position 0, record 1, length = 80 (0x50)" / "end of tape file 1" / "end of logical tape"
    let lens: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split("length = ").nth(1))
        .map(|s| {
            s.split_whitespace()
                .next()
                .expect("number")
                .parse()
                .expect("length")
        })
        .collect();
    let want: Vec<usize> = peer_sample()
        .into_iter()
        .flatten()
        .map(|d| d.len())
        .collect();
    assert_eq!(lens, want, "{text}");
    assert_eq!(text.matches("end of tape file").count(), 3, "{text}");
    assert!(text.contains("end of logical tape"), "{text}");
    assert!(!text.to_lowercase().contains("invalid"), "{text}");
}

#[test]
fn our_aws_writer_accepted_by_hercules_hetupd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("ours.aws");
    let p = p.to_str().expect("utf-8");
    write_records("aws", p, &Options::new(), peer_sample());
    for (flag, name) in [("-z", "hz.het"), ("-b", "hb.het"), ("-s", "hs.aws")] {
        let q = dir.path().join(name);
        let q = q.to_str().expect("utf-8");
        let Some(out) = run("hetupd", &[flag, p, q]) else {
            return;
        };
        assert!(
            out.status.success(),
            "hetupd {flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = if name.ends_with("het") { "het" } else { "aws" };
        let got = read_objs(
            open(id, q, OpenMode::Read, None, &Options::new())
                .expect("open")
                .as_mut(),
        )
        .expect("read");
        assert_eq!(got, objs_of(peer_sample()), "hetupd {flag}");
    }
}

#[test]
fn too_small_buffer_consumes_nothing() {
    for (file, id) in [
        ("common.simh.tap", "simh"),
        ("common.aws", "aws"),
        ("common.tpc", "tpc"),
    ] {
        let mut m = open(id, &fixture(file), OpenMode::Read, None, &Options::new()).expect("open");
        let mut small = [0u8; 10];
        let r = m.read_record(&mut small).expect("read");
        assert_eq!((r.status, r.len), (RecordStatus::TooSmall, 80), "{file}");
        assert_eq!(m.position().offset, 0);
        let mut buf = vec![0u8; 80];
        assert_eq!(m.read_record(&mut buf).expect("read"), RecordRead::data(80));
        assert!(buf.starts_with(b"VOL1RELIC1"));
    }
}

fn pos(m: &dyn Medium) -> (u64, u64, u64) {
    let Position {
        file,
        record,
        offset,
        ..
    } = m.position();
    (file, record, offset)
}

fn next_len(m: &mut dyn Medium) -> (RecordStatus, usize) {
    let mut buf = vec![0u8; 1 << 20];
    let r = m.read_record(&mut buf).expect("read");
    (r.status, r.len)
}

#[test]
fn spacing_follows_st_semantics_in_every_container() {
    for (file, id) in [
        ("common.simh.tap", "simh"),
        ("common.e11.tap", "e11"),
        ("common.tpc", "tpc"),
        ("common.het", "het"),
    ] {
        let mut m = open(id, &fixture(file), OpenMode::Read, None, &Options::new()).expect("open");
        let m = m.as_mut();
        // forward over one mark: file 1, record 0
        assert_eq!(m.space(Space::Files, 1).expect("fsf"), 1, "{file}");
        assert_eq!(pos(m).0, 1);
        assert_eq!(next_len(m), (RecordStatus::Data, 2048), "{file}");
        // records forward stop before the mark
        assert_eq!(m.space(Space::Records, 5).expect("fsr"), 2, "{file}");
        assert_eq!(pos(m).0..=pos(m).1, 1..=3);
        assert_eq!(next_len(m).0, RecordStatus::TapeMark, "{file}");
        // back over one record from inside file 2 (after its mark: file 2, record 0) stops at the mark
        assert_eq!(m.space(Space::Records, -1).expect("bsr"), 0, "{file}");
        // BSF 1: before the mark that ended file 1
        assert_eq!(m.space(Space::Files, -1).expect("bsf"), -1, "{file}");
        assert_eq!((pos(m).0, pos(m).1), (1, 3), "{file}");
        assert_eq!(next_len(m).0, RecordStatus::TapeMark, "{file}");
        // records back within file 1 after crossing into file 2 and back
        assert_eq!(m.space(Space::Files, -2).expect("bsf 2"), -2, "{file}");
        assert_eq!((pos(m).0, pos(m).1), (0, 3));
        assert_eq!(m.space(Space::Records, -2).expect("bsr 2"), -2, "{file}");
        assert_eq!(next_len(m), (RecordStatus::Data, 513), "{file}");
        // more than there is: BOT
        assert_eq!(m.space(Space::Files, -5).expect("bsf to bot"), 0, "{file}");
        assert_eq!(pos(m), (0, 0, 0));
        m.space(Space::EndOfData, 0).expect("eod");
        assert_eq!(next_len(m).0, RecordStatus::EndOfData);
        assert_eq!(pos(m).0, 4, "{file}: four marks passed");
        m.space(Space::Rewind, 0).expect("rewind");
        assert_eq!(next_len(m), (RecordStatus::Data, 80), "{file}");
    }
}

#[test]
fn positions_are_container_offsets() {
    let mut m = open(
        "simh",
        &fixture("common.simh.tap"),
        OpenMode::Read,
        None,
        &Options::new(),
    )
    .expect("open");
    m.space(Space::Files, 1).expect("fsf");
    // SIMH's mtdump lists file 2's first record at position 10622 = 8+80 + 8+513+1 + 8+10000 + 4
    assert_eq!(pos(m.as_ref()), (1, 0, 10622));
    next_len(m.as_mut());
    assert_eq!(pos(m.as_ref()), (1, 1, 10622 + 8 + 2048));
}

#[test]
fn extended_classes_bad_records_and_junk_after_eom() {
    let host = Arc::new(Recorder::default());
    let mut m = plugin()
        .open_medium(
            "simh",
            &fixture("extended.simh.tap"),
            OpenMode::Read,
            None,
            &Options::new(),
            host.clone(),
        )
        .expect("open");
    let got = read_objs(m.as_mut()).expect("read");
    assert_eq!(got, expected("extended.simh.tap"));
    assert_eq!(
        got.iter()
            .filter(|o| matches!(o, Obj::Rec { bad: true, .. }))
            .count(),
        2
    );
    let warnings = host.0.lock().expect("lock").join("\n");
    assert!(warnings.contains("description record"), "{warnings}");
    assert!(
        warnings.contains("after the end-of-medium marker"),
        "{warnings}"
    );
}

/// A SIMH image from raw words, for hostile cases.
fn words(ws: &[&[u8]]) -> Vec<u8> {
    ws.concat()
}

fn read_bytes(id: &str, bytes: &[u8]) -> (Result<Vec<Obj>>, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("x.img");
    std::fs::write(&p, bytes).expect("write");
    let host = Arc::new(Recorder::default());
    let mut m = plugin()
        .open_medium(
            id,
            p.to_str().expect("utf-8"),
            OpenMode::Read,
            None,
            &Options::new(),
            host.clone(),
        )
        .expect("open");
    let r = read_objs(m.as_mut());
    let w = host.0.lock().expect("lock").clone();
    (r, w)
}

#[test]
fn bad_input_gives_clear_errors_with_offsets() {
    let rec = |n: u32| words(&[&n.to_le_bytes(), &vec![1u8; n as usize], &n.to_le_bytes()]);
    // a length that runs past the end
    let img = words(&[&rec(100), &0x00FF_FFF0u32.to_le_bytes(), &[0u8; 50]]);
    let e = read_bytes("simh", &img).0.expect_err("truncated");
    assert_eq!((e.kind, e.offset), (ErrorKind::Truncated, Some(108)), "{e}");
    assert!(e.message.contains("tape file 0, record 1"), "{e}");
    // a huge extended-class length: refused before any allocation
    let img = words(&[&0x0FFF_FFFFu32.to_le_bytes(), &[0u8; 8]]);
    let e = read_bytes("simh", &img).0.expect_err("too large");
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(0)), "{e}");
    // trailer mismatch, with the E11 hint
    let img = words(&[&4u32.to_le_bytes(), b"abcd", &5u32.to_le_bytes()]);
    let e = read_bytes("simh", &img).0.expect_err("mismatch");
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(8)), "{e}");
    assert!(e.message.contains("--medium e11"), "{e}");
    // an image cut inside a record trailer
    let full = std::fs::read(fixture("common.simh.tap")).expect("fixture");
    let e = read_bytes("simh", &full[..90]).0.expect_err("cut");
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
    // AWS: a chunk continuing a record that never began
    let img = [0x10, 0, 0, 0, 0x00, 0]
        .iter()
        .copied()
        .chain([0u8; 16])
        .collect::<Vec<u8>>();
    let e = read_bytes("aws", &img).0.expect_err("no BOR");
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(0)), "{e}");
    // HET: a zlib record that does not decompress
    let img = [8, 0, 0, 0, 0xA1, 0]
        .iter()
        .copied()
        .chain(*b"notzlib!")
        .collect::<Vec<u8>>();
    let e = read_bytes("het", &img).0.expect_err("bad zlib");
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(0)), "{e}");
    assert!(e.message.contains("does not decompress"), "{e}");
    assert!(e.recoverable, "--salvage can go on after it");
    // and it does: the next record reads
    let mut img = [8, 0, 0, 0, 0xA1, 0]
        .iter()
        .copied()
        .chain(*b"notzlib!")
        .collect::<Vec<u8>>();
    img.extend_from_slice(&[3, 0, 8, 0, 0xA0, 0]);
    img.extend_from_slice(b"abc");
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("h.het");
    std::fs::write(&p, &img).expect("write");
    let mut m = open(
        "het",
        p.to_str().expect("u"),
        OpenMode::Read,
        None,
        &Options::new(),
    )
    .expect("open");
    let mut buf = [0u8; 16];
    assert!(m.read_record(&mut buf).is_err());
    assert_eq!(
        m.read_record(&mut buf).expect("next record"),
        RecordRead::data(3)
    );
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(m.position().record, 2);
    // TPC: a record running past the end
    let e = read_bytes("tpc", &[0x00, 0x10, 1, 2, 3])
        .0
        .expect_err("tpc past end");
    assert_eq!((e.kind, e.offset), (ErrorKind::Truncated, Some(0)), "{e}");
}

#[test]
fn junk_after_the_logical_end_is_a_warning() {
    let mut img = std::fs::read(fixture("common.simh.tap")).expect("fixture");
    img.extend_from_slice(b"\x13\x00\x00\x00 trailing garbage from the capture");
    let (r, w) = read_bytes("simh", &img);
    assert_eq!(r.expect("reads to the end"), expected("common.simh.tap"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("after the logical end of tape"), "{w:?}");
}

#[test]
fn multi_volume_write_to_capacity_then_read_back_three_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pattern = dir
        .path()
        .join("vol%03d.tap")
        .to_str()
        .expect("utf-8")
        .to_string();
    let first = dir
        .path()
        .join("vol001.tap")
        .to_str()
        .expect("utf-8")
        .to_string();
    let opts = Options::new()
        .with("capacity", "20k")
        .with("volumes", &pattern);
    let mut m = open("simh", &first, OpenMode::Write, None, &opts).expect("open");
    let records: Vec<Vec<u8>> = (0..25u8).map(|i| vec![i; 2000 + i as usize]).collect();
    let mut volume = 1;
    let mut per_volume = vec![0usize];
    for r in &records {
        let st = m.write_record(r).expect("write");
        *per_volume.last_mut().expect("volume") += 1;
        if st.early_warning {
            // the format closes the volume its way, then asks for the next
            m.write_tape_mark().expect("mark");
            volume += 1;
            assert!(m.next_volume(volume).expect("next volume"));
            assert_eq!(m.position().volume, volume);
            per_volume.push(0);
        }
    }
    m.finish().expect("finish");
    assert!(
        volume >= 3,
        "25 records of ~2 KiB over 20 KiB volumes: {per_volume:?}"
    );
    for v in 1..=volume {
        let p = dir.path().join(format!("vol{v:03}.tap"));
        let len = std::fs::metadata(&p).expect("volume exists").len();
        assert!(len <= 20 * 1024 + 2100 + 8, "volume {v} is {len} bytes");
    }
    let list: Vec<String> = (1..=volume)
        .map(|v| {
            dir.path()
                .join(format!("vol{v:03}.tap"))
                .to_str()
                .expect("u")
                .to_string()
        })
        .collect();
    // read back: location = list, volumes option = pattern, location = pattern
    let ways = [
        (list.join(","), Options::new()),
        (first.clone(), Options::new().with("volumes", &pattern)),
        (pattern.clone(), Options::new()),
    ];
    for (loc, opts) in ways {
        let mut m = open("simh", &loc, OpenMode::Read, None, &opts).expect("open");
        let mut got = vec![];
        let mut v = 1;
        let mut buf = vec![0u8; 4096];
        loop {
            let r = m.read_record(&mut buf).expect("read");
            match r.status {
                RecordStatus::Data => got.push(buf[..r.len].to_vec()),
                RecordStatus::TapeMark => {}
                RecordStatus::EndOfData => {
                    v += 1;
                    if !m.next_volume(v).expect("next") {
                        break;
                    }
                    assert_eq!(
                        m.position(),
                        Position {
                            file: 0,
                            record: 0,
                            offset: 0,
                            volume: v
                        }
                    );
                }
                s => panic!("{s:?}"),
            }
        }
        assert_eq!(got, records, "no record lost or duplicated ({loc})");
        assert_eq!(v, volume + 1);
    }
}

#[test]
fn writing_through_the_engines_inner_medium() {
    // as the engine does: the file medium opened on the output, handed to us as `inner`
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("out.aws");
    let p = p.to_str().expect("utf-8");
    let inner =
        relic_medium_file::FileMedium::open(p, OpenMode::Write, 0, None).expect("file medium");
    let mut m = open(
        "aws",
        p,
        OpenMode::Write,
        Some(Box::new(inner)),
        &Options::new(),
    )
    .expect("open");
    m.write_record(&[9u8; 70000]).expect("write");
    m.finish().expect("finish");
    let b = std::fs::read(p).expect("image");
    // one BOR chunk of 65535, one EOR chunk of 4465 (0x1171), two marks
    assert_eq!(b.len(), 6 + 65535 + 6 + 4465 + 6 + 6);
    assert_eq!(&b[..6], &[0xFF, 0xFF, 0, 0, 0x80, 0]);
    assert_eq!(
        &b[6 + 65535..6 + 65535 + 6],
        &[0x71, 0x11, 0xFF, 0xFF, 0x20, 0]
    );
    assert_eq!(
        &b[b.len() - 12..],
        &[0, 0, 0x71, 0x11, 0x40, 0, 0, 0, 0, 0, 0x40, 0]
    );
}

#[test]
fn tape_directory_reads_as_tape_files() {
    let dir = fixture("tapedir");
    let ctx = ProbeContext {
        location: dir.clone(),
        is_dir: true,
        ..Default::default()
    };
    assert_eq!(plugin().probe("tape-dir", b"", &ctx), 32);
    let mut m = open(
        "tape-dir",
        &dir,
        OpenMode::Read,
        None,
        &Options::new().with("record-size", "1k"),
    )
    .expect("open");
    let mut buf = vec![0u8; 1024];
    let mut seen = vec![];
    let mut file = vec![];
    loop {
        let r = m.read_record(&mut buf).expect("read");
        match r.status {
            RecordStatus::Data => {
                seen.push(r.len);
                file.extend_from_slice(&buf[..r.len]);
            }
            RecordStatus::TapeMark => {
                seen.push(0);
                file.clear();
            }
            RecordStatus::EndOfData => break,
            s => panic!("{s:?}"),
        }
        if seen == [1024, 1024, 952] {
            let text = std::fs::read_to_string(fixtures().join("expected.json")).expect("json");
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            assert_eq!(sha(&file), v["tapedir"][0]["sha256"].as_str().expect("sha"));
        }
    }
    assert_eq!(seen, vec![1024, 1024, 952, 0, 100, 0]);
    m.space(Space::Files, -1).expect("bsf");
    assert_eq!(pos(m.as_ref()), (1, 1, 3100));
    m.space(Space::Rewind, 0).expect("rewind");
    assert_eq!(m.space(Space::Records, 2).expect("fsr"), 2);
    assert_eq!(next_len(m.as_mut()), (RecordStatus::Data, 952));
    assert!(open("tape-dir", &dir, OpenMode::Write, None, &Options::new()).is_err());
}

#[test]
fn options_are_checked() {
    let e = open(
        "simh",
        &fixture("common.simh.tap"),
        OpenMode::Read,
        None,
        &Options::new().with("capacity", "1k"),
    );
    assert_eq!(
        e.err().map(|e| e.kind),
        Some(ErrorKind::Config),
        "capacity is a write option"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("x.het");
    assert_eq!(
        open(
            "het",
            p.to_str().expect("u"),
            OpenMode::Write,
            None,
            &Options::new()
        )
        .err()
        .map(|e| e.kind),
        Some(ErrorKind::Unsupported)
    );
    assert_eq!(
        open(
            "aws",
            p.to_str().expect("u"),
            OpenMode::Write,
            None,
            &Options::new().with("chunk-size", "100")
        )
        .err()
        .map(|e| e.kind),
        Some(ErrorKind::Config)
    );
}

#[test]
fn smoke_fuzz_over_fixtures() {
    let seeds: Vec<Vec<u8>> = FIXTURES
        .iter()
        .filter(|f| f.0 != "big.aws")
        .map(|f| std::fs::read(fixture(f.0)).expect("fixture"))
        .collect();
    smoke_fuzz(&seeds, 24, fuzz_read);
    // the big one, fewer times
    smoke_fuzz(
        &[std::fs::read(fixture("big.aws")).expect("fixture")],
        3,
        fuzz_read,
    );
}

/// The shared corpus' SIMH image (a VMS ANSI-labelled tape): compared with SIMH's own
/// `mtdump -s` listing of it when both are there.
#[test]
fn corpus_simh_image_matches_mtdump() {
    let corpus = std::env::var("RELIC_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    let img = corpus.join("vms/synthetic/ansi3.tap");
    if !img.exists() {
        eprintln!("NOTE: {} absent; corpus test skipped", img.display());
        return;
    }
    let img = img.to_str().expect("utf-8");
    let bytes = std::fs::read(img).expect("image");
    assert!(
        matches!(winner(&bytes[..65536]), Some("simh") | None),
        "{:?}",
        bids(&bytes[..65536])
    );
    let mut m = open("simh", img, OpenMode::Read, None, &Options::new()).expect("open");
    let got = read_objs(m.as_mut()).expect("reads to the end");
    let lens: Vec<usize> = got
        .iter()
        .filter_map(|o| {
            if let Obj::Rec { len, .. } = o {
                Some(*len)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(lens.first(), Some(&80), "VOL1 label first");
    let Some(out) = run("mtdump", &["-s", img]) else {
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let want: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split("length = ").nth(1))
        .map(|s| {
            s.split_whitespace()
                .next()
                .expect("number")
                .parse()
                .expect("length")
        })
        .collect();
    assert_eq!(lens, want);
    // mtdump calls the mark after an empty file "end of logical tape"
    let marks =
        text.matches("end of tape file").count() + text.matches("end of logical tape").count();
    assert_eq!(got.iter().filter(|o| **o == Obj::Mark).count(), marks);
}
