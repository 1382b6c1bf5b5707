//! Block access to the three kinds of input: packed o2image files, raw (sparse) o2image files
//! and plain OCFS2 volume images, told apart by their signatures.
//!
//! ## Packed o2image (`o2image DEV FILE`; ocfs2-tools `include/ocfs2/image.h`,
//! `libocfs2/image.c`, research note §1.1)
//!
//! Image block 0 is `struct ocfs2_image_hdr` (offsets by `offsetof`):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0x00 | 4 | hdr_magic 0x72a3d45f |
//! | 0x04 | 4 | hdr_timestamp (Unix seconds) |
//! | 0x08 | 16 | hdr_magic_desc `"OCFS2 IMAGE"` + NULs |
//! | 0x18 | 8 | hdr_version (1) |
//! | 0x20 | 8 | hdr_fsblkcnt: blocks in the file system |
//! | 0x28 | 8 | hdr_fsblksz: block size B |
//! | 0x30 | 8 | hdr_imgblkcnt: N, blocks stored |
//! | 0x38 | 8 | hdr_bmpblksz: bitmap chunk size (4096) |
//! | 0x40 | 8 | hdr_superblkcnt: backup superblocks |
//! | 0x48 | 6x8 | hdr_superblocks: image index of each backup superblock |
//!
//! The rest of block 0 is uninitialised. Image blocks 1..=N are the stored fs blocks in
//! ascending order; the bitmap (bit n set = fs block n stored, LSB first in each byte) starts
//! at byte `(N + 1) x B` and fills `ceil(fsblkcnt / 32768)` chunks of 4096 bytes. Fs block n
//! lives at `(1 + number of set bits before n) x B`.
//!
//! **Bounded memory for any volume size.** At open, one streaming pass over the bitmap (1 MiB
//! reads) builds a rank index: the number of set bits before each 4096-byte chunk, 8 bytes
//! per chunk, i.e. 1/512 of the bitmap's size (a 1 TiB volume of 4 KiB blocks has a 32 MiB
//! bitmap and a 64 KiB index). A lookup reads its chunk through a small LRU cache
//! ([`CACHE_CHUNKS`] chunks) and counts bits within it; the index also answers "how many of
//! these blocks are stored" for any range in O(1) chunk reads. Nothing else of the image is
//! read until a block is asked for. The index is sized from the bitmap bytes the file really
//! holds: a header claiming more than the file contains is refused before anything is
//! allocated.
//!
//! ## Raw o2image (`o2image -r`) and plain volumes
//!
//! Both are a volume laid out block by block (block n at `n x B`), found by the superblock
//! signature `OCFSV2` at `2 x B` for B in 512..4096 (libocfs2/libblkid probe the same way),
//! or, when the primary superblock is damaged, at a backup location (1 GiB, 4 GiB, ...). A raw
//! image has no record of what was copied: blocks o2image skipped are zeros (holes) and the
//! file ends after the last copied block, so it is shorter than the volume. A plain volume
//! image is as long as the volume. **Choice:** an input at least as long as the volume is
//! taken as a plain volume (file data is read from it), a shorter one as a raw o2image
//! (file data is absent); the reader option `kind=raw|volume` overrides.
//!
//! ## Random access
//!
//! Every kind needs random access. [`ReadAt`] is implemented for files (`pread`) and for
//! bytes in memory (tests, the fuzz target); the plugin opens the input location itself
//! when it is a regular file or a block device (see the crate docs).

use std::io;

use relic_model::{Error, Result};

use crate::layout::{self, le32, le64, Superblock, BACKUP_SUPER_BYTES, MAX_BLOCK, MIN_BLOCK};

/// Random-access reads (`pread`): fill as much of `buf` as the input holds at `off`.
pub trait ReadAt: Send {
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> io::Result<usize>;
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A file or block device.
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

impl FileSource {
    pub fn open(path: &str) -> Result<FileSource> {
        use std::io::{Seek, SeekFrom};
        let mut file =
            std::fs::File::open(path).map_err(|e| Error::io(format!("cannot open {path}"), &e))?;
        // block devices report size 0 in metadata; ask by seeking
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(format!("cannot seek in {path}"), &e))?;
        Ok(FileSource { file, len })
    }
}

impl ReadAt for FileSource {
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], off + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
    fn len(&self) -> u64 {
        self.len
    }
}

/// Bytes in memory.
pub struct MemSource(pub Vec<u8>);

impl ReadAt for MemSource {
    fn read_at(&mut self, off: u64, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.0.len() as u64;
        if off >= len {
            return Ok(0);
        }
        let n = ((len - off) as usize).min(buf.len());
        buf[..n].copy_from_slice(&self.0[off as usize..off as usize + n]);
        Ok(n)
    }
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
}

/// What the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Packed o2image: header, stored blocks, bitmap.
    Packed,
    /// Raw o2image: a sparse metadata-only volume.
    Raw,
    /// A plain volume image: metadata and file data.
    Volume,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Packed => "packed",
            Kind::Raw => "raw",
            Kind::Volume => "volume",
        }
    }
}

pub const IMAGE_MAGIC: u32 = 0x72a3_d45f;
pub const IMAGE_DESC: &[u8; 12] = b"OCFS2 IMAGE\0";
/// Bits per bitmap chunk (`OCFS2_IMAGE_BITS_IN_BLOCK`).
pub const CHUNK_BYTES: u64 = 4096;
pub const CHUNK_BITS: u64 = CHUNK_BYTES * 8;
/// Bitmap chunks kept in memory.
pub const CACHE_CHUNKS: usize = 64;
/// Header length actually used (0x48 + 6 x 8).
pub const HEADER_LEN: usize = 0x78;

/// `struct ocfs2_image_hdr` (see the module table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub timestamp: u32,
    pub version: u64,
    pub fs_blocks: u64,
    pub block_size: u64,
    pub image_blocks: u64,
    pub bitmap_chunk: u64,
    pub super_count: u64,
    pub supers: [u64; 6],
}

impl Header {
    pub fn is_packed(head: &[u8]) -> bool {
        head.len() >= 20 && le32(head, 0) == IMAGE_MAGIC && &head[8..20] == IMAGE_DESC
    }

    pub fn parse(b: &[u8]) -> Result<Header> {
        if b.len() < HEADER_LEN {
            return Err(Error::truncated(format!(
                "o2image header needs {HEADER_LEN} bytes, the input has {}",
                b.len()
            ))
            .at(0));
        }
        if !Header::is_packed(b) {
            return Err(
                Error::corrupt("no o2image header magic 0x72a3d45f / \"OCFS2 IMAGE\"").at(0),
            );
        }
        let mut supers = [0u64; 6];
        for (i, s) in supers.iter_mut().enumerate() {
            *s = le64(b, 0x48 + 8 * i);
        }
        let h = Header {
            timestamp: le32(b, 0x04),
            version: le64(b, 0x18),
            fs_blocks: le64(b, 0x20),
            block_size: le64(b, 0x28),
            image_blocks: le64(b, 0x30),
            bitmap_chunk: le64(b, 0x38),
            super_count: le64(b, 0x40),
            supers,
        };
        if h.version > 1 {
            return Err(Error::unsupported(format!(
                "o2image version {} (relic reads version 1)",
                h.version
            ))
            .at(0x18));
        }
        if !(MIN_BLOCK as u64..=MAX_BLOCK as u64).contains(&h.block_size)
            || !h.block_size.is_power_of_two()
        {
            return Err(Error::corrupt(format!(
                "o2image block size {} is not 512, 1024, 2048 or 4096",
                h.block_size
            ))
            .at(0x28));
        }
        if h.bitmap_chunk != CHUNK_BYTES {
            return Err(Error::unsupported(format!(
                "o2image bitmap chunk size {} (o2image always writes 4096)",
                h.bitmap_chunk
            ))
            .at(0x38));
        }
        if h.fs_blocks == 0 || h.image_blocks == 0 || h.image_blocks > h.fs_blocks {
            return Err(Error::corrupt(format!(
                "o2image header: {} blocks stored of a {}-block file system",
                h.image_blocks, h.fs_blocks
            ))
            .at(0x20));
        }
        Ok(h)
    }
}

/// The bitmap of a packed image with its rank index and chunk cache.
struct Bitmap {
    /// Byte offset of the bitmap in the file.
    offset: u64,
    fs_blocks: u64,
    /// Set bits before each chunk.
    ranks: Vec<u64>,
    /// (chunk index, bytes, last use)
    cache: Vec<(u64, Vec<u8>, u64)>,
    tick: u64,
    /// Stored blocks (the header's N): image indexes past it are not in the file.
    stored: u64,
    /// Set bits in the whole bitmap.
    total: u64,
}

impl Bitmap {
    fn chunk<'a>(&'a mut self, src: &mut dyn ReadAt, k: u64) -> Result<&'a [u8]> {
        self.tick += 1;
        let tick = self.tick;
        if let Some(i) = self.cache.iter().position(|(c, _, _)| *c == k) {
            self.cache[i].2 = tick;
            return Ok(&self.cache[i].1);
        }
        let mut bytes = vec![0u8; CHUNK_BYTES as usize];
        let want = self.bytes_in_chunk(k);
        let off = self.offset + k * CHUNK_BYTES;
        let got = src
            .read_at(off, &mut bytes[..want])
            .map_err(|e| Error::io("reading the o2image bitmap", &e).at(off))?;
        if got < want {
            return Err(Error::truncated("the o2image bitmap ends early").at(off + got as u64));
        }
        let slot = if self.cache.len() < CACHE_CHUNKS {
            self.cache.push((k, bytes, tick));
            self.cache.len() - 1
        } else {
            let (i, _) = self
                .cache
                .iter()
                .enumerate()
                .min_by_key(|(_, (_, _, t))| *t)
                .expect("because the cache is full, so not empty");
            self.cache[i] = (k, bytes, tick);
            i
        };
        Ok(&self.cache[slot].1)
    }

    /// Bitmap bytes of chunk `k` that cover file-system blocks.
    fn bytes_in_chunk(&self, k: u64) -> usize {
        let bits = self
            .fs_blocks
            .saturating_sub(k * CHUNK_BITS)
            .min(CHUNK_BITS);
        bits.div_ceil(8) as usize
    }

    fn test(&mut self, src: &mut dyn ReadAt, n: u64) -> Result<bool> {
        if n >= self.fs_blocks {
            return Ok(false);
        }
        let c = self.chunk(src, n / CHUNK_BITS)?;
        let bit = n % CHUNK_BITS;
        Ok(c[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }

    /// Set bits before block `n` (n may equal fs_blocks).
    fn rank(&mut self, src: &mut dyn ReadAt, n: u64) -> Result<u64> {
        let n = n.min(self.fs_blocks);
        let k = n / CHUNK_BITS;
        let Some(&base) = self.ranks.get(k as usize) else {
            return Ok(self.total);
        };
        let bit = (n % CHUNK_BITS) as usize;
        if bit == 0 {
            return Ok(base);
        }
        let c = self.chunk(src, k)?;
        let whole = bit / 8;
        let mut count: u64 = c[..whole].iter().map(|b| b.count_ones() as u64).sum();
        let part = bit % 8;
        if part != 0 {
            count += (c[whole] & ((1u8 << part) - 1)).count_ones() as u64;
        }
        Ok(base + count)
    }
}

/// Where a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Avail {
    Present,
    /// Not in the image (packed: bit clear; raw/volume: past the end of the file).
    Missing,
}

/// Block access to an opened image.
pub struct Image {
    src: Box<dyn ReadAt>,
    pub kind: Kind,
    pub block_size: u32,
    pub header: Option<Header>,
    bitmap: Option<Bitmap>,
    /// Set when the bitmap's bit count differs from the header's N.
    pub bitmap_note: Option<String>,
    /// Blocks in the volume (set once the superblock is known; bounds every lookup).
    pub fs_blocks: u64,
}

impl Image {
    /// Open a packed image: header and rank index.
    fn open_packed(mut src: Box<dyn ReadAt>) -> Result<Image> {
        let mut hb = [0u8; HEADER_LEN];
        let got = src
            .read_at(0, &mut hb)
            .map_err(|e| Error::io("reading the o2image header", &e).at(0))?;
        let h = Header::parse(&hb[..got])?;
        let b = h.block_size;
        let bitmap_off = h
            .image_blocks
            .checked_add(1)
            .and_then(|n| n.checked_mul(b))
            .ok_or_else(|| Error::corrupt("o2image header: block count overflows").at(0x30))?;
        let bitmap_bytes = h.fs_blocks.div_ceil(8);
        let need = bitmap_off.checked_add(bitmap_bytes).ok_or_else(|| {
            Error::corrupt("o2image header: file-system block count overflows").at(0x20)
        })?;
        let len = src.len();
        if len < need {
            return Err(Error::truncated(format!(
                "o2image header says {} blocks of {b} bytes are stored and the bitmap of a \
                 {}-block file system follows: {need} bytes at least, the file has {len}",
                h.image_blocks, h.fs_blocks
            ))
            .at(len));
        }
        // one streaming pass: set bits before each chunk
        let chunks = h.fs_blocks.div_ceil(CHUNK_BITS);
        let mut ranks = Vec::with_capacity(chunks as usize);
        let mut total = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        while done < bitmap_bytes {
            let n = ((bitmap_bytes - done) as usize).min(buf.len());
            let off = bitmap_off + done;
            let got = src
                .read_at(off, &mut buf[..n])
                .map_err(|e| Error::io("reading the o2image bitmap", &e).at(off))?;
            if got < n {
                return Err(Error::truncated("the o2image bitmap ends early").at(off + got as u64));
            }
            for piece in buf[..n].chunks(CHUNK_BYTES as usize) {
                // `done` is a multiple of the chunk size (the buffer is), so pieces align
                ranks.push(total);
                total += piece.iter().map(|x| x.count_ones() as u64).sum::<u64>();
            }
            done += n as u64;
        }
        // bits past fs_blocks in the last byte are not blocks
        let tail_bits = h.fs_blocks % 8;
        if tail_bits != 0 {
            let mut last = [0u8; 1];
            let off = bitmap_off + bitmap_bytes - 1;
            src.read_at(off, &mut last)
                .map_err(|e| Error::io("reading the o2image bitmap", &e).at(off))?;
            total -= (last[0] >> tail_bits).count_ones() as u64;
        }
        let bitmap_note = (total != h.image_blocks).then(|| {
            format!(
                "the o2image bitmap marks {total} blocks as stored, the header says {}; \
                 blocks past the stored ones are treated as missing",
                h.image_blocks
            )
        });
        Ok(Image {
            kind: Kind::Packed,
            block_size: b as u32,
            bitmap: Some(Bitmap {
                offset: bitmap_off,
                fs_blocks: h.fs_blocks,
                ranks,
                cache: Vec::new(),
                tick: 0,
                stored: h.image_blocks,
                total,
            }),
            fs_blocks: h.fs_blocks,
            header: Some(h),
            bitmap_note,
            src,
        })
    }

    /// Open any input. `force` (raw or volume) overrides the length rule for headerless
    /// inputs. Returns the image and the superblock; `notes` gets warnings (a damaged
    /// primary superblock, a bitmap count mismatch).
    pub fn open(
        mut src: Box<dyn ReadAt>,
        force: Option<Kind>,
        notes: &mut Vec<String>,
    ) -> Result<(Image, Superblock, u64)> {
        let mut head = [0u8; 20];
        let got = src
            .read_at(0, &mut head)
            .map_err(|e| Error::io("reading the input", &e).at(0))?;
        if Header::is_packed(&head[..got]) {
            if force.is_some() {
                return Err(Error::config(
                    "kind= applies to raw and volume images; this is a packed o2image",
                ));
            }
            let mut img = Image::open_packed(src)?;
            if let Some(n) = &img.bitmap_note {
                notes.push(n.clone());
            }
            let (sb, at) = img.find_superblock(notes)?;
            if let Some(h) = &img.header {
                if h.fs_blocks != sb.total_blocks() {
                    notes.push(format!(
                        "the o2image header says {} blocks, the superblock {}",
                        h.fs_blocks,
                        sb.total_blocks()
                    ));
                }
            }
            img.fs_blocks = img.fs_blocks.min(sb.total_blocks());
            return Ok((img, sb, at));
        }
        // headerless: find the block size by the superblock signature
        let len = src.len();
        let mut found: Option<u32> = None;
        for b in [512u32, 1024, 2048, 4096] {
            let mut blk = vec![0u8; b as usize];
            let n = src
                .read_at(2 * b as u64, &mut blk)
                .map_err(|e| Error::io("reading the input", &e).at(2 * b as u64))?;
            if n == b as usize
                && &blk[..8] == layout::SUPER_SIGNATURE
                && Superblock::parse(&blk, 2).is_ok_and(|s| s.block_size() == b)
            {
                found = Some(b);
                break;
            }
        }
        let mut img = Image {
            src,
            kind: Kind::Raw,
            block_size: found.unwrap_or(MAX_BLOCK),
            header: None,
            bitmap: None,
            bitmap_note: None,
            fs_blocks: u64::MAX,
        };
        let (sb, at) = match found {
            Some(_) => img.find_superblock(notes)?,
            None => {
                // the primary is unreadable at every block size: look for a backup
                let mut hit = None;
                for off in BACKUP_SUPER_BYTES {
                    if off + MIN_BLOCK as u64 > len {
                        break;
                    }
                    let mut blk = vec![0u8; MAX_BLOCK as usize];
                    let n = img
                        .src
                        .read_at(off, &mut blk)
                        .map_err(|e| Error::io("reading the input", &e).at(off))?;
                    blk.truncate(n);
                    if blk.len() < 8 || &blk[..8] != layout::SUPER_SIGNATURE {
                        continue;
                    }
                    let bits = le32(&blk, 0xC0 + 0x38);
                    if !(9..=12).contains(&bits) {
                        continue;
                    }
                    let b = 1u32 << bits;
                    if blk.len() < b as usize {
                        continue;
                    }
                    if let Ok(s) = Superblock::parse(&blk[..b as usize], off / b as u64) {
                        notes.push(format!(
                            "no valid primary superblock at block 2; using the backup at byte {off} (block {})",
                            off / b as u64
                        ));
                        img.block_size = b;
                        hit = Some((s, off / b as u64));
                        break;
                    }
                }
                hit.ok_or_else(|| {
                    Error::corrupt(
                        "no OCFS2 superblock (signature OCFSV2) at block 2 for block sizes \
                         512..4096, nor at a backup location",
                    )
                    .at(0)
                })?
            }
        };
        let vol_bytes = sb.total_blocks().saturating_mul(sb.block_size() as u64);
        img.kind = match force {
            Some(k) => k,
            None if len >= vol_bytes => Kind::Volume,
            None => Kind::Raw,
        };
        img.fs_blocks = sb.total_blocks();
        Ok((img, sb, at))
    }

    /// The primary superblock, or the first valid backup.
    fn find_superblock(&mut self, notes: &mut Vec<String>) -> Result<(Superblock, u64)> {
        let b = self.block_size as usize;
        let mut blk = vec![0u8; b];
        let mut why = match self.read_block(layout::SUPER_BLKNO, &mut blk)? {
            Avail::Missing => "block 2 is not in the image".to_string(),
            Avail::Present => match Superblock::parse(&blk, layout::SUPER_BLKNO) {
                Ok(s) if s.block_size() as usize == b => return Ok((s, layout::SUPER_BLKNO)),
                Ok(s) => format!(
                    "the superblock says {}-byte blocks, the image {b}",
                    s.block_size()
                ),
                Err(e) => e,
            },
        };
        for off in BACKUP_SUPER_BYTES {
            let n = off / b as u64;
            if self.header.as_ref().is_some_and(|h| n >= h.fs_blocks) {
                break;
            }
            if self.read_block(n, &mut blk)? != Avail::Present {
                continue;
            }
            match Superblock::parse(&blk, n) {
                Ok(s) if s.block_size() as usize == b => {
                    notes.push(format!(
                        "primary superblock unusable ({why}); using the backup at block {n}"
                    ));
                    return Ok((s, n));
                }
                Ok(_) => {}
                Err(e) => why = format!("{why}; backup at block {n}: {e}"),
            }
        }
        Err(Error::corrupt(format!("no usable superblock: {why}")).at(2 * b as u64))
    }

    /// Read fs block `n` into `buf` (one block). Raw/volume: a block partly past the end of
    /// the file is zero-filled; one wholly past it is missing.
    pub fn read_block(&mut self, n: u64, buf: &mut [u8]) -> Result<Avail> {
        let b = self.block_size as u64;
        if n >= self.fs_blocks {
            return Ok(Avail::Missing);
        }
        let off = match self.bitmap.as_mut() {
            Some(bm) => {
                if !bm.test(self.src.as_mut(), n)? {
                    return Ok(Avail::Missing);
                }
                let idx = bm.rank(self.src.as_mut(), n)?;
                if idx >= bm.stored {
                    return Ok(Avail::Missing);
                }
                (1 + idx) * b
            }
            None => n * b,
        };
        if off >= self.src.len() {
            return Ok(Avail::Missing);
        }
        let got = self
            .src
            .read_at(off, &mut buf[..b as usize])
            .map_err(|e| Error::io(format!("reading block {n}"), &e).at(off))?;
        buf[got..b as usize].fill(0);
        Ok(Avail::Present)
    }

    /// From block `n`, the length (at most `max`) of the run of blocks that are all present
    /// or all missing, and which.
    pub fn run(&mut self, n: u64, max: u64) -> Result<(Avail, u64)> {
        let max = max.max(1);
        match self.bitmap.as_mut() {
            Some(bm) => {
                let first = bm.test(self.src.as_mut(), n)?;
                let mut len = 1;
                while len < max && bm.test(self.src.as_mut(), n + len)? == first {
                    len += 1;
                }
                if first {
                    // stored indexes past N are not in the file
                    let idx = bm.rank(self.src.as_mut(), n)?;
                    if idx >= bm.stored {
                        return Ok((Avail::Missing, len));
                    }
                    len = len.min(bm.stored - idx);
                }
                Ok((
                    if first {
                        Avail::Present
                    } else {
                        Avail::Missing
                    },
                    len,
                ))
            }
            None => {
                let b = self.block_size as u64;
                let in_file = self.src.len().div_ceil(b);
                if n >= in_file || n >= self.fs_blocks {
                    Ok((Avail::Missing, max))
                } else {
                    Ok((Avail::Present, max.min(in_file - n)))
                }
            }
        }
    }

    /// Read `count` consecutive blocks from `n`, which [`Image::run`] said are present, into
    /// `out` (`count x B` bytes). Packed images store them back to back.
    pub fn read_run(&mut self, n: u64, count: u64, out: &mut [u8]) -> Result<()> {
        let b = self.block_size as u64;
        let off = match self.bitmap.as_mut() {
            Some(bm) => (1 + bm.rank(self.src.as_mut(), n)?) * b,
            None => n * b,
        };
        let want = (count * b) as usize;
        let got = self
            .src
            .read_at(off, &mut out[..want])
            .map_err(|e| Error::io(format!("reading blocks {n}..{}", n + count), &e).at(off))?;
        out[got..want].fill(0);
        Ok(())
    }

    /// How many of the blocks `[start, start + len)` are stored (packed images only).
    pub fn stored_in(&mut self, start: u64, len: u64) -> Result<Option<u64>> {
        match self.bitmap.as_mut() {
            Some(bm) => {
                let a = bm.rank(self.src.as_mut(), start)?;
                let z = bm.rank(self.src.as_mut(), start.saturating_add(len))?;
                Ok(Some(z - a))
            }
            None => Ok(None),
        }
    }

    /// How many blocks the image holds at most (packed: the header's N; otherwise the
    /// blocks of the file).
    pub fn stored_blocks(&self) -> u64 {
        match &self.header {
            Some(h) => h.image_blocks,
            None => self.src.len().div_ceil(self.block_size as u64),
        }
    }

    /// Bytes of memory held for block lookups (the rank index and the chunk cache).
    pub fn index_bytes(&self) -> usize {
        self.bitmap
            .as_ref()
            .map(|b| b.ranks.capacity() * 8 + b.cache.len() * CHUNK_BYTES as usize)
            .unwrap_or(0)
    }
}

/// The detection bid for the first bytes of an input: bits verified, 0 for "not ours".
pub fn bid(head: &[u8]) -> u32 {
    if Header::is_packed(head) {
        // magic (32) + description (96) + a plausible block size (8)
        let bs = le64(head, 0x28);
        let ok = head.len() >= HEADER_LEN && (512..=4096).contains(&bs) && bs.is_power_of_two();
        return if ok { 136 } else { 128 };
    }
    for b in [512usize, 1024, 2048, 4096] {
        if let Some(blk) = head.get(2 * b..3 * b) {
            if &blk[..8] == layout::SUPER_SIGNATURE {
                if let Ok(s) = Superblock::parse(blk, 2) {
                    if s.block_size() as usize == b {
                        // signature (64) + own block number (64) + geometry (16)
                        return 144;
                    }
                }
                return 64;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packed image of a 70000-block "file system" with blocks 0..=2 and 40000 stored.
    fn synthetic() -> Vec<u8> {
        let b = 512u64;
        let fs_blocks = 70000u64;
        let stored = [0u64, 1, 2, 40000];
        let mut v = vec![0u8; b as usize];
        v[0..4].copy_from_slice(&IMAGE_MAGIC.to_le_bytes());
        v[8..20].copy_from_slice(IMAGE_DESC);
        v[0x18..0x20].copy_from_slice(&1u64.to_le_bytes());
        v[0x20..0x28].copy_from_slice(&fs_blocks.to_le_bytes());
        v[0x28..0x30].copy_from_slice(&b.to_le_bytes());
        v[0x30..0x38].copy_from_slice(&(stored.len() as u64).to_le_bytes());
        v[0x38..0x40].copy_from_slice(&4096u64.to_le_bytes());
        for n in stored {
            v.extend(vec![(n % 251) as u8 + 1; b as usize]);
        }
        let mut bm = vec![0u8; (fs_blocks.div_ceil(CHUNK_BITS) * CHUNK_BYTES) as usize];
        for n in stored {
            bm[(n / 8) as usize] |= 1 << (n % 8);
        }
        v.extend(bm);
        v
    }

    #[test]
    fn packed_blocks_are_found_by_rank() {
        let mut img = Image::open_packed(Box::new(MemSource(synthetic()))).expect("opens");
        assert_eq!(img.bitmap_note, None);
        let mut buf = vec![0u8; 512];
        assert_eq!(
            img.read_block(40000, &mut buf).expect("read"),
            Avail::Present
        );
        assert!(buf.iter().all(|&c| c == (40000 % 251) as u8 + 1));
        assert_eq!(
            img.read_block(39999, &mut buf).expect("read"),
            Avail::Missing
        );
        assert_eq!(
            img.read_block(70000, &mut buf).expect("read"),
            Avail::Missing
        );
        assert_eq!(img.stored_in(0, 70000).expect("rank"), Some(4));
        assert_eq!(img.stored_in(3, 39997).expect("rank"), Some(0));
        assert_eq!(img.run(0, 10).expect("run"), (Avail::Present, 3));
        assert_eq!(img.run(3, 100).expect("run"), (Avail::Missing, 100));
        assert_eq!(bid(&synthetic()), 136);
    }

    #[test]
    fn truncated_and_lying_headers_are_refused_without_allocating() {
        let full = synthetic();
        // the bitmap of 70000 blocks needs 8750 bytes after the 5 blocks before it
        let cut = full[..5 * 512 + 8000].to_vec();
        let e = Image::open_packed(Box::new(MemSource(cut)))
            .err()
            .expect("short bitmap");
        assert_eq!(e.kind, relic_model::ErrorKind::Truncated);
        let mut huge = full.clone();
        huge[0x20..0x28].copy_from_slice(&(1u64 << 60).to_le_bytes());
        let e = Image::open_packed(Box::new(MemSource(huge)))
            .err()
            .expect("claims 2^60 blocks");
        assert_eq!(e.kind, relic_model::ErrorKind::Truncated);
        let mut many = full;
        many[0x30..0x38].copy_from_slice(&3u64.to_le_bytes());
        let img = Image::open_packed(Box::new(MemSource(many))).expect("opens");
        assert!(img.bitmap_note.is_some(), "4 bits set, header says 3");
    }
}
