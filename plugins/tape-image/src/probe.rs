//! Container detection by parsing the first objects, never by file name.
//!
//! Each container's parser runs over the head of the input; the bid is the number of bits the
//! parse verified (libarchive's bidding):
//! - SIMH/E11: 32 bits per record whose trailing length equals its leading one, 2 per tape
//!   mark, 8 for an end-of-medium marker. The research note's lesson from `file(1)`
//!   (`file/file#145`) is applied: no class bits are masked away, and one verified record
//!   with nothing after it in the head (a head too short for the second record) counts half.
//! - AWS/HET: 24 bits per chunk whose previous-length field matches the chunk before and
//!   whose flags are a valid combination (16 + 8), the first chunk's previous length being 0;
//!   16 more per compressed record that decompresses. A HET image with no compressed record in
//!   the head is byte-for-byte an AWS image: `aws` then bids 8 bits more than `het`; with
//!   compression seen `het` bids 8 bits more (the `aws` reader reads both anyway).
//! - TPC has no trailer, so little can be verified: 4 bits per record and 2 per mark, capped
//!   at 64, only with at least one tape mark and two records; halved when there are more than
//!   2 x marks + 2 distinct record sizes (SIMH's own sanity rule, research note §1.8).
//!
//! SIMH and E11 differ only after odd-length records; with none in the head they bid the same
//! and the engine reports the tie (`--medium simh|e11` decides). A parse that hits corrupt
//! framing bids 0, unless at least 8 records verified before it (a damaged real image), then
//! half. The end of the head cutting an object short ends the evidence, it is not an error.

use std::collections::HashSet;
use std::io::Cursor;

use relic_model::ErrorKind;

use crate::parse::{Head, Kind, Parser};
use crate::source::SeekSource;

/// Highest bid (32 verified records' worth).
const CAP: u32 = 1024;
/// Objects looked at.
const MAX_OBJECTS: usize = 256;

struct Evidence {
    bits: u32,
    records: u32,
    marks: u32,
    sizes: HashSet<usize>,
    ended: bool,
    corrupt: bool,
    compressed: bool,
}

fn walk(kind: Kind, head: &[u8]) -> Evidence {
    let mut ev = Evidence {
        bits: 0,
        records: 0,
        marks: 0,
        sizes: HashSet::new(),
        ended: false,
        corrupt: false,
        compressed: false,
    };
    let Ok(mut src) = SeekSource::new(Cursor::new(head), "probe") else {
        return ev;
    };
    let mut p = Parser::new(kind);
    p.strict = true;
    for _ in 0..MAX_OBJECTS {
        p.saw_compression = false;
        let r = p.next_head(&mut src).and_then(|h| {
            if let Head::Record { len, held, .. } = h {
                p.skip_body(&mut src, len, held)?;
            }
            Ok(h)
        });
        match r {
            Ok(Head::Record { len, .. }) => {
                ev.records += 1;
                ev.sizes.insert(len);
                ev.bits += match kind {
                    Kind::Simh | Kind::E11 => 32,
                    Kind::Tpc => 4,
                    Kind::Aws | Kind::Het => {
                        24 * chunks(len) + if p.saw_compression { 16 } else { 0 }
                    }
                };
                ev.compressed |= p.saw_compression;
            }
            Ok(Head::Mark) => {
                ev.marks += 1;
                ev.bits += if matches!(kind, Kind::Aws | Kind::Het) {
                    24
                } else {
                    2
                };
            }
            Ok(Head::End(why)) => {
                if why == crate::parse::EndWhy::EomMarker {
                    ev.bits += 8;
                    ev.ended = true;
                }
                break;
            }
            Err(e) if e.kind == ErrorKind::Truncated => break,
            Err(_) => {
                ev.corrupt = true;
                break;
            }
        }
        if ev.bits >= CAP {
            break;
        }
    }
    // skipped SIMH objects (private records, gaps) verified framing too
    if matches!(kind, Kind::Simh | Kind::E11) {
        ev.bits += 8 * p.skipped.min(32) as u32;
    }
    ev
}

/// Chunks a record of `len` bytes took, at least one (used only for the bid).
fn chunks(len: usize) -> u32 {
    len.div_ceil(0xFFFF).clamp(1, 64) as u32
}

/// The bid of container `kind` on an input starting with `head`.
pub fn bid(kind: Kind, head: &[u8]) -> u32 {
    let family = match kind {
        Kind::Het => Kind::Aws,
        k => k,
    };
    let ev = walk(family, head);
    let plausible = match family {
        Kind::Tpc => ev.marks >= 1 && ev.records >= 2,
        _ => ev.records >= 1,
    };
    if !plausible {
        return 0;
    }
    let mut bits = ev.bits.min(CAP);
    // one record and nothing after it in the head (a large second record): weak evidence
    if family != Kind::Tpc && ev.records == 1 && ev.marks == 0 && !ev.ended {
        bits /= 2;
    }
    if family == Kind::Tpc {
        bits = bits.min(64);
        if ev.sizes.len() as u32 > 2 * ev.marks + 2 {
            bits /= 2;
        }
    }
    if ev.corrupt {
        if ev.records < 8 {
            return 0;
        }
        bits /= 2;
    }
    match kind {
        Kind::Aws if ev.compressed => bits.saturating_sub(8),
        Kind::Het if !ev.compressed => bits.saturating_sub(8),
        _ => bits,
    }
}
