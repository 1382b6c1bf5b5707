//! Multi-volume byte streams: one logical stream read from a set of volumes, and the write
//! side that cuts a stream into volumes.
//!
//! AIX backup volumes (research note §1.7, verified on the PC/IX floppy sets): every volume
//! starts with its own FS_VOLUME header (volnum n, the same date); a volume holds exactly
//! `numwds` dwords including that header, and the stream simply continues on the next
//! volume after its 72-byte header, even in the middle of file data or of a header (AIX
//! restore's "buf_fixup"). FS_VOLEND may end a volume early. `numwds` = MAXINT means a
//! volume of no fixed size (tape, file): it ends where the medium ends (the end of the
//! image file, a tape mark, the end of medium), as dump volumes do. The AIX 3+ by-inode
//! format (BSD style) is treated alike with its 1024-byte TS_TAPE header and `c_volume`.
//!
//! [`VolStream`] reads: it counts every byte against `numwds`, asks the medium for volume
//! n+1 ([`Medium::next_volume`]) when a volume is used up, and checks the new volume's
//! header: its number (volumes out of order or from another set are named in the error),
//! its date (a differing date is only a warning when disk, file system, level and budate
//! agree: the PC/IX Core set has a remade floppy with a later date, §5/SOURCES.md), its
//! checksum. It also keeps a small push-back buffer for resynchronising after damage.
//!
//! [`VolOut`] writes: records of `record_size` bytes; with a fixed volume size
//! (`volume-size`, floppies) it writes `numwds = size / 8` in every header and changes
//! volume exactly there; without one, `numwds` is MAXINT and it changes volume when the
//! medium reports early warning (after the record that crossed it), as a tape drive
//! would. Either way the next volume gets its own header and the stream continues.

use relic_model::{Error, ErrorKind, Medium, Result};
use relic_plugin_sdk::stream::RecordStream;
use relic_plugin_sdk::HostHandle;

use crate::bsd;
use crate::checksum;
use crate::layout::{self, magic, ty, Common, Volume};

/// Which kind of volume header starts every volume.
#[derive(Debug, Clone)]
pub enum VolKind {
    /// The dword format: a 72-byte FS_VOLUME; the first volume's header.
    Dword(Volume),
    /// The BSD-style by-inode format: a 1024-byte TS_TAPE header; the dump date.
    Bsd { date: i32 },
}

/// A logical byte stream over the volumes of a set.
pub struct VolStream {
    s: RecordStream<Box<dyn Medium>>,
    host: HostHandle,
    salvage: bool,
    kind: VolKind,
    volume: u32,
    /// Bytes of this volume not consumed yet (bounded volumes).
    left: Option<u64>,
    /// RecordStream offset where the current volume's bytes start.
    vol_base: u64,
    /// Bytes consumed in the joined stream (volume headers after the first excluded).
    pos: u64,
    pushback: Vec<u8>,
    pb_pos: usize,
    /// Set when a volume change failed for lack of a next volume.
    exhausted: bool,
}

impl VolStream {
    /// Open over a medium, before anything is read.
    pub fn new(medium: Box<dyn Medium>, host: HostHandle, salvage: bool) -> VolStream {
        VolStream {
            s: RecordStream::new(medium),
            host,
            salvage,
            kind: VolKind::Bsd { date: 0 },
            volume: 1,
            left: None,
            vol_base: 0,
            pos: 0,
            pushback: Vec::new(),
            pb_pos: 0,
            exhausted: false,
        }
    }

    /// Peek at the start of the medium (for sniffing the format).
    pub fn peek_raw(&mut self, n: usize) -> Result<&[u8]> {
        self.s.peek(n)
    }

    /// The record length the medium delivered first (tape record size).
    pub fn last_record_len(&self) -> usize {
        self.s.last_record_len()
    }

    /// Read the first FS_VOLUME header and take the set's facts from it.
    pub fn open_dword(&mut self) -> Result<Volume> {
        let mut h = [0u8; Volume::LEN];
        self.s
            .read_exact_bytes(&mut h, "the FS_VOLUME header")
            .map_err(|e| e.at(0))?;
        let v = check_volume_header(&h, 1, None, self.salvage, &self.host)?;
        if let Some(bytes) = v.bytes() {
            if bytes < (Volume::LEN + layout::DWORD) as u64 {
                return Err(Error::corrupt(format!(
                    "volume 1 header says numwds {} ({bytes} bytes): less than the header itself",
                    v.numwds
                ))
                .at(16));
            }
            self.left = Some(bytes - Volume::LEN as u64);
        }
        self.kind = VolKind::Dword(v.clone());
        Ok(v)
    }

    /// Start a BSD-style stream (its first TS_TAPE header is read as an ordinary header).
    pub fn open_bsd(&mut self, date: i32) {
        self.kind = VolKind::Bsd { date };
    }

    /// Whether the current volume has a fixed size (numwds), as disks and floppies have.
    pub fn bounded(&self) -> bool {
        self.left.is_some()
    }

    /// The current volume number.
    pub fn volume(&self) -> u32 {
        self.volume
    }

    /// Offset in the current volume (for error messages).
    pub fn offset(&self) -> u64 {
        (self.s.offset() - self.vol_base).saturating_sub((self.pushback.len() - self.pb_pos) as u64)
    }

    /// Bytes consumed in the joined stream.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// An error located at the current offset, naming the volume in multi-volume sets.
    pub fn err(&self, kind: ErrorKind, msg: impl Into<String>) -> Error {
        let msg = msg.into();
        let msg = if self.volume > 1 {
            format!("volume {}: {msg}", self.volume)
        } else {
            msg
        };
        Error::new(kind, msg).at(self.offset())
    }

    /// Put bytes back in front of the stream (resynchronisation after damage).
    pub fn unread(&mut self, bytes: &[u8]) {
        let rest = self.pushback.split_off(self.pb_pos);
        self.pushback.clear();
        self.pb_pos = 0;
        self.pushback.extend_from_slice(bytes);
        self.pushback.extend_from_slice(&rest);
        self.pos = self.pos.saturating_sub(bytes.len() as u64);
    }

    /// Read up to `out.len()` bytes; 0 only when every volume is used up.
    pub fn read_some(&mut self, out: &mut [u8]) -> Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            if self.pb_pos < self.pushback.len() {
                let n = (self.pushback.len() - self.pb_pos).min(out.len());
                out[..n].copy_from_slice(&self.pushback[self.pb_pos..self.pb_pos + n]);
                self.pb_pos += n;
                if self.pb_pos == self.pushback.len() {
                    self.pushback.clear();
                    self.pb_pos = 0;
                }
                self.pos += n as u64;
                return Ok(n);
            }
            if self.exhausted {
                return Ok(0);
            }
            let want = match self.left {
                Some(0) => {
                    if !self.switch()? {
                        return Ok(0);
                    }
                    continue;
                }
                Some(l) => (l.min(out.len() as u64)) as usize,
                None => out.len(),
            };
            let n = self.s.read_some(&mut out[..want])?;
            if n > 0 {
                if let Some(l) = self.left.as_mut() {
                    *l -= n as u64;
                }
                self.pos += n as u64;
                return Ok(n);
            }
            if let Some(l) = self.left {
                let total = match &self.kind {
                    VolKind::Dword(v) => v.bytes().unwrap_or(0),
                    VolKind::Bsd { .. } => 0,
                };
                return Err(self.err(
                    ErrorKind::Truncated,
                    format!(
                        "volume {} ends {l} bytes early: its header says numwds {} ({total} bytes), the medium ends after {}",
                        self.volume,
                        total / 8,
                        total - l
                    ),
                ));
            }
            if !self.switch()? {
                return Ok(0);
            }
        }
    }

    /// The message for input that ends where more was expected.
    fn ended(&self, what: &str, got: usize, want: usize) -> Error {
        self.err(
            ErrorKind::Truncated,
            format!(
                "expected {want} bytes of {what}, got {got}: the input ends with volume {} and no volume {} was given (truncated archive or missing volume)",
                self.volume,
                self.volume + 1
            ),
        )
    }

    /// Exactly `out.len()` bytes, across volumes.
    pub fn read_exact(&mut self, out: &mut [u8], what: &str) -> Result<()> {
        let mut done = 0;
        while done < out.len() {
            let n = self.read_some(&mut out[done..])?;
            if n == 0 {
                return Err(self.ended(what, done, out.len()));
            }
            done += n;
        }
        Ok(())
    }

    /// Skip `n` bytes, across volumes.
    pub fn skip(&mut self, mut n: u64, what: &str) -> Result<()> {
        let mut buf = [0u8; 8192];
        let total = n;
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            let got = self.read_some(&mut buf[..k])?;
            if got == 0 {
                return Err(self.ended(what, (total - n) as usize, total as usize));
            }
            n -= got as u64;
        }
        Ok(())
    }

    /// FS_VOLEND: the rest of this volume is unused; go on with the next one.
    pub fn end_volume(&mut self) -> Result<()> {
        if !self.switch()? {
            return Err(self.err(
                ErrorKind::Truncated,
                format!(
                    "FS_VOLEND ends volume {} and no volume {} was given (missing volume)",
                    self.volume,
                    self.volume + 1
                ),
            ));
        }
        Ok(())
    }

    fn warn(&self, msg: &str, off: u64) {
        self.host.warn(msg, Some(off));
    }

    /// Change to the next volume and check its header. `Ok(false)`: there is none.
    fn switch(&mut self) -> Result<bool> {
        let n = self.volume + 1;
        self.pushback.clear();
        self.pb_pos = 0;
        self.s.discard_buffered();
        if !self.s.medium_mut().next_volume(n)? {
            self.exhausted = true;
            return Ok(false);
        }
        self.s.next_file();
        self.s.resume();
        self.vol_base = self.s.offset();
        self.volume = n;
        match self.kind.clone() {
            VolKind::Dword(first) => {
                let mut h = [0u8; Volume::LEN];
                if let Err(e) = self.s.read_exact_bytes(&mut h, "the FS_VOLUME header") {
                    return Err(Error::new(
                        e.kind,
                        format!(
                            "volume {n} does not start with a volume header: {}",
                            e.message
                        ),
                    )
                    .at(0));
                }
                let v = check_volume_header(&h, n, Some(&first), self.salvage, &self.host)?;
                self.left = match v.bytes() {
                    Some(b) if b < (Volume::LEN + layout::DWORD) as u64 => {
                        return Err(Error::corrupt(format!(
                            "volume {n} header says numwds {}: less than the header itself",
                            v.numwds
                        ))
                        .at(16))
                    }
                    Some(b) => Some(b - Volume::LEN as u64),
                    None => None,
                };
            }
            VolKind::Bsd { date } => {
                let mut h = vec![0u8; bsd::BLOCK];
                if let Err(e) = self.s.read_exact_bytes(&mut h, "the TS_TAPE header") {
                    return Err(Error::new(
                        e.kind,
                        format!(
                            "volume {n} does not start with a TS_TAPE header: {}",
                            e.message
                        ),
                    )
                    .at(0));
                }
                bsd::check_volume(&h, n, date, self.salvage, &|m| self.warn(m, 0))?;
                self.left = None;
            }
        }
        self.host.log(
            relic_model::LogLevel::Info,
            &format!("continuing on volume {n}"),
        );
        Ok(true)
    }
}

/// Check a FS_VOLUME header: volume `n` of a set whose first volume is `first`.
pub fn check_volume_header(
    h: &[u8],
    n: u32,
    first: Option<&Volume>,
    salvage: bool,
    host: &HostHandle,
) -> Result<Volume> {
    let c = Common::decode(h);
    let vol = if n > 1 {
        format!("volume {n}: ")
    } else {
        String::new()
    };
    if c.len != 9 || c.rtype != ty::VOLUME {
        return Err(Error::corrupt(format!(
            "{vol}not an AIX backup volume header (len {}, type {}, magic {}; expected len 9, type 0, magic {})",
            c.len,
            c.rtype,
            c.magic,
            magic::MAGIC
        ))
        .at(0));
    }
    match c.magic {
        magic::MAGIC | magic::PACKED => {}
        magic::B1V1 | magic::B1V1_PACKED | magic::B1V2 | magic::B1V2_PACKED => {
            return Err(Error::unsupported(format!(
                "{vol}volume header magic {} is a \"B1\" security-variant backup: no sample or layout is public",
                c.magic
            ))
            .at(2))
        }
        m => {
            return Err(Error::corrupt(format!(
                "{vol}volume header magic is {m}, expected {}",
                magic::MAGIC
            ))
            .at(2))
        }
    }
    let sum = checksum::dword(h);
    if sum != c.checksum {
        let msg = format!(
            "{vol}FS_VOLUME header checksum is {:#06x}, the header sums to {sum:#06x}",
            c.checksum
        );
        if salvage {
            host.warn(&format!("{msg} (salvage: going on)"), Some(4));
        } else {
            return Err(Error::corrupt(format!("{msg} (--salvage reads on with warnings)")).at(4));
        }
    }
    let v = Volume::decode(h);
    if let Some(first) = first {
        if v.volnum as u32 != n {
            return Err(Error::corrupt(format!(
                "expected volume {n} of the backup dated {}, found volume {}{}: volumes out of order or missing",
                relic_model::time::format_utc(first.date as i64),
                v.volnum,
                if v.date != first.date {
                    format!(
                        " of a backup dated {}",
                        relic_model::time::format_utc(v.date as i64)
                    )
                } else {
                    String::new()
                }
            ))
            .at(6));
        }
        if v.date != first.date {
            let same_set = v.disk == first.disk
                && v.fsname == first.fsname
                && v.incno == first.incno
                && v.budate == first.budate
                && v.user == first.user;
            let msg = format!(
                "volume {n} is dated {}, volume 1 {}",
                relic_model::time::format_utc(v.date as i64),
                relic_model::time::format_utc(first.date as i64)
            );
            if same_set || salvage {
                host.warn(
                    &format!("{msg}; disk, file system, user, level and budate agree: accepted (a remade volume?)"),
                    Some(8),
                );
            } else {
                return Err(Error::corrupt(format!(
                    "{msg}: volume {n} belongs to another backup (disk '{}', file system '{}')",
                    String::from_utf8_lossy(&v.disk),
                    String::from_utf8_lossy(&v.fsname)
                ))
                .at(8));
            }
        }
    } else if v.volnum != 1 {
        let msg = format!(
            "this is volume {} of a backup dated {}: start with volume 1",
            v.volnum,
            relic_model::time::format_utc(v.date as i64)
        );
        if salvage && v.volnum == 0 {
            host.warn(
                &format!("{msg} (salvage: volume number 0 read as 1)"),
                Some(6),
            );
        } else {
            return Err(Error::corrupt(msg).at(6));
        }
    }
    Ok(v)
}

/// Where the header of each new volume comes from.
pub enum OutHeader {
    /// The dword format: this FS_VOLUME with `volnum` set per volume.
    Dword(Volume),
    /// The BSD-style by-inode format: TS_TAPE headers.
    Bsd(bsd::TapeTemplate),
}

/// Writes a byte stream as records over the volumes of a set.
pub struct VolOut {
    medium: Box<dyn Medium>,
    record: Vec<u8>,
    filled: usize,
    /// Fixed volume size in bytes (header included), or None: change at early warning.
    capacity: Option<u64>,
    /// Bytes written to the current volume (header included).
    on_volume: u64,
    volume: u32,
    header: OutHeader,
    /// The medium reported early warning: change volume at the next record boundary.
    pending_switch: bool,
    warned_early: bool,
    host: HostHandle,
    /// Bytes of the logical stream written (volume headers after the first excluded).
    pub stream_bytes: u64,
}

impl VolOut {
    pub fn new(
        medium: Box<dyn Medium>,
        record_size: usize,
        capacity: Option<u64>,
        header: OutHeader,
        host: HostHandle,
    ) -> VolOut {
        VolOut {
            medium,
            record: vec![0; record_size.max(1)],
            filled: 0,
            capacity,
            on_volume: 0,
            volume: 1,
            header,
            pending_switch: false,
            warned_early: false,
            host,
            stream_bytes: 0,
        }
    }

    pub fn volumes(&self) -> u32 {
        self.volume
    }

    /// Write the first volume's header.
    pub fn start(&mut self) -> Result<()> {
        let h = self.header_bytes(1);
        self.put(&h)
    }

    fn header_bytes(&self, n: u32) -> Vec<u8> {
        match &self.header {
            OutHeader::Dword(v) => Volume {
                volnum: n as u16,
                ..v.clone()
            }
            .encode(),
            OutHeader::Bsd(t) => t.encode(n),
        }
    }

    /// Raw append to records, no volume logic.
    fn put(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let n = (self.record.len() - self.filled).min(data.len());
            self.record[self.filled..self.filled + n].copy_from_slice(&data[..n]);
            self.filled += n;
            self.on_volume += n as u64;
            data = &data[n..];
            if self.filled == self.record.len() {
                self.flush_record()?;
            }
        }
        Ok(())
    }

    fn flush_record(&mut self) -> Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        self.record[self.filled..].fill(0);
        let st = self.medium.write_record(&self.record)?;
        self.filled = 0;
        if st.early_warning {
            if self.capacity.is_none() {
                self.pending_switch = true;
            } else if self.capacity.is_some_and(|c| self.on_volume < c) && !self.warned_early {
                self.warned_early = true;
                self.host.warn(
                    &format!(
                        "the medium reports early warning on volume {} before the volume size was reached; writing on",
                        self.volume
                    ),
                    None,
                );
            }
        }
        Ok(())
    }

    /// Change to the next volume and write its header.
    fn switch(&mut self) -> Result<()> {
        self.flush_record()?;
        self.pending_switch = false;
        let n = self.volume + 1;
        if n > u16::MAX as u32 {
            return Err(Error::unsupported("more than 65535 volumes"));
        }
        if !self.medium.next_volume(n)? {
            return Err(Error::new(
                ErrorKind::Media,
                format!(
                    "volume {} is full and the medium has no volume {n}: give a volume set (e.g. --volumes out%03d.tap) or a larger volume",
                    self.volume
                ),
            ));
        }
        self.volume = n;
        self.on_volume = 0;
        let h = self.header_bytes(n);
        self.put(&h)
    }

    /// Append stream bytes, changing volumes where needed.
    pub fn write(&mut self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            if self.pending_switch && self.filled == 0 {
                self.switch()?;
            }
            let room = match self.capacity {
                Some(c) => {
                    if self.on_volume >= c {
                        self.switch()?;
                        continue;
                    }
                    (c - self.on_volume).min(data.len() as u64) as usize
                }
                None => {
                    if self.pending_switch {
                        // finish the current record first
                        (self.record.len() - self.filled).min(data.len())
                    } else {
                        data.len()
                    }
                }
            };
            let room = room
                .min(self.record.len() - self.filled)
                .max(1)
                .min(data.len());
            self.put(&data[..room])?;
            self.stream_bytes += room as u64;
            data = &data[room..];
        }
        Ok(())
    }

    /// Write `n` zero bytes of stream.
    pub fn zeros(&mut self, mut n: u64) -> Result<()> {
        let z = [0u8; 4096];
        while n > 0 {
            let k = n.min(z.len() as u64) as usize;
            self.write(&z[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Pad the last record, finish the medium.
    pub fn finish(&mut self) -> Result<()> {
        self.flush_record()?;
        self.medium.finish()
    }
}
