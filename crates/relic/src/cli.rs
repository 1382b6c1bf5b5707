//! The command line: clap definitions, the pre-scan of the options that decide which plugins
//! load, and the routing of plugin-declared options (`--level 0`, `--absolute-names`) that
//! the driver itself does not know.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use relic_model::Error;

const AFTER_HELP: &str = "\
Format and medium options: every option a plugin declares (see `relic formats -v`) can be
given as --NAME VALUE / --NAME=VALUE / --FLAG, or as -o NAME=VALUE. For convert, options go to
whichever side (input or output) declares them.

Exit codes: 0 ok; 1 differences (verify), loss under --strict, refused entries or unmatched
patterns; 2 usage, unknown format/option/plugin; 3 corrupt, truncated or unsupported input;
4 I/O or media error; 5 internal error (a plugin bug); 130 interrupted.";

#[derive(Debug, Parser)]
#[command(name = "relic", version, about = "Read, write and convert the backup formats of old systems", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Default, Args)]
pub struct Globals {
    /// More detail (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Load this plugin library (repeatable; searched first)
    #[arg(long = "plugin", global = true, value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
    /// Search this directory for plugins (repeatable; searched first)
    #[arg(long = "plugin-dir", global = true, value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
    /// Configuration file (default $XDG_CONFIG_HOME/relic/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Ignore the configuration file
    #[arg(long, global = true)]
    pub no_config: bool,
}

/// How the volumes of a multi-volume set are found, and damage handling.
#[derive(Debug, Default, Args)]
pub struct VolumeArgs {
    /// Another volume of the input set, in order (repeatable; a location with %03d is a
    /// numbered set by itself)
    #[arg(long = "volume", value_name = "LOCATION")]
    pub volumes: Vec<String>,
    /// Run `CMD N` to mount or name volume N (its first output line is the location)
    #[arg(long, value_name = "CMD")]
    pub next_volume: Option<String>,
    /// Skip bad records and damaged headers, count them and go on
    #[arg(long)]
    pub salvage: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the formats and media the loaded plugins provide
    Formats,
    /// List loaded plugins: name, version, ABI, file, what they provide
    Plugins,
    /// Show the record structure of an input: container, tape files, records, marks
    Media {
        input: String,
        /// One JSON object per record, mark and end
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "MEDIUM")]
        medium: Option<String>,
        #[command(flatten)]
        vol: VolumeArgs,
        #[arg(short = 'o', long = "opt", value_name = "NAME=VALUE")]
        opt: Vec<String>,
    },
    /// Show how an input was recognised, its volume label and counts
    Info {
        input: String,
        #[command(flatten)]
        vol: VolumeArgs,
        #[arg(long, value_name = "FORMAT")]
        from: Option<String>,
        #[arg(long, value_name = "MEDIUM")]
        medium: Option<String>,
        #[arg(short = 'o', long = "opt", value_name = "NAME=VALUE")]
        opt: Vec<String>,
    },
    /// List the entries of an archive
    List {
        input: String,
        /// Further volumes of the set (existing files), then glob patterns selecting entries
        /// (and what is below them)
        patterns: Vec<String>,
        #[command(flatten)]
        vol: VolumeArgs,
        /// ls -l style
        #[arg(short, long)]
        long: bool,
        /// One JSON object per entry
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "FORMAT")]
        from: Option<String>,
        #[arg(long, value_name = "MEDIUM")]
        medium: Option<String>,
        #[arg(short = 'o', long = "opt", value_name = "NAME=VALUE")]
        opt: Vec<String>,
    },
    /// Extract an archive into a directory
    Extract {
        input: String,
        /// Further volumes of the set (existing files), then glob patterns
        patterns: Vec<String>,
        #[command(flatten)]
        vol: VolumeArgs,
        /// Target directory
        #[arg(short = 'C', long = "directory", default_value = ".")]
        directory: PathBuf,
        #[arg(long, value_name = "FORMAT")]
        from: Option<String>,
        #[arg(long, value_name = "MEDIUM")]
        medium: Option<String>,
        /// Fail on any information loss
        #[arg(long)]
        strict: bool,
        #[arg(short = 'o', long = "opt", value_name = "NAME=VALUE")]
        opt: Vec<String>,
    },
    /// Convert an archive to another format
    Convert {
        input: String,
        /// Output location (a %03d pattern writes a numbered volume set)
        output: String,
        #[command(flatten)]
        vol: VolumeArgs,
        #[arg(long, value_name = "FORMAT")]
        to: String,
        #[arg(long, value_name = "FORMAT")]
        from: Option<String>,
        /// Input medium or container (file, pipe, simh, ...)
        #[arg(long, value_name = "MEDIUM")]
        medium: Option<String>,
        /// Output medium or container
        #[arg(long, value_name = "MEDIUM")]
        out_medium: Option<String>,
        /// Any information loss is an error and no output is left behind
        #[arg(long)]
        strict: bool,
        /// Leave out files whose data the source does not hold
        #[arg(long)]
        skip_absent: bool,
        #[arg(short = 'o', long = "opt", value_name = "NAME=VALUE")]
        opt: Vec<String>,
    },
    /// Archive a directory
    Create {
        dir: String,
        output: String,
        /// Run `CMD N` to mount or name output volume N
        #[arg(long, value_name = "CMD")]
        next_volume: Option<String>,
        #[arg(long, value_name = "FORMAT")]
        to: String,
        #[arg(long, value_name = "MEDIUM")]
        out_medium: Option<String>,
        #[arg(long)]
        strict: bool,
        #[arg(short = 'o', long = "opt", value_name = "NAME=VALUE")]
        opt: Vec<String>,
    },
    /// A command a plugin provides (`relic formats` lists them), e.g. `relic dumpdates FILE`
    #[command(external_subcommand)]
    Plugin(Vec<String>),
    /// Compare two archives of any formats entry by entry (exit 1 on difference)
    Verify {
        a: String,
        b: String,
        #[arg(long, value_name = "FORMAT")]
        from_a: Option<String>,
        #[arg(long, value_name = "FORMAT")]
        from_b: Option<String>,
        #[arg(short = 'o', long = "opt", value_name = "NAME=VALUE")]
        opt: Vec<String>,
    },
}

/// The long option names the driver itself owns (these are never routed to plugins).
fn driver_long_names() -> Vec<String> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let mut names: Vec<String> = vec!["help".into(), "version".into()];
    let mut add = |c: &clap::Command| {
        for a in c.get_arguments() {
            if let Some(l) = a.get_long() {
                names.push(l.to_string());
            }
        }
    };
    add(&cmd);
    for sc in cmd.get_subcommands() {
        add(sc);
    }
    names
}

/// The global options needed before plugins load, read leniently from raw arguments.
pub fn prescan(args: &[String]) -> Globals {
    let mut g = Globals::default();
    let mut it = args.iter().skip(1).peekable();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if a.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match name {
            "--plugin" => g.plugins.extend(value().map(PathBuf::from)),
            "--plugin-dir" => g.plugin_dirs.extend(value().map(PathBuf::from)),
            "--config" => g.config = value().map(PathBuf::from),
            "--no-config" => g.no_config = true,
            "--quiet" => g.quiet = true,
            "--verbose" => g.verbose += 1,
            s if s.starts_with('-') && !s.starts_with("--") && s.len() > 1 => {
                // bundled short flags: -vv, -q (stop at a flag that takes a value)
                for ch in s[1..].chars() {
                    match ch {
                        'v' => g.verbose += 1,
                        'q' => g.quiet = true,
                        _ => break,
                    }
                }
            }
            _ => {}
        }
    }
    g
}

/// Pull `--name[=value]` options that plugins declare (and the driver does not) out of the
/// arguments. Returns the remaining arguments and the options.
pub fn extract_plugin_options(
    args: &[String],
    declared: &[(String, bool)],
) -> (Vec<String>, Vec<(String, String)>) {
    let own = driver_long_names();
    let mut rest = Vec::with_capacity(args.len());
    let mut opts = Vec::new();
    let mut i = 0;
    let mut after_dashdash = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if after_dashdash || !a.starts_with("--") || a == "--" {
            after_dashdash |= a == "--";
            rest.push(a.clone());
            continue;
        }
        let body = &a[2..];
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let decl = declared.iter().find(|(n, _)| n == name);
        match decl {
            Some((_, takes_value)) if !own.iter().any(|o| o == name) => {
                let value = if *takes_value {
                    match inline {
                        Some(v) => v,
                        None if i < args.len() => {
                            i += 1;
                            args[i - 1].clone()
                        }
                        None => String::new(),
                    }
                } else {
                    inline.unwrap_or_default()
                };
                opts.push((name.to_string(), value));
            }
            _ => rest.push(a.clone()),
        }
    }
    (rest, opts)
}

/// `NAME=VALUE` strings from `-o`.
pub fn parse_kv(v: &[String]) -> Result<Vec<(String, String)>, Error> {
    v.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            None if !s.is_empty() => Ok((s.clone(), String::new())),
            _ => Err(Error::config(format!("-o expects NAME=VALUE, got '{s}'"))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn routes_declared_options_and_keeps_driver_flags() {
        let declared = vec![
            ("level".to_string(), true),
            ("absolute-names".to_string(), false),
            ("strict".to_string(), false),
        ];
        let (rest, opts) = extract_plugin_options(
            &s(&[
                "relic",
                "convert",
                "a",
                "b",
                "--to",
                "x",
                "--level",
                "3",
                "--absolute-names",
                "--strict",
                "--",
                "--level",
            ]),
            &declared,
        );
        assert_eq!(
            rest,
            s(&["relic", "convert", "a", "b", "--to", "x", "--strict", "--", "--level"])
        );
        assert_eq!(
            opts,
            vec![
                ("level".into(), "3".into()),
                ("absolute-names".into(), "".into())
            ]
        );
    }

    #[test]
    fn prescan_reads_plugin_locations() {
        let g = prescan(&s(&[
            "relic",
            "-vq",
            "--plugin",
            "/p.so",
            "--plugin-dir=/d",
            "list",
            "x",
        ]));
        assert_eq!(g.plugins, vec![PathBuf::from("/p.so")]);
        assert_eq!(g.plugin_dirs, vec![PathBuf::from("/d")]);
        assert!(g.quiet && g.verbose == 1);
    }

    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

/// Split the words after an input into further volumes (leading words that name existing
/// files or devices) and patterns (the rest).
pub fn split_volumes(words: &[String]) -> (Vec<String>, Vec<String>) {
    let n = words
        .iter()
        .take_while(|w| std::fs::metadata(w).map(|m| !m.is_dir()).unwrap_or(false))
        .count();
    (words[..n].to_vec(), words[n..].to_vec())
}
