//! The level history of incremental by-inode backups: an AIX-style `/etc/dumpdates`.
//!
//! AIX `backup -u` (a 4.3BSD dump port, research note §2) records every by-inode backup as
//! one line `NAME LEVEL DATE` (BSD's `"%-32s %c %s"` with `ctime()` text, e.g.
//! `/dev/rhd4                        0 Tue Mar  1 14:26:22 2012`). A level-N backup copies
//! what changed since the most recent backup of the same name at a level below N (its
//! "budate", 0 when there is none: everything). relic reads and writes the same layout,
//! with dates in UTC (AIX writes local time), and updates the file only once the backup is
//! complete (written to a temporary file in the same directory, then renamed).

use std::path::Path;

use relic_model::time::{civil_from_days, days_from_civil};
use relic_model::{Error, Result};

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub level: u8,
    pub date: i64,
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `ctime()` text of a date, in UTC: `Thu Jan  1 00:00:00 1970`.
pub fn ctime(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {y}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[m as usize - 1],
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parse `ctime()` text (the weekday is not checked).
pub fn parse_ctime(s: &str) -> Option<i64> {
    let w: Vec<&str> = s.split_whitespace().collect();
    if w.len() != 5 {
        return None;
    }
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(w[1]))? as u32 + 1;
    let d: u32 = w[2].parse().ok()?;
    let y: i64 = w[4].parse().ok()?;
    let hms: Vec<i64> = w[3]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 || !(1..=31).contains(&d) || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// One line as AIX writes it.
pub fn format_record(r: &Record) -> String {
    format!("{:<32} {} {}\n", r.name, r.level, ctime(r.date))
}

/// Parse a history file's text.
pub fn parse(text: &str) -> std::result::Result<Vec<Record>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(level)) = (parts.next(), parts.next()) else {
            return Err(format!("line {}: expected NAME LEVEL DATE", i + 1));
        };
        let level: u8 = match level.parse() {
            Ok(l) if l <= 9 => l,
            _ => return Err(format!("line {}: level '{level}' is not 0-9", i + 1)),
        };
        let rest: Vec<&str> = parts.collect();
        let date = parse_ctime(&rest.join(" ")).ok_or_else(|| {
            format!(
                "line {}: '{}' is not a date like 'Tue Mar  1 14:26:22 2012'",
                i + 1,
                rest.join(" ")
            )
        })?;
        out.push(Record {
            name: name.to_string(),
            level,
            date,
        });
    }
    Ok(out)
}

/// Read a history file (a missing file is an empty history).
pub fn read(path: &Path) -> Result<Vec<Record>> {
    match std::fs::read_to_string(path) {
        Ok(t) => parse(&t).map_err(|m| Error::config(format!("dumpdates {}: {m}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(
            format!("cannot read dumpdates {}", path.display()),
            &e,
        )),
    }
}

/// The budate of a level-`level` backup of `name`: the latest date of a lower level.
pub fn budate(records: &[Record], name: &str, level: u8) -> i64 {
    records
        .iter()
        .filter(|r| r.name == name && r.level < level)
        .map(|r| r.date)
        .max()
        .unwrap_or(0)
}

/// Record a completed backup: replace the line of the same name and level, keep the rest.
pub fn update(path: &Path, name: &str, level: u8, date: i64) -> Result<()> {
    let mut records = read(path)?;
    records.retain(|r| !(r.name == name && r.level == level));
    records.push(Record {
        name: name.to_string(),
        level,
        date,
    });
    let text: String = records.iter().map(format_record).collect();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        Error::io(
            format!("cannot create a temporary file in {}", dir.display()),
            &e,
        )
    })?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .map_err(|e| Error::io("cannot write the dumpdates file", &e))?;
    tmp.persist(path)
        .map_err(|e| Error::io(format!("cannot replace {}", path.display()), &e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_round_trip_and_levels() {
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        assert_eq!(ctime(1_330_611_982), "Thu Mar  1 14:26:22 2012");
        assert_eq!(parse_ctime("Tue Mar  1 14:26:22 2012"), Some(1_330_611_982));
        let text = "/dev/rhd4                        0 Thu Mar  1 14:26:22 2012\n\
                    /dev/rhd4                        1 Fri Mar  2 14:26:22 2012\n\
                    /home 0 Sat Mar  3 00:00:00 2012\n";
        let r = parse(text).expect("parse");
        assert_eq!(r.len(), 3);
        assert_eq!(budate(&r, "/dev/rhd4", 0), 0);
        assert_eq!(budate(&r, "/dev/rhd4", 1), 1_330_611_982);
        assert_eq!(budate(&r, "/dev/rhd4", 5), 1_330_611_982 + 86_400);
        assert!(parse("x 12 Thu Mar  1 14:26:22 2012").is_err());
        assert!(parse("x 1 yesterday").is_err());
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("dumpdates");
        update(&p, "/home", 0, 100).expect("update");
        update(&p, "/home", 1, 200).expect("update");
        update(&p, "/home", 0, 300).expect("update");
        let r = read(&p).expect("read");
        assert_eq!(
            r,
            vec![
                Record {
                    name: "/home".into(),
                    level: 1,
                    date: 200
                },
                Record {
                    name: "/home".into(),
                    level: 0,
                    date: 300
                }
            ]
        );
    }
}
