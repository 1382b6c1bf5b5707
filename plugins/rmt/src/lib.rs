//! The `rmt` media plugin: a tape drive (or a file) on another machine, through the rmt
//! protocol over ssh, as dump, tar and tapeutils reach remote drives.
//!
//! Location: `host:/dev/nst0` or `user@host:/dev/nst0`, like dump's `f` argument: a `:`
//! before the first `/`. The transport is `$RSH HOST [-l USER] /etc/rmt`, with `RSH` from the
//! environment (default `ssh`) as Linux dump runs it; the option `rsh-command=CMD` replaces
//! `$RSH` (split on spaces, so `ssh -p 2222` works), `rmt-command=PATH` the remote
//! `/etc/rmt`. The protocol is in [`protocol`].
//!
//! After opening, the client asks for the portable operation codes (`I-1`), then sends a
//! no-op tape operation: a drive accepts it, a plain file answers ENOTTY. On a drive the
//! medium behaves like the local tape device: reads of `record-size` (default 256 KiB, grown
//! on ENOMEM after backing up one record), a 0-byte read is a tape mark and two are end of
//! data, ENOSPC on write is early warning (retried once; twice is end of medium), `finish`
//! ends the tape with two filemarks and backs up over the second. On a plain file the remote
//! server cannot hold tape marks (every ioctl fails with ENOTTY): reads return records of
//! `record-size` bytes (default 64 KiB) like the `file` medium, the end of the file is end of
//! data, writing a tape mark is accepted and recorded nowhere (with a warning), rewinding
//! uses `L0 0`, and other spacing is refused. The medium is not seekable in the engine's
//! sense (rewinding a remote drive is slow and some servers lack it): two-pass formats spool.
//!
//! Remote errors become errors naming the host, path, the server's message and errno; a
//! transport that dies (ssh refusing) is reported with its stderr.

pub mod protocol;

use relic_model::{
    Error, ErrorKind, Medium, MediumInfo, OpenMode, Position, RecordRead, RecordStatus, Result,
    Space, WriteStatus,
};
use relic_plugin_sdk::{Descriptor, HostHandle, MediumKindInfo, Options, Plugin, ProbeContext};

use protocol::{Client, Remote, TapeOp};

pub struct RmtPlugin;

const OPTIONS: &[(&str, &str)] = &[
    (
        "rsh-command=CMD",
        "remote shell instead of $RSH (default ssh), run as CMD HOST [-l USER] RMT",
    ),
    (
        "rmt-command=PATH",
        "the rmt server on the remote host (default /etc/rmt)",
    ),
    (
        "record-size=N",
        "read size: a file's record size (default 64k), a drive's first buffer (default 256k)",
    ),
    (
        "max-buffer=N",
        "largest block to read from a drive (default 16m)",
    ),
];

const ENOMEM: i32 = 12;
const ENOSPC: i32 = 28;
const ENOTTY: i32 = 25;
const EIO: i32 = 5;

/// `[user@]host:path` -> (user, host, path), or None when `location` is not remote.
pub fn parse_location(location: &str) -> Option<(Option<&str>, &str, &str)> {
    let colon = location.find(':')?;
    if location.find('/').is_some_and(|s| s < colon) {
        return None;
    }
    let (who, path) = (&location[..colon], &location[colon + 1..]);
    let (user, host) = match who.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, who),
    };
    if host.is_empty() || path.is_empty() || user == Some("") || host.contains(char::is_whitespace)
    {
        return None;
    }
    Some((user, host, path))
}

/// The transport command: `RSH HOST [-l USER] RMT`.
pub fn transport(rsh: &str, user: Option<&str>, host: &str, rmt: &str) -> Result<Vec<String>> {
    let mut argv: Vec<String> = rsh.split_whitespace().map(str::to_string).collect();
    if argv.is_empty() {
        return Err(Error::config("the remote shell command is empty"));
    }
    argv.push(host.to_string());
    if let Some(u) = user {
        argv.push("-l".into());
        argv.push(u.to_string());
    }
    argv.push(rmt.to_string());
    Ok(argv)
}

impl Plugin for RmtPlugin {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "rmt".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![],
            media: vec![MediumKindInfo {
                id: "rmt".into(),
                aliases: vec!["remote".into()],
                description: "remote tape drive or file through rmt: [user@]host:/dev/nst0".into(),
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
        if id == "rmt" && !ctx.location.starts_with('|') && parse_location(&ctx.location).is_some()
        {
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
        if id != "rmt" {
            return Err(Error::unsupported(format!(
                "rmt plugin cannot open medium {id}"
            )));
        }
        options.check_known(
            &["rsh-command", "rmt-command", "record-size", "max-buffer"],
            "the rmt medium",
        )?;
        let (user, remote_host, path) = parse_location(location).ok_or_else(|| {
            Error::config(format!(
                "'{location}' is not a remote location ([user@]host:/path)"
            ))
        })?;
        let rsh = match options.get("rsh-command") {
            Some(c) => c.to_string(),
            None => std::env::var("RSH")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "ssh".into()),
        };
        let rmt = options.get("rmt-command").unwrap_or("/etc/rmt");
        let argv = transport(&rsh, user, remote_host, rmt)?;
        let max_buffer = options
            .size("max-buffer")?
            .unwrap_or(relic_plugin_sdk::stream::MAX_RECORD as u64);
        if max_buffer == 0 || max_buffer > relic_plugin_sdk::stream::MAX_RECORD as u64 {
            return Err(Error::config(format!(
                "max-buffer {max_buffer} must be between 1 and 16 MiB"
            )));
        }
        let record_size = options.size("record-size")?;
        if record_size.is_some_and(|r| r == 0 || r > max_buffer) {
            return Err(Error::config(
                "record-size must be between 1 and max-buffer",
            ));
        }
        let m = RmtMedium::open(
            location,
            path,
            &argv,
            mode,
            record_size.map(|r| r as usize),
            max_buffer as usize,
            Some(host),
        )?;
        Ok(Box::new(m))
    }
}

/// A remote drive or file.
pub struct RmtMedium {
    name: String,
    path: String,
    client: Option<Client>,
    mode: OpenMode,
    is_tape: bool,
    read_size: usize,
    max_buffer: usize,
    buf: Vec<u8>,
    pending: Option<usize>,
    zero_reads: u32,
    ended: bool,
    errors_in_row: u32,
    file: u64,
    record: u64,
    offset: u64,
    in_early_warning: bool,
    trailing_marks: u32,
    warned_marks: bool,
    finished: bool,
    host: Option<HostHandle>,
}

/// Unreadable blocks in a row before reading stops.
const MAX_ERRORS: u32 = 10;

impl RmtMedium {
    /// Start the transport `argv` and open `path` on the remote side.
    pub fn open(
        name: &str,
        path: &str,
        argv: &[String],
        mode: OpenMode,
        record_size: Option<usize>,
        max_buffer: usize,
        host: Option<HostHandle>,
    ) -> Result<RmtMedium> {
        let mut client = Client::spawn(name, argv).map_err(|e| e.in_file(name))?;
        let write = mode == OpenMode::Write;
        if let Err(r) = client.open(path, write).map_err(|e| e.in_file(name))? {
            return Err(remote_error(name, &format!("cannot open {path}"), &r));
        }
        client.negotiate().map_err(|e| e.in_file(name))?;
        let is_tape = match client.ioctl(TapeOp::Nop, 1).map_err(|e| e.in_file(name))? {
            Ok(_) => true,
            Err(r) if r.errno == ENOTTY => false,
            Err(r) => {
                if let Some(h) = &host {
                    h.warn(&format!("{name}: a no-op tape operation failed ({}), treating it as a plain file", r.message), None);
                }
                false
            }
        };
        let default = if is_tape { 256 * 1024 } else { 64 * 1024 };
        let read_size = record_size.unwrap_or(default).min(max_buffer);
        Ok(RmtMedium {
            name: name.to_string(),
            path: path.to_string(),
            client: Some(client),
            mode,
            is_tape,
            read_size,
            max_buffer,
            buf: Vec::new(),
            pending: None,
            zero_reads: 0,
            ended: false,
            errors_in_row: 0,
            file: 0,
            record: 0,
            offset: 0,
            in_early_warning: false,
            trailing_marks: 0,
            warned_marks: false,
            finished: false,
            host,
        })
    }

    /// The remote side is a tape drive (it accepts tape operations).
    pub fn is_tape(&self) -> bool {
        self.is_tape
    }

    fn client(&mut self) -> Result<&mut Client> {
        self.client
            .as_mut()
            .ok_or_else(|| Error::config("the rmt session is closed"))
    }

    fn err(&self, kind: ErrorKind, msg: String) -> Error {
        Error::new(
            kind,
            format!("{msg} (tape file {}, record {})", self.file, self.record),
        )
        .at(self.offset)
        .in_file(self.name.clone())
    }

    fn remote(&self, what: &str, r: &Remote) -> Error {
        remote_error(
            &self.name,
            &format!("{what} (tape file {}, record {})", self.file, self.record),
            r,
        )
        .at(self.offset)
    }

    fn warn(&self, msg: &str) {
        if let Some(h) = &self.host {
            h.warn(&format!("{}: {msg}", self.name), Some(self.offset));
        }
    }

    fn ioctl(
        &mut self,
        what: &str,
        op: TapeOp,
        count: i32,
    ) -> Result<std::result::Result<u64, Remote>> {
        let name = self.name.clone();
        let r = self
            .client()?
            .ioctl(op, count)
            .map_err(|e| e.in_file(name))?;
        if let Err(rem) = &r {
            if rem.errno != EIO && rem.errno != ENOSPC {
                return Err(self.remote(what, rem));
            }
        }
        Ok(r)
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

    /// A write (data or mark) with st's early-warning handling.
    fn write_op(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut Client) -> Result<std::result::Result<u64, Remote>>,
    ) -> Result<u64> {
        let name = self.name.clone();
        let first = f(self.client()?).map_err(|e| e.in_file(name.clone()))?;
        match first {
            Ok(n) => Ok(n),
            Err(r) if r.errno == ENOSPC => {
                self.in_early_warning = true;
                match f(self.client()?).map_err(|e| e.in_file(name))? {
                    Ok(n) => Ok(n),
                    Err(r) if r.errno == ENOSPC => Err(self.remote(
                        &format!(
                            "end of medium: the remote drive refused the {what} past early warning"
                        ),
                        &r,
                    )),
                    Err(r) => Err(self.remote(what, &r)),
                }
            }
            Err(r) => Err(self.remote(what, &r)),
        }
    }

    fn end_session(&mut self) -> Result<()> {
        if self.mode == OpenMode::Write && self.is_tape {
            while self.trailing_marks < 2 {
                self.write_op("closing filemark", |c| c.ioctl(TapeOp::WriteMark, 1))?;
                self.trailing_marks += 1;
                self.file += 1;
            }
            if let Err(r) = self.ioctl("backing over the last filemark", TapeOp::BackFile, 1)? {
                return Err(self.remote("backing over the last filemark", &r));
            }
            self.file -= 1;
        }
        let name = self.name.clone();
        let path = self.path.clone();
        let Some(c) = self.client.take() else {
            return Ok(());
        };
        match c.close(&path).map_err(|e| e.in_file(name.clone()))? {
            Ok(_) => Ok(()),
            Err(r) => Err(remote_error(&name, &format!("close {path}"), &r)),
        }
    }

    fn moved(&mut self) {
        self.pending = None;
        self.zero_reads = 0;
        self.ended = false;
        self.errors_in_row = 0;
    }
}

fn remote_error(name: &str, what: &str, r: &Remote) -> Error {
    let kind = if r.errno == ENOSPC || r.errno == EIO {
        ErrorKind::Media
    } else {
        ErrorKind::Io
    };
    Error::new(
        kind,
        format!("{what}: remote error: {} (errno {})", r.message, r.errno),
    )
    .in_file(name)
}

impl Medium for RmtMedium {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "rmt".into(),
            name: self.name.clone(),
            record_size: if self.is_tape {
                0
            } else {
                self.read_size as u32
            },
            max_record: if self.is_tape {
                self.max_buffer as u32
            } else {
                self.read_size as u32
            },
            seekable: false,
            can_space: self.is_tape,
            records_meaningful: self.is_tape,
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
        loop {
            if self.buf.len() != self.read_size {
                self.buf.resize(self.read_size, 0);
            }
            let name = self.name.clone();
            let mut tmp = std::mem::take(&mut self.buf);
            let r = match self.client.as_mut() {
                Some(c) => c.read(&mut tmp).map_err(|e| e.in_file(name)),
                None => Err(Error::config("the rmt session is closed")),
            };
            self.buf = tmp;
            match r? {
                Ok(0) if !self.is_tape => {
                    self.ended = true;
                    return Ok(RecordRead::mark(RecordStatus::EndOfData));
                }
                Ok(0) => {
                    self.zero_reads += 1;
                    self.errors_in_row = 0;
                    if self.zero_reads >= 2 {
                        self.ended = true;
                        return Ok(RecordRead::mark(RecordStatus::EndOfData));
                    }
                    self.file += 1;
                    self.record = 0;
                    return Ok(RecordRead::mark(RecordStatus::TapeMark));
                }
                Ok(n) => {
                    self.zero_reads = 0;
                    self.errors_in_row = 0;
                    return Ok(self.deliver(n, buf));
                }
                Err(r) if r.errno == ENOMEM && self.is_tape => {
                    if self.read_size >= self.max_buffer {
                        return Err(self.remote(
                            &format!(
                                "a block is larger than the {}-byte max-buffer",
                                self.max_buffer
                            ),
                            &r,
                        ));
                    }
                    if let Err(r) = self.ioctl(
                        "backing up after a block larger than the buffer",
                        TapeOp::BackRecord,
                        1,
                    )? {
                        return Err(
                            self.remote("backing up after a block larger than the buffer", &r)
                        );
                    }
                    let bigger = (self.read_size * 4).min(self.max_buffer);
                    self.warn(&format!(
                        "a block is larger than {} bytes; reading it again with {bigger}",
                        self.read_size
                    ));
                    self.read_size = bigger;
                }
                Err(r) if r.errno == EIO && self.is_tape && self.zero_reads == 1 => {
                    self.ended = true;
                    return Ok(RecordRead::mark(RecordStatus::EndOfData));
                }
                Err(r) if r.errno == EIO && self.is_tape => {
                    self.errors_in_row += 1;
                    if self.errors_in_row > MAX_ERRORS {
                        return Err(self.remote(
                            &format!(
                                "{} unreadable blocks in a row; giving up",
                                self.errors_in_row
                            ),
                            &r,
                        ));
                    }
                    self.warn(&format!(
                        "unreadable block (remote EIO) at tape file {}, record {}",
                        self.file, self.record
                    ));
                    self.zero_reads = 0;
                    self.record += 1;
                    return Ok(RecordRead {
                        status: RecordStatus::Bad,
                        len: 0,
                    });
                }
                Err(r) => return Err(self.remote("read", &r)),
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
            return Err(Error::unsupported("a zero-length record cannot be written"));
        }
        let n = self.write_op("write", |c| c.write(data))?;
        if n as usize != data.len() {
            return Err(self.err(
                ErrorKind::Media,
                format!(
                    "the remote side took {n} of {} bytes of a record",
                    data.len()
                ),
            ));
        }
        self.record += 1;
        self.offset += data.len() as u64;
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
        if !self.is_tape {
            if !self.warned_marks {
                self.warned_marks = true;
                self.warn("the remote side is a plain file, which cannot hold tape marks: marks are dropped");
            }
            return Ok(WriteStatus {
                early_warning: self.in_early_warning,
            });
        }
        self.write_op("filemark", |c| c.ioctl(TapeOp::WriteMark, 1))?;
        self.trailing_marks += 1;
        self.file += 1;
        self.record = 0;
        Ok(WriteStatus {
            early_warning: self.in_early_warning,
        })
    }

    fn position(&self) -> Position {
        Position {
            file: self.file,
            record: self.record,
            offset: self.offset,
            volume: 1,
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
        if !self.is_tape {
            return match op {
                Space::Rewind => {
                    let name = self.name.clone();
                    if let Err(r) = self.client()?.seek_start().map_err(|e| e.in_file(name))? {
                        return Err(self.remote("rewind", &r));
                    }
                    self.file = 0;
                    self.record = 0;
                    self.offset = 0;
                    Ok(0)
                }
                _ => Err(Error::unsupported(format!(
                    "{} is a plain file on the remote side: only rewinding is possible",
                    self.name
                ))),
            };
        }
        let (fwd, back) = match op {
            Space::Rewind => {
                if let Err(r) = self.ioctl("rewind", TapeOp::Rewind, 1)? {
                    return Err(self.remote("rewind", &r));
                }
                self.file = 0;
                self.record = 0;
                self.offset = 0;
                return Ok(0);
            }
            Space::EndOfData => {
                // no portable "space to end of data": forward over files until the drive refuses
                while self
                    .ioctl("spacing to the end of data", TapeOp::ForwardFile, 1)?
                    .is_ok()
                {
                    self.file += 1;
                }
                self.record = 0;
                self.ended = true;
                return Ok(0);
            }
            Space::Records => (TapeOp::ForwardRecord, TapeOp::BackRecord),
            Space::Files => (TapeOp::ForwardFile, TapeOp::BackFile),
        };
        // one unit at a time: the count is exact; a refusal (a mark, BOT, EOD) stops it, and
        // the remote drive's own rule decides which side of a mark the head ends on
        let mut done = 0i64;
        while done < count.abs() {
            let what = if op == Space::Records {
                "spacing records"
            } else {
                "spacing files"
            };
            if self
                .ioctl(what, if count > 0 { fwd } else { back }, 1)?
                .is_err()
            {
                break;
            }
            done += 1;
            match (op, count > 0) {
                (Space::Records, true) => self.record += 1,
                (Space::Records, false) => self.record = self.record.saturating_sub(1),
                (_, true) => {
                    self.file += 1;
                    self.record = 0;
                }
                (_, false) => {
                    self.file = self.file.saturating_sub(1);
                    self.record = 0;
                }
            }
        }
        Ok(done * count.signum())
    }

    fn next_volume(&mut self, _number: u32) -> Result<bool> {
        Ok(false)
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.end_session()
    }
}

#[cfg(test)]
mod tests;
