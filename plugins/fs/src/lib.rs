//! The `fs` format plugin: a directory tree on the local file system, as a source and as a
//! sink. Aliases `dir` and `directory`. Linux only (it uses `*at` system calls, `statx` birth
//! times through std, `SEEK_DATA`/`SEEK_HOLE`, and Linux xattr names).
//!
//! Unlike the archive formats this one takes no medium: [`FormatInfo::input`] is
//! [`InputKind::Path`], so the host hands the reader and the writer the directory path in
//! `Stream::location` and opens nothing itself.
//!
//! - [`read`]: the source. Walks the tree (walkdir, sorted by name, symlinks not followed) and
//!   turns every object into a model [`relic_model::Entry`]: files, directories, symlinks,
//!   hard links found by `(dev, ino)`, devices, fifos and sockets, with ns times, owners and
//!   their names, xattrs and POSIX ACLs. File data is streamed chunk by chunk; holes come from
//!   `SEEK_DATA`/`SEEK_HOLE`. Unreadable objects are reported through the host and skipped, the
//!   way GNU tar does; the run goes on.
//! - [`write`]: the sink (`relic extract`, `--to fs`). Creates the tree under the target
//!   directory and never outside it: absolute names (unless `absolute-names`), `..`, and
//!   symlink tricks are refused entry by entry with a warning. Restores contents with holes,
//!   modes, ns times, hard links, symlinks, fifos, xattrs, ACLs, and owners and devices when
//!   running as root.
//! - [`sys`]: the thin, safe wrappers over the system calls both sides use.
//!
//! Options (both directions accept the whole list, so one option set can serve a conversion;
//! each is only meaningful in the direction its help names):
//! `one-file-system` (read), `absolute-names`, `same-owner`, `no-same-owner` (write).

pub mod read;
pub mod sys;
pub mod write;

use relic_model::{Error, FormatReader, FormatWriter, Result};
use relic_plugin_sdk::{
    Descriptor, FormatInfo, HostHandle, InputKind, Options, Plugin, ProbeContext, Stream,
};

pub use read::FsReader;
pub use write::FsWriter;

/// The plugin (see the module docs).
pub struct FsPlugin;

/// Format id and its aliases.
pub const FORMAT_ID: &str = "fs";
pub const ALIASES: [&str; 2] = ["dir", "directory"];

/// The bid for a directory: only this plugin reads directories, so a small sure bid wins.
pub const DIR_BID: u32 = 8;

/// Options as declared in the descriptor: `("name", help)` for flags.
pub const OPTIONS: &[(&str, &str)] = &[
    (
        "one-file-system",
        "read: stay in the file system of the starting directory",
    ),
    (
        "absolute-names",
        "write: extract absolute names where they say instead of refusing them",
    ),
    (
        "same-owner",
        "write: restore owners even when not running as root",
    ),
    (
        "no-same-owner",
        "write: do not restore owners, even as root",
    ),
];

fn option_names() -> Vec<&'static str> {
    OPTIONS.iter().map(|(n, _)| *n).collect()
}

fn is_our_id(id: &str) -> bool {
    id == FORMAT_ID || ALIASES.contains(&id)
}

impl Plugin for FsPlugin {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "fs".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![FormatInfo {
                id: FORMAT_ID.into(),
                aliases: ALIASES.iter().map(|a| a.to_string()).collect(),
                description: "a directory tree on the local file system (read: walk it; write: extract into it)".into(),
                extensions: vec![],
                read: true,
                write: true,
                input: InputKind::Path,
                options: OPTIONS.iter().map(|(n, h)| (n.to_string(), h.to_string())).collect(),
            }],
            media: vec![],
        }
    }

    fn probe(id: &str, _head: &[u8], ctx: &ProbeContext) -> u32 {
        if is_our_id(id) && ctx.is_dir {
            DIR_BID
        } else {
            0
        }
    }

    fn open_reader(
        id: &str,
        input: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatReader>> {
        if !is_our_id(id) {
            return Err(Error::unsupported(format!(
                "the fs plugin does not read {id}"
            )));
        }
        options.check_known(&option_names(), "the fs format")?;
        let cfg = read::ReadConfig {
            one_file_system: options.flag("one-file-system"),
        };
        Ok(Box::new(FsReader::open(&input.location, cfg, host)?))
    }

    fn open_writer(
        id: &str,
        output: Stream,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn FormatWriter>> {
        if !is_our_id(id) {
            return Err(Error::unsupported(format!(
                "the fs plugin does not write {id}"
            )));
        }
        options.check_known(&option_names(), "the fs format")?;
        if options.flag("same-owner") && options.flag("no-same-owner") {
            return Err(Error::config(
                "options same-owner and no-same-owner contradict each other",
            ));
        }
        let owners = if options.flag("no-same-owner") {
            false
        } else {
            options.flag("same-owner") || sys::euid() == 0
        };
        let cfg = write::WriteConfig {
            absolute_names: options.flag("absolute-names"),
            owners,
            devices: sys::euid() == 0,
        };
        Ok(Box::new(FsWriter::new(&output.location, cfg, host)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bids_only_on_directories() {
        let dir = ProbeContext {
            is_dir: true,
            ..Default::default()
        };
        let file = ProbeContext::default();
        assert_eq!(FsPlugin::probe("fs", b"", &dir), DIR_BID);
        assert_eq!(FsPlugin::probe("dir", b"", &dir), DIR_BID);
        assert_eq!(FsPlugin::probe("fs", b"ustar", &file), 0);
        assert_eq!(FsPlugin::probe("tar", b"", &dir), 0);
    }

    #[test]
    fn descriptor_declares_a_path_format() {
        let d = FsPlugin::descriptor();
        assert_eq!(d.formats.len(), 1);
        let f = &d.formats[0];
        assert_eq!(f.id, "fs");
        assert_eq!(f.aliases, vec!["dir", "directory"]);
        assert_eq!(f.input, InputKind::Path);
        assert!(f.read && f.write);
        assert!(f.options.iter().any(|(n, _)| n == "absolute-names"));
    }
}
