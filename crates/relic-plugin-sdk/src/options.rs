//! Options passed to a reader, writer or medium: `key=value` pairs from the command line
//! (`--opt key=value` and format-specific flags) and the config file.
//!
//! # Host hints
//! Options whose names start with [`HOST_OPTION_PREFIX`] are set by the host, never by the
//! user: the driver neither offers them on the command line nor lists them, and the engine
//! refuses them in the config file. A component receives one only when it declares it, like
//! any other option, so a plugin that ignores hints needs no code at all. Today there is one:
//! [`INTENT_OPTION`] (what the host will do with a reader's entries, see [`Intent`]).

use relic_model::{Error, Result};

/// Names of host hints start with this.
pub const HOST_OPTION_PREFIX: &str = "relic-";

/// The host hint a reader declares (as `"relic-intent=WHAT"`) to learn what its entries are
/// for. The value is one of [`Intent::as_str`].
pub const INTENT_OPTION: &str = "relic-intent";

/// What the host will do with a reader's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Intent {
    /// Only paths and kinds are shown (`relic list` without `-l`/`--json`). A reader may
    /// answer from a table of contents without visiting every entry, like `restore -t`:
    /// every other field may be left at its default, no entry may claim data, and the entries
    /// (paths, kinds, order) must be those a full read would give for an undamaged archive.
    Names,
    /// Every field is shown, data is skipped (`list -l`, `info`).
    List,
    /// Entries and data are written somewhere (extract, convert, verify, or not said).
    #[default]
    Full,
}

impl Intent {
    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Names => "names",
            Intent::List => "list",
            Intent::Full => "full",
        }
    }
    /// Whether `name` is a host hint (never from the user or the config file).
    pub fn is_host_option(name: &str) -> bool {
        name.starts_with(HOST_OPTION_PREFIX)
    }
    /// The intent in `options` ([`Intent::Full`] when absent or unknown).
    pub fn of(options: &Options) -> Intent {
        match options.get(INTENT_OPTION) {
            Some("names") => Intent::Names,
            Some("list") => Intent::List,
            _ => Intent::Full,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pairs: Vec<(String, String)>,
}

impl Options {
    pub fn new() -> Options {
        Options::default()
    }
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Options {
        Options { pairs }
    }
    pub fn with(mut self, key: &str, value: &str) -> Options {
        self.set(key, value);
        self
    }
    pub fn set(&mut self, key: &str, value: &str) {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_string(), value.to_string()));
    }
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// A boolean option: present with no value, `1`, `true`, `yes` or `on`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("" | "1" | "true" | "yes" | "on"))
    }
    /// Parse an option, naming it in the error.
    pub fn parse<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|e| Error::config(format!("option {key}={v}: {e}"))),
        }
    }
    /// A size with an optional k/m/g suffix (powers of 1024), as dump's `B` and `C` take.
    pub fn size(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => parse_size(v)
                .map(Some)
                .ok_or_else(|| Error::config(format!("option {key}={v}: not a size"))),
        }
    }
    /// Refuse options no one asked for, so typos do not pass silently.
    pub fn check_known(&self, known: &[&str], what: &str) -> Result<()> {
        for (k, _) in &self.pairs {
            if !known.contains(&k.as_str()) {
                return Err(Error::config(format!(
                    "{what} does not know option '{k}' (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        Ok(())
    }
}

/// `512`, `10k`, `1.44m` style sizes (k = 1024).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1024u64),
        'm' | 'M' => (&s[..s.len() - 1], 1024 * 1024),
        'g' | 'G' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult);
    }
    let f: f64 = num.parse().ok()?;
    (f.is_finite() && f >= 0.0).then_some((f * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_flags() {
        assert_eq!(parse_size("10k"), Some(10240));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("x"), None);
        let o = Options::new().with("strict", "").with("block", "20");
        assert!(o.flag("strict"));
        assert_eq!(o.parse::<u32>("block").expect("number"), Some(20));
        assert!(o.parse::<u32>("strict").is_err());
        assert!(o.check_known(&["strict"], "tar").is_err());
        assert!(o.check_known(&["strict", "block"], "tar").is_ok());
    }
}
