//! AWS (AWSTAPE, IBM P/390 and Hercules) and HET (Hercules Emulated Tape) chunk headers, and
//! HET decompression.
//!
//! Each chunk starts with a 6-byte header, all fields little-endian (research note
//! `tape-media.md` §1.5-1.6; `hercules-390/hyperion : hetlib.h`, `awstape.c`; checked with
//! Hercules 3.13 `hetupd`):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | length of this chunk's data (0 for a tape mark) |
//! | 2 | 2 | length of the previous chunk (0 at the start and after a tape mark) |
//! | 4 | 1 | flags1: `0x80` begin of record, `0x40` tape mark, `0x20` end of record; HET: `0x03` compression (1 zlib, 2 bzip2) |
//! | 5 | 1 | flags2: 0 (`0x80` = Bus-Tech zlib, not supported) |
//!
//! A record spans chunks from the one with BOR to the one with EOR (so records can exceed
//! 64 KiB). In HET the whole record is compressed first and the compressed bytes are then
//! chunked; records that do not shrink are stored uncompressed. There is no end-of-medium
//! marker: the file's end is the tape's end.

use std::io::Read;

use relic_model::{Error, Result};

pub const HEADER: usize = 6;
pub const BOR: u8 = 0x80;
pub const TAPE_MARK: u8 = 0x40;
pub const EOR: u8 = 0x20;
pub const COMPRESSION: u8 = 0x03;
pub const ZLIB: u8 = 1;
pub const BZIP2: u8 = 2;
/// flags1 bits with no meaning in AWS/HET.
pub const UNKNOWN_FLAGS: u8 = 0x1C;
/// Largest chunk.
pub const MAX_CHUNK: usize = 0xFFFF;

/// One chunk header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    pub len: u16,
    pub prev: u16,
    pub flags1: u8,
    pub flags2: u8,
}

impl ChunkHeader {
    pub fn parse(b: &[u8; HEADER]) -> ChunkHeader {
        ChunkHeader {
            len: u16::from_le_bytes([b[0], b[1]]),
            prev: u16::from_le_bytes([b[2], b[3]]),
            flags1: b[4],
            flags2: b[5],
        }
    }
    pub fn encode(&self) -> [u8; HEADER] {
        let l = self.len.to_le_bytes();
        let p = self.prev.to_le_bytes();
        [l[0], l[1], p[0], p[1], self.flags1, self.flags2]
    }
}

/// Decompress a HET record of method `method`, refusing output over `limit` bytes.
pub fn decompress(method: u8, data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let r = match method {
        ZLIB => flate2::read::ZlibDecoder::new(data)
            .take(limit as u64 + 1)
            .read_to_end(out),
        BZIP2 => bzip2::read::BzDecoder::new(data)
            .take(limit as u64 + 1)
            .read_to_end(out),
        m => {
            return Err(Error::corrupt(format!(
                "unknown HET compression method {m}"
            )))
        }
    };
    let name = if method == ZLIB { "zlib" } else { "bzip2" };
    r.map_err(|e| Error::corrupt(format!("HET record does not decompress ({name}): {e}")))?;
    if out.len() > limit {
        return Err(Error::corrupt(format!(
            "HET record decompresses to more than the {limit}-byte record limit ({name})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn header_round_trip() {
        let h = ChunkHeader {
            len: 4096,
            prev: 1808,
            flags1: BOR | EOR | ZLIB,
            flags2: 0,
        };
        assert_eq!(ChunkHeader::parse(&h.encode()), h);
        assert_eq!(h.encode(), [0x00, 0x10, 0x10, 0x07, 0xA1, 0]);
    }

    #[test]
    fn decompression_is_bounded() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&vec![0u8; 100_000]).expect("compress");
        let packed = z.finish().expect("compress");
        let mut out = Vec::new();
        decompress(ZLIB, &packed, 200_000, &mut out).expect("fits");
        assert_eq!(out.len(), 100_000);
        let e = decompress(ZLIB, &packed, 50_000, &mut out).expect_err("too big");
        assert!(e.message.contains("more than"), "{}", e.message);
        let e = decompress(BZIP2, &packed, 200_000, &mut out).expect_err("not bzip2");
        assert!(e.message.contains("bzip2"), "{}", e.message);
    }
}
