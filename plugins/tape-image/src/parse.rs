//! The container parsers: from image bytes to tape objects (records, tape marks, the end).
//!
//! [`Parser::next_head`] reads the next object's header and says what it is; for a data
//! record the caller then reads the body with [`Parser::read_body`] (into its buffer) or
//! skips it with [`Parser::skip_body`]. SIMH, E11 and TPC bodies are read straight from the
//! image into the caller's buffer; AWS and HET records are gathered from their chunks (and
//! decompressed) into a held buffer by `next_head`, since their total length is only known
//! at the last chunk. Every length read from the image is checked against the record limit
//! and, when the image size is known, against what is left of the image before anything is
//! allocated; every error carries the offset where it was found.
//!
//! The container layouts are documented in [`crate::simh`], [`crate::tpc`] and
//! [`crate::aws`].

use relic_model::{Error, Result};
use relic_plugin_sdk::stream::MAX_RECORD;

use crate::aws::{self, ChunkHeader};
use crate::simh::{self, Word};
use crate::source::ByteSource;
use crate::tpc;

/// The container kinds this plugin reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Simh,
    E11,
    Tpc,
    Aws,
    Het,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Simh, Kind::E11, Kind::Tpc, Kind::Aws, Kind::Het];

    pub fn id(self) -> &'static str {
        match self {
            Kind::Simh => "simh",
            Kind::E11 => "e11",
            Kind::Tpc => "tpc",
            Kind::Aws => "aws",
            Kind::Het => "het",
        }
    }
    pub fn from_id(id: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.id() == id)
    }
    /// The largest record the container can hold (and we deliver).
    pub fn max_record(self) -> usize {
        match self {
            Kind::Simh | Kind::E11 => simh::MAX_STANDARD_LEN,
            Kind::Tpc => tpc::MAX_LEN,
            Kind::Aws | Kind::Het => MAX_RECORD,
        }
    }
}

/// Why the tape ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndWhy {
    /// The image file ends.
    Physical,
    /// An end-of-medium marker (SIMH `0xFFFFFFFF`, TPC `0xFFFF` as the last word).
    EomMarker,
    /// Unparseable bytes after the logical end of tape (two tape marks).
    TrailingData,
}

/// What the next object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// A data record of `len` bytes; `held` when its bytes are in the parser (AWS/HET).
    Record {
        len: usize,
        bad: bool,
        held: bool,
    },
    Mark,
    End(EndWhy),
}

/// Parser state for one image.
pub struct Parser {
    pub kind: Kind,
    /// AWS/HET: the record gathered by the last `next_head`.
    held: Vec<u8>,
    scratch: Vec<u8>,
    /// SIMH/E11: the leading length word of the pending record, for the trailer check.
    word: u32,
    /// TPC: pad byte after the pending record.
    tpc_pad: u64,
    /// AWS/HET: length of the previous chunk, when known (not after a seek).
    prev_chunk: Option<u16>,
    /// Probing: a wrong previous-chunk length is an error instead of a warning.
    pub strict: bool,
    /// Non-fatal findings for the host (message, offset).
    pub warnings: Vec<(String, u64)>,
    warned_prev: bool,
    /// Objects skipped (SIMH private/description records, markers, gaps), for statistics.
    pub skipped: u64,
    /// A record was stored compressed (HET).
    pub saw_compression: bool,
}

fn truncated(what: &str, want: u64, got: u64, at: u64) -> Error {
    Error::truncated(format!(
        "the image ends inside {what}: expected {want} bytes, found {got}"
    ))
    .at(at)
}

impl Parser {
    pub fn new(kind: Kind) -> Parser {
        Parser {
            kind,
            held: Vec::new(),
            scratch: Vec::new(),
            word: 0,
            tpc_pad: 0,
            prev_chunk: Some(0),
            strict: false,
            warnings: Vec::new(),
            warned_prev: false,
            skipped: 0,
            saw_compression: false,
        }
    }

    /// Forget position-dependent state after a seek to `pos`.
    pub fn seeked(&mut self, pos: u64) {
        self.prev_chunk = if pos == 0 { Some(0) } else { None };
        self.held.clear();
    }

    /// Read the next object's header (AWS/HET: the whole record).
    pub fn next_head(&mut self, src: &mut dyn ByteSource) -> Result<Head> {
        match self.kind {
            Kind::Simh | Kind::E11 => self.simh_head(src),
            Kind::Tpc => self.tpc_head(src),
            Kind::Aws | Kind::Het => self.aws_head(src),
        }
    }

    /// Read the body of the record `next_head` announced into `buf` (exactly its length).
    pub fn read_body(
        &mut self,
        src: &mut dyn ByteSource,
        buf: &mut [u8],
        held: bool,
    ) -> Result<()> {
        if held {
            if buf.len() != self.held.len() {
                return Err(Error::internal("held record length changed"));
            }
            buf.copy_from_slice(&self.held);
            return Ok(());
        }
        let at = src.pos();
        let got = src.read_full(buf)? as u64;
        if got < buf.len() as u64 {
            return Err(truncated("a record", buf.len() as u64, got, at));
        }
        self.body_tail(src, buf.len() as u64)
    }

    /// Skip the body of the announced record (checking its trailer where there is one).
    pub fn skip_body(&mut self, src: &mut dyn ByteSource, len: usize, held: bool) -> Result<()> {
        if held {
            return Ok(());
        }
        let at = src.pos();
        let got = src.skip(len as u64)?;
        if got < len as u64 {
            return Err(truncated("a record", len as u64, got, at));
        }
        self.body_tail(src, len as u64)
    }

    /// Pad and trailer after a body of `len` bytes.
    fn body_tail(&mut self, src: &mut dyn ByteSource, len: u64) -> Result<()> {
        match self.kind {
            Kind::Simh | Kind::E11 => self.simh_trailer(src, len),
            Kind::Tpc => {
                let at = src.pos();
                if self.tpc_pad > 0 && src.skip(self.tpc_pad)? < self.tpc_pad {
                    return Err(truncated("the pad byte of an odd-length record", 1, 0, at));
                }
                Ok(())
            }
            Kind::Aws | Kind::Het => Ok(()),
        }
    }

    // ---- SIMH / E11 ------------------------------------------------------------------

    fn read_word(src: &mut dyn ByteSource) -> Result<Option<u32>> {
        let at = src.pos();
        let mut w = [0u8; 4];
        match src.read_full(&mut w)? {
            0 => Ok(None),
            4 => Ok(Some(u32::from_le_bytes(w))),
            n => Err(truncated("a length word", 4, n as u64, at)),
        }
    }

    fn simh_head(&mut self, src: &mut dyn ByteSource) -> Result<Head> {
        let e11 = self.kind == Kind::E11;
        loop {
            let at = src.pos();
            let Some(word) = Self::read_word(src)? else {
                return Ok(Head::End(EndWhy::Physical));
            };
            match simh::classify(word) {
                Word::Mark => return Ok(Head::Mark),
                Word::Eom => return Ok(Head::End(EndWhy::EomMarker)),
                Word::Gap | Word::Marker => self.skipped += 1,
                Word::HalfGap => {
                    // the word straddles a record's end and a gap word: the gap word's other
                    // half follows (sim_tape.c advances by 2 bytes and goes on)
                    let mut half = [0u8; 2];
                    let got = src.read_full(&mut half)?;
                    if got < 2 || half != [0xFF, 0xFF] {
                        return Err(Error::corrupt(format!(
                            "half gap marker 0x{word:08X} is not followed by the rest of an erase gap"
                        ))
                        .at(at));
                    }
                    self.skipped += 1;
                }
                Word::Data { len, bad } => {
                    let len = len as u64;
                    if len as usize > MAX_RECORD {
                        return Err(Error::corrupt(format!(
                            "record length {len} (word 0x{word:08X}) is over the {MAX_RECORD}-byte limit{}",
                            self.kind_hint()
                        ))
                        .at(at));
                    }
                    self.check_room(src, at, word, len + simh::pad(len, e11) + 4, "record")?;
                    self.word = word;
                    return Ok(Head::Record {
                        len: len as usize,
                        bad,
                        held: false,
                    });
                }
                Word::Skip { class, len } => {
                    let len = len as u64;
                    self.check_room(
                        src,
                        at,
                        word,
                        len + simh::pad(len, e11) + 4,
                        simh::class_name(class),
                    )?;
                    let got = src.skip(len)?;
                    if got < len {
                        return Err(truncated(simh::class_name(class), len, got, at + 4));
                    }
                    self.word = word;
                    self.simh_trailer(src, len)?;
                    if class == 0xE {
                        self.warnings.push((
                            format!("skipped a {len}-byte tape description record (SIMH class E)"),
                            at,
                        ));
                    }
                    self.skipped += 1;
                }
            }
        }
    }

    fn simh_trailer(&mut self, src: &mut dyn ByteSource, len: u64) -> Result<()> {
        let pad = simh::pad(len, self.kind == Kind::E11) as usize;
        let at = src.pos();
        let mut t = [0u8; 5];
        let got = src.read_full(&mut t[..pad + 4])?;
        if got < pad + 4 {
            return Err(truncated(
                "a record trailer",
                (pad + 4) as u64,
                got as u64,
                at,
            ));
        }
        let trailer = u32::from_le_bytes([t[pad], t[pad + 1], t[pad + 2], t[pad + 3]]);
        if trailer != self.word {
            return Err(Error::corrupt(format!(
                "record trailer 0x{trailer:08X} does not match its header 0x{:08X}{}",
                self.word,
                self.kind_hint()
            ))
            .at(at + pad as u64));
        }
        Ok(())
    }

    fn kind_hint(&self) -> &'static str {
        match self.kind {
            Kind::Simh => " (if this is an E11 image without odd-length padding, use --medium e11)",
            Kind::E11 => " (if this is a SIMH image with odd-length padding, use --medium simh)",
            _ => "",
        }
    }

    /// With a known image size, refuse a length that runs past its end before reading.
    fn check_room(
        &self,
        src: &mut dyn ByteSource,
        header_at: u64,
        word: u32,
        need_after_word: u64,
        what: &str,
    ) -> Result<()> {
        if let Some(size) = src.size() {
            let left = size.saturating_sub(src.pos());
            if need_after_word > left {
                return Err(Error::truncated(format!(
                    "{what} of length word 0x{word:08X} needs {need_after_word} more bytes, the image has {left}{}",
                    self.kind_hint()
                ))
                .at(header_at));
            }
        }
        Ok(())
    }

    // ---- TPC -------------------------------------------------------------------------

    fn tpc_head(&mut self, src: &mut dyn ByteSource) -> Result<Head> {
        let at = src.pos();
        let mut w = [0u8; 2];
        match src.read_full(&mut w)? {
            0 => return Ok(Head::End(EndWhy::Physical)),
            2 => {}
            n => return Err(truncated("a TPC length", 2, n as u64, at)),
        }
        let len = u16::from_le_bytes(w);
        if len == tpc::TAPE_MARK {
            return Ok(Head::Mark);
        }
        if len == tpc::EOM && src.at_end()? {
            return Ok(Head::End(EndWhy::EomMarker));
        }
        let len = len as u64;
        self.tpc_pad = len & 1;
        if let Some(size) = src.size() {
            let left = size.saturating_sub(src.pos());
            if len + self.tpc_pad > left {
                return Err(Error::truncated(format!(
                    "TPC record of {len} bytes runs past the end of the image ({left} bytes left)"
                ))
                .at(at));
            }
        }
        Ok(Head::Record {
            len: len as usize,
            bad: false,
            held: false,
        })
    }

    // ---- AWS / HET -------------------------------------------------------------------

    fn aws_head(&mut self, src: &mut dyn ByteSource) -> Result<Head> {
        self.held.clear();
        let mut started = false;
        let mut method = 0u8;
        let mut record_at = src.pos();
        loop {
            let at = src.pos();
            let mut h = [0u8; aws::HEADER];
            match src.read_full(&mut h)? {
                0 if !started => return Ok(Head::End(EndWhy::Physical)),
                0 => {
                    return Err(Error::truncated(
                        "the image ends inside a record (no end-of-record chunk)",
                    )
                    .at(at));
                }
                6 => {}
                n => return Err(truncated("a chunk header", 6, n as u64, at)),
            }
            let c = ChunkHeader::parse(&h);
            if let Some(prev) = self.prev_chunk {
                if c.prev != prev {
                    let msg = format!(
                        "chunk header says the previous chunk had {} bytes, it had {prev}",
                        c.prev
                    );
                    if self.strict {
                        return Err(Error::corrupt(msg).at(at));
                    }
                    if !self.warned_prev {
                        self.warned_prev = true;
                        self.warnings.push((msg, at));
                    }
                }
            }
            self.prev_chunk = Some(c.len);
            if c.flags2 != 0 {
                return Err(Error::unsupported(format!(
                    "chunk flags2 0x{:02X} (Bus-Tech compression?) is not supported",
                    c.flags2
                ))
                .at(at));
            }
            if c.flags1 & aws::UNKNOWN_FLAGS != 0 {
                return Err(Error::corrupt(format!(
                    "chunk flags 0x{:02X} have unknown bits set",
                    c.flags1
                ))
                .at(at));
            }
            if c.flags1 & aws::TAPE_MARK != 0 {
                if started {
                    return Err(Error::corrupt("tape mark inside a record").at(at));
                }
                if c.len != 0 || c.flags1 != aws::TAPE_MARK {
                    return Err(Error::corrupt(format!(
                        "tape mark chunk with length {} and flags 0x{:02X}",
                        c.len, c.flags1
                    ))
                    .at(at));
                }
                return Ok(Head::Mark);
            }
            if c.flags1 & aws::BOR != 0 {
                if started {
                    return Err(Error::corrupt(
                        "a begin-of-record chunk inside a record (no end-of-record before it)",
                    )
                    .at(at));
                }
                started = true;
                record_at = at;
                method = c.flags1 & aws::COMPRESSION;
            } else if !started {
                return Err(Error::corrupt(format!(
                    "chunk (flags 0x{:02X}) continues a record that never began",
                    c.flags1
                ))
                .at(at));
            }
            let len = c.len as usize;
            if self.held.len() + len > MAX_RECORD {
                return Err(Error::corrupt(format!(
                    "record is larger than the {MAX_RECORD}-byte limit"
                ))
                .at(record_at));
            }
            if let Some(size) = src.size() {
                let left = size.saturating_sub(src.pos());
                if len as u64 > left {
                    return Err(Error::truncated(format!(
                        "chunk of {len} bytes runs past the end of the image ({left} bytes left)"
                    ))
                    .at(at));
                }
            }
            let old = self.held.len();
            self.held.resize(old + len, 0);
            let got = src.read_full(&mut self.held[old..])?;
            if got < len {
                return Err(truncated("a chunk", len as u64, got as u64, at + 6));
            }
            if c.flags1 & aws::EOR != 0 {
                break;
            }
        }
        if method != 0 {
            if method == aws::COMPRESSION {
                return Err(Error::corrupt("record flags say both zlib and bzip2").at(record_at));
            }
            self.saw_compression = true;
            let mut out = std::mem::take(&mut self.scratch);
            let r = aws::decompress(method, &self.held, MAX_RECORD, &mut out);
            self.scratch = std::mem::replace(&mut self.held, out);
            // the record's chunks are consumed: reading can go on with the next one
            r.map_err(|e| e.at(record_at).recoverable())?;
        }
        Ok(Head::Record {
            len: self.held.len(),
            bad: false,
            held: true,
        })
    }
}
