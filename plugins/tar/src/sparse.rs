//! Sparse files in tar: the maps of GNU's four sparse formats, their validation, and how the
//! writer lays them out.
//!
//! A sparse map is a list of data runs `(offset, numbytes)` of the logical file; everything
//! between runs, and after the last run up to the real size, is a hole. The archive stores
//! only the runs' bytes, back to back. The formats (GNU tar manual, appendix "Storing Sparse
//! Files"; GNU tar 1.34 `src/sparse.c`):
//!
//! - **old GNU** (typeflag 'S', `--format=gnu`): four `(offset, numbytes)` pairs of 12-byte
//!   numeric fields at header offset 386, `isextended` at 482, `realsize` at 483; while
//!   `isextended` is set, a 512-byte extension block follows with 21 more pairs and its own
//!   `isextended` at 504. The header's size field counts the stored runs only.
//! - **pax 0.0**: records `GNU.sparse.size` (real size), `GNU.sparse.numblocks`, then
//!   `GNU.sparse.offset` / `GNU.sparse.numbytes` repeated once per run, in order.
//! - **pax 0.1**: `GNU.sparse.map=off,len,off,len,...`, `GNU.sparse.size`, and the real
//!   name in `GNU.sparse.name`.
//! - **pax 1.0**: `GNU.sparse.major=1`, `GNU.sparse.minor=0`, `GNU.sparse.name`,
//!   `GNU.sparse.realsize`; the map is at the start of the data area as decimal numbers one
//!   per line (count, then offset/numbytes pairs), NUL-padded to a block boundary; the size
//!   field counts map blocks plus runs. GNU tar names the header `%d/GNUSparseFile.%p/%f`
//!   (`pax_dump_header_1`) and writes the numbers with `umaxtostr`, i.e. in decimal, although
//!   the manual says "octal".
//!
//! GNU tar ends a map whose file ends in a hole with a zero-length run at the real size
//! (seen in its output: `2\n299008\n4096\n1048576\n0\n`); relic writes the same and accepts
//! zero-length runs anywhere.

use relic_model::{Error, Result};

use crate::layout::{self, SPARSE_ENTRY};

/// The most runs relic accepts in one map, read or written: 16 bytes each, so 16 MiB.
pub const MAX_RUNS: usize = 1 << 20;

/// A validated sparse map: data runs in increasing, non-overlapping order, no empty runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseMap {
    pub runs: Vec<(u64, u64)>,
    pub realsize: u64,
}

impl SparseMap {
    /// Check raw runs against the real size and the bytes stored for them, dropping the
    /// zero-length ones. `stored` is the number of data bytes the archive holds for the runs.
    pub fn validate(raw: Vec<(u64, u64)>, realsize: u64, stored: u64) -> Result<SparseMap> {
        let mut runs = Vec::with_capacity(raw.len().min(MAX_RUNS));
        let mut end = 0u64;
        let mut total = 0u64;
        for (off, len) in raw {
            let stop = off
                .checked_add(len)
                .ok_or_else(|| Error::corrupt(format!("sparse run {off}+{len} overflows")))?;
            if stop > realsize {
                return Err(Error::corrupt(format!(
                    "sparse run {off}+{len} ends past the real size {realsize}"
                )));
            }
            if len == 0 {
                continue;
            }
            if off < end {
                return Err(Error::corrupt(format!(
                    "sparse run at {off} overlaps or precedes the previous one ending at {end}"
                )));
            }
            total += len;
            end = stop;
            runs.push((off, len));
        }
        if total != stored {
            return Err(Error::corrupt(format!(
                "sparse map describes {total} bytes of data but the archive stores {stored}"
            )));
        }
        Ok(SparseMap { runs, realsize })
    }
}

fn check_count(n: usize) -> Result<()> {
    if n > MAX_RUNS {
        return Err(Error::unsupported(format!(
            "sparse map with more than {MAX_RUNS} runs"
        )));
    }
    Ok(())
}

/// Parse up to `n` old-GNU sparse entries from `area` (24 bytes each). Stops at the first
/// entry whose offset field is blank, as GNU tar does. Appends to `out`.
pub fn parse_gnu_entries(area: &[u8], n: usize, out: &mut Vec<(u64, u64)>) -> Result<()> {
    for i in 0..n {
        let e = &area[i * SPARSE_ENTRY..(i + 1) * SPARSE_ENTRY];
        if e[0] == 0 {
            break;
        }
        let off = layout::parse_unsigned(&e[..12], "sparse offset")?;
        let len = layout::parse_unsigned(&e[12..24], "sparse numbytes")?;
        check_count(out.len() + 1)?;
        out.push((off, len));
    }
    Ok(())
}

/// `GNU.sparse.map` of format 0.1: `off,len,off,len,...`.
pub fn parse_map_01(v: &[u8]) -> Result<Vec<(u64, u64)>> {
    let nums: Vec<&[u8]> = if v.is_empty() {
        vec![]
    } else {
        v.split(|&b| b == b',').collect()
    };
    if nums.len() % 2 != 0 {
        return Err(Error::corrupt("GNU.sparse.map has an odd number of values"));
    }
    check_count(nums.len() / 2)?;
    nums.chunks(2)
        .map(|p| {
            let n = |s: &[u8]| {
                crate::pax::parse_u64(s).ok_or_else(|| {
                    Error::corrupt(format!(
                        "GNU.sparse.map value {:?} is not a number",
                        String::from_utf8_lossy(s)
                    ))
                })
            };
            Ok((n(p[0])?, n(p[1])?))
        })
        .collect()
}

/// The format 1.0 map block: count and pairs in decimal, one per line, NUL-padded to a block.
pub fn format_map_10(runs: &[(u64, u64)]) -> Vec<u8> {
    let mut out = format!("{}\n", runs.len()).into_bytes();
    for (o, l) in runs {
        out.extend_from_slice(format!("{o}\n{l}\n").as_bytes());
    }
    let pad = layout::padding(out.len() as u64) as usize;
    out.resize(out.len() + pad, 0);
    out
}

/// Fill `n` old-GNU sparse entries in `area` from `runs`; returns how many were used.
pub fn put_gnu_entries(area: &mut [u8], n: usize, runs: &[(u64, u64)]) -> usize {
    let k = runs.len().min(n);
    for (i, (o, l)) in runs[..k].iter().enumerate() {
        let e = &mut area[i * SPARSE_ENTRY..(i + 1) * SPARSE_ENTRY];
        // i64 range always holds: offsets are bounded by the entry size
        layout::put_numeric_gnu(&mut e[..12], *o as i64);
        layout::put_numeric_gnu(&mut e[12..24], *l as i64);
    }
    k
}

/// The runs a writer records in a map: the data runs, plus GNU's zero-length terminator at
/// the real size when the file does not end with data (or has no data at all).
pub fn runs_for_map(runs: &[(u64, u64)], realsize: u64) -> Vec<(u64, u64)> {
    let mut out = runs.to_vec();
    if out.last().map(|(o, l)| o + l) != Some(realsize) {
        out.push((realsize, 0));
    }
    out
}

/// Blocks needed for the map of a 1.0 entry (for the size field).
pub fn map_10_len(runs: &[(u64, u64)]) -> u64 {
    let mut n = format!("{}\n", runs.len()).len() as u64;
    for (o, l) in runs {
        n += (o.to_string().len() + l.to_string().len() + 2) as u64;
    }
    n + layout::padding(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_drops_empty_runs_and_checks_sums() {
        let m = SparseMap::validate(vec![(0, 10), (20, 0), (4096, 5), (8192, 0)], 8192, 15)
            .expect("valid");
        assert_eq!(m.runs, vec![(0, 10), (4096, 5)]);
        assert!(
            SparseMap::validate(vec![(0, 10)], 5, 10).is_err(),
            "past real size"
        );
        assert!(
            SparseMap::validate(vec![(10, 10), (5, 1)], 100, 11).is_err(),
            "out of order"
        );
        assert!(
            SparseMap::validate(vec![(0, 10)], 100, 11).is_err(),
            "stored mismatch"
        );
        assert!(
            SparseMap::validate(vec![(u64::MAX, 10)], u64::MAX, 10).is_err(),
            "overflow"
        );
    }

    #[test]
    fn map_10_layout_matches_gnu() {
        let runs = runs_for_map(&[(299008, 4096)], 1048576);
        let b = format_map_10(&runs);
        assert_eq!(&b[..25], b"2\n299008\n4096\n1048576\n0\n\0");
        assert_eq!(b.len(), 512);
        assert_eq!(map_10_len(&runs), 512);
        assert_eq!(runs_for_map(&[], 7), vec![(7, 0)]);
        assert_eq!(runs_for_map(&[(0, 7)], 7), vec![(0, 7)]);
    }

    #[test]
    fn map_01() {
        assert_eq!(
            parse_map_01(b"0,5,100,3").expect("ok"),
            vec![(0, 5), (100, 3)]
        );
        assert!(parse_map_01(b"0,5,100").is_err());
        assert!(parse_map_01(b"0,x").is_err());
        assert_eq!(parse_map_01(b"").expect("ok"), vec![]);
    }
}
