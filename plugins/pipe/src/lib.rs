//! The `pipe` media plugin: standard input/output and spawned commands as media.
//!
//! Locations:
//! - `-`: read from standard input, or write to standard output;
//! - `|COMMAND` (or any location with the option `command=COMMAND`): run `sh -c COMMAND` and
//!   read its standard output, or write to its standard input. This is how a remote drive is
//!   read without rmt: `relic list '|ssh host dd if=/dev/nst0 bs=64k'`.
//!
//! A pipe is a byte stream with no record structure and no way back: reads return records of
//! `record-size` bytes (default 64 KiB; the last may be short, like the `file` medium), writes
//! pass each record's bytes through, tape marks are accepted and recorded nowhere. The medium
//! says it is not seekable, so the engine spools the input when a format needs two passes.
//!
//! A command that fails (non-zero exit status, or killed) is an error naming the command, its
//! status and the end of its stderr: on read as soon as its output ends (so "ssh: could not
//! resolve hostname" is what the user sees, not "truncated archive"), and at `finish`. When a
//! reader stops before the command's output ends, the command is stopped with its pipe and
//! its death by SIGPIPE is not an error.
//!
//! Options: `command=CMD`, `record-size=N` (k/m suffixes), `volume-size=N` (write: early
//! warning after N bytes).

mod child;

use std::io::{BufWriter, Read, Write};
use std::time::Duration;

use relic_model::{
    Error, Medium, MediumInfo, OpenMode, Position, RecordRead, RecordStatus, Result, Space,
    WriteStatus,
};
use relic_plugin_sdk::{Descriptor, HostHandle, MediumKindInfo, Options, Plugin, ProbeContext};

pub use child::ChildProc;

pub struct PipePlugin;

const OPTIONS: &[(&str, &str)] = &[
    (
        "command=CMD",
        "run `sh -c CMD` and read its stdout / write its stdin (same as the location |CMD)",
    ),
    (
        "record-size=N",
        "record size in bytes for reading (k/m suffixes; default 64k)",
    ),
    ("volume-size=N", "write: signal end of volume after N bytes"),
];

/// Default read record size.
pub const DEFAULT_RECORD: usize = 64 * 1024;

/// How long a command we stopped reading from gets to exit before it is killed.
const GRACE: Duration = Duration::from_secs(10);

impl Plugin for PipePlugin {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "pipe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![],
            media: vec![MediumKindInfo {
                id: "pipe".into(),
                aliases: vec!["stdio".into()],
                description: "standard input/output (-) and commands (|CMD): not seekable".into(),
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

    fn probe(id: &str, _head: &[u8], ctx: &ProbeContext) -> u32 {
        // The location syntax is all there is to verify; it beats the file medium's bid of 1.
        if id == "pipe" && (ctx.location == "-" || ctx.location.starts_with('|')) {
            16
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
        host: HostHandle,
    ) -> Result<Box<dyn Medium>> {
        if id != "pipe" {
            return Err(Error::unsupported(format!(
                "pipe plugin cannot open medium {id}"
            )));
        }
        options.check_known(
            &["command", "record-size", "volume-size"],
            "the pipe medium",
        )?;
        let record_size = options
            .size("record-size")?
            .unwrap_or(DEFAULT_RECORD as u64);
        if record_size == 0 || record_size > relic_plugin_sdk::stream::MAX_RECORD as u64 {
            return Err(Error::config(format!(
                "record-size {record_size} must be between 1 and 16 MiB"
            )));
        }
        let volume_size = options.size("volume-size")?;
        let command = match (options.get("command"), location.strip_prefix('|')) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "give the command either as the location |CMD or as command=CMD, not both",
                ))
            }
            (Some(c), None) => Some(c.to_string()),
            (None, Some(c)) => Some(c.to_string()),
            (None, None) if location == "-" => None,
            (None, None) => {
                return Err(Error::config(format!(
                    "the pipe medium takes '-' (stdin/stdout) or '|COMMAND', not '{location}'"
                )))
            }
        };
        if command.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(Error::config("empty command for the pipe medium"));
        }
        let m = PipeMedium::open(
            location,
            command.as_deref(),
            mode,
            record_size as usize,
            volume_size,
            host,
        )?;
        Ok(Box::new(m))
    }
}

enum Io {
    Read(Box<dyn Read + Send>),
    Write(BufWriter<Box<dyn Write + Send>>),
    Closed,
}

/// Standard input/output or a command's pipe.
pub struct PipeMedium {
    name: String,
    io: Io,
    child: Option<ChildProc>,
    record_size: usize,
    volume_size: Option<u64>,
    offset: u64,
    records: u64,
    eof: bool,
    /// A failure already reported by a read, returned again by `finish`.
    failure: Option<Error>,
}

impl PipeMedium {
    /// Open `-` (command `None`) or a command, for reading or writing.
    pub fn open(
        name: &str,
        command: Option<&str>,
        mode: OpenMode,
        record_size: usize,
        volume_size: Option<u64>,
        host: HostHandle,
    ) -> Result<PipeMedium> {
        let read = mode == OpenMode::Read;
        let (io, child) = match command {
            None if read => (Io::Read(Box::new(std::io::stdin())), None),
            None => (
                Io::Write(BufWriter::with_capacity(
                    1 << 20,
                    Box::new(std::io::stdout()),
                )),
                None,
            ),
            Some(c) => {
                let (child, out, inp) = ChildProc::spawn(c, read, &host)?;
                let io = match (out, inp) {
                    (Some(out), _) if read => Io::Read(Box::new(out)),
                    (_, Some(inp)) if !read => {
                        Io::Write(BufWriter::with_capacity(1 << 20, Box::new(inp)))
                    }
                    _ => return Err(Error::internal("spawned command has no pipe")),
                };
                (io, Some(child))
            }
        };
        Ok(PipeMedium {
            name: name.to_string(),
            io,
            child,
            record_size,
            volume_size,
            offset: 0,
            records: 0,
            eof: false,
            failure: None,
        })
    }

    /// The command's exit, once its output has ended (read) or our input is closed (write).
    fn reap(&mut self, stopped_early: bool) -> Result<()> {
        self.io = Io::Closed;
        match self.child.take() {
            Some(c) => c.wait(stopped_early, GRACE),
            None => Ok(()),
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        let e = e.in_file(self.name.clone());
        self.failure = Some(e.clone());
        e
    }

    fn early_warning(&self) -> WriteStatus {
        WriteStatus {
            early_warning: self.volume_size.is_some_and(|v| self.offset >= v),
        }
    }
}

impl Medium for PipeMedium {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "pipe".into(),
            name: self.name.clone(),
            record_size: self.record_size as u32,
            max_record: self.record_size as u32,
            seekable: false,
            can_space: false,
            records_meaningful: false,
            size: None,
        }
    }

    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if self.eof {
            return Ok(RecordRead::mark(RecordStatus::EndOfData));
        }
        let want = self.record_size;
        if buf.len() < want {
            return Ok(RecordRead {
                status: RecordStatus::TooSmall,
                len: want,
            });
        }
        let Io::Read(r) = &mut self.io else {
            return Err(Error::config("pipe medium was not opened for reading"));
        };
        let mut got = 0;
        while got < want {
            match r.read(&mut buf[got..want]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let e =
                        Error::io(format!("read {}", self.name), &e).at(self.offset + got as u64);
                    return Err(self.fail(e));
                }
            }
        }
        if got < want {
            // the stream ended: a failing command is the real cause of whatever is missing
            self.eof = true;
            if let Err(e) = self.reap(false) {
                let e = e.at(self.offset + got as u64);
                return Err(self.fail(e));
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
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        let Io::Write(w) = &mut self.io else {
            return Err(Error::config("pipe medium was not opened for writing"));
        };
        if let Err(e) = w.write_all(data) {
            let err = Error::io(format!("write {}", self.name), &e).at(self.offset);
            // a command that died is the better explanation of a broken pipe
            let e = match self.reap(false) {
                Err(cmd) => cmd.at(self.offset),
                Ok(()) => err,
            };
            return Err(self.fail(e));
        }
        self.offset += data.len() as u64;
        self.records += 1;
        Ok(self.early_warning())
    }

    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        // a byte stream has no tape marks; like the file medium, accept and drop them
        Ok(self.early_warning())
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
        match op {
            Space::Records if count >= 0 => {
                let mut buf = vec![0u8; self.record_size];
                let mut done = 0;
                while done < count {
                    if self.read_record(&mut buf)?.status != RecordStatus::Data {
                        break;
                    }
                    done += 1;
                }
                Ok(done)
            }
            Space::EndOfData => {
                let mut buf = vec![0u8; self.record_size];
                while self.read_record(&mut buf)?.status == RecordStatus::Data {}
                Ok(0)
            }
            _ => Err(Error::unsupported(format!(
                "{} is a pipe: it cannot go back or space over tape marks (spool it to a file first)",
                self.name
            ))),
        }
    }

    fn next_volume(&mut self, _number: u32) -> Result<bool> {
        Ok(false)
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        let r = match std::mem::replace(&mut self.io, Io::Closed) {
            Io::Write(mut w) => {
                let flushed = w
                    .flush()
                    .map_err(|e| Error::io(format!("flush {}", self.name), &e).at(self.offset));
                drop(w); // closes the command's stdin so it sees end of input
                let waited = self.reap(false);
                // the command's own failure explains a flush error better
                waited.and(flushed)
            }
            Io::Read(r) => {
                drop(r);
                self.reap(!self.eof)
            }
            Io::Closed => self.reap(false),
        };
        r.map_err(|e| self.fail(e))
    }
}

impl Drop for PipeMedium {
    fn drop(&mut self) {
        // an unfinished medium (an error elsewhere): do not leave the command running
        self.io = Io::Closed;
        if let Some(c) = self.child.take() {
            c.kill();
        }
    }
}

#[cfg(test)]
mod tests;
