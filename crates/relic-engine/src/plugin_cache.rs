//! The plugin cache: what each plugin library said about itself, keyed by the library file's
//! identity, so that a command opens only the libraries it uses.
//!
//! Why: loading a plugin library and letting abi_stable compare the layout of every type
//! reachable from its root module costs about a millisecond per plugin, which is most of
//! the run time of `relic --version`, `relic formats` or a `relic list` that reads only a
//! table of contents. With the cache, discovery reads one small TOML file and stats each
//! library; a library whose identity matches an entry is registered from the entry (its
//! descriptor) and opened only when a probe or an `open_*` first needs it, and then without
//! comparing type layouts again (abi_stable's `unchecked_layout`, which its documentation
//! names for exactly this: a cache of libraries whose layout was checked).
//!
//! Soundness: an entry is written only after the full check ([`relic_plugin_abi::load_library`]
//! and `LoadedPlugin::new`) accepted the library. It is used only when the library's device,
//! inode, size, modification and change times (ns) are the same, and only by the same host
//! executable (same identity of `/proc/self/exe`): a rebuilt plugin or a rebuilt relic misses
//! the cache. The change time cannot be set by `touch` or `cp -p`, so an edited or replaced
//! library always misses. The cache assumes a plugin's description is a function of its
//! library file (the SDK documents this for `Plugin::descriptor`).
//!
//! Where: `RELIC_PLUGIN_CACHE` names the file (`off` disables the cache); otherwise
//! `$XDG_CACHE_HOME/relic/plugins.json` or `~/.cache/relic/plugins.json`. JSON, not TOML:
//! parsing it is on every command's path and serde_json is several times faster. A missing,
//! unreadable or malformed cache is ignored (and rewritten); a cache that cannot be written
//! is not an error. Writes go to a temporary file renamed over the old one, so concurrent
//! runs never see a torn file (the last writer wins).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use relic_plugin_sdk::{CommandInfo, Descriptor};
use serde::{Deserialize, Serialize};

/// Cache entries kept at most (libraries seen in earlier runs that no longer exist are
/// dropped when the file is rewritten; this only bounds a pathological cache).
const MAX_ENTRIES: usize = 1024;

/// The default cache file, from the environment.
pub fn default_location() -> Option<PathBuf> {
    match std::env::var_os("RELIC_PLUGIN_CACHE") {
        Some(v) if v == "off" || v == "0" => return None,
        Some(v) if !v.is_empty() => return Some(PathBuf::from(v)),
        _ => {}
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("relic").join("plugins.json"))
}

/// The identity of a file: device, inode, size, mtime and ctime in ns.
pub fn file_identity(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!(
        "{}:{}:{}:{}.{:09}:{}.{:09}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

/// The identity of the running host executable and the interface it was built with.
fn host_identity() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    Some(format!(
        "abi {} / {}",
        relic_plugin_abi::ABI_VERSION_STRING,
        file_identity(&exe)?
    ))
}

/// The file: what it is, for a reader who finds it, and whose entries these are.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct CacheFile {
    #[serde(default)]
    about: String,
    host: String,
    #[serde(default)]
    plugin: Vec<CachedPlugin>,
}

/// One library's entry: the library's identity and what `LoadedPlugin::new` learned from it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedPlugin {
    pub path: PathBuf,
    pub identity: String,
    pub abi_major: u32,
    pub abi_minor: u32,
    pub unwind: bool,
    pub descriptor: Descriptor,
    #[serde(default)]
    pub commands: Vec<CommandInfo>,
}

impl CachedPlugin {
    /// The entry for a plugin that passed the full load.
    pub fn new(
        path: &Path,
        identity: String,
        p: &relic_plugin_sdk::LoadedPlugin,
    ) -> CachedPlugin {
        CachedPlugin {
            path: path.to_path_buf(),
            identity,
            abi_major: p.abi.0,
            abi_minor: p.abi.1,
            unwind: p.unwind,
            descriptor: p.descriptor.clone(),
            commands: p.commands.clone(),
        }
    }
}

/// The cache as read at discovery, plus what this run learned.
#[derive(Debug, Default)]
pub struct PluginCache {
    file: Option<PathBuf>,
    host: Option<String>,
    /// By library path.
    entries: BTreeMap<PathBuf, CachedPlugin>,
    changed: bool,
    pub hits: usize,
}

impl PluginCache {
    /// A cache that neither reads nor writes anything.
    pub fn disabled() -> PluginCache {
        PluginCache::default()
    }

    /// Read the cache at `file` (entries of another host executable are dropped).
    pub fn open(file: &Path) -> PluginCache {
        let host = host_identity();
        let mut c = PluginCache {
            file: Some(file.to_path_buf()),
            host: host.clone(),
            ..Default::default()
        };
        let Some(host) = host else {
            return c;
        };
        let parsed = std::fs::read(file)
            .ok()
            .and_then(|t| serde_json::from_slice::<CacheFile>(&t).ok());
        match parsed {
            Some(f) if f.host == host => {
                for p in f.plugin {
                    c.entries.insert(p.path.clone(), p);
                }
            }
            Some(_) => c.changed = true,
            None => {}
        }
        c
    }

    /// The entry for `path` if the library is still the file that was checked.
    pub fn lookup(&mut self, path: &Path, identity: &str) -> Option<CachedPlugin> {
        self.host.as_ref()?;
        let e = self.entries.get(path)?;
        if e.identity == identity {
            self.hits += 1;
            Some(e.clone())
        } else {
            self.entries.remove(path);
            self.changed = true;
            None
        }
    }

    /// Remember a library that passed the full check.
    pub fn insert(&mut self, entry: CachedPlugin) {
        if self.host.is_none() || self.file.is_none() {
            return;
        }
        if self.entries.get(&entry.path) != Some(&entry) {
            self.entries.insert(entry.path.clone(), entry);
            self.changed = true;
        }
    }

    /// Forget a library that no longer loads.
    pub fn forget(&mut self, path: &Path) {
        if self.entries.remove(path).is_some() {
            self.changed = true;
        }
    }

    /// Write the cache back if this run changed it. Failures are silent: the cache only
    /// saves time.
    pub fn save(&mut self) {
        if !self.changed {
            return;
        }
        let (Some(file), Some(host)) = (&self.file, &self.host) else {
            return;
        };
        let mut plugin: Vec<CachedPlugin> = self
            .entries
            .values()
            .filter(|p| p.path.exists())
            .cloned()
            .collect();
        plugin.truncate(MAX_ENTRIES);
        let out = CacheFile {
            about: "relic's plugin cache: what each plugin library said about itself; \
                    safe to delete; RELIC_PLUGIN_CACHE=off disables it"
                .into(),
            host: host.clone(),
            plugin,
        };
        let Ok(text) = serde_json::to_vec_pretty(&out) else {
            return;
        };
        let Some(dir) = file.parent() else {
            return;
        };
        if std::fs::create_dir_all(dir).is_err() {
            return;
        }
        let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) else {
            return;
        };
        if tmp.write_all(&text).is_ok() && tmp.persist(file).is_ok()
        {
            self.changed = false;
        }
    }
}
