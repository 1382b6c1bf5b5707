//! Opening inputs and outputs: which medium, which container, which format.
//!
//! Input: a directory goes to the formats that read paths (`fs`). Anything else is opened
//! with the medium that bids highest on its location (`-` a pipe, `host:/dev/nst0` rmt, a
//! character device a tape drive, everything else a file), unless `--medium` names one. Its
//! first records are read ahead ([`ReplayMedium`]) and offered to the container media (tape
//! images) and to every format reader; each bids the number of bits it verified
//! (libarchive's rule) and the highest bid wins. Ties and weak bids are reported; `--from`
//! and `--medium` override. Nothing is ever decided by file name extension.
//!
//! Output: a path format (`fs`) writes to the directory itself. Otherwise the writer gets a
//! medium; plain files and tape images are written under a temporary name in the same
//! directory and renamed only on success ([`Commit`]), so a failed or interrupted run never
//! leaves a truncated file that looks complete.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use relic_model::{Error, ErrorKind, FormatReader, FormatWriter, Host, Medium, OpenMode, Result};
use relic_plugin_sdk::{InputKind, Intent, Options, ProbeContext, INTENT_OPTION};

use crate::config::Config;
use crate::host::Stats;
use crate::media::{CountingMedium, ReplayMedium};
use crate::registry::{declares, Registry};
use crate::volumes::{expand, is_pattern, VolumeSetMedium, VolumeSource};

/// Bids below this are reported as weak detection.
pub const WEAK_BID: u32 = 16;

/// What the user said about an input.
#[derive(Debug, Clone, Default)]
pub struct InputSpec {
    pub location: String,
    /// `--from`: the format, skipping detection.
    pub format: Option<String>,
    /// `--medium`: a location medium (`file`, `pipe`, ...) or a container (`simh`, ...).
    pub medium: Option<String>,
    /// Options (`name`, `value`), routed to whichever component declares them.
    pub options: Vec<(String, String)>,
    /// Refuse options no component of this input declares. `convert` turns this off and
    /// checks the union of both sides instead ([`check_options_union`]).
    pub lenient: bool,
    /// Further volumes of a multi-volume set (a pattern in `location` is found by itself).
    pub volumes: VolumeSource,
    /// Skip bad records and recoverable errors, count them and report at the end.
    pub salvage: bool,
    /// What the entries are for, told to a format that declares the hint
    /// ([`relic_plugin_sdk::INTENT_OPTION`]).
    pub intent: Intent,
}

/// What the user said about an output.
#[derive(Debug, Clone, Default)]
pub struct OutputSpec {
    pub location: String,
    pub format: String,
    pub medium: Option<String>,
    pub options: Vec<(String, String)>,
    /// See [`InputSpec::lenient`].
    pub lenient: bool,
    /// How further volumes are named (a pattern in `location` is found by itself).
    pub volumes: VolumeSource,
}

/// How an input was recognised.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub medium: String,
    pub medium_bid: u32,
    pub container: Option<(String, u32)>,
    pub format: String,
    pub format_bid: u32,
    /// Other candidates with their bids, best first.
    pub others: Vec<(String, u32)>,
    /// Ties and weak bids, for the user.
    pub notes: Vec<String>,
    pub seekable: bool,
}

pub struct OpenedInput {
    pub reader: Box<dyn FormatReader>,
    pub detection: Detection,
}

fn location_facts(location: &str) -> (bool, bool) {
    match std::fs::metadata(location) {
        Ok(m) => (m.is_dir(), m.file_type().is_char_device()),
        Err(_) => (false, false),
    }
}

fn hex_head(head: &[u8]) -> String {
    head.iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Pick the options of `user` (and config defaults) that a component declares.
fn options_for(
    id: &str,
    declared: &[(String, String)],
    user: &[(String, String)],
    config: &Config,
) -> Result<Options> {
    let mut o = Options::new();
    for (k, v) in config.options_for(id) {
        if Intent::is_host_option(&k) {
            return Err(Error::config(format!(
                "config: [formats.{id}] sets '{k}', which only relic itself sets"
            )));
        }
        if !declares(declared, &k) {
            return Err(Error::config(format!(
                "config: [formats.{id}] sets '{k}', which {id} does not know"
            )));
        }
        o.set(&k, &v);
    }
    for (k, v) in user {
        if declares(declared, k) && !Intent::is_host_option(k) {
            o.set(k, v);
        }
    }
    Ok(o)
}

/// Refuse options that no chosen component declares.
fn check_all_used(
    user: &[(String, String)],
    components: &[(&str, &[(String, String)])],
) -> Result<()> {
    check_used(user, components, false)
}

fn check_used(
    user: &[(String, String)],
    components: &[(&str, &[(String, String)])],
    lenient: bool,
) -> Result<()> {
    if let Some((k, _)) = user.iter().find(|(k, _)| Intent::is_host_option(k)) {
        return Err(Error::config(format!(
            "option '{k}' is set by relic itself, not on the command line"
        )));
    }
    if lenient {
        return Ok(());
    }
    for (k, _) in user {
        if !components.iter().any(|(_, d)| declares(d, k)) {
            let names: Vec<&str> = components.iter().map(|(n, _)| *n).collect();
            return Err(Error::config(format!(
                "option '{k}' is not known to {}",
                names.join(" or ")
            )));
        }
    }
    Ok(())
}

/// The best non-container medium for a location.
fn location_medium(reg: &Registry, location: &str, write: bool) -> Result<(String, u32)> {
    let (is_dir, is_char_device) = location_facts(location);
    let ctx = ProbeContext {
        location: location.into(),
        is_dir,
        is_char_device,
        ..Default::default()
    };
    let mut best: Option<(String, u32)> = None;
    for (e, m) in reg.media() {
        if m.container || (write && !m.write) || (!write && !m.read) {
            continue;
        }
        let bid = e.plugin.probe(&m.id, &[], &ctx);
        if bid > 0 && best.as_ref().is_none_or(|(_, b)| bid > *b) {
            best = Some((m.id.clone(), bid));
        }
    }
    best.ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "no media plugin can open '{location}' (loaded media: {})",
                reg.medium_ids().join(", ")
            ),
        )
    })
}

/// Open the medium at a location (no container, no format).
pub fn open_base(
    reg: &Registry,
    spec: &InputSpec,
    config: &Config,
    host: Arc<dyn Host>,
) -> Result<(Box<dyn Medium>, String, u32, Options)> {
    let mut source = spec.volumes.clone();
    let first = if is_pattern(&spec.location) {
        source.pattern = Some(spec.location.clone());
        expand(&spec.location, 1)
    } else {
        spec.location.clone()
    };
    let explicit = spec.medium.as_deref().map(|m| reg.medium(m)).transpose()?;
    let (id, bid) = match explicit {
        Some((_, m)) if !m.container => (m.id.clone(), u32::MAX),
        _ => location_medium(reg, &first, false)?,
    };
    let (entry, info) = reg.medium(&id)?;
    let opts = options_for(&id, &info.options, &spec.options, config)?;
    let m = entry
        .plugin
        .open_medium(&id, &first, OpenMode::Read, None, &opts, host.clone())
        .map_err(|e| e.in_file(first.clone()))?;
    let m: Box<dyn Medium> = if source.is_empty() {
        m
    } else {
        let plugin = entry.plugin.clone();
        let (id2, opts2) = (id.clone(), opts.clone());
        let opener = Box::new(move |name: &str| {
            plugin.open_medium(&id2, name, OpenMode::Read, None, &opts2, host.clone())
        });
        Box::new(VolumeSetMedium::new(
            m,
            &first,
            source,
            opener,
            OpenMode::Read,
        ))
    };
    Ok((m, id, bid, opts))
}

static SALVAGED_RECORDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Bad records skipped by `--salvage` in this process.
pub fn salvaged_records() -> u64 {
    SALVAGED_RECORDS.load(std::sync::atomic::Ordering::Relaxed)
}

/// `--salvage`: bad-flagged records are dropped and counted instead of passed on.
pub struct SalvageMedium {
    inner: Box<dyn Medium>,
}

impl Medium for SalvageMedium {
    fn info(&self) -> relic_model::MediumInfo {
        self.inner.info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<relic_model::RecordRead> {
        loop {
            let r = self.inner.read_record(buf)?;
            if r.status == relic_model::RecordStatus::Bad {
                SALVAGED_RECORDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            return Ok(r);
        }
    }
    fn write_record(&mut self, data: &[u8]) -> Result<relic_model::WriteStatus> {
        self.inner.write_record(data)
    }
    fn write_tape_mark(&mut self) -> Result<relic_model::WriteStatus> {
        self.inner.write_tape_mark()
    }
    fn position(&self) -> relic_model::Position {
        self.inner.position()
    }
    fn space(&mut self, op: relic_model::Space, count: i64) -> Result<i64> {
        self.inner.space(op, count)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.inner.next_volume(number)
    }
    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
}

fn first_location(spec: &InputSpec) -> String {
    if is_pattern(&spec.location) {
        expand(&spec.location, 1)
    } else {
        spec.location.clone()
    }
}

/// Open an input: detect (or take) medium, container and format, and open the reader.
pub fn open_input(
    reg: &Registry,
    spec: &InputSpec,
    config: &Config,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
) -> Result<OpenedInput> {
    let (is_dir, _) = location_facts(&spec.location);
    if is_dir && spec.medium.is_none() && spec.volumes.more.is_empty() {
        return open_path_input(reg, spec, config, host);
    }
    let (base, medium_id, medium_bid, _) = open_base(reg, spec, config, host.clone())?;
    open_on(reg, spec, config, host, stats, base, medium_id, medium_bid)
}

fn open_path_input(
    reg: &Registry,
    spec: &InputSpec,
    config: &Config,
    host: Arc<dyn Host>,
) -> Result<OpenedInput> {
    let ctx = ProbeContext {
        location: spec.location.clone(),
        is_dir: true,
        ..Default::default()
    };
    let mut det = Detection {
        medium: "directory".into(),
        seekable: true,
        ..Default::default()
    };
    let (entry, finfo) = match &spec.format {
        Some(f) => {
            let (e, fi) = reg.format(f)?;
            det.format_bid = u32::MAX;
            (e, fi)
        }
        None => {
            let mut bids: Vec<(u32, &crate::registry::Entry, &relic_plugin_sdk::FormatInfo)> = reg
                .formats()
                .filter(|(_, f)| f.read && f.input == InputKind::Path)
                .map(|(e, f)| (e.plugin.probe(&f.id, &[], &ctx), e, f))
                .filter(|(b, _, _)| *b > 0)
                .collect();
            bids.sort_by_key(|b| std::cmp::Reverse(b.0));
            let Some((bid, e, f)) = bids.first().copied() else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "'{}' is a directory and no loaded plugin reads directories",
                        spec.location
                    ),
                ));
            };
            det.format_bid = bid;
            (e, f)
        }
    };
    if finfo.input != InputKind::Path {
        return Err(Error::config(format!(
            "'{}' is a directory; format {} reads archives, not directories",
            spec.location, finfo.id
        )));
    }
    check_used(&spec.options, &[(&finfo.id, &finfo.options)], spec.lenient)?;
    let opts = options_for(&finfo.id, &finfo.options, &spec.options, config)?;
    det.format = finfo.id.clone();
    let reader = entry
        .plugin
        .open_reader(&finfo.id, spec.location.as_bytes(), None, &opts, host)
        .map_err(|e| e.in_file(spec.location.clone()))?;
    Ok(OpenedInput {
        reader,
        detection: det,
    })
}

/// Detect container and format on an opened base medium and open the reader.
#[allow(clippy::too_many_arguments)]
pub fn open_on(
    reg: &Registry,
    spec: &InputSpec,
    config: &Config,
    host: Arc<dyn Host>,
    stats: Arc<Stats>,
    base: Box<dyn Medium>,
    medium_id: String,
    medium_bid: u32,
) -> Result<OpenedInput> {
    let file = spec.location.clone();
    let seekable = base.info().seekable;
    let counted: Box<dyn Medium> = Box::new(CountingMedium::new(base, stats));
    let replay = ReplayMedium::new(counted).map_err(|e| e.in_file(file.clone()))?;
    let mut det = Detection {
        medium: medium_id.clone(),
        medium_bid,
        seekable,
        ..Default::default()
    };
    let (_, medium_info) = reg.medium(&medium_id)?;
    let medium_decl = medium_info.options.clone();

    let ctx = ProbeContext {
        location: spec.location.clone(),
        record_lengths: replay.record_lengths().to_vec(),
        ..Default::default()
    };

    // Formats on the raw bytes.
    let format_bids = |head: &[u8], ctx: &ProbeContext| -> Vec<(u32, String)> {
        let mut v: Vec<(u32, String)> = reg
            .formats()
            .filter(|(_, f)| f.read && f.input == InputKind::Medium)
            .map(|(e, f)| (e.plugin.probe(&f.id, head, ctx), f.id.clone()))
            .filter(|(b, _)| *b > 0)
            .collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.0));
        v
    };

    // Container media (tape images): only when not told to read the location as it is.
    let explicit_container = match spec.medium.as_deref().map(|m| reg.medium(m)).transpose()? {
        Some((_, m)) if m.container => Some(m.id.clone()),
        _ => None,
    };
    let told_raw = spec.medium.is_some() && explicit_container.is_none();
    let mut container: Option<(String, u32)> = explicit_container.map(|c| (c, u32::MAX));
    // Format bids on the raw bytes, computed once: a probe runs once per input.
    let mut raw_bids: Option<Vec<(u32, String)>> = None;
    if container.is_none() && !told_raw {
        let mut bids: Vec<(u32, String)> = reg
            .media()
            .filter(|(_, m)| m.container && m.read)
            .map(|(e, m)| (e.plugin.probe(&m.id, replay.head(), &ctx), m.id.clone()))
            .filter(|(b, _)| *b > 0)
            .collect();
        bids.sort_by_key(|b| std::cmp::Reverse(b.0));
        if spec.format.is_none() {
            raw_bids = Some(format_bids(replay.head(), &ctx));
        }
        let raw_best = raw_bids
            .as_ref()
            .and_then(|b| b.first())
            .map(|b| b.0)
            .unwrap_or(0);
        if let Some((bid, id)) = bids.first() {
            if *bid > raw_best {
                if let Some((b2, id2)) = bids.get(1) {
                    if b2 == bid {
                        det.notes.push(format!(
                            "container is ambiguous: {id} and {id2} both fit ({bid} bits); using {id}, say --medium {id2} otherwise"
                        ));
                    }
                }
                container = Some((id.clone(), *bid));
            }
        }
    }

    let mut container_decl: Vec<(String, String)> = vec![];
    let medium: Box<dyn Medium>;
    let (head, record_lengths);
    if let Some((cid, cbid)) = &container {
        let (ce, cinfo) = reg.medium(cid)?;
        container_decl = cinfo.options.clone();
        let mut copts = options_for(cid, &cinfo.options, &spec.options, config)?;
        // a container that manages its own volume sets gets the whole set
        if declares(&cinfo.options, "volumes") && copts.get("volumes").is_none() {
            if !spec.volumes.more.is_empty() {
                let all: Vec<String> = std::iter::once(spec.location.clone())
                    .chain(spec.volumes.more.iter().cloned())
                    .collect();
                copts.set("volumes", &all.join(","));
            } else if is_pattern(&spec.location) {
                copts.set("volumes", &spec.location);
            }
        }
        let opened = ce
            .plugin
            .open_medium(
                cid,
                &first_location(spec),
                OpenMode::Read,
                Some(Box::new(replay)),
                &copts,
                host.clone(),
            )
            .map_err(|e| e.in_file(file.clone()))?;
        let inner_replay = ReplayMedium::new(opened).map_err(|e| e.in_file(file.clone()))?;
        head = inner_replay.head().to_vec();
        record_lengths = inner_replay.record_lengths().to_vec();
        medium = Box::new(inner_replay);
        det.container = Some((cid.clone(), *cbid));
    } else {
        head = replay.head().to_vec();
        record_lengths = replay.record_lengths().to_vec();
        medium = Box::new(replay);
    }

    // --salvage drops bad records of the medium the format reads (after any container)
    let medium: Box<dyn Medium> = if spec.salvage {
        Box::new(SalvageMedium { inner: medium })
    } else {
        medium
    };
    let ctx = ProbeContext {
        location: spec.location.clone(),
        record_lengths,
        ..Default::default()
    };
    let format_id = match &spec.format {
        Some(f) => {
            let (_, fi) = reg.format(f)?;
            det.format_bid = u32::MAX;
            fi.id.clone()
        }
        None => {
            let bids = match (&container, raw_bids) {
                (None, Some(b)) => b,
                _ => format_bids(&head, &ctx),
            };
            let Some((bid, id)) = bids.first().cloned() else {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "no format recognises this input (first bytes: {}); name one with --from (see `relic formats`)",
                        hex_head(&head)
                    ),
                )
                .in_file(file));
            };
            if let Some((b2, id2)) = bids.get(1) {
                if *b2 == bid {
                    det.notes.push(format!(
                        "format is ambiguous: {id} and {id2} both bid {bid}; using {id}, say --from {id2} otherwise"
                    ));
                }
            }
            if bid < WEAK_BID {
                det.notes.push(format!("weak detection: {id} verified only {bid} bits; check the listing or use --from"));
            }
            det.others = bids.iter().skip(1).map(|(b, i)| (i.clone(), *b)).collect();
            det.format_bid = bid;
            id
        }
    };
    let (fe, finfo) = reg.format(&format_id)?;
    if finfo.input != InputKind::Medium {
        return Err(Error::config(format!(
            "format {format_id} reads directories; '{}' is not one",
            spec.location
        )));
    }
    if !finfo.read {
        return Err(Error::config(format!(
            "format {format_id} cannot be read (write-only plugin)"
        )));
    }
    let mut components: Vec<(&str, &[(String, String)])> = vec![
        (finfo.id.as_str(), &finfo.options),
        (medium_id.as_str(), &medium_decl),
    ];
    if let Some((cid, _)) = &container {
        components.push((cid.as_str(), &container_decl));
    }
    check_used(&spec.options, &components, spec.lenient)?;
    let mut fopts = options_for(&format_id, &finfo.options, &spec.options, config)?;
    if spec.salvage && declares(&finfo.options, "salvage") {
        fopts.set("salvage", "");
    }
    if declares(&finfo.options, INTENT_OPTION) {
        fopts.set(INTENT_OPTION, spec.intent.as_str());
    }
    det.format = format_id.clone();
    let reader = fe
        .plugin
        .open_reader(
            &format_id,
            spec.location.as_bytes(),
            Some(medium),
            &fopts,
            host,
        )
        .map_err(|e| e.in_file(file))?;
    Ok(OpenedInput {
        reader,
        detection: det,
    })
}

/// Outputs written under temporary names and renamed on success (one per volume).
#[derive(Debug, Default, Clone)]
pub struct Commit {
    temps: Arc<std::sync::Mutex<Vec<(PathBuf, PathBuf)>>>,
}

impl Commit {
    fn add(&self, tmp: PathBuf, fin: PathBuf) {
        if let Ok(mut t) = self.temps.lock() {
            t.push((tmp, fin));
        }
    }
    fn take(&self) -> Vec<(PathBuf, PathBuf)> {
        self.temps
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default()
    }
    /// Rename every temporary file to its final name.
    pub fn commit(self) -> Result<()> {
        for (tmp, fin) in self.take() {
            std::fs::rename(&tmp, &fin).map_err(|e| {
                Error::io(
                    format!("cannot rename {} to {}", tmp.display(), fin.display()),
                    &e,
                )
            })?;
        }
        Ok(())
    }
    /// Remove the temporary files (also done when the last handle is dropped).
    pub fn abort(self) {
        for (tmp, _) in self.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

impl Drop for Commit {
    fn drop(&mut self) {
        if Arc::strong_count(&self.temps) == 1 {
            for (tmp, _) in self.take() {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

fn temp_name(final_path: &Path) -> PathBuf {
    let name = final_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let dir = final_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(".{name}.relic-{}.tmp", std::process::id()))
}

pub struct OpenedOutput {
    pub writer: Box<dyn FormatWriter>,
    pub commit: Commit,
    pub medium: String,
}

/// Open an output for writing `spec.format`.
pub fn open_output(
    reg: &Registry,
    spec: &OutputSpec,
    config: &Config,
    host: Arc<dyn Host>,
) -> Result<OpenedOutput> {
    let (fe, finfo) = reg.format(&spec.format)?;
    if !finfo.write {
        return Err(Error::config(format!(
            "format {} can be read but not written",
            finfo.id
        )));
    }
    if finfo.input == InputKind::Path {
        check_used(&spec.options, &[(&finfo.id, &finfo.options)], spec.lenient)?;
        let opts = options_for(&finfo.id, &finfo.options, &spec.options, config)?;
        let writer = fe
            .plugin
            .open_writer(&finfo.id, spec.location.as_bytes(), None, &opts, host)
            .map_err(|e| e.in_file(spec.location.clone()))?;
        return Ok(OpenedOutput {
            writer,
            commit: Commit::default(),
            medium: "directory".into(),
        });
    }
    let (mid, container) = match spec.medium.as_deref().map(|m| reg.medium(m)).transpose()? {
        Some((_, m)) => (m.id.clone(), m.container),
        None => (location_medium(reg, &spec.location, true)?.0, false),
    };
    let (me, minfo) = reg.medium(&mid)?;
    if !minfo.write {
        return Err(Error::config(format!("medium {mid} cannot be written")));
    }
    check_used(
        &spec.options,
        &[(&finfo.id, &finfo.options), (&mid, &minfo.options)],
        spec.lenient,
    )?;
    let mopts = options_for(&mid, &minfo.options, &spec.options, config)?;
    let fopts = options_for(&finfo.id, &finfo.options, &spec.options, config)?;

    // Plain files (existing regular files or new names) get temp + rename, every volume.
    let mut source = spec.volumes.clone();
    let first = if is_pattern(&spec.location) {
        source.pattern = Some(spec.location.clone());
        expand(&spec.location, 1)
    } else {
        spec.location.clone()
    };
    let plain = |loc: &str| match std::fs::metadata(loc) {
        Ok(m) => m.is_file(),
        Err(_) => loc != "-" && (mid == "file" || container),
    };
    let commit = Commit::default();
    let staged = |loc: &str, commit: &Commit| -> String {
        if plain(loc) {
            let tmp = temp_name(Path::new(loc));
            commit.add(tmp.clone(), PathBuf::from(loc));
            tmp.to_string_lossy().into_owned()
        } else {
            loc.to_string()
        }
    };
    let location = staged(&first, &commit);
    let medium = me
        .plugin
        .open_medium(&mid, &location, OpenMode::Write, None, &mopts, host.clone())
        .map_err(|e| e.in_file(first.clone()))?;
    let medium: Box<dyn Medium> = if source.is_empty() {
        medium
    } else {
        let plugin = me.plugin.clone();
        let (mid2, mopts2, host2, commit2) =
            (mid.clone(), mopts.clone(), host.clone(), commit.clone());
        let is_plain_kind = mid == "file" || container;
        let opener = Box::new(move |name: &str| {
            let loc =
                if is_plain_kind && std::fs::metadata(name).map(|m| m.is_file()).unwrap_or(true) {
                    let tmp = temp_name(Path::new(name));
                    commit2.add(tmp.clone(), PathBuf::from(name));
                    tmp.to_string_lossy().into_owned()
                } else {
                    name.to_string()
                };
            plugin.open_medium(&mid2, &loc, OpenMode::Write, None, &mopts2, host2.clone())
        });
        Box::new(VolumeSetMedium::new(
            medium,
            &first,
            source,
            opener,
            OpenMode::Write,
        ))
    };
    let writer = fe
        .plugin
        .open_writer(
            &finfo.id,
            spec.location.as_bytes(),
            Some(medium),
            &fopts,
            host,
        )
        .map_err(|e| e.in_file(spec.location.clone()))?;
    Ok(OpenedOutput {
        writer,
        commit,
        medium: mid,
    })
}

/// `convert`: every option must be declared by some component of the input or the output.
pub fn check_options_union(
    reg: &Registry,
    options: &[(String, String)],
    ids: &[&str],
) -> Result<()> {
    let mut decls: Vec<(String, Vec<(String, String)>)> = vec![];
    for id in ids {
        if let Ok((_, f)) = reg.format(id) {
            decls.push((f.id.clone(), f.options.clone()));
        }
        if let Ok((_, m)) = reg.medium(id) {
            decls.push((m.id.clone(), m.options.clone()));
        }
    }
    let comps: Vec<(&str, &[(String, String)])> = decls
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    check_all_used(options, &comps)
}

/// The record structure of an input, for `relic media`: the medium (and container) opened
/// exactly as for reading an archive, but no format.
pub struct OpenedRecords {
    pub medium: Box<dyn Medium>,
    pub medium_id: String,
    pub container: Option<(String, u32)>,
    pub notes: Vec<String>,
}

pub fn open_records(
    reg: &Registry,
    spec: &InputSpec,
    config: &Config,
    host: Arc<dyn Host>,
) -> Result<OpenedRecords> {
    let (base, medium_id, _, _) = open_base(reg, spec, config, host.clone())?;
    let replay = ReplayMedium::new(base).map_err(|e| e.in_file(spec.location.clone()))?;
    let ctx = ProbeContext {
        location: spec.location.clone(),
        record_lengths: replay.record_lengths().to_vec(),
        ..Default::default()
    };
    let mut notes = vec![];
    let explicit = match spec.medium.as_deref().map(|m| reg.medium(m)).transpose()? {
        Some((_, m)) if m.container => Some((m.id.clone(), u32::MAX)),
        Some(_) => {
            return Ok(OpenedRecords {
                medium: Box::new(replay),
                medium_id,
                container: None,
                notes,
            })
        }
        None => None,
    };
    let container = match explicit {
        Some(c) => Some(c),
        None => {
            let mut bids: Vec<(u32, String)> = reg
                .media()
                .filter(|(_, m)| m.container && m.read)
                .map(|(e, m)| (e.plugin.probe(&m.id, replay.head(), &ctx), m.id.clone()))
                .filter(|(b, _)| *b > 0)
                .collect();
            bids.sort_by_key(|b| std::cmp::Reverse(b.0));
            let raw_best = reg
                .formats()
                .filter(|(_, f)| f.read && f.input == InputKind::Medium)
                .map(|(e, f)| e.plugin.probe(&f.id, replay.head(), &ctx))
                .max()
                .unwrap_or(0);
            if let (Some((b1, i1)), Some((b2, i2))) = (bids.first(), bids.get(1)) {
                if b1 == b2 {
                    notes.push(format!(
                        "container is ambiguous: {i1} and {i2} both fit ({b1} bits); using {i1}"
                    ));
                }
            }
            bids.first()
                .filter(|(b, _)| *b > raw_best)
                .map(|(b, i)| (i.clone(), *b))
        }
    };
    let Some((cid, cbid)) = container else {
        return Ok(OpenedRecords {
            medium: Box::new(replay),
            medium_id,
            container: None,
            notes,
        });
    };
    let (ce, cinfo) = reg.medium(&cid)?;
    let copts = options_for(&cid, &cinfo.options, &spec.options, config)?;
    let m = ce
        .plugin
        .open_medium(
            &cid,
            &first_location(spec),
            OpenMode::Read,
            Some(Box::new(replay)),
            &copts,
            host,
        )
        .map_err(|e| e.in_file(spec.location.clone()))?;
    let m: Box<dyn Medium> = if spec.salvage {
        Box::new(SalvageMedium { inner: m })
    } else {
        m
    };
    Ok(OpenedRecords {
        medium: m,
        medium_id,
        container: Some((cid, cbid)),
        notes,
    })
}
