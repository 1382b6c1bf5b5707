//! On-media structures of the AIX backup "dword" format: every header type with its field
//! offsets, decoded into plain structs and encoded back.
//!
//! Source of every fact: research note `../shared/research/aix-backup.md` (cited as §n).
//! "verified" there means checked byte for byte on the real samples in
//! `../shared/corpus/aix`; "source" means IBM documentation or header files; "inferred"
//! means without a sample. Where this module relies on an inferred fact it says so.
//!
//! Conventions (§1.1, verified): a *dword* is 8 bytes; every header starts with the 6-byte
//! common part `len:u8` (header length in dwords, name included), `type:u8`, `magic:u16`,
//! `checksum:u16`; **every multi-byte field is little-endian on every machine** (AIX swaps
//! on big-endian POWER/ROMP/370); headers and file data start on dword boundaries; names are
//! NUL-terminated and padded to the next dword with bytes that may be stale (they are
//! covered by the checksum, so they are kept, never cleaned, when verifying). Times are
//! 32-bit signed seconds since 1970 UTC.
//!
//! The AIX 3+ by-inode format (a 4.3BSD dump port with 1024-byte big-endian headers) is a
//! different format altogether: see [`crate::bsd`].

use crate::checksum;

/// Bytes per dword.
pub const DWORD: usize = 8;
/// Longest header: `len` is a u8 count of dwords.
pub const MAX_HEADER: usize = 255 * DWORD;

/// Header magic numbers (§1.3; 60011/60012 verified, the others from AIX 4.1/5.3
/// `dumprestor.h`).
pub mod magic {
    /// Normal header (MAGIC / OFS_MAGIC / BYNAME_MAGIC).
    pub const MAGIC: u16 = 60011;
    /// The record's file data is a pack(1) Huffman stream (PACKED_MAGIC).
    pub const PACKED: u16 = 60012;
    /// "B1 V1" headers (a TCSEC-B1 security variant; never seen).
    pub const B1V1: u16 = 60013;
    pub const B1V1_PACKED: u16 = 60014;
    /// "B1 V2" headers (file(1) knows `09 00 6F EA`).
    pub const B1V2: u16 = 60015;
    pub const B1V2_PACKED: u16 = 60016;
    /// JFS2 directory format (by-inode).
    pub const JFS2: u16 = 60017;
}

/// Header type values (§1.4; 0-11 from the AIX 4.1 header, 12-15 from AIX 5.3; 0, 1, 3,
/// 7, 8, 9 and 11 verified in samples).
pub mod ty {
    pub const VOLUME: u8 = 0;
    pub const FINDEX: u8 = 1;
    pub const CLRI: u8 = 2;
    pub const BITS: u8 = 3;
    pub const OINODE: u8 = 4;
    pub const ONAME: u8 = 5;
    pub const VOLEND: u8 = 6;
    pub const END: u8 = 7;
    /// FS_DINODE (PC/IX, AIX/RT: FS_INODE).
    pub const DINODE: u8 = 8;
    /// FS_NAME, the 16-bit by-name record ("version 2").
    pub const NAME: u8 = 9;
    /// FS_DS, obsolete Distributed Services remote backup.
    pub const DS: u8 = 10;
    /// FS_NAME_X, AIX 3.1+ by-name record with 32-bit fields and a security block.
    pub const NAME_X: u8 = 11;
    /// FS_NAME_LF, AIX 5+ large-file by-name record (64-bit sizes).
    pub const NAME_LF: u8 = 12;
    /// FS_NAME_EA, FS_NAME_ACL, FS_NAME_E (AIX 5.3+): layouts not public.
    pub const NAME_EA: u8 = 13;
    pub const NAME_ACL: u8 = 14;
    pub const NAME_E: u8 = 15;

    /// The IBM name of a type, for messages.
    pub fn name(t: u8) -> &'static str {
        match t {
            VOLUME => "FS_VOLUME",
            FINDEX => "FS_FINDEX",
            CLRI => "FS_CLRI",
            BITS => "FS_BITS",
            OINODE => "FS_OINODE",
            ONAME => "FS_ONAME",
            VOLEND => "FS_VOLEND",
            END => "FS_END",
            DINODE => "FS_DINODE",
            NAME => "FS_NAME",
            DS => "FS_DS",
            NAME_X => "FS_NAME_X",
            NAME_LF => "FS_NAME_LF",
            NAME_EA => "FS_NAME_EA",
            NAME_ACL => "FS_NAME_ACL",
            NAME_E => "FS_NAME_E",
            _ => "unknown",
        }
    }

    /// Length rule of a type in dwords: `(minimum, exact)`. AIX 4.1 restore rejects a
    /// header whose `len` differs from the table; name records may be longer (§1.4).
    pub fn len_rule(t: u8) -> Option<(u8, bool)> {
        Some(match t {
            VOLUME => (9, true),
            FINDEX => (62, true),
            CLRI | BITS | VOLEND | END => (1, true),
            OINODE => (5, true),
            ONAME => (6, false),
            DINODE => (6, true),
            NAME => (7, false),
            DS => (2, false),
            NAME_X => (9, false),
            NAME_LF => (10, false),
            _ => return None,
        })
    }
}

/// `incno` values of the volume header (§1.6.1).
pub mod incno {
    /// By-name backup.
    pub const BYNAME: i16 = 100;
    /// By-inode backup (AIX; PC/IX stores the level as an ASCII digit instead).
    pub const BYINODE: i16 = 101;
    /// Minidisk backup (rejected by AIX 4 restore).
    pub const BYMD: i16 = 102;
}

/// `numwds` of a volume without a fixed size (tape, file, stdout): MAXINT (§1.6.1).
pub const NUMWDS_UNBOUNDED: u32 = 0x7FFF_FFFF;

/// Mode bits AIX keeps above the 16 Unix bits of FS_NAME_X `mode` (§1.6.5).
pub const S_IXACL: u32 = 0x0200_0000;
/// JFS2 "journalled" flag seen on directories (§1.6.5).
pub const S_IFJOURNAL: u32 = 0x0001_0000;

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
fn put16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// The 6-byte common part of every header (§1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Common {
    /// Header length in dwords (name included).
    pub len: u8,
    pub rtype: u8,
    pub magic: u16,
    pub checksum: u16,
}

impl Common {
    /// Decode from the first 6 bytes.
    pub fn decode(b: &[u8]) -> Common {
        Common {
            len: b[0],
            rtype: b[1],
            magic: le16(b, 2),
            checksum: le16(b, 4),
        }
    }
    pub fn is_packed(&self) -> bool {
        self.magic == magic::PACKED
    }
}

/// Start a header of `len` dwords: the common part with checksum 0.
fn header(len: u8, rtype: u8, magic: u16) -> Vec<u8> {
    let mut h = vec![0u8; len as usize * DWORD];
    h[0] = len;
    h[1] = rtype;
    put16(&mut h, 2, magic);
    h
}

/// A fixed 16-byte NUL-padded string field.
fn put_str16(b: &mut [u8], o: usize, s: &[u8]) {
    let n = s.len().min(15);
    b[o..o + n].copy_from_slice(&s[..n]);
}

/// The bytes of a NUL-terminated string field (up to the first NUL).
pub fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// FS_VOLUME, type 0, len 9 = 72 bytes (§1.6.1, verified).
///
/// | off | type | field |
/// |---|---|---|
/// | 6 | u16 | volnum (1-based) |
/// | 8 | s32 | date of this backup |
/// | 12 | s32 | budate ("changed since"; by-name: = date; level 0: 0) |
/// | 16 | u32 | numwds: dwords on this volume including this header; MAXINT unbounded |
/// | 20 | char[16] | disk |
/// | 36 | char[16] | fsname |
/// | 52 | char[16] | user |
/// | 68 | s16 | incno: 100 by-name, 101 by-inode, 102 minidisk; PC/IX by-inode: ASCII level digit |
/// | 70 | 2 bytes | padding |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volnum: u16,
    pub date: i32,
    pub budate: i32,
    pub numwds: u32,
    pub disk: Vec<u8>,
    pub fsname: Vec<u8>,
    pub user: Vec<u8>,
    pub incno: i16,
}

impl Volume {
    pub const LEN: usize = 72;

    pub fn decode(b: &[u8]) -> Volume {
        Volume {
            volnum: le16(b, 6),
            date: le32(b, 8) as i32,
            budate: le32(b, 12) as i32,
            numwds: le32(b, 16),
            disk: cstr(&b[20..36]).to_vec(),
            fsname: cstr(&b[36..52]).to_vec(),
            user: cstr(&b[52..68]).to_vec(),
            incno: le16(b, 68) as i16,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut h = header(9, ty::VOLUME, magic::MAGIC);
        put16(&mut h, 6, self.volnum);
        put32(&mut h, 8, self.date as u32);
        put32(&mut h, 12, self.budate as u32);
        put32(&mut h, 16, self.numwds);
        put_str16(&mut h, 20, &self.disk);
        put_str16(&mut h, 36, &self.fsname);
        put_str16(&mut h, 52, &self.user);
        put16(&mut h, 68, self.incno as u16);
        checksum::set_dword(&mut h);
        h
    }

    /// Bytes on this volume, header included, or None for an unbounded volume (MAXINT; a
    /// numwds of 0 is also read as unbounded: the synthetic bffextract-rs sample has it).
    pub fn bytes(&self) -> Option<u64> {
        match self.numwds {
            0 | NUMWDS_UNBOUNDED => None,
            n => Some(n as u64 * DWORD as u64),
        }
    }

    /// The level of a by-inode backup: PC/IX stores it as an ASCII digit (§1.6.1).
    pub fn level(&self) -> Option<u8> {
        match self.incno {
            48..=57 => Some((self.incno - 48) as u8),
            0..=9 => Some(self.incno as u8),
            _ => None,
        }
    }
}

/// FS_FINDEX, type 1, len 62 = 496 bytes (§1.6.2, verified on PC/IX): a per-volume index
/// for random access on disk media. Readers may skip it; relic's writer omits it (tapes
/// never have one).
///
/// | off | type | field |
/// |---|---|---|
/// | 6 | u16 | dummy (alignment) |
/// | 8 | u16[80] | inode numbers (0 = unused slot) |
/// | 168 | s32[80] | dword address of that inode's header from the start of this volume |
/// | 488 | s32 | dword address of the next FS_FINDEX on this volume, 0 = last |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findex {
    pub entries: Vec<(u16, i32)>,
    pub link: i32,
}

impl Findex {
    pub const SLOTS: usize = 80;

    pub fn decode(b: &[u8]) -> Findex {
        let entries = (0..Self::SLOTS)
            .map(|i| (le16(b, 8 + 2 * i), le32(b, 168 + 4 * i) as i32))
            .filter(|(ino, _)| *ino != 0)
            .collect();
        Findex {
            entries,
            link: le32(b, 488) as i32,
        }
    }
}

/// FS_CLRI / FS_BITS, types 2/3, len 1 (§1.6.3, BITS verified): `u16 nwds` at 6, then
/// `nwds * 8` bytes of bitmap after the header (not covered by `len` or the checksum). Bit
/// for inode *i*: byte `(i-1)/8`, mask `1 << ((i-1)%8)`. CLRI: 0 = inode not in use; BITS:
/// 1 = inode is on this or a later volume.
pub fn encode_map_header(rtype: u8, nwds: u16) -> Vec<u8> {
    let mut h = header(1, rtype, magic::MAGIC);
    put16(&mut h, 6, nwds);
    checksum::set_dword(&mut h);
    h
}

/// `nwds` of a FS_CLRI/FS_BITS header.
pub fn map_nwds(b: &[u8]) -> u16 {
    le16(b, 6)
}

/// FS_DS, type 10, `len` ≥ 2 (§1.6.7, source only): an obsolete Distributed Services remote
/// backup header: nid[8] @6, qdir @14, a path from byte 16 to the NUL; only right after
/// FS_VOLUME on volume 1 of a by-name backup. AIX restore prints the path and asks to
/// confirm; relic reports it and reads on.
pub fn ds_path(b: &[u8]) -> &[u8] {
    cstr(b.get(16..).unwrap_or(&[]))
}

/// FS_VOLEND / FS_END, 1 dword: the common part and 2 bytes of padding (§1.6.7).
pub fn encode_end(rtype: u8) -> Vec<u8> {
    let mut h = header(1, rtype, magic::MAGIC);
    checksum::set_dword(&mut h);
    h
}

/// The fields of any file record, decoded to common widths. Which fields a record type
/// has, and where, is in the decoders below.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileHeader {
    pub rtype: u8,
    pub packed: bool,
    pub ino: u32,
    /// Full mode: Unix type and permission bits in the low 16 bits, AIX flags above.
    pub mode: u32,
    pub nlink: i32,
    pub uid: u32,
    pub gid: u32,
    /// Original size.
    pub size: i64,
    pub atime: i32,
    pub mtime: i32,
    pub ctime: i32,
    pub devmaj: u32,
    pub devmin: u32,
    pub rdevmaj: u32,
    pub rdevmin: u32,
    /// Stored length (= size unless packed; directories carry st_size here but no data).
    pub dsize: i64,
    /// The name as stored (up to its NUL), for name records.
    pub name: Option<Vec<u8>>,
}

impl FileHeader {
    /// Whether a security block follows (FS_NAME_X / FS_NAME_LF, not for symlinks;
    /// §1.6.5, from the AIX 4.1 backup and restore sources).
    pub fn has_security(&self) -> bool {
        matches!(self.rtype, ty::NAME_X | ty::NAME_LF) && self.mode & 0o170000 != 0o120000
    }

    /// Bytes of file data following the header (and security block): `packed ? dsize :
    /// size` (restore's rule, §1.6.4). Negative values are returned as is for the caller
    /// to reject.
    pub fn stored_len(&self) -> i64 {
        if self.packed {
            self.dsize
        } else {
            self.size
        }
    }

    /// FS_DINODE (8) / FS_NAME (9), the 16-bit generation (§1.6.4, verified on PC/IX):
    ///
    /// | off | type | field |
    /// |---|---|---|
    /// | 6 | u16 | ino |
    /// | 8 | u16 | mode |
    /// | 10 | s16 | nlink |
    /// | 12 | u16 | uid |
    /// | 14 | u16 | gid |
    /// | 16 | s32 | size |
    /// | 20 | s32 | atime |
    /// | 24 | s32 | mtime |
    /// | 28 | s32 | ctime |
    /// | 32 | u16 | devmaj |
    /// | 34 | u16 | devmin |
    /// | 36 | u16 | rdevmaj (devices only; PC/IX leaves junk on other files) |
    /// | 38 | u16 | rdevmin |
    /// | 40 | s32 | dsize |
    /// | 44 | s32 | pad |
    /// | 48 | char[] | FS_NAME only: name |
    pub fn decode16(c: &Common, b: &[u8]) -> FileHeader {
        FileHeader {
            rtype: c.rtype,
            packed: c.is_packed(),
            ino: le16(b, 6) as u32,
            mode: le16(b, 8) as u32,
            nlink: le16(b, 10) as i16 as i32,
            uid: le16(b, 12) as u32,
            gid: le16(b, 14) as u32,
            size: le32(b, 16) as i32 as i64,
            atime: le32(b, 20) as i32,
            mtime: le32(b, 24) as i32,
            ctime: le32(b, 28) as i32,
            devmaj: le16(b, 32) as u32,
            devmin: le16(b, 34) as u32,
            rdevmaj: le16(b, 36) as u32,
            rdevmin: le16(b, 38) as u32,
            dsize: le32(b, 40) as i32 as i64,
            name: (c.rtype == ty::NAME).then(|| cstr(&b[48..]).to_vec()),
        }
    }

    /// FS_OINODE (4) / FS_ONAME (5), obsolete, 40-byte fixed part (§1.6.7, source only):
    /// ino, mode, nlink, uid, gid u16 @6..14, size @16, atime @20, mtime @24, ctime @28,
    /// dev u16 @32, rdev u16 @34, dsize @36, name @40.
    pub fn decode_old(c: &Common, b: &[u8]) -> FileHeader {
        let rdev = le16(b, 34);
        FileHeader {
            rtype: c.rtype,
            packed: c.is_packed(),
            ino: le16(b, 6) as u32,
            mode: le16(b, 8) as u32,
            nlink: le16(b, 10) as i16 as i32,
            uid: le16(b, 12) as u32,
            gid: le16(b, 14) as u32,
            size: le32(b, 16) as i32 as i64,
            atime: le32(b, 20) as i32,
            mtime: le32(b, 24) as i32,
            ctime: le32(b, 28) as i32,
            devmaj: (le16(b, 32) >> 8) as u32,
            devmin: (le16(b, 32) & 0xff) as u32,
            rdevmaj: (rdev >> 8) as u32,
            rdevmin: (rdev & 0xff) as u32,
            dsize: le32(b, 36) as i32 as i64,
            name: (c.rtype == ty::ONAME).then(|| cstr(&b[40..]).to_vec()),
        }
    }

    /// FS_NAME_X (11), AIX 3.1 to 7 (§1.6.5, verified on AIX 6/7 and IBM images), fixed
    /// part 64 bytes:
    ///
    /// | off | type | field |
    /// |---|---|---|
    /// | 6 | s16 | nlink |
    /// | 8 | u32 | ino (AIX 7: 0 for files, counting down from 0xFFFFFFFF for dirs) |
    /// | 12 | u32 | mode (low 16 bits Unix; S_IXACL 0x02000000, 0x00010000 above) |
    /// | 16 | u32 | uid |
    /// | 20 | u32 | gid |
    /// | 24 | s32 | size (0 for directories) |
    /// | 28 | s32 | atime |
    /// | 32 | s32 | mtime |
    /// | 36 | s32 | ctime |
    /// | 40 | u32 | devmaj |
    /// | 44 | u32 | devmin |
    /// | 48 | u32 | rdevmaj |
    /// | 52 | u32 | rdevmin |
    /// | 56 | s32 | dsize (stored length if packed, else st_size) |
    /// | 60 | s32 | pad |
    /// | 64 | char[] | name |
    pub fn decode_x(c: &Common, b: &[u8]) -> FileHeader {
        FileHeader {
            rtype: c.rtype,
            packed: c.is_packed(),
            nlink: le16(b, 6) as i16 as i32,
            ino: le32(b, 8),
            mode: le32(b, 12),
            uid: le32(b, 16),
            gid: le32(b, 20),
            size: le32(b, 24) as i32 as i64,
            atime: le32(b, 28) as i32,
            mtime: le32(b, 32) as i32,
            ctime: le32(b, 36) as i32,
            devmaj: le32(b, 40),
            devmin: le32(b, 44),
            rdevmaj: le32(b, 48),
            rdevmin: le32(b, 52),
            dsize: le32(b, 56) as i32 as i64,
            name: Some(cstr(&b[64..]).to_vec()),
        }
    }

    /// FS_NAME_LF (12), AIX 5+ (§1.6.6, **source only, no sample**), fixed part 72 bytes:
    /// nlink s16 @6, ino u32 @8, mode @12, uid @16, gid @20, size s64 @24, atime s32 @32,
    /// mtime @36, ctime @40, devmaj u32 @44, devmin @48, rdevmaj @52, rdevmin @56, pad @60,
    /// dsize s64 @64, name @72. The same security block as FS_NAME_X is assumed to follow
    /// (unverified).
    pub fn decode_lf(c: &Common, b: &[u8]) -> FileHeader {
        FileHeader {
            rtype: c.rtype,
            packed: c.is_packed(),
            nlink: le16(b, 6) as i16 as i32,
            ino: le32(b, 8),
            mode: le32(b, 12),
            uid: le32(b, 16),
            gid: le32(b, 20),
            size: le64(b, 24) as i64,
            atime: le32(b, 32) as i32,
            mtime: le32(b, 36) as i32,
            ctime: le32(b, 40) as i32,
            devmaj: le32(b, 44),
            devmin: le32(b, 48),
            rdevmaj: le32(b, 52),
            rdevmin: le32(b, 56),
            dsize: le64(b, 64) as i64,
            name: Some(cstr(&b[72..]).to_vec()),
        }
    }

    /// Whether a type-12 record looks like an AIX PS/2 native FS_NAME rather than
    /// FS_NAME_LF (§1.4 "the clash"): the high half of the 64-bit size at 28 would be an
    /// atime there. Sizes of 2^48 bytes and more are taken as that sign.
    pub fn lf_looks_like_ps2(b: &[u8]) -> bool {
        le32(b, 28) >= 0x1_0000
    }

    /// Encode as FS_DINODE or FS_NAME (the 16-bit fields must fit: the writer's
    /// capabilities make sure they do).
    pub fn encode16(&self) -> Vec<u8> {
        let name = self.name.as_deref().unwrap_or(b"");
        let len = if self.rtype == ty::NAME {
            6 + (name.len() + 1).div_ceil(DWORD)
        } else {
            6
        };
        let mut h = header(len as u8, self.rtype, self.magic());
        put16(&mut h, 6, self.ino as u16);
        put16(&mut h, 8, self.mode as u16);
        put16(&mut h, 10, self.nlink as i16 as u16);
        put16(&mut h, 12, self.uid as u16);
        put16(&mut h, 14, self.gid as u16);
        put32(&mut h, 16, self.size as i32 as u32);
        put32(&mut h, 20, self.atime as u32);
        put32(&mut h, 24, self.mtime as u32);
        put32(&mut h, 28, self.ctime as u32);
        put16(&mut h, 32, self.devmaj as u16);
        put16(&mut h, 34, self.devmin as u16);
        put16(&mut h, 36, self.rdevmaj as u16);
        put16(&mut h, 38, self.rdevmin as u16);
        put32(&mut h, 40, self.dsize as i32 as u32);
        if self.rtype == ty::NAME {
            h[48..48 + name.len()].copy_from_slice(name);
        }
        checksum::set_dword(&mut h);
        h
    }

    /// Encode as FS_NAME_X.
    pub fn encode_x(&self) -> Vec<u8> {
        let name = self.name.as_deref().unwrap_or(b"");
        let len = 8 + (name.len() + 1).div_ceil(DWORD);
        let mut h = header(len as u8, ty::NAME_X, self.magic());
        put16(&mut h, 6, self.nlink as i16 as u16);
        put32(&mut h, 8, self.ino);
        put32(&mut h, 12, self.mode);
        put32(&mut h, 16, self.uid);
        put32(&mut h, 20, self.gid);
        put32(&mut h, 24, self.size as i32 as u32);
        put32(&mut h, 28, self.atime as u32);
        put32(&mut h, 32, self.mtime as u32);
        put32(&mut h, 36, self.ctime as u32);
        put32(&mut h, 40, self.devmaj);
        put32(&mut h, 44, self.devmin);
        put32(&mut h, 48, self.rdevmaj);
        put32(&mut h, 52, self.rdevmin);
        put32(&mut h, 56, self.dsize as i32 as u32);
        h[64..64 + name.len()].copy_from_slice(name);
        checksum::set_dword(&mut h);
        h
    }

    /// Encode as FS_NAME_LF.
    pub fn encode_lf(&self) -> Vec<u8> {
        let name = self.name.as_deref().unwrap_or(b"");
        let len = 9 + (name.len() + 1).div_ceil(DWORD);
        let mut h = header(len as u8, ty::NAME_LF, self.magic());
        put16(&mut h, 6, self.nlink as i16 as u16);
        put32(&mut h, 8, self.ino);
        put32(&mut h, 12, self.mode);
        put32(&mut h, 16, self.uid);
        put32(&mut h, 20, self.gid);
        put64(&mut h, 24, self.size as u64);
        put32(&mut h, 32, self.atime as u32);
        put32(&mut h, 36, self.mtime as u32);
        put32(&mut h, 40, self.ctime as u32);
        put32(&mut h, 44, self.devmaj);
        put32(&mut h, 48, self.devmin);
        put32(&mut h, 52, self.rdevmaj);
        put32(&mut h, 56, self.rdevmin);
        put64(&mut h, 64, self.dsize as u64);
        h[72..72 + name.len()].copy_from_slice(name);
        checksum::set_dword(&mut h);
        h
    }

    fn magic(&self) -> u16 {
        if self.packed {
            magic::PACKED
        } else {
            magic::MAGIC
        }
    }
}

/// Longest name a name record can hold: `len` ≤ 255 dwords, minus the fixed part, minus
/// the NUL.
pub const fn max_name(fixed_dwords: usize) -> usize {
    (255 - fixed_dwords) * DWORD - 1
}

/// The FS_NAME_X / FS_NAME_LF security block (§1.6.5, verified), not covered by `len` nor
/// the checksum:
///
/// | off (rel.) | type | field |
/// |---|---|---|
/// | 0 | u32 | aclsize: ACL length in dwords |
/// | 4 | u32 | pclsize: PCL length in dwords |
/// | 8 | aclsize*8 bytes | AIX `struct acl`: u32 acl_len (bytes), u32 acl_mode, u16 rsvd, u16 u_access, u16 g_access, u16 o_access, then ACEs (ids inside are big-endian: not swapped) |
/// | … | pclsize*8 bytes | AIX `struct pcl`: u32 pcl_len, u32 pcl_mode, u32 priv[2], entries |
pub mod security {
    use super::{le32, put16, put32};

    /// The largest ACL or PCL relic reads (`aclsize`/`pclsize` come from the input).
    pub const MAX_PART: usize = 64 * 1024;

    /// The block AIX writes for a file without extended ACL/PCL: ACL {acl_len 16,
    /// acl_mode 0, rsvd 0, u/g/o access = the three rwx triplets of mode} and PCL
    /// {pcl_len 16, pcl_mode = mode, priv 0, 0} (§1.6.5, verified, 40 bytes with the sizes).
    pub fn minimal_acl(mode: u32) -> [u8; 16] {
        let mut a = [0u8; 16];
        put32(&mut a, 0, 16);
        put16(&mut a, 10, ((mode >> 6) & 7) as u16);
        put16(&mut a, 12, ((mode >> 3) & 7) as u16);
        put16(&mut a, 14, (mode & 7) as u16);
        a
    }

    pub fn minimal_pcl(mode: u32) -> [u8; 16] {
        let mut p = [0u8; 16];
        put32(&mut p, 0, 16);
        put32(&mut p, 4, mode);
        p
    }

    /// Whether an ACL says nothing beyond the permission bits: 16 bytes, no ACEs, acl_mode
    /// without S_IXACL (the reserved word may hold stale bytes: AIX does not clear it).
    pub fn acl_is_minimal(acl: &[u8]) -> bool {
        acl.len() >= 16
            && le32(acl, 0) == 16
            && le32(acl, 4) & super::S_IXACL == 0
            && acl[16..].iter().all(|&b| b == 0)
    }

    /// Whether a PCL holds no privileges.
    pub fn pcl_is_minimal(pcl: &[u8]) -> bool {
        pcl.len() >= 16 && le32(pcl, 0) == 16 && pcl[8..].iter().all(|&b| b == 0)
    }

    /// `acl_len` of an ACL.
    pub fn acl_len(acl: &[u8]) -> Option<u32> {
        (acl.len() >= 4).then(|| le32(acl, 0))
    }
}

/// Name component AIX 7 gives the pseudo-file carrying a directory's NFS4 ACL as text
/// (§1.6.5, verified sample, semantics inferred).
pub const NFS4_SIDE_NAME: &[u8] = b"\x7f\x7f";

/// A V7 directory entry of PC/IX by-inode directories (§1.6.4, verified): `u16le ino`,
/// 14-byte NUL-padded name; ino 0 = free slot.
pub const V7_DIRENT: usize = 16;
/// Longest V7 name.
pub const V7_NAME: usize = 14;

/// Decode one V7 entry.
pub fn v7_dirent(b: &[u8]) -> (u16, &[u8]) {
    (le16(b, 0), cstr(&b[2..16]))
}

/// Encode one V7 entry.
pub fn v7_encode(ino: u16, name: &[u8], out: &mut Vec<u8>) {
    let mut e = [0u8; V7_DIRENT];
    put16(&mut e, 0, ino);
    let n = name.len().min(V7_NAME);
    e[2..2 + n].copy_from_slice(&name[..n]);
    out.extend_from_slice(&e);
}

/// The root inode of a by-inode file system.
pub const ROOT_INO: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_round_trip_and_checksum() {
        let v = Volume {
            volnum: 1,
            date: 1_716_804_274,
            budate: 1_716_804_274,
            numwds: NUMWDS_UNBOUNDED,
            disk: b"by name".to_vec(),
            fsname: b"by name".to_vec(),
            user: b"root".to_vec(),
            incno: incno::BYNAME,
        };
        let b = v.encode();
        assert_eq!(&b[..4], &[9, 0, 0x6b, 0xea]);
        assert_eq!(Volume::decode(&b), v);
        assert_eq!(
            crate::checksum::dword(&b),
            Common::decode(&b).checksum,
            "encode fills in the checksum"
        );
    }

    #[test]
    fn name_x_round_trip() {
        let f = FileHeader {
            rtype: ty::NAME_X,
            packed: true,
            ino: 7,
            mode: 0o100644 | S_IXACL,
            nlink: 1,
            uid: 388113,
            gid: 21803,
            size: 57382,
            atime: 1,
            mtime: 2,
            ctime: 3,
            devmaj: 10,
            devmin: 8,
            rdevmaj: 0,
            rdevmin: 0,
            dsize: 34568,
            name: Some(b"./usr/lpp/x".to_vec()),
        };
        let b = f.encode_x();
        assert_eq!(b.len(), (8 + 2) * 8);
        let c = Common::decode(&b);
        assert!(c.is_packed());
        assert_eq!(FileHeader::decode_x(&c, &b), f);
        let lf = FileHeader {
            rtype: ty::NAME_LF,
            size: 5 << 30,
            dsize: 5 << 30,
            ..f.clone()
        };
        let b = lf.encode_lf();
        assert_eq!(FileHeader::decode_lf(&Common::decode(&b), &b), lf);
        let n16 = FileHeader {
            rtype: ty::NAME,
            packed: false,
            uid: 5,
            gid: 2,
            mode: 0o104555,
            ..f
        };
        let b = n16.encode16();
        assert_eq!(FileHeader::decode16(&Common::decode(&b), &b), n16);
    }
}
