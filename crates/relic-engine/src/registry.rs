//! Plugin discovery and loading.
//!
//! Search order (a plugin name found earlier wins; later copies are skipped with a note at
//! `-v`, so a stale copy cannot shadow the one the user named):
//! 1. `--plugin PATH` (files, any name) and `--plugin-dir DIR`;
//! 2. `RELIC_PLUGIN_PATH` (a `:`-separated list of directories or files);
//! 3. the config file's `[plugins] dirs`;
//! 4. `plugins/` next to the executable and `../lib/relic/plugins` (the install layout);
//! 5. the executable's own directory (covers `target/<profile>/`), and its parent when the
//!    executable sits in a `deps/` directory (test binaries).
//!
//! Never the current directory: loading a library runs its code. Directories are scanned
//! non-recursively for `librelic_plugin_*.so` (platform prefix and suffix). A library that
//! fails to load is reported in one line (path, plugin ABI, host ABI, reason) and skipped;
//! the full abi_stable layout report is kept for `-v`.
//!
//! Libraries the [`plugin_cache`](crate::plugin_cache) knows (same file, same host) are
//! registered from their cached description and opened on first use; the others are loaded
//! and checked in full, and then cached.

use std::collections::HashSet;
use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};

use relic_model::{Error, ErrorKind, Result};
use relic_plugin_abi::{load_library, ABI_MAJOR, ABI_MINOR};
use relic_plugin_sdk::{FormatInfo, LoadedPlugin, MediumKindInfo, Plugin};

use crate::plugin_cache::{file_identity, CachedPlugin, PluginCache};

/// File-name prefix of discoverable plugin libraries.
pub const PLUGIN_PREFIX: &str = "relic_plugin_";

/// Where to look, in order.
#[derive(Debug, Clone, Default)]
pub struct SearchPaths {
    pub files: Vec<PathBuf>,
    pub dirs: Vec<PathBuf>,
    /// Plugin names never to load.
    pub disabled: Vec<String>,
    /// The plugin cache file (`None`: no cache).
    pub cache: Option<PathBuf>,
}

impl SearchPaths {
    /// The full standard order: explicit files and dirs, `RELIC_PLUGIN_PATH`, config dirs, and
    /// the directories around the executable.
    pub fn standard(
        explicit_files: &[PathBuf],
        explicit_dirs: &[PathBuf],
        config_dirs: &[PathBuf],
    ) -> SearchPaths {
        let mut sp = SearchPaths {
            files: explicit_files.to_vec(),
            dirs: explicit_dirs.to_vec(),
            disabled: vec![],
            cache: crate::plugin_cache::default_location(),
        };
        if let Some(v) = std::env::var_os("RELIC_PLUGIN_PATH") {
            for p in std::env::split_paths(&v) {
                if p.as_os_str().is_empty() {
                    continue;
                }
                if p.is_file() {
                    sp.files.push(p);
                } else {
                    sp.dirs.push(p);
                }
            }
        }
        sp.dirs.extend(config_dirs.iter().cloned());
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            sp.dirs.push(exe_dir.join("plugins"));
            sp.dirs.push(exe_dir.join("../lib/relic/plugins"));
            sp.dirs.push(exe_dir.clone());
            if exe_dir.file_name().is_some_and(|n| n == "deps") {
                if let Some(parent) = exe_dir.parent() {
                    sp.dirs.push(parent.to_path_buf());
                }
            }
        }
        sp
    }
}

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Library(PathBuf),
    /// Linked into the process (tests and embedders).
    InProcess,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Library(p) => write!(f, "{}", p.display()),
            Origin::InProcess => write!(f, "(in process)"),
        }
    }
}

/// A loaded plugin and its origin.
#[derive(Clone)]
pub struct Entry {
    pub plugin: LoadedPlugin,
    pub origin: Origin,
}

/// A library that could not be used.
#[derive(Debug, Clone)]
pub struct Failure {
    pub path: PathBuf,
    pub summary: String,
    pub detail: String,
}

impl Failure {
    /// The one line the driver prints.
    pub fn line(&self) -> String {
        format!(
            "plugin {} skipped (host ABI {ABI_MAJOR}.{ABI_MINOR}): {}",
            self.path.display(),
            self.summary
        )
    }
}

/// Every plugin the engine can use.
#[derive(Clone, Default)]
pub struct Registry {
    pub plugins: Vec<Entry>,
    pub failures: Vec<Failure>,
    /// Notes for `-v` (duplicates skipped, disabled plugins).
    pub notes: Vec<String>,
}

fn is_plugin_file(name: &str) -> bool {
    name.starts_with(&format!("{DLL_PREFIX}{PLUGIN_PREFIX}")) && name.ends_with(DLL_SUFFIX)
}

impl Registry {
    /// Discover and load plugins.
    pub fn discover(paths: &SearchPaths) -> Registry {
        let mut reg = Registry::default();
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let mut candidates: Vec<PathBuf> = paths.files.clone();
        for dir in &paths.dirs {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(is_plugin_file)
                })
                .collect();
            found.sort();
            candidates.extend(found);
        }
        let mut cache = match &paths.cache {
            Some(file) => PluginCache::open(file),
            None => PluginCache::disabled(),
        };
        let mut considered = 0;
        for path in candidates {
            let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if !seen.insert(canon.clone()) {
                continue;
            }
            considered += 1;
            reg.load_one(&canon, &paths.disabled, &mut cache);
        }
        if let Some(file) = &paths.cache {
            reg.notes.push(format!(
                "plugin cache {}: {} of {considered} libraries described from it",
                file.display(),
                cache.hits
            ));
        }
        cache.save();
        reg
    }

    fn load_one(&mut self, path: &Path, disabled: &[String], cache: &mut PluginCache) {
        let identity = file_identity(path);
        if let Some(id) = &identity {
            if let Some(c) = cache.lookup(path, id) {
                let lib = path.to_path_buf();
                let p = LoadedPlugin::deferred(
                    c.descriptor,
                    (c.abi_major, c.abi_minor),
                    c.unwind,
                    c.commands,
                    move || {
                        // SAFETY: the cache hit means load_library accepted this very file
                        // (same identity) in a run of this very host executable.
                        unsafe { relic_plugin_abi::load_library_prechecked(&lib) }
                            .map_err(|f| f.summary)
                    },
                );
                self.add(p, Origin::Library(path.to_path_buf()), disabled);
                return;
            }
        }
        let root = match load_library(path) {
            Ok(r) => r,
            Err(f) => {
                cache.forget(path);
                self.failures.push(Failure {
                    path: path.to_path_buf(),
                    summary: f.summary,
                    detail: f.detail,
                });
                return;
            }
        };
        match LoadedPlugin::new(root) {
            Ok(p) => {
                // the identity is taken again after loading: a file replaced while it was
                // being checked must not be cached under the old one's identity
                if let (Some(before), Some(after)) = (identity, file_identity(path)) {
                    if before == after {
                        cache.insert(CachedPlugin::new(path, after, &p));
                    }
                }
                self.add(p, Origin::Library(path.to_path_buf()), disabled)
            }
            Err(e) => {
                cache.forget(path);
                self.failures.push(Failure {
                    path: path.to_path_buf(),
                    summary: e.message.clone(),
                    detail: e.to_string(),
                })
            }
        }
    }

    fn add(&mut self, plugin: LoadedPlugin, origin: Origin, disabled: &[String]) {
        let name = plugin.descriptor.name.clone();
        if disabled.contains(&name) {
            self.notes.push(format!(
                "plugin {name} at {origin} is disabled by the config"
            ));
            return;
        }
        if let Some(first) = self
            .plugins
            .iter()
            .find(|e| e.plugin.descriptor.name == name)
        {
            self.notes.push(format!(
                "plugin {name} at {origin} ignored: already loaded from {}",
                first.origin
            ));
            return;
        }
        self.plugins.push(Entry { plugin, origin });
    }

    /// Open the libraries of deferred plugins on a background thread, so that a command
    /// that reads an input does not open them one by one while probing. Only worth it for
    /// commands that detect formats (nearly every library is probed then).
    pub fn preload_in_background(&self) {
        let pending: Vec<LoadedPlugin> = self
            .plugins
            .iter()
            .filter(|e| !e.plugin.is_loaded())
            .map(|e| e.plugin.clone())
            .collect();
        if pending.is_empty() {
            return;
        }
        let _ = std::thread::Builder::new()
            .name("relic-preload".into())
            .spawn(move || {
                for p in pending {
                    p.preload();
                }
            });
    }

    /// Register a plugin linked into this process (through the same ABI vtables).
    pub fn add_in_process<P: Plugin>(&mut self) -> Result<()> {
        let p = LoadedPlugin::new(relic_plugin_sdk::root_module::<P>())?;
        self.add(p, Origin::InProcess, &[]);
        Ok(())
    }

    /// The plugin providing format `name` (id or alias, case-insensitive).
    pub fn format(&self, name: &str) -> Result<(&Entry, &FormatInfo)> {
        let n = name.to_ascii_lowercase();
        for e in &self.plugins {
            for f in &e.plugin.descriptor.formats {
                if f.id == n || f.aliases.contains(&n) {
                    return Ok((e, f));
                }
            }
        }
        Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "no plugin provides format '{name}' (known: {})",
                self.format_ids().join(", ")
            ),
        ))
    }

    /// The plugin providing medium `name` (id or alias).
    pub fn medium(&self, name: &str) -> Result<(&Entry, &MediumKindInfo)> {
        let n = name.to_ascii_lowercase();
        for e in &self.plugins {
            for m in &e.plugin.descriptor.media {
                if m.id == n || m.aliases.contains(&n) {
                    return Ok((e, m));
                }
            }
        }
        Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "no plugin provides medium '{name}' (known: {})",
                self.medium_ids().join(", ")
            ),
        ))
    }

    pub fn formats(&self) -> impl Iterator<Item = (&Entry, &FormatInfo)> {
        self.plugins
            .iter()
            .flat_map(|e| e.plugin.descriptor.formats.iter().map(move |f| (e, f)))
    }

    pub fn media(&self) -> impl Iterator<Item = (&Entry, &MediumKindInfo)> {
        self.plugins
            .iter()
            .flat_map(|e| e.plugin.descriptor.media.iter().map(move |m| (e, m)))
    }

    pub fn format_ids(&self) -> Vec<String> {
        self.formats().map(|(_, f)| f.id.clone()).collect()
    }

    pub fn medium_ids(&self) -> Vec<String> {
        self.media().map(|(_, m)| m.id.clone()).collect()
    }

    /// Every option name (without `=VALUE`) any format or medium declares, with whether it
    /// takes a value; host hints (`relic-*`) are not options a user can give.
    pub fn declared_options(&self) -> Vec<(String, bool)> {
        let mut v: Vec<(String, bool)> = self
            .formats()
            .flat_map(|(_, f)| f.options.iter())
            .chain(self.media().flat_map(|(_, m)| m.options.iter()))
            .map(|(n, _)| split_option_name(n))
            .filter(|(n, _)| !relic_plugin_sdk::Intent::is_host_option(n))
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// `"level=N"` -> `("level", true)`, `"strict"` -> `("strict", false)`.
pub fn split_option_name(decl: &str) -> (String, bool) {
    match decl.split_once('=') {
        Some((n, _)) => (n.to_string(), true),
        None => (decl.to_string(), false),
    }
}

/// Whether `info` declares option `name`.
pub fn declares(options: &[(String, String)], name: &str) -> bool {
    options.iter().any(|(d, _)| split_option_name(d).0 == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_file_names() {
        assert!(is_plugin_file(&format!(
            "{DLL_PREFIX}relic_plugin_tar{DLL_SUFFIX}"
        )));
        assert!(!is_plugin_file(&format!(
            "{DLL_PREFIX}relic_testplugin_panic{DLL_SUFFIX}"
        )));
        assert!(!is_plugin_file(&format!(
            "{DLL_PREFIX}relic_plugin_tar.rlib"
        )));
        assert_eq!(split_option_name("level=N"), ("level".into(), true));
    }

    #[test]
    fn in_process_plugin_resolves_by_alias() {
        let mut r = Registry::default();
        r.add_in_process::<relic_medium_file::FilePlugin>()
            .expect("loads");
        assert_eq!(r.medium("disk").expect("alias").1.id, "file");
        assert_eq!(
            r.medium("nope").err().map(|e| e.kind),
            Some(ErrorKind::NotFound)
        );
        assert!(r
            .declared_options()
            .contains(&("record-size".to_string(), true)));
    }
}
