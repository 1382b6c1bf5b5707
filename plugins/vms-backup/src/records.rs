//! RMS record formats to Unix text: the `vms-records=text|auto` conversion.
//!
//! BACKUP saves a file's disk blocks verbatim; the records are inside the data and described
//! by the FAT (research note §3.1). This module turns the file image (bytes through EOF) into
//! the text VMS FTP's ASCII mode produces (research note §3.2, vBACKUP's policy, which the
//! corpus ground truth `text_sha256` follows):
//!
//! - VAR: each record `u16 count, count bytes, pad byte if count is odd`; becomes the record
//!   and `\n`. A count of 0xFFFF means "no more records in this 512-byte block"; with RAT BLK
//!   a record never starts with fewer than 2 bytes left in a block. Records of length 0 are
//!   empty lines. Record boundaries owe nothing to VBN records or save-set blocks (the
//!   vmsbackup 4.4.3hb bug of a count sitting in the last two bytes of a block cannot happen
//!   here: the converter sees the file image).
//! - VFC: as VAR, the first VFCSIZE (0 = 2) bytes of each record are the fixed control area
//!   and dropped. With RAT PRN and the `vms-prn` option they are honoured as print-file
//!   carriage control (see [`prn_control`]); otherwise each record is one line.
//! - FIX: records of RSIZE bytes (+ a pad byte when odd; with BLK no record crosses a block).
//! - FTN (RAT bit 0, with VAR/VFC/FIX): the first byte of each record is Fortran carriage
//!   control and not data: `0` adds a blank line before, `1` a form feed, anything else
//!   (space, `+`, `$`, NUL) a plain line.
//! - STM: CR LF -> LF. STMCR: CR -> LF. STMLF: unchanged. UDF: never converted.
//!
//! Validation (research note §3.1 "real-world traps"): a count larger than the record size
//! the FAT declares (RSIZE, plus the VFC area for VFC; 32767 when RSIZE is 0), a record
//! running past EOF, or a FIX file whose EOF is not on a record boundary, is a [`BadData`]
//! error; the reader then delivers the file raw with a warning.
//!
//! The converter is a streaming state machine: [`Converter::feed`] takes the file image in
//! chunks of any size and appends output to a `Vec`; [`Converter::finish`] checks the end.
//! The reader runs it twice over its spool (once counting, once emitting) so that
//! `Entry::size` is right before the data (see [`crate::read`]).

use crate::layout::{rat, rfm, Fat, VBN_SIZE};

/// The data does not parse as its declared record format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadData {
    /// Byte offset in the file image.
    pub offset: u64,
    pub message: String,
}

/// What the converter does with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub rfm: u8,
    pub rat: u8,
    /// Largest record allowed (bytes, control area included).
    pub limit: u32,
    /// FIX record size.
    pub fixed: u32,
    /// VFC control-area size (VFC only).
    pub vfc: u32,
    /// Honour PRN carriage control instead of one line per record.
    pub prn: bool,
}

impl Policy {
    /// The policy for a file, or `None` when its format has no text form (UDF, unknown).
    pub fn for_fat(fat: &Fat, prn: bool) -> Option<Policy> {
        let vfc = if fat.rfm == rfm::VFC {
            fat.vfc() as u32
        } else {
            0
        };
        let limit = if fat.rsize == 0 {
            32767
        } else {
            fat.rsize as u32 + vfc
        };
        match fat.rfm {
            rfm::FIX if fat.rsize == 0 => None,
            rfm::FIX | rfm::VAR | rfm::VFC | rfm::STM | rfm::STMLF | rfm::STMCR => Some(Policy {
                rfm: fat.rfm,
                rat: fat.rat,
                limit,
                fixed: fat.rsize as u32,
                vfc,
                prn: prn && fat.rat & rat::PRN != 0 && fat.rfm == rfm::VFC,
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a record start; `lo` holds the first count byte when it arrived alone.
    Count { lo: Option<u8> },
    /// Skipping `left` bytes (block tail after 0xFFFF / BLK, a pad byte).
    Skip { left: u32 },
    /// Inside a record: `left` bytes remain, the first `ctl` of them are control bytes.
    Record { left: u32, ctl: u32, ftn: bool },
    /// Stream formats: `cr` is a CR seen at the end of the previous chunk (STM).
    Stream { cr: bool },
}

/// Streaming record-to-text converter.
#[derive(Debug, Clone)]
pub struct Converter {
    p: Policy,
    state: State,
    /// Offset in the file image of the next input byte.
    pos: u64,
    /// Offset of the current record's count (for messages).
    rec_start: u64,
    /// VFC bytes of the current record (PRN decoding).
    vfc_bytes: [u8; 2],
    /// Bytes emitted so far.
    out_len: u64,
    /// The current record has odd length: one pad byte follows it.
    pad_pending: bool,
}

impl Converter {
    pub fn new(p: Policy) -> Converter {
        let state = match p.rfm {
            rfm::STM | rfm::STMLF | rfm::STMCR => State::Stream { cr: false },
            _ => State::Count { lo: None },
        };
        Converter {
            p,
            state,
            pos: 0,
            rec_start: 0,
            vfc_bytes: [0; 2],
            out_len: 0,
            pad_pending: false,
        }
    }

    /// Bytes emitted so far.
    pub fn out_len(&self) -> u64 {
        self.out_len
    }

    fn bad(&self, offset: u64, message: String) -> BadData {
        BadData { offset, message }
    }

    fn block_left(&self) -> u32 {
        (VBN_SIZE as u64 - self.pos % VBN_SIZE as u64) as u32
    }

    fn emit(&mut self, out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(b);
        self.out_len += b.len() as u64;
    }

    /// Convert the next chunk of the file image.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), BadData> {
        while !input.is_empty() {
            match self.state {
                State::Stream { cr } => {
                    self.stream(cr, input, out);
                    self.pos += input.len() as u64;
                    return Ok(());
                }
                State::Skip { left } => {
                    let n = (left as usize).min(input.len());
                    input = &input[n..];
                    self.pos += n as u64;
                    self.state = if left as usize == n {
                        State::Count { lo: None }
                    } else {
                        State::Skip {
                            left: left - n as u32,
                        }
                    };
                }
                State::Count { lo } => {
                    if self.p.rfm == rfm::FIX {
                        self.start_fix()?;
                        continue;
                    }
                    let left = self.block_left();
                    if lo.is_none() && self.p.rat & rat::BLK != 0 && left < 2 {
                        self.state = State::Skip { left };
                        continue;
                    }
                    let count = match lo {
                        None if input.len() >= 2 => {
                            let c = u16::from_le_bytes([input[0], input[1]]);
                            self.rec_start = self.pos;
                            input = &input[2..];
                            self.pos += 2;
                            c
                        }
                        None => {
                            self.rec_start = self.pos;
                            self.state = State::Count { lo: Some(input[0]) };
                            input = &input[1..];
                            self.pos += 1;
                            continue;
                        }
                        Some(l) => {
                            let c = u16::from_le_bytes([l, input[0]]);
                            input = &input[1..];
                            self.pos += 1;
                            c
                        }
                    };
                    self.start_var(count)?;
                }
                State::Record { left, ctl, ftn } => {
                    // control bytes first
                    if ctl > 0 {
                        let n = (ctl as usize).min(input.len());
                        let have = (self.p.vfc - ctl) as usize;
                        for (i, b) in input[..n].iter().enumerate() {
                            if have + i < 2 {
                                self.vfc_bytes[have + i] = *b;
                            }
                        }
                        input = &input[n..];
                        self.pos += n as u64;
                        self.state = State::Record {
                            left: left - n as u32,
                            ctl: ctl - n as u32,
                            ftn,
                        };
                        if ctl as usize == n && self.p.prn {
                            let pre = prn_control(self.vfc_bytes[0], true);
                            self.emit(out, &pre);
                        }
                        continue;
                    }
                    if ftn {
                        if left == 0 {
                            self.state = State::Record {
                                left,
                                ctl,
                                ftn: false,
                            };
                            continue;
                        }
                        match input[0] {
                            b'0' => self.emit(out, b"\n"),
                            b'1' => self.emit(out, b"\x0c"),
                            _ => {}
                        }
                        input = &input[1..];
                        self.pos += 1;
                        self.state = State::Record {
                            left: left - 1,
                            ctl,
                            ftn: false,
                        };
                        continue;
                    }
                    let n = (left as usize).min(input.len());
                    self.emit(out, &input[..n]);
                    input = &input[n..];
                    self.pos += n as u64;
                    if n as u32 == left {
                        self.end_record(out);
                    } else {
                        self.state = State::Record {
                            left: left - n as u32,
                            ctl: 0,
                            ftn: false,
                        };
                    }
                }
            }
        }
        Ok(())
    }

    fn start_var(&mut self, count: u16) -> Result<(), BadData> {
        if count == 0xFFFF {
            let left = self.block_left();
            self.state = if left == VBN_SIZE as u32 {
                State::Count { lo: None }
            } else {
                State::Skip { left }
            };
            return Ok(());
        }
        let c = count as u32;
        if c > self.p.limit {
            return Err(self.bad(
                self.rec_start,
                format!(
                    "record count {c} exceeds the declared maximum record size {}",
                    self.p.limit
                ),
            ));
        }
        let ctl = if self.p.rfm == rfm::VFC {
            self.p.vfc
        } else {
            0
        };
        if c < ctl {
            return Err(self.bad(
                self.rec_start,
                format!("VFC record of {c} bytes is shorter than its {ctl}-byte control area"),
            ));
        }
        self.vfc_bytes = [0; 2];
        // `left` counts the control area too; an odd record is followed by a pad byte
        self.state = State::Record {
            left: c,
            ctl,
            ftn: self.p.rat & rat::FTN != 0,
        };
        self.pad_pending = c % 2 == 1;
        Ok(())
    }

    fn start_fix(&mut self) -> Result<(), BadData> {
        let size = self.p.fixed;
        if self.p.rat & rat::BLK != 0 && size <= VBN_SIZE as u32 && self.block_left() < size {
            self.state = State::Skip {
                left: self.block_left(),
            };
            return Ok(());
        }
        self.rec_start = self.pos;
        self.state = State::Record {
            left: size,
            ctl: 0,
            ftn: self.p.rat & rat::FTN != 0,
        };
        self.pad_pending = size % 2 == 1;
        Ok(())
    }

    fn end_record(&mut self, out: &mut Vec<u8>) {
        self.emit(out, b"\n");
        if self.p.prn {
            let post = prn_control(self.vfc_bytes[1], false);
            self.emit(out, &post);
        }
        self.state = if self.pad_pending {
            self.pad_pending = false;
            State::Skip { left: 1 }
        } else {
            State::Count { lo: None }
        };
    }

    fn stream(&mut self, mut cr: bool, input: &[u8], out: &mut Vec<u8>) {
        match self.p.rfm {
            rfm::STMLF => self.emit(out, input),
            rfm::STMCR => {
                let start = out.len();
                out.extend(input.iter().map(|&b| if b == b'\r' { b'\n' } else { b }));
                self.out_len += (out.len() - start) as u64;
            }
            _ => {
                let start = out.len();
                for &b in input {
                    if cr {
                        if b != b'\n' {
                            out.push(b'\r');
                        }
                        cr = false;
                    }
                    if b == b'\r' {
                        cr = true;
                    } else {
                        out.push(b);
                    }
                }
                self.out_len += (out.len() - start) as u64;
                self.state = State::Stream { cr };
            }
        }
    }

    /// The input ended (at EOF): check it ended on a record boundary and flush.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), BadData> {
        // an empty record whose count was the last thing before EOF still needs its line
        if let State::Record {
            left: 0, ctl: 0, ..
        } = self.state
        {
            self.end_record(out);
        }
        match self.state {
            State::Stream { cr: true } => {
                self.emit(out, b"\r");
                self.state = State::Stream { cr: false };
                Ok(())
            }
            State::Stream { .. } | State::Count { lo: None } | State::Skip { .. } => Ok(()),
            State::Count { lo: Some(_) } => Err(self.bad(
                self.rec_start,
                "a record count is cut by the end of file".into(),
            )),
            State::Record { left, .. } => Err(self.bad(
                self.rec_start,
                format!("the record starting here runs {left} bytes past the end of file"),
            )),
        }
    }
}

/// Print-file (PRN) carriage control of one VFC byte as Unix text (research note §3.1):
/// bit 7 clear: bits 0-6 count new lines; `100x xxxx`: bits 0-4 are one C0 control
/// character; `1100 xxxx`: a printer channel (a form feed here); others reserved (nothing).
///
/// Unix text ends every line with LF, so the "LF before, CR after" of an ordinary printed
/// line (prefix 0x01, postfix 0x8D) becomes just the record and `\n`: a prefix of n new lines
/// adds n - 1 blank lines before the record, a postfix of n new lines adds n after it, a
/// carriage return adds nothing.
pub fn prn_control(b: u8, prefix: bool) -> Vec<u8> {
    if b & 0x80 == 0 {
        let n = (b & 0x7f) as usize;
        let n = if prefix { n.saturating_sub(1) } else { n };
        vec![b'\n'; n]
    } else if b & 0xe0 == 0x80 {
        match b & 0x1f {
            0x0d | 0x0a => vec![],
            c => vec![c],
        }
    } else if b & 0xf0 == 0xc0 {
        vec![0x0c]
    } else {
        vec![]
    }
}

/// Convert a whole image (tests and small files).
pub fn convert_all(p: Policy, data: &[u8]) -> Result<Vec<u8>, BadData> {
    let mut c = Converter::new(p);
    let mut out = Vec::new();
    c.feed(data, &mut out)?;
    c.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::org;

    fn var_policy(rfmt: u8, ratt: u8, rsize: u16) -> Policy {
        Policy::for_fat(
            &Fat {
                org: org::SEQ,
                rfm: rfmt,
                rat: ratt,
                rsize,
                ..Fat::default()
            },
            false,
        )
        .expect("convertible")
    }

    fn var_records(recs: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in recs {
            out.extend_from_slice(&(r.len() as u16).to_le_bytes());
            out.extend_from_slice(r);
            if r.len() % 2 == 1 {
                out.push(0);
            }
        }
        out
    }

    /// Feeding byte by byte gives the same as one chunk.
    fn both_ways(p: Policy, data: &[u8]) -> Result<Vec<u8>, BadData> {
        let whole = convert_all(p, data);
        let mut c = Converter::new(p);
        let mut out = Vec::new();
        let r = (|| {
            for b in data {
                c.feed(std::slice::from_ref(b), &mut out)?;
            }
            c.finish(&mut out)
        })();
        assert_eq!(
            r.clone().map(|_| out.clone()),
            whole,
            "chunking changes the result"
        );
        if let Ok(o) = &whole {
            assert_eq!(c.out_len(), o.len() as u64);
        }
        whole
    }

    #[test]
    fn var_with_empty_and_odd_records() {
        let data = var_records(&[b"abc", b"", b"de"]);
        let out = both_ways(var_policy(rfm::VAR, rat::CR, 3), &data).expect("valid");
        assert_eq!(out, b"abc\n\nde\n");
        // an empty record as the very last thing
        let data = var_records(&[b"x", b""]);
        assert_eq!(
            both_ways(var_policy(rfm::VAR, rat::CR, 3), &data).expect("v"),
            b"x\n\n"
        );
    }

    #[test]
    fn var_ffff_and_blk_skip_to_the_next_block() {
        let mut data = var_records(&[b"first"]);
        data.extend_from_slice(&0xFFFFu16.to_le_bytes());
        data.resize(512, 0xee);
        data.extend_from_slice(&var_records(&[b"second"]));
        let out = both_ways(var_policy(rfm::VAR, rat::CR, 10), &data).expect("valid");
        assert_eq!(out, b"first\nsecond\n");
        // BLK: a 510-byte record leaves 0 bytes: the next one starts in the next block
        let long = vec![b'x'; 508];
        let mut data = var_records(&[&long]);
        data.extend_from_slice(&var_records(&[b"ok"]));
        let out = both_ways(var_policy(rfm::VAR, rat::CR | rat::BLK, 600), &data).expect("v");
        assert_eq!(out.len(), 508 + 1 + 3);
    }

    #[test]
    fn record_count_in_the_last_word_of_a_block() {
        // a record ending 2 bytes before a 512 boundary: the next count is the block's last
        // word (the vmsbackup 4.4.3hb trap) and its data continues in the next block
        let a = vec![b'a'; 508];
        let data = var_records(&[&a, b"spans the boundary"]);
        assert_eq!(&data[510..512], &18u16.to_le_bytes());
        let out = both_ways(var_policy(rfm::VAR, rat::CR, 600), &data).expect("valid");
        assert!(out.ends_with(b"\nspans the boundary\n"));
    }

    #[test]
    fn vfc_drops_or_honours_control() {
        let data = var_records(&[b"\x01\x8dline one", b"\x02\x8dline two"]);
        let mut p = var_policy(rfm::VFC, rat::PRN, 8);
        assert_eq!(both_ways(p, &data).expect("v"), b"line one\nline two\n");
        p.prn = true;
        assert_eq!(both_ways(p, &data).expect("v"), b"line one\n\nline two\n");
    }

    #[test]
    fn fortran_fixed_and_streams() {
        let data = var_records(&[b" a", b"0b", b"1c", b"+d"]);
        let out = both_ways(var_policy(rfm::VAR, rat::FTN, 2), &data).expect("v");
        assert_eq!(out, b"a\n\nb\n\x0cc\nd\n");
        let out = both_ways(var_policy(rfm::FIX, rat::CR, 3), b"abc\0def\0").expect("v");
        assert_eq!(out, b"abc\ndef\n");
        assert!(both_ways(var_policy(rfm::FIX, rat::CR, 4), b"abcdef").is_err());
        let out = both_ways(var_policy(rfm::STM, rat::CR, 0), b"a\r\nb\rc\r\n\r").expect("v");
        assert_eq!(out, b"a\nb\rc\n\r");
        let out = both_ways(var_policy(rfm::STMCR, rat::CR, 0), b"a\rb\r").expect("v");
        assert_eq!(out, b"a\nb\n");
        let out = both_ways(var_policy(rfm::STMLF, rat::CR, 0), b"a\nb").expect("v");
        assert_eq!(out, b"a\nb");
    }

    #[test]
    fn bad_data_is_reported_with_its_offset() {
        let mut data = var_records(&[b"ok"]);
        data.extend_from_slice(&500u16.to_le_bytes());
        data.extend_from_slice(b"xx");
        let e = both_ways(var_policy(rfm::VAR, rat::CR, 80), &data).expect_err("too long");
        assert_eq!(e.offset, 4);
        let data = var_records(&[b"abcdef"]);
        let e = both_ways(var_policy(rfm::VAR, rat::CR, 80), &data[..5]).expect_err("cut");
        assert_eq!(e.offset, 0);
        assert!(both_ways(var_policy(rfm::VAR, rat::CR, 80), &data[..1]).is_err());
    }
}
