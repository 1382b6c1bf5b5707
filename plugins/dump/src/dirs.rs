//! Directory contents inside a dump: the data of a directory inode is a list of entries,
//! parsed by the reader to build names and built by the writers from the catalog.
//!
//! Formats (research note 2.4, 2.5, 2.6, 2.3):
//! - 4.2BSD (IRIX, 4.3BSD, any dump without DR_NEWINODEFMT): `{u32 d_ino; u16 d_reclen;
//!   u16 d_namlen; name; NUL; pad to 4}` in the dump's byte order;
//! - 4.4BSD/Linux: `{u32 d_ino; u16 d_reclen; u8 d_type; u8 d_namlen; name; NUL; pad}`,
//!   d_type = mode >> 12;
//! - V7 (4.1BSD OFS dumps): 16-byte `{u16 d_ino; char d_name[14]}`, little-endian.
//!
//! Entries never cross a DIRBLKSIZ (512) boundary; the last entry of each 512-byte chunk
//! has its d_reclen stretched to the chunk's end; d_ino 0 marks unused space.
//!
//! d_type (4.4BSD `<sys/dirent.h>`, `IFTODT(mode)` = `(mode & 0170000) >> 12`): 0
//! DT_UNKNOWN, 1 FIFO, 2 CHR, 4 DIR, 6 BLK, 8 REG, 10 LNK, 12 SOCK, 14 WHT. Linux dump
//! converts ext2's own file types (1 REG, 2 DIR, ... 7 LNK) to these when it builds its
//! 4.4BSD directory blocks (seen in fixtures/dump/basic.dump: `fifo` 1, `bigdev` 2, `sub` 4,
//! `hello.txt` 8, `long-link` 10, `loop0` 6). The reader's names-only path ([`crate::read`])
//! takes the kinds of non-directories from it.

use crate::layout::{Endian, DIRBLKSIZ};

/// How directory entries are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirFormat {
    /// 4.2BSD: 16-bit name length.
    Bsd42,
    /// 4.4BSD/Linux: type byte and 8-bit name length.
    Bsd44,
    /// V7 16-byte entries.
    V7,
}

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u32,
    /// d_type of the 4.4BSD/Linux format; [`DT_UNKNOWN`] for the formats without one.
    pub dtype: u8,
    pub name: Vec<u8>,
}

/// d_type: the kind is not recorded (also every 4.2BSD and V7 entry).
pub const DT_UNKNOWN: u8 = 0;
/// d_type of a directory.
pub const DT_DIR: u8 = 4;

/// Parse directory data; `.` and `..` are left out. Returns the entries and the number of
/// mangled chunks that had to be skipped.
pub fn parse(data: &[u8], format: DirFormat, endian: Endian) -> (Vec<DirEntry>, usize) {
    let mut out = Vec::new();
    let mangled = parse_each(data, format, endian, |ino, dtype, name| {
        out.push(DirEntry {
            ino,
            dtype,
            name: name.to_vec(),
        })
    });
    (out, mangled)
}

/// [`parse`] without allocating: `f(ino, d_type, name)` for each entry, in order. Returns
/// the number of mangled chunks skipped.
pub fn parse_each(
    data: &[u8],
    format: DirFormat,
    endian: Endian,
    mut f: impl FnMut(u32, u8, &[u8]),
) -> usize {
    let mut mangled = 0;
    if format == DirFormat::V7 {
        for e in data.chunks_exact(16) {
            let ino = u16::from_le_bytes([e[0], e[1]]) as u32;
            let raw = &e[2..16];
            let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
            if ino != 0 && !is_dot(name) && !name.is_empty() {
                f(ino, DT_UNKNOWN, name);
            }
        }
        return 0;
    }
    let mut loc = 0usize;
    while loc + 8 <= data.len() {
        let chunk_end = ((loc / DIRBLKSIZ) + 1) * DIRBLKSIZ;
        let chunk_end = chunk_end.min(data.len());
        let ino = endian.u32(data, loc);
        let reclen = endian.u16(data, loc + 4) as usize;
        let namlen = match format {
            DirFormat::Bsd42 => endian.u16(data, loc + 6) as usize,
            _ => data[loc + 7] as usize,
        };
        if reclen < 8 || loc + reclen > chunk_end || (ino != 0 && 8 + namlen > reclen) {
            mangled += 1;
            loc = chunk_end;
            continue;
        }
        if ino != 0 && namlen > 0 {
            let name = &data[loc + 8..loc + 8 + namlen];
            if !is_dot(name) {
                let dtype = match format {
                    DirFormat::Bsd44 => data[loc + 6],
                    _ => DT_UNKNOWN,
                };
                f(ino, dtype, name);
            }
        }
        loc += reclen;
    }
    mangled
}

fn is_dot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

/// d_type of a file mode (4.4BSD `IFTODT`).
pub fn dtype(mode: u32) -> u8 {
    ((mode >> 12) & 0o17) as u8
}

/// Build directory data: `.`, `..`, then `entries` as `(ino, name, mode)`, in 512-byte
/// chunks. Names must be at most 255 bytes (the writers' capabilities say so).
pub fn build(
    self_ino: u32,
    parent_ino: u32,
    entries: &[(u32, &[u8], u32)],
    format: DirFormat,
    endian: Endian,
) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut chunk_start = 0usize;
    let mut last_entry: Option<usize> = None;
    let dot: [(u32, &[u8], u32); 2] = [
        (self_ino, b".", crate::layout::S_IFDIR),
        (parent_ino, b"..", crate::layout::S_IFDIR),
    ];
    for (ino, name, mode) in dot.iter().chain(entries.iter()) {
        let name = &name[..name.len().min(255)];
        let len = 8 + (name.len() + 1).div_ceil(4) * 4;
        if out.len() + len > chunk_start + DIRBLKSIZ {
            // stretch the last entry of this chunk to its end and start a new chunk
            if let Some(at) = last_entry {
                let end = chunk_start + DIRBLKSIZ;
                endian.put_u16(&mut out, at + 4, (end - at) as u16);
                out.resize(end, 0);
            }
            chunk_start = out.len();
        }
        let at = out.len();
        out.resize(at + len, 0);
        endian.put_u32(&mut out, at, *ino);
        endian.put_u16(&mut out, at + 4, len as u16);
        match format {
            DirFormat::Bsd42 => endian.put_u16(&mut out, at + 6, name.len() as u16),
            _ => {
                out[at + 6] = dtype(*mode);
                out[at + 7] = name.len() as u8;
            }
        }
        out[at + 8..at + 8 + name.len()].copy_from_slice(name);
        last_entry = Some(at);
    }
    if let Some(at) = last_entry {
        let end = chunk_start + DIRBLKSIZ;
        endian.put_u16(&mut out, at + 4, (end - at) as u16);
        out.resize(end, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse_round_trip_over_chunks() {
        let names: Vec<Vec<u8>> = (0..60)
            .map(|i| format!("name-{i}-{}", "x".repeat(i % 40)).into_bytes())
            .collect();
        let entries: Vec<(u32, &[u8], u32)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (100 + i as u32, n.as_slice(), 0o100644))
            .collect();
        for (format, endian) in [
            (DirFormat::Bsd42, Endian::Big),
            (DirFormat::Bsd44, Endian::Little),
        ] {
            let data = build(5, 2, &entries, format, endian);
            assert_eq!(data.len() % DIRBLKSIZ, 0);
            assert!(data.len() > DIRBLKSIZ);
            let (parsed, mangled) = parse(&data, format, endian);
            assert_eq!(mangled, 0);
            assert_eq!(parsed.len(), names.len());
            for (p, (ino, n, mode)) in parsed.iter().zip(&entries) {
                assert_eq!(p.ino, *ino);
                assert_eq!(p.name.as_slice(), *n);
                let want = if format == DirFormat::Bsd44 {
                    dtype(*mode)
                } else {
                    DT_UNKNOWN
                };
                assert_eq!(p.dtype, want);
            }
        }
    }

    #[test]
    fn mangled_chunk_is_skipped_not_fatal() {
        let entries: Vec<(u32, &[u8], u32)> = vec![(9, b"a", 0o100644)];
        let mut data = build(2, 2, &entries, DirFormat::Bsd44, Endian::Little);
        data[4] = 3; // reclen of "." below 8
        let (parsed, mangled) = parse(&data, DirFormat::Bsd44, Endian::Little);
        assert_eq!(mangled, 1);
        assert!(parsed.is_empty());
        let (parsed, _) = parse(&[0xff; 37], DirFormat::Bsd42, Endian::Big);
        assert!(parsed.len() <= 4);
    }
}
