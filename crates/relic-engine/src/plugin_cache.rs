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

use relic_plugin_sdk::{CommandInfo, Descriptor, FormatInfo, InputKind, MediumKindInfo};
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

/// One library's entry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedPlugin {
    pub path: PathBuf,
    pub identity: String,
    pub name: String,
    pub version: String,
    pub abi_major: u32,
    pub abi_minor: u32,
    pub unwind: bool,
    #[serde(default)]
    pub commands: Vec<CachedCommand>,
    #[serde(default)]
    pub formats: Vec<CachedFormat>,
    #[serde(default)]
    pub media: Vec<CachedMedium>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedCommand {
    pub name: String,
    pub format: String,
    pub help: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedFormat {
    pub id: String,
    pub aliases: Vec<String>,
    pub description: String,
    pub extensions: Vec<String>,
    pub read: bool,
    pub write: bool,
    /// `medium` or `path`.
    pub input: String,
    pub options: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CachedMedium {
    pub id: String,
    pub aliases: Vec<String>,
    pub description: String,
    pub read: bool,
    pub write: bool,
    pub container: bool,
    pub options: Vec<(String, String)>,
}

impl CachedPlugin {
    /// The entry for a plugin that passed the full load.
    pub fn new(
        path: &Path,
        identity: String,
        p: &relic_plugin_sdk::LoadedPlugin,
    ) -> CachedPlugin {
        let d = &p.descriptor;
        CachedPlugin {
            path: path.to_path_buf(),
            identity,
            name: d.name.clone(),
            version: d.version.clone(),
            abi_major: p.abi.0,
            abi_minor: p.abi.1,
            unwind: p.unwind,
            commands: p
                .commands
                .iter()
                .map(|c| CachedCommand {
                    name: c.name.clone(),
                    format: c.format.clone(),
                    help: c.help.clone(),
                })
                .collect(),
            formats: d
                .formats
                .iter()
                .map(|f| CachedFormat {
                    id: f.id.clone(),
                    aliases: f.aliases.clone(),
                    description: f.description.clone(),
                    extensions: f.extensions.clone(),
                    read: f.read,
                    write: f.write,
                    input: match f.input {
                        InputKind::Medium => "medium".into(),
                        InputKind::Path => "path".into(),
                    },
                    options: f.options.clone(),
                })
                .collect(),
            media: d
                .media
                .iter()
                .map(|m| CachedMedium {
                    id: m.id.clone(),
                    aliases: m.aliases.clone(),
                    description: m.description.clone(),
                    read: m.read,
                    write: m.write,
                    container: m.container,
                    options: m.options.clone(),
                })
                .collect(),
        }
    }

    /// The description, as `LoadedPlugin::new` made it when the entry was written.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            name: self.name.clone(),
            version: self.version.clone(),
            formats: self
                .formats
                .iter()
                .map(|f| FormatInfo {
                    id: f.id.clone(),
                    aliases: f.aliases.clone(),
                    description: f.description.clone(),
                    extensions: f.extensions.clone(),
                    read: f.read,
                    write: f.write,
                    input: if f.input == "path" {
                        InputKind::Path
                    } else {
                        InputKind::Medium
                    },
                    options: f.options.clone(),
                })
                .collect(),
            media: self
                .media
                .iter()
                .map(|m| MediumKindInfo {
                    id: m.id.clone(),
                    aliases: m.aliases.clone(),
                    description: m.description.clone(),
                    read: m.read,
                    write: m.write,
                    container: m.container,
                    options: m.options.clone(),
                })
                .collect(),
        }
    }

    pub fn commands(&self) -> Vec<CommandInfo> {
        self.commands
            .iter()
            .map(|c| CommandInfo {
                name: c.name.clone(),
                format: c.format.clone(),
                help: c.help.clone(),
            })
            .collect()
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
