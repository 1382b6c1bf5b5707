//! TPC (`.tpc`, sometimes misnamed `.tap`): the oldest PC tape image format.
//!
//! Layout (research note `tape-media.md` §1.4; `open-simh/simh : sim_tape.h` `TPC_TMK`,
//! `TPC_EOM`; KLH10 `src/vmtape.c`; SIMH `mtcvtv23.txt`):
//!
//! | bytes | content |
//! |---|---|
//! | 0..2 | record length, little-endian u16; 0 = tape mark |
//! | 2..2+n | the record's data |
//! | +0..1 | one pad byte when `n` is odd |
//!
//! There is no trailing length, so the format can only be read forward and one corrupt length
//! loses every later boundary. `0xFFFF` as the very last word of the file is an end-of-medium
//! marker (SIMH's reading); anywhere else it is a 65535-byte record.

/// Tape mark.
pub const TAPE_MARK: u16 = 0;
/// End of medium, when it is the last word.
pub const EOM: u16 = 0xFFFF;
/// Largest record.
pub const MAX_LEN: usize = 0xFFFF;
