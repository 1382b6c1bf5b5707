//! Reading a tape image as a record medium: records, tape marks, the end; position; spacing;
//! the next volume of a set.
//!
//! The image is read through a [`ByteSource`]: a file we opened ourselves (seekable: every
//! spacing operation works) or the bytes of the medium the engine handed us (a pipe: forward
//! only). Going backwards is done by returning to the start of a tape file and spacing
//! forward, which works the same for every container (TPC has no trailing lengths to read
//! backwards by). An index of the tape marks seen (capped, so memory stays bounded on an image
//! of nothing but marks) makes "start of file N" and "end of file N" cheap.
//!
//! Spacing follows the Linux st driver: `Records` never leaves the tape file (it stops before
//! a tape mark going forward, after one going back); `Files` forward ends after the N-th tape
//! mark, back ends before the N-th mark (on its BOT side); both return how many were spaced.
//!
//! After the logical end of tape (two consecutive tape marks), bytes that do not parse are
//! reported once as a warning and read as end of data: real images often carry junk there.

use relic_model::{
    Error, Medium, MediumInfo, Position, RecordRead, RecordStatus, Result, Space, WriteStatus,
};
use relic_plugin_sdk::HostHandle;

use crate::parse::{EndWhy, Head, Kind, Parser};
use crate::source::ByteSource;
use crate::volumes::VolumeSet;

/// Tape marks remembered for fast backward spacing.
const MARK_INDEX_CAP: usize = 1 << 16;

/// Opens volume `n` of a set (returns `None` when the set has no such volume).
pub type Opener = Box<dyn FnMut(u32) -> Result<Option<Box<dyn ByteSource>>> + Send>;

#[derive(Debug, Clone, Copy)]
struct Pending {
    head: Head,
    /// Offset of the object's header.
    offset: u64,
}

#[derive(Debug, Clone, Copy)]
struct MarkAt {
    /// Offset of the tape mark object.
    mark: u64,
    /// Offset just after it (start of the next file).
    after: u64,
    /// Records in the file it ends.
    records: u64,
}

/// A tape image open for reading.
pub struct ImageReader {
    kind: Kind,
    name: String,
    src: Box<dyn ByteSource>,
    parser: Parser,
    pending: Option<Pending>,
    file: u64,
    record: u64,
    marks: Vec<MarkAt>,
    consecutive_marks: u32,
    ended: bool,
    volume: u32,
    opener: Option<Opener>,
    host: Option<HostHandle>,
    /// Records flagged bad so far (SIMH class 8).
    pub bad_records: u64,
}

impl ImageReader {
    pub fn new(
        kind: Kind,
        name: &str,
        src: Box<dyn ByteSource>,
        host: Option<HostHandle>,
    ) -> ImageReader {
        ImageReader {
            kind,
            name: name.to_string(),
            src,
            parser: Parser::new(kind),
            pending: None,
            file: 0,
            record: 0,
            marks: Vec::new(),
            consecutive_marks: 0,
            ended: false,
            volume: 1,
            opener: None,
            host,
            bad_records: 0,
        }
    }

    /// Give the reader a way to open the further volumes of a set.
    pub fn with_volumes(mut self, opener: Opener) -> ImageReader {
        self.opener = Some(opener);
        self
    }

    /// A set opener over image files named by `set`.
    pub fn file_opener(set: VolumeSet) -> Opener {
        Box::new(move |n| {
            let Some(path) = set.path(n) else {
                return Ok(None);
            };
            match std::fs::metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && set.is_pattern() => {
                    return Ok(None)
                }
                Err(e) => return Err(Error::io(format!("volume {n}: cannot open {path}"), &e)),
                Ok(_) => {}
            }
            let f = std::fs::File::open(&path)
                .map_err(|e| Error::io(format!("volume {n}: cannot open {path}"), &e))?;
            Ok(Some(
                Box::new(crate::source::SeekSource::new(f, &path)?) as Box<dyn ByteSource>
            ))
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Records, tape marks and what the parser skipped, for statistics.
    pub fn skipped_objects(&self) -> u64 {
        self.parser.skipped
    }

    fn flush_warnings(&mut self) {
        for (msg, off) in self.parser.warnings.drain(..) {
            if let Some(h) = &self.host {
                h.warn(&format!("{}: {msg}", self.name), Some(off));
            }
        }
    }

    fn warn(&self, msg: &str, off: u64) {
        if let Some(h) = &self.host {
            h.warn(&format!("{}: {msg}", self.name), Some(off));
        }
    }

    /// Add where we are on the tape to an error.
    fn locate(&self, e: Error) -> Error {
        let mut e = e;
        e.message = format!(
            "{} ({} image, tape file {}, record {})",
            e.message,
            self.kind.id(),
            self.file,
            self.record
        );
        e.in_file(self.name.clone())
    }

    /// The next object, from the pending one or the image.
    fn head(&mut self) -> Result<Pending> {
        if let Some(p) = self.pending.take() {
            return Ok(p);
        }
        let offset = self.src.pos();
        let r = self.parser.next_head(self.src.as_mut());
        self.flush_warnings();
        match r {
            Ok(head) => Ok(Pending { head, offset }),
            Err(e) if self.consecutive_marks >= 2 => Ok(self.trailing(e, offset)),
            Err(e) => {
                let e = self.locate(e);
                if e.recoverable {
                    // the bad record was passed over (a HET record that does not decompress)
                    self.record += 1;
                    self.bad_records += 1;
                }
                Err(e)
            }
        }
    }

    /// Junk after the logical end of tape: warn once and end.
    fn trailing(&mut self, e: Error, offset: u64) -> Pending {
        let left = self
            .src
            .size()
            .map(|s| format!("{} bytes", s.saturating_sub(offset)))
            .unwrap_or_else(|| "data".into());
        self.warn(&format!("{left} after the logical end of tape (two tape marks) do not parse and are ignored: {}", e.message), offset);
        Pending {
            head: Head::End(EndWhy::TrailingData),
            offset,
        }
    }

    fn cross_mark(&mut self, p: &Pending) {
        if self.file as usize == self.marks.len() && self.marks.len() < MARK_INDEX_CAP {
            self.marks.push(MarkAt {
                mark: p.offset,
                after: self.src.pos(),
                records: self.record,
            });
        }
        self.file += 1;
        self.record = 0;
        self.consecutive_marks += 1;
    }

    fn at_end(&mut self, p: Pending) {
        if p.head == Head::End(EndWhy::EomMarker) {
            if let Some(size) = self.src.size() {
                let after = size.saturating_sub(self.src.pos());
                if after > 0 {
                    self.warn(
                        &format!("{after} bytes after the end-of-medium marker are ignored"),
                        self.src.pos(),
                    );
                }
            }
        }
        self.ended = true;
        self.pending = Some(p);
    }

    /// Skip the pending record (its head is taken).
    fn skip_record(&mut self, p: &Pending) -> Result<()> {
        if let Head::Record { len, held, bad } = p.head {
            let r = self.parser.skip_body(self.src.as_mut(), len, held);
            if let Err(e) = r {
                if self.consecutive_marks >= 2 {
                    let t = self.trailing(e, p.offset);
                    self.at_end(t);
                    return Ok(());
                }
                return Err(self.locate(e));
            }
            if bad {
                self.bad_records += 1;
            }
            self.record += 1;
            self.consecutive_marks = 0;
        }
        Ok(())
    }

    fn seek_to(&mut self, offset: u64, file: u64, record: u64) -> Result<()> {
        self.src.seek(offset).map_err(|e| self.locate(e))?;
        self.parser.seeked(offset);
        self.pending = None;
        self.ended = false;
        self.file = file;
        self.record = record;
        self.consecutive_marks = 0;
        Ok(())
    }

    fn need_seekable(&self) -> Result<()> {
        if self.src.seekable() {
            Ok(())
        } else {
            Err(Error::unsupported(format!(
                "{} comes through a pipe: it can only be read forward (spool it to a file to go back)",
                self.name
            )))
        }
    }

    /// Go to the start of tape file `f` (which must not be beyond the current one).
    fn seek_file_start(&mut self, f: u64) -> Result<()> {
        let known = (f as usize).min(self.marks.len());
        let offset = if known == 0 {
            0
        } else {
            self.marks[known - 1].after
        };
        self.seek_to(offset, known as u64, 0)?;
        if (known as u64) < f {
            self.space_files_forward(f - known as u64)?;
        }
        Ok(())
    }

    fn space_records_forward(&mut self, n: u64) -> Result<u64> {
        let mut done = 0;
        while done < n {
            if self.ended {
                break;
            }
            let p = self.head()?;
            match p.head {
                Head::Record { .. } => self.skip_record(&p)?,
                Head::Mark => {
                    self.pending = Some(p);
                    break;
                }
                Head::End(_) => {
                    self.at_end(p);
                    break;
                }
            }
            if self.ended {
                break;
            }
            done += 1;
        }
        Ok(done)
    }

    fn space_files_forward(&mut self, n: u64) -> Result<u64> {
        let mut done = 0;
        while done < n && !self.ended {
            let p = self.head()?;
            match p.head {
                Head::Record { .. } => self.skip_record(&p)?,
                Head::Mark => {
                    self.cross_mark(&p);
                    done += 1;
                }
                Head::End(_) => self.at_end(p),
            }
        }
        Ok(done)
    }

    /// Back over `n` tape marks, ending before the last one crossed (st's MTBSF).
    fn space_files_back(&mut self, n: u64) -> Result<u64> {
        self.need_seekable()?;
        // the mark just before us, if we stand right after it, is the first one crossed
        if n > self.file {
            let done = self.file;
            self.seek_to(0, 0, 0)?;
            return Ok(done);
        }
        let t = self.file - n;
        if let Some(m) = self.marks.get(t as usize).copied() {
            self.seek_to(m.mark, t, m.records)?;
        } else {
            self.seek_file_start(t)?;
            self.space_records_forward(u64::MAX)?;
        }
        Ok(n)
    }

    fn space_records_back(&mut self, n: u64) -> Result<u64> {
        self.need_seekable()?;
        let target = self.record.saturating_sub(n);
        let done = self.record - target;
        let file = self.file;
        self.seek_file_start(file)?;
        let got = self.space_records_forward(target)?;
        if got != target {
            return Err(self.locate(Error::internal(format!(
                "spacing back found {got} records where {target} were"
            ))));
        }
        Ok(done)
    }

    /// Switch to another image of the set.
    fn open_volume(&mut self, number: u32) -> Result<bool> {
        let Some(opener) = self.opener.as_mut() else {
            return Ok(false);
        };
        let Some(src) = opener(number)? else {
            return Ok(false);
        };
        self.src = src;
        self.parser = Parser::new(self.kind);
        self.pending = None;
        self.file = 0;
        self.record = 0;
        self.marks.clear();
        self.consecutive_marks = 0;
        self.ended = false;
        self.volume = number;
        Ok(true)
    }
}

impl Medium for ImageReader {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: self.kind.id().into(),
            name: self.name.clone(),
            record_size: 0,
            max_record: self.kind.max_record() as u32,
            seekable: self.src.seekable(),
            can_space: self.src.seekable(),
            records_meaningful: true,
            size: self.src.size(),
        }
    }

    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        if self.ended {
            return Ok(RecordRead::mark(RecordStatus::EndOfData));
        }
        let p = self.head()?;
        match p.head {
            Head::Mark => {
                self.cross_mark(&p);
                Ok(RecordRead::mark(RecordStatus::TapeMark))
            }
            Head::End(_) => {
                self.at_end(p);
                Ok(RecordRead::mark(RecordStatus::EndOfData))
            }
            Head::Record { len, bad, held } => {
                if len > buf.len() {
                    self.pending = Some(p);
                    return Ok(RecordRead {
                        status: RecordStatus::TooSmall,
                        len,
                    });
                }
                if let Err(e) = self
                    .parser
                    .read_body(self.src.as_mut(), &mut buf[..len], held)
                {
                    if self.consecutive_marks >= 2 {
                        let t = self.trailing(e, p.offset);
                        self.at_end(t);
                        return Ok(RecordRead::mark(RecordStatus::EndOfData));
                    }
                    return Err(self.locate(e));
                }
                self.record += 1;
                self.consecutive_marks = 0;
                if bad {
                    self.bad_records += 1;
                    Ok(RecordRead {
                        status: RecordStatus::Bad,
                        len,
                    })
                } else {
                    Ok(RecordRead::data(len))
                }
            }
        }
    }

    fn write_record(&mut self, _data: &[u8]) -> Result<WriteStatus> {
        Err(Error::config(format!(
            "{} was opened for reading",
            self.name
        )))
    }

    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Err(Error::config(format!(
            "{} was opened for reading",
            self.name
        )))
    }

    fn position(&self) -> Position {
        let offset = match &self.pending {
            Some(p) => p.offset,
            None => self.src.pos(),
        };
        Position {
            file: self.file,
            record: self.record,
            offset,
            volume: self.volume,
        }
    }

    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        let n = count.unsigned_abs();
        match op {
            Space::Rewind => {
                self.need_seekable()?;
                self.seek_to(0, 0, 0)?;
                Ok(0)
            }
            Space::EndOfData => {
                while !self.ended {
                    self.space_files_forward(u64::MAX)?;
                }
                Ok(0)
            }
            Space::Records if count >= 0 => Ok(self.space_records_forward(n)? as i64),
            Space::Records => Ok(-(self.space_records_back(n)? as i64)),
            Space::Files if count >= 0 => Ok(self.space_files_forward(n)? as i64),
            Space::Files => Ok(-(self.space_files_back(n)? as i64)),
        }
    }

    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.open_volume(number)
    }

    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
