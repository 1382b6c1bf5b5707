//! The tape drive as a record medium, over any [`TapeOps`] (a real `/dev/nst*` or the
//! simulated drive).
//!
//! Reading (research note `tape-media.md` §2.2, §2.5): variable-block mode is set at open;
//! every `read` asks for the whole read buffer (256 KiB at first) and the returned length is
//! the record. ENOMEM means the block was larger than the buffer and has been consumed: the
//! medium backs up one record (`MTBSR 1`), grows the buffer fourfold (up to `max-buffer`,
//! 16 MiB) and reads again. A record larger than the caller's buffer is kept and reported as
//! `TooSmall` (nothing is lost; the next call with a big enough buffer gets it without
//! touching the drive). A 0-byte read is a tape mark; a second one in a row is end of data,
//! and no third read is issued. EIO while reading is a bad block: it is delivered as a
//! `Bad` record of length 0 and counted; `max-errors` of them in a row stop the read. EIO
//! right after a tape mark is end of data (blank tape).
//!
//! Writing (§2.3): one `write` per record. ENOSPC means early warning: the write is retried
//! once (st lets every other write through past early warning) and the result reports
//! `early_warning`, from then on for every write, so the format closes the volume; a second
//! ENOSPC is the physical end of the medium, an error. At `finish` the tape ends with two
//! filemarks and the head is put back between them (st's `MT_ST_TWO_FM` convention), so an
//! append continues the tape where a reader stops.
//!
//! Spacing uses `MTFSR`/`MTBSR`/`MTFSF`/`MTBSF` one unit at a time and looks at `MTIOCGET`
//! when the drive answers EIO, so record spacing never leaves the tape file (after crossing a
//! mark it steps back over it) and the counts returned are exact. Position numbers are kept
//! here, not taken from the driver (its numbers are unknown after some operations).

use std::io;
use std::os::raw::c_int;

use relic_model::{
    Error, ErrorKind, Medium, MediumInfo, OpenMode, Position, RecordRead, RecordStatus, Result,
    Space, WriteStatus,
};
use relic_plugin_sdk::HostHandle;

use crate::mtio::*;
use crate::ops::TapeOps;

/// Where the volumes of a set are: drives or devices to open for volume `n`.
pub trait VolumeSource: Send {
    /// Is there a volume `n`?
    fn has(&self, n: u32) -> bool;
    /// Open volume `n` (called only after the previous volume is closed).
    fn open(&mut self, n: u32) -> Result<Box<dyn TapeOps>>;
}

/// Settings of a tape medium.
#[derive(Debug, Clone)]
pub struct Config {
    /// First read buffer size.
    pub buffer: usize,
    /// Largest read buffer (and record).
    pub max_buffer: usize,
    /// Consecutive unreadable blocks before reading stops.
    pub max_errors: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            buffer: 256 * 1024,
            max_buffer: relic_plugin_sdk::stream::MAX_RECORD,
            max_errors: 10,
        }
    }
}

/// Record counts of files passed, remembered for positions after spacing back.
const FILE_INDEX_CAP: usize = 1 << 16;

/// A tape drive.
pub struct TapeDevice {
    name: String,
    ops: Box<dyn TapeOps>,
    mode: OpenMode,
    cfg: Config,
    buf: Vec<u8>,
    /// A record read from the drive, not yet delivered (the caller's buffer was too small).
    pending: Option<usize>,
    zero_reads: u32,
    ended: bool,
    errors_in_row: u32,
    /// Bad blocks met so far.
    pub bad_blocks: u64,
    file: u64,
    record: u64,
    offset: u64,
    file_records: Vec<u64>,
    in_early_warning: bool,
    trailing_marks: u32,
    finished: bool,
    volume: u32,
    volumes: Option<Box<dyn VolumeSource>>,
    host: Option<HostHandle>,
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

impl TapeDevice {
    /// Take over an open drive: select variable-block mode.
    pub fn new(
        name: &str,
        ops: Box<dyn TapeOps>,
        mode: OpenMode,
        cfg: Config,
        host: Option<HostHandle>,
    ) -> Result<TapeDevice> {
        if cfg.buffer == 0 || cfg.buffer > cfg.max_buffer {
            return Err(Error::config(format!(
                "buffer {} must be between 1 and max-buffer {}",
                cfg.buffer, cfg.max_buffer
            )));
        }
        let mut t = TapeDevice {
            name: name.to_string(),
            ops,
            mode,
            buf: Vec::new(),
            pending: None,
            zero_reads: 0,
            ended: false,
            errors_in_row: 0,
            bad_blocks: 0,
            file: 0,
            record: 0,
            offset: 0,
            file_records: Vec::new(),
            in_early_warning: false,
            trailing_marks: 0,
            finished: false,
            volume: 1,
            volumes: None,
            host,
            cfg,
        };
        t.variable_mode()?;
        Ok(t)
    }

    pub fn with_volumes(mut self, volumes: Box<dyn VolumeSource>) -> TapeDevice {
        self.volumes = Some(volumes);
        self
    }

    fn variable_mode(&mut self) -> Result<()> {
        if let Err(e) = self.ops.ioctl_op(MTSETBLK, 0) {
            // some drives refuse it while already variable: go on, but say so
            self.warn(&format!(
                "cannot select variable-block mode (MTSETBLK 0): {e}"
            ));
        }
        Ok(())
    }

    fn warn(&self, msg: &str) {
        if let Some(h) = &self.host {
            h.warn(&format!("{}: {msg}", self.name), Some(self.offset));
        }
    }

    fn err(&self, kind: ErrorKind, msg: String) -> Error {
        Error::new(
            kind,
            format!("{msg} (tape file {}, record {})", self.file, self.record),
        )
        .at(self.offset)
        .in_file(self.name.clone())
    }

    fn io_err(&self, what: &str, e: &io::Error) -> Error {
        self.err(ErrorKind::Media, format!("{what}: {e}"))
    }

    fn op(&mut self, op: i16, count: c_int) -> io::Result<()> {
        self.ops.ioctl_op(op, count)
    }

    fn deliver(&mut self, len: usize, buf: &mut [u8]) -> RecordRead {
        if len > buf.len() {
            self.pending = Some(len);
            return RecordRead {
                status: RecordStatus::TooSmall,
                len,
            };
        }
        buf[..len].copy_from_slice(&self.buf[..len]);
        self.pending = None;
        self.record += 1;
        self.offset += len as u64;
        RecordRead::data(len)
    }

    fn mark_passed(&mut self) {
        if self.file as usize == self.file_records.len() && self.file_records.len() < FILE_INDEX_CAP
        {
            self.file_records.push(self.record);
        }
        self.file += 1;
        self.record = 0;
    }

    /// Forget read state after the head moved.
    fn moved(&mut self) {
        self.pending = None;
        self.zero_reads = 0;
        self.ended = false;
        self.errors_in_row = 0;
    }

    fn status_bits(&mut self) -> c_long_t {
        self.ops.status().map(|s| s.mt_gstat).unwrap_or(0)
    }

    fn write_with_retry(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut dyn TapeOps) -> io::Result<()>,
    ) -> Result<()> {
        match f(self.ops.as_mut()) {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == libc::ENOSPC => {
                // early warning: st refuses one write, then lets the next one through
                self.in_early_warning = true;
                match f(self.ops.as_mut()) {
                    Ok(()) => Ok(()),
                    Err(e) if errno(&e) == libc::ENOSPC => Err(self.err(
                        ErrorKind::Media,
                        format!("end of medium: the drive refused the {what} past early warning"),
                    )),
                    Err(e) => Err(self.io_err(what, &e)),
                }
            }
            Err(e) => Err(self.io_err(what, &e)),
        }
    }

    fn end_volume(&mut self) -> Result<()> {
        if self.mode == OpenMode::Write {
            while self.trailing_marks < 2 {
                self.write_with_retry("closing filemark", |o| o.ioctl_op(MTWEOF, 1))?;
                self.trailing_marks += 1;
                self.mark_passed();
            }
            // back between the two marks, where an append would start
            self.op(MTBSF, 1)
                .map_err(|e| self.io_err("MTBSF after the closing filemarks", &e))?;
            self.file -= 1;
        }
        self.ops.close().map_err(|e| self.io_err("close", &e))
    }

    fn space_records(&mut self, count: i64) -> Result<i64> {
        let n = count.unsigned_abs();
        let mut done = 0u64;
        while done < n {
            let r = if count > 0 {
                self.op(MTFSR, 1)
            } else {
                self.op(MTBSR, 1)
            };
            match r {
                Ok(()) => {
                    done += 1;
                    if count > 0 {
                        self.record += 1;
                    } else {
                        self.record = self.record.saturating_sub(1);
                    }
                }
                Err(e) if errno(&e) == libc::EIO => {
                    let g = self.status_bits();
                    if count > 0 && g & GMT_EOF != 0 {
                        // crossed a filemark: step back before it
                        self.op(MTBSF, 1)
                            .map_err(|e| self.io_err("MTBSF after MTFSR met a filemark", &e))?;
                    } else if count < 0 && g & GMT_BOT == 0 {
                        // crossed a filemark backwards: step forward after it
                        self.op(MTFSF, 1)
                            .map_err(|e| self.io_err("MTFSF after MTBSR met a filemark", &e))?;
                    }
                    break;
                }
                Err(e) => return Err(self.io_err("spacing records", &e)),
            }
        }
        Ok(done as i64 * count.signum())
    }

    fn space_files(&mut self, count: i64) -> Result<i64> {
        let n = count.unsigned_abs();
        let mut done = 0u64;
        while done < n {
            let r = if count > 0 {
                self.op(MTFSF, 1)
            } else {
                self.op(MTBSF, 1)
            };
            match r {
                Ok(()) => {
                    done += 1;
                    if count > 0 {
                        self.mark_passed();
                    } else {
                        self.file = self.file.saturating_sub(1);
                        // at the end of that file: its record count if we read through it
                        self.record = self
                            .file_records
                            .get(self.file as usize)
                            .copied()
                            .unwrap_or(0);
                    }
                }
                Err(e) if errno(&e) == libc::EIO => {
                    if count < 0 {
                        self.file = 0;
                        self.record = 0;
                    } else {
                        self.record = 0;
                    }
                    break;
                }
                Err(e) => return Err(self.io_err("spacing files", &e)),
            }
        }
        Ok(done as i64 * count.signum())
    }
}

#[allow(non_camel_case_types)]
type c_long_t = std::os::raw::c_long;

impl Medium for TapeDevice {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "tape-device".into(),
            name: self.name.clone(),
            record_size: 0,
            max_record: self.cfg.max_buffer as u32,
            seekable: true,
            can_space: true,
            records_meaningful: true,
            size: None,
        }
    }

    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        if self.mode != OpenMode::Read {
            return Err(Error::config(format!(
                "{} was opened for writing",
                self.name
            )));
        }
        if let Some(len) = self.pending {
            return Ok(self.deliver(len, buf));
        }
        if self.ended {
            return Ok(RecordRead::mark(RecordStatus::EndOfData));
        }
        if self.buf.len() < self.cfg.buffer {
            self.buf.resize(self.cfg.buffer, 0);
        }
        loop {
            match self.ops.read(&mut self.buf) {
                Ok(0) => {
                    self.zero_reads += 1;
                    self.errors_in_row = 0;
                    if self.zero_reads >= 2 {
                        // two filemarks (or a filemark and blank tape): end of data
                        self.ended = true;
                        return Ok(RecordRead::mark(RecordStatus::EndOfData));
                    }
                    self.mark_passed();
                    return Ok(RecordRead::mark(RecordStatus::TapeMark));
                }
                Ok(n) => {
                    self.zero_reads = 0;
                    self.errors_in_row = 0;
                    return Ok(self.deliver(n, buf));
                }
                Err(e) if errno(&e) == libc::ENOMEM => {
                    // the block was larger than the buffer and is consumed: back up, grow
                    if self.buf.len() >= self.cfg.max_buffer {
                        return Err(self.err(
                            ErrorKind::Media,
                            format!("a block is larger than the {}-byte maximum read buffer (max-buffer)", self.cfg.max_buffer),
                        ));
                    }
                    self.op(MTBSR, 1).map_err(|e| {
                        self.io_err("MTBSR 1 after a block larger than the buffer", &e)
                    })?;
                    let bigger = (self.buf.len() * 4).min(self.cfg.max_buffer);
                    self.warn(&format!(
                        "a block is larger than {} bytes; reading it again with {bigger}",
                        self.buf.len()
                    ));
                    self.buf.resize(bigger, 0);
                    self.cfg.buffer = bigger;
                }
                Err(e) if errno(&e) == libc::EOVERFLOW => {
                    return Err(self.err(
                        ErrorKind::Media,
                        "a block is larger than the st driver's buffer (raise st's max_buffer_size)".into(),
                    ));
                }
                Err(e) if errno(&e) == libc::EIO && self.zero_reads == 1 => {
                    // after a filemark, EIO is blank tape: end of data
                    self.ended = true;
                    return Ok(RecordRead::mark(RecordStatus::EndOfData));
                }
                Err(e) if errno(&e) == libc::EIO => {
                    self.errors_in_row += 1;
                    self.bad_blocks += 1;
                    if self.errors_in_row > self.cfg.max_errors {
                        return Err(self.err(
                            ErrorKind::Media,
                            format!(
                                "{} unreadable blocks in a row; giving up (max-errors)",
                                self.errors_in_row
                            ),
                        ));
                    }
                    self.warn(&format!(
                        "unreadable block (EIO) at tape file {}, record {}",
                        self.file, self.record
                    ));
                    self.zero_reads = 0;
                    self.record += 1;
                    return Ok(RecordRead {
                        status: RecordStatus::Bad,
                        len: 0,
                    });
                }
                Err(e) => return Err(self.io_err("read", &e)),
            }
        }
    }

    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        if self.mode != OpenMode::Write || self.finished {
            return Err(Error::config(format!(
                "{} is not open for writing",
                self.name
            )));
        }
        if data.is_empty() {
            return Err(Error::unsupported(
                "a tape cannot hold a zero-length record",
            ));
        }
        let len = data.len();
        let mut short = None;
        self.write_with_retry("write", |o| match o.write(data) {
            Ok(n) if n == len => Ok(()),
            Ok(n) => {
                short = Some(n);
                Ok(())
            }
            Err(e) => Err(e),
        })?;
        if let Some(n) = short {
            return Err(self.err(
                ErrorKind::Media,
                format!("the drive took {n} of {len} bytes of a record"),
            ));
        }
        self.record += 1;
        self.offset += len as u64;
        self.trailing_marks = 0;
        Ok(WriteStatus {
            early_warning: self.in_early_warning,
        })
    }

    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        if self.mode != OpenMode::Write || self.finished {
            return Err(Error::config(format!(
                "{} is not open for writing",
                self.name
            )));
        }
        self.write_with_retry("filemark", |o| o.ioctl_op(MTWEOF, 1))?;
        self.trailing_marks += 1;
        self.mark_passed();
        Ok(WriteStatus {
            early_warning: self.in_early_warning,
        })
    }

    fn position(&self) -> Position {
        Position {
            file: self.file,
            record: self.record,
            offset: self.offset,
            volume: self.volume,
        }
    }

    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        if self.mode == OpenMode::Write {
            return Err(Error::unsupported(format!(
                "{} is being written: relic does not space while writing",
                self.name
            )));
        }
        self.moved();
        match op {
            Space::Rewind => {
                self.op(MTREW, 1).map_err(|e| self.io_err("rewind", &e))?;
                self.file = 0;
                self.record = 0;
                self.offset = 0;
                Ok(0)
            }
            Space::EndOfData => {
                self.op(MTEOM, 1).map_err(|e| self.io_err("MTEOM", &e))?;
                if let Ok(s) = self.ops.status() {
                    if s.mt_fileno >= 0 {
                        self.file = s.mt_fileno as u64;
                    }
                }
                self.record = 0;
                self.ended = true;
                Ok(0)
            }
            Space::Records => self.space_records(count),
            Space::Files => self.space_files(count),
        }
    }

    fn next_volume(&mut self, number: u32) -> Result<bool> {
        if self.finished {
            return Err(Error::internal(format!(
                "{} is already finished",
                self.name
            )));
        }
        if !self.volumes.as_ref().is_some_and(|v| v.has(number)) {
            return Ok(false);
        }
        self.end_volume()?;
        let ops = match self.volumes.as_mut() {
            Some(v) => v.open(number)?,
            None => return Ok(false),
        };
        self.ops = ops;
        self.moved();
        self.file = 0;
        self.record = 0;
        self.offset = 0;
        self.file_records.clear();
        self.in_early_warning = false;
        self.trailing_marks = 0;
        self.volume = number;
        self.variable_mode()?;
        Ok(true)
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.end_volume()
    }
}
