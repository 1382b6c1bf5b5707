//! metaecc: the CRC32 + Hamming check OCFS2 keeps in every metadata block when the incompat
//! feature `metaecc` (0x800) is on.
//!
//! Each checked block carries an 8-byte `struct ocfs2_block_check` { bc_crc32e: le32,
//! bc_ecc: le16, bc_reserved1: le16 } at a per-type offset ([`CheckSite`]). Both values are
//! computed over the whole block (an xattr bucket: the whole 4096-byte bucket) with those 8
//! bytes set to zero (libocfs2 `blockcheck.c`, research note §2.8):
//! - CRC: reflected CRC-32 (polynomial 0xEDB88320), initial value 0xFFFFFFFF, **no final
//!   inversion** (`crc32_le(~0, ...)`), i.e. the standard CRC-32 XOR 0xFFFFFFFF;
//! - ECC: a single-error-correcting Hamming parity: for every set data bit `i` (LSB first
//!   within each byte) its code position `c = i + 1`, bumped past each power of two at or
//!   below it, XORed together, kept in 16 bits.
//!
//! Validation as libocfs2/the kernel do it: accept when the CRC matches; otherwise XOR the
//! recomputed ECC with the stored one, flip the data bit at that code position (a parity
//! position means "nothing to fix") and check the CRC again. The reader ([`crate::read`])
//! calls [`verify`] on every metadata block it reads from a metaecc volume and turns anything
//! but [`Check::Good`] into a warning naming the block number and type; it is never fatal
//! (debugfs.ocfs2 and o2image open volumes with ECC checks off).

/// Where the check lives in a block of a given type, and the type's name for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckSite {
    /// Offset of `struct ocfs2_block_check` in the block (or bucket).
    pub offset: usize,
    pub what: &'static str,
}

/// `ocfs2_dinode.i_check` (inodes and the superblock), `ocfs2_fs.h`, offsetof = 0x80.
pub const INODE: CheckSite = CheckSite {
    offset: 0x80,
    what: "inode",
};
/// `ocfs2_extent_block.h_check`, offsetof = 0x08.
pub const EXTENT_BLOCK: CheckSite = CheckSite {
    offset: 0x08,
    what: "extent block",
};
/// `ocfs2_xattr_block.xb_check`, offsetof = 0x18.
pub const XATTR_BLOCK: CheckSite = CheckSite {
    offset: 0x18,
    what: "xattr block",
};
/// `ocfs2_xattr_header.xh_check` at the start of a bucket, offsetof = 0x08.
pub const XATTR_BUCKET: CheckSite = CheckSite {
    offset: 0x08,
    what: "xattr bucket",
};

/// The directory-block trailer's `db_check`: 64-byte trailer at the end of the block, check
/// at trailer + 0x38 (the header comment says 0x30; offsetof says 0x38).
pub fn dir_block(block_size: usize) -> CheckSite {
    CheckSite {
        offset: block_size - 64 + 0x38,
        what: "directory block",
    }
}

/// Outcome of a validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The CRC matches.
    Good,
    /// The CRC did not match; the ECC named one data bit, flipping it made the CRC match.
    /// The block in the caller's buffer has been corrected.
    Corrected { bit: usize },
    /// Neither the CRC nor an ECC fix-up matched.
    Bad { stored: u32, computed: u32 },
    /// The block has never been signed (check is all zero) although the feature is on.
    Unsigned,
}

const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CRC_TABLE: [u32; 256] = crc_table();

/// `crc32_le(seed, data)`: the reflected CRC without pre- or post-inversion.
pub fn crc32_le(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC_TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// The OCFS2 CRC of a block whose check field is already zeroed.
pub fn ocfs2_crc(data: &[u8]) -> u32 {
    crc32_le(!0, data)
}

/// libocfs2 `calc_code_bit`: the 1-based Hamming code position of data bit `i`, with `p`
/// the number of parity positions already passed (a cache valid for increasing `i`).
fn code_bit(i: usize, p: &mut u32) -> usize {
    let mut b = i + 1 + *p as usize;
    while (1usize << *p) < b + 1 {
        *p += 1;
        b += 1;
    }
    b
}

/// The Hamming parity of `data` (libocfs2 `ocfs2_hamming_encode_block`).
pub fn hamming(data: &[u8]) -> u32 {
    let mut parity = 0u32;
    let mut p = 0u32;
    for (byte_i, &byte) in data.iter().enumerate() {
        if byte == 0 {
            continue;
        }
        for bit in 0..8 {
            if byte & (1 << bit) != 0 {
                parity ^= code_bit(byte_i * 8 + bit, &mut p) as u32;
            }
        }
    }
    parity
}

/// libocfs2 `ocfs2_hamming_fix` for a whole block: the data bit at code position `fix`, if
/// it is a data position inside the block.
fn fix_bit(len_bits: usize, fix: u32) -> Option<usize> {
    if fix.count_ones() <= 1 {
        return None; // parity position (or no error at all)
    }
    let fix = fix as usize;
    let mut p = 0u32;
    if fix >= code_bit(len_bits, &mut 0) {
        return None;
    }
    // code positions of data bits are increasing: count the parity positions below `fix`
    // (a binary search would do; a linear walk over at most 17 powers of two is as good)
    let mut parities = 0usize;
    while (1usize << parities) <= fix {
        parities += 1;
    }
    let i = fix - 1 - parities;
    // confirm with the forward mapping
    (code_bit(i, &mut p) == fix && i < len_bits).then_some(i)
}

/// Validate the block in `data` whose check lives at `site.offset`; on a single-bit error
/// the ECC locates, `data` is corrected in place. The check field is restored afterwards.
pub fn verify(data: &mut [u8], site: CheckSite) -> Check {
    let off = site.offset;
    if data.len() < off + 8 || data.is_empty() {
        return Check::Bad {
            stored: 0,
            computed: 0,
        };
    }
    let mut saved = [0u8; 8];
    saved.copy_from_slice(&data[off..off + 8]);
    if saved == [0u8; 8] {
        return Check::Unsigned;
    }
    let stored_crc = u32::from_le_bytes([saved[0], saved[1], saved[2], saved[3]]);
    let stored_ecc = u16::from_le_bytes([saved[4], saved[5]]) as u32;
    data[off..off + 8].fill(0);
    let crc = ocfs2_crc(data);
    let result = if crc == stored_crc {
        Check::Good
    } else {
        let ecc = hamming(data) & 0xffff;
        match fix_bit(data.len() * 8, ecc ^ stored_ecc) {
            Some(bit) => {
                data[bit / 8] ^= 1 << (bit % 8);
                if ocfs2_crc(data) == stored_crc {
                    Check::Corrected { bit }
                } else {
                    data[bit / 8] ^= 1 << (bit % 8);
                    Check::Bad {
                        stored: stored_crc,
                        computed: crc,
                    }
                }
            }
            None => Check::Bad {
                stored: stored_crc,
                computed: crc,
            },
        }
    };
    data[off..off + 8].copy_from_slice(&saved);
    result
}

/// Compute and store the check of a block (for tests that build or repair blocks).
pub fn sign(data: &mut [u8], site: CheckSite) {
    let off = site.offset;
    if data.len() < off + 8 {
        return;
    }
    data[off..off + 8].fill(0);
    let crc = ocfs2_crc(data);
    let ecc = (hamming(data) & 0xffff) as u16;
    data[off..off + 4].copy_from_slice(&crc.to_le_bytes());
    data[off + 4..off + 6].copy_from_slice(&ecc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_crc32_inverted() {
        // standard CRC-32 of "123456789" is 0xCBF43926
        assert_eq!(ocfs2_crc(b"123456789"), !0xCBF4_3926u32);
    }

    #[test]
    fn code_positions_skip_powers_of_two() {
        let mut p = 0;
        let got: Vec<usize> = (0..8).map(|i| code_bit(i, &mut p)).collect();
        assert_eq!(got, vec![3, 5, 6, 7, 9, 10, 11, 12]);
    }

    #[test]
    fn signs_verifies_and_corrects_single_bits() {
        let mut block: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
        sign(&mut block, INODE);
        assert_eq!(verify(&mut block, INODE), Check::Good);
        let orig = block.clone();
        for bit in [0usize, 7, 8 * 0x80 - 1, 8 * 0x88, 4096 * 8 - 1, 12345] {
            let mut b = orig.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(verify(&mut b, INODE), Check::Corrected { bit }, "bit {bit}");
            assert_eq!(b, orig, "bit {bit} repaired");
        }
        let mut two = orig.clone();
        two[100] ^= 0x11;
        assert!(matches!(verify(&mut two, INODE), Check::Bad { .. }));
        let mut zero = vec![0u8; 512];
        assert_eq!(verify(&mut zero, INODE), Check::Unsigned);
    }
}
