//! The two checks of a save-set block (research note §1.3, verified on every block of 777
//! DEC-written save sets):
//!
//! - the header checksum BBH$W_CHECKSUM (bytes 254-255): CRC-16/ARC (reflected polynomial
//!   0xA001, initial value 0, no final XOR) over the 256 header bytes;
//! - the block CRC BBH$L_CRC (bytes 36-39): CRC-32/ISO-HDLC (zlib's CRC: reflected polynomial
//!   0xEDB88320, initial and final XOR 0xFFFFFFFF) over the whole block, header included;
//!   0 and flag bit 0 set with /NOCRC.
//!
//! Both are computed over the block with bytes 36-39 **and** 254-255 taken as zero.
//! [`check`] verifies a block, [`seal`] fills both fields (the writer and the XOR repair).

use crate::layout::{bbh, get_u16, get_u32, put_u16, put_u32, BBH_SIZE};

const fn crc16_table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u16;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xA001
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

const fn crc32_tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut j = 1;
        while j < 4 {
            let prev = t[j - 1][i];
            t[j][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            j += 1;
        }
        i += 1;
    }
    t
}

static CRC16: [u16; 256] = crc16_table();
static CRC32: [[u32; 256]; 4] = crc32_tables();

/// CRC-16/ARC, continuing from `crc` (start with 0).
pub fn crc16_update(mut crc: u16, data: &[u8]) -> u16 {
    for &b in data {
        crc = (crc >> 8) ^ CRC16[((crc ^ b as u16) & 0xff) as usize];
    }
    crc
}

/// CRC-32/ISO-HDLC register update (start with 0xFFFFFFFF, XOR the result with 0xFFFFFFFF).
pub fn crc32_update(mut crc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        crc ^= u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        crc = CRC32[3][(crc & 0xff) as usize]
            ^ CRC32[2][((crc >> 8) & 0xff) as usize]
            ^ CRC32[1][((crc >> 16) & 0xff) as usize]
            ^ CRC32[0][(crc >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ CRC32[0][((crc ^ b as u32) & 0xff) as usize];
    }
    crc
}

/// CRC-32/ISO-HDLC of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0xFFFF_FFFF, data) ^ 0xFFFF_FFFF
}

/// The header checksum of a block: CRC-16 over bytes 0-255 with 36-39 and 254-255 as zero.
pub fn header_checksum(block: &[u8]) -> u16 {
    let mut c = crc16_update(0, &block[..bbh::CRC]);
    c = crc16_update(c, &[0; 4]);
    c = crc16_update(c, &block[bbh::CRC + 4..bbh::CHECKSUM]);
    crc16_update(c, &[0; 2])
}

/// The block CRC: CRC-32 over the whole block with 36-39 and 254-255 as zero.
pub fn block_crc(block: &[u8]) -> u32 {
    let mut c = crc32_update(0xFFFF_FFFF, &block[..bbh::CRC]);
    c = crc32_update(c, &[0; 4]);
    c = crc32_update(c, &block[bbh::CRC + 4..bbh::CHECKSUM]);
    c = crc32_update(c, &[0; 2]);
    c = crc32_update(c, &block[BBH_SIZE..]);
    c ^ 0xFFFF_FFFF
}

/// What [`check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub header_ok: bool,
    /// `None` when the block says it has no CRC (flag bit 0 and CRC field 0).
    pub crc_ok: Option<bool>,
    pub stored_crc: u32,
    pub computed_crc: u32,
    pub stored_checksum: u16,
    pub computed_checksum: u16,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.header_ok && self.crc_ok != Some(false)
    }
}

/// Verify both checks of a block (`block.len() >= 256`).
pub fn check(block: &[u8]) -> Check {
    let stored_checksum = get_u16(block, bbh::CHECKSUM);
    let computed_checksum = header_checksum(block);
    let stored_crc = get_u32(block, bbh::CRC);
    let nocrc = get_u32(block, bbh::FLAGS) & bbh::FLAG_NOCRC != 0;
    let (crc_ok, computed_crc) = if nocrc && stored_crc == 0 {
        (None, 0)
    } else {
        let c = block_crc(block);
        (Some(c == stored_crc), c)
    };
    Check {
        header_ok: stored_checksum == computed_checksum,
        crc_ok,
        stored_crc,
        computed_crc,
        stored_checksum,
        computed_checksum,
    }
}

/// Fill both check fields of a finished block: the CRC-32 (or 0 when the NOCRC flag is set),
/// then the header checksum.
pub fn seal(block: &mut [u8]) {
    put_u32(block, bbh::CRC, 0);
    put_u16(block, bbh::CHECKSUM, 0);
    let nocrc = get_u32(block, bbh::FLAGS) & bbh::FLAG_NOCRC != 0;
    let crc = if nocrc { 0 } else { block_crc(block) };
    let sum = header_checksum(block);
    put_u32(block, bbh::CRC, crc);
    put_u16(block, bbh::CHECKSUM, sum);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_check_values() {
        // the standard check values of both algorithms ("123456789")
        assert_eq!(crc16_update(0, b"123456789"), 0xBB3D);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let long: Vec<u8> = (0..1001u32).map(|i| (i * 7) as u8).collect();
        // the sliced update agrees with a bytewise one
        let mut c = 0xFFFF_FFFFu32;
        for b in &long {
            c = crc32_update(c, std::slice::from_ref(b));
        }
        assert_eq!(c ^ 0xFFFF_FFFF, crc32(&long));
    }

    #[test]
    fn seal_then_check() {
        let mut b = vec![0u8; 2048];
        b[0] = 1;
        b[500] = 0x55;
        seal(&mut b);
        assert!(check(&b).ok());
        b[600] ^= 1;
        let c = check(&b);
        assert!(c.header_ok && c.crc_ok == Some(false));
        b[600] ^= 1;
        b[100] ^= 1;
        assert!(!check(&b).header_ok);
    }
}
