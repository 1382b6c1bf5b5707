//! Linux magnetic tape ioctls, declared by hand (the libc crate has none).
//!
//! Numbers and layouts from `/usr/include/linux/mtio.h` (Debian 12), checked on x86-64 with a
//! C program (research note `tape-media.md` §2.4):
//!
//! - `MTIOCTOP = _IOW('m', 1, struct mtop) = 0x40086d01`; `struct mtop { short mt_op; int
//!   mt_count; }`, 8 bytes (2 bytes of padding after `mt_op`);
//! - `MTIOCGET = _IOR('m', 2, struct mtget) = 0x80306d02`; `struct mtget`, 48 bytes on LP64:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | long | `mt_type` |
//! | 8 | long | `mt_resid` (partition for st) |
//! | 16 | long | `mt_dsreg`: block size in bits 23-0, density in 31-24 |
//! | 24 | long | `mt_gstat`: `GMT_*` status bits |
//! | 32 | long | `mt_erreg`: soft error count in bits 15-0 |
//! | 40 | int (`daddr_t`) | `mt_fileno` (-1 unknown) |
//! | 44 | int (`daddr_t`) | `mt_blkno` (-1 unknown) |
//!
//! The ioctl numbers encode the struct sizes, so they are only right where `long` is 64 bits;
//! the crate refuses to build the real-device path elsewhere (see the size checks below).

use std::os::raw::{c_int, c_long, c_short};

pub const MTIOCTOP: u64 = 0x4008_6d01;
pub const MTIOCGET: u64 = 0x8030_6d02;

// mt_op values
pub const MTFSF: c_short = 1;
pub const MTBSF: c_short = 2;
pub const MTFSR: c_short = 3;
pub const MTBSR: c_short = 4;
pub const MTWEOF: c_short = 5;
pub const MTREW: c_short = 6;
pub const MTNOP: c_short = 8;
pub const MTEOM: c_short = 12;
pub const MTSETBLK: c_short = 20;

// mt_gstat bits
pub const GMT_EOF: c_long = 0x8000_0000;
pub const GMT_BOT: c_long = 0x4000_0000;
pub const GMT_EOT: c_long = 0x2000_0000;
pub const GMT_EOD: c_long = 0x0800_0000;
pub const GMT_WR_PROT: c_long = 0x0400_0000;
pub const GMT_ONLINE: c_long = 0x0100_0000;

/// `mt_dsreg` block size mask.
pub const MT_ST_BLKSIZE_MASK: c_long = 0x00ff_ffff;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MtOp {
    pub mt_op: c_short,
    pub mt_count: c_int,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MtGet {
    pub mt_type: c_long,
    pub mt_resid: c_long,
    pub mt_dsreg: c_long,
    pub mt_gstat: c_long,
    pub mt_erreg: c_long,
    pub mt_fileno: c_int,
    pub mt_blkno: c_int,
}

#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(std::mem::size_of::<MtOp>() == 8);
    assert!(std::mem::size_of::<MtGet>() == 48);
    // the ioctl numbers carry the sizes in bits 29-16
    assert!((MTIOCTOP >> 16) & 0x3fff == 8);
    assert!((MTIOCGET >> 16) & 0x3fff == 48);
};

/// Name of an mt_op, for messages.
pub fn op_name(op: c_short) -> &'static str {
    match op {
        MTFSF => "MTFSF",
        MTBSF => "MTBSF",
        MTFSR => "MTFSR",
        MTBSR => "MTBSR",
        MTWEOF => "MTWEOF",
        MTREW => "MTREW",
        MTNOP => "MTNOP",
        MTEOM => "MTEOM",
        MTSETBLK => "MTSETBLK",
        _ => "MT?",
    }
}
