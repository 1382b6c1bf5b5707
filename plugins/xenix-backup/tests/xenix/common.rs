//! Helpers shared by the xenix-backup tests: fixtures and their expected contents (from
//! `fixtures/xenix-backup/expected.json`, written by the independent builder), media for
//! multi-volume sets in memory (read in hostile record sizes, written with a fixed capacity),
//! writing with our writer, and running the independent builder as a reader.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use relic_format_xenix_backup::{ReadOptions, WriteOptions, XenixReader, XenixWriter};
use relic_model::{
    Entry, Error, Host, LogLevel, Medium, MediumInfo, Position, RecordRead, RecordStatus, Result,
    Space, VolumeInfo, WriteStatus, WriteSummary,
};
use relic_plugin_sdk::testing::{read_all, write_all, HostileMedium, Member};
use sha2::{Digest, Sha256};

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/xenix-backup")
}

pub fn fixture(name: &str) -> Vec<u8> {
    let p = fixture_dir().join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("fixture {}: {e}", p.display()))
}

pub fn expected() -> serde_json::Value {
    let p = fixture_dir().join("expected.json");
    let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&s).expect("expected.json is JSON")
}

/// The single-volume fixtures named in expected.json.
pub fn fixture_names() -> Vec<String> {
    let e = expected();
    let mut v: Vec<String> = e
        .as_object()
        .expect("object")
        .keys()
        .filter(|k| k.ends_with(".dump"))
        .cloned()
        .collect();
    v.sort();
    v
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
    pub fn take(&self) -> Vec<(String, Option<u64>)> {
        std::mem::take(&mut *self.warnings.lock().expect("lock"))
    }
}

/// The volumes of a set, each handed out in hostile record sizes (1, 7, 37, 10240 bytes);
/// `next_volume(n)` switches to the n-th (from 1) if there is one.
pub struct VolumeSetReader {
    vols: Vec<Vec<u8>>,
    cur: HostileMedium,
    pub asked: Arc<Mutex<Vec<u32>>>,
}

impl VolumeSetReader {
    pub fn new(vols: Vec<Vec<u8>>) -> VolumeSetReader {
        let first = vols.first().cloned().unwrap_or_default();
        VolumeSetReader {
            vols,
            cur: HostileMedium::new(first, &[]),
            asked: Arc::default(),
        }
    }
}

impl Medium for VolumeSetReader {
    fn info(&self) -> MediumInfo {
        self.cur.info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        self.cur.read_record(buf)
    }
    fn write_record(&mut self, _data: &[u8]) -> Result<WriteStatus> {
        Err(Error::unsupported("read only"))
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Err(Error::unsupported("read only"))
    }
    fn position(&self) -> Position {
        self.cur.position()
    }
    fn space(&mut self, _op: Space, _count: i64) -> Result<i64> {
        Err(Error::unsupported("no spacing"))
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.asked.lock().expect("lock").push(number);
        match self.vols.get(number as usize - 1) {
            Some(v) if number >= 2 => {
                self.cur = HostileMedium::new(v.clone(), &[]);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Volumes written in memory: early warning once a volume holds `capacity` bytes, at most
/// `max_volumes` volumes.
pub struct VolumeSetWriter {
    pub vols: Vec<Vec<u8>>,
    pub record_sizes: Vec<usize>,
    pub capacity: Option<u64>,
    pub max_volumes: usize,
    pub finished: bool,
}

impl VolumeSetWriter {
    pub fn new(capacity: Option<u64>, max_volumes: usize) -> VolumeSetWriter {
        VolumeSetWriter {
            vols: vec![Vec::new()],
            record_sizes: Vec::new(),
            capacity,
            max_volumes,
            finished: false,
        }
    }
}

impl Medium for VolumeSetWriter {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "memory-set".into(),
            name: "memory-set".into(),
            ..MediumInfo::default()
        }
    }
    fn read_record(&mut self, _buf: &mut [u8]) -> Result<RecordRead> {
        Ok(RecordRead::mark(RecordStatus::EndOfData))
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        let v = self.vols.last_mut().expect("a volume");
        v.extend_from_slice(data);
        self.record_sizes.push(data.len());
        Ok(WriteStatus {
            early_warning: self.capacity.is_some_and(|c| v.len() as u64 >= c),
        })
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Ok(WriteStatus::default())
    }
    fn position(&self) -> Position {
        Position::default()
    }
    fn space(&mut self, _op: Space, _count: i64) -> Result<i64> {
        Err(Error::unsupported("no spacing"))
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        assert_eq!(
            number as usize,
            self.vols.len() + 1,
            "volumes asked in order"
        );
        if self.vols.len() >= self.max_volumes {
            return Ok(false);
        }
        self.vols.push(Vec::new());
        Ok(true)
    }
    fn finish(&mut self) -> Result<()> {
        self.finished = true;
        Ok(())
    }
}

pub type Warnings = Vec<(String, Option<u64>)>;

/// Read a set of volumes through the hostile medium.
pub fn read_set(
    vols: Vec<Vec<u8>>,
    opts: ReadOptions,
) -> (Result<(VolumeInfo, Vec<Member>)>, Warnings) {
    let host = Arc::new(RecHost::default());
    let r = XenixReader::new(VolumeSetReader::new(vols), host.clone(), opts)
        .and_then(|mut r| read_all(&mut r));
    (r, host.take())
}

pub fn read_hostile(data: &[u8]) -> (Result<(VolumeInfo, Vec<Member>)>, Warnings) {
    read_set(vec![data.to_vec()], ReadOptions::default())
}

pub fn read_ok(data: &[u8]) -> (VolumeInfo, Vec<Member>) {
    let (r, w) = read_hostile(data);
    r.unwrap_or_else(|e| panic!("reading failed: {e}\nwarnings: {w:?}"))
}

pub fn member<'a>(ms: &'a [Member], path: &[u8]) -> &'a Member {
    ms.iter()
        .find(|m| m.entry.path == path)
        .unwrap_or_else(|| panic!("no member {:?}", String::from_utf8_lossy(path)))
}

/// The data runs of a member: its size minus its holes.
pub fn data_runs(m: &Member) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut pos = 0;
    let mut holes = m.holes.clone();
    holes.sort();
    for (o, l) in holes.into_iter().chain(std::iter::once((m.entry.size, 0))) {
        if o > pos {
            match out.last_mut() {
                Some((a, b)) if *a + *b == pos => *b += o - pos,
                _ => out.push((pos, o - pos)),
            }
        }
        pos = pos.max(o + l);
    }
    out
}

pub fn sha256(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Write members with our writer into memory volumes.
pub fn write_set(
    opts: WriteOptions,
    volume: &VolumeInfo,
    members: &[Member],
    capacity: Option<u64>,
    max_volumes: usize,
) -> Result<(VolumeSetWriter, Warnings)> {
    let host = Arc::new(RecHost::default());
    let mut w = XenixWriter::new(
        VolumeSetWriter::new(capacity, max_volumes),
        opts,
        host.clone(),
    )?;
    write_all(&mut w, volume, members)?;
    let m = w
        .into_medium()
        .expect("finished writer gives its medium back");
    Ok((m, host.take()))
}

/// Run `f` with a writer and collect the summary (write_all drops it).
pub fn write_summary(opts: WriteOptions, members: &[Member]) -> WriteSummary {
    use relic_model::FormatWriter;
    let host = Arc::new(RecHost::default());
    let mut w = XenixWriter::new(VolumeSetWriter::new(None, 1), opts, host).expect("writer");
    w.begin_archive(&VolumeInfo::default()).expect("begin");
    for m in members {
        w.catalog_entry(&m.entry).expect("catalog");
    }
    w.end_catalog().expect("end catalog");
    for m in members {
        w.begin_entry(&m.entry).expect("begin");
        if m.entry.has_data() && !m.data.is_empty() {
            w.write_data(0, &m.data).expect("data");
        }
        w.end_entry().expect("end");
    }
    w.finish().expect("finish")
}

/// The independent builder, used as a reader: `builder.py read` on files. `None` (with a
/// note) when python3 is missing.
pub fn builder_read(files: &[PathBuf], order: Option<&str>) -> Option<serde_json::Value> {
    let script = fixture_dir().join("builder.py");
    let mut c = Command::new("python3");
    c.arg(&script).arg("read");
    if let Some(o) = order {
        c.args(["--order", o]);
    }
    c.args(files);
    let out = match c.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("python3 absent ({e}): skipping the independent reader check");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "builder.py read failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("builder.py prints JSON"))
}

/// Entry with the common metadata set.
pub fn entry(path: &str, kind: relic_model::EntryKind, mode: u32, mtime: i64) -> Entry {
    let mut e = Entry::new(path.as_bytes().to_vec(), kind);
    e.mode = mode;
    e.mtime = Some(relic_model::Timestamp::from_secs(mtime));
    e.atime = Some(relic_model::Timestamp::from_secs(mtime + 3));
    e.ctime = Some(relic_model::Timestamp::from_secs(mtime + 5));
    e
}
