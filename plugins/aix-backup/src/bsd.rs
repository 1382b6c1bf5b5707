//! On-media structures of the AIX 3+ by-inode format (`backup -0..9`, program
//! `backbyinode`): a port of 4.3BSD dump. Research note §2.3 (**source only: no public
//! sample exists**): every header is one 1024-byte block (`TP_BSIZE`), fields are native
//! **big-endian** 32-bit (AIX does not swap here), `c_magic` is 60012 (NFS_MAGIC; 60011 is
//! accepted), and the 256 words of a header sum to 84446.
//!
//! | off | type | field |
//! |---|---|---|
//! | 0 | s32 | c_type: 1 TS_TAPE, 2 TS_INODE, 3 TS_BITS, 4 TS_ADDR, 5 TS_END, 6 TS_CLRI, 7 TS_ACL, 8 TS_PCL; AIX 5.3+: 9 TS_INODE_LF, 10 TS_SEC, 11 TS_J2DIR, 12 TS_INODE_LN, 13 TS_EA, 14 TS_ACL2 |
//! | 4 | s32 | c_date |
//! | 8 | s32 | c_ddate |
//! | 12 | s32 | c_volume |
//! | 16 | s32 | c_tapea (block number) |
//! | 20 | u32 | c_inumber |
//! | 24 | s32 | c_magic |
//! | 28 | s32 | c_checksum |
//! | 32 | 128 bytes | bsd_c_dinode: mode u16 @32, nlink s16 @34, uid u16 @36, gid u16 @38, size s64 @40, atime @48, mtime @56, ctime @64 (each s32 followed by a spare word), db[12] @72 (db[0] = rdev of devices), ib[3] @120, flags @132, blocks @136, spare[5] @140 |
//! | 160 | s32 | c_count: entries used in c_addr |
//! | 164 | u8[512] | c_addr: 1 = a 1 KiB data block follows, 0 = hole |
//! | 676 | s32 | xix_flag = 60013 (XIX_MAGIC) when dumping an AIX v3+ file system |
//! | 680 | 128 bytes | xix_dinode: a copy of the JFS disk inode (layout not public) |
//!
//! Sequence (AIX 4.1 dumptraverse, §2.3): TS_TAPE; TS_CLRI + map blocks; TS_BITS + map
//! blocks; per inode, directories first: TS_INODE with up to 512 block flags, the data
//! blocks, TS_ADDR continuation headers; TS_ACL/TS_PCL (c_count blocks) after a file that
//! has them; inline symlinks as TS_INODE with one block holding the target; TS_END.
//!
//! Choices where the notes are silent (documented, and shared by relic's reader, writer
//! and the independent fixture builder `fixtures/aix-backup/mkinode.py`):
//! - `size` at 40 is a big-endian s64; devices keep `rdev` in db[0] as a 32-bit AIX
//!   `dev_t` (major in the high 16 bits, minor in the low 16).
//! - Directory data is 4.3BSD `struct direct`, big-endian: u32 d_ino, u16 d_reclen, u16
//!   d_namlen, the name, a NUL, padded to 4 bytes, entries never crossing a 512-byte
//!   block (DIRBLKSIZ). The notes only say "the JFS on-disk directory format (not verified)".
//! - xix_dinode's layout is not public: relic reads ids and times from bsd_c_dinode (16-bit
//!   ids) and keeps xix_dinode as the extra `aix.xix_dinode` when it is not all zeros; it
//!   writes `xix_flag` 0 and a zero xix_dinode (a restore that trusted a made-up JFS inode
//!   would do worse than one falling back to the BSD inode).
//! - Each volume starts with a TS_TAPE header carrying `c_volume`; the block stream then
//!   continues where the previous volume stopped (as in BSD dump).

use relic_model::{Error, Result};

use crate::checksum;

/// Bytes per header and data block (TP_BSIZE).
pub const BLOCK: usize = 1024;
/// Block flags per header (TP_NINDIR).
pub const NINDIR: usize = 512;
/// `c_magic` written (NFS_MAGIC) and the older one accepted.
pub const NFS_MAGIC: i32 = 60012;
pub const OFS_MAGIC: i32 = 60011;
/// `xix_flag` of an AIX v3+ file system dump.
pub const XIX_MAGIC: i32 = 60013;
/// Root inode.
pub const ROOT_INO: u32 = 2;
/// Directory block size of `struct direct` entries.
pub const DIRBLKSIZ: usize = 512;

/// Header types.
pub mod ts {
    pub const TAPE: i32 = 1;
    pub const INODE: i32 = 2;
    pub const BITS: i32 = 3;
    pub const ADDR: i32 = 4;
    pub const END: i32 = 5;
    pub const CLRI: i32 = 6;
    pub const ACL: i32 = 7;
    pub const PCL: i32 = 8;
    pub const INODE_LF: i32 = 9;
    pub const SEC: i32 = 10;
    pub const J2DIR: i32 = 11;
    pub const INODE_LN: i32 = 12;
    pub const EA: i32 = 13;
    pub const ACL2: i32 = 14;

    pub fn name(t: i32) -> &'static str {
        match t {
            TAPE => "TS_TAPE",
            INODE => "TS_INODE",
            BITS => "TS_BITS",
            ADDR => "TS_ADDR",
            END => "TS_END",
            CLRI => "TS_CLRI",
            ACL => "TS_ACL",
            PCL => "TS_PCL",
            INODE_LF => "TS_INODE_LF",
            SEC => "TS_SEC",
            J2DIR => "TS_J2DIR",
            INODE_LN => "TS_INODE_LN",
            EA => "TS_EA",
            ACL2 => "TS_ACL2",
            _ => "unknown",
        }
    }
}

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn put16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_be_bytes());
}
fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_be_bytes());
}

/// A decoded header block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub ctype: i32,
    pub date: i32,
    pub ddate: i32,
    pub volume: i32,
    pub tapea: i32,
    pub inumber: u32,
    pub magic: i32,
    pub mode: u16,
    pub nlink: i16,
    pub uid: u16,
    pub gid: u16,
    pub size: i64,
    pub atime: i32,
    pub mtime: i32,
    pub ctime: i32,
    /// db[0]: rdev of devices.
    pub rdev: u32,
    pub count: i32,
    pub addr: Vec<u8>,
    pub xix_flag: i32,
    pub xix_dinode: Vec<u8>,
}

impl Header {
    pub fn decode(b: &[u8]) -> Header {
        Header {
            ctype: be32(b, 0) as i32,
            date: be32(b, 4) as i32,
            ddate: be32(b, 8) as i32,
            volume: be32(b, 12) as i32,
            tapea: be32(b, 16) as i32,
            inumber: be32(b, 20),
            magic: be32(b, 24) as i32,
            mode: be16(b, 32),
            nlink: be16(b, 34) as i16,
            uid: be16(b, 36),
            gid: be16(b, 38),
            size: ((be32(b, 40) as u64) << 32 | be32(b, 44) as u64) as i64,
            atime: be32(b, 48) as i32,
            mtime: be32(b, 56) as i32,
            ctime: be32(b, 64) as i32,
            rdev: be32(b, 72),
            count: be32(b, 160) as i32,
            addr: b[164..164 + NINDIR].to_vec(),
            xix_flag: be32(b, 676) as i32,
            xix_dinode: b[680..808].to_vec(),
        }
    }

    /// Encode, checksum included.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK];
        put32(&mut b, 0, self.ctype as u32);
        put32(&mut b, 4, self.date as u32);
        put32(&mut b, 8, self.ddate as u32);
        put32(&mut b, 12, self.volume as u32);
        put32(&mut b, 16, self.tapea as u32);
        put32(&mut b, 20, self.inumber);
        put32(&mut b, 24, self.magic as u32);
        put16(&mut b, 32, self.mode);
        put16(&mut b, 34, self.nlink as u16);
        put16(&mut b, 36, self.uid);
        put16(&mut b, 38, self.gid);
        put32(&mut b, 40, (self.size as u64 >> 32) as u32);
        put32(&mut b, 44, self.size as u32);
        put32(&mut b, 48, self.atime as u32);
        put32(&mut b, 56, self.mtime as u32);
        put32(&mut b, 64, self.ctime as u32);
        put32(&mut b, 72, self.rdev);
        put32(&mut b, 160, self.count as u32);
        let n = self.addr.len().min(NINDIR);
        b[164..164 + n].copy_from_slice(&self.addr[..n]);
        put32(&mut b, 676, self.xix_flag as u32);
        let n = self.xix_dinode.len().min(128);
        b[680..680 + n].copy_from_slice(&self.xix_dinode[..n]);
        checksum::set_bsd(&mut b);
        b
    }
}

/// Whether a block looks like a header: magic and checksum.
pub fn is_header(b: &[u8]) -> bool {
    b.len() >= BLOCK && {
        let m = be32(b, 24) as i32;
        (m == NFS_MAGIC || m == OFS_MAGIC) && checksum::bsd_ok(&b[..BLOCK])
    }
}

/// What the writer puts in every volume's TS_TAPE header.
#[derive(Debug, Clone)]
pub struct TapeTemplate {
    pub date: i32,
    pub ddate: i32,
}

impl TapeTemplate {
    pub fn encode(&self, volume: u32) -> Vec<u8> {
        Header {
            ctype: ts::TAPE,
            date: self.date,
            ddate: self.ddate,
            volume: volume as i32,
            magic: NFS_MAGIC,
            ..Header::default()
        }
        .encode()
    }
}

/// Check the TS_TAPE header starting volume `n` of a dump dated `date`.
pub fn check_volume(b: &[u8], n: u32, date: i32, salvage: bool, warn: &dyn Fn(&str)) -> Result<()> {
    let h = Header::decode(b);
    if h.magic != NFS_MAGIC && h.magic != OFS_MAGIC {
        return Err(Error::corrupt(format!(
            "volume {n} does not start with a dump header (magic {}, expected {NFS_MAGIC})",
            h.magic
        ))
        .at(24));
    }
    if !checksum::bsd_ok(b) {
        let msg = format!("volume {n}: TS_TAPE header checksum does not sum to 84446");
        if salvage {
            warn(&format!("{msg} (salvage: going on)"));
        } else {
            return Err(Error::corrupt(format!("{msg} (--salvage reads on with warnings)")).at(28));
        }
    }
    if h.ctype != ts::TAPE {
        return Err(Error::corrupt(format!(
            "volume {n} starts with {} instead of TS_TAPE",
            ts::name(h.ctype)
        ))
        .at(0));
    }
    if h.volume != n as i32 {
        return Err(Error::corrupt(format!(
            "expected volume {n}, found volume {}: volumes out of order or missing",
            h.volume
        ))
        .at(12));
    }
    if h.date != date {
        let msg = format!(
            "volume {n} is from a dump dated {}, not {}",
            relic_model::time::format_utc(h.date as i64),
            relic_model::time::format_utc(date as i64)
        );
        if salvage {
            warn(&format!("{msg} (salvage: going on)"));
        } else {
            return Err(Error::corrupt(msg).at(4));
        }
    }
    Ok(())
}

/// One `struct direct` entry: (inode, name).
pub fn parse_dir_block(
    block: &[u8],
    out: &mut Vec<(u32, Vec<u8>)>,
) -> std::result::Result<(), String> {
    let mut o = 0;
    while o + 8 <= block.len() {
        let ino = be32(block, o);
        let reclen = be16(block, o + 4) as usize;
        let namlen = be16(block, o + 6) as usize;
        if reclen < 8 || o + reclen > block.len() || reclen % 4 != 0 {
            return Err(format!("directory entry at {o} has record length {reclen}"));
        }
        if namlen > reclen - 8 {
            return Err(format!(
                "directory entry at {o} has a {namlen}-byte name in a {reclen}-byte record"
            ));
        }
        if ino != 0 {
            out.push((ino, block[o + 8..o + 8 + namlen].to_vec()));
        }
        o += reclen;
    }
    Ok(())
}

/// Encode directory entries into 512-byte blocks (the last entry of a block takes the rest
/// of the block).
pub fn encode_dir(entries: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut block_start = 0usize;
    let mut last: Option<usize> = None;
    for (ino, name) in entries {
        let rec = (8 + name.len() + 1).div_ceil(4) * 4;
        if out.len() + rec > block_start + DIRBLKSIZ {
            // close the block: stretch the previous entry to its end
            if let Some(l) = last {
                let end = block_start + DIRBLKSIZ;
                let reclen = (end - l) as u16;
                out[l + 4..l + 6].copy_from_slice(&reclen.to_be_bytes());
                out.resize(end, 0);
            }
            block_start = out.len();
        }
        last = Some(out.len());
        let mut e = vec![0u8; rec];
        put32(&mut e, 0, *ino);
        put16(&mut e, 4, rec as u16);
        put16(&mut e, 6, name.len() as u16);
        e[8..8 + name.len()].copy_from_slice(name);
        out.extend_from_slice(&e);
    }
    if let Some(l) = last {
        let end = block_start + DIRBLKSIZ;
        let reclen = (end - l) as u16;
        out[l + 4..l + 6].copy_from_slice(&reclen.to_be_bytes());
        out.resize(end, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            ctype: ts::INODE,
            date: 1_700_000_000,
            ddate: 0,
            volume: 1,
            tapea: 7,
            inumber: 42,
            magic: NFS_MAGIC,
            mode: 0o100644,
            nlink: 2,
            uid: 500,
            gid: 20,
            size: 5 << 32 | 17,
            atime: 1,
            mtime: 2,
            ctime: 3,
            rdev: 0,
            count: 3,
            addr: {
                let mut a = vec![0u8; NINDIR];
                a[..3].copy_from_slice(&[1, 0, 1]);
                a
            },
            xix_flag: 0,
            xix_dinode: vec![0; 128],
        };
        let b = h.encode();
        assert!(is_header(&b));
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn directories_round_trip() {
        let names: Vec<(u32, Vec<u8>)> = (0..100u32)
            .map(|i| (i + 3, format!("entry-number-{i}").into_bytes()))
            .collect();
        let d = encode_dir(&names);
        assert_eq!(d.len() % DIRBLKSIZ, 0);
        let mut got = vec![];
        for b in d.chunks(DIRBLKSIZ) {
            parse_dir_block(b, &mut got).expect("parse");
        }
        assert_eq!(got, names);
    }
}
