//! Writing SIMH (the default) and AWS tape images.
//!
//! SIMH records are written in the standard format: leading length, data, a zero pad byte
//! after odd-length records, trailing length (see [`crate::simh`]). AWS records are cut into
//! chunks of at most `chunk-size` bytes (65535 by default; 4096 gives Hercules' "strict"
//! AWS) with begin/end-of-record flags and the previous-chunk length chained (see
//! [`crate::aws`]). At `finish` (and at the end of each volume) the image is closed with two
//! tape marks in a row, the logical end of tape, adding only the marks that are missing.
//!
//! Output goes to the medium the engine opened (the `file` medium on the location, or a
//! pipe) for volume 1, and to files we create for the further volumes of a set. A capacity
//! (`capacity=1440k`) makes writes report early warning once the image holds that many bytes;
//! writing goes on (like a drive past its early-warning mark) so the format can close the
//! volume, and the image grows past the capacity by what it writes to do so.

use std::fs::File;
use std::io::{BufWriter, Write};

use relic_model::{Error, Medium, MediumInfo, Position, RecordRead, Result, Space, WriteStatus};

use crate::aws::{self, ChunkHeader};
use crate::parse::Kind;
use crate::simh;
use crate::volumes::VolumeSet;

/// Where container bytes go.
pub enum Sink {
    Medium(Box<dyn Medium>),
    File(BufWriter<File>, String),
}

impl Sink {
    pub fn create(path: &str) -> Result<Sink> {
        let f = File::create(path)
            .map_err(|e| Error::io(format!("cannot create {path}"), &e).in_file(path))?;
        Ok(Sink::File(
            BufWriter::with_capacity(1 << 20, f),
            path.to_string(),
        ))
    }

    fn put(&mut self, bytes: &[u8], at: u64) -> Result<bool> {
        match self {
            Sink::Medium(m) => Ok(m.write_record(bytes)?.early_warning),
            Sink::File(w, name) => {
                w.write_all(bytes)
                    .map_err(|e| Error::io(format!("write {name}"), &e).at(at))?;
                Ok(false)
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        match self {
            Sink::Medium(m) => m.finish(),
            Sink::File(w, name) => {
                w.flush()
                    .map_err(|e| Error::io(format!("flush {name}"), &e))?;
                w.get_ref()
                    .sync_all()
                    .map_err(|e| Error::io(format!("sync {name}"), &e))
            }
        }
    }
}

/// A tape image open for writing.
pub struct ImageWriter {
    kind: Kind,
    name: String,
    sink: Sink,
    written: u64,
    capacity: Option<u64>,
    inner_warning: bool,
    trailing_marks: u32,
    file: u64,
    record: u64,
    volume: u32,
    set: Option<VolumeSet>,
    chunk: usize,
    prev_chunk: u16,
    finished: bool,
}

impl ImageWriter {
    pub fn new(kind: Kind, name: &str, sink: Sink) -> Result<ImageWriter> {
        if !matches!(kind, Kind::Simh | Kind::Aws) {
            return Err(Error::unsupported(format!(
                "relic writes SIMH and AWS images, not {}",
                kind.id()
            )));
        }
        Ok(ImageWriter {
            kind,
            name: name.to_string(),
            sink,
            written: 0,
            capacity: None,
            inner_warning: false,
            trailing_marks: 0,
            file: 0,
            record: 0,
            volume: 1,
            set: None,
            chunk: aws::MAX_CHUNK,
            prev_chunk: 0,
            finished: false,
        })
    }

    pub fn with_capacity(mut self, capacity: Option<u64>) -> ImageWriter {
        self.capacity = capacity;
        self
    }

    pub fn with_volumes(mut self, set: Option<VolumeSet>) -> ImageWriter {
        self.set = set;
        self
    }

    /// AWS chunk size (4096 to 65535).
    pub fn with_chunk_size(mut self, chunk: usize) -> Result<ImageWriter> {
        if !(4096..=aws::MAX_CHUNK).contains(&chunk) {
            return Err(Error::config(format!(
                "chunk-size {chunk} must be between 4096 and 65535"
            )));
        }
        self.chunk = chunk;
        Ok(self)
    }

    /// The sink, after `finish` (tests inspect what was written).
    pub fn into_sink(self) -> Sink {
        self.sink
    }

    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let ew = self
            .sink
            .put(bytes, self.written)
            .map_err(|e| e.in_file(self.name.clone()))?;
        self.inner_warning |= ew;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn status(&self) -> WriteStatus {
        WriteStatus {
            early_warning: self.inner_warning || self.capacity.is_some_and(|c| self.written >= c),
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.finished {
            return Err(Error::internal(format!(
                "{} is already finished",
                self.name
            )));
        }
        Ok(())
    }

    fn put_simh(&mut self, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Err(Error::unsupported(
                "a zero-length record cannot be stored in a SIMH image (it would read back as a tape mark)",
            ));
        }
        if data.len() > simh::MAX_STANDARD_LEN {
            return Err(Error::unsupported(format!(
                "a {}-byte record is over SIMH's {}-byte limit",
                data.len(),
                simh::MAX_STANDARD_LEN
            )));
        }
        let word = (data.len() as u32).to_le_bytes();
        self.put(&word)?;
        self.put(data)?;
        if data.len() % 2 == 1 {
            self.put(&[0, word[0], word[1], word[2], word[3]])
        } else {
            self.put(&word)
        }
    }

    fn put_aws(&mut self, data: &[u8]) -> Result<()> {
        if data.len() > relic_plugin_sdk::stream::MAX_RECORD {
            return Err(Error::unsupported(format!(
                "a {}-byte record is over the 16 MiB record limit",
                data.len()
            )));
        }
        let n = data.len().div_ceil(self.chunk).max(1);
        for i in 0..n {
            let piece =
                &data[(i * self.chunk).min(data.len())..((i + 1) * self.chunk).min(data.len())];
            let mut flags = 0;
            if i == 0 {
                flags |= aws::BOR;
            }
            if i == n - 1 {
                flags |= aws::EOR;
            }
            let h = ChunkHeader {
                len: piece.len() as u16,
                prev: self.prev_chunk,
                flags1: flags,
                flags2: 0,
            };
            self.put(&h.encode())?;
            self.put(piece)?;
            self.prev_chunk = piece.len() as u16;
        }
        Ok(())
    }

    fn put_mark(&mut self) -> Result<()> {
        match self.kind {
            Kind::Aws => {
                let h = ChunkHeader {
                    len: 0,
                    prev: self.prev_chunk,
                    flags1: aws::TAPE_MARK,
                    flags2: 0,
                };
                self.put(&h.encode())?;
                self.prev_chunk = 0;
            }
            _ => self.put(&simh::TAPE_MARK.to_le_bytes())?,
        }
        self.trailing_marks += 1;
        self.file += 1;
        self.record = 0;
        Ok(())
    }

    /// Close the current volume: the logical end of tape, then flush.
    fn close_volume(&mut self) -> Result<()> {
        while self.trailing_marks < 2 {
            self.put_mark()?;
        }
        self.sink.finish().map_err(|e| e.in_file(self.name.clone()))
    }
}

impl Medium for ImageWriter {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: self.kind.id().into(),
            name: self.name.clone(),
            record_size: 0,
            max_record: self.kind.max_record() as u32,
            seekable: false,
            can_space: false,
            records_meaningful: true,
            size: None,
        }
    }

    fn read_record(&mut self, _buf: &mut [u8]) -> Result<RecordRead> {
        Err(Error::config(format!(
            "{} was opened for writing",
            self.name
        )))
    }

    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        self.check_open()?;
        match self.kind {
            Kind::Aws => self.put_aws(data),
            _ => self.put_simh(data),
        }
        .map_err(|e| e.at(self.written))?;
        self.trailing_marks = 0;
        self.record += 1;
        Ok(self.status())
    }

    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        self.check_open()?;
        self.put_mark()?;
        Ok(self.status())
    }

    fn position(&self) -> Position {
        Position {
            file: self.file,
            record: self.record,
            offset: self.written,
            volume: self.volume,
        }
    }

    fn space(&mut self, _op: Space, _count: i64) -> Result<i64> {
        Err(Error::unsupported(format!(
            "{} is being written: it cannot space",
            self.name
        )))
    }

    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.check_open()?;
        let Some(path) = self.set.as_ref().and_then(|s| s.path(number)) else {
            return Ok(false);
        };
        self.close_volume()?;
        self.sink = Sink::create(&path)?;
        self.name = path;
        self.written = 0;
        self.inner_warning = false;
        self.trailing_marks = 0;
        self.file = 0;
        self.record = 0;
        self.prev_chunk = 0;
        self.volume = number;
        Ok(true)
    }

    fn finish(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        self.close_volume()
    }
}
