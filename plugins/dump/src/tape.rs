//! The tape-block layer under the dump reader and writers: a dump is a stream of 1024-byte
//! TP blocks grouped `ntrec` at a time into records, possibly spread over volumes and, for
//! Linux `dump -z/-j/-y`, with every record after the first of each volume compressed.
//!
//! - [`BlockSource`] (read): hands out TP blocks; decompresses records; on the end of a
//!   volume asks the medium for the next one and checks its TS_TAPE header (volume number,
//!   dump date), skipping records the new volume repeats (c_firstrec, 4.4BSD/Linux).
//! - [`BlockSink`] (write): cuts blocks into records of `ntrec` blocks, counts c_tapea
//!   across volumes and says when a volume must end (the medium's early warning, a byte
//!   capacity, or IRIX's tape length x density estimate).
//!
//! Compressed record framing (Linux dump `struct tapebuf`, research note 2.6, verified on
//! the `-z`, `-j` and `-y` fixtures): a 32-bit C bit-field word then `length` bytes. On a
//! little-endian host the word's bit 0 is "compressed", bits 1-3 the method (0 zlib,
//! 1 bzip2, 2 lzo), bits 4-31 the length. A big-endian host allocates bit-fields from the
//! top: bit 31, bits 28-30, bits 0-27 (inferred from the C rules; no such dump seen). The
//! first record (`ntrec` blocks) of each volume is stored raw.

use std::io::Read;

use relic_model::{Error, LogLevel, Medium, Result};
use relic_plugin_sdk::stream::RecordStream;
use relic_plugin_sdk::HostHandle;

use crate::layout::{self, Endian, Header, InodeFormat, Layout, TP_BSIZE, TS_TAPE, TS_TAPE_1986};

/// Compression of a Linux dump's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// Byte order of the host that wrote the dump (the bit-field word follows it).
    pub endian: Endian,
}

/// Read side: TP blocks out of a medium.
pub struct BlockSource {
    stream: RecordStream<Box<dyn Medium>>,
    layout: Option<Layout>,
    ifmt: InodeFormat,
    compression: Option<Compression>,
    ntrec: u32,
    /// Raw blocks left in the uncompressed first record of the current volume.
    raw_left: u64,
    rec: Vec<u8>,
    rec_pos: usize,
    /// Stream offset of the compressed record being served.
    rec_offset: u64,
    volume: u32,
    date: i64,
    ddate: i64,
    /// TP blocks delivered so far (headers included), over all volumes.
    logical: u64,
    ended: bool,
    host: HostHandle,
    /// Compressed method names seen, for the volume info.
    pub methods_seen: u8,
}

impl BlockSource {
    pub fn new(medium: Box<dyn Medium>, host: HostHandle) -> BlockSource {
        BlockSource {
            stream: RecordStream::new(medium),
            layout: None,
            ifmt: InodeFormat {
                new: false,
                usec: false,
            },
            compression: None,
            ntrec: layout::NTREC,
            raw_left: u64::MAX,
            rec: Vec::new(),
            rec_pos: 0,
            rec_offset: 0,
            volume: 1,
            date: 0,
            ddate: 0,
            logical: 0,
            ended: false,
            host,
            methods_seen: 0,
        }
    }

    /// Set once the first header is known.
    pub fn configure(
        &mut self,
        layout: Layout,
        ifmt: InodeFormat,
        compression: Option<Compression>,
        ntrec: u32,
        date: i64,
        ddate: i64,
    ) {
        self.layout = Some(layout);
        self.ifmt = ifmt;
        self.compression = compression;
        self.ntrec = ntrec.clamp(1, layout::MAX_NTREC);
        // the first block has already been taken
        self.raw_left = if compression.is_some() {
            (self.ntrec as u64).saturating_sub(self.logical)
        } else {
            u64::MAX
        };
        self.date = date;
        self.ddate = ddate;
    }

    pub fn volume(&self) -> u32 {
        self.volume
    }
    pub fn logical(&self) -> u64 {
        self.logical
    }

    /// Byte offset in the input of the next block (for compressed input: of the record
    /// that holds it).
    pub fn offset(&self) -> u64 {
        if self.rec_pos < self.rec.len() {
            self.rec_offset
        } else {
            self.stream.offset()
        }
    }

    /// Peek at the first bytes of the input without consuming (for detection).
    pub fn peek_head(&mut self, n: usize) -> Result<Vec<u8>> {
        Ok(self.stream.peek(n)?.to_vec())
    }

    /// The next block, or `false` at the end of the input (all volumes).
    pub fn next(&mut self, out: &mut [u8; TP_BSIZE]) -> Result<bool> {
        Ok(self.read_blocks(out)? == 1)
    }

    /// Read whole blocks into `out` (a multiple of TP_BSIZE long); returns how many, fewer
    /// only at the end of the input.
    pub fn read_blocks(&mut self, out: &mut [u8]) -> Result<usize> {
        let want = out.len() / TP_BSIZE;
        let mut done = 0;
        while done < want {
            if self.ended {
                break;
            }
            // compressed records being served
            if self.rec_pos < self.rec.len() {
                let n = ((self.rec.len() - self.rec_pos) / TP_BSIZE).min(want - done);
                out[done * TP_BSIZE..(done + n) * TP_BSIZE]
                    .copy_from_slice(&self.rec[self.rec_pos..self.rec_pos + n * TP_BSIZE]);
                self.rec_pos += n * TP_BSIZE;
                done += n;
                self.logical += n as u64;
                continue;
            }
            if self.compression.is_some() && self.raw_left == 0 {
                if !self.fill_compressed()? && !self.switch_volume()? {
                    self.ended = true;
                }
                continue;
            }
            // raw blocks straight from the stream
            let mut n = (want - done) as u64;
            if self.compression.is_some() {
                n = n.min(self.raw_left);
            }
            let bytes = (n as usize) * TP_BSIZE;
            let avail = self.stream.fill(bytes)?;
            let whole = (avail / TP_BSIZE).min(n as usize);
            if whole == 0 {
                if avail > 0 {
                    return Err(Error::truncated(format!(
                        "the input ends {avail} bytes into a {TP_BSIZE}-byte dump block"
                    ))
                    .at(self.stream.offset()));
                }
                if !self.switch_volume()? {
                    self.ended = true;
                }
                continue;
            }
            self.stream.read_exact_bytes(
                &mut out[done * TP_BSIZE..(done + whole) * TP_BSIZE],
                "dump blocks",
            )?;
            if self.compression.is_some() {
                self.raw_left -= whole as u64;
            }
            self.logical += whole as u64;
            done += whole;
        }
        Ok(done)
    }

    /// Skip up to `n` whole blocks without reading them where the input allows it (an
    /// uncompressed dump on a plain file: the stream seeks). Returns how many were skipped;
    /// the caller reads the rest (which also handles the end of a volume).
    pub fn skip_blocks(&mut self, n: u64) -> Result<u64> {
        if self.ended || self.compression.is_some() || self.rec_pos < self.rec.len() || n == 0 {
            return Ok(0);
        }
        // skip only what this volume certainly still holds past the buffered bytes: a seek
        // must never run past a volume end, where the next volume has to be switched in
        let before = self.stream.offset();
        let avail = self.stream.buffered() as u64 / TP_BSIZE as u64;
        let mut skipped = avail.min(n);
        self.stream.consume(skipped as usize * TP_BSIZE);
        let rest = n - skipped;
        if rest > 1 {
            // leave the last block to the reading path, so an end of volume is seen there
            let bytes = (rest - 1) * TP_BSIZE as u64;
            match self.stream.skip(bytes, "dump blocks") {
                Ok(()) => skipped += rest - 1,
                Err(e) if e.kind == relic_model::ErrorKind::Truncated => {
                    // the volume ended inside the skip: keep the whole blocks it did pass
                    let moved = self.stream.offset() - before - skipped * TP_BSIZE as u64;
                    if moved % TP_BSIZE as u64 != 0 {
                        return Err(Error::truncated(format!(
                            "the input ends {} bytes into a {TP_BSIZE}-byte dump block",
                            moved % TP_BSIZE as u64
                        ))
                        .at(self.stream.offset()));
                    }
                    skipped += moved / TP_BSIZE as u64;
                }
                Err(e) => return Err(e),
            }
        }
        self.logical += skipped;
        Ok(skipped)
    }

    /// Read and decompress the next compressed record; false at the end of the volume.
    fn fill_compressed(&mut self) -> Result<bool> {
        let Some(c) = self.compression else {
            return Ok(false);
        };
        let off = self.stream.offset();
        let avail = self.stream.fill(4)?;
        if avail == 0 {
            return Ok(false);
        }
        let head = self.stream.peek_exact(4, "compressed record prefix")?;
        let word = c.endian.u32(head, 0);
        let (compressed, method, length) = match c.endian {
            Endian::Little => (word & 1 != 0, (word >> 1) & 7, (word >> 4) as usize),
            Endian::Big => (
                word >> 31 != 0,
                (word >> 28) & 7,
                (word & 0x0fff_ffff) as usize,
            ),
        };
        let max = self.ntrec as usize * TP_BSIZE;
        if length > max + TP_BSIZE || length == 0 {
            return Err(Error::corrupt(format!(
                "compressed record length {length} (records hold at most {max} bytes)"
            ))
            .at(off));
        }
        self.stream.consume(4);
        let mut payload = vec![0u8; length];
        self.stream
            .read_exact_bytes(&mut payload, "compressed dump record")?;
        let data = if !compressed {
            payload
        } else {
            self.methods_seen |= 1 << method.min(7);
            match method {
                0 => {
                    let mut out = Vec::with_capacity(max);
                    flate2::read::ZlibDecoder::new(&payload[..])
                        .take(max as u64 + 1)
                        .read_to_end(&mut out)
                        .map_err(|e| {
                            Error::corrupt(format!("zlib record does not decompress: {e}")).at(off)
                        })?;
                    out
                }
                1 => {
                    let mut out = Vec::with_capacity(max);
                    bzip2::read::BzDecoder::new(&payload[..])
                        .take(max as u64 + 1)
                        .read_to_end(&mut out)
                        .map_err(|e| {
                            Error::corrupt(format!("bzip2 record does not decompress: {e}")).at(off)
                        })?;
                    out
                }
                2 => crate::lzo::decompress(&payload, max).map_err(|e| {
                    Error::corrupt(format!("lzo record does not decompress: {e}")).at(off)
                })?,
                m => {
                    return Err(Error::unsupported(format!(
                        "compressed record with unknown method {m} (0 zlib, 1 bzip2, 2 lzo)"
                    ))
                    .at(off))
                }
            }
        };
        if data.len() > max || data.len() % TP_BSIZE != 0 {
            return Err(Error::corrupt(format!(
                "record decompresses to {} bytes, not a whole number of blocks up to {max}",
                data.len()
            ))
            .at(off));
        }
        self.rec = data;
        self.rec_pos = 0;
        self.rec_offset = off;
        Ok(true)
    }

    /// The current volume is exhausted: move to the next one and check its header.
    fn switch_volume(&mut self) -> Result<bool> {
        let Some(layout) = self.layout else {
            return Ok(false);
        };
        let next = self.volume + 1;
        if !self.stream.next_file() {
            self.stream.resume();
        }
        if !self.stream.medium_mut().next_volume(next)? {
            return Ok(false);
        }
        self.stream.resume();
        self.volume = next;
        let off = self.stream.offset();
        let mut b = [0u8; TP_BSIZE];
        let got = self.stream.fill(TP_BSIZE)?;
        if got < TP_BSIZE {
            return Err(Error::truncated(format!(
                "volume {next} is empty or shorter than one dump block"
            ))
            .at(off));
        }
        self.stream.read_exact_bytes(&mut b, "volume header")?;
        if !layout::is_header(&b, &layout) {
            return Err(Error::corrupt(format!(
                "volume {next} does not start with a dump header of this dump"
            ))
            .at(off));
        }
        let h = Header::decode(&b, &layout, self.ifmt);
        if h.c_type != TS_TAPE && h.c_type != TS_TAPE_1986 {
            return Err(Error::corrupt(format!(
                "volume {next} starts with record type {} instead of a volume header",
                h.c_type
            ))
            .at(off));
        }
        if h.volume as i64 != next as i64 {
            return Err(Error::corrupt(format!(
                "wrong volume: expected volume {next}, this is volume {}",
                h.volume
            ))
            .at(off));
        }
        if h.date != self.date || h.ddate != self.ddate {
            return Err(Error::corrupt(format!(
                "volume {next} belongs to another dump (dump date {} instead of {})",
                h.date, self.date
            ))
            .at(off));
        }
        let before = self.logical;
        self.logical += 1;
        // 4.4BSD/Linux: records the previous volume already held are written again
        if h.firstrec > 0 && (h.firstrec as u64) + 1 < before {
            let dup = before - 1 - h.firstrec as u64;
            self.host.log(
                LogLevel::Info,
                &format!("volume {next}: skipping {dup} repeated blocks"),
            );
            let mut junk = vec![0u8; TP_BSIZE];
            for _ in 0..dup {
                self.stream.read_exact_bytes(&mut junk, "repeated blocks")?;
            }
        }
        if self.compression.is_some() {
            self.raw_left = (self.ntrec as u64).saturating_sub(1);
        }
        self.rec.clear();
        self.rec_pos = 0;
        self.host
            .log(LogLevel::Info, &format!("reading volume {next}"));
        Ok(true)
    }
}

/// Write side: blocks into records, volumes.
pub struct BlockSink {
    medium: Box<dyn Medium>,
    record: Vec<u8>,
    filled: usize,
    ntrec: usize,
    /// Blocks written so far over all volumes (the next block's c_tapea).
    pub tapea: u64,
    pub volume: u32,
    volume_bytes: u64,
    capacity: Option<u64>,
    /// IRIX tape-length accounting: tenths of an inch per record and per volume.
    tenths: Option<(u64, u64)>,
    asize: u64,
    switch_pending: bool,
    pub bytes: u64,
}

impl BlockSink {
    pub fn new(
        medium: Box<dyn Medium>,
        ntrec: u32,
        capacity: Option<u64>,
        tenths: Option<(u64, u64)>,
    ) -> BlockSink {
        let ntrec = ntrec.clamp(1, layout::MAX_NTREC) as usize;
        BlockSink {
            medium,
            record: vec![0; ntrec * TP_BSIZE],
            filled: 0,
            ntrec,
            tapea: 0,
            volume: 1,
            volume_bytes: 0,
            capacity,
            tenths,
            asize: 0,
            switch_pending: false,
            bytes: 0,
        }
    }

    pub fn ntrec(&self) -> usize {
        self.ntrec
    }
    /// Blocks already in the current record.
    pub fn in_record(&self) -> usize {
        self.filled
    }

    /// The next block to be put must start a new volume.
    pub fn switch_pending(&self) -> bool {
        self.switch_pending
    }

    pub fn medium_mut(&mut self) -> &mut Box<dyn Medium> {
        &mut self.medium
    }

    /// Append one block.
    pub fn put(&mut self, block: &[u8]) -> Result<()> {
        debug_assert_eq!(block.len(), TP_BSIZE);
        let at = self.filled * TP_BSIZE;
        self.record[at..at + TP_BSIZE].copy_from_slice(&block[..TP_BSIZE]);
        self.filled += 1;
        self.tapea += 1;
        if self.filled == self.ntrec {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let len = self.filled * TP_BSIZE;
        let st = self.medium.write_record(&self.record[..len])?;
        self.filled = 0;
        self.volume_bytes += len as u64;
        self.bytes += len as u64;
        if st.early_warning {
            self.switch_pending = true;
        }
        if let Some(cap) = self.capacity {
            if self.volume_bytes + (self.ntrec * TP_BSIZE) as u64 > cap {
                self.switch_pending = true;
            }
        }
        if let Some((per_record, per_volume)) = self.tenths {
            self.asize += per_record;
            if self.asize > per_volume {
                self.switch_pending = true;
            }
        }
        Ok(())
    }

    /// Close this volume and open the next (the caller then writes its TS_TAPE).
    pub fn next_volume(&mut self) -> Result<()> {
        self.flush()?;
        self.medium.write_tape_mark()?;
        let n = self.volume + 1;
        if !self.medium.next_volume(n)? {
            return Err(Error::media(format!(
                "volume {} is full and the medium offers no volume {n} (give a volume set, \
                 e.g. the tape-image option volumes=out%03d.tap)",
                self.volume
            )));
        }
        self.volume = n;
        self.volume_bytes = 0;
        self.asize = 0;
        self.switch_pending = false;
        Ok(())
    }

    /// Flush the last record and finish the medium.
    pub fn finish(&mut self) -> Result<()> {
        self.flush()?;
        self.medium.finish()
    }
}
