//! The configuration file: `$XDG_CONFIG_HOME/relic/config.toml` (default
//! `~/.config/relic/config.toml`), or the file named by `--config`.
//!
//! ```toml
//! [plugins]
//! dirs = ["/opt/relic/plugins"]      # searched after --plugin-dir and RELIC_PLUGIN_PATH
//! disable = ["xenix-backup"]         # plugin names never loaded
//!
//! [formats.irix-dump]                # default options per format or medium id
//! blocking-factor = "32"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use relic_model::{Error, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    #[serde(default)]
    pub disable: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub plugins: PluginsSection,
    /// Default options per format or medium id.
    #[serde(default)]
    pub formats: BTreeMap<String, BTreeMap<String, toml::Value>>,
}

impl Config {
    /// The default location, if the environment names one.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(x).join("relic/config.toml"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/relic/config.toml"))
    }

    /// Load `path`; a missing default file is an empty config, a missing explicit one an error.
    pub fn load(path: &Path, explicit: bool) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Config::default())
            }
            Err(e) => {
                return Err(Error::io(
                    format!("cannot read config {}", path.display()),
                    &e,
                ))
            }
        };
        toml::from_str(&text).map_err(|e| Error::config(format!("config {}: {e}", path.display())))
    }

    /// Default options for a format or medium id, as strings.
    pub fn options_for(&self, id: &str) -> Vec<(String, String)> {
        self.formats
            .get(id)
            .map(|t| {
                t.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            toml::Value::String(s) => s.clone(),
                            toml::Value::Boolean(true) => String::new(),
                            other => other.to_string(),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_unknown_keys() {
        let c: Config = toml::from_str(
            "[plugins]\ndirs=['/x']\ndisable=['tar']\n[formats.tar]\nformat='gnu'\nblocking-factor=20\nsparse=true\n",
        )
        .expect("valid config");
        assert_eq!(c.plugins.disable, vec!["tar"]);
        let mut o = c.options_for("tar");
        o.sort();
        assert_eq!(
            o,
            vec![
                ("blocking-factor".into(), "20".into()),
                ("format".into(), "gnu".into()),
                ("sparse".into(), "".into())
            ]
        );
        assert!(toml::from_str::<Config>("[plugin]\n").is_err());
    }
}
