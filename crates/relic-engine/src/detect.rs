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
use relic_plugin_sdk::{InputKind, Options, ProbeContext};

use crate::config::Config;
use crate::host::Stats;
use crate::media::{CountingMedium, ReplayMedium};
use crate::registry::{declares, Registry};

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
        if !declares(declared, &k) {
            return Err(Error::config(format!(
                "config: [formats.{id}] sets '{k}', which {id} does not know"
            )));
        }
        o.set(&k, &v);
    }
    for (k, v) in user {
        if declares(declared, k) {
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
    let explicit = spec.medium.as_deref().map(|m| reg.medium(m)).transpose()?;
    let (id, bid) = match explicit {
        Some((_, m)) if !m.container => (m.id.clone(), u32::MAX),
        _ => location_medium(reg, &spec.location, false)?,
    };
    let (entry, info) = reg.medium(&id)?;
    let opts = options_for(&id, &info.options, &spec.options, config)?;
    let m = entry
        .plugin
        .open_medium(&id, &spec.location, OpenMode::Read, None, &opts, host)
        .map_err(|e| e.in_file(spec.location.clone()))?;
    Ok((m, id, bid, opts))
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
    if is_dir && spec.medium.is_none() {
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
        let copts = options_for(cid, &cinfo.options, &spec.options, config)?;
        let opened = ce
            .plugin
            .open_medium(
                cid,
                &spec.location,
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
                        "no format recognises this input (first bytes: {}); name one with --from (known: {})",
                        hex_head(&head),
                        reg.format_ids().join(", ")
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
    let fopts = options_for(&format_id, &finfo.options, &spec.options, config)?;
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

/// An output written under a temporary name and renamed on success.
#[derive(Debug, Default)]
pub struct Commit {
    temp: Option<(PathBuf, PathBuf)>,
}

impl Commit {
    /// Rename the temporary file to its final name.
    pub fn commit(mut self) -> Result<()> {
        if let Some((tmp, fin)) = self.temp.take() {
            std::fs::rename(&tmp, &fin).map_err(|e| {
                Error::io(
                    format!("cannot rename {} to {}", tmp.display(), fin.display()),
                    &e,
                )
            })?;
        }
        Ok(())
    }
    /// Remove the temporary file (also done on drop).
    pub fn abort(mut self) {
        if let Some((tmp, _)) = self.temp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

impl Drop for Commit {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.temp.take() {
            let _ = std::fs::remove_file(tmp);
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

    // Plain files (existing regular files or new names) get temp + rename.
    let path = Path::new(&spec.location);
    let is_plain = match std::fs::metadata(path) {
        Ok(m) => m.is_file(),
        Err(_) => spec.location != "-" && (mid == "file" || container),
    };
    let (location, commit) = if is_plain {
        let tmp = temp_name(path);
        (
            tmp.to_string_lossy().into_owned(),
            Commit {
                temp: Some((tmp, path.to_path_buf())),
            },
        )
    } else {
        (spec.location.clone(), Commit::default())
    };
    let medium = me
        .plugin
        .open_medium(&mid, &location, OpenMode::Write, None, &mopts, host.clone())
        .map_err(|e| e.in_file(spec.location.clone()))?;
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
