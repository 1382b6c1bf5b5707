//! Byte streams over record media, for formats that think in bytes.
//!
//! [`RecordStream`] is a read-ahead buffer in the spirit of libarchive's: a reader asks to
//! [`peek`](RecordStream::peek) at the next `n` bytes (across record boundaries), then
//! [`consume`](RecordStream::consume)s what it parsed, and always knows its byte offset for
//! error messages. It stops at a tape mark (one tape file is one stream) unless told to move
//! on with [`next_file`](RecordStream::next_file). Memory stays bounded by the largest peek
//! plus one record. [`RecordWriter`] is the write side: it cuts a byte stream into records of
//! the medium's block size, so output is always correctly blocked.

use std::io;

use relic_model::{Error, Medium, RecordStatus, Result, Space, WriteStatus};

/// Largest single record the stream accepts (tape blocks above this are refused as corrupt).
pub const MAX_RECORD: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    TapeMark,
    EndOfData,
    EndOfMedium,
}

/// A read-ahead byte stream over the records of a medium.
pub struct RecordStream<M: Medium> {
    medium: M,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    offset: u64,
    state: State,
    record: Vec<u8>,
    records: u64,
    bad_records: u64,
    last_record_len: usize,
    /// Bytes per record when the medium cuts a plain byte stream into fixed units and can
    /// space over them (a plain file): `skip` then seeks instead of reading.
    space_unit: Option<u64>,
}

impl<M: Medium> RecordStream<M> {
    pub fn new(medium: M) -> RecordStream<M> {
        let info = medium.info();
        let space_unit =
            (!info.records_meaningful && info.can_space && info.max_record > 0).then_some(info.max_record as u64);
        let first = match info.max_record {
            0 => 64 * 1024,
            n => (n as usize).min(MAX_RECORD),
        };
        RecordStream {
            medium,
            buf: Vec::new(),
            start: 0,
            end: 0,
            offset: 0,
            state: State::Open,
            record: vec![0; first.max(512)],
            records: 0,
            bad_records: 0,
            last_record_len: 0,
            space_unit,
        }
    }

    /// Stream offset of the next unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// Records read so far, and how many of them the medium flagged as bad.
    pub fn records(&self) -> (u64, u64) {
        (self.records, self.bad_records)
    }
    /// Length of the most recent record read from the medium.
    pub fn last_record_len(&self) -> usize {
        self.last_record_len
    }
    pub fn medium(&self) -> &M {
        &self.medium
    }
    pub fn medium_mut(&mut self) -> &mut M {
        &mut self.medium
    }
    pub fn into_inner(self) -> M {
        self.medium
    }
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }
    /// The stream stopped at a tape mark (and has no buffered bytes left).
    pub fn at_tape_mark(&self) -> bool {
        self.state == State::TapeMark && self.buffered() == 0
    }
    pub fn at_end_of_medium(&self) -> bool {
        self.state == State::EndOfMedium && self.buffered() == 0
    }

    /// Go on past a tape mark into the next tape file.
    pub fn next_file(&mut self) -> bool {
        if self.state == State::TapeMark {
            self.state = State::Open;
            true
        } else {
            false
        }
    }

    /// Go on after end of medium (the medium switched volumes).
    pub fn resume(&mut self) {
        if matches!(self.state, State::EndOfMedium | State::EndOfData) {
            self.state = State::Open;
        }
    }

    /// Read one more record into the buffer. Returns false at a tape mark or end.
    fn read_record(&mut self) -> Result<bool> {
        if self.state != State::Open {
            return Ok(false);
        }
        loop {
            let r = self.medium.read_record(&mut self.record)?;
            match r.status {
                RecordStatus::Data | RecordStatus::Bad => {
                    if r.status == RecordStatus::Bad {
                        self.bad_records += 1;
                    }
                    self.records += 1;
                    self.last_record_len = r.len;
                    if self.start > 0 && self.start == self.end {
                        self.start = 0;
                        self.end = 0;
                    }
                    if self.buf.len() - self.end < r.len {
                        // compact, then grow if still short
                        self.buf.copy_within(self.start..self.end, 0);
                        self.end -= self.start;
                        self.start = 0;
                        if self.buf.len() - self.end < r.len {
                            self.buf.resize(self.end + r.len, 0);
                        }
                    }
                    self.buf[self.end..self.end + r.len].copy_from_slice(&self.record[..r.len]);
                    self.end += r.len;
                    return Ok(true);
                }
                RecordStatus::TooSmall => {
                    if r.len > MAX_RECORD {
                        return Err(Error::corrupt(format!(
                            "record of {} bytes is larger than the {MAX_RECORD}-byte limit",
                            r.len
                        ))
                        .at(self.offset + self.buffered() as u64));
                    }
                    if r.len <= self.record.len() {
                        return Err(Error::internal(
                            "medium said TooSmall for a record that fits",
                        ));
                    }
                    self.record.resize(r.len, 0);
                }
                RecordStatus::TapeMark => {
                    self.state = State::TapeMark;
                    return Ok(false);
                }
                RecordStatus::EndOfData => {
                    self.state = State::EndOfData;
                    return Ok(false);
                }
                RecordStatus::EndOfMedium => {
                    self.state = State::EndOfMedium;
                    return Ok(false);
                }
            }
        }
    }

    /// Buffer at least `n` bytes if the stream has them; returns how many are buffered.
    pub fn fill(&mut self, n: usize) -> Result<usize> {
        while self.buffered() < n {
            if !self.read_record()? {
                break;
            }
        }
        Ok(self.buffered())
    }

    /// Up to `n` next bytes without consuming them (fewer only at the end of the stream).
    pub fn peek(&mut self, n: usize) -> Result<&[u8]> {
        self.fill(n)?;
        let avail = self.buffered().min(n);
        Ok(&self.buf[self.start..self.start + avail])
    }

    /// Exactly `n` bytes or a `Truncated` error naming `what` and the offset.
    pub fn peek_exact(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        let off = self.offset;
        if self.fill(n)? < n {
            return Err(Error::truncated(format!(
                "expected {n} bytes of {what}, the input ends after {}",
                self.buffered()
            ))
            .at(off));
        }
        Ok(&self.buf[self.start..self.start + n])
    }

    /// Drop `n` buffered bytes (after a peek).
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.buffered());
        self.start += n;
        self.offset += n as u64;
    }

    /// Read exactly `out.len()` bytes.
    pub fn read_exact_bytes(&mut self, out: &mut [u8], what: &str) -> Result<()> {
        let mut done = 0;
        while done < out.len() {
            if self.buffered() == 0 && !self.read_record()? {
                return Err(Error::truncated(format!(
                    "expected {} bytes of {what}, the input ends after {done}",
                    out.len()
                ))
                .at(self.offset));
            }
            let n = self.buffered().min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.consume(n);
            done += n;
        }
        Ok(())
    }

    /// Skip `n` bytes; `Truncated` if the stream ends first. On a medium that can space
    /// over fixed units of a byte stream (a plain file), whole units are spaced over instead
    /// of read: listing a large archive does not read its data.
    pub fn skip(&mut self, mut n: u64, what: &str) -> Result<()> {
        let k = (self.buffered() as u64).min(n) as usize;
        self.consume(k);
        n -= k as u64;
        if let Some(unit) = self.space_unit {
            // with nothing buffered the medium stands at a record boundary
            if n >= unit && self.buffered() == 0 && self.state == State::Open {
                let before = self.medium.position().offset;
                let spaced = self.medium.space(Space::Records, (n / unit) as i64)?;
                let moved = self.medium.position().offset.saturating_sub(before).min(n);
                if spaced > 0 {
                    self.offset += moved;
                    n -= moved;
                }
            }
        }
        while n > 0 {
            if self.buffered() == 0 && !self.read_record()? {
                return Err(
                    Error::truncated(format!("expected {n} more bytes of {what}")).at(self.offset),
                );
            }
            let k = (self.buffered() as u64).min(n) as usize;
            self.consume(k);
            n -= k as u64;
        }
        Ok(())
    }

    /// Read up to `out.len()` bytes; 0 at the end of the stream.
    pub fn read_some(&mut self, out: &mut [u8]) -> Result<usize> {
        if self.buffered() == 0 && !self.read_record()? {
            return Ok(0);
        }
        let n = self.buffered().min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.consume(n);
        Ok(n)
    }

    /// Drop what is buffered of the current record so the next read starts on a record
    /// boundary (for formats whose headers are record-aligned).
    pub fn discard_buffered(&mut self) {
        let n = self.buffered();
        self.consume(n);
    }
}

impl<M: Medium> io::Read for RecordStream<M> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.read_some(out)
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

/// Cuts a byte stream into fixed-size records on a medium.
pub struct RecordWriter<M: Medium> {
    medium: M,
    record: Vec<u8>,
    filled: usize,
    written: u64,
    status: WriteStatus,
}

impl<M: Medium> RecordWriter<M> {
    /// `record_size` 0 takes the medium's record size, or 10240 bytes (tar's default).
    pub fn new(medium: M, record_size: usize) -> RecordWriter<M> {
        let size = match record_size {
            0 => match medium.info().record_size {
                0 => 10240,
                n => n as usize,
            },
            n => n,
        };
        RecordWriter {
            medium,
            record: vec![0; size],
            filled: 0,
            written: 0,
            status: WriteStatus::default(),
        }
    }

    pub fn record_size(&self) -> usize {
        self.record.len()
    }
    /// Bytes accepted so far.
    pub fn offset(&self) -> u64 {
        self.written
    }
    /// The medium reported early warning on some write.
    pub fn early_warning(&self) -> bool {
        self.status.early_warning
    }
    pub fn medium_mut(&mut self) -> &mut M {
        &mut self.medium
    }

    pub fn write_all(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.filled == 0 && data.len() >= self.record.len() {
                // whole records straight from the caller's buffer
                let n = self.record.len();
                let st = self.medium.write_record(&data[..n])?;
                self.status.early_warning |= st.early_warning;
                data = &data[n..];
                self.written += n as u64;
                continue;
            }
            let n = (self.record.len() - self.filled).min(data.len());
            self.record[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            self.written += n as u64;
            data = &data[n..];
            if self.filled == self.record.len() {
                self.flush_record(true)?;
            }
        }
        Ok(())
    }

    /// Write `n` zero bytes.
    pub fn write_zeros(&mut self, mut n: u64) -> Result<()> {
        let zeros = [0u8; 8192];
        while n > 0 {
            let k = n.min(zeros.len() as u64) as usize;
            self.write_all(&zeros[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Write out a partly filled record, padded with zeros to the full size when `pad`.
    pub fn flush_record(&mut self, pad: bool) -> Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let len = if pad {
            self.record[self.filled..].fill(0);
            self.record.len()
        } else {
            self.filled
        };
        let st = self.medium.write_record(&self.record[..len])?;
        self.status.early_warning |= st.early_warning;
        self.filled = 0;
        Ok(())
    }

    /// Flush (padding the last record) and finish the medium.
    pub fn finish(mut self, pad: bool) -> Result<M> {
        self.flush_record(pad)?;
        self.medium.finish()?;
        Ok(self.medium)
    }
}

impl<M: Medium> io::Write for RecordWriter<M> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{HostileMedium, MemoryMedium};

    #[test]
    fn peeks_across_odd_records_and_tracks_offset() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut s = RecordStream::new(HostileMedium::new(data.clone(), &[1, 7, 37, 10240]));
        assert_eq!(s.peek(100).expect("peek"), &data[..100]);
        s.consume(90);
        let mut out = vec![0; 1000];
        s.read_exact_bytes(&mut out, "test").expect("read");
        assert_eq!(out, &data[90..1090]);
        assert_eq!(s.offset(), 1090);
        s.skip(3000, "test").expect("skip");
        let e = s.peek_exact(2000, "trailer").expect_err("only 910 left");
        assert_eq!(e.offset, Some(4090));
        assert!(e.message.contains("910"), "{}", e.message);
    }

    #[test]
    fn stops_at_tape_marks() {
        let mut m = MemoryMedium::new(0);
        m.push_record(b"abc");
        m.push_mark();
        m.push_record(b"def");
        let mut s = RecordStream::new(m);
        assert_eq!(s.peek(10).expect("peek"), b"abc");
        s.consume(3);
        assert!(s.at_tape_mark());
        assert!(s.next_file());
        assert_eq!(s.peek(10).expect("peek"), b"def");
    }

    #[test]
    fn writer_blocks_records() {
        let mut w = RecordWriter::new(MemoryMedium::new(0), 512);
        w.write_all(&[1u8; 700]).expect("write");
        w.write_all(&[2u8; 1024]).expect("write");
        let m = w.finish(true).expect("finish");
        let sizes: Vec<usize> = m.records().iter().map(|r| r.len()).collect();
        assert_eq!(sizes, vec![512, 512, 512, 512]);
        assert_eq!(m.bytes()[700], 2);
        assert_eq!(m.bytes()[1724], 0);
    }
}
