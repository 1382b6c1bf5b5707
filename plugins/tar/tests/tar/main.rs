//! Integration tests of the tar plugin, one binary with a module per concern:
//! - `fixtures`: reading the committed fixtures, checked against GNU tar's listing and extraction;
//! - `roundtrip`: our writer checked by GNU tar (extraction, listing, byte-exact output) and by our reader;
//! - `hostile`: bad and absurd input gives errors, never panics or huge allocations; smoke fuzz.

mod common;
mod fixtures;
mod hostile;
mod roundtrip;
