//! Shared helpers of the plugin's integration tests: the corpus location, reading a save set
//! into members, hashing.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use relic_format_vms_backup::{ReadOptions, VmsReader};
use relic_model::{Host, LogLevel, Medium, VolumeInfo};
use relic_plugin_sdk::testing::{read_all, Member};
use relic_plugin_sdk::HostHandle;
use sha2::{Digest, Sha256};

/// The VMS corpus directory (`$RELIC_CORPUS/vms` or `../shared/corpus/vms` next to the
/// repository), or `None` with a note when it is absent.
pub fn corpus() -> Option<PathBuf> {
    let root = std::env::var_os("RELIC_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
        });
    let dir = root.join("vms");
    if dir.join("expected").is_dir() {
        Some(dir)
    } else {
        eprintln!("corpus absent: skipping ({} not found)", dir.display());
        None
    }
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/vms-backup")
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A host that records warnings.
#[derive(Default)]
pub struct Recorder {
    pub warnings: Mutex<Vec<(String, Option<u64>)>>,
}

impl Host for Recorder {
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

impl Recorder {
    pub fn all(&self) -> Vec<String> {
        self.warnings
            .lock()
            .expect("lock")
            .iter()
            .map(|w| w.0.clone())
            .collect()
    }
}

/// Read a whole save set from a medium.
pub fn read_medium<M: Medium + 'static>(
    m: M,
    opts: ReadOptions,
) -> (
    relic_model::Result<(VolumeInfo, Vec<Member>)>,
    Arc<Recorder>,
) {
    let rec = Arc::new(Recorder::default());
    let host: HostHandle = rec.clone();
    let r = VmsReader::open(m, host, opts).and_then(|mut r| read_all(&mut r));
    (r, rec)
}

pub fn extra(m: &Member, key: &str) -> Option<String> {
    m.entry
        .extra(key)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}
