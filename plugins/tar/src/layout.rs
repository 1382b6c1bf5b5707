//! On-media structures of tar: the 512-byte header block in its v7, ustar (POSIX.1-1988),
//! GNU and star variants, the GNU sparse extension block, numeric field encodings and the
//! header checksum.
//!
//! Everything here is pure byte layout, shared by [`crate::read`] and [`crate::write`].
//! Sources of the facts:
//! - POSIX.1-2017, `pax` utility, "ustar Interchange Format" (field table, octal fields,
//!   checksum "as if the chksum field were all spaces", `prefix`, magic `ustar\0` + `00`).
//! - GNU tar 1.34 manual, "Basic Tar Format" (`src/tar.h` there): the old GNU header with
//!   `atime`, `ctime`, `offset`, `longnames`, four in-header sparse entries, `isextended`,
//!   `realsize`, the magic `ustar  \0`, the extension block of 21 sparse entries, and the
//!   base-256 encoding of numbers that do not fit in octal ("if the leading byte is 0x80 the
//!   rest is a big-endian number, 0xff a negative one in two's complement").
//! - star's xstar layout (Jörg Schilling, `star/tar.h`): `prefix` is 131 bytes followed by
//!   `atime` and `ctime`, and bytes 508..512 hold `tar\0`.
//! - libarchive `archive_read_support_format_tar.c` (bid): historic tars compute the checksum
//!   over signed chars, so both sums are accepted.
//!
//! ```text
//! off len  ustar / POSIX        GNU (magic "ustar  \0")
//!   0 100  name                 name
//! 100   8  mode (octal)         mode
//! 108   8  uid                  uid
//! 116   8  gid                  gid
//! 124  12  size                 size
//! 136  12  mtime                mtime
//! 148   8  chksum               chksum
//! 156   1  typeflag             typeflag
//! 157 100  linkname             linkname
//! 257   6  magic "ustar\0"      magic "ustar "
//! 263   2  version "00"         version " \0"
//! 265  32  uname                uname
//! 297  32  gname                gname
//! 329   8  devmajor             devmajor
//! 337   8  devminor             devminor
//! 345 155  prefix               345 atime(12) 357 ctime(12) 369 offset(12)
//!                               381 longnames(4) 385 unused(1)
//!                               386 sparse[4] x (offset 12, numbytes 12)
//!                               482 isextended(1) 483 realsize(12)
//! 500  12  pad                  495 pad(17)
//! ```

use relic_model::{Error, Result};

/// The tar block size; every header and every data area is a multiple of it.
pub const BLOCK: usize = 512;

/// One header field: byte offset and length within the 512-byte block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub at: usize,
    pub len: usize,
    pub name: &'static str,
}

impl Field {
    const fn new(at: usize, len: usize, name: &'static str) -> Field {
        Field { at, len, name }
    }
    pub fn get(self, block: &[u8; BLOCK]) -> &[u8] {
        &block[self.at..self.at + self.len]
    }
    pub fn get_mut(self, block: &mut [u8; BLOCK]) -> &mut [u8] {
        &mut block[self.at..self.at + self.len]
    }
}

// POSIX ustar fields (POSIX.1-2017 pax, "ustar Interchange Format").
pub const NAME: Field = Field::new(0, 100, "name");
pub const MODE: Field = Field::new(100, 8, "mode");
pub const UID: Field = Field::new(108, 8, "uid");
pub const GID: Field = Field::new(116, 8, "gid");
pub const SIZE: Field = Field::new(124, 12, "size");
pub const MTIME: Field = Field::new(136, 12, "mtime");
pub const CHKSUM: Field = Field::new(148, 8, "chksum");
pub const TYPEFLAG: usize = 156;
pub const LINKNAME: Field = Field::new(157, 100, "linkname");
pub const MAGIC: Field = Field::new(257, 6, "magic");
pub const VERSION: Field = Field::new(263, 2, "version");
pub const UNAME: Field = Field::new(265, 32, "uname");
pub const GNAME: Field = Field::new(297, 32, "gname");
pub const DEVMAJOR: Field = Field::new(329, 8, "devmajor");
pub const DEVMINOR: Field = Field::new(337, 8, "devminor");
pub const PREFIX: Field = Field::new(345, 155, "prefix");

// Old GNU header fields (GNU tar manual, "Basic Tar Format", struct oldgnu_header).
pub const GNU_ATIME: Field = Field::new(345, 12, "atime");
pub const GNU_CTIME: Field = Field::new(357, 12, "ctime");
/// Start of the in-header sparse map: 4 entries of 24 bytes.
pub const GNU_SPARSE: usize = 386;
pub const GNU_SPARSE_ENTRIES: usize = 4;
pub const GNU_ISEXTENDED: usize = 482;
pub const GNU_REALSIZE: Field = Field::new(483, 12, "realsize");
/// GNU sparse extension block (struct sparse_header): 21 entries, then `isextended` at 504.
pub const GNU_EXT_ENTRIES: usize = 21;
pub const GNU_EXT_ISEXTENDED: usize = 504;
/// One sparse entry: offset (12 bytes) then numbytes (12 bytes).
pub const SPARSE_ENTRY: usize = 24;

// star (xstar) variant: a 131-byte prefix, then atime and ctime, "tar\0" at 508.
pub const STAR_PREFIX: Field = Field::new(345, 131, "prefix");
pub const STAR_ATIME: Field = Field::new(476, 12, "atime");
pub const STAR_CTIME: Field = Field::new(488, 12, "ctime");
pub const STAR_TRAILER: Field = Field::new(508, 4, "star trailer");

pub const MAGIC_USTAR: &[u8; 6] = b"ustar\0";
pub const VERSION_USTAR: &[u8; 2] = b"00";
pub const MAGIC_GNU: &[u8; 8] = b"ustar  \0";

/// GNU's name for the pseudo-entries that carry long names ('L') and link names ('K').
pub const GNU_LONGLINK: &[u8] = b"././@LongLink";

/// Type flags (POSIX; GNU manual "Basic Tar Format"; Solaris 'X').
pub mod typeflag {
    pub const REG: u8 = b'0';
    pub const AREG: u8 = 0;
    pub const LNK: u8 = b'1';
    pub const SYM: u8 = b'2';
    pub const CHR: u8 = b'3';
    pub const BLK: u8 = b'4';
    pub const DIR: u8 = b'5';
    pub const FIFO: u8 = b'6';
    pub const CONT: u8 = b'7';
    /// POSIX pax extended header for the next entry.
    pub const XHD: u8 = b'x';
    /// POSIX pax global extended header.
    pub const XGL: u8 = b'g';
    /// Solaris' pre-POSIX extended header, same syntax as 'x'.
    pub const SOLARIS_XHD: u8 = b'X';
    /// GNU: a directory listing from `--incremental`.
    pub const GNU_DUMPDIR: u8 = b'D';
    /// GNU: the next entry's link name.
    pub const GNU_LONGLINK: u8 = b'K';
    /// GNU: the next entry's name.
    pub const GNU_LONGNAME: u8 = b'L';
    /// GNU: continuation of a file from the previous volume.
    pub const GNU_MULTIVOL: u8 = b'M';
    /// GNU: obsolete long-name list.
    pub const GNU_NAMES: u8 = b'N';
    /// GNU: old sparse file.
    pub const GNU_SPARSE: u8 = b'S';
    /// GNU: volume label.
    pub const GNU_VOLHDR: u8 = b'V';
}

/// Which header layout a block uses, from its magic and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    /// No magic: 7th Edition tar (or something pretending).
    V7,
    /// `ustar\0` with version `00` (or any version): POSIX.1-1988 and pax.
    Ustar,
    /// `ustar  \0`: GNU tar's own format.
    Gnu,
}

pub fn magic_of(block: &[u8; BLOCK]) -> Magic {
    let m = &block[257..265];
    if m == MAGIC_GNU {
        Magic::Gnu
    } else if &m[..6] == MAGIC_USTAR {
        Magic::Ustar
    } else if &m[..6] == b"ustar " {
        // "ustar " with an odd version: GNU-style.
        Magic::Gnu
    } else {
        Magic::V7
    }
}

/// Whether the block carries star's `tar\0` trailer (xstar layout of the prefix area).
pub fn is_star(block: &[u8; BLOCK]) -> bool {
    STAR_TRAILER.get(block) == b"tar\0"
}

pub fn is_zero_block(block: &[u8]) -> bool {
    block.iter().all(|&b| b == 0)
}

/// Bytes of a fixed-size string field up to its first NUL.
pub fn cstr(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(i) => &field[..i],
        None => field,
    }
}

/// Parse a numeric header field: octal digits (leading spaces/NULs allowed, ended by a
/// space, a NUL or the end of the field), or GNU base-256 when the first byte has its high
/// bit set. `Ok(None)` for a field that is entirely blank.
pub fn parse_numeric(field: &[u8], what: &str) -> Result<Option<i64>> {
    let Some(&first) = field.first() else {
        return Ok(None);
    };
    if first & 0x80 != 0 {
        // GNU base-256: first byte 0x80 (positive) or 0xff (negative, two's complement).
        let negative = first & 0x40 != 0;
        let mut v: i128 = if negative { -1 } else { 0 };
        v = (v << 6) | i128::from(first & 0x3f);
        for &b in &field[1..] {
            v = (v << 8) | i128::from(b);
            if v > i128::from(i64::MAX) || v < i128::from(i64::MIN) {
                return Err(Error::corrupt(format!(
                    "base-256 {what} field does not fit in 64 bits"
                )));
            }
        }
        return Ok(Some(v as i64));
    }
    let mut i = 0;
    while i < field.len() && (field[i] == b' ' || field[i] == 0) {
        i += 1;
    }
    if i == field.len() {
        return Ok(None);
    }
    let mut v: u64 = 0;
    let start = i;
    while i < field.len() && (b'0'..=b'7').contains(&field[i]) {
        v = v
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(field[i] - b'0')))
            .ok_or_else(|| Error::corrupt(format!("octal {what} field overflows")))?;
        i += 1;
    }
    if i == start || field[i..].iter().any(|&b| b != b' ' && b != 0) {
        return Err(Error::corrupt(format!(
            "{what} field is not an octal number: {:?}",
            String::from_utf8_lossy(field)
        )));
    }
    i64::try_from(v)
        .map(Some)
        .map_err(|_| Error::corrupt(format!("octal {what} field overflows")))
}

/// A non-negative numeric field (0 when blank).
pub fn parse_unsigned(field: &[u8], what: &str) -> Result<u64> {
    match parse_numeric(field, what)? {
        None => Ok(0),
        Some(v) if v >= 0 => Ok(v as u64),
        Some(v) => Err(Error::corrupt(format!("{what} is negative ({v})"))),
    }
}

/// Largest value an octal field of `len` bytes holds with its terminating NUL.
pub fn octal_max(len: usize) -> u64 {
    let digits = (len - 1) as u32;
    if digits >= 21 {
        u64::MAX
    } else {
        8u64.pow(digits) - 1
    }
}

/// Write `v` as zero-padded octal with a terminating NUL, as GNU tar does (`0000644\0`).
/// Returns false (and writes nothing) when it does not fit.
pub fn put_octal(dst: &mut [u8], v: u64) -> bool {
    if v > octal_max(dst.len()) {
        return false;
    }
    let digits = dst.len() - 1;
    let s = format!("{v:0digits$o}");
    dst[..digits].copy_from_slice(s.as_bytes());
    dst[digits] = 0;
    true
}

/// Write `v` in GNU base-256 (0x80 marker for positive, two's complement with 0xff for
/// negative). Returns false when it does not fit.
pub fn put_base256(dst: &mut [u8], v: i64) -> bool {
    let n = dst.len();
    // value bits available: 6 in the first byte plus 8 per following byte
    let bits = 6 + 8 * (n as u32 - 1);
    if bits < 64 {
        let lim = 1i128 << (bits - 1);
        if i128::from(v) >= lim || i128::from(v) < -lim {
            return false;
        }
    }
    let mut x = v as i128;
    for i in (1..n).rev() {
        dst[i] = (x & 0xff) as u8;
        x >>= 8;
    }
    dst[0] = if v < 0 { 0xff } else { 0x80 };
    true
}

/// Octal when it fits, base-256 otherwise (GNU format); false if neither fits.
pub fn put_numeric_gnu(dst: &mut [u8], v: i64) -> bool {
    if v >= 0 && put_octal(dst, v as u64) {
        return true;
    }
    put_base256(dst, v)
}

/// Unsigned and signed sums of the block with the checksum field taken as spaces.
pub fn checksums(block: &[u8; BLOCK]) -> (u64, i64) {
    let mut u: u64 = 0;
    let mut s: i64 = 0;
    for (i, &b) in block.iter().enumerate() {
        let b = if (CHKSUM.at..CHKSUM.at + CHKSUM.len).contains(&i) {
            b' '
        } else {
            b
        };
        u += u64::from(b);
        s += i64::from(b as i8);
    }
    (u, s)
}

/// Whether the stored checksum matches the unsigned or the signed sum.
pub fn checksum_ok(block: &[u8; BLOCK]) -> bool {
    let stored = match parse_numeric(CHKSUM.get(block), "chksum") {
        Ok(Some(v)) => v,
        _ => return false,
    };
    let (u, s) = checksums(block);
    stored == u as i64 || stored == s
}

/// Fill in the checksum field the way GNU tar does: six octal digits, NUL, space.
pub fn set_checksum(block: &mut [u8; BLOCK]) {
    CHKSUM.get_mut(block).fill(b' ');
    let (u, _) = checksums(block);
    let s = format!("{u:06o}");
    let f = CHKSUM.get_mut(block);
    f[..6].copy_from_slice(&s.as_bytes()[s.len() - 6..]);
    f[6] = 0;
    f[7] = b' ';
}

/// Copy `src` into a string field, NUL-padded. Returns false when it does not fit
/// (a field may be filled completely, without a NUL, as POSIX allows for name fields).
pub fn put_str(dst: &mut [u8], src: &[u8]) -> bool {
    if src.len() > dst.len() {
        return false;
    }
    dst[..src.len()].copy_from_slice(src);
    dst[src.len()..].fill(0);
    true
}

/// Bytes of padding after `len` bytes of data up to the next block boundary.
pub fn padding(len: u64) -> u64 {
    (BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64
}

/// Whether `t` is a typeflag any tar variant defines (for the probe).
pub fn known_typeflag(t: u8) -> bool {
    matches!(
        t,
        0 | b'0'
            ..=b'7'
                | b'x'
                | b'g'
                | b'X'
                | b'D'
                | b'K'
                | b'L'
                | b'M'
                | b'N'
                | b'S'
                | b'V'
                | b'A'
                | b'E'
                | b'I'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_fields() {
        assert_eq!(
            parse_numeric(b"0000644\0", "mode").expect("ok"),
            Some(0o644)
        );
        assert_eq!(
            parse_numeric(b"   644 \0", "mode").expect("ok"),
            Some(0o644)
        );
        assert_eq!(
            parse_numeric(b"\0\0\0\0\0\0\0\0", "mode").expect("ok"),
            None
        );
        assert!(parse_numeric(b"0000x44\0", "mode").is_err());
        assert!(parse_numeric(b"77777777777777777777777", "size").is_err());
        let mut f = [0u8; 8];
        assert!(put_octal(&mut f, 0o644));
        assert_eq!(&f, b"0000644\0");
        assert!(!put_octal(&mut f, 2_097_152));
        assert!(put_octal(&mut f, 2_097_151));
    }

    #[test]
    fn base256_round_trip() {
        for v in [
            0i64,
            1,
            2_097_152,
            8_589_934_592,
            -1,
            -1_000_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            let mut f = [0u8; 12];
            assert!(put_base256(&mut f, v), "{v}");
            assert_eq!(parse_numeric(&f, "t").expect("ok"), Some(v), "{v}");
        }
        let mut f = [0u8; 8];
        assert!(put_base256(&mut f, 3_000_000));
        assert_eq!(f[0], 0x80);
        assert_eq!(parse_numeric(&f, "uid").expect("ok"), Some(3_000_000));
        // GNU's own encoding of -1 in a 12-byte field
        assert_eq!(parse_numeric(&[0xff; 12], "mtime").expect("ok"), Some(-1));
        // too large for 64 bits
        let mut big = [0xffu8; 12];
        big[0] = 0x80;
        assert!(parse_numeric(&big, "size").is_err());
    }

    #[test]
    fn checksum_signed_and_unsigned() {
        let mut b = [0u8; BLOCK];
        b[..4].copy_from_slice(b"abc\xe9");
        set_checksum(&mut b);
        assert!(checksum_ok(&b));
        let (_, s) = checksums(&b);
        let f = format!("{s:06o}\0 ");
        b[148..156].copy_from_slice(f.as_bytes());
        assert!(checksum_ok(&b), "signed sum accepted");
        b[0] = b'x';
        assert!(!checksum_ok(&b));
    }
}
