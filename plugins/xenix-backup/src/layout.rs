//! On-media structures of the V7 `dumprestor.h` family: XENIX `backup`, Research V7 and
//! 2.9BSD `dump` (PDP-11), and the 68k derivatives. Every field is listed with its offset and
//! the source of the fact; [`crate::read`] and [`crate::write`] use nothing but this module to
//! touch bytes, and the independent fixture builder (`fixtures/xenix-backup/builder.py`) was
//! written from the same tables, not from this code.
//!
//! Sources (research note `dump-family.md` §2.1, §2.2, §3; repositories named there):
//! - V7: `usr/include/dumprestor.h`, `usr/src/cmd/dump.c` (`spclrec`, `icat`, `indir`,
//!   `bitmap`), `usr/src/cmd/restor.c`, `usr/include/sys/ino.h`, `usr/src/libc/gen/l3.c`;
//! - XENIX: Microsoft's `dumprestor.h` (1987-88) in UnixWare's `xcpcmd/xrestore`: every small
//!   field `short`, `#pragma pack(2)`, MAGIC and CHECKSUM cast to `short`;
//! - 2.9BSD: `usr/include/dumprestor.h` (`UCB_NKB == 1`: BSIZE 1024, NTREC 10);
//! - 68k: PCS MUNIX `dumprestor.h` (`short` fields, big-endian) and TI System 1500
//!   `dumprestor.h` (`int` fields, `ushort ino_t`).
//!
//! # The three header shapes
//!
//! Offsets in bytes from the start of the header block. `w` = the shape's word (2 bytes for
//! `short` fields, 4 for `int` fields); `l` = a 32-bit value (`time_t`, `daddr_t`).
//!
//! | field | [`Shape::Short`] | [`Shape::ShortIno32`] | [`Shape::Int`] | meaning |
//! |---|---|---|---|---|
//! | c_type | 0 (w) | 0 (w) | 0 (w) | record type, [`TS_TAPE`] .. [`TS_CLRI`] |
//! | c_date | 2 (l) | 2 (l) | 4 (l) | when this dump started |
//! | c_ddate | 6 (l) | 6 (l) | 8 (l) | date of the reference dump; 0 = a full dump |
//! | c_volume | 10 (w) | 10 (w) | 12 (w) | volume number, from 1 |
//! | c_tapea | 12 (l) | 12 (l) | 16 (l) | index of this block over the whole dump, in blocks |
//! | c_inumber | 16 (2) | 16 (4) | 20 (2, then 2 pad) | inode number |
//! | c_magic | 18 (w) | 20 (w) | 24 (w) | [`MAGIC`] 60011 |
//! | c_checksum | 20 (w) | 22 (w) | 28 (w) | makes the block's words sum to [`CHECKSUM`] |
//! | c_dinode | 22 (64) | 24 (64) | 32 (64) | copy of the inode, [`Dinode`] |
//! | c_count | 86 (w) | 88 (w) | 96 (w) | number of c_addr flags used |
//! | c_addr | 88 | 90 | 100 | one flag byte per block (nonzero = a data block follows) |
//!
//! - `Short` is V7 (PDP-11 `int` is 16 bits), XENIX (`short` + `pack(2)`, so 286 and 386
//!   tapes agree), 2.9BSD and PCS MUNIX (68k `short`).
//! - `ShortIno32` is the XENIX layout with a 4-byte `ino_t` (the research note: "detect by
//!   checking for 0xEA6B at offset 18 (2-byte inumber) vs. 20 (4-byte inumber)"); no real
//!   tape of it is known.
//! - `Int` is TI System V/68 (`int` fields, `ushort ino_t`). The header is summed as 32-bit
//!   words, so the compiler must have aligned `int` to 4 bytes: with 2-byte alignment
//!   c_checksum would sit at 26, straddling two summed words, and restore could never verify
//!   its own headers. Hence c_magic at 24 (the note's "u32 BE at 24"). This is also the shape
//!   of the 4.1BSD "old format" (OFS_MAGIC, little-endian), which belongs to the BSD dump
//!   plugin: relic reads `Int` only big-endian.
//!
//! The header occupies one block of BSIZE bytes (512 or 1024); the C struct declares
//! `c_addr[BSIZE]` but only the first BSIZE bytes of the struct are written and summed.
//!
//! # Byte orders ([`ByteOrder`])
//!
//! | order | 16-bit | 32-bit | 3-byte address `c0 c1 c2` (`l3tol`) |
//! |---|---|---|---|
//! | Intel (XENIX x86) | little-endian | little-endian | `c0 \| c1<<8 \| c2<<16` |
//! | PDP-11 (V7, 2.9BSD) | little-endian | high word first, each word little-endian | `c0<<16 \| c2<<8 \| c1` |
//! | 68k | big-endian | big-endian | `c0<<16 \| c1<<8 \| c2` |
//!
//! Intel and PDP-11 headers have the same 16-bit words, magic and checksum: they differ only
//! in the 32-bit fields, which [`crate::read`] scores to tell them apart.
//!
//! # Checksum
//!
//! `Short` shapes: the BSIZE/2 16-bit words of the block, in the variant's 16-bit order, sum
//! (wrapping) to 18910 = 84446 mod 65536 ([`CHECKSUM16`]). `Int`: the BSIZE/4 32-bit words sum
//! to 84446. A writer zeroes c_checksum, sums, and stores the difference (V7 `spclrec`).

use relic_model::Device;

/// `c_magic` of the whole family: 60011 = 0xEA6B (V7 `MAGIC`).
pub const MAGIC: u32 = 60011;
/// The sum every header's words must have (V7 `CHECKSUM`), for 32-bit words.
pub const CHECKSUM32: u32 = 84446;
/// 84446 cast to `short` (XENIX `(short)84446`): the target for 16-bit words.
pub const CHECKSUM16: u16 = (84446u32 & 0xffff) as u16;

/// Record types (`c_type`), V7 `dumprestor.h`.
pub const TS_TAPE: u32 = 1;
pub const TS_INODE: u32 = 2;
pub const TS_BITS: u32 = 3;
pub const TS_ADDR: u32 = 4;
pub const TS_END: u32 = 5;
pub const TS_CLRI: u32 = 6;

/// Bytes of one physical tape record: NTREC x BSIZE is always 10240 (20 x 512 for V7 and
/// XENIX 512, 10 x 1024 for 2.9BSD and XENIX 1024; `NTREC = 20*512/BSIZE` in XENIX).
pub const RECORD_BYTES: usize = 10240;

/// Block addresses in a V7 inode (`NADDR`): 10 direct, single, double, triple indirect.
pub const NADDR: usize = 13;
/// Direct addresses, and flags in a TS_INODE header (V7 `dmpspc(d, NADDR-3)`).
pub const NDIRECT: usize = 10;
/// Size of the on-disk inode copied into every header (`struct dinode`, `sys/ino.h`).
pub const DINODE_SIZE: usize = 64;
/// One V7 directory entry: `{ ino_t d_ino; char d_name[DIRSIZ]; }` (`sys/dir.h`).
pub const DIRENT_SIZE: usize = 16;
/// Name bytes in a directory entry, NUL padded, not terminated when 14 long.
pub const DIRSIZ: usize = 14;
/// The root directory's inode number (`ROOTINO`).
pub const ROOTINO: u32 = 2;
/// Bits per map word (`MLEN`) and map words (`MSIZ`): maps cover inodes 1..=65536.
pub const MLEN: usize = 16;
pub const MSIZ: usize = 4096;

/// Inode type bits (`di_mode & IFMT`), V7 `sys/ino.h` plus XENIX's FIFO and named files.
pub const IFMT: u16 = 0o170000;
pub const IFDIR: u16 = 0o040000;
pub const IFCHR: u16 = 0o020000;
pub const IFBLK: u16 = 0o060000;
pub const IFREG: u16 = 0o100000;
/// V7 multiplexed character / block files (`IFMPC`, `IFMPB`).
pub const IFMPC: u16 = 0o030000;
pub const IFMPB: u16 = 0o070000;
/// XENIX named pipe (System III/V `IFIFO`).
pub const IFIFO: u16 = 0o010000;
/// XENIX "name" files: semaphores and shared data (`IFNAM`).
pub const IFNAM: u16 = 0o050000;
/// BSD symbolic link (2.9BSD with `UCB_SYMLINKS`).
pub const IFLNK: u16 = 0o120000;

/// How 16-bit, 32-bit and 3-byte values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByteOrder {
    /// XENIX on Intel: little-endian throughout.
    Intel,
    /// PDP-11: 16-bit little-endian, 32-bit as two words with the high word first.
    Pdp11,
    /// Motorola 68000: big-endian throughout.
    M68k,
}

impl ByteOrder {
    pub const ALL: [ByteOrder; 3] = [ByteOrder::Intel, ByteOrder::Pdp11, ByteOrder::M68k];

    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Intel => "intel",
            ByteOrder::Pdp11 => "pdp11",
            ByteOrder::M68k => "68k",
        }
    }

    pub fn parse(s: &str) -> Option<ByteOrder> {
        match s.to_ascii_lowercase().as_str() {
            "intel" | "le" | "little" | "x86" | "i386" | "i286" => Some(ByteOrder::Intel),
            "pdp11" | "pdp-11" | "pdp" => Some(ByteOrder::Pdp11),
            "68k" | "m68k" | "be" | "big" | "68000" => Some(ByteOrder::M68k),
            _ => None,
        }
    }

    pub fn get16(self, b: &[u8]) -> u16 {
        match self {
            ByteOrder::Intel | ByteOrder::Pdp11 => u16::from_le_bytes([b[0], b[1]]),
            ByteOrder::M68k => u16::from_be_bytes([b[0], b[1]]),
        }
    }

    pub fn put16(self, b: &mut [u8], v: u16) {
        let x = match self {
            ByteOrder::Intel | ByteOrder::Pdp11 => v.to_le_bytes(),
            ByteOrder::M68k => v.to_be_bytes(),
        };
        b[..2].copy_from_slice(&x);
    }

    pub fn get32(self, b: &[u8]) -> u32 {
        match self {
            ByteOrder::Intel => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            ByteOrder::Pdp11 => {
                (u32::from(u16::from_le_bytes([b[0], b[1]])) << 16)
                    | u32::from(u16::from_le_bytes([b[2], b[3]]))
            }
            ByteOrder::M68k => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        }
    }

    pub fn put32(self, b: &mut [u8], v: u32) {
        match self {
            ByteOrder::Intel => b[..4].copy_from_slice(&v.to_le_bytes()),
            ByteOrder::Pdp11 => {
                b[..2].copy_from_slice(&((v >> 16) as u16).to_le_bytes());
                b[2..4].copy_from_slice(&(v as u16).to_le_bytes());
            }
            ByteOrder::M68k => b[..4].copy_from_slice(&v.to_be_bytes()),
        }
    }

    /// A 3-byte block address (`l3tol`, V7 `libc/gen/l3.c`).
    pub fn get_l3(self, b: &[u8]) -> u32 {
        let (c0, c1, c2) = (u32::from(b[0]), u32::from(b[1]), u32::from(b[2]));
        match self {
            ByteOrder::Intel => c0 | c1 << 8 | c2 << 16,
            ByteOrder::Pdp11 => c0 << 16 | c2 << 8 | c1,
            ByteOrder::M68k => c0 << 16 | c1 << 8 | c2,
        }
    }

    /// Store the low 24 bits of `v` as a 3-byte address (`ltol3`).
    pub fn put_l3(self, b: &mut [u8], v: u32) {
        let (hi, mid, lo) = ((v >> 16) as u8, (v >> 8) as u8, v as u8);
        let x = match self {
            ByteOrder::Intel => [lo, mid, hi],
            ByteOrder::Pdp11 => [hi, lo, mid],
            ByteOrder::M68k => [hi, mid, lo],
        };
        b[..3].copy_from_slice(&x);
    }
}

/// Which header layout (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Short,
    ShortIno32,
    Int,
}

/// Field offsets of one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields {
    /// Size of the `short`/`int` fields: c_type, c_volume, c_magic, c_checksum, c_count.
    pub word: usize,
    pub c_type: usize,
    pub c_date: usize,
    pub c_ddate: usize,
    pub c_volume: usize,
    pub c_tapea: usize,
    pub c_inumber: usize,
    pub ino_size: usize,
    pub c_magic: usize,
    pub c_checksum: usize,
    pub c_dinode: usize,
    pub c_count: usize,
    pub c_addr: usize,
}

impl Shape {
    pub const fn fields(self) -> Fields {
        match self {
            Shape::Short => Fields {
                word: 2,
                c_type: 0,
                c_date: 2,
                c_ddate: 6,
                c_volume: 10,
                c_tapea: 12,
                c_inumber: 16,
                ino_size: 2,
                c_magic: 18,
                c_checksum: 20,
                c_dinode: 22,
                c_count: 86,
                c_addr: 88,
            },
            Shape::ShortIno32 => Fields {
                word: 2,
                c_type: 0,
                c_date: 2,
                c_ddate: 6,
                c_volume: 10,
                c_tapea: 12,
                c_inumber: 16,
                ino_size: 4,
                c_magic: 20,
                c_checksum: 22,
                c_dinode: 24,
                c_count: 88,
                c_addr: 90,
            },
            Shape::Int => Fields {
                word: 4,
                c_type: 0,
                c_date: 4,
                c_ddate: 8,
                c_volume: 12,
                c_tapea: 16,
                c_inumber: 20,
                ino_size: 2,
                c_magic: 24,
                c_checksum: 28,
                c_dinode: 32,
                c_count: 96,
                c_addr: 100,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Shape::Short => "short",
            Shape::ShortIno32 => "short-ino32",
            Shape::Int => "int",
        }
    }
}

/// One member of the family: byte order, header shape and block size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Variant {
    pub order: ByteOrder,
    pub shape: Shape,
    /// BSIZE: 512 (V7, XENIX 3.x, the seed) or 1024 (2.9BSD, XENIX's "new 1024 byte file
    /// system").
    pub bsize: usize,
}

/// The candidates a reader tries, in order of preference when two fit equally well.
pub const CANDIDATES: [(ByteOrder, Shape); 4] = [
    (ByteOrder::Intel, Shape::Short),
    (ByteOrder::M68k, Shape::Short),
    (ByteOrder::Intel, Shape::ShortIno32),
    (ByteOrder::M68k, Shape::Int),
];

/// The block sizes of the family.
pub const BLOCK_SIZES: [usize; 2] = [512, 1024];

impl Variant {
    pub const fn new(order: ByteOrder, shape: Shape, bsize: usize) -> Variant {
        Variant {
            order,
            shape,
            bsize,
        }
    }

    /// XENIX on Intel with 512-byte blocks: what relic writes by default.
    pub const XENIX_512: Variant = Variant::new(ByteOrder::Intel, Shape::Short, 512);

    pub fn fields(&self) -> Fields {
        self.shape.fields()
    }

    /// Blocks per tape record (`NTREC`).
    pub fn ntrec(&self) -> usize {
        RECORD_BYTES / self.bsize
    }

    /// Addresses per indirect block (`NINDIR` = BSIZE / sizeof(daddr_t)): the c_count of a
    /// TS_ADDR header.
    pub fn nindir(&self) -> usize {
        self.bsize / 4
    }

    /// Flags that fit in a header block.
    pub fn max_count(&self) -> usize {
        self.bsize - self.fields().c_addr
    }

    /// The largest file the V7 inode can address: 10 direct blocks, then NINDIR, NINDIR^2 and
    /// NINDIR^3 through the single, double and triple indirect blocks, and `off_t` di_size is
    /// a signed 32-bit value. 512-byte blocks: 2,113,674 blocks = 1,082,201,088 bytes;
    /// 1024-byte blocks: the 2^31-1 of di_size is the tighter limit.
    pub fn max_file_size(&self) -> u64 {
        let n = self.nindir() as u64;
        let blocks = NDIRECT as u64 + n + n * n + n * n * n;
        (blocks * self.bsize as u64).min(i32::MAX as u64)
    }

    /// A readable name: `intel-short-512`, `pdp11-short-1024`, `68k-int-1024`, ...
    pub fn name(&self) -> String {
        format!("{}-{}-{}", self.order.name(), self.shape.name(), self.bsize)
    }

    /// What the variant is usually called.
    pub fn family(&self) -> &'static str {
        match (self.order, self.shape, self.bsize) {
            (ByteOrder::Intel, Shape::Short, _) => "XENIX backup",
            (ByteOrder::Intel, Shape::ShortIno32, _) => "XENIX backup, 4-byte inode numbers",
            (ByteOrder::Pdp11, Shape::Short, 512) => "V7 dump (PDP-11)",
            (ByteOrder::Pdp11, _, _) => "2.9BSD dump (PDP-11, 1 KiB blocks)",
            (ByteOrder::M68k, Shape::Short, _) => "V7-derived dump on 68k (short fields)",
            (ByteOrder::M68k, _, _) => "V7-derived dump on 68k (int fields)",
            _ => "V7-family dump",
        }
    }

    /// A `short`/`int` field (type, volume, magic, checksum, count).
    fn get_word(&self, b: &[u8]) -> u32 {
        if self.fields().word == 2 {
            u32::from(self.order.get16(b))
        } else {
            self.order.get32(b)
        }
    }

    fn put_word(&self, b: &mut [u8], v: u32) {
        if self.fields().word == 2 {
            self.order.put16(b, v as u16)
        } else {
            self.order.put32(b, v)
        }
    }

    /// The sum of the block's words, wrapping at the word size.
    pub fn sum(&self, block: &[u8]) -> u32 {
        let n = self.bsize.min(block.len());
        if self.fields().word == 2 {
            let mut s: u16 = 0;
            for w in block[..n].chunks_exact(2) {
                s = s.wrapping_add(self.order.get16(w));
            }
            u32::from(s)
        } else {
            let mut s: u32 = 0;
            for w in block[..n].chunks_exact(4) {
                s = s.wrapping_add(self.order.get32(w));
            }
            s
        }
    }

    fn checksum_target(&self) -> u32 {
        if self.fields().word == 2 {
            u32::from(CHECKSUM16)
        } else {
            CHECKSUM32
        }
    }

    /// Magic and checksum both right: the only test that makes a block a header.
    pub fn is_header(&self, block: &[u8]) -> bool {
        block.len() >= self.bsize
            && self.get_word(&block[self.fields().c_magic..]) == MAGIC
            && self.sum(block) == self.checksum_target()
    }

    /// Only the magic number is right (used to explain a bad header in an error).
    pub fn has_magic(&self, block: &[u8]) -> bool {
        block.len() >= self.bsize && self.get_word(&block[self.fields().c_magic..]) == MAGIC
    }

    /// Store c_checksum so the block sums to the target.
    pub fn set_checksum(&self, block: &mut [u8]) {
        let f = self.fields();
        self.put_word(&mut block[f.c_checksum..], 0);
        let s = self.sum(block);
        let target = self.checksum_target();
        let v = if f.word == 2 {
            u32::from((target as u16).wrapping_sub(s as u16))
        } else {
            target.wrapping_sub(s)
        };
        self.put_word(&mut block[f.c_checksum..], v);
    }

    /// The c_addr flags of a header block (the first `c_count`, capped to the block).
    pub fn flags<'a>(&self, block: &'a [u8], count: u32) -> &'a [u8] {
        let a = self.fields().c_addr;
        let n = (count as usize).min(self.max_count());
        &block[a..a + n]
    }

    /// Decode the fixed fields of a header block of at least BSIZE bytes (no validation: see
    /// [`Variant::is_header`]).
    pub fn parse(&self, block: &[u8]) -> Header {
        let f = self.fields();
        let o = self.order;
        Header {
            c_type: self.get_word(&block[f.c_type..]),
            date: o.get32(&block[f.c_date..]) as i32,
            ddate: o.get32(&block[f.c_ddate..]) as i32,
            volume: self.get_word(&block[f.c_volume..]),
            tapea: o.get32(&block[f.c_tapea..]),
            inumber: if f.ino_size == 2 {
                u32::from(o.get16(&block[f.c_inumber..]))
            } else {
                o.get32(&block[f.c_inumber..])
            },
            dinode: Dinode::parse(o, &block[f.c_dinode..f.c_dinode + DINODE_SIZE]),
            count: self.get_word(&block[f.c_count..]),
        }
    }

    /// Encode a header into `block` (BSIZE bytes): fields, `flags` into c_addr, and the
    /// checksum. Bytes not covered are zeroed.
    pub fn encode(&self, h: &Header, flags: &[u8], block: &mut [u8]) {
        let f = self.fields();
        let o = self.order;
        block[..self.bsize].fill(0);
        self.put_word(&mut block[f.c_type..], h.c_type);
        o.put32(&mut block[f.c_date..], h.date as u32);
        o.put32(&mut block[f.c_ddate..], h.ddate as u32);
        self.put_word(&mut block[f.c_volume..], h.volume);
        o.put32(&mut block[f.c_tapea..], h.tapea);
        if f.ino_size == 2 {
            o.put16(&mut block[f.c_inumber..], h.inumber as u16);
        } else {
            o.put32(&mut block[f.c_inumber..], h.inumber);
        }
        self.put_word(&mut block[f.c_magic..], MAGIC);
        h.dinode
            .encode(o, &mut block[f.c_dinode..f.c_dinode + DINODE_SIZE]);
        self.put_word(&mut block[f.c_count..], h.count);
        let n = flags.len().min(self.max_count());
        block[f.c_addr..f.c_addr + n].copy_from_slice(&flags[..n]);
        self.set_checksum(&mut block[..self.bsize]);
    }

    /// One 16-byte directory entry: inode number and name (up to the first NUL).
    pub fn dirent<'a>(&self, e: &'a [u8]) -> (u32, &'a [u8]) {
        let ino = u32::from(self.order.get16(e));
        let name = &e[2..DIRENT_SIZE];
        let len = name.iter().position(|&b| b == 0).unwrap_or(DIRSIZ);
        (ino, &name[..len])
    }

    /// Encode a directory entry (`name` at most 14 bytes).
    pub fn put_dirent(&self, e: &mut [u8], ino: u32, name: &[u8]) {
        e[..DIRENT_SIZE].fill(0);
        self.order.put16(e, ino as u16);
        let n = name.len().min(DIRSIZ);
        e[2..2 + n].copy_from_slice(&name[..n]);
    }

    /// Whether inode `ino` is set in a TS_CLRI/TS_BITS map: bit (i-1)%16 of 16-bit word
    /// (i-1)/16 (V7 `MWORD`/`MBIT`), words in the variant's 16-bit order.
    pub fn map_bit(&self, map: &[u8], ino: u32) -> bool {
        if ino == 0 {
            return false;
        }
        let i = (ino - 1) as usize;
        let w = i / MLEN * 2;
        if w + 2 > map.len() {
            return false;
        }
        self.order.get16(&map[w..]) & (1 << (i % MLEN)) != 0
    }

    /// Set inode `ino` in a map (which must be long enough).
    pub fn set_map_bit(&self, map: &mut [u8], ino: u32) {
        if ino == 0 {
            return;
        }
        let i = (ino - 1) as usize;
        let w = i / MLEN * 2;
        if w + 2 > map.len() {
            return;
        }
        let v = self.order.get16(&map[w..]) | (1 << (i % MLEN));
        self.order.put16(&mut map[w..], v);
    }

    /// Map blocks a dumper writes for a map whose last nonzero word has index `n`
    /// (V7 `bitmap`: `(n*sizeof(short) + BSIZE)/BSIZE`).
    pub fn map_blocks(&self, last_word: usize) -> usize {
        (last_word * 2 + self.bsize) / self.bsize
    }
}

/// The fixed fields of a header (c_addr stays in the block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub c_type: u32,
    /// `time_t`: signed 32-bit seconds.
    pub date: i32,
    pub ddate: i32,
    pub volume: u32,
    pub tapea: u32,
    pub inumber: u32,
    pub dinode: Dinode,
    pub count: u32,
}

/// The 64-byte V7 on-disk inode (`struct dinode`, `sys/ino.h`), offsets within it:
///
/// | off | size | field |
/// |---|---|---|
/// | 0 | 2 | di_mode: type ([`IFMT`]) and permission bits |
/// | 2 | 2 | di_nlink |
/// | 4 | 2 | di_uid |
/// | 6 | 2 | di_gid |
/// | 8 | 4 | di_size (`off_t`, 32-bit) |
/// | 12 | 40 | di_addr: 13 three-byte block addresses + 1 spare byte; for devices the first address is the device number |
/// | 52 | 4 | di_atime |
/// | 56 | 4 | di_mtime |
/// | 60 | 4 | di_ctime |
///
/// The same 64 bytes in every shape (all members are 2-byte aligned or wider).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dinode {
    pub mode: u16,
    pub nlink: u16,
    pub uid: u16,
    pub gid: u16,
    pub size: u32,
    pub addr: [u32; NADDR],
    pub atime: i32,
    pub mtime: i32,
    pub ctime: i32,
}

impl Dinode {
    pub fn parse(o: ByteOrder, b: &[u8]) -> Dinode {
        let mut addr = [0u32; NADDR];
        for (i, a) in addr.iter_mut().enumerate() {
            *a = o.get_l3(&b[12 + 3 * i..]);
        }
        Dinode {
            mode: o.get16(&b[0..]),
            nlink: o.get16(&b[2..]),
            uid: o.get16(&b[4..]),
            gid: o.get16(&b[6..]),
            size: o.get32(&b[8..]),
            addr,
            atime: o.get32(&b[52..]) as i32,
            mtime: o.get32(&b[56..]) as i32,
            ctime: o.get32(&b[60..]) as i32,
        }
    }

    pub fn encode(&self, o: ByteOrder, b: &mut [u8]) {
        b[..DINODE_SIZE].fill(0);
        o.put16(&mut b[0..], self.mode);
        o.put16(&mut b[2..], self.nlink);
        o.put16(&mut b[4..], self.uid);
        o.put16(&mut b[6..], self.gid);
        o.put32(&mut b[8..], self.size);
        for (i, a) in self.addr.iter().enumerate() {
            o.put_l3(&mut b[12 + 3 * i..], *a);
        }
        o.put32(&mut b[52..], self.atime as u32);
        o.put32(&mut b[56..], self.mtime as u32);
        o.put32(&mut b[60..], self.ctime as u32);
    }

    pub fn ifmt(&self) -> u16 {
        self.mode & IFMT
    }

    /// The device number kept in the first address (`major<<8 | minor`; on the PDP-11 the
    /// 3-byte decoding gives major = c2, minor = c1).
    pub fn device(&self) -> Device {
        let v = self.addr[0];
        Device {
            major: (v >> 8) & 0xffff,
            minor: v & 0xff,
        }
    }

    pub fn set_device(&mut self, d: Device) {
        self.addr[0] = (d.major & 0xff) << 8 | (d.minor & 0xff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_orders_match_the_tables() {
        let mut b = [0u8; 4];
        ByteOrder::Pdp11.put32(&mut b, 0x1234_5678);
        assert_eq!(b, [0x34, 0x12, 0x78, 0x56]);
        assert_eq!(ByteOrder::Pdp11.get32(&b), 0x1234_5678);
        ByteOrder::Intel.put32(&mut b, 0x1234_5678);
        assert_eq!(b, [0x78, 0x56, 0x34, 0x12]);
        ByteOrder::M68k.put32(&mut b, 0x1234_5678);
        assert_eq!(b, [0x12, 0x34, 0x56, 0x78]);
        // l3tol: PDP-11 c0<<16 | c2<<8 | c1
        assert_eq!(ByteOrder::Pdp11.get_l3(&[0x01, 0x02, 0x03]), 0x01_03_02);
        assert_eq!(ByteOrder::Intel.get_l3(&[0x01, 0x02, 0x03]), 0x03_02_01);
        assert_eq!(ByteOrder::M68k.get_l3(&[0x01, 0x02, 0x03]), 0x01_02_03);
        for o in ByteOrder::ALL {
            let mut x = [0u8; 3];
            o.put_l3(&mut x, 0xabcdef);
            assert_eq!(o.get_l3(&x), 0xabcdef, "{o:?}");
        }
    }

    #[test]
    fn pdp11_device_is_major_c2_minor_c1() {
        // research note §2.1: on the PDP-11 major = c2, minor = c1
        let mut b = [0u8; 64];
        b[12] = 0;
        b[13] = 5; // c1 = minor
        b[14] = 3; // c2 = major
        let d = Dinode::parse(ByteOrder::Pdp11, &b);
        assert_eq!((d.device().major, d.device().minor), (3, 5));
    }

    #[test]
    fn checksums_hit_the_targets_in_every_shape() {
        for (order, shape) in CANDIDATES
            .into_iter()
            .chain([(ByteOrder::Pdp11, Shape::Short)])
        {
            for bsize in BLOCK_SIZES {
                let v = Variant::new(order, shape, bsize);
                let mut block = vec![0u8; bsize];
                let h = Header {
                    c_type: TS_INODE,
                    date: 500_000_000,
                    volume: 1,
                    inumber: 77,
                    count: 10,
                    dinode: Dinode {
                        mode: IFREG | 0o644,
                        size: 1234,
                        ..Dinode::default()
                    },
                    ..Header::default()
                };
                v.encode(&h, &[1, 0, 1], &mut block);
                assert!(v.is_header(&block), "{}", v.name());
                assert_eq!(v.parse(&block), h);
                assert_eq!(v.flags(&block, 3), &[1, 0, 1]);
                block[bsize - 1] ^= 1;
                assert!(!v.is_header(&block));
            }
        }
        assert_eq!(CHECKSUM16, 18910);
    }

    #[test]
    fn file_size_limits() {
        assert_eq!(Variant::XENIX_512.max_file_size(), 1_082_201_088);
        let v = Variant::new(ByteOrder::Intel, Shape::Short, 1024);
        assert_eq!(v.max_file_size(), i32::MAX as u64);
        assert_eq!(v.ntrec(), 10);
        assert_eq!(Variant::XENIX_512.ntrec(), 20);
    }

    #[test]
    fn map_bits_are_word_based() {
        let v = Variant::new(ByteOrder::M68k, Shape::Short, 512);
        let mut map = vec![0u8; 4];
        v.set_map_bit(&mut map, 1);
        v.set_map_bit(&mut map, 9);
        v.set_map_bit(&mut map, 17);
        // big-endian words: inode 1 is the low bit of the first word's second byte
        assert_eq!(map, [0x01, 0x01, 0x00, 0x01]);
        assert!(v.map_bit(&map, 9) && !v.map_bit(&map, 2) && !v.map_bit(&map, 1000));
        assert_eq!(v.map_blocks(0), 1);
        assert_eq!(v.map_blocks(4095), 16);
    }
}
