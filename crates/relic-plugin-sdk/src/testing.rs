//! Test helpers for plugin authors.
//!
//! - [`MemoryMedium`]: records and tape marks in memory, readable and writable.
//! - [`HostileMedium`]: a byte stream handed out in records of awkward sizes (cycling through
//!   e.g. 1, 7, 37 and 10240 bytes), each in a fresh copy, refusing buffers that are too small:
//!   libarchive's "deliberately unpleasant reader". Every byte-stream reader should pass its
//!   fixtures through it.
//! - [`read_all`]: read a whole archive into [`Member`]s (entry + data with holes) to assert
//!   on; [`write_all`] writes members through a writer.

use relic_model::{
    Chunk, Entry, Error, FormatReader, FormatWriter, Medium, MediumInfo, Position, RecordRead,
    RecordStatus, Result, Space, VolumeInfo, WriteStatus,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Obj {
    Record(Vec<u8>),
    Mark,
}

/// Records and tape marks in memory.
#[derive(Debug, Clone)]
pub struct MemoryMedium {
    objs: Vec<Obj>,
    pos: usize,
    record_size: u32,
    /// Early warning after this many bytes written (to test volume changes).
    pub early_warning_at: Option<u64>,
    written: u64,
}

impl MemoryMedium {
    /// `record_size` 0 = variable records.
    pub fn new(record_size: u32) -> MemoryMedium {
        MemoryMedium {
            objs: Vec::new(),
            pos: 0,
            record_size,
            early_warning_at: None,
            written: 0,
        }
    }
    /// A byte stream cut into records of `record_size` (the last may be short).
    pub fn from_bytes(bytes: &[u8], record_size: usize) -> MemoryMedium {
        let mut m = MemoryMedium::new(record_size as u32);
        for c in bytes.chunks(record_size.max(1)) {
            m.push_record(c);
        }
        m
    }
    pub fn push_record(&mut self, r: &[u8]) {
        self.objs.push(Obj::Record(r.to_vec()));
    }
    pub fn push_mark(&mut self) {
        self.objs.push(Obj::Mark);
    }
    /// Data records (tape marks left out).
    pub fn records(&self) -> Vec<&[u8]> {
        self.objs
            .iter()
            .filter_map(|o| {
                if let Obj::Record(r) = o {
                    Some(r.as_slice())
                } else {
                    None
                }
            })
            .collect()
    }
    /// Number of tape marks.
    pub fn marks(&self) -> usize {
        self.objs.iter().filter(|o| **o == Obj::Mark).count()
    }
    /// All record bytes concatenated.
    pub fn bytes(&self) -> Vec<u8> {
        self.records().concat()
    }
    pub fn rewind(&mut self) {
        self.pos = 0;
    }
}

impl Medium for MemoryMedium {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "memory".into(),
            name: "memory".into(),
            record_size: self.record_size,
            max_record: self
                .objs
                .iter()
                .map(|o| if let Obj::Record(r) = o { r.len() } else { 0 })
                .max()
                .unwrap_or(0)
                .max(self.record_size as usize) as u32,
            seekable: true,
            can_space: true,
            records_meaningful: true,
            size: None,
        }
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        match self.objs.get(self.pos) {
            None => Ok(RecordRead::mark(RecordStatus::EndOfData)),
            Some(Obj::Mark) => {
                self.pos += 1;
                Ok(RecordRead::mark(RecordStatus::TapeMark))
            }
            Some(Obj::Record(r)) if r.len() > buf.len() => Ok(RecordRead {
                status: RecordStatus::TooSmall,
                len: r.len(),
            }),
            Some(Obj::Record(r)) => {
                buf[..r.len()].copy_from_slice(r);
                self.pos += 1;
                Ok(RecordRead::data(r.len()))
            }
        }
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        self.objs.truncate(self.pos);
        self.objs.push(Obj::Record(data.to_vec()));
        self.pos += 1;
        self.written += data.len() as u64;
        Ok(WriteStatus {
            early_warning: self.early_warning_at.is_some_and(|n| self.written >= n),
        })
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        self.objs.truncate(self.pos);
        self.objs.push(Obj::Mark);
        self.pos += 1;
        Ok(WriteStatus::default())
    }
    fn position(&self) -> Position {
        let file = self.objs[..self.pos]
            .iter()
            .filter(|o| **o == Obj::Mark)
            .count() as u64;
        let record = self.objs[..self.pos]
            .iter()
            .rev()
            .take_while(|o| **o != Obj::Mark)
            .count() as u64;
        let offset = self.objs[..self.pos]
            .iter()
            .map(|o| {
                if let Obj::Record(r) = o {
                    r.len() as u64
                } else {
                    0
                }
            })
            .sum();
        Position {
            file,
            record,
            offset,
            volume: 1,
        }
    }
    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        match op {
            Space::Rewind => {
                self.pos = 0;
                Ok(0)
            }
            Space::EndOfData => {
                self.pos = self.objs.len();
                Ok(0)
            }
            Space::Records => {
                let mut done = 0;
                while done < count.abs() {
                    if count > 0 {
                        match self.objs.get(self.pos) {
                            Some(Obj::Record(_)) => self.pos += 1,
                            _ => break,
                        }
                    } else {
                        if self.pos == 0 || self.objs[self.pos - 1] == Obj::Mark {
                            break;
                        }
                        self.pos -= 1;
                    }
                    done += 1;
                }
                Ok(done * count.signum())
            }
            Space::Files => Err(Error::unsupported("memory medium spaces records only")),
        }
    }
    fn next_volume(&mut self, _number: u32) -> Result<bool> {
        Ok(false)
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A byte stream handed out in awkward record sizes.
pub struct HostileMedium {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl HostileMedium {
    /// The standard unpleasant sizes: 1, 7, 37 and 10240 bytes.
    pub const SIZES: [usize; 4] = [1, 7, 37, 10240];

    pub fn new(data: Vec<u8>, sizes: &[usize]) -> HostileMedium {
        let sizes = if sizes.is_empty() {
            Self::SIZES.to_vec()
        } else {
            sizes.iter().map(|s| (*s).max(1)).collect()
        };
        HostileMedium {
            data,
            pos: 0,
            sizes,
            turn: 0,
        }
    }
}

impl Medium for HostileMedium {
    fn info(&self) -> MediumInfo {
        MediumInfo {
            kind: "hostile".into(),
            name: "hostile".into(),
            record_size: 0,
            // deliberately too small for the largest record: readers must handle TooSmall
            max_record: 16,
            seekable: false,
            can_space: false,
            records_meaningful: false,
            size: None,
        }
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        if self.pos >= self.data.len() {
            return Ok(RecordRead::mark(RecordStatus::EndOfData));
        }
        let want = self.sizes[self.turn % self.sizes.len()].min(self.data.len() - self.pos);
        if want > buf.len() {
            return Ok(RecordRead {
                status: RecordStatus::TooSmall,
                len: want,
            });
        }
        // a fresh copy each time, so readers cannot keep pointers into our storage
        let fresh = self.data[self.pos..self.pos + want].to_vec();
        buf[..want].copy_from_slice(&fresh);
        self.pos += want;
        self.turn += 1;
        Ok(RecordRead::data(want))
    }
    fn write_record(&mut self, _data: &[u8]) -> Result<WriteStatus> {
        Err(Error::unsupported("the hostile medium is read-only"))
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        Err(Error::unsupported("the hostile medium is read-only"))
    }
    fn position(&self) -> Position {
        Position {
            file: 0,
            record: self.turn as u64,
            offset: self.pos as u64,
            volume: 1,
        }
    }
    fn space(&mut self, _op: Space, _count: i64) -> Result<i64> {
        Err(Error::unsupported("the hostile medium cannot space"))
    }
    fn next_volume(&mut self, _number: u32) -> Result<bool> {
        Ok(false)
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

/// One archive member as read: the entry, its bytes (holes and absent ranges as zeros) and
/// the hole and absent ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub entry: Entry,
    pub data: Vec<u8>,
    pub holes: Vec<(u64, u64)>,
    pub absent: Vec<(u64, u64)>,
}

impl Member {
    pub fn new(entry: Entry, data: Vec<u8>) -> Member {
        Member {
            entry,
            data,
            holes: vec![],
            absent: vec![],
        }
    }
}

/// Read a whole archive (for tests: keeps everything in memory).
pub fn read_all(reader: &mut dyn FormatReader) -> Result<(VolumeInfo, Vec<Member>)> {
    let volume = reader.volume()?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while let Some(entry) = reader.next_entry()? {
        let mut m = Member {
            entry,
            data: vec![],
            holes: vec![],
            absent: vec![],
        };
        if m.entry.has_data() {
            loop {
                let c = reader.read_data(&mut buf)?;
                let (offset, len) = match c {
                    Chunk::End => break,
                    Chunk::Data { offset, len }
                    | Chunk::Hole { offset, len }
                    | Chunk::Absent { offset, len } => (offset, len),
                };
                if (offset as usize) < m.data.len() {
                    return Err(Error::internal(format!(
                        "chunk at {offset} goes backwards (have {})",
                        m.data.len()
                    )));
                }
                m.data.resize(offset as usize, 0);
                match c {
                    Chunk::Data { .. } => m.data.extend_from_slice(&buf[..len as usize]),
                    Chunk::Hole { .. } => {
                        m.holes.push((offset, len));
                        m.data.resize((offset + len) as usize, 0);
                    }
                    _ => {
                        m.absent.push((offset, len));
                        m.data.resize((offset + len) as usize, 0);
                    }
                }
            }
            m.data.resize(m.entry.size as usize, 0);
        }
        out.push(m);
    }
    Ok((volume, out))
}

/// Write members (holes from `Member::holes` are written as holes).
pub fn write_all(
    writer: &mut dyn FormatWriter,
    volume: &VolumeInfo,
    members: &[Member],
) -> Result<()> {
    let caps = writer.capabilities();
    writer.begin_archive(volume)?;
    if caps.needs_catalog {
        for m in members {
            writer.catalog_entry(&m.entry)?;
        }
        writer.end_catalog()?;
    }
    for m in members {
        writer.begin_entry(&m.entry)?;
        if m.entry.has_data() {
            let mut pos = 0u64;
            let mut holes = m.holes.clone();
            holes.sort();
            for (off, len) in holes
                .into_iter()
                .chain(std::iter::once((m.data.len() as u64, 0)))
            {
                if off > pos {
                    writer.write_data(pos, &m.data[pos as usize..off as usize])?;
                }
                if len > 0 {
                    writer.write_hole(off, len)?;
                }
                pos = off + len;
            }
        }
        writer.end_entry()?;
    }
    writer.finish()?;
    Ok(())
}

/// Deterministic mutations of seed inputs for smoke-fuzzing a reader in ordinary tests
/// (the real coverage-guided targets live in each plugin's `fuzz/` directory).
/// Mutations: byte flips, bytes set to 0x00/0xff, truncation, random insertions, a header
/// region duplicated, and a 32-bit field set to a huge value.
pub fn mutations(seed: &[u8], count: usize, rng_seed: u64) -> Vec<Vec<u8>> {
    let mut state = rng_seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut d = seed.to_vec();
        let n_ops = 1 + next() % 4;
        for _ in 0..n_ops {
            let len = d.len().max(1) as u64;
            let at = (next() % len) as usize;
            match next() % 7 {
                0 if !d.is_empty() => d[at] ^= 1 << (next() % 8),
                1 if !d.is_empty() => d[at] = if next() % 2 == 0 { 0 } else { 0xff },
                2 => d.truncate(at),
                3 => {
                    let ins: Vec<u8> = (0..(next() % 16)).map(|_| next() as u8).collect();
                    let at = at.min(d.len());
                    d.splice(at..at, ins);
                }
                4 if d.len() > 512 => {
                    let block: Vec<u8> = d[..512].to_vec();
                    let at = at.min(d.len());
                    d.splice(at..at, block);
                }
                5 if d.len() >= at + 4 => {
                    d[at..at + 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes())
                }
                _ if !d.is_empty() => d[at] = next() as u8,
                _ => {}
            }
        }
        out.push(d);
    }
    out
}

/// Run `f` on every seed and `per_seed` mutations of each; a panic fails the test after the
/// offending input is saved to a temporary file named in the message.
pub fn smoke_fuzz(seeds: &[Vec<u8>], per_seed: usize, f: impl Fn(&[u8])) {
    for (i, seed) in seeds.iter().enumerate() {
        let mut inputs = vec![seed.clone()];
        inputs.extend(mutations(seed, per_seed, i as u64 + 1));
        for input in inputs {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&input)));
            if r.is_err() {
                let path = std::env::temp_dir()
                    .join(format!("relic-fuzz-crash-{}-{i}.bin", std::process::id()));
                let _ = std::fs::write(&path, &input);
                panic!(
                    "reader panicked on a mutated input, saved to {}",
                    path.display()
                );
            }
        }
    }
}
