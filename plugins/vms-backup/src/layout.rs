//! On-media structures of an OpenVMS BACKUP save set, field by field, and the small value
//! encodings they use (VMS time, UIC, protection, counted strings, the RMS FAT).
//!
//! Source of every fact: the research note `shared/research/vms-backup.md` (§1.2 block header,
//! §1.5 record header, §1.6 record types, §1.7 attribute lists, §1.8 FAT); the offsets were
//! checked there against 777 DEC-written save sets, and the ones marked "unverified" in the
//! note (record types 2, 5-10, attribute codes of /IMAGE and /PHYSICAL) are taken from
//! HoffmanLabs' `vmsconstants.h` as the note reports them. All integers are little-endian.
//!
//! [`crate::blocks`] uses [`Bbh`] to validate blocks, [`crate::read`] walks [`Brh`] records and
//! decodes [`AttrList`]s, [`crate::write`] builds the same structures.

use relic_model::{Error, Result, Timestamp};

/// Size of the block header (BBH) at the start of every save-set block.
pub const BBH_SIZE: usize = 256;
/// Size of a record header (BRH).
pub const BRH_SIZE: usize = 16;
/// A VBN / LBN: one 512-byte disk block.
pub const VBN_SIZE: usize = 512;
/// Smallest and largest block size BACKUP documents (research note §1.11).
pub const MIN_BLOCK: u32 = 2048;
pub const MAX_BLOCK: u32 = 65534;
/// `BBH$W_STRUCLEV` and the attribute-list structure level: version 1, level 1.
pub const STRUCLEV: u16 = 0x0101;
/// Largest redundancy group we accept (BACKUP documents 0-100).
pub const MAX_GROUP: u32 = 255;

/// BBH field offsets (research note §1.2).
pub mod bbh {
    /// u16 BBH$W_SIZE: header size, always 256.
    pub const SIZE: usize = 0;
    /// u16 BBH$W_OPSYS: 0x0400 VAX, 0x0800 Alpha, 0x1000 I64, 0x2000 x86-64, 0x0004 RSTS/E.
    pub const OPSYS: usize = 2;
    /// u16 BBH$W_SUBSYS: 1 (BACKUP).
    pub const SUBSYS: usize = 4;
    /// u16 BBH$W_APPLIC: 1 data block, 2 XOR (redundancy) block.
    pub const APPLIC: usize = 6;
    /// u32 BBH$L_NUMBER: block number from 1, XOR blocks included.
    pub const NUMBER: usize = 8;
    /// u16 BBH$W_STRUCLEV: 0x0101.
    pub const STRUCLEV: usize = 32;
    /// u16 BBH$W_VOLNUM: save-set volume (reel) number.
    pub const VOLNUM: usize = 34;
    /// u32 BBH$L_CRC: CRC-32 of the block (0 with /NOCRC).
    pub const CRC: usize = 36;
    /// u32 BBH$L_BLOCKSIZE.
    pub const BLOCKSIZE: usize = 40;
    /// u32 BBH$L_FLAGS: bit 0 = no block CRC.
    pub const FLAGS: usize = 44;
    /// 32 bytes BBH$T_SSNAME: save-set name, counted ASCII.
    pub const SSNAME: usize = 48;
    /// 3 x u16 BBH$W_FID: file ID of the first file in the block.
    pub const FID: usize = 80;
    /// 3 x u16 BBH$W_DID: its directory ID.
    pub const DID: usize = 86;
    /// 128 bytes BBH$T_FILENAME: its name, counted ASCII.
    pub const FILENAME: usize = 92;
    /// u8 BBH$B_RTYPE, u8 BBH$B_RATTRIB, u16 BBH$W_RSIZE, u8 BBH$B_BKTSIZE, u8 BBH$B_VFCSIZE,
    /// u16 BBH$W_MAXREC, u32 BBH$L_FILESIZE: copies of that file's FAT fields.
    pub const RTYPE: usize = 220;
    pub const RATTRIB: usize = 221;
    pub const RSIZE: usize = 222;
    pub const BKTSIZE: usize = 224;
    pub const VFCSIZE: usize = 225;
    pub const MAXREC: usize = 226;
    pub const FILESIZE: usize = 228;
    /// u16 BBH$W_CHECKSUM: CRC-16/ARC of the header (see [`crate::crc`]).
    pub const CHECKSUM: usize = 254;

    /// Flag bit: the block carries no CRC-32.
    pub const FLAG_NOCRC: u32 = 1;
    pub const APPLIC_DATA: u16 = 1;
    pub const APPLIC_XOR: u16 = 2;
}

/// Operating-system codes of BBH$W_OPSYS / the OPSYS summary attribute.
pub mod opsys {
    pub const RSTS: u16 = 0x0004;
    pub const VAX: u16 = 0x0400;
    pub const ALPHA: u16 = 0x0800;
    pub const I64: u16 = 0x1000;
    pub const X86_64: u16 = 0x2000;

    pub fn name(code: u16) -> &'static str {
        match code {
            RSTS => "RSTS/E",
            VAX => "OpenVMS VAX",
            ALPHA => "OpenVMS Alpha",
            I64 => "OpenVMS I64",
            X86_64 => "OpenVMS x86-64",
            _ => "unknown",
        }
    }
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Little-endian u16 at `off` (caller guarantees the bounds).
pub fn get_u16(b: &[u8], off: usize) -> u16 {
    u16_at(b, off)
}
/// Little-endian u32 at `off` (caller guarantees the bounds).
pub fn get_u32(b: &[u8], off: usize) -> u32 {
    u32_at(b, off)
}
pub fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}
pub fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// The decoded block header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bbh {
    pub size: u16,
    pub opsys: u16,
    pub subsys: u16,
    pub applic: u16,
    pub number: u32,
    pub struclev: u16,
    pub volnum: u16,
    pub crc: u32,
    pub blocksize: u32,
    pub flags: u32,
    pub ssname: Vec<u8>,
    pub fid: [u16; 3],
    pub did: [u16; 3],
    pub filename: Vec<u8>,
    pub rtype: u8,
    pub rattrib: u8,
    pub rsize: u16,
    pub bktsize: u8,
    pub vfcsize: u8,
    pub maxrec: u16,
    pub filesize: u32,
    pub checksum: u16,
}

impl Bbh {
    /// Decode the first 256 bytes of a block (`b` must hold at least [`BBH_SIZE`] bytes).
    pub fn parse(b: &[u8]) -> Bbh {
        let w3 = |off: usize| [u16_at(b, off), u16_at(b, off + 2), u16_at(b, off + 4)];
        Bbh {
            size: u16_at(b, bbh::SIZE),
            opsys: u16_at(b, bbh::OPSYS),
            subsys: u16_at(b, bbh::SUBSYS),
            applic: u16_at(b, bbh::APPLIC),
            number: u32_at(b, bbh::NUMBER),
            struclev: u16_at(b, bbh::STRUCLEV),
            volnum: u16_at(b, bbh::VOLNUM),
            crc: u32_at(b, bbh::CRC),
            blocksize: u32_at(b, bbh::BLOCKSIZE),
            flags: u32_at(b, bbh::FLAGS),
            ssname: ascic(&b[bbh::SSNAME..bbh::SSNAME + 32]).to_vec(),
            fid: w3(bbh::FID),
            did: w3(bbh::DID),
            filename: ascic(&b[bbh::FILENAME..bbh::FILENAME + 128]).to_vec(),
            rtype: b[bbh::RTYPE],
            rattrib: b[bbh::RATTRIB],
            rsize: u16_at(b, bbh::RSIZE),
            bktsize: b[bbh::BKTSIZE],
            vfcsize: b[bbh::VFCSIZE],
            maxrec: u16_at(b, bbh::MAXREC),
            filesize: u32_at(b, bbh::FILESIZE),
            checksum: u16_at(b, bbh::CHECKSUM),
        }
    }

    /// Encode into the first 256 bytes of `b` (CRC and checksum as stored in `self`).
    pub fn write(&self, b: &mut [u8]) {
        b[..BBH_SIZE].fill(0);
        put_u16(b, bbh::SIZE, self.size);
        put_u16(b, bbh::OPSYS, self.opsys);
        put_u16(b, bbh::SUBSYS, self.subsys);
        put_u16(b, bbh::APPLIC, self.applic);
        put_u32(b, bbh::NUMBER, self.number);
        put_u16(b, bbh::STRUCLEV, self.struclev);
        put_u16(b, bbh::VOLNUM, self.volnum);
        put_u32(b, bbh::CRC, self.crc);
        put_u32(b, bbh::BLOCKSIZE, self.blocksize);
        put_u32(b, bbh::FLAGS, self.flags);
        put_ascic(&mut b[bbh::SSNAME..bbh::SSNAME + 32], &self.ssname);
        for i in 0..3 {
            put_u16(b, bbh::FID + 2 * i, self.fid[i]);
            put_u16(b, bbh::DID + 2 * i, self.did[i]);
        }
        put_ascic(&mut b[bbh::FILENAME..bbh::FILENAME + 128], &self.filename);
        b[bbh::RTYPE] = self.rtype;
        b[bbh::RATTRIB] = self.rattrib;
        put_u16(b, bbh::RSIZE, self.rsize);
        b[bbh::BKTSIZE] = self.bktsize;
        b[bbh::VFCSIZE] = self.vfcsize;
        put_u16(b, bbh::MAXREC, self.maxrec);
        put_u32(b, bbh::FILESIZE, self.filesize);
        put_u16(b, bbh::CHECKSUM, self.checksum);
    }
}

/// Counted ASCII: one length byte, then the characters (clipped to the field).
pub fn ascic(field: &[u8]) -> &[u8] {
    match field.split_first() {
        Some((&n, rest)) => &rest[..(n as usize).min(rest.len())],
        None => &[],
    }
}

/// Store counted ASCII into a fixed field, truncating to fit.
pub fn put_ascic(field: &mut [u8], s: &[u8]) {
    field.fill(0);
    if field.is_empty() {
        return;
    }
    let n = s.len().min(field.len() - 1).min(255);
    field[0] = n as u8;
    field[1..1 + n].copy_from_slice(&s[..n]);
}

/// Record types (BRH$W_RTYPE), research note §1.6.
pub mod rtype {
    pub const NULL: u16 = 0;
    pub const SUMMARY: u16 = 1;
    pub const VOLUME: u16 = 2;
    pub const FILE: u16 = 3;
    pub const VBN: u16 = 4;
    pub const PHYSVOL: u16 = 5;
    pub const LBN: u16 = 6;
    pub const FID: u16 = 7;
    pub const FILE_EXT: u16 = 8;
    pub const LBN_576: u16 = 9;
    pub const RS_DIRATTR: u16 = 10;
    pub const ALIAS: u16 = 11;

    pub fn name(t: u16) -> &'static str {
        match t {
            NULL => "NULL",
            SUMMARY => "SUMMARY",
            VOLUME => "VOLUME",
            FILE => "FILE",
            VBN => "VBN",
            PHYSVOL => "PHYSVOL",
            LBN => "LBN",
            FID => "FID",
            FILE_EXT => "FILE_EXT",
            LBN_576 => "LBN_576",
            RS_DIRATTR => "RS_DIRATTR",
            ALIAS => "ALIAS",
            _ => "unknown",
        }
    }
}

/// BRH$L_FLAGS bits (research note §1.5; only DIRECTORY and ALIAS_ENTRY seen in samples).
pub mod brh_flags {
    pub const BADDATA: u32 = 0x01;
    pub const DIRECTORY: u32 = 0x02;
    pub const NONSEQUENTIAL: u32 = 0x04;
    pub const BLOCKERRS: u32 = 0x08;
    pub const ALIAS_ENTRY: u32 = 0x10;
    pub const HEADONLY: u32 = 0x20;
}

/// The 16-byte record header.
///
/// | off | size | field |
/// |---:|---:|---|
/// | 0 | u16 | BRH$W_RSIZE: bytes of record data after the header |
/// | 2 | u16 | BRH$W_RTYPE: record type ([`rtype`]) |
/// | 4 | u32 | BRH$L_FLAGS ([`brh_flags`]) |
/// | 8 | u32 | BRH$L_ADDRESS: first VBN (VBN records) or LBN (LBN records) |
/// | 12 | u32 | spare, 0 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Brh {
    pub rsize: u16,
    pub rtype: u16,
    pub flags: u32,
    pub address: u32,
}

impl Brh {
    pub fn parse(b: &[u8]) -> Brh {
        Brh {
            rsize: u16_at(b, 0),
            rtype: u16_at(b, 2),
            flags: u32_at(b, 4),
            address: u32_at(b, 8),
        }
    }
    pub fn write(&self, b: &mut [u8]) {
        b[..BRH_SIZE].fill(0);
        put_u16(b, 0, self.rsize);
        put_u16(b, 2, self.rtype);
        put_u32(b, 4, self.flags);
        put_u32(b, 8, self.address);
    }
}

/// Attribute codes of the SUMMARY, VOLUME, FILE and PHYSVOL records (research note §1.7).
pub mod attr {
    // SUMMARY
    pub const SSNAME: u16 = 1;
    pub const COMMAND: u16 = 2;
    pub const COMMENT: u16 = 3;
    pub const USERNAME: u16 = 4;
    pub const USERUIC: u16 = 5;
    pub const DATE: u16 = 6;
    pub const OPSYS: u16 = 7;
    pub const SYSVER: u16 = 8;
    pub const NODENAME: u16 = 9;
    pub const SIR: u16 = 10;
    pub const DRIVEID: u16 = 11;
    pub const BACKVER: u16 = 12;
    pub const BLOCKSIZE: u16 = 13;
    pub const XORSIZE: u16 = 14;
    pub const BUFFERS: u16 = 15;
    pub const VOLSETNAM: u16 = 16;
    pub const NVOLS: u16 = 17;
    pub const BACKSIZE: u16 = 18;
    pub const BACKFILES: u16 = 19;
    // VOLUME (unverified: no /IMAGE sample exists)
    pub const VOLSTRUCT: u16 = 20;
    pub const VOLNAME: u16 = 21;
    pub const OWNERNAME: u16 = 22;
    pub const FORMAT: u16 = 23;
    pub const RVN: u16 = 24;
    pub const VOLOWNER: u16 = 25;
    pub const PROTECT: u16 = 26;
    pub const FILEPROT: u16 = 27;
    pub const RECPROT: u16 = 28;
    pub const VOLCHAR: u16 = 29;
    pub const VOLDATE: u16 = 30;
    pub const WINDOW: u16 = 31;
    pub const LRU_LIM: u16 = 32;
    pub const EXTEND: u16 = 33;
    pub const CLUSTER: u16 = 34;
    pub const RESFILES: u16 = 35;
    pub const VOLSIZE: u16 = 36;
    pub const TOTSIZE: u16 = 37;
    pub const TOTFILES: u16 = 38;
    pub const MAXFILES: u16 = 39;
    pub const MAXFILNUM: u16 = 40;
    pub const SERIALNUM: u16 = 41;
    // FILE
    pub const FILENAME: u16 = 42;
    pub const STRUCLEV: u16 = 43;
    pub const FID: u16 = 44;
    pub const BACKLINK: u16 = 45;
    pub const FILESIZE: u16 = 46;
    pub const UIC: u16 = 47;
    pub const FPRO: u16 = 48;
    pub const RPRO: u16 = 49;
    pub const ACLEVEL: u16 = 50;
    pub const UCHAR: u16 = 51;
    pub const RECATTR: u16 = 52;
    pub const REVISION: u16 = 53;
    pub const CREDATE: u16 = 54;
    pub const REVDATE: u16 = 55;
    pub const EXPDATE: u16 = 56;
    pub const BAKDATE: u16 = 57;
    // PHYSVOL
    pub const SECTORS: u16 = 58;
    pub const TRACKS: u16 = 59;
    pub const CYLINDERS: u16 = 60;
    pub const MAXBLOCK: u16 = 61;
    pub const DEVTYP: u16 = 62;
    pub const SERIAL: u16 = 63;
    pub const DEVNAM: u16 = 64;
    pub const LABEL: u16 = 65;
    pub const BADBLOCK: u16 = 66;
    // /IMAGE and later
    pub const INDEXLBN: u16 = 67;
    pub const BOOTBLOCK: u16 = 68;
    pub const BOOTVBN: u16 = 69;
    pub const PLACEMENT: u16 = 70;
    pub const DIR_UIC: u16 = 71;
    pub const DIR_FPRO: u16 = 72;
    pub const DIR_STATUS: u16 = 73;
    pub const DIR_VERLIM: u16 = 74;
    pub const VERLIMIT: u16 = 75;
    pub const RETAINMIN: u16 = 76;
    pub const RETAINMAX: u16 = 77;
    pub const ACLSEGMENT: u16 = 78;
    pub const HIGHWATER: u16 = 79;
    pub const JNL_FLAGS: u16 = 80;
    pub const CRYPDATKEY: u16 = 81;
    pub const LBNSIZE: u16 = 82;
    pub const RU_ACTIVE: u16 = 87;
    pub const BACKREV: u16 = 88;
    pub const ACCDATE: u16 = 93;
    pub const ATTDATE: u16 = 94;
    pub const LINKCOUNT: u16 = 97;
    pub const CRYPAESDATKEY: u16 = 100;

    /// Observed FILE attribute order of BACKUP V5.0-V7.3 (research note §1.7): a writer that
    /// emits this sequence is indistinguishable from DEC's.
    pub const FILE_ORDER: [u16; 23] = [
        FILENAME, STRUCLEV, FID, FILESIZE, UIC, RECATTR, BACKLINK, FPRO, RPRO, ACLEVEL, UCHAR,
        VERLIMIT, JNL_FLAGS, RU_ACTIVE, HIGHWATER, REVISION, CREDATE, REVDATE, EXPDATE, BAKDATE,
        DIR_UIC, DIR_FPRO, DIR_VERLIM,
    ];

    /// A short name for messages and extras keys.
    pub fn name(code: u16) -> &'static str {
        match code {
            SSNAME => "ssname",
            COMMAND => "command",
            COMMENT => "comment",
            USERNAME => "username",
            USERUIC => "useruic",
            DATE => "date",
            OPSYS => "opsys",
            SYSVER => "sysver",
            NODENAME => "nodename",
            SIR => "sir",
            DRIVEID => "driveid",
            BACKVER => "backver",
            BLOCKSIZE => "blocksize",
            XORSIZE => "groupsize",
            BUFFERS => "buffers",
            VOLSETNAM => "volsetnam",
            NVOLS => "nvols",
            BACKSIZE => "backsize",
            BACKFILES => "backfiles",
            VOLSTRUCT => "volstruct",
            VOLNAME => "volname",
            OWNERNAME => "ownername",
            FORMAT => "format",
            RVN => "rvn",
            VOLOWNER => "volowner",
            PROTECT => "protect",
            FILEPROT => "fileprot",
            RECPROT => "recprot",
            VOLCHAR => "volchar",
            VOLDATE => "voldate",
            WINDOW => "window",
            LRU_LIM => "lru_lim",
            EXTEND => "extend",
            CLUSTER => "cluster",
            RESFILES => "resfiles",
            VOLSIZE => "volsize",
            TOTSIZE => "totsize",
            TOTFILES => "totfiles",
            MAXFILES => "maxfiles",
            MAXFILNUM => "maxfilnum",
            SERIALNUM => "serialnum",
            SECTORS => "sectors",
            TRACKS => "tracks",
            CYLINDERS => "cylinders",
            MAXBLOCK => "maxblock",
            DEVTYP => "devtyp",
            SERIAL => "serial",
            DEVNAM => "devnam",
            LABEL => "label",
            BADBLOCK => "badblock",
            _ => "attr",
        }
    }
}

/// Record formats: low nibble of FAT RTYPE.
pub mod rfm {
    pub const UDF: u8 = 0;
    pub const FIX: u8 = 1;
    pub const VAR: u8 = 2;
    pub const VFC: u8 = 3;
    pub const STM: u8 = 4;
    pub const STMLF: u8 = 5;
    pub const STMCR: u8 = 6;

    pub fn name(v: u8) -> &'static str {
        match v {
            UDF => "udf",
            FIX => "fix",
            VAR => "var",
            VFC => "vfc",
            STM => "stm",
            STMLF => "stmlf",
            STMCR => "stmcr",
            _ => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<u8> {
        (0..=6).find(|&v| name(v).eq_ignore_ascii_case(s))
    }
}

/// File organisations: high nibble of FAT RTYPE.
pub mod org {
    pub const SEQ: u8 = 0;
    pub const REL: u8 = 1;
    pub const IDX: u8 = 2;

    pub fn name(v: u8) -> &'static str {
        match v {
            SEQ => "seq",
            REL => "rel",
            IDX => "idx",
            _ => "unknown",
        }
    }
    pub fn parse(s: &str) -> Option<u8> {
        (0..=2).find(|&v| name(v).eq_ignore_ascii_case(s))
    }
}

/// Record attribute bits (FAT RATTRIB).
pub mod rat {
    pub const FTN: u8 = 0x01;
    pub const CR: u8 = 0x02;
    pub const PRN: u8 = 0x04;
    pub const BLK: u8 = 0x08;
    pub const MSB: u8 = 0x10;
    /// Any carriage-control bit.
    pub const CC: u8 = FTN | CR | PRN;

    const NAMES: [(u8, &str); 5] = [
        (FTN, "ftn"),
        (CR, "cr"),
        (PRN, "prn"),
        (BLK, "blk"),
        (MSB, "msb"),
    ];

    /// `cr,blk` style; `none` when no bit is set.
    pub fn names(v: u8) -> String {
        let parts: Vec<&str> = NAMES
            .iter()
            .filter(|(b, _)| v & b != 0)
            .map(|(_, n)| *n)
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(",")
        }
    }
    pub fn parse(s: &str) -> Option<u8> {
        let mut v = 0;
        for p in s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "none")
        {
            v |= NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(p))?.0;
        }
        Some(v)
    }
}

/// UCHAR (file characteristics) bit: the file is a directory.
pub const UCHAR_DIRECTORY: u32 = 0x2000;
/// UCHAR bit: contiguous best try (set on most kit files).
pub const UCHAR_CONTIG_BEST: u32 = 0x20;

/// The RMS file attribute area (FILE attribute 52, 32 bytes: Files-11 FH2 record
/// attributes), research note §1.8.
///
/// | off | size | field |
/// |---:|---:|---|
/// | 0 | u8 | RTYPE: org << 4 \| rfm |
/// | 1 | u8 | RATTRIB |
/// | 2 | u16 | RSIZE: fixed / longest record size |
/// | 4 | 2 x u16 | HIBLK, high word first |
/// | 8 | 2 x u16 | EFBLK, high word first |
/// | 12 | u16 | FFBYTE |
/// | 14 | u8 | BKTSIZE |
/// | 15 | u8 | VFCSIZE (0 means 2) |
/// | 16 | u16 | MAXREC |
/// | 18 | u16 | DEFEXT |
/// | 20 | u16 | GBC |
/// | 22 | 8 | zero |
/// | 30 | u16 | VERSIONS (default version limit, directories) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fat {
    pub org: u8,
    pub rfm: u8,
    pub rat: u8,
    pub rsize: u16,
    pub hiblk: u32,
    pub efblk: u32,
    pub ffbyte: u16,
    pub bktsize: u8,
    pub vfcsize: u8,
    pub maxrec: u16,
    pub defext: u16,
    pub gbc: u16,
    pub versions: u16,
}

pub const FAT_SIZE: usize = 32;

impl Fat {
    /// Decode; a short value is taken as zero-padded.
    pub fn parse(v: &[u8]) -> Fat {
        let mut b = [0u8; FAT_SIZE];
        let n = v.len().min(FAT_SIZE);
        b[..n].copy_from_slice(&v[..n]);
        let w = |o: usize| u16_at(&b, o) as u32;
        Fat {
            org: b[0] >> 4,
            rfm: b[0] & 0x0f,
            rat: b[1],
            rsize: u16_at(&b, 2),
            hiblk: w(4) << 16 | w(6),
            efblk: w(8) << 16 | w(10),
            ffbyte: u16_at(&b, 12),
            bktsize: b[14],
            vfcsize: b[15],
            maxrec: u16_at(&b, 16),
            defext: u16_at(&b, 18),
            gbc: u16_at(&b, 20),
            versions: u16_at(&b, 30),
        }
    }

    pub fn to_bytes(&self) -> [u8; FAT_SIZE] {
        let mut b = [0u8; FAT_SIZE];
        b[0] = self.org << 4 | (self.rfm & 0x0f);
        b[1] = self.rat;
        put_u16(&mut b, 2, self.rsize);
        put_u16(&mut b, 4, (self.hiblk >> 16) as u16);
        put_u16(&mut b, 6, self.hiblk as u16);
        put_u16(&mut b, 8, (self.efblk >> 16) as u16);
        put_u16(&mut b, 10, self.efblk as u16);
        put_u16(&mut b, 12, self.ffbyte);
        b[14] = self.bktsize;
        b[15] = self.vfcsize;
        put_u16(&mut b, 16, self.maxrec);
        put_u16(&mut b, 18, self.defext);
        put_u16(&mut b, 20, self.gbc);
        put_u16(&mut b, 30, self.versions);
        b
    }

    /// File length through EOF: (EFBLK - 1) x 512 + FFBYTE, 0 when EFBLK is 0.
    pub fn eof_bytes(&self) -> u64 {
        if self.efblk == 0 {
            0
        } else {
            (self.efblk as u64 - 1) * VBN_SIZE as u64 + self.ffbyte as u64
        }
    }

    /// VFC control size with the default applied.
    pub fn vfc(&self) -> u16 {
        if self.vfcsize == 0 {
            2
        } else {
            self.vfcsize as u16
        }
    }

    /// The bytes BACKUP saves for this file: through EOF for sequential files, the whole
    /// allocation for relative and indexed ones (research note §1.9).
    pub fn saved_bytes(&self) -> u64 {
        if self.org == org::SEQ {
            self.eof_bytes()
        } else {
            self.hiblk as u64 * VBN_SIZE as u64
        }
    }
}

/// VMS ticks (100 ns since 1858-11-17) at the Unix epoch.
pub const VMS_UNIX_EPOCH: u64 = 35_067_168_000_000_000;
const TICKS_PER_SEC: i128 = 10_000_000;

/// A VMS time as a timestamp (UTC assumed: VMS times carry no zone); `None` for 0.
pub fn vms_time(t: u64) -> Option<Timestamp> {
    if t == 0 {
        return None;
    }
    let rel = t as i128 - VMS_UNIX_EPOCH as i128;
    let secs = rel.div_euclid(TICKS_PER_SEC);
    let ticks = rel.rem_euclid(TICKS_PER_SEC);
    Some(Timestamp::new(secs as i64, (ticks * 100) as u32))
}

/// A timestamp as VMS ticks (clamped to the representable range; sub-100 ns dropped).
pub fn to_vms_time(ts: Timestamp) -> u64 {
    let t = ts.secs as i128 * TICKS_PER_SEC + (ts.nanos / 100) as i128 + VMS_UNIX_EPOCH as i128;
    t.clamp(1, u64::MAX as i128) as u64
}

/// `YYYY-MM-DD HH:MM:SS.fffffff` (exact: seven fraction digits are VMS's 100 ns).
pub fn format_vms_time(t: u64) -> String {
    let rel = t as i128 - VMS_UNIX_EPOCH as i128;
    let secs = rel.div_euclid(TICKS_PER_SEC) as i64;
    let ticks = rel.rem_euclid(TICKS_PER_SEC);
    format!("{}.{ticks:07}", relic_model::time::format_utc(secs))
}

/// Parse what [`format_vms_time`] prints (the fraction may have 0-7 digits).
pub fn parse_vms_time(s: &str) -> Option<u64> {
    let s = s.trim();
    let (date, time) = s.split_once(' ')?;
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let mo: u32 = d.next()?.parse().ok()?;
    let da: u32 = d.next()?.parse().ok()?;
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut t = hms.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let se: i64 = t.next()?.parse().ok()?;
    if frac.len() > 7 || !frac.bytes().all(|c| c.is_ascii_digit()) || !(1..=12).contains(&mo) {
        return None;
    }
    let ticks: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i128>().ok()? * 10i128.pow(7 - frac.len() as u32)
    };
    let days = relic_model::time::days_from_civil(y, mo, da);
    let secs = days as i128 * 86_400 + (h * 3600 + mi * 60 + se) as i128;
    let v = secs * TICKS_PER_SEC + ticks + VMS_UNIX_EPOCH as i128;
    (v > 0 && v <= u64::MAX as i128).then_some(v as u64)
}

/// `[gggggg,mmmmmm]` in octal (group in the high word, member in the low word).
pub fn uic_string(uic: u32) -> String {
    format!("[{:06o},{:06o}]", uic >> 16, uic & 0xffff)
}

/// Parse `[g,m]` (octal).
pub fn parse_uic(s: &str) -> Option<u32> {
    let inner = s.trim().strip_prefix('[')?.strip_suffix(']')?;
    let (g, m) = inner.split_once(',')?;
    let g = u32::from_str_radix(g.trim(), 8).ok()?;
    let m = u32::from_str_radix(m.trim(), 8).ok()?;
    (g <= 0xffff && m <= 0xffff).then_some(g << 16 | m)
}

const PROT_CLASSES: [&str; 4] = ["S", "O", "G", "W"];
const PROT_BITS: [char; 4] = ['R', 'W', 'E', 'D'];

/// `(S:RWED,O:RWED,G:RE,W:)`: four 4-bit fields from the low end, a set bit denies.
pub fn protection_string(p: u16) -> String {
    let mut parts = Vec::with_capacity(4);
    for (i, class) in PROT_CLASSES.iter().enumerate() {
        let field = (p >> (4 * i)) & 0xf;
        let granted: String = PROT_BITS
            .iter()
            .enumerate()
            .filter(|(b, _)| field & (1 << b) == 0)
            .map(|(_, c)| *c)
            .collect();
        parts.push(format!("{class}:{granted}"));
    }
    format!("({})", parts.join(","))
}

/// Parse what [`protection_string`] prints (classes may come in any order; a class left out
/// gets no access).
pub fn parse_protection(s: &str) -> Option<u16> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    let mut p: u16 = 0xffff;
    for part in inner.split(',').filter(|x| !x.trim().is_empty()) {
        let (class, access) = part.split_once(':')?;
        let i = PROT_CLASSES
            .iter()
            .position(|c| class.trim().eq_ignore_ascii_case(c))?;
        let mut field = 0xfu16;
        for ch in access.trim().chars() {
            let b = PROT_BITS.iter().position(|c| ch.eq_ignore_ascii_case(c))?;
            field &= !(1 << b);
        }
        p = (p & !(0xf << (4 * i))) | field << (4 * i);
    }
    Some(p)
}

/// Unix permission bits from a protection word: OWNER -> user, GROUP -> group, WORLD ->
/// other; R -> r, W -> w, E -> x (D and SYSTEM have no Unix counterpart).
pub fn protection_to_mode(p: u16) -> u32 {
    let mut mode = 0;
    for (class, shift) in [(1, 6), (2, 3), (3, 0)] {
        let field = (p >> (4 * class)) & 0xf;
        let mut bits = 0;
        if field & 1 == 0 {
            bits |= 4;
        }
        if field & 2 == 0 {
            bits |= 2;
        }
        if field & 4 == 0 {
            bits |= 1;
        }
        mode |= bits << shift;
    }
    mode
}

/// A protection word from Unix permission bits: SYSTEM gets RWED, each other class gets R
/// for r, W and D for w, E for x.
pub fn mode_to_protection(mode: u32) -> u16 {
    let mut p: u16 = 0; // SYSTEM: all granted
    for (class, shift) in [(1u16, 6u32), (2, 3), (3, 0)] {
        let bits = (mode >> shift) & 7;
        let mut deny = 0xfu16;
        if bits & 4 != 0 {
            deny &= !1;
        }
        if bits & 2 != 0 {
            deny &= !(2 | 8);
        }
        if bits & 1 != 0 {
            deny &= !4;
        }
        p |= deny << (4 * class);
    }
    p
}

/// `(num,seq,rvn)` of a 6-byte file ID: the number includes the NMX byte (research note §1.1).
pub fn fid_parts(v: &[u8]) -> Option<(u32, u16, u8)> {
    if v.len() < 6 {
        return None;
    }
    let w0 = u16_at(v, 0) as u32;
    let w1 = u16_at(v, 2);
    let w2 = u16_at(v, 4);
    Some((w0 | ((w2 >> 8) as u32) << 16, w1, (w2 & 0xff) as u8))
}

/// The 6 bytes of a file ID.
pub fn fid_bytes(num: u32, seq: u16, rvn: u8) -> [u8; 6] {
    let mut b = [0u8; 6];
    put_u16(&mut b, 0, num as u16);
    put_u16(&mut b, 2, seq);
    put_u16(&mut b, 4, ((num >> 16) as u16 & 0xff) << 8 | rvn as u16);
    b
}

/// One attribute of a SUMMARY, VOLUME, FILE or PHYSVOL record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    pub code: u16,
    pub value: &'a [u8],
}

/// Decode an attribute list: u16 structure level, then `u16 length, u16 type, value` items
/// until a (0,0) item or fewer than 4 bytes remain (research note §1.7). An item whose length
/// runs past the record is an error at `base + offset`.
pub fn attr_list(body: &[u8], base: u64) -> Result<Vec<Attr<'_>>> {
    let mut out = Vec::new();
    if body.len() < 2 {
        return Ok(out);
    }
    let mut p = 2;
    while p + 4 <= body.len() {
        let len = u16_at(body, p) as usize;
        let code = u16_at(body, p + 2);
        if len == 0 && code == 0 {
            break;
        }
        if p + 4 + len > body.len() {
            return Err(Error::corrupt(format!(
                "attribute {code} ({}) claims {len} bytes, only {} remain in its record",
                attr::name(code),
                body.len() - p - 4
            ))
            .at(base + p as u64));
        }
        out.push(Attr {
            code,
            value: &body[p + 4..p + 4 + len],
        });
        p += 4 + len;
    }
    Ok(out)
}

/// Builds an attribute list (structure level first); [`AttrWriter::finish`] pads to 16.
#[derive(Debug, Clone)]
pub struct AttrWriter {
    buf: Vec<u8>,
}

impl Default for AttrWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl AttrWriter {
    pub fn new() -> AttrWriter {
        AttrWriter {
            buf: STRUCLEV.to_le_bytes().to_vec(),
        }
    }
    pub fn push(&mut self, code: u16, value: &[u8]) {
        let len = value.len().min(u16::MAX as usize);
        self.buf.extend_from_slice(&(len as u16).to_le_bytes());
        self.buf.extend_from_slice(&code.to_le_bytes());
        self.buf.extend_from_slice(&value[..len]);
    }
    /// Raw items (as [`attr_list`] found them) appended verbatim.
    pub fn push_raw(&mut self, items: &[u8]) {
        self.buf.extend_from_slice(items);
    }
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    pub fn is_empty(&self) -> bool {
        self.buf.len() <= 2
    }
    /// The body, zero-padded to a multiple of 16.
    pub fn finish(mut self) -> Vec<u8> {
        let n = self.buf.len().div_ceil(16) * 16;
        self.buf.resize(n, 0);
        self.buf
    }
}

/// Little-endian value of a 1-, 2-, 4- or 8-byte attribute (shorter values are zero-extended,
/// longer ones clipped).
pub fn attr_uint(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[..n].copy_from_slice(&v[..n]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_round_trip_and_eof() {
        let f = Fat {
            org: 0,
            rfm: rfm::VAR,
            rat: rat::CR,
            rsize: 79,
            hiblk: 0x1_0002,
            efblk: 11,
            ffbyte: 248,
            ..Fat::default()
        };
        let b = f.to_bytes();
        assert_eq!(&b[4..8], &[1, 0, 2, 0], "HIBLK is stored high word first");
        assert_eq!(Fat::parse(&b), f);
        assert_eq!(f.eof_bytes(), 10 * 512 + 248);
    }

    #[test]
    fn times_protection_uic() {
        // 1996-03-30 21:08:28.87 (a1032 summary date) round trips exactly
        let t = parse_vms_time("1996-03-30 21:08:28.87").expect("parses");
        assert_eq!(format_vms_time(t), "1996-03-30 21:08:28.8700000");
        let ts = vms_time(t).expect("nonzero");
        assert_eq!(ts, Timestamp::new(828_220_108, 870_000_000));
        assert_eq!(to_vms_time(ts), t);
        assert_eq!(vms_time(0), None);
        assert_eq!(
            vms_time(VMS_UNIX_EPOCH - 1),
            Some(Timestamp::new(-1, 999_999_900))
        );
        let p = parse_protection("(S:RWED,O:RWED,G:RE,W:)").expect("parses");
        assert_eq!(protection_string(p), "(S:RWED,O:RWED,G:RE,W:)");
        assert_eq!(protection_to_mode(p), 0o750);
        assert_eq!(
            mode_to_protection(0o644),
            parse_protection("(S:RWED,O:RWD,G:R,W:R)").expect("p")
        );
        assert_eq!(protection_to_mode(mode_to_protection(0o751)), 0o751);
        assert_eq!(uic_string(0o320 << 16 | 0o14), "[000320,000014]");
        assert_eq!(parse_uic("[000320,000014]"), Some(0o320 << 16 | 0o14));
        assert_eq!(
            fid_parts(&fid_bytes(0x12_3456, 7, 1)),
            Some((0x12_3456, 7, 1))
        );
    }

    #[test]
    fn attribute_lists() {
        let mut w = AttrWriter::new();
        w.push(attr::SSNAME, b"X.BCK");
        w.push(attr::XORSIZE, &10u16.to_le_bytes());
        let body = w.finish();
        assert_eq!(body.len() % 16, 0);
        let a = attr_list(&body, 0).expect("parses");
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].value, b"X.BCK");
        assert_eq!(attr_uint(a[1].value), 10);
        let mut bad = body.clone();
        bad[2] = 200; // first item claims 200 bytes
        let e = attr_list(&bad, 1000).expect_err("too long");
        assert_eq!(e.offset, Some(1002));
        assert_eq!(
            rat::parse(&rat::names(rat::CR | rat::BLK)),
            Some(rat::CR | rat::BLK)
        );
        assert_eq!(rat::names(0), "none");
    }
}
