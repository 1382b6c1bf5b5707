//! Archive and volume metadata: what a dump header, an AIX volume header or a VMS summary
//! record says about the whole archive rather than one entry.

use crate::entry::{Extra, Timestamp};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeInfo {
    /// Format id of the source (`tar`, `irix-dump`, ...); set by the reader.
    pub format: String,
    /// Variant within the format (`pax`, `gnu`, `ufs2`, `by-inode`, ...).
    pub variant: String,
    pub label: Option<Vec<u8>>,
    /// Volume number within a multi-volume set, starting at 1.
    pub volume: Option<u32>,
    /// When this dump was made.
    pub date: Option<Timestamp>,
    /// The date of the base dump an incremental is relative to ("since").
    pub since: Option<Timestamp>,
    /// Dump level 0-9 (None where the format has no levels).
    pub level: Option<u8>,
    pub host: Option<Vec<u8>>,
    pub filesystem: Option<Vec<u8>>,
    pub device: Option<Vec<u8>>,
    pub user: Option<Vec<u8>>,
    /// Logical block size of the format (TP_BSIZE, BBH block size) where it has one.
    pub block_size: Option<u32>,
    /// Record size on the medium (blocking factor x block size).
    pub record_size: Option<u32>,
    pub extras: Vec<Extra>,
}
