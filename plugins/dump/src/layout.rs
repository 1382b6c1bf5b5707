//! On-tape structures of the BSD dump family: the 1024-byte header record (`union u_spcl`)
//! in its four 32-bit generations, the inode copies inside it, the checksum, record types and
//! flags. Everything else in the crate reads and writes headers through [`Header`] and
//! [`Layout`], so every offset lives here, next to the source that states it.
//!
//! Sources (see `shared/research/dump-family.md`, section numbers in brackets):
//! - 4.2/4.3/4.4BSD and Linux header: CSRG `include/protocols/dumprestore.h`, Linux dump
//!   `compat/include/protocols/dumprestore.h` [2.4, 2.6]; checked against Linux dump 0.4b47
//!   output (`fixtures/dump/`).
//! - IRIX: the 4.3BSD-Tahoe header, big-endian, "sun_dinode" with 16-bit ids [2.5].
//! - 4.1BSD "old format" OFS_MAGIC: the `s_ospcl` layout that 4.3BSD and Linux restore
//!   convert from [2.3].
//! - FreeBSD UFS2 (FS_UFS2_MAGIC): FreeBSD `include/protocols/dumprestore.h` [2.7].
//!
//! Header record, 4.2BSD .. Linux (NFS_MAGIC; IRIX identical up to c_flags):
//!
//! | off | size | field | source |
//! |---:|---:|---|---|
//! | 0 | 4 | c_type | 4.2BSD |
//! | 4 | 4 | c_date (this dump) | 4.2BSD |
//! | 8 | 4 | c_ddate (base dump) | 4.2BSD |
//! | 12 | 4 | c_volume | 4.2BSD |
//! | 16 | 4 | c_tapea (TP_BSIZE units, counted over all volumes) | 4.2BSD |
//! | 20 | 4 | c_inumber | 4.2BSD |
//! | 24 | 4 | c_magic | 4.2BSD |
//! | 28 | 4 | c_checksum | 4.2BSD |
//! | 32 | 128 | c_dinode (see [`Dinode`]) | 4.2BSD |
//! | 160 | 4 | c_count | 4.2BSD |
//! | 164 | 512 | c_addr (1 = data block follows, 0 = hole) | 4.2BSD |
//! | 676 | 16 | c_label | 4.3BSD-Tahoe |
//! | 692 | 4 | c_level | 4.3BSD-Tahoe |
//! | 696 | 64 | c_filesys | 4.3BSD-Tahoe |
//! | 760 | 64 | c_dev | 4.3BSD-Tahoe |
//! | 824 | 64 | c_host | 4.3BSD-Tahoe |
//! | 888 | 4 | c_flags | 4.3BSD (1987) |
//! | 892 | 4 | c_firstrec | 4.4BSD (1991); 0 on IRIX |
//! | 896 | 4 | c_ntrec | Linux only |
//! | 900 | 4 | c_extattributes | Linux only (3 = ext2 xattr blob) |
//! | 904 | 120 | spare | |
//!
//! Inode copy, 4.2/4.3/IRIX ("old inode format") and 4.4/Linux ("new", `new_bsd_inode`),
//! offsets relative to c_dinode (+32):
//!
//! | off | size | old format | new format |
//! |---:|---:|---|---|
//! | 0 | 2 | mode | mode |
//! | 2 | 2 | nlink (IRIX writes 0) | nlink |
//! | 4 | 2 | uid | old 16-bit uid |
//! | 6 | 2 | gid | old 16-bit gid |
//! | 8 | 8 | size (quad, in the dump's byte order) | size |
//! | 16 | 4+4 | atime, spare | atime sec, usec (Linux) / nsec (4.4BSD) |
//! | 24 | 4+4 | mtime, spare | mtime |
//! | 32 | 4+4 | ctime, spare | ctime |
//! | 40 | 48 | db\[12\]; db\[0\] = rdev | same |
//! | 88 | 12 | ib\[3\] | same |
//! | 100 | 4 | flags | flags (ext2 chattr flags on Linux) |
//! | 104 | 4 | blocks | blocks |
//! | 108 | 4 | gen | gen |
//! | 112 | 4 | spare | uid (32-bit) |
//! | 116 | 4 | spare | gid (32-bit) |
//! | 120 | 8 | spare | spare |

use relic_model::{Error, Result};

/// Size of a tape block (header or data record).
pub const TP_BSIZE: usize = 1024;
/// Entries of c_addr in a 1024-byte header.
pub const TP_NINDIR: usize = 512;
/// Entries of c_addr in a 4.1BSD old-format header.
pub const OFS_NINDIR: usize = 256;
/// Default blocking factor (records of NTREC blocks) and the high-density one.
pub const NTREC: u32 = 10;
pub const HIGHDENSITYTREC: u32 = 32;
/// The largest blocking factor accepted: 1 MiB records (Linux dump `-b 1024`).
pub const MAX_NTREC: u32 = 1024;

pub const OFS_MAGIC: u32 = 60011;
pub const NFS_MAGIC: u32 = 60012;
pub const UFS2_MAGIC: u32 = 0x1954_0119;
/// All 256 32-bit words of a header sum to this (wrapping).
pub const CHECKSUM: i32 = 84446;

/// Root directory inode.
pub const ROOTINO: u32 = 2;
/// Directory block size inside dump directory data.
pub const DIRBLKSIZ: usize = 512;

// record types (c_type)
pub const TS_TAPE: i32 = 1;
pub const TS_INODE: i32 = 2;
pub const TS_BITS: i32 = 3;
pub const TS_ADDR: i32 = 4;
pub const TS_END: i32 = 5;
pub const TS_CLRI: i32 = 6;
/// TS_TAPE's value in CSRG's short-lived 1986 numbering; accepted as TS_TAPE.
pub const TS_TAPE_1986: i32 = 7;

// c_flags
pub const DR_NEWHEADER: i32 = 0x0001;
pub const DR_NEWINODEFMT: i32 = 0x0002;
pub const DR_COMPRESSED: i32 = 0x0080;
pub const DR_METAONLY: i32 = 0x0100;
pub const DR_EXTATTRIBUTES: i32 = 0x8000;

/// c_extattributes value of an ext2 xattr blob (Linux dump).
pub const EXT_XATTR: i32 = 3;

// header field offsets (see the table above)
pub const OFF_TYPE: usize = 0;
pub const OFF_DATE: usize = 4;
pub const OFF_DDATE: usize = 8;
pub const OFF_VOLUME: usize = 12;
pub const OFF_TAPEA: usize = 16;
pub const OFF_INUMBER: usize = 20;
pub const OFF_MAGIC: usize = 24;
pub const OFF_CHECKSUM: usize = 28;
pub const OFF_DINODE: usize = 32;
pub const OFF_COUNT: usize = 160;
pub const OFF_ADDR: usize = 164;
pub const OFF_LABEL: usize = 676;
pub const OFF_LEVEL: usize = 692;
pub const OFF_FILESYS: usize = 696;
pub const OFF_DEV: usize = 760;
pub const OFF_HOST: usize = 824;
pub const OFF_FLAGS: usize = 888;
pub const OFF_FIRSTREC: usize = 892;
pub const OFF_NTREC: usize = 896;
pub const OFF_EXTATTR: usize = 900;
pub const LBLSIZE: usize = 16;
pub const NAMELEN: usize = 64;

// 4.1BSD old format (s_ospcl; Linux restore `gethead`, 4.3BSD restore `tape.c`)
pub const OFS_OFF_INUMBER: usize = 20; // u16 + 2 pad
pub const OFS_OFF_DINODE: usize = 32; // 64-byte V7 inode, little-endian
pub const OFS_OFF_COUNT: usize = 96;
pub const OFS_OFF_ADDR: usize = 100;

// FreeBSD UFS2 header: c_old_date/ddate/tapea stay at 4/8/16; 64-bit ones at the end
pub const UFS2_OFF_MODE: usize = 32;
pub const UFS2_OFF_SIZE: usize = 40;
pub const UFS2_OFF_ATIMENSEC: usize = 52;
pub const UFS2_OFF_MTIMENSEC: usize = 60;
pub const UFS2_OFF_RDEV: usize = 72;
pub const UFS2_OFF_BIRTHNSEC: usize = 76;
pub const UFS2_OFF_BIRTHTIME: usize = 80;
pub const UFS2_OFF_ATIME: usize = 88;
pub const UFS2_OFF_MTIME: usize = 96;
pub const UFS2_OFF_EXTSIZE: usize = 104;
pub const UFS2_OFF_FILEFLAGS: usize = 132;
pub const UFS2_OFF_UID: usize = 144;
pub const UFS2_OFF_GID: usize = 148;
pub const UFS2_OFF_DATE: usize = 896;
pub const UFS2_OFF_DDATE: usize = 904;
pub const UFS2_OFF_TAPEA: usize = 912;
pub const UFS2_OFF_FIRSTREC: usize = 920;

/// Byte order of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endian {
    Little,
    Big,
}

impl Endian {
    pub fn u16(self, b: &[u8], off: usize) -> u16 {
        let a = [b[off], b[off + 1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }
    pub fn u32(self, b: &[u8], off: usize) -> u32 {
        let a = [b[off], b[off + 1], b[off + 2], b[off + 3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }
    pub fn i32(self, b: &[u8], off: usize) -> i32 {
        self.u32(b, off) as i32
    }
    pub fn u64(self, b: &[u8], off: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[off..off + 8]);
        match self {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        }
    }
    pub fn put_u16(self, b: &mut [u8], off: usize, v: u16) {
        let a = match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        b[off..off + 2].copy_from_slice(&a);
    }
    pub fn put_u32(self, b: &mut [u8], off: usize, v: u32) {
        let a = match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        b[off..off + 4].copy_from_slice(&a);
    }
    pub fn put_i32(self, b: &mut [u8], off: usize, v: i32) {
        self.put_u32(b, off, v as u32)
    }
    pub fn put_u64(self, b: &mut [u8], off: usize, v: u64) {
        let a = match self {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        b[off..off + 8].copy_from_slice(&a);
    }
}

/// Which header generation a dump uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// 4.2BSD .. 4.4BSD, Linux, IRIX, SunOS: c_magic = NFS_MAGIC (60012).
    Nfs,
    /// The Tahoe layout with c_magic = 60011, as the IRIX dump(5) page documents it (what
    /// `irix-dump --magic 60011` writes). Big-endian.
    Tahoe60011,
    /// 4.1BSD old format, OFS_MAGIC 60011 in a differently cut 1024-byte header.
    Ofs,
    /// FreeBSD 5+ UFS2 header (FS_UFS2_MAGIC).
    Ufs2,
}

/// How to read the headers of one dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub endian: Endian,
    pub generation: Generation,
}

impl Layout {
    pub fn magic(&self) -> u32 {
        match self.generation {
            Generation::Nfs => NFS_MAGIC,
            Generation::Tahoe60011 | Generation::Ofs => OFS_MAGIC,
            Generation::Ufs2 => UFS2_MAGIC,
        }
    }

    /// Short name for messages and `VolumeInfo::variant`.
    pub fn name(&self) -> &'static str {
        match (self.generation, self.endian) {
            (Generation::Nfs, Endian::Little) => "nfs-le",
            (Generation::Nfs, Endian::Big) => "nfs-be",
            (Generation::Tahoe60011, _) => "tahoe-60011-be",
            (Generation::Ofs, _) => "4.1bsd-ofs",
            (Generation::Ufs2, Endian::Little) => "ufs2-le",
            (Generation::Ufs2, Endian::Big) => "ufs2-be",
        }
    }
}

/// The 32-bit checksum sum of a 1024-byte header, in the given byte order.
pub fn checksum_sum(b: &[u8], endian: Endian) -> i32 {
    // one loop per byte order, over whole words: the compiler vectorises it (every header
    // read is summed, so this is on the path of every record)
    let words = b[..TP_BSIZE].chunks_exact(4);
    let sum = match endian {
        Endian::Little => words.fold(0u32, |s, w| {
            s.wrapping_add(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        }),
        Endian::Big => words.fold(0u32, |s, w| {
            s.wrapping_add(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        }),
    };
    sum as i32
}

/// Store c_checksum so the header sums to [`CHECKSUM`].
pub fn set_checksum(b: &mut [u8], endian: Endian) {
    endian.put_i32(b, OFF_CHECKSUM, 0);
    let sum = checksum_sum(b, endian);
    endian.put_i32(b, OFF_CHECKSUM, CHECKSUM.wrapping_sub(sum));
}

/// Whether `b` (at least 1024 bytes) is a valid header of `layout`: magic AND checksum.
pub fn is_header(b: &[u8], layout: &Layout) -> bool {
    b.len() >= TP_BSIZE
        && layout.endian.u32(b, OFF_MAGIC) == layout.magic()
        && checksum_sum(&b[..TP_BSIZE], layout.endian) == CHECKSUM
}

/// Recognise the layout of a first header: magic and checksum must both hold. The 60011
/// magic is ambiguous: little-endian it is the 4.1BSD old format (VAX), big-endian the
/// Tahoe layout of the IRIX manual page.
pub fn detect(b: &[u8]) -> Option<Layout> {
    if b.len() < TP_BSIZE {
        return None;
    }
    for endian in [Endian::Little, Endian::Big] {
        if checksum_sum(&b[..TP_BSIZE], endian) != CHECKSUM {
            continue;
        }
        let generation = match endian.u32(b, OFF_MAGIC) {
            NFS_MAGIC => Generation::Nfs,
            UFS2_MAGIC => Generation::Ufs2,
            OFS_MAGIC if endian == Endian::Little => Generation::Ofs,
            OFS_MAGIC => Generation::Tahoe60011,
            _ => continue,
        };
        return Some(Layout { endian, generation });
    }
    None
}

/// A timestamp as stored: seconds and nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Time {
    pub secs: i64,
    pub nanos: u32,
}

/// The inode copy of a header, neutral across the generations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dinode {
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime: Time,
    pub mtime: Time,
    pub ctime: Time,
    pub birth: Option<Time>,
    /// db\[0\] and db\[1\] as stored (device numbers live in db\[0\]; Linux ext2 large device
    /// numbers in db\[1\]).
    pub rdev: [u32; 2],
    pub flags: u32,
    pub blocks: u32,
    pub gen: u32,
    /// UFS2 extended-attribute area size.
    pub extsize: u32,
}

/// A decoded header record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub c_type: i32,
    pub date: i64,
    pub ddate: i64,
    pub volume: i32,
    pub tapea: i64,
    pub inumber: u32,
    pub dinode: Dinode,
    pub count: i32,
    pub addr: Vec<u8>,
    pub label: Vec<u8>,
    pub level: i32,
    pub filesys: Vec<u8>,
    pub dev: Vec<u8>,
    pub host: Vec<u8>,
    pub flags: i32,
    pub firstrec: i64,
    pub ntrec: i32,
    pub extattributes: i32,
}

impl Default for Header {
    fn default() -> Header {
        Header {
            c_type: 0,
            date: 0,
            ddate: 0,
            volume: 0,
            tapea: 0,
            inumber: 0,
            dinode: Dinode::default(),
            count: 0,
            addr: vec![0; TP_NINDIR],
            label: Vec::new(),
            level: 0,
            filesys: Vec::new(),
            dev: Vec::new(),
            host: Vec::new(),
            flags: 0,
            firstrec: 0,
            ntrec: 0,
            extattributes: 0,
        }
    }
}

/// A NUL-terminated (or full) fixed-size string field.
pub fn cstr(b: &[u8]) -> Vec<u8> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b[..end].to_vec()
}

fn put_str(b: &mut [u8], off: usize, len: usize, s: &[u8]) {
    let n = s.len().min(len - 1);
    b[off..off + n].copy_from_slice(&s[..n]);
}

/// How inode copies are to be read, decided from the volume header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InodeFormat {
    /// DR_NEWINODEFMT: 32-bit ids at +112/+116.
    pub new: bool,
    /// Linux dump (c_ntrec set): the second word of each time is microseconds; 4.4BSD
    /// keeps nanoseconds there.
    pub usec: bool,
}

impl Header {
    /// Decode a 1024-byte record the caller has already verified with [`is_header`].
    pub fn decode(b: &[u8], layout: &Layout, ifmt: InodeFormat) -> Header {
        let e = layout.endian;
        match layout.generation {
            Generation::Nfs | Generation::Tahoe60011 => {
                let d = &b[OFF_DINODE..OFF_DINODE + 128];
                let time = |off: usize| {
                    let secs = e.i32(d, off) as i64;
                    let sub = e.u32(d, off + 4);
                    let nanos = if !ifmt.new {
                        0
                    } else if ifmt.usec {
                        if sub < 1_000_000 {
                            sub * 1000
                        } else {
                            0
                        }
                    } else if sub < 1_000_000_000 {
                        sub
                    } else {
                        0
                    };
                    Time { secs, nanos }
                };
                let (uid, gid) = if ifmt.new {
                    (e.u32(d, 112), e.u32(d, 116))
                } else {
                    (e.u16(d, 4) as u32, e.u16(d, 6) as u32)
                };
                Header {
                    c_type: e.i32(b, OFF_TYPE),
                    date: e.i32(b, OFF_DATE) as i64,
                    ddate: e.i32(b, OFF_DDATE) as i64,
                    volume: e.i32(b, OFF_VOLUME),
                    tapea: e.i32(b, OFF_TAPEA) as i64,
                    inumber: e.u32(b, OFF_INUMBER),
                    dinode: Dinode {
                        mode: e.u16(d, 0) as u32,
                        nlink: e.u16(d, 2) as u32,
                        uid,
                        gid,
                        size: e.u64(d, 8),
                        atime: time(16),
                        mtime: time(24),
                        ctime: time(32),
                        birth: None,
                        rdev: [e.u32(d, 40), e.u32(d, 44)],
                        flags: e.u32(d, 100),
                        blocks: e.u32(d, 104),
                        gen: e.u32(d, 108),
                        extsize: 0,
                    },
                    count: e.i32(b, OFF_COUNT),
                    addr: b[OFF_ADDR..OFF_ADDR + TP_NINDIR].to_vec(),
                    label: cstr(&b[OFF_LABEL..OFF_LABEL + LBLSIZE]),
                    level: e.i32(b, OFF_LEVEL),
                    filesys: cstr(&b[OFF_FILESYS..OFF_FILESYS + NAMELEN]),
                    dev: cstr(&b[OFF_DEV..OFF_DEV + NAMELEN]),
                    host: cstr(&b[OFF_HOST..OFF_HOST + NAMELEN]),
                    flags: e.i32(b, OFF_FLAGS),
                    firstrec: e.i32(b, OFF_FIRSTREC) as i64,
                    ntrec: e.i32(b, OFF_NTREC),
                    extattributes: e.i32(b, OFF_EXTATTR),
                }
            }
            Generation::Ofs => {
                // V7 inode, little-endian: mode, nlink, uid, gid (u16), size (u32), addr[40]
                // whose first 4 bytes restore reads as rdev, atime, mtime, ctime (u32).
                let d = &b[OFS_OFF_DINODE..OFS_OFF_DINODE + 64];
                let t = |off: usize| Time {
                    secs: e.i32(d, off) as i64,
                    nanos: 0,
                };
                let mut addr = vec![0u8; TP_NINDIR];
                addr[..OFS_NINDIR].copy_from_slice(&b[OFS_OFF_ADDR..OFS_OFF_ADDR + OFS_NINDIR]);
                Header {
                    c_type: e.i32(b, OFF_TYPE),
                    date: e.i32(b, OFF_DATE) as i64,
                    ddate: e.i32(b, OFF_DDATE) as i64,
                    volume: e.i32(b, OFF_VOLUME),
                    tapea: e.i32(b, OFF_TAPEA) as i64,
                    inumber: e.u16(b, OFS_OFF_INUMBER) as u32,
                    dinode: Dinode {
                        mode: e.u16(d, 0) as u32,
                        nlink: e.u16(d, 2) as u32,
                        uid: e.u16(d, 4) as u32,
                        gid: e.u16(d, 6) as u32,
                        size: e.u32(d, 8) as u64,
                        atime: t(52),
                        mtime: t(56),
                        ctime: t(60),
                        birth: None,
                        rdev: [e.u32(d, 12) & 0x00ff_ffff, 0],
                        ..Dinode::default()
                    },
                    count: e.i32(b, OFS_OFF_COUNT),
                    addr,
                    ..Header::default()
                }
            }
            Generation::Ufs2 => {
                let ts = |secs_off: usize, nsec_off: usize| Time {
                    secs: e.u64(b, secs_off) as i64,
                    nanos: {
                        let n = e.u32(b, nsec_off);
                        if n < 1_000_000_000 {
                            n
                        } else {
                            0
                        }
                    },
                };
                let mtime = ts(UFS2_OFF_MTIME, UFS2_OFF_MTIMENSEC);
                let birth = ts(UFS2_OFF_BIRTHTIME, UFS2_OFF_BIRTHNSEC);
                Header {
                    c_type: e.i32(b, OFF_TYPE),
                    date: e.u64(b, UFS2_OFF_DATE) as i64,
                    ddate: e.u64(b, UFS2_OFF_DDATE) as i64,
                    volume: e.i32(b, OFF_VOLUME),
                    tapea: e.u64(b, UFS2_OFF_TAPEA) as i64,
                    inumber: e.u32(b, OFF_INUMBER),
                    dinode: Dinode {
                        mode: e.u16(b, UFS2_OFF_MODE) as u32,
                        nlink: 0,
                        uid: e.u32(b, UFS2_OFF_UID),
                        gid: e.u32(b, UFS2_OFF_GID),
                        size: e.u64(b, UFS2_OFF_SIZE),
                        atime: ts(UFS2_OFF_ATIME, UFS2_OFF_ATIMENSEC),
                        mtime,
                        // UFS2 dump headers carry no ctime
                        ctime: mtime,
                        birth: (birth.secs != 0 || birth.nanos != 0).then_some(birth),
                        rdev: [e.u32(b, UFS2_OFF_RDEV), 0],
                        flags: e.u32(b, UFS2_OFF_FILEFLAGS),
                        blocks: 0,
                        gen: 0,
                        extsize: e.u32(b, UFS2_OFF_EXTSIZE),
                    },
                    count: e.i32(b, OFF_COUNT),
                    addr: b[OFF_ADDR..OFF_ADDR + TP_NINDIR].to_vec(),
                    label: cstr(&b[OFF_LABEL..OFF_LABEL + LBLSIZE]),
                    level: e.i32(b, OFF_LEVEL),
                    filesys: cstr(&b[OFF_FILESYS..OFF_FILESYS + NAMELEN]),
                    dev: cstr(&b[OFF_DEV..OFF_DEV + NAMELEN]),
                    host: cstr(&b[OFF_HOST..OFF_HOST + NAMELEN]),
                    flags: e.i32(b, OFF_FLAGS),
                    firstrec: e.u64(b, UFS2_OFF_FIRSTREC) as i64,
                    ntrec: 0,
                    extattributes: 0,
                }
            }
        }
    }

    /// Number of c_addr entries this generation has.
    pub fn nindir(layout: &Layout) -> usize {
        if layout.generation == Generation::Ofs {
            OFS_NINDIR
        } else {
            TP_NINDIR
        }
    }

    /// Encode in the Tahoe/NFS layout (what relic writes: IRIX and Linux flavours), with
    /// the checksum. `ifmt.new` selects the 4.4/Linux inode copy.
    pub fn encode(&self, endian: Endian, magic: u32, ifmt: InodeFormat) -> [u8; TP_BSIZE] {
        let mut b = [0u8; TP_BSIZE];
        let e = endian;
        e.put_i32(&mut b, OFF_TYPE, self.c_type);
        e.put_i32(&mut b, OFF_DATE, self.date as i32);
        e.put_i32(&mut b, OFF_DDATE, self.ddate as i32);
        e.put_i32(&mut b, OFF_VOLUME, self.volume);
        e.put_i32(&mut b, OFF_TAPEA, self.tapea as i32);
        e.put_u32(&mut b, OFF_INUMBER, self.inumber);
        e.put_u32(&mut b, OFF_MAGIC, magic);
        {
            let d = &mut b[OFF_DINODE..OFF_DINODE + 128];
            let n = &self.dinode;
            e.put_u16(d, 0, n.mode as u16);
            e.put_u16(d, 2, n.nlink.min(u16::MAX as u32) as u16);
            e.put_u16(d, 4, n.uid as u16);
            e.put_u16(d, 6, n.gid as u16);
            e.put_u64(d, 8, n.size);
            let sub = |t: Time| {
                if !ifmt.new {
                    0
                } else if ifmt.usec {
                    t.nanos / 1000
                } else {
                    t.nanos
                }
            };
            for (off, t) in [(16, n.atime), (24, n.mtime), (32, n.ctime)] {
                e.put_i32(d, off, t.secs as i32);
                e.put_u32(d, off + 4, sub(t));
            }
            e.put_u32(d, 40, n.rdev[0]);
            e.put_u32(d, 44, n.rdev[1]);
            e.put_u32(d, 100, n.flags);
            e.put_u32(d, 104, n.blocks);
            e.put_u32(d, 108, n.gen);
            if ifmt.new {
                e.put_u32(d, 112, n.uid);
                e.put_u32(d, 116, n.gid);
            }
        }
        e.put_i32(&mut b, OFF_COUNT, self.count);
        let n = self.addr.len().min(TP_NINDIR);
        b[OFF_ADDR..OFF_ADDR + n].copy_from_slice(&self.addr[..n]);
        put_str(&mut b, OFF_LABEL, LBLSIZE, &self.label);
        e.put_i32(&mut b, OFF_LEVEL, self.level);
        put_str(&mut b, OFF_FILESYS, NAMELEN, &self.filesys);
        put_str(&mut b, OFF_DEV, NAMELEN, &self.dev);
        put_str(&mut b, OFF_HOST, NAMELEN, &self.host);
        e.put_i32(&mut b, OFF_FLAGS, self.flags);
        e.put_i32(&mut b, OFF_FIRSTREC, self.firstrec as i32);
        e.put_i32(&mut b, OFF_NTREC, self.ntrec);
        e.put_i32(&mut b, OFF_EXTATTR, self.extattributes);
        set_checksum(&mut b, endian);
        b
    }

    /// Number of data blocks that follow this header on tape.
    pub fn data_blocks(&self, layout: &Layout) -> Result<u64> {
        match self.c_type {
            TS_CLRI | TS_BITS => {
                if self.count < 0 {
                    return Err(Error::corrupt(format!(
                        "map header with a negative block count {}",
                        self.count
                    )));
                }
                Ok(self.count as u64)
            }
            TS_INODE | TS_ADDR => {
                let n = Self::nindir(layout);
                if self.count < 0 || self.count as usize > n {
                    return Err(Error::corrupt(format!(
                        "c_count {} outside 0..={n}",
                        self.count
                    )));
                }
                Ok(self.addr[..self.count as usize]
                    .iter()
                    .filter(|&&a| a != 0)
                    .count() as u64)
            }
            // TS_TAPE's c_count counts blocks that belong to the file in progress; TS_END
            // carries leftovers: neither announces data of its own.
            _ => Ok(0),
        }
    }
}

/// File type bits of a mode.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFSOCK: u32 = 0o140000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_detect_and_decode() {
        for (endian, new) in [(Endian::Big, false), (Endian::Little, true)] {
            let ifmt = InodeFormat { new, usec: true };
            let mut h = Header {
                c_type: TS_INODE,
                date: 1_600_000_000,
                inumber: 77,
                count: 3,
                level: 4,
                label: b"lbl".to_vec(),
                host: b"host".to_vec(),
                ..Header::default()
            };
            h.addr[0] = 1;
            h.addr[2] = 1;
            h.dinode.mode = S_IFREG | 0o640;
            h.dinode.uid = 1001;
            h.dinode.size = 5000;
            h.dinode.mtime = Time {
                secs: 1_500_000_000,
                nanos: if new { 123_456_000 } else { 0 },
            };
            let b = h.encode(endian, NFS_MAGIC, ifmt);
            let l = detect(&b).expect("valid header");
            assert_eq!(l.endian, endian);
            assert_eq!(l.generation, Generation::Nfs);
            assert!(is_header(&b, &l));
            let d = Header::decode(&b, &l, ifmt);
            assert_eq!(d, h);
            assert_eq!(d.data_blocks(&l).expect("count"), 2);
            let mut bad = b;
            bad[700] ^= 1;
            assert!(detect(&bad).is_none(), "checksum must be verified");
        }
    }

    #[test]
    fn sixty_eleven_is_ofs_little_and_tahoe_big() {
        let h = Header {
            c_type: TS_TAPE,
            ..Header::default()
        };
        let ifmt = InodeFormat {
            new: false,
            usec: false,
        };
        let be = h.encode(Endian::Big, OFS_MAGIC, ifmt);
        assert_eq!(
            detect(&be).map(|l| l.generation),
            Some(Generation::Tahoe60011)
        );
        let le = h.encode(Endian::Little, OFS_MAGIC, ifmt);
        assert_eq!(detect(&le).map(|l| l.generation), Some(Generation::Ofs));
    }
}
