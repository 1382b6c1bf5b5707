//! Host-side medium wrappers.
//!
//! - [`ReplayMedium`]: reads the first records of a medium for probing and hands them out
//!   again, so detection works on pipes and tapes that cannot rewind.
//! - [`CountingMedium`]: counts bytes read for the progress display.
//! - [`Spool`]: copies a non-seekable input into a temporary file (records and tape marks
//!   kept) so a writer that needs a catalog pass can read it twice.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use relic_model::{
    Error, Medium, MediumInfo, Position, RecordRead, RecordStatus, Result, Space, WriteStatus,
};

use crate::host::Stats;

/// How much of an input is read for probing: enough for several 64 KiB tape records, so a
/// container's probe can check leading and trailing lengths of more than one record (with a
/// 64 KiB head a SIMH image of 64 KiB records was taken for TPC).
pub const PROBE_BYTES: usize = 256 * 1024;
/// At most this many records are read for probing.
pub const PROBE_RECORDS: usize = 32;

/// A record read for probing: its status and where its bytes are in the head.
#[derive(Debug, Clone)]
struct Saved {
    status: RecordStatus,
    start: usize,
    len: usize,
}

/// A medium whose first records were read ahead for probing and are replayed.
pub struct ReplayMedium {
    inner: Box<dyn Medium>,
    saved: VecDeque<Saved>,
    /// The head as read (concatenated data records, up to a tape mark); the saved records
    /// are replayed from it, so the probed bytes are held (and copied) once.
    head: Vec<u8>,
    record_lengths: Vec<u32>,
}

impl ReplayMedium {
    /// Read up to [`PROBE_BYTES`] / [`PROBE_RECORDS`] of the first tape file of `inner`.
    pub fn new(mut inner: Box<dyn Medium>) -> Result<ReplayMedium> {
        let info = inner.info();
        let mut want = (info.max_record as usize).clamp(512, PROBE_BYTES);
        let mut saved = VecDeque::new();
        let mut head: Vec<u8> = Vec::new();
        let mut record_lengths = Vec::new();
        while head.len() < PROBE_BYTES && saved.len() < PROBE_RECORDS {
            // each record is read straight into the head's tail
            let start = head.len();
            head.resize(start + want, 0);
            let r = inner.read_record(&mut head[start..])?;
            match r.status {
                RecordStatus::TooSmall => {
                    head.truncate(start);
                    if r.len > relic_plugin_sdk::stream::MAX_RECORD {
                        return Err(Error::corrupt(format!(
                            "first record claims {} bytes",
                            r.len
                        )));
                    }
                    if r.len <= want {
                        return Err(Error::internal(format!(
                            "medium asked for a {}-byte buffer after refusing one of {want}",
                            r.len
                        )));
                    }
                    want = r.len;
                    continue;
                }
                RecordStatus::Data | RecordStatus::Bad => {
                    let len = r.len.min(want);
                    head.truncate(start + len);
                    record_lengths.push(len as u32);
                    saved.push_back(Saved {
                        status: r.status,
                        start,
                        len,
                    });
                }
                other => {
                    head.truncate(start);
                    saved.push_back(Saved {
                        status: other,
                        start,
                        len: 0,
                    });
                    break;
                }
            }
        }
        Ok(ReplayMedium {
            inner,
            saved,
            head,
            record_lengths,
        })
    }

    pub fn head(&self) -> &[u8] {
        &self.head
    }
    pub fn record_lengths(&self) -> &[u32] {
        &self.record_lengths
    }
}

impl Medium for ReplayMedium {
    fn info(&self) -> MediumInfo {
        self.inner.info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        if let Some(s) = self.saved.front() {
            if matches!(s.status, RecordStatus::Data | RecordStatus::Bad) {
                if s.len > buf.len() {
                    return Ok(RecordRead {
                        status: RecordStatus::TooSmall,
                        len: s.len,
                    });
                }
                let data = self.head.get(s.start..s.start + s.len).ok_or_else(|| {
                    Error::internal("probed record outside the probe head")
                })?;
                buf[..s.len].copy_from_slice(data);
            }
            let r = RecordRead {
                status: s.status,
                len: s.len,
            };
            self.saved.pop_front();
            return Ok(r);
        }
        self.inner.read_record(buf)
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        self.inner.write_record(data)
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        self.inner.write_tape_mark()
    }
    fn position(&self) -> Position {
        let mut p = self.inner.position();
        let pending: u64 = self.saved.iter().map(|s| s.len as u64).sum();
        let pending_records = self
            .saved
            .iter()
            .filter(|s| matches!(s.status, RecordStatus::Data | RecordStatus::Bad))
            .count();
        p.offset = p.offset.saturating_sub(pending);
        p.record = p.record.saturating_sub(pending_records as u64);
        p
    }
    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        if op == Space::Rewind {
            self.saved.clear();
            return self.inner.space(op, count);
        }
        if self.saved.is_empty() {
            return self.inner.space(op, count);
        }
        if op != Space::Records || count < 0 {
            return Err(Error::unsupported(
                "cannot space back or over files while probed records are pending",
            ));
        }
        // forward over replayed data records first, never past a replayed tape mark
        let mut done = 0;
        while done < count {
            match self.saved.front() {
                Some(s) if matches!(s.status, RecordStatus::Data | RecordStatus::Bad) => {
                    self.saved.pop_front();
                    done += 1;
                }
                Some(_) => return Ok(done),
                None => return Ok(done + self.inner.space(op, count - done)?),
            }
        }
        Ok(done)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.saved.clear();
        self.inner.next_volume(number)
    }
    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
}

/// Counts bytes read into [`Stats::bytes_in`].
pub struct CountingMedium {
    inner: Box<dyn Medium>,
    stats: Arc<Stats>,
}

impl CountingMedium {
    pub fn new(inner: Box<dyn Medium>, stats: Arc<Stats>) -> CountingMedium {
        if let Some(size) = inner.info().size {
            stats
                .total_in
                .store(size, std::sync::atomic::Ordering::Relaxed);
        }
        CountingMedium { inner, stats }
    }
}

impl Medium for CountingMedium {
    fn info(&self) -> MediumInfo {
        self.inner.info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        let r = self.inner.read_record(buf)?;
        if matches!(r.status, RecordStatus::Data | RecordStatus::Bad) {
            Stats::add(&self.stats.bytes_in, r.len as u64);
        }
        Ok(r)
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        self.inner.write_record(data)
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        self.inner.write_tape_mark()
    }
    fn position(&self) -> Position {
        self.inner.position()
    }
    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        let before = self.inner.position().offset;
        let r = self.inner.space(op, count)?;
        if op == Space::Records && count > 0 {
            // spaced-over bytes count as consumed input for the progress display
            Stats::add(
                &self.stats.bytes_in,
                self.inner.position().offset.saturating_sub(before),
            );
        }
        Ok(r)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.inner.next_volume(number)
    }
    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
}

/// Framing of the spool file: a u32 little-endian length then the record; tape marks and the
/// end are lengths with the top bit set.
const SPOOL_MARK: u32 = 0x8000_0001;
const SPOOL_BAD: u32 = 0x4000_0000;

/// A non-seekable input copied to a temporary file, readable any number of times.
pub struct Spool {
    file: tempfile::NamedTempFile,
    info: MediumInfo,
}

impl Spool {
    /// Copy every record and tape mark of `inner` up to end of data.
    pub fn fill(mut inner: Box<dyn Medium>, cancelled: &dyn Fn() -> bool) -> Result<Spool> {
        let file = tempfile::NamedTempFile::new()
            .map_err(|e| Error::io("cannot create spool file", &e))?;
        let mut w = BufWriter::new(file.reopen().map_err(|e| Error::io("spool", &e))?);
        let info = inner.info();
        let mut buf = vec![0u8; (info.max_record as usize).max(64 * 1024)];
        let io = |e: std::io::Error| Error::io("writing spool file", &e);
        loop {
            if cancelled() {
                return Err(Error::new(
                    relic_model::ErrorKind::Cancelled,
                    "interrupted while spooling",
                ));
            }
            let r = inner.read_record(&mut buf)?;
            match r.status {
                RecordStatus::TooSmall => {
                    if r.len > relic_plugin_sdk::stream::MAX_RECORD {
                        return Err(Error::corrupt(format!("record of {} bytes", r.len)));
                    }
                    buf.resize(r.len, 0);
                }
                RecordStatus::Data | RecordStatus::Bad => {
                    let tag = r.len as u32
                        | if r.status == RecordStatus::Bad {
                            SPOOL_BAD
                        } else {
                            0
                        };
                    w.write_all(&tag.to_le_bytes()).map_err(io)?;
                    w.write_all(&buf[..r.len]).map_err(io)?;
                }
                RecordStatus::TapeMark => w.write_all(&SPOOL_MARK.to_le_bytes()).map_err(io)?,
                RecordStatus::EndOfData | RecordStatus::EndOfMedium => break,
            }
        }
        w.flush().map_err(io)?;
        Ok(Spool { file, info })
    }

    /// A fresh reader over the spooled records.
    pub fn open(&self) -> Result<SpoolMedium> {
        let f = self
            .file
            .reopen()
            .map_err(|e| Error::io("reopen spool", &e))?;
        let size = f.metadata().map(|m| m.len()).ok();
        Ok(SpoolMedium {
            r: BufReader::with_capacity(1 << 20, f),
            info: self.info.clone(),
            offset: 0,
            records: 0,
            size,
        })
    }
}

/// Reads a [`Spool`].
pub struct SpoolMedium {
    r: BufReader<File>,
    info: MediumInfo,
    offset: u64,
    records: u64,
    size: Option<u64>,
}

impl Medium for SpoolMedium {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            seekable: true,
            size: self.size,
            ..self.info.clone()
        }
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        let mut tag = [0u8; 4];
        match self.r.read_exact(&mut tag) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Ok(RecordRead::mark(RecordStatus::EndOfData))
            }
            Err(e) => return Err(Error::io("reading spool", &e)),
        }
        let tag = u32::from_le_bytes(tag);
        if tag == SPOOL_MARK {
            return Ok(RecordRead::mark(RecordStatus::TapeMark));
        }
        let len = (tag & !SPOOL_BAD) as usize;
        if len > buf.len() {
            self.r
                .seek_relative(-4)
                .map_err(|e| Error::io("seek spool", &e))?;
            return Ok(RecordRead {
                status: RecordStatus::TooSmall,
                len,
            });
        }
        self.r
            .read_exact(&mut buf[..len])
            .map_err(|e| Error::io("reading spool", &e))?;
        self.offset += len as u64;
        self.records += 1;
        let status = if tag & SPOOL_BAD != 0 {
            RecordStatus::Bad
        } else {
            RecordStatus::Data
        };
        Ok(RecordRead { status, len })
    }
    fn write_record(&mut self, _data: &[u8]) -> Result<WriteStatus> {
        Err(Error::internal("the spool is read-only"))
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Err(Error::internal("the spool is read-only"))
    }
    fn position(&self) -> Position {
        Position {
            file: 0,
            record: self.records,
            offset: self.offset,
            volume: 1,
        }
    }
    fn space(&mut self, op: Space, _count: i64) -> Result<i64> {
        match op {
            Space::Rewind => {
                self.r
                    .seek(SeekFrom::Start(0))
                    .map_err(|e| Error::io("rewind spool", &e))?;
                self.offset = 0;
                self.records = 0;
                Ok(0)
            }
            _ => Err(Error::unsupported("the spool only rewinds")),
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
    use relic_plugin_sdk::testing::MemoryMedium;

    fn drain(m: &mut dyn Medium) -> Vec<(RecordStatus, Vec<u8>)> {
        let mut out = vec![];
        let mut buf = vec![0u8; 4];
        loop {
            let r = m.read_record(&mut buf).expect("read");
            match r.status {
                RecordStatus::TooSmall => buf.resize(r.len, 0),
                RecordStatus::EndOfData => return out,
                s => out.push((s, buf[..r.len].to_vec())),
            }
        }
    }

    fn sample() -> MemoryMedium {
        let mut m = MemoryMedium::new(0);
        m.push_record(b"hello");
        m.push_record(b"world!");
        m.push_mark();
        m.push_record(b"x");
        m
    }

    #[test]
    fn replay_hands_out_the_probed_records_again() {
        let mut r = ReplayMedium::new(Box::new(sample())).expect("probe");
        assert_eq!(r.head(), b"helloworld!");
        assert_eq!(r.record_lengths(), &[5, 6]);
        let got = drain(&mut r);
        assert_eq!(got.len(), 4);
        assert_eq!(got[1].1, b"world!");
        assert_eq!(got[2].0, RecordStatus::TapeMark);
        assert_eq!(got[3].1, b"x");
    }

    #[test]
    fn replay_spaces_over_probed_records_then_the_medium() {
        let mut m = MemoryMedium::new(0);
        for i in 0..6u8 {
            m.push_record(&[i; 3]);
        }
        let mut r = ReplayMedium::new(Box::new(m)).expect("probe");
        assert_eq!(r.space(Space::Records, 2).expect("space"), 2);
        let mut buf = [0u8; 8];
        assert_eq!(r.read_record(&mut buf).expect("read").len, 3);
        assert_eq!(buf[0], 2);
        // the remaining replayed records and then the medium itself
        assert_eq!(r.space(Space::Records, 2).expect("space"), 2);
        r.read_record(&mut buf).expect("read");
        assert_eq!(buf[0], 5);
    }

    #[test]
    fn spool_keeps_records_and_marks_and_rereads() {
        let spool = Spool::fill(Box::new(sample()), &|| false).expect("spool");
        let a = drain(&mut spool.open().expect("open"));
        let b = drain(&mut spool.open().expect("open"));
        assert_eq!(a, b);
        assert_eq!(a, drain(&mut sample()));
    }
}
