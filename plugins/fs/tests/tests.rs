//! Integration tests of the `fs` plugin, all linked into one test binary.
//!
//! - `common`: a recording host, a tree builder, and an independent snapshot of a tree
//!   (lstat, xattrs, contents and `SEEK_DATA`/`SEEK_HOLE` maps taken with std and libc, not
//!   with the plugin) used to compare trees.
//! - `source`: the directory reader on a tree with every kind of object.
//! - `roundtrip`: source -> sink, directly and through the plugin ABI, gives the same tree.
//! - `safety`: hostile entries never write outside the target and are refused by name.
//! - `fuzz`: random entry paths and kinds fed to the sink.

mod common;
mod fuzz;
mod roundtrip;
mod safety;
mod source;
