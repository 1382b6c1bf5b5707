//! The `file` media plugin: plain files and block devices as record media.
//!
//! A plain file has no record structure, so this medium cuts it into records of
//! `record-size` bytes on read (default 64 KiB; the last one may be short) and writes each
//! record as given. It is seekable: the engine rewinds it for a second (catalog) pass and
//! tape-image containers seek in it. Tape marks cannot be represented in a plain file; writing
//! one is accepted and recorded nowhere (tape-structured output belongs in a tape image).
//!
//! Options: `record-size=N` (bytes, k/m suffixes), `volume-size=N` (write: report early
//! warning once N bytes are written, for fixed-size volumes such as floppies).
//!
//! Output files are written where the engine says; the engine gives a temporary name and
//! renames it on success, so this plugin never leaves a truncated file under the final name.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

use relic_model::{
    Error, Medium, MediumInfo, OpenMode, Position, RecordRead, RecordStatus, Result, Space,
    WriteStatus,
};
use relic_plugin_sdk::{Descriptor, HostHandle, MediumKindInfo, Options, Plugin};

pub struct FilePlugin;

const OPTIONS: &[(&str, &str)] = &[
    (
        "record-size=N",
        "record size in bytes for reading and writing (k/m suffixes; default 64k on read)",
    ),
    (
        "volume-size=N",
        "write: signal end of volume after N bytes (fixed-size volumes)",
    ),
];

impl Plugin for FilePlugin {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "file".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![],
            media: vec![MediumKindInfo {
                id: "file".into(),
                aliases: vec!["disk".into()],
                description: "plain files and block devices (seekable; records of a fixed size)"
                    .into(),
                read: true,
                write: true,
                container: false,
                options: OPTIONS
                    .iter()
                    .map(|(n, h)| (n.to_string(), h.to_string()))
                    .collect(),
            }],
        }
    }

    fn probe(id: &str, _head: &[u8], ctx: &relic_plugin_sdk::ProbeContext) -> u32 {
        // Anything that is not a directory or a character device can be read as a file.
        if id == "file" && !ctx.is_dir && !ctx.is_char_device {
            1
        } else {
            0
        }
    }

    fn open_medium(
        id: &str,
        location: &str,
        mode: OpenMode,
        _inner: Option<Box<dyn Medium>>,
        options: &Options,
        _host: HostHandle,
    ) -> Result<Box<dyn Medium>> {
        if id != "file" {
            return Err(Error::unsupported(format!(
                "file plugin cannot open medium {id}"
            )));
        }
        options.check_known(&["record-size", "volume-size"], "the file medium")?;
        let record_size = options.size("record-size")?.unwrap_or(0);
        if record_size > relic_plugin_sdk::stream::MAX_RECORD as u64 {
            return Err(Error::config(format!(
                "record-size {record_size} is over the 16 MiB limit"
            )));
        }
        let volume_size = options.size("volume-size")?;
        Ok(Box::new(FileMedium::open(
            location,
            mode,
            record_size as u32,
            volume_size,
        )?))
    }
}

enum Handle {
    Read(File),
    Write(BufWriter<File>),
}

/// A plain file or block device.
pub struct FileMedium {
    name: String,
    handle: Handle,
    record_size: u32,
    size: Option<u64>,
    offset: u64,
    records: u64,
    volume_size: Option<u64>,
}

impl FileMedium {
    pub fn open(
        path: &str,
        mode: OpenMode,
        record_size: u32,
        volume_size: Option<u64>,
    ) -> Result<FileMedium> {
        let ctx =
            |what: &str, e: std::io::Error| Error::io(format!("{what} {path}"), &e).in_file(path);
        let (handle, size) = match mode {
            OpenMode::Read => {
                let mut f = File::open(path).map_err(|e| ctx("cannot open", e))?;
                let meta = f.metadata().map_err(|e| ctx("cannot stat", e))?;
                if meta.is_dir() {
                    return Err(
                        Error::config(format!("{path} is a directory, not a file")).in_file(path)
                    );
                }
                // block devices report size 0 in metadata; ask by seeking
                let size = if meta.is_file() {
                    Some(meta.len())
                } else {
                    let s = f.seek(SeekFrom::End(0)).ok();
                    f.seek(SeekFrom::Start(0))
                        .map_err(|e| ctx("cannot seek", e))?;
                    s
                };
                (Handle::Read(f), size)
            }
            OpenMode::Write => {
                let is_block = std::fs::metadata(path)
                    .map(|m| !m.is_file() && !m.is_dir())
                    .unwrap_or(false);
                let f = if is_block {
                    OpenOptions::new().write(true).open(path)
                } else {
                    OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .open(path)
                }
                .map_err(|e| ctx("cannot create", e))?;
                (Handle::Write(BufWriter::with_capacity(1 << 20, f)), None)
            }
        };
        Ok(FileMedium {
            name: path.to_string(),
            handle,
            record_size,
            size,
            offset: 0,
            records: 0,
            volume_size,
        })
    }

    fn read_size(&self) -> usize {
        if self.record_size == 0 {
            64 * 1024
        } else {
            self.record_size as usize
        }
    }
}

impl Medium for FileMedium {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "file".into(),
            name: self.name.clone(),
            record_size: self.record_size,
            max_record: self.read_size() as u32,
            seekable: matches!(self.handle, Handle::Read(_)),
            // records are units of the read size (the last may be short): spaceable
            can_space: matches!(self.handle, Handle::Read(_)),
            records_meaningful: false,
            size: self.size,
        }
    }

    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        let want = self.read_size();
        let Handle::Read(f) = &mut self.handle else {
            return Err(Error::config("medium was opened for writing"));
        };
        let want = match self.size {
            Some(size) if size.saturating_sub(self.offset) < want as u64 => {
                (size - self.offset) as usize
            }
            _ => want,
        };
        if want == 0 && self.size.is_some() {
            return Ok(RecordRead::mark(RecordStatus::EndOfData));
        }
        if buf.len() < want {
            return Ok(RecordRead {
                status: RecordStatus::TooSmall,
                len: want,
            });
        }
        let mut got = 0;
        while got < want {
            match f.read(&mut buf[got..want]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(
                        Error::io(format!("read {}", self.name), &e).at(self.offset + got as u64)
                    )
                }
            }
        }
        if got == 0 {
            return Ok(RecordRead::mark(RecordStatus::EndOfData));
        }
        self.offset += got as u64;
        self.records += 1;
        Ok(RecordRead::data(got))
    }

    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        let Handle::Write(w) = &mut self.handle else {
            return Err(Error::config("medium was opened for reading"));
        };
        w.write_all(data)
            .map_err(|e| Error::io(format!("write {}", self.name), &e).at(self.offset))?;
        self.offset += data.len() as u64;
        self.records += 1;
        Ok(WriteStatus {
            early_warning: self.volume_size.is_some_and(|v| self.offset >= v),
        })
    }

    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Ok(WriteStatus {
            early_warning: self.volume_size.is_some_and(|v| self.offset >= v),
        })
    }

    fn position(&self) -> Position {
        Position {
            file: 0,
            record: self.records,
            offset: self.offset,
            volume: 1,
        }
    }

    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        let unit = self.read_size() as i64;
        let Handle::Read(f) = &mut self.handle else {
            return Err(Error::config("cannot space a file opened for writing"));
        };
        let seek = |f: &mut File, to: u64| {
            f.seek(SeekFrom::Start(to))
                .map_err(|e| Error::io("seek", &e))
        };
        match op {
            Space::Rewind => {
                seek(f, 0)?;
                self.offset = 0;
                self.records = 0;
                Ok(0)
            }
            Space::EndOfData => {
                let end = f
                    .seek(SeekFrom::End(0))
                    .map_err(|e| Error::io("seek", &e))?;
                self.offset = end;
                Ok(0)
            }
            Space::Records => {
                let rs = unit;
                let cur = self.offset as i64 / rs;
                let last = self
                    .size
                    .map(|s| (s as i64 + rs - 1) / rs)
                    .unwrap_or(i64::MAX);
                let target = (cur + count).clamp(0, last);
                // the last unit may be short: never stand past the end
                let to = ((target * rs) as u64).min(self.size.unwrap_or(u64::MAX));
                seek(f, to)?;
                self.offset = to;
                self.records = target as u64;
                Ok(target - cur)
            }
            _ => Err(Error::unsupported(
                "a plain file has no tape marks to space over",
            )),
        }
    }

    fn next_volume(&mut self, _number: u32) -> Result<bool> {
        Ok(false)
    }

    fn finish(&mut self) -> Result<()> {
        if let Handle::Write(w) = &mut self.handle {
            w.flush()
                .map_err(|e| Error::io(format!("flush {}", self.name), &e))?;
            w.get_ref()
                .sync_all()
                .map_err(|e| Error::io(format!("sync {}", self.name), &e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fixed_records_and_rewinds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, vec![7u8; 1300]).expect("write");
        let mut m =
            FileMedium::open(p.to_str().expect("utf8"), OpenMode::Read, 512, None).expect("open");
        let mut buf = vec![0; 512];
        let lens: Vec<usize> = (0..4)
            .map(|_| m.read_record(&mut buf).expect("read").len)
            .collect();
        assert_eq!(lens, vec![512, 512, 276, 0]);
        m.space(Space::Rewind, 0).expect("rewind");
        assert_eq!(m.space(Space::Records, 2).expect("space"), 2);
        assert_eq!(m.read_record(&mut buf).expect("read").len, 276);
        let mut small = vec![0; 10];
        m.space(Space::Rewind, 0).expect("rewind");
        assert_eq!(
            m.read_record(&mut small).expect("read").status,
            RecordStatus::TooSmall
        );
    }

    /// RecordStream::skip spaces over whole units of a plain file instead of reading them;
    /// what follows a skip must be exactly the bytes at that offset, also near the short
    /// last unit and at the end.
    #[test]
    fn skipping_seeks_and_lands_on_the_right_bytes() {
        use relic_plugin_sdk::stream::RecordStream;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8).collect();
        std::fs::write(&p, &data).expect("write");
        for (first, skip) in [(0u64, 0u64), (10, 70_000), (100, 200_000), (65_536, 65_536), (1, 999_990)] {
            let m = FileMedium::open(p.to_str().expect("utf8"), OpenMode::Read, 0, None).expect("open");
            let mut s = RecordStream::new(m);
            s.skip(first, "test").expect("first skip");
            s.skip(skip, "test").expect("skip");
            let at = (first + skip) as usize;
            let want = &data[at..(at + 12).min(data.len())];
            let mut got = vec![0u8; want.len()];
            s.read_exact_bytes(&mut got, "test").expect("read after skip");
            assert_eq!(got, want, "after skipping {first}+{skip}");
            assert_eq!(s.offset(), (at + want.len()) as u64);
        }
        let m = FileMedium::open(p.to_str().expect("utf8"), OpenMode::Read, 0, None).expect("open");
        let mut s = RecordStream::new(m);
        let e = s.skip(1_000_004, "member data").expect_err("one byte past the end");
        assert_eq!(e.kind, relic_model::ErrorKind::Truncated, "{e}");
    }

    #[test]
    fn writes_and_signals_volume_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("o");
        let mut m = FileMedium::open(p.to_str().expect("utf8"), OpenMode::Write, 0, Some(1000))
            .expect("open");
        assert!(!m.write_record(&[1; 600]).expect("write").early_warning);
        assert!(m.write_record(&[2; 600]).expect("write").early_warning);
        m.finish().expect("finish");
        assert_eq!(std::fs::read(&p).expect("read").len(), 1200);
    }
}
