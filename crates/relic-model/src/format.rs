//! The native reader and writer traits of a format, and the host services plugins may call.
//!
//! A reader is pulled by the engine: `next_entry`, then `read_data` until [`Chunk::End`] (or
//! `skip_data`), then the next entry. A writer is pushed: `begin_archive`, for writers that
//! declare [`crate::Capabilities::needs_catalog`] one `catalog_entry` per entry and
//! `end_catalog`, then per entry `begin_entry`, data and holes in offset order, `end_entry`,
//! and finally `finish`.

use crate::caps::Capabilities;
use crate::data::Chunk;
use crate::entry::Entry;
use crate::error::Result;
use crate::volume::VolumeInfo;

/// Reads an archive into model entries.
pub trait FormatReader: Send {
    /// Archive/volume metadata, available once the reader is open.
    fn volume(&mut self) -> Result<VolumeInfo>;
    /// The next entry, or `None` at the end of the archive.
    fn next_entry(&mut self) -> Result<Option<Entry>>;
    /// The next chunk of the current entry's data, written into `buf` for `Data` chunks.
    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk>;
    /// Skip the rest of the current entry's data.
    fn skip_data(&mut self) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.read_data(&mut buf)? != Chunk::End {}
        Ok(())
    }
}

/// What a writer says when it is done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSummary {
    pub entries: u64,
    pub bytes: u64,
    pub volumes: u32,
    /// Free-form notes for `-v` (e.g. "blocking factor 10, 3 records of padding").
    pub notes: Vec<String>,
}

/// Writes model entries in a format.
pub trait FormatWriter: Send {
    fn capabilities(&self) -> Capabilities;
    fn begin_archive(&mut self, volume: &VolumeInfo) -> Result<()>;
    /// Only called when the capabilities ask for a catalog pass.
    fn catalog_entry(&mut self, _entry: &Entry) -> Result<()> {
        Ok(())
    }
    fn end_catalog(&mut self) -> Result<()> {
        Ok(())
    }
    fn begin_entry(&mut self, entry: &Entry) -> Result<()>;
    fn write_data(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    fn write_hole(&mut self, offset: u64, len: u64) -> Result<()>;
    fn end_entry(&mut self) -> Result<()>;
    fn finish(&mut self) -> Result<WriteSummary>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

impl LogLevel {
    pub fn from_u8(v: u8) -> LogLevel {
        match v {
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

/// Services the host offers a plugin. Kept tiny and generic: it crosses the ABI and can never
/// grow without breaking every plugin.
pub trait Host: Send + Sync {
    fn log(&self, level: LogLevel, message: &str);
    /// A non-fatal problem: the run goes on, the user is told (and `--strict` may refuse).
    fn warn(&self, message: &str, offset: Option<u64>);
    /// Poll in long loops: true when the user asked to stop.
    fn cancelled(&self) -> bool;
    /// Extension point for requests without a dedicated method (e.g. "mount volume N").
    /// Unknown kinds return an empty answer.
    fn event(&self, kind: u32, payload: &[u8]) -> Vec<u8>;
}

/// A host that ignores logs and warnings; for tests and in-process use.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullHost;

impl Host for NullHost {
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn warn(&self, _message: &str, _offset: Option<u64>) {}
    fn cancelled(&self) -> bool {
        false
    }
    fn event(&self, _kind: u32, _payload: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}
