//! The record-oriented medium: what every format reads from and writes to.
//!
//! A medium is a sequence of records with exact lengths, separated by tape marks, ending in
//! end-of-data (and, on write, possibly end-of-medium). Plain files are media too: they emulate
//! records of a configured size. Formats that do not care about records use the byte-stream
//! adapter in `relic-plugin-sdk` on top of this trait; formats that do (VMS BACKUP blocks,
//! dump's NTREC records) see every boundary.
//!
//! Multi-volume sets are a media service: the format says "this volume is done, give me
//! volume N" through [`Medium::next_volume`], and checks the new volume's header itself.

use crate::error::Result;

/// What a read returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStatus {
    /// A data record of `len` bytes, copied to the start of the buffer.
    Data,
    /// A data record the medium flagged as bad (SIMH class 8, a drive EIO). The bytes that
    /// could be read are in the buffer.
    Bad,
    /// A tape mark (file mark).
    TapeMark,
    /// No more data on this volume (end of recorded data; a plain file's end).
    EndOfData,
    /// The physical end of the medium was reached.
    EndOfMedium,
    /// The next record is `len` bytes, more than the buffer holds. Nothing was consumed:
    /// read again with a larger buffer.
    TooSmall,
}

impl RecordStatus {
    pub fn code(self) -> u8 {
        match self {
            RecordStatus::Data => 1,
            RecordStatus::Bad => 2,
            RecordStatus::TapeMark => 3,
            RecordStatus::EndOfData => 4,
            RecordStatus::EndOfMedium => 5,
            RecordStatus::TooSmall => 6,
        }
    }
    pub fn from_code(c: u8) -> Option<RecordStatus> {
        Some(match c {
            1 => RecordStatus::Data,
            2 => RecordStatus::Bad,
            3 => RecordStatus::TapeMark,
            4 => RecordStatus::EndOfData,
            5 => RecordStatus::EndOfMedium,
            6 => RecordStatus::TooSmall,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRead {
    pub status: RecordStatus,
    /// Record length (for `Data`/`Bad`: bytes in the buffer; for `TooSmall`: bytes needed).
    pub len: usize,
}

impl RecordRead {
    pub fn data(len: usize) -> RecordRead {
        RecordRead {
            status: RecordStatus::Data,
            len,
        }
    }
    pub fn mark(status: RecordStatus) -> RecordRead {
        RecordRead { status, len: 0 }
    }
}

/// Result of a write: media report the early-warning zone instead of failing at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteStatus {
    /// The medium is near its end (st early warning, a configured volume size reached): the
    /// format should close the volume its own way and ask for the next.
    pub early_warning: bool,
}

/// Where a medium is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Tape file number (tape marks passed), from 0.
    pub file: u64,
    /// Record number within the tape file, from 0.
    pub record: u64,
    /// Byte offset of the next record in the whole medium (container bytes for images).
    pub offset: u64,
    /// Volume number, from 1.
    pub volume: u32,
}

/// Spacing operations, as the st driver offers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Forward (positive) or back (negative) by records.
    Records,
    /// Forward or back by tape marks.
    Files,
    /// Rewind to the beginning of the current volume.
    Rewind,
    /// To the end of recorded data (for appending).
    EndOfData,
}

impl Space {
    pub fn code(self) -> u8 {
        match self {
            Space::Records => 1,
            Space::Files => 2,
            Space::Rewind => 3,
            Space::EndOfData => 4,
        }
    }
    pub fn from_code(c: u8) -> Option<Space> {
        Some(match c {
            1 => Space::Records,
            2 => Space::Files,
            3 => Space::Rewind,
            4 => Space::EndOfData,
            _ => return None,
        })
    }
}

/// Open for reading or writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    Read,
    Write,
}

/// What a medium is and can do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediumInfo {
    /// Medium plugin id that opened it (`file`, `pipe`, `simh`, ...).
    pub kind: String,
    /// The location as the user gave it, for messages.
    pub name: String,
    /// Fixed record size for reading/writing, or 0 for variable-length records.
    pub record_size: u32,
    /// The largest record this medium can deliver or accept.
    pub max_record: u32,
    /// Can go back to the start ([`Space::Rewind`]) and be read again.
    pub seekable: bool,
    /// Supports [`Space::Records`]/[`Space::Files`].
    pub can_space: bool,
    /// Record boundaries are meaningful (tapes and tape images), as opposed to a byte
    /// stream cut into records of `record_size`.
    pub records_meaningful: bool,
    /// Total size in bytes when known (for progress and ETA).
    pub size: Option<u64>,
}

/// A record-oriented medium.
pub trait Medium: Send {
    fn info(&self) -> MediumInfo;
    /// Read the next record into `buf`.
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead>;
    /// Write one record.
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus>;
    /// Write a tape mark (a no-op success on media without them).
    fn write_tape_mark(&mut self) -> Result<WriteStatus>;
    fn position(&self) -> Position;
    /// Space by records or files, rewind, or go to end of data. Returns how many units were
    /// actually spaced (may be fewer than asked at a tape mark or the start).
    fn space(&mut self, op: Space, count: i64) -> Result<i64>;
    /// Switch to volume `number` of a multi-volume set. `Ok(false)` when there is none.
    fn next_volume(&mut self, number: u32) -> Result<bool>;
    /// Flush and close: after this the output is complete (tape images add their trailer).
    fn finish(&mut self) -> Result<()>;
}

impl<M: Medium + ?Sized> Medium for Box<M> {
    fn info(&self) -> MediumInfo {
        (**self).info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        (**self).read_record(buf)
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        (**self).write_record(data)
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        (**self).write_tape_mark()
    }
    fn position(&self) -> Position {
        (**self).position()
    }
    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        (**self).space(op, count)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        (**self).next_volume(number)
    }
    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }
}
