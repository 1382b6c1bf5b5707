//! The dumpdates file: which level of which file system was dumped when. The writers read it
//! for `level=N` (the base date is the newest dump of a lower level) and update it after a
//! successful dump (dump's `u` key); [`dumpdates_report`] prints dump's `W` report.
//!
//! Format (research note 4): one line per (file system, level), IRIX/4.3BSD
//! `printf("%-16s %c %s", name, level, ctime(&date))`, read back as `"%[^ ] %c %[^\n]"`:
//! `/dev/rdsk/dks0d1s0 0 Sat Nov 21 23:29:07 2026`. Linux dump's variant with a trailing
//! zone (`... 2026 +0000`) is accepted on read. Names cannot contain spaces in this format;
//! relic stores spaces as `\040`, as fstab does. Times are written and read as UTC (the
//! files of the original systems hold local time without a zone).

use std::path::Path;

use relic_model::time::{civil_from_days, days_from_civil};
use relic_model::{Error, Result};

/// One line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Vec<u8>,
    pub level: u8,
    pub date: i64,
}

/// A parsed dumpdates file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub records: Vec<Record>,
    /// Lines that could not be parsed (kept when the file is rewritten).
    pub other: Vec<String>,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `ctime()` text without the newline, in UTC: `Sat Nov 21 23:29:07 2026`.
pub fn ctime(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        y
    )
}

/// Parse `Sat Nov 21 23:29:07 2026` (optionally followed by a `+HHMM` zone).
pub fn parse_ctime(s: &str) -> Option<i64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    if f.len() < 5 {
        return None;
    }
    let m = MONTHS.iter().position(|x| *x == f[1])? as u32 + 1;
    let d: u32 = f[2].parse().ok()?;
    let t: Vec<&str> = f[3].split(':').collect();
    if t.len() != 3 || !(1..=31).contains(&d) {
        return None;
    }
    let (hh, mm, ss): (i64, i64, i64) =
        (t[0].parse().ok()?, t[1].parse().ok()?, t[2].parse().ok()?);
    let y: i64 = f[4].parse().ok()?;
    let mut secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss;
    if let Some(z) = f.get(5) {
        let (sign, digits) = match z.as_bytes().first() {
            Some(b'+') => (1, &z[1..]),
            Some(b'-') => (-1, &z[1..]),
            _ => return Some(secs),
        };
        if digits.len() == 4 {
            let v: i64 = digits.parse().ok()?;
            secs -= sign * ((v / 100) * 3600 + (v % 100) * 60);
        }
    }
    Some(secs)
}

fn escape_name(n: &[u8]) -> String {
    let mut s = String::new();
    for &b in n {
        if b == b' ' || b == b'\\' || !(0x21..0x7f).contains(&b) {
            s.push_str(&format!("\\{b:03o}"));
        } else {
            s.push(b as char);
        }
    }
    s
}

fn unescape_name(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

impl Table {
    pub fn parse(text: &str) -> Table {
        let mut t = Table::default();
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let mut it = line.splitn(2, ' ');
            let name = it.next().unwrap_or("");
            let rest = it.next().unwrap_or("").trim_start();
            let mut r = rest.splitn(2, ' ');
            let level = r.next().unwrap_or("");
            let date = r.next().unwrap_or("");
            match (level.as_bytes(), parse_ctime(date)) {
                ([c @ b'0'..=b'9'], Some(d)) if !name.is_empty() => t.records.push(Record {
                    name: unescape_name(name),
                    level: c - b'0',
                    date: d,
                }),
                _ => t.other.push(line.to_string()),
            }
        }
        t
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        for r in &self.records {
            s.push_str(&format!(
                "{:<16} {} {}\n",
                escape_name(&r.name),
                r.level,
                ctime(r.date)
            ));
        }
        for o in &self.other {
            s.push_str(o);
            s.push('\n');
        }
        s
    }

    /// The date a level-`level` dump of `name` is relative to: the newest dump of a lower
    /// level. None when there is none (the dump then holds everything).
    pub fn base_date(&self, name: &[u8], level: u8) -> Option<i64> {
        self.records
            .iter()
            .filter(|r| r.name == name && r.level < level)
            .map(|r| r.date)
            .max()
    }

    /// Replace the line of (name, level).
    pub fn set(&mut self, name: &[u8], level: u8, date: i64) {
        let rec = Record {
            name: name.to_vec(),
            level,
            date,
        };
        match self
            .records
            .iter_mut()
            .find(|r| r.name == name && r.level == level)
        {
            Some(r) => *r = rec,
            None => self.records.push(rec),
        }
    }
}

/// Read a dumpdates file; a missing file is an empty table.
pub fn read(path: &Path) -> Result<Table> {
    match std::fs::read(path) {
        Ok(b) => Ok(Table::parse(&String::from_utf8_lossy(&b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Table::default()),
        Err(e) => Err(Error::io(format!("dumpdates file {}", path.display()), &e)),
    }
}

/// Record a successful dump (written to a temporary file, then renamed).
pub fn record(path: &Path, name: &[u8], level: u8, date: i64) -> Result<()> {
    let mut t = read(path)?;
    t.set(name, level, date);
    let tmp = path.with_extension("relic-tmp");
    std::fs::write(&tmp, t.render())
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), &e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::io(format!("cannot replace {}", path.display()), &e))
}

/// dump's `W` report of a dumpdates file (`relic dumpdates FILE`).
pub fn dumpdates_report(path: &Path) -> String {
    match read(path) {
        Ok(t) => t.report(),
        Err(e) => format!("{e}\n"),
    }
}

impl Table {
    /// dump's `W` report: for each file system the newest dump of each level, newest first.
    pub fn report(&self) -> String {
        let mut out = String::from("Last dump(s) done (Dump '>' file systems):\n");
        let mut names: Vec<&Vec<u8>> = Vec::new();
        for r in &self.records {
            if !names.contains(&&r.name) {
                names.push(&r.name);
            }
        }
        if names.is_empty() {
            out.push_str("  (no dumps recorded)\n");
        }
        for name in names {
            let mut recs: Vec<&Record> = self.records.iter().filter(|r| &r.name == name).collect();
            recs.sort_by_key(|r| (std::cmp::Reverse(r.date), r.level));
            for r in recs {
                out.push_str(&format!(
                    "  {:<16}\t Last dump: Level {}, Date {}\n",
                    String::from_utf8_lossy(name),
                    r.level,
                    ctime(r.date)
                ));
            }
        }
        out
    }
}

/// Largest dumpdates file read (one line per file system and level: a real one is tiny).
pub const MAX_FILE: usize = 1 << 20;

/// Bits verified in `head`: every complete line is a dumpdates record.
pub fn bid(head: &[u8]) -> u32 {
    let Ok(text) = std::str::from_utf8(head) else {
        return 0;
    };
    let mut lines: Vec<&str> = text.split('\n').collect();
    if !text.ends_with('\n') {
        lines.pop(); // possibly cut by the probe
    }
    let lines: Vec<&str> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() || !Table::parse(&lines.join("\n")).other.is_empty() {
        return 0;
    }
    // name, level digit and a full ctime date per line
    8 + 8 * lines.len().min(4) as u32
}

/// The `dumpdates` format: a dumpdates file read as a list of its records (path = file
/// system, mtime = dump date, extra `dump.level`), with the W report as the volume's
/// `report` extra, which the `relic dumpdates` command prints.
pub struct DumpdatesReader {
    table: Table,
    next: usize,
}

impl DumpdatesReader {
    pub fn open(medium: Box<dyn relic_model::Medium>) -> Result<DumpdatesReader> {
        let mut s = relic_plugin_sdk::stream::RecordStream::new(medium);
        let mut text = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = s.read_some(&mut buf)?;
            if n == 0 {
                break;
            }
            if text.len() + n > MAX_FILE {
                return Err(Error::unsupported(format!(
                    "more than {MAX_FILE} bytes: not a dumpdates file"
                ))
                .at(text.len() as u64));
            }
            text.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&text);
        Ok(DumpdatesReader {
            table: Table::parse(&text),
            next: 0,
        })
    }
}

impl relic_model::FormatReader for DumpdatesReader {
    fn volume(&mut self) -> Result<relic_model::VolumeInfo> {
        Ok(relic_model::VolumeInfo {
            format: "dumpdates".into(),
            extras: vec![relic_model::Extra::new(
                "report",
                self.table.report().into_bytes(),
            )],
            ..Default::default()
        })
    }
    fn next_entry(&mut self) -> Result<Option<relic_model::Entry>> {
        let Some(r) = self.table.records.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let mut e = relic_model::Entry::new(r.name.clone(), relic_model::EntryKind::File);
        e.data = relic_model::DataState::None;
        e.mtime = Some(relic_model::Timestamp::from_secs(r.date));
        e.set_extra("dump.level", r.level.to_string().into_bytes());
        Ok(Some(e))
    }
    fn read_data(&mut self, _buf: &mut [u8]) -> Result<relic_model::Chunk> {
        Ok(relic_model::Chunk::End)
    }
}
