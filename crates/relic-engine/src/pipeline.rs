//! The conversion pipeline: reader -> model -> writer, streaming.
//!
//! The reader runs on its own thread and hands entries and data chunks to the writer (this
//! thread) through a bounded channel; data travels in a fixed pool of reusable buffers that
//! the writer side returns after use, so memory stays at `buffers x buffer_size` plus what
//! the plugins hold, whatever the archive size, and the data path allocates nothing per
//! chunk.
//!
//! Every entry is fitted to the writer's [`Capabilities`] with [`adapt_entry`]; each loss
//! goes into the [`LossReport`], and under `--strict` the first loss stops the run. Writers
//! that must see every entry before any data (dump formats write maps and directories first)
//! get a catalog pass: a seekable input is simply read twice, a non-seekable one is first
//! spooled to a temporary file.

use std::collections::HashSet;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::sync::Arc;

use relic_model::{
    adapt_entry, Capabilities, Chunk, DataState, Entry, EntryKind, Error, ErrorKind, FormatReader,
    FormatWriter, Host, Loss, LossKind, LossReport, Result, VolumeInfo, WriteSummary,
};

use crate::config::Config;
use crate::detect::{
    check_options_union, open_base, open_input, open_on, open_output, Detection, InputSpec,
    OpenedInput, OutputSpec,
};
use crate::host::Stats;
use crate::media::Spool;
use crate::registry::Registry;

/// How to convert.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Any loss is an error; no output is left behind.
    pub strict: bool,
    /// Leave out entries whose data the source does not hold.
    pub skip_absent: bool,
    /// Only entries matching one of these glob patterns (or inside a matching directory).
    pub patterns: Vec<String>,
    /// Size of the buffer pool and of each buffer.
    pub buffers: usize,
    pub buffer_size: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            strict: false,
            skip_absent: false,
            patterns: vec![],
            buffers: 8,
            buffer_size: 1 << 20,
        }
    }
}

/// What a conversion did.
#[derive(Debug, Clone, Default)]
pub struct ConvertReport {
    pub detection: Detection,
    pub volume: VolumeInfo,
    pub entries_read: u64,
    pub entries_written: u64,
    pub data_bytes: u64,
    pub losses: LossReport,
    pub skipped_absent: u64,
    pub unmatched_patterns: Vec<String>,
    pub summary: WriteSummary,
}

/// Compiled entry filter: a pattern selects matching paths and everything below them.
pub struct Filter {
    patterns: Vec<(String, glob::Pattern)>,
    matched: Vec<bool>,
}

impl Filter {
    pub fn new(patterns: &[String]) -> Result<Filter> {
        let compiled = patterns
            .iter()
            .map(|p| {
                let trimmed = p.trim_end_matches('/').trim_start_matches("./");
                glob::Pattern::new(trimmed)
                    .map(|g| (p.clone(), g))
                    .map_err(|e| Error::config(format!("bad pattern '{p}': {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let n = compiled.len();
        Ok(Filter {
            patterns: compiled,
            matched: vec![false; n],
        })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `path` is selected (a match on the path or on any parent directory).
    pub fn select(&mut self, path: &[u8]) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let p = String::from_utf8_lossy(path);
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: false,
        };
        let mut hit = false;
        for (i, (_, g)) in self.patterns.iter().enumerate() {
            let mut prefix = p.as_ref();
            loop {
                if g.matches_with(prefix, opts) {
                    self.matched[i] = true;
                    hit = true;
                    break;
                }
                match prefix.rfind('/') {
                    Some(k) => prefix = &prefix[..k],
                    None => break,
                }
            }
        }
        hit
    }

    /// Patterns that matched nothing (tar reports these as errors).
    pub fn unmatched(&self) -> Vec<String> {
        self.patterns
            .iter()
            .zip(&self.matched)
            .filter(|(_, m)| !**m)
            .map(|((p, _), _)| p.clone())
            .collect()
    }
}

enum Msg {
    Volume(VolumeInfo),
    Entry(Entry),
    Data(u64, Vec<u8>, usize),
    Hole(u64, u64),
    Absent(u64, u64),
    EndEntry,
    Done(Filter),
    Failed(Error),
}

fn cancelled_error() -> Error {
    Error::new(ErrorKind::Cancelled, "interrupted")
}

/// The reader thread: pulls entries and chunks and sends them on.
fn read_side(
    mut reader: Box<dyn FormatReader>,
    mut filter: Filter,
    tx: std::sync::mpsc::SyncSender<Msg>,
    pool: Receiver<Vec<u8>>,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
) {
    let run = || -> Result<Filter> {
        let vol = reader.volume()?;
        let mut spare: Option<Vec<u8>> = None;
        if tx.send(Msg::Volume(vol)).is_err() {
            return Ok(filter);
        }
        while let Some(entry) = reader.next_entry()? {
            if host.cancelled() {
                return Err(cancelled_error());
            }
            let selected = filter.select(&entry.path);
            let has_data = entry.has_data();
            if !selected {
                if has_data {
                    reader.skip_data()?;
                }
                continue;
            }
            Stats::add(&stats.entries, 1);
            let path = entry.path.clone();
            if tx.send(Msg::Entry(entry)).is_err() {
                return Ok(filter);
            }
            if has_data {
                loop {
                    // A buffer that carried no data (hole, absent, end) is kept for the next
                    // read instead of going back through the writer: the pool never leaks.
                    let mut buf = match spare.take() {
                        Some(b) => b,
                        None => pool
                            .recv()
                            .map_err(|_| Error::internal("buffer pool closed"))?,
                    };
                    let c = reader.read_data(&mut buf).map_err(|e| {
                        if e.entry.is_none() {
                            e.entry(&path)
                        } else {
                            e
                        }
                    })?;
                    let msg = match c {
                        Chunk::End => {
                            spare = Some(buf);
                            break;
                        }
                        Chunk::Data { offset, len } => {
                            Stats::add(&stats.data_bytes, len);
                            Msg::Data(offset, buf, len as usize)
                        }
                        Chunk::Hole { offset, len } => {
                            spare = Some(buf);
                            Msg::Hole(offset, len)
                        }
                        Chunk::Absent { offset, len } => {
                            spare = Some(buf);
                            Msg::Absent(offset, len)
                        }
                    };
                    if tx.send(msg).is_err() {
                        return Ok(filter);
                    }
                    if host.cancelled() {
                        return Err(cancelled_error());
                    }
                }
            }
            if tx.send(Msg::EndEntry).is_err() {
                return Ok(filter);
            }
        }
        Ok(filter)
    };
    let msg = match run() {
        Ok(f) => Msg::Done(f),
        Err(e) => Msg::Failed(e),
    };
    let _ = tx.send(msg);
}

/// State of the write side for one run.
struct WriteSide<'a> {
    writer: &'a mut dyn FormatWriter,
    caps: Capabilities,
    strict: bool,
    skip_absent: bool,
    report: ConvertReport,
    dropped: HashSet<Vec<u8>>,
    zeros: Vec<u8>,
}

impl WriteSide<'_> {
    fn loss(&mut self, loss: Loss) -> Result<()> {
        if self.strict {
            return Err(Error::new(
                ErrorKind::Loss,
                format!("--strict: {} ({})", loss.kind.describe(), loss.detail),
            )
            .entry(&loss.path));
        }
        self.report.losses.add(&loss);
        Ok(())
    }

    /// Fit an entry; returns it when it is to be written.
    fn admit(&mut self, entry: Entry) -> Result<Option<Entry>> {
        self.report.entries_read += 1;
        if self.skip_absent && entry.data == DataState::Absent {
            self.report.skipped_absent += 1;
            self.dropped.insert(entry.path);
            return Ok(None);
        }
        if entry.kind == EntryKind::HardLink {
            if let Some(t) = &entry.link_target {
                if self.dropped.contains(t) {
                    let path = entry.path.clone();
                    self.dropped.insert(path.clone());
                    self.loss(Loss {
                        kind: LossKind::LinkTargetMissing,
                        path,
                        detail: format!("target {} was not written", String::from_utf8_lossy(t)),
                    })?;
                    return Ok(None);
                }
            }
        }
        let path = entry.path.clone();
        let (kept, losses) = adapt_entry(entry, &self.caps);
        for l in losses {
            self.loss(l)?;
        }
        if kept.is_none() {
            self.dropped.insert(path);
        }
        Ok(kept)
    }

    fn zeros(&mut self, offset: u64, len: u64) -> Result<()> {
        let mut done = 0;
        while done < len {
            let n = (len - done).min(self.zeros.len() as u64) as usize;
            self.writer.write_data(offset + done, &self.zeros[..n])?;
            done += n as u64;
        }
        Ok(())
    }
}

/// Catalog pass: every admitted entry, metadata only.
fn catalog_pass(
    mut input: OpenedInput,
    side: &mut WriteSide<'_>,
    filter: &mut Filter,
    host: &dyn Host,
) -> Result<()> {
    let strict = side.strict;
    side.strict = false; // losses are reported once, in the data pass
    let mut seen = 0u64;
    while let Some(entry) = input.reader.next_entry()? {
        if host.cancelled() {
            return Err(cancelled_error());
        }
        let has_data = entry.has_data();
        if filter.select(&entry.path) {
            let (kept, _) = adapt_entry(entry, &side.caps);
            if let Some(e) = kept {
                if !(side.skip_absent && e.data == DataState::Absent) {
                    side.writer.catalog_entry(&e)?;
                    seen += 1;
                }
            }
        }
        if has_data {
            input.reader.skip_data()?;
        }
    }
    side.writer.end_catalog()?;
    side.strict = strict;
    host.log(
        relic_model::LogLevel::Info,
        &format!("catalog pass: {seen} entries"),
    );
    Ok(())
}

/// Convert `input` to `output`.
pub fn convert(
    reg: &Registry,
    input: &InputSpec,
    output: &OutputSpec,
    opts: &ConvertOptions,
    config: &Config,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
) -> Result<ConvertReport> {
    // Options are checked against both sides together: `--format` may belong to the
    // writer and `--record-size` to the input medium.
    let input = &InputSpec {
        lenient: true,
        intent: relic_plugin_sdk::Intent::Full,
        ..input.clone()
    };
    let output = &OutputSpec {
        lenient: true,
        ..output.clone()
    };
    let mut out = open_output(reg, output, config, host.clone())?;
    let caps = out.writer.capabilities();
    let out_name = output.location.clone();

    // Inputs for the catalog and data passes.
    let (catalog_input, data_input, _spool) = if caps.needs_catalog {
        let (is_dir, seekable_base) = match std::fs::metadata(&input.location) {
            Ok(m) if m.is_dir() && input.medium.is_none() => (true, true),
            _ => (false, false),
        };
        if is_dir {
            let first = open_input(reg, input, config, host.clone(), Arc::new(Stats::default()))?;
            let second = open_input(reg, input, config, host.clone(), stats.clone())?;
            (Some(first), second, None)
        } else {
            let (base, mid, mbid, _) = open_base(reg, input, config, host.clone())?;
            if base.info().seekable || seekable_base {
                drop(base);
                let first =
                    open_input(reg, input, config, host.clone(), Arc::new(Stats::default()))?;
                let second = open_input(reg, input, config, host.clone(), stats.clone())?;
                (Some(first), second, None)
            } else {
                host.log(
                    relic_model::LogLevel::Info,
                    "input cannot be read twice: spooling it to a temporary file",
                );
                let spool = Spool::fill(base, &|| host.cancelled())
                    .map_err(|e| e.in_file(input.location.clone()))?;
                let first = open_on(
                    reg,
                    input,
                    config,
                    host.clone(),
                    Arc::new(Stats::default()),
                    Box::new(spool.open()?),
                    mid.clone(),
                    mbid,
                )?;
                let second = open_on(
                    reg,
                    input,
                    config,
                    host.clone(),
                    stats.clone(),
                    Box::new(spool.open()?),
                    mid,
                    mbid,
                )?;
                (Some(first), second, Some(spool))
            }
        }
    } else {
        (
            None,
            open_input(reg, input, config, host.clone(), stats.clone())?,
            None,
        )
    };

    {
        let d = &data_input.detection;
        let mut ids: Vec<&str> = vec![
            d.format.as_str(),
            d.medium.as_str(),
            output.format.as_str(),
            out.medium.as_str(),
        ];
        if let Some((c, _)) = &d.container {
            ids.push(c.as_str());
        }
        if let Some(m) = &output.medium {
            ids.push(m.as_str());
        }
        check_options_union(reg, &input.options, &ids)?;
    }
    let mut side = WriteSide {
        writer: out.writer.as_mut(),
        caps,
        strict: opts.strict,
        skip_absent: opts.skip_absent,
        report: ConvertReport {
            detection: data_input.detection.clone(),
            ..Default::default()
        },
        dropped: HashSet::new(),
        zeros: vec![0u8; 64 * 1024],
    };

    let result = (|| -> Result<()> {
        let mut filter = Filter::new(&opts.patterns)?;
        if let Some(mut cat) = catalog_input {
            let vol = cat.reader.volume()?;
            side.writer.begin_archive(&vol)?;
            catalog_pass(cat, &mut side, &mut filter, host.as_ref())
                .map_err(|e| e.in_file(input.location.clone()))?;
            filter = Filter::new(&opts.patterns)?;
            run_data_pass(
                data_input,
                &mut side,
                filter,
                opts,
                host.clone(),
                stats.clone(),
                false,
                &input.location,
                &out_name,
            )
        } else {
            run_data_pass(
                data_input,
                &mut side,
                filter,
                opts,
                host.clone(),
                stats.clone(),
                true,
                &input.location,
                &out_name,
            )
        }
    })();
    let mut report = std::mem::take(&mut side.report);
    match result {
        Ok(()) => {
            report.summary = out
                .writer
                .finish()
                .map_err(|e| e.in_file(out_name.clone()))?;
            out.commit.commit()?;
            Ok(report)
        }
        Err(e) => {
            out.commit.abort();
            Err(e)
        }
    }
}

/// Errors from the reader thread name the input; errors of the writer name the output.
#[allow(clippy::too_many_arguments)]
fn run_data_pass(
    input: OpenedInput,
    side: &mut WriteSide<'_>,
    filter: Filter,
    opts: &ConvertOptions,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
    begin_archive: bool,
    in_name: &str,
    out_name: &str,
) -> Result<()> {
    let (tx, rx) = sync_channel::<Msg>(opts.buffers.max(2) * 2);
    let (pool_tx, pool_rx): (Sender<Vec<u8>>, Receiver<Vec<u8>>) = channel();
    for _ in 0..opts.buffers.max(2) {
        pool_tx
            .send(vec![0u8; opts.buffer_size.max(4096)])
            .map_err(|_| Error::internal("pool"))?;
    }
    let reader = input.reader;
    let h2 = host.clone();
    let handle = std::thread::Builder::new()
        .name("relic-reader".into())
        .spawn(move || read_side(reader, filter, tx, pool_rx, h2, stats))
        .map_err(|e| Error::io("cannot start reader thread", &e))?;

    let result = (|| -> Result<Filter> {
        let mut current: Option<Entry> = None; // admitted entry being written
        let mut filled_holes = false;
        loop {
            let msg = rx
                .recv()
                .map_err(|_| Error::internal("reader thread ended without a result"))?;
            if host.cancelled() {
                return Err(cancelled_error());
            }
            match msg {
                Msg::Volume(v) => {
                    side.report.volume = v.clone();
                    if begin_archive {
                        side.writer.begin_archive(&v)?;
                    }
                }
                Msg::Entry(e) => {
                    let path = e.path.clone();
                    current = side.admit(e)?;
                    filled_holes = false;
                    if let Some(e) = &current {
                        side.writer.begin_entry(e).map_err(|err| {
                            if err.entry.is_none() {
                                err.entry(&path)
                            } else {
                                err
                            }
                        })?;
                    }
                }
                Msg::Data(off, buf, len) => {
                    if current.is_some() {
                        side.writer.write_data(off, &buf[..len])?;
                        side.report.data_bytes += len as u64;
                    }
                    let _ = pool_tx.send(buf);
                }
                Msg::Hole(off, len) | Msg::Absent(off, len) if current.is_none() => {
                    let _ = (off, len);
                }
                Msg::Hole(off, len) => {
                    if side.caps.holes {
                        side.writer.write_hole(off, len)?;
                    } else {
                        if !filled_holes {
                            filled_holes = true;
                            let path = current.as_ref().map(|e| e.path.clone()).unwrap_or_default();
                            side.loss(Loss {
                                kind: LossKind::HolesFilled,
                                path,
                                detail: "sparse file written dense".into(),
                            })?;
                        }
                        side.zeros(off, len)?;
                    }
                }
                Msg::Absent(off, len) => {
                    side.report.losses.absent_bytes += len;
                    if side.caps.holes {
                        side.writer.write_hole(off, len)?;
                    } else {
                        side.zeros(off, len)?;
                    }
                }
                Msg::EndEntry => {
                    if current.take().is_some() {
                        side.writer.end_entry()?;
                        side.report.entries_written += 1;
                    }
                }
                Msg::Done(f) => return Ok(f),
                Msg::Failed(e) => return Err(e.in_file(in_name.to_string())),
            }
        }
    })();
    drop(rx); // unblocks the reader if we stopped early
    let _ = handle.join();
    let filter = result.map_err(|e| e.in_file(out_name.to_string()))?;
    side.report.unmatched_patterns = filter.unmatched();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_selects_paths_and_their_contents() {
        let mut f = Filter::new(&["docs".into(), "*.c".into(), "nothing".into()]).expect("valid");
        assert!(f.select(b"docs"));
        assert!(f.select(b"docs/a/b.txt"));
        assert!(f.select(b"main.c"));
        assert!(!f.select(b"src/main.c"), "* does not cross /");
        assert!(!f.select(b"docsx"));
        assert_eq!(f.unmatched(), vec!["nothing".to_string()]);
        assert!(Filter::new(&["[".into()]).is_err());
    }
}
