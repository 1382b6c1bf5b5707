//! SIMH `.tap` and E11 `.tpe` framing: the length words and what each value means.
//!
//! Layout (research note `tape-media.md` §1.1-1.3; `open-simh/simh : sim_tape.h`, and the
//! 2022 extended-format spec in `mcbridet/rttools : docs/simh_magtape.md`):
//!
//! | bytes | content |
//! |---|---|
//! | 0..4 | length word, little-endian u32: class in bits 31-28, value/length in bits 27-0 |
//! | 4..4+n | the record's `n` data bytes (data-record classes only) |
//! | +0..1 | SIMH: one pad byte when `n` is odd (value undefined, written as 0); E11: none |
//! | +0..4 | trailing length word, equal to the leading one |
//!
//! Word values and classes:
//! - `0x00000000` tape mark; class 0 with n > 0: good data record;
//! - class 8: bad data record (the old "bit 31 = error flag"), n may be 0;
//! - classes 1-6 (private), 9-D (reserved), E (tape description): data records that a
//!   standard reader skips, framed like any record;
//! - class 7: private marker, class F: reserved markers, both data-less; among them
//!   `0xFFFFFFFE` erase gap, `0xFFFEFFFF` half gap seen forward (advance 2 bytes, research
//!   note §1.1), `0xFFFFFFFF` end of medium.

/// Tape mark.
pub const TAPE_MARK: u32 = 0;
/// Logical end of medium.
pub const EOM: u32 = 0xFFFF_FFFF;
/// Erase gap (one word per 4 bytes of erased tape).
pub const GAP: u32 = 0xFFFF_FFFE;
/// Half gap met in a forward read.
pub const HALF_GAP: u32 = 0xFFFE_FFFF;
/// Bad-record class.
pub const CLASS_BAD: u32 = 8;
/// Largest length a standard SIMH record can have (24 bits).
pub const MAX_STANDARD_LEN: usize = 0x00FF_FFFF;

/// What a length word says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Word {
    Mark,
    Eom,
    Gap,
    HalfGap,
    /// A data-less marker of class 7 or F: skipped.
    Marker,
    /// A data record to deliver (class 0 or 8).
    Data {
        len: u32,
        bad: bool,
    },
    /// A data record to skip (private, reserved or description classes).
    Skip {
        class: u32,
        len: u32,
    },
}

pub fn classify(word: u32) -> Word {
    match word {
        TAPE_MARK => Word::Mark,
        EOM => Word::Eom,
        GAP => Word::Gap,
        HALF_GAP => Word::HalfGap,
        _ => {
            let class = word >> 28;
            let len = word & 0x0FFF_FFFF;
            match class {
                0 => Word::Data { len, bad: false },
                CLASS_BAD => Word::Data { len, bad: true },
                7 | 0xF => Word::Marker,
                _ => Word::Skip { class, len },
            }
        }
    }
}

/// The pad after a record of `len` bytes.
pub fn pad(len: u64, e11: bool) -> u64 {
    if e11 {
        0
    } else {
        len & 1
    }
}

/// Name of a skipped class, for messages.
pub fn class_name(class: u32) -> &'static str {
    match class {
        1..=6 => "private data record",
        0xE => "tape description record",
        _ => "reserved data record",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_2022_classes() {
        assert_eq!(classify(0), Word::Mark);
        assert_eq!(
            classify(80),
            Word::Data {
                len: 80,
                bad: false
            }
        );
        assert_eq!(classify(0x8000_0000), Word::Data { len: 0, bad: true });
        assert_eq!(
            classify(0x8000_0200),
            Word::Data {
                len: 512,
                bad: true
            }
        );
        assert_eq!(classify(0x1000_0010), Word::Skip { class: 1, len: 16 });
        assert_eq!(classify(0xE000_0005), Word::Skip { class: 0xE, len: 5 });
        assert_eq!(classify(0x7123_4567), Word::Marker);
        assert_eq!(classify(0xF000_0001), Word::Marker);
        assert_eq!(classify(GAP), Word::Gap);
        assert_eq!(classify(HALF_GAP), Word::HalfGap);
        assert_eq!(classify(EOM), Word::Eom);
        assert_eq!(pad(513, false), 1);
        assert_eq!(pad(513, true), 0);
    }
}
