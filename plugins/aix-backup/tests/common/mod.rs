//! Helpers shared by the integration tests of the aix-backup plugin: the corpus location,
//! a multi-volume in-memory medium, and reading/writing whole archives.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use relic_format_aix_backup::{open, ReadOptions};
use relic_model::{
    Error, Medium, MediumInfo, NullHost, Position, RecordRead, RecordStatus, Result, Space,
    VolumeInfo, WriteStatus,
};
use relic_plugin_sdk::testing::{read_all, HostileMedium, Member, MemoryMedium};
use relic_plugin_sdk::HostHandle;

/// The AIX corpus directory, or None (with the note tests must print).
pub fn corpus() -> Option<PathBuf> {
    let base = std::env::var_os("RELIC_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    let p = base.join("aix");
    if p.join("SOURCES.md").exists() {
        Some(p)
    } else {
        eprintln!("corpus absent: skipping ({} not found)", p.display());
        None
    }
}

pub fn host() -> HostHandle {
    Arc::new(NullHost)
}

/// A host that records warnings.
#[derive(Default)]
pub struct Recorder {
    pub warnings: std::sync::Mutex<Vec<String>>,
}

impl relic_model::Host for Recorder {
    fn log(&self, _l: relic_model::LogLevel, _m: &str) {}
    fn warn(&self, m: &str, off: Option<u64>) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(format!("{m} @{off:?}"));
        }
    }
    fn cancelled(&self) -> bool {
        false
    }
    fn event(&self, _k: u32, _p: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

/// Volumes in memory; `next_volume(n)` switches to volume n.
pub struct SetMedium {
    pub vols: Vec<Box<dyn Medium>>,
    pub cur: usize,
    /// Written volumes (write mode): bytes of each, shared so tests see them afterwards.
    pub written: Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    writing: bool,
    pub early_warning_at: Option<u64>,
    pub max_volumes: usize,
}

impl SetMedium {
    pub fn reading(vols: Vec<Box<dyn Medium>>) -> SetMedium {
        SetMedium {
            vols,
            cur: 0,
            written: Default::default(),
            writing: false,
            early_warning_at: None,
            max_volumes: 0,
        }
    }
    pub fn of_bytes(vols: &[Vec<u8>], record: usize) -> SetMedium {
        SetMedium::reading(
            vols.iter()
                .map(|v| Box::new(MemoryMedium::from_bytes(v, record)) as Box<dyn Medium>)
                .collect(),
        )
    }
    pub fn hostile(vols: &[Vec<u8>]) -> SetMedium {
        SetMedium::reading(
            vols.iter()
                .map(|v| Box::new(HostileMedium::new(v.clone(), &[])) as Box<dyn Medium>)
                .collect(),
        )
    }
    pub fn writing(early_warning_at: Option<u64>, max_volumes: usize) -> SetMedium {
        SetMedium {
            vols: vec![],
            cur: 0,
            written: Arc::new(std::sync::Mutex::new(vec![vec![]])),
            writing: true,
            early_warning_at,
            max_volumes,
        }
    }
}

impl Medium for SetMedium {
    fn info(&self) -> MediumInfo {
        match self.vols.get(self.cur) {
            Some(v) => v.info(),
            None => MediumInfo {
                kind: "set".into(),
                ..MediumInfo::default()
            },
        }
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        match self.vols.get_mut(self.cur) {
            Some(v) => v.read_record(buf),
            None => Ok(RecordRead::mark(RecordStatus::EndOfData)),
        }
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        let mut all = self.written.lock().map_err(|_| Error::internal("lock"))?;
        let w = all.last_mut().ok_or_else(|| Error::internal("no volume"))?;
        w.extend_from_slice(data);
        Ok(WriteStatus {
            early_warning: self.early_warning_at.is_some_and(|n| w.len() as u64 >= n),
        })
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Ok(WriteStatus::default())
    }
    fn position(&self) -> Position {
        Position {
            volume: self.cur as u32 + 1,
            ..Position::default()
        }
    }
    fn space(&mut self, _op: Space, _count: i64) -> Result<i64> {
        Err(Error::unsupported("no spacing"))
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        if self.writing {
            let mut all = self.written.lock().map_err(|_| Error::internal("lock"))?;
            if all.len() >= self.max_volumes {
                return Ok(false);
            }
            all.push(vec![]);
            return Ok(true);
        }
        let i = number as usize - 1;
        if i < self.vols.len() {
            self.cur = i;
            Ok(true)
        } else {
            Ok(false)
        }
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

pub fn opts() -> ReadOptions {
    ReadOptions::default()
}

/// Read a whole archive from a medium.
pub fn read_medium(m: Box<dyn Medium>, o: ReadOptions) -> Result<(VolumeInfo, Vec<Member>)> {
    let mut r = open(m, host(), o)?;
    read_all(r.as_mut())
}

/// Read a whole archive from bytes, through the hostile medium.
pub fn read_bytes(b: &[u8], o: ReadOptions) -> Result<(VolumeInfo, Vec<Member>)> {
    read_medium(Box::new(HostileMedium::new(b.to_vec(), &[])), o)
}

pub fn sha16(data: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Files of the corpus as volumes.
pub fn corpus_files(dir: &std::path::Path, names: &[&str]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| std::fs::read(dir.join(n)).expect("corpus file"))
        .collect()
}
