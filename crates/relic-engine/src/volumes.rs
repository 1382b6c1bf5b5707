//! Multi-volume sets, for every medium alike.
//!
//! A set is named by a list of locations (`relic extract vol1.img vol2.img -C out`), by a
//! numbered pattern (`out.%03d` -> `out.001`, `out.002`, ... like Linux `dump -M`), or by a
//! hook that mounts or names the next volume (`--next-volume CMD`, run as `CMD N` with
//! `RELIC_VOLUME=N`; the first line it prints, if any, is the next location, otherwise the
//! same location is opened again, as after changing a tape in a drive), or interactively on a
//! terminal. [`VolumeSetMedium`] wraps the medium of volume 1; when the format asks for
//! volume N through `Medium::next_volume`, it finishes the current volume and opens the next
//! with the same medium plugin. The format checks the new volume's own header (dump
//! `c_volume`, AIX `FS_VOLUME`, VMS labels) and refuses one out of order.

use std::io::{BufRead, IsTerminal, Write};
use std::process::Command;

use relic_model::{
    Error, Medium, MediumInfo, OpenMode, Position, RecordRead, Result, Space, WriteStatus,
};

/// How the next volume is found.
#[derive(Debug, Clone, Default)]
pub struct VolumeSource {
    /// Locations of volumes 2, 3, ... (volume 1 is the input itself).
    pub more: Vec<String>,
    /// A printf-style pattern with one `%d` / `%0Nd`.
    pub pattern: Option<String>,
    /// `--next-volume CMD`.
    pub hook: Option<String>,
    /// Ask on the terminal when nothing else names the volume.
    pub prompt: bool,
}

impl VolumeSource {
    pub fn is_empty(&self) -> bool {
        self.more.is_empty() && self.pattern.is_none() && self.hook.is_none() && !self.prompt
    }
}

/// Whether a location is a volume pattern (`%d`, `%03d`).
pub fn is_pattern(location: &str) -> bool {
    pattern_parts(location).is_some()
}

fn pattern_parts(p: &str) -> Option<(&str, usize, &str)> {
    let i = p.find('%')?;
    let rest = &p[i + 1..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let after = &rest[digits.len()..];
    let tail = after.strip_prefix('d')?;
    if tail.contains('%') {
        return None;
    }
    let width = digits.trim_start_matches('0').parse().unwrap_or(0);
    Some((&p[..i], width, tail))
}

/// Volume `n` (from 1) of a pattern.
pub fn expand(pattern: &str, n: u32) -> String {
    match pattern_parts(pattern) {
        Some((head, width, tail)) => format!("{head}{n:0width$}{tail}"),
        None => pattern.to_string(),
    }
}

/// Opens the medium of one volume.
pub type Opener = Box<dyn FnMut(&str) -> Result<Box<dyn Medium>> + Send>;

/// A medium spanning several volumes.
pub struct VolumeSetMedium {
    current: Box<dyn Medium>,
    location: String,
    volume: u32,
    source: VolumeSource,
    open: Opener,
    mode: OpenMode,
}

impl VolumeSetMedium {
    pub fn new(
        first: Box<dyn Medium>,
        location: &str,
        source: VolumeSource,
        open: Opener,
        mode: OpenMode,
    ) -> Self {
        VolumeSetMedium {
            current: first,
            location: location.to_string(),
            volume: 1,
            source,
            open,
            mode,
        }
    }

    fn name_for(&mut self, n: u32) -> Result<Option<String>> {
        if let Some(l) = self.source.more.get(n as usize - 2) {
            return Ok(Some(l.clone()));
        }
        if let Some(p) = &self.source.pattern {
            let name = expand(p, n);
            if self.mode == OpenMode::Write || std::path::Path::new(&name).exists() {
                return Ok(Some(name));
            }
        }
        if let Some(hook) = &self.source.hook {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("{hook} {n}"))
                .env("RELIC_VOLUME", n.to_string())
                .env("RELIC_LOCATION", &self.location)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| Error::io(format!("cannot run --next-volume hook '{hook}'"), &e))?;
            if !out.status.success() {
                return Err(Error::media(format!(
                    "--next-volume hook '{hook} {n}' failed ({}): {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let line = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            return Ok(Some(if line.is_empty() {
                self.location.clone()
            } else {
                line
            }));
        }
        if self.source.prompt && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            eprint!("relic: insert volume {n} and press Enter, or type its location (empty line: same place; 'q' to stop): ");
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::io("reading the terminal", &e))?;
            let line = line.trim();
            if line == "q" {
                return Ok(None);
            }
            return Ok(Some(if line.is_empty() {
                self.location.clone()
            } else {
                line.to_string()
            }));
        }
        Ok(None)
    }
}

impl Medium for VolumeSetMedium {
    fn info(&self) -> MediumInfo {
        self.current.info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        self.current.read_record(buf)
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        self.current.write_record(data)
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        self.current.write_tape_mark()
    }
    fn position(&self) -> Position {
        Position {
            volume: self.volume,
            ..self.current.position()
        }
    }
    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        self.current.space(op, count)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        // a medium that manages its own set (tape-image volumes=) goes first
        if self.current.next_volume(number)? {
            self.volume = number;
            return Ok(true);
        }
        if number < 2 {
            return Ok(false);
        }
        let Some(name) = self.name_for(number)? else {
            return Ok(false);
        };
        if self.mode == OpenMode::Write {
            self.current.finish()?;
        }
        self.current = (self.open)(&name).map_err(|e| e.in_file(name.clone()))?;
        self.location = name;
        self.volume = number;
        Ok(true)
    }
    fn finish(&mut self) -> Result<()> {
        self.current.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relic_plugin_sdk::testing::MemoryMedium;

    #[test]
    fn patterns() {
        assert!(
            is_pattern("out.%03d")
                && is_pattern("vol%d.img")
                && !is_pattern("100%.img")
                && !is_pattern("a")
        );
        assert_eq!(expand("out.%03d", 2), "out.002");
        assert_eq!(expand("v%d.tap", 12), "v12.tap");
    }

    #[test]
    fn list_then_end_of_set() {
        let mut opened = vec![];
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let l2 = log.clone();
        let mut m = VolumeSetMedium::new(
            Box::new(MemoryMedium::new(0)),
            "v1",
            VolumeSource {
                more: vec!["v2".into()],
                ..Default::default()
            },
            Box::new(move |name| {
                l2.lock().expect("lock").push(name.to_string());
                Ok(Box::new(MemoryMedium::new(0)) as Box<dyn Medium>)
            }),
            OpenMode::Read,
        );
        assert!(m.next_volume(2).expect("v2"));
        assert_eq!(m.position().volume, 2);
        assert!(!m.next_volume(3).expect("no v3"));
        opened.extend(log.lock().expect("lock").iter().cloned());
        assert_eq!(opened, vec!["v2".to_string()]);
    }

    #[test]
    fn hook_names_the_next_volume() {
        let mut m = VolumeSetMedium::new(
            Box::new(MemoryMedium::new(0)),
            "/dev/tape",
            VolumeSource {
                hook: Some("echo /tmp/vol-$RELIC_VOLUME; true".into()),
                ..Default::default()
            },
            Box::new(|name| {
                assert_eq!(name, "/tmp/vol-2");
                Ok(Box::new(MemoryMedium::new(0)) as Box<dyn Medium>)
            }),
            OpenMode::Read,
        );
        assert!(m.next_volume(2).expect("hook"));
        let mut failing = VolumeSetMedium::new(
            Box::new(MemoryMedium::new(0)),
            "x",
            VolumeSource {
                hook: Some("exit 3; true".into()),
                ..Default::default()
            },
            Box::new(|_| Ok(Box::new(MemoryMedium::new(0)) as Box<dyn Medium>)),
            OpenMode::Read,
        );
        let e = failing.next_volume(2).expect_err("hook failed");
        assert!(e.message.contains("--next-volume"), "{}", e.message);
    }
}
