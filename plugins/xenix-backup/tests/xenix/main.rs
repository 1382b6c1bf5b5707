//! Tests of the xenix-backup plugin, one binary with a module per concern:
//! - `fixtures`: the independent builder's fixtures (every variant, a multi-volume set) read
//!   as the builder says they should, through the hostile medium;
//! - `roundtrip`: our writer read back by our reader and by the independent builder's reader,
//!   512 and 1024 blocks, other byte orders, multi-volume at 360k, the loss report;
//! - `hostile`: truncated and damaged input gives errors with offsets, salvage goes on, no
//!   panics (smoke fuzz over every fixture).

mod common;
mod fixtures;
mod hostile;
mod roundtrip;
