//! `tape-dir`: a directory of per-tape-file dumps read as one tape.
//!
//! Archivists' tape workflows (KB's tapeimgr, plain `dd` loops with `mt fsf`) save each tape
//! file as its own host file: `file000001.dd`, `file000002.dd`, ... (research note
//! `tape-media.md` §1.7, §6.1). The block size is lost, so each file is cut into records of
//! `record-size` bytes (default 64 KiB; the last one of a file may be short) and
//! `records_meaningful` is false. A tape mark follows each file; after the last one, end of
//! data. Files are matched by name, `file` + decimal number + optional extension, and taken in
//! numeric order; a gap in the numbering is reported as a warning (a tape file is missing).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use relic_model::{
    Error, Medium, MediumInfo, Position, RecordRead, RecordStatus, Result, Space, WriteStatus,
};
use relic_plugin_sdk::HostHandle;

/// Most files a tape directory may list (a tape has far fewer files than this).
const MAX_FILES: usize = 1 << 20;

/// The tape-file dumps in `dir`, in order: (number, path, size).
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf, u64)>> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot read directory {}", dir.display()), &e))?;
    let mut out = Vec::new();
    for ent in rd {
        let ent =
            ent.map_err(|e| Error::io(format!("cannot read directory {}", dir.display()), &e))?;
        let name = ent.file_name();
        let Some(num) = name.to_str().and_then(file_number) else {
            continue;
        };
        let meta = ent
            .metadata()
            .map_err(|e| Error::io(format!("cannot stat {}", ent.path().display()), &e))?;
        if !meta.is_file() {
            continue;
        }
        if out.len() >= MAX_FILES {
            return Err(Error::unsupported(format!(
                "{} holds more than {MAX_FILES} tape files",
                dir.display()
            )));
        }
        out.push((num, ent.path(), meta.len()));
    }
    out.sort();
    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::config(format!(
            "{} and {} are both tape file {}",
            w[0].1.display(),
            w[1].1.display(),
            w[0].0
        )));
    }
    Ok(out)
}

/// `file000001.dd` -> 1.
fn file_number(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("file")?;
    let digits: &str = &rest[..rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len())];
    let ext = &rest[digits.len()..];
    if digits.is_empty()
        || digits.len() > 12
        || !(ext.is_empty() || (ext.starts_with('.') && !ext[1..].contains('.')))
    {
        return None;
    }
    digits.parse().ok()
}

/// A directory of tape-file dumps.
pub struct TapeDir {
    name: String,
    files: Vec<(u64, PathBuf, u64)>,
    /// Index of the current tape file (== files.len() at end of data).
    idx: usize,
    open: Option<File>,
    /// Offset in the current file.
    off: u64,
    record_size: u64,
    record: u64,
    /// Bytes of all the files before the current one.
    before: u64,
}

impl TapeDir {
    pub fn open(location: &str, record_size: u64, host: &HostHandle) -> Result<TapeDir> {
        let files = list(Path::new(location)).map_err(|e| e.in_file(location))?;
        if files.is_empty() {
            return Err(Error::config(format!(
                "{location} holds no tape file dumps (file000001.dd, ...)"
            ))
            .in_file(location));
        }
        for (i, (num, path, _)) in files.iter().enumerate() {
            let expect = files[0].0 + i as u64;
            if *num != expect {
                host.warn(
                    &format!(
                        "{location}: tape file {expect} is missing (next is {})",
                        path.display()
                    ),
                    None,
                );
                break;
            }
        }
        if files[0].0 > 1 {
            host.warn(
                &format!(
                    "{location}: the first tape file dump is number {}, not 1",
                    files[0].0
                ),
                None,
            );
        }
        Ok(TapeDir {
            name: location.to_string(),
            files,
            idx: 0,
            open: None,
            off: 0,
            record_size: record_size.max(1),
            record: 0,
            before: 0,
        })
    }

    fn file(&mut self) -> Result<&mut File> {
        if self.open.is_none() {
            let path = &self.files[self.idx].1;
            let mut f = File::open(path)
                .map_err(|e| Error::io(format!("cannot open {}", path.display()), &e))?;
            f.seek(SeekFrom::Start(self.off))
                .map_err(|e| Error::io(format!("seek {}", path.display()), &e))?;
            self.open = Some(f);
        }
        self.open
            .as_mut()
            .ok_or_else(|| Error::internal("tape file not open"))
    }

    fn go(&mut self, idx: usize, off: u64) {
        self.idx = idx;
        self.before = self.files[..idx.min(self.files.len())]
            .iter()
            .map(|f| f.2)
            .sum();
        self.off = off;
        self.open = None;
        self.record = off.div_ceil(self.record_size);
    }

    fn size(&self) -> u64 {
        self.files.get(self.idx).map(|f| f.2).unwrap_or(0)
    }
}

impl Medium for TapeDir {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "tape-dir".into(),
            name: self.name.clone(),
            record_size: self.record_size as u32,
            max_record: self.record_size as u32,
            seekable: true,
            can_space: true,
            records_meaningful: false,
            size: Some(self.files.iter().map(|f| f.2).sum()),
        }
    }

    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        if self.idx >= self.files.len() {
            return Ok(RecordRead::mark(RecordStatus::EndOfData));
        }
        let want = (self.size().saturating_sub(self.off)).min(self.record_size) as usize;
        if want == 0 {
            self.go(self.idx + 1, 0);
            return Ok(RecordRead::mark(RecordStatus::TapeMark));
        }
        if buf.len() < want {
            return Ok(RecordRead {
                status: RecordStatus::TooSmall,
                len: want,
            });
        }
        let at = self.before + self.off;
        let f = self.file()?;
        let mut got = 0;
        while got < want {
            match f.read(&mut buf[got..want]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io("read tape file dump", &e).at(at)),
            }
        }
        if got < want {
            // the file shrank under us
            return Err(Error::truncated(format!(
                "{} ends at {} bytes, it had {}",
                self.files[self.idx].1.display(),
                self.off + got as u64,
                self.size()
            ))
            .at(at + got as u64));
        }
        self.off += got as u64;
        self.record += 1;
        Ok(RecordRead::data(got))
    }

    fn write_record(&mut self, _data: &[u8]) -> Result<WriteStatus> {
        Err(Error::unsupported("tape-dir is read-only"))
    }

    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Err(Error::unsupported("tape-dir is read-only"))
    }

    fn position(&self) -> Position {
        Position {
            file: self.idx as u64,
            record: self.record,
            offset: self.before + self.off,
            volume: 1,
        }
    }

    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        let n = count.unsigned_abs();
        match op {
            Space::Rewind => {
                self.go(0, 0);
                Ok(0)
            }
            Space::EndOfData => {
                self.go(self.files.len(), 0);
                Ok(0)
            }
            Space::Records if self.idx >= self.files.len() => Ok(0),
            Space::Records => {
                let records = self.size().div_ceil(self.record_size);
                let target = if count >= 0 {
                    self.record.saturating_add(n).min(records)
                } else {
                    self.record.saturating_sub(n)
                };
                let done = target as i64 - self.record as i64;
                let idx = self.idx;
                self.go(idx, (target * self.record_size).min(self.size()));
                Ok(done)
            }
            Space::Files if count >= 0 => {
                let target = (self.idx as u64)
                    .saturating_add(n)
                    .min(self.files.len() as u64);
                let done = target - self.idx as u64;
                self.go(target as usize, 0);
                Ok(done as i64)
            }
            Space::Files => {
                // st's MTBSF: end up before the n-th mark back, i.e. at the end of file idx-n
                if n > self.idx as u64 {
                    let done = self.idx as i64;
                    self.go(0, 0);
                    return Ok(-done);
                }
                let t = self.idx - n as usize;
                let end = self.files[t].2;
                self.go(t, end);
                Ok(-(n as i64))
            }
        }
    }

    fn next_volume(&mut self, _number: u32) -> Result<bool> {
        Ok(false)
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(file_number("file000001.dd"), Some(1));
        assert_eq!(file_number("file12"), Some(12));
        assert_eq!(file_number("file000003.img"), Some(3));
        assert_eq!(file_number("file.dd"), None);
        assert_eq!(file_number("file1.dd.sha512"), None);
        assert_eq!(file_number("checksums.sha512"), None);
    }
}
