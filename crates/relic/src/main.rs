//! `relic`: convert, list, extract and verify the backup formats of old systems.
//!
//! The driver is thin on purpose: it parses the command line, loads plugins through
//! `relic-engine`'s registry, routes `--name value` options to whichever plugin declares
//! them, shows progress, prints reports and maps errors to exit codes. Every format and medium
//! arrives as a dynamic library at run time; nothing here names one.

mod cli;
mod progress;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser;
use relic_engine::{exit, Config, EngineHost, InputSpec, OutputSpec, Registry, SearchPaths, Stats};
use relic_model::{listing, Error};
use relic_plugin_sdk::Intent;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let code = match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("relic: error: {e}");
            exit::for_error(e.kind)
        }
    };
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn load_config(cli: &cli::Globals) -> Result<Config, Error> {
    if cli.no_config {
        return Ok(Config::default());
    }
    match &cli.config {
        Some(p) => Config::load(p, true),
        None => match Config::default_path() {
            Some(p) => Config::load(&p, false),
            None => Ok(Config::default()),
        },
    }
}

fn run(args: Vec<String>) -> Result<i32, Error> {
    // Phase 1: the global options that decide which plugins load.
    let pre = cli::prescan(&args);
    let config = load_config(&pre)?;
    let mut paths = SearchPaths::standard(&pre.plugins, &pre.plugin_dirs, &config.plugins.dirs);
    paths.disabled = config.plugins.disable.clone();
    let registry = Registry::discover(&paths);
    let verbosity = if pre.quiet { -1 } else { pre.verbose as i32 };

    // Phase 2: options declared by plugins, then the strict parse of the rest.
    let (rest, plugin_opts) = cli::extract_plugin_options(&args, &registry.declared_options());
    let cli = match Cli::try_parse_from(&rest) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return Ok(code);
        }
    };

    // Commands that read an input probe nearly every plugin: open their libraries on a
    // second thread while this one gets on with the command line and the input.
    if !matches!(cli.command, Command::Formats | Command::Plugins) {
        registry.preload_in_background();
    }

    // One line per plugin that failed to load; the full report only with -v.
    if !matches!(cli.command, Command::Plugins) && verbosity >= 0 {
        for f in &registry.failures {
            eprintln!("relic: {}", f.line());
            if verbosity >= 1 {
                eprintln!("{}", f.detail);
            }
        }
    }
    if verbosity >= 1 {
        for n in &registry.notes {
            eprintln!("relic: {n}");
        }
    }

    let cancel = Arc::new(AtomicBool::new(false));
    {
        let c = cancel.clone();
        let _ = ctrlc::set_handler(move || c.store(true, std::sync::atomic::Ordering::SeqCst));
    }
    let host = Arc::new(EngineHost::new(verbosity, cancel));
    let mut options = plugin_opts;
    let ctx = Ctx {
        registry,
        config,
        host,
        verbosity,
    };
    let vols = |v: &cli::VolumeArgs, more: Vec<String>| relic_engine::volumes::VolumeSource {
        more: more.into_iter().chain(v.volumes.iter().cloned()).collect(),
        pattern: None,
        hook: v.next_volume.clone(),
        prompt: true,
    };
    let input = |location: String,
                 format: Option<String>,
                 medium: Option<String>,
                 options: Vec<(String, String)>,
                 v: &cli::VolumeArgs,
                 more: Vec<String>| InputSpec {
        location,
        format,
        medium,
        options,
        lenient: false,
        volumes: vols(v, more),
        salvage: v.salvage,
        intent: Default::default(),
    };
    let code = match cli.command {
        Command::Formats => cmd_formats(&ctx),
        Command::Plugins => cmd_plugins(&ctx),
        Command::Media {
            input: i,
            json,
            medium,
            vol,
            opt,
        } => {
            options.extend(cli::parse_kv(&opt)?);
            cmd_media(&ctx, input(i, None, medium, options, &vol, vec![]), json)
        }
        Command::Info {
            input: i,
            vol,
            from,
            medium,
            opt,
        } => {
            options.extend(cli::parse_kv(&opt)?);
            let mut spec = input(i, from, medium, options, &vol, vec![]);
            spec.intent = Intent::List;
            cmd_info(&ctx, spec)
        }
        Command::List {
            input: i,
            patterns,
            vol,
            long,
            json,
            from,
            medium,
            opt,
        } => {
            options.extend(cli::parse_kv(&opt)?);
            let (more, patterns) = cli::split_volumes(&patterns);
            let mut spec = input(i, from, medium, options, &vol, more);
            // a path-only listing lets a reader answer from a table of contents
            spec.intent = if long || json {
                Intent::List
            } else {
                Intent::Names
            };
            cmd_list(&ctx, spec, &patterns, long, json)
        }
        Command::Extract {
            input: i,
            patterns,
            vol,
            directory,
            from,
            medium,
            strict,
            opt,
        } => {
            options.extend(cli::parse_kv(&opt)?);
            let (more, patterns) = cli::split_volumes(&patterns);
            let inp = input(i, from, medium, options.clone(), &vol, more);
            let output = OutputSpec {
                location: directory.to_string_lossy().into_owned(),
                format: "fs".into(),
                medium: None,
                options,
                lenient: false,
                volumes: Default::default(),
            };
            cmd_convert(&ctx, inp, output, strict, false, patterns)
        }
        Command::Convert {
            input: i,
            output,
            vol,
            to,
            from,
            medium,
            out_medium,
            strict,
            skip_absent,
            opt,
        } => {
            options.extend(cli::parse_kv(&opt)?);
            let o = OutputSpec {
                location: output,
                format: to,
                medium: out_medium,
                options: options.clone(),
                lenient: false,
                volumes: relic_engine::volumes::VolumeSource {
                    hook: vol.next_volume.clone(),
                    prompt: true,
                    ..Default::default()
                },
            };
            let i = input(i, from, medium, options, &vol, vec![]);
            cmd_convert(&ctx, i, o, strict, skip_absent, vec![])
        }
        Command::Create {
            dir,
            output,
            next_volume,
            to,
            out_medium,
            strict,
            opt,
        } => {
            options.extend(cli::parse_kv(&opt)?);
            if !std::path::Path::new(&dir).is_dir() {
                return Err(Error::config(format!("'{dir}' is not a directory")));
            }
            let i = InputSpec {
                location: dir,
                format: Some("fs".into()),
                options: options.clone(),
                ..Default::default()
            };
            let o = OutputSpec {
                location: output,
                format: to,
                medium: out_medium,
                options,
                lenient: false,
                volumes: relic_engine::volumes::VolumeSource {
                    hook: next_volume,
                    prompt: true,
                    ..Default::default()
                },
            };
            cmd_convert(&ctx, i, o, strict, false, vec![])
        }
        Command::Plugin(words) => cmd_plugin_command(&ctx, &words, options),
        Command::Verify {
            a,
            b,
            from_a,
            from_b,
            opt,
        } => {
            options.extend(cli::parse_kv(&opt)?);
            let a = InputSpec {
                location: a,
                format: from_a,
                options: options.clone(),
                ..Default::default()
            };
            let b = InputSpec {
                location: b,
                format: from_b,
                options,
                ..Default::default()
            };
            cmd_verify(&ctx, a, b)
        }
    };
    let salvaged = relic_engine::detect::salvaged_records();
    if salvaged > 0 && ctx.verbosity >= 0 {
        eprintln!("relic: --salvage skipped {salvaged} bad records");
    }
    code
}

struct Ctx {
    registry: Registry,
    config: Config,
    host: Arc<EngineHost>,
    verbosity: i32,
}

fn stdout_lines() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::new(std::io::stdout().lock())
}

/// Write a line to stdout; a closed pipe (e.g. `| head`) ends output quietly.
fn emit(out: &mut impl Write, line: &str) -> bool {
    writeln!(out, "{line}").is_ok()
}

fn cmd_formats(ctx: &Ctx) -> Result<i32, Error> {
    let mut out = stdout_lines();
    let _ = writeln!(
        out,
        "{:<14} {:<5} {:<10} {:<12} DESCRIPTION",
        "FORMAT", "R/W", "PLUGIN", "ALIASES"
    );
    for (e, f) in ctx.registry.formats() {
        let rw = format!(
            "{}{}",
            if f.read { "r" } else { "-" },
            if f.write { "w" } else { "-" }
        );
        let _ = writeln!(
            out,
            "{:<14} {:<5} {:<10} {:<12} {}",
            f.id,
            rw,
            e.plugin.descriptor.name,
            f.aliases.join(","),
            f.description
        );
        if ctx.verbosity >= 1 {
            for (n, h) in &f.options {
                if relic_plugin_sdk::Intent::is_host_option(n) {
                    continue; // a hint relic sets itself
                }
                let _ = writeln!(out, "    --{n:<22} {h}");
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<14} {:<5} {:<10} {:<12} DESCRIPTION",
        "MEDIUM", "R/W", "PLUGIN", "ALIASES"
    );
    for (e, m) in ctx.registry.media() {
        let rw = format!(
            "{}{}",
            if m.read { "r" } else { "-" },
            if m.write { "w" } else { "-" }
        );
        let _ = writeln!(
            out,
            "{:<14} {:<5} {:<10} {:<12} {}{}",
            m.id,
            rw,
            e.plugin.descriptor.name,
            m.aliases.join(","),
            m.description,
            if m.container { " (container)" } else { "" }
        );
        if ctx.verbosity >= 1 {
            for (n, h) in &m.options {
                let _ = writeln!(out, "    --{n:<22} {h}");
            }
        }
    }
    let commands: Vec<(&str, &relic_plugin_sdk::CommandInfo)> = ctx
        .registry
        .plugins
        .iter()
        .flat_map(|e| {
            e.plugin
                .commands
                .iter()
                .map(move |c| (e.plugin.descriptor.name.as_str(), c))
        })
        .collect();
    if !commands.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<14} {:<5} {:<10} {:<12} DESCRIPTION",
            "COMMAND", "", "PLUGIN", "FORMAT"
        );
        for (plugin, c) in commands {
            let _ = writeln!(
                out,
                "{:<14} {:<5} {:<10} {:<12} relic {} INPUT: {}",
                c.name, "", plugin, c.format, c.name, c.help
            );
        }
    }
    Ok(exit::OK)
}

fn cmd_plugins(ctx: &Ctx) -> Result<i32, Error> {
    let mut out = stdout_lines();
    for e in &ctx.registry.plugins {
        let d = &e.plugin.descriptor;
        let provides: Vec<String> = d
            .formats
            .iter()
            .map(|f| {
                format!(
                    "format {} ({}{})",
                    f.id,
                    if f.read { "r" } else { "-" },
                    if f.write { "w" } else { "-" }
                )
            })
            .chain(d.media.iter().map(|m| {
                format!(
                    "medium {} ({}{})",
                    m.id,
                    if m.read { "r" } else { "-" },
                    if m.write { "w" } else { "-" }
                )
            }))
            .collect();
        let _ = writeln!(
            out,
            "{} {} ABI {}.{} {}\n    provides: {}",
            d.name,
            d.version,
            e.plugin.abi.0,
            e.plugin.abi.1,
            e.origin,
            provides.join(", ")
        );
    }
    drop(out);
    for f in &ctx.registry.failures {
        eprintln!("relic: {}", f.line());
        if ctx.verbosity >= 1 {
            eprintln!("{}", f.detail);
        }
    }
    Ok(exit::OK)
}

fn print_detection(d: &relic_engine::detect::Detection) -> Vec<String> {
    let bid = |b: u32| {
        if b == u32::MAX {
            "given".to_string()
        } else {
            format!("bid {b}")
        }
    };
    let mut v = vec![format!("medium:     {} ({})", d.medium, bid(d.medium_bid))];
    if let Some((c, b)) = &d.container {
        v.push(format!("container:  {c} ({})", bid(*b)));
    }
    v.push(format!("format:     {} ({})", d.format, bid(d.format_bid)));
    if !d.others.is_empty() {
        let o: Vec<String> = d.others.iter().map(|(f, b)| format!("{f} {b}")).collect();
        v.push(format!("also bid:   {}", o.join(", ")));
    }
    v
}

fn notes(ctx: &Ctx, d: &relic_engine::detect::Detection) {
    if ctx.verbosity >= 0 {
        for n in &d.notes {
            eprintln!("relic: note: {n}");
        }
    }
}

fn bstr(b: &Option<Vec<u8>>) -> Option<String> {
    b.as_ref().map(|v| listing::escape(v))
}

fn cmd_media(ctx: &Ctx, input: InputSpec, json: bool) -> Result<i32, Error> {
    use relic_engine::ops::MediaEvent;
    use std::collections::BTreeMap;
    let stats = Arc::new(Stats::default());
    let mut out = stdout_lines();
    let mut open = true;
    // per tape file: record count, sizes histogram, bad records
    let mut sizes: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut records, mut bad, mut bytes) = (0u64, 0u64, 0u64);
    let mut summary: Vec<String> = Vec::new();
    let flush = |file: u64,
                 sizes: &mut BTreeMap<u64, u64>,
                 records: &mut u64,
                 bad: &mut u64,
                 bytes: &mut u64,
                 summary: &mut Vec<String>| {
        if *records > 0 {
            let hist: Vec<String> = sizes.iter().map(|(s, n)| format!("{s} x{n}")).collect();
            summary.push(format!(
                "file {file}: {} records, {} bytes{}; sizes {}",
                records,
                bytes,
                if *bad > 0 {
                    format!(", {bad} BAD")
                } else {
                    String::new()
                },
                hist.join(", ")
            ));
        }
        sizes.clear();
        *records = 0;
        *bad = 0;
        *bytes = 0;
    };
    let opened = relic_engine::ops::media(
        &ctx.registry,
        &input,
        &ctx.config,
        ctx.host.clone(),
        stats,
        |ev| {
            if json {
                let v = match ev {
                    MediaEvent::Record {
                        file,
                        record,
                        len,
                        bad,
                    } => {
                        serde_json::json!({"kind": "record", "file": file, "record": record, "len": len, "bad": bad})
                    }
                    MediaEvent::Mark { file } => serde_json::json!({"kind": "mark", "file": file}),
                    MediaEvent::End {
                        marks,
                        end_of_medium,
                    } => {
                        serde_json::json!({"kind": "end", "marks": marks, "end_of_medium": end_of_medium})
                    }
                };
                open = emit(&mut out, &v.to_string());
                return open;
            }
            match ev {
                MediaEvent::Record { len, bad: b, .. } => {
                    *sizes.entry(*len).or_default() += 1;
                    records += 1;
                    bytes += len;
                    if *b {
                        bad += 1;
                    }
                }
                MediaEvent::Mark { file } => {
                    flush(
                        *file,
                        &mut sizes,
                        &mut records,
                        &mut bad,
                        &mut bytes,
                        &mut summary,
                    );
                    summary.push(format!("tape mark after file {file}"));
                }
                MediaEvent::End {
                    marks,
                    end_of_medium,
                } => {
                    flush(
                        *marks,
                        &mut sizes,
                        &mut records,
                        &mut bad,
                        &mut bytes,
                        &mut summary,
                    );
                    summary.push(format!(
                        "{} after {marks} tape mark(s)",
                        if *end_of_medium {
                            "end of medium"
                        } else {
                            "end of data"
                        }
                    ));
                }
            }
            true
        },
    )?;
    if !json {
        let _ = writeln!(out, "input:      {}", input.location);
        let _ = writeln!(out, "medium:     {}", opened.medium_id);
        if let Some((c, b)) = &opened.container {
            let _ = writeln!(
                out,
                "container:  {c} ({})",
                if *b == u32::MAX {
                    "given".into()
                } else {
                    format!("bid {b}")
                }
            );
        }
        for l in summary {
            if !emit(&mut out, &l) {
                break;
            }
        }
    }
    let _ = out.flush();
    if ctx.verbosity >= 0 {
        for n in &opened.notes {
            eprintln!("relic: note: {n}");
        }
    }
    Ok(exit::OK)
}

/// `relic NAME INPUT` for a command a plugin declared: read INPUT with the command's format
/// and print the volume's `report` extra, or the listing when there is none.
fn cmd_plugin_command(
    ctx: &Ctx,
    words: &[String],
    options: Vec<(String, String)>,
) -> Result<i32, Error> {
    let name = words.first().map(String::as_str).unwrap_or("");
    let commands: Vec<&relic_plugin_sdk::CommandInfo> = ctx
        .registry
        .plugins
        .iter()
        .flat_map(|e| e.plugin.commands.iter())
        .collect();
    let Some(cmd) = commands.iter().find(|c| c.name == name) else {
        let known: Vec<&str> = commands.iter().map(|c| c.name.as_str()).collect();
        return Err(Error::config(format!(
            "unknown command '{name}' (see relic --help; plugin commands: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    let [_, input] = words else {
        return Err(Error::config(format!(
            "usage: relic {name} INPUT  ({})",
            cmd.help
        )));
    };
    let spec = InputSpec {
        location: input.clone(),
        format: Some(cmd.format.clone()),
        options,
        ..Default::default()
    };
    let mut lines = Vec::new();
    let r = relic_engine::ops::list(
        &ctx.registry,
        &spec,
        &[],
        &ctx.config,
        ctx.host.clone(),
        Arc::new(Stats::default()),
        |e| lines.push(listing::long_line(e)),
    )?;
    let mut out = stdout_lines();
    match r.volume.extras.iter().find(|x| x.key == "report") {
        Some(report) => {
            let _ = out.write_all(&report.value);
        }
        None => {
            for l in lines {
                if !emit(&mut out, &l) {
                    break;
                }
            }
        }
    }
    let _ = out.flush();
    Ok(exit::OK)
}

fn cmd_info(ctx: &Ctx, input: InputSpec) -> Result<i32, Error> {
    let stats = Arc::new(Stats::default());
    let (r, c) =
        relic_engine::ops::info(&ctx.registry, &input, &ctx.config, ctx.host.clone(), stats)?;
    notes(ctx, &r.detection);
    let mut out = stdout_lines();
    let _ = writeln!(out, "input:      {}", input.location);
    for l in print_detection(&r.detection) {
        let _ = writeln!(out, "{l}");
    }
    let v = &r.volume;
    if !v.variant.is_empty() {
        let _ = writeln!(out, "variant:    {}", v.variant);
    }
    let fields: Vec<(&str, Option<String>)> = vec![
        ("label", bstr(&v.label)),
        ("volume", v.volume.map(|n| n.to_string())),
        (
            "date",
            v.date.map(|t| relic_model::time::format_utc(t.secs)),
        ),
        (
            "since",
            v.since.map(|t| relic_model::time::format_utc(t.secs)),
        ),
        ("level", v.level.map(|n| n.to_string())),
        ("host", bstr(&v.host)),
        ("filesystem", bstr(&v.filesystem)),
        ("device", bstr(&v.device)),
        ("user", bstr(&v.user)),
        ("block size", v.block_size.map(|n| n.to_string())),
        ("record size", v.record_size.map(|n| n.to_string())),
    ];
    for (k, val) in fields {
        if let Some(val) = val {
            let _ = writeln!(out, "{:<11} {val}", format!("{k}:"));
        }
    }
    for x in &v.extras {
        let _ = writeln!(
            out,
            "{:<11} {}",
            format!("{}:", x.key),
            listing::escape(&x.value)
        );
    }
    let kinds: Vec<String> = c.by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let _ = writeln!(out, "entries:    {} ({})", c.entries, kinds.join(", "));
    let _ = writeln!(out, "file bytes: {}", c.file_bytes);
    if c.absent_files > 0 {
        let _ = writeln!(
            out,
            "absent:     {} files whose data the source does not hold",
            c.absent_files
        );
    }
    Ok(exit::OK)
}

fn cmd_list(
    ctx: &Ctx,
    input: InputSpec,
    patterns: &[String],
    long: bool,
    json: bool,
) -> Result<i32, Error> {
    let stats = Arc::new(Stats::default());
    let mut out = stdout_lines();
    let mut open = true;
    let r = relic_engine::ops::list(
        &ctx.registry,
        &input,
        patterns,
        &ctx.config,
        ctx.host.clone(),
        stats,
        |e| {
            if !open {
                return;
            }
            let line = if json {
                listing::json_line(e)
            } else if long {
                listing::long_line(e)
            } else {
                listing::short_line(e)
            };
            open = emit(&mut out, &line);
        },
    )?;
    let _ = out.flush();
    notes(ctx, &r.detection);
    for p in &r.unmatched_patterns {
        eprintln!("relic: {p}: not found in archive");
    }
    Ok(if r.unmatched_patterns.is_empty() {
        exit::OK
    } else {
        exit::DIFFERENCES
    })
}

fn cmd_convert(
    ctx: &Ctx,
    input: InputSpec,
    output: OutputSpec,
    strict: bool,
    skip_absent: bool,
    patterns: Vec<String>,
) -> Result<i32, Error> {
    let stats = Arc::new(Stats::default());
    let opts = relic_engine::ConvertOptions {
        strict,
        skip_absent,
        patterns,
        ..Default::default()
    };
    let bar = progress::start(ctx.verbosity, stats.clone(), ctx.host.clone());
    let r = relic_engine::pipeline::convert(
        &ctx.registry,
        &input,
        &output,
        &opts,
        &ctx.config,
        ctx.host.clone(),
        stats,
    );
    progress::finish(bar, &ctx.host);
    let r = r?;
    notes(ctx, &r.detection);
    if ctx.verbosity >= 1 {
        for l in print_detection(&r.detection) {
            eprintln!("relic: {l}");
        }
        eprintln!(
            "relic: {} entries read, {} written, {} data bytes, {} volume(s)",
            r.entries_read, r.entries_written, r.data_bytes, r.summary.volumes
        );
        for n in &r.summary.notes {
            eprintln!("relic: {n}");
        }
    }
    if r.skipped_absent > 0 && ctx.verbosity >= 0 {
        eprintln!(
            "relic: left out {} entries whose data the source does not hold (--skip-absent)",
            r.skipped_absent
        );
    }
    if !r.losses.is_empty() && ctx.verbosity >= 0 {
        eprintln!(
            "relic: loss report ({} losses; --strict refuses any):",
            r.losses.total()
        );
        eprint!("{}", r.losses);
    }
    for p in &r.unmatched_patterns {
        eprintln!("relic: {p}: not found in archive");
    }
    let refused = ctx
        .host
        .warnings()
        .iter()
        .filter(|w| w.contains("refusing"))
        .count();
    Ok(if !r.unmatched_patterns.is_empty() || refused > 0 {
        exit::DIFFERENCES
    } else {
        exit::OK
    })
}

fn cmd_verify(ctx: &Ctx, a: InputSpec, b: InputSpec) -> Result<i32, Error> {
    let stats = Arc::new(Stats::default());
    let r = relic_engine::ops::verify(&ctx.registry, &a, &b, &ctx.config, ctx.host.clone(), stats)?;
    let mut out = stdout_lines();
    for d in &r.differences {
        if !emit(&mut out, d) {
            break;
        }
    }
    let _ = out.flush();
    if ctx.verbosity >= 0 {
        eprintln!(
            "relic: compared {} entries, {} differences",
            r.compared,
            r.differences.len()
        );
    }
    Ok(if r.differences.is_empty() {
        exit::OK
    } else {
        exit::DIFFERENCES
    })
}
