//! Read-only operations: list, info and verify.
//!
//! `verify` compares two archives of any formats entry by entry, like `restore -C` but
//! between formats: kind, permission bits, owner, size, mtime (to the coarser precision of the
//! two), symlink targets, device numbers, hard-link groups, data (SHA-256 of the logical
//! contents, holes read as zeros), the hole map, and whether data is present at all. It keeps
//! one small summary per entry of the first archive, never file contents.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use relic_model::{
    Chunk, DataState, Device, Entry, EntryKind, FormatReader, Host, Result, Timestamp, VolumeInfo,
};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::detect::{open_input, Detection, InputSpec};
use crate::host::Stats;
use crate::pipeline::Filter;
use crate::registry::Registry;

/// What `list` found besides the entries.
pub struct ListResult {
    pub detection: Detection,
    pub volume: VolumeInfo,
    pub unmatched_patterns: Vec<String>,
}

/// Call `each` for every selected entry (data is skipped, never copied).
pub fn list(
    reg: &Registry,
    input: &InputSpec,
    patterns: &[String],
    config: &Config,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
    mut each: impl FnMut(&Entry),
) -> Result<ListResult> {
    let mut opened = open_input(reg, input, config, host.clone(), stats.clone())?;
    let mut filter = Filter::new(patterns)?;
    let file = input.location.clone();
    let volume = opened
        .reader
        .volume()
        .map_err(|e| e.in_file(file.clone()))?;
    while let Some(e) = opened
        .reader
        .next_entry()
        .map_err(|e| e.in_file(file.clone()))?
    {
        if host.cancelled() {
            return Err(relic_model::Error::new(
                relic_model::ErrorKind::Cancelled,
                "interrupted",
            ));
        }
        if filter.select(&e.path) {
            Stats::add(&stats.entries, 1);
            each(&e);
        }
        if e.has_data() {
            opened
                .reader
                .skip_data()
                .map_err(|err| err.in_file(file.clone()).entry(&e.path))?;
        }
    }
    Ok(ListResult {
        detection: opened.detection,
        volume,
        unmatched_patterns: filter.unmatched(),
    })
}

/// Counts for `relic info`.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub by_kind: BTreeMap<&'static str, u64>,
    pub entries: u64,
    pub file_bytes: u64,
    pub absent_files: u64,
}

pub fn info(
    reg: &Registry,
    input: &InputSpec,
    config: &Config,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
) -> Result<(ListResult, Counts)> {
    let mut c = Counts::default();
    let r = list(reg, input, &[], config, host, stats, |e| {
        c.entries += 1;
        *c.by_kind.entry(e.kind.name()).or_default() += 1;
        if e.kind == EntryKind::File {
            c.file_bytes += e.size;
            if e.data == DataState::Absent {
                c.absent_files += 1;
            }
        }
    })?;
    Ok((r, c))
}

/// The facts `verify` compares for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Summary {
    kind: EntryKind,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: Option<Timestamp>,
    target: Option<Vec<u8>>,
    rdev: Option<Device>,
    data: DataState,
    hash: Option<[u8; 32]>,
    holes: Vec<(u64, u64)>,
    /// Representative path of the hard-link group (the first name), for files and links.
    group: Option<Vec<u8>>,
}

/// Summaries by path, and the paths that occurred more than once.
type Summaries = (BTreeMap<Vec<u8>, Summary>, Vec<Vec<u8>>);

fn summarise(reader: &mut dyn FormatReader, host: &dyn Host, file: &str) -> Result<Summaries> {
    let mut map = BTreeMap::new();
    let mut dups = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    while let Some(e) = reader
        .next_entry()
        .map_err(|err| err.in_file(file.to_string()))?
    {
        if host.cancelled() {
            return Err(relic_model::Error::new(
                relic_model::ErrorKind::Cancelled,
                "interrupted",
            ));
        }
        let mut s = Summary {
            kind: e.kind,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            mtime: e.mtime,
            target: if e.kind == EntryKind::Symlink {
                e.link_target.clone()
            } else {
                None
            },
            rdev: e.rdev,
            data: e.data,
            hash: None,
            holes: vec![],
            group: match e.kind {
                EntryKind::HardLink => e.link_target.clone(),
                EntryKind::File => Some(e.path.clone()),
                _ => None,
            },
        };
        if e.has_data() {
            let mut h = Sha256::new();
            let mut pos = 0u64;
            let zeros = [0u8; 8192];
            loop {
                let c = reader
                    .read_data(&mut buf)
                    .map_err(|err| err.in_file(file.to_string()).entry(&e.path))?;
                let (off, len) = match c {
                    Chunk::End => break,
                    Chunk::Data { offset, len }
                    | Chunk::Hole { offset, len }
                    | Chunk::Absent { offset, len } => (offset, len),
                };
                // a gap before a chunk reads as zeros, like a hole
                let mut gap = off.saturating_sub(pos);
                while gap > 0 {
                    let n = gap.min(zeros.len() as u64) as usize;
                    h.update(&zeros[..n]);
                    gap -= n as u64;
                }
                match c {
                    Chunk::Data { .. } => h.update(&buf[..len as usize]),
                    _ => {
                        if matches!(c, Chunk::Hole { .. }) {
                            s.holes.push((off, len));
                        }
                        let mut left = len;
                        while left > 0 {
                            let n = left.min(zeros.len() as u64) as usize;
                            h.update(&zeros[..n]);
                            left -= n as u64;
                        }
                    }
                }
                pos = off + len;
            }
            let mut tail = e.size.saturating_sub(pos);
            while tail > 0 {
                let n = tail.min(zeros.len() as u64) as usize;
                h.update(&zeros[..n]);
                tail -= n as u64;
            }
            s.hash = Some(h.finalize().into());
            merge_holes(&mut s.holes);
        }
        if map.insert(e.path.clone(), s).is_some() {
            dups.push(e.path);
        }
    }
    Ok((map, dups))
}

fn merge_holes(h: &mut Vec<(u64, u64)>) {
    h.sort();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(h.len());
    for &(o, l) in h.iter() {
        match out.last_mut() {
            Some((po, pl)) if *po + *pl == o => *pl += l,
            _ => out.push((o, l)),
        }
    }
    *h = out;
}

/// The result of `verify`.
#[derive(Debug, Default, Clone)]
pub struct VerifyReport {
    pub compared: u64,
    pub differences: Vec<String>,
}

fn same_time(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            if a.nanos == 0 || b.nanos == 0 {
                a.secs == b.secs
            } else {
                a == b
            }
        }
        // a format without times cannot be said to differ
        _ => true,
    }
}

fn show(p: &[u8]) -> String {
    relic_model::listing::escape(p)
}

/// Compare archives `a` and `b`.
pub fn verify(
    reg: &Registry,
    a: &InputSpec,
    b: &InputSpec,
    config: &Config,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
) -> Result<VerifyReport> {
    // an option may belong to either side's format or medium: check the union
    let a = &InputSpec {
        lenient: true,
        intent: relic_plugin_sdk::Intent::Full,
        ..a.clone()
    };
    let b = &InputSpec {
        lenient: true,
        intent: relic_plugin_sdk::Intent::Full,
        ..b.clone()
    };
    let mut ia = open_input(reg, a, config, host.clone(), stats.clone())?;
    let (ma, da) = summarise(ia.reader.as_mut(), host.as_ref(), &a.location)?;
    let ia_detection = ia.detection.clone();
    drop(ia);
    let mut ib = open_input(reg, b, config, host.clone(), stats)?;
    {
        let (da, db) = (&ia_detection, &ib.detection);
        let mut ids: Vec<&str> = vec![&da.format, &da.medium, &db.format, &db.medium];
        for c in [&da.container, &db.container].into_iter().flatten() {
            ids.push(&c.0);
        }
        crate::detect::check_options_union(reg, &a.options, &ids)?;
    }
    let (mb, db) = summarise(ib.reader.as_mut(), host.as_ref(), &b.location)?;
    let mut r = VerifyReport::default();
    for d in da {
        r.differences
            .push(format!("{}: appears more than once in A", show(&d)));
    }
    for d in db {
        r.differences
            .push(format!("{}: appears more than once in B", show(&d)));
    }
    // hard-link groups: the set of names sharing an inode, on each side
    let groups = |m: &BTreeMap<Vec<u8>, Summary>| {
        let mut g: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        for (p, s) in m {
            if let Some(rep) = &s.group {
                g.entry(rep.clone()).or_default().push(p.clone());
            }
        }
        g
    };
    let (ga, gb) = (groups(&ma), groups(&mb));
    let file_like = |k: EntryKind| matches!(k, EntryKind::File | EntryKind::HardLink);
    // the content of a hard link is that of its group's file
    let content = |m: &BTreeMap<Vec<u8>, Summary>, s: &Summary| -> Option<Summary> {
        match (&s.kind, &s.group) {
            (EntryKind::HardLink, Some(rep)) => m.get(rep).cloned(),
            _ => Some(s.clone()),
        }
    };
    for (path, sa) in &ma {
        let Some(sb) = mb.get(path) else {
            // A directory source always has a root "."; many archives do not name it.
            if path.as_slice() != b"." {
                r.differences.push(format!("{}: only in A", show(path)));
            }
            continue;
        };
        r.compared += 1;
        let p = show(path);
        let kinds_match = sa.kind == sb.kind || (file_like(sa.kind) && file_like(sb.kind));
        if !kinds_match {
            r.differences.push(format!(
                "{p}: kind {} in A, {} in B",
                sa.kind.name(),
                sb.kind.name()
            ));
            continue;
        }
        let (ca, cb) = (content(&ma, sa), content(&mb, sb));
        let (ca, cb) = match (ca, cb) {
            (Some(x), Some(y)) => (x, y),
            _ => {
                r.differences
                    .push(format!("{p}: hard link to a missing entry"));
                continue;
            }
        };
        if ca.mode != cb.mode {
            r.differences.push(format!(
                "{p}: mode {:04o} in A, {:04o} in B",
                ca.mode, cb.mode
            ));
        }
        if ca.uid != cb.uid || ca.gid != cb.gid {
            r.differences.push(format!(
                "{p}: owner {}:{} in A, {}:{} in B",
                ca.uid, ca.gid, cb.uid, cb.gid
            ));
        }
        if !same_time(ca.mtime, cb.mtime) {
            r.differences.push(format!(
                "{p}: mtime {:?} in A, {:?} in B",
                ca.mtime, cb.mtime
            ));
        }
        if ca.target != cb.target {
            r.differences.push(format!(
                "{p}: symlink target {} in A, {} in B",
                ca.target.as_deref().map(show).unwrap_or_default(),
                cb.target.as_deref().map(show).unwrap_or_default()
            ));
        }
        if matches!(ca.kind, EntryKind::CharDevice | EntryKind::BlockDevice) && ca.rdev != cb.rdev {
            r.differences.push(format!(
                "{p}: device {:?} in A, {:?} in B",
                ca.rdev, cb.rdev
            ));
        }
        if file_like(ca.kind) {
            if ca.size != cb.size {
                r.differences
                    .push(format!("{p}: size {} in A, {} in B", ca.size, cb.size));
            }
            if ca.data != cb.data {
                r.differences
                    .push(format!("{p}: data {:?} in A, {:?} in B", ca.data, cb.data));
            } else if ca.hash != cb.hash {
                r.differences.push(format!("{p}: contents differ"));
            }
            if ca.holes != cb.holes {
                r.differences.push(format!(
                    "{p}: holes {:?} in A, {:?} in B",
                    ca.holes, cb.holes
                ));
            }
            let members = |g: &HashMap<Vec<u8>, Vec<Vec<u8>>>, s: &Summary| {
                let mut v = s
                    .group
                    .as_ref()
                    .and_then(|rep| g.get(rep))
                    .cloned()
                    .unwrap_or_default();
                v.sort();
                v
            };
            let (la, lb) = (members(&ga, sa), members(&gb, sb));
            if la != lb {
                let names =
                    |v: &[Vec<u8>]| v.iter().map(|x| show(x)).collect::<Vec<_>>().join(", ");
                r.differences.push(format!(
                    "{p}: hard links [{}] in A, [{}] in B",
                    names(&la),
                    names(&lb)
                ));
            }
        }
    }
    for path in mb.keys() {
        // a root "." named by only one side is not a difference
        if !ma.contains_key(path) && path.as_slice() != b"." {
            r.differences.push(format!("{}: only in B", show(path)));
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_compare_at_the_coarser_precision() {
        let t = |s, n| Some(Timestamp::new(s, n));
        assert!(same_time(t(5, 100), t(5, 0)));
        assert!(!same_time(t(5, 100), t(5, 200)));
        assert!(!same_time(t(5, 0), t(6, 0)));
        assert!(same_time(None, t(1, 0)));
        let mut h = vec![(10, 5), (0, 10), (20, 1)];
        merge_holes(&mut h);
        assert_eq!(h, vec![(0, 15), (20, 1)]);
    }
}

/// One object of a medium's structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Record {
        file: u64,
        record: u64,
        len: u64,
        bad: bool,
    },
    Mark {
        file: u64,
    },
    /// The medium ended after `marks` tape marks.
    End {
        marks: u64,
        end_of_medium: bool,
    },
}

/// Walk every record and tape mark of an input (`relic media`), in bounded memory.
pub fn media(
    reg: &Registry,
    input: &InputSpec,
    config: &Config,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
    mut each: impl FnMut(&MediaEvent) -> bool,
) -> Result<crate::detect::OpenedRecords> {
    use relic_model::RecordStatus;
    let mut opened = crate::detect::open_records(reg, input, config, host.clone())?;
    let mut buf = vec![0u8; (opened.medium.info().max_record as usize).clamp(64 * 1024, 16 << 20)];
    let (mut file, mut record) = (0u64, 0u64);
    loop {
        if host.cancelled() {
            return Err(relic_model::Error::new(
                relic_model::ErrorKind::Cancelled,
                "interrupted",
            ));
        }
        let r = opened
            .medium
            .read_record(&mut buf)
            .map_err(|e| e.in_file(input.location.clone()))?;
        let ev = match r.status {
            RecordStatus::TooSmall => {
                if r.len > relic_plugin_sdk::stream::MAX_RECORD {
                    return Err(
                        relic_model::Error::corrupt(format!("record of {} bytes", r.len))
                            .in_file(input.location.clone()),
                    );
                }
                buf.resize(r.len, 0);
                continue;
            }
            RecordStatus::Data | RecordStatus::Bad => {
                Stats::add(&stats.bytes_in, r.len as u64);
                let ev = MediaEvent::Record {
                    file,
                    record,
                    len: r.len as u64,
                    bad: r.status == RecordStatus::Bad,
                };
                record += 1;
                ev
            }
            RecordStatus::TapeMark => {
                let ev = MediaEvent::Mark { file };
                file += 1;
                record = 0;
                ev
            }
            RecordStatus::EndOfData | RecordStatus::EndOfMedium => {
                each(&MediaEvent::End {
                    marks: file,
                    end_of_medium: r.status == RecordStatus::EndOfMedium,
                });
                return Ok(opened);
            }
        };
        if !each(&ev) {
            return Ok(opened);
        }
    }
}
