//! The two header checksums of AIX backup archives.
//!
//! - [`dword`]: the checksum of every header of the "dword" format (PC/IX 1984 to AIX 7
//!   by-name, PC/IX / AIX v2 by-inode). Research note `aix-backup.md` §1.5 (verified on
//!   every header of every real sample): the 16-bit sum over every header byte `b` of
//!   `b << (b & 7)`, with the checksum field (bytes 4 and 5) taken as zero, over `len * 8`
//!   bytes (name and its padding included; the FS_NAME_X security block and file data are
//!   not covered). Each byte contributes by value only, so the sum does not depend on byte
//!   order. A stored 0 is not a wildcard (bffextract-rs wrongly treats it as "skip").
//! - [`bsd`]: the checksum of the AIX 3+ by-inode (4.3BSD dump port) 1024-byte headers, §2.3:
//!   the 256 big-endian 32-bit words of the block sum (wrapping) to 84446 (`CHECKSUM`).
//!
//! Used by `read.rs`/`read_bsd.rs` to verify every header and by `write.rs`/`write_bsd.rs`
//! to fill it in.

/// Offset of the dword format's checksum field.
pub const DWORD_FIELD: usize = 4;

/// The dword-format checksum of `header` (the whole `len * 8` bytes), bytes 4..6 as zero.
pub fn dword(header: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for (i, &b) in header.iter().enumerate() {
        if i == DWORD_FIELD || i == DWORD_FIELD + 1 {
            continue;
        }
        sum = sum.wrapping_add((b as u32) << (b & 7));
    }
    sum as u16
}

/// Fill in the checksum field of a dword-format header.
pub fn set_dword(header: &mut [u8]) {
    let c = dword(header);
    header[DWORD_FIELD..DWORD_FIELD + 2].copy_from_slice(&c.to_le_bytes());
}

/// The value the 256 words of a BSD-style header sum to (`CHECKSUM` of `dumprestor.h`).
pub const BSD_CHECKSUM: i32 = 84446;
/// Offset of `c_checksum` in a BSD-style header.
pub const BSD_FIELD: usize = 28;

/// Wrapping sum of the 32-bit big-endian words of a 1024-byte block.
pub fn bsd_sum(block: &[u8]) -> i32 {
    block.chunks_exact(4).fold(0i32, |s, w| {
        s.wrapping_add(i32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    })
}

/// Whether a BSD-style header block sums to [`BSD_CHECKSUM`].
pub fn bsd_ok(block: &[u8]) -> bool {
    bsd_sum(block) == BSD_CHECKSUM
}

/// Set `c_checksum` so that the block sums to [`BSD_CHECKSUM`].
pub fn set_bsd(block: &mut [u8]) {
    block[BSD_FIELD..BSD_FIELD + 4].fill(0);
    let c = BSD_CHECKSUM.wrapping_sub(bsd_sum(block));
    block[BSD_FIELD..BSD_FIELD + 4].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dword_checksum_of_a_real_header() {
        // FS_END of bffextract-rs-test.bff: `01 07 6b ea` + checksum + 2 stale bytes.
        let mut h = [0x01, 0x07, 0x6b, 0xea, 0, 0, 0, 0];
        set_dword(&mut h);
        // 1<<1 + 7<<7 + 0x6b<<3 + 0xea<<2 = 2 + 896 + 856 + 936
        assert_eq!(u16::from_le_bytes([h[4], h[5]]), 2690);
        assert_eq!(dword(&h), 2690, "the field itself is not summed");
    }

    #[test]
    fn bsd_checksum_balances() {
        let mut b = vec![0u8; 1024];
        b[0..4].copy_from_slice(&1i32.to_be_bytes());
        b[24..28].copy_from_slice(&60012i32.to_be_bytes());
        set_bsd(&mut b);
        assert!(bsd_ok(&b));
        b[100] ^= 1;
        assert!(!bsd_ok(&b));
    }
}
