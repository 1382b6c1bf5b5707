//! An in-process tape drive with the Linux st driver's semantics, for tests.
//!
//! What it reproduces (research note `tape-media.md` §2.2-2.3, `Documentation/scsi/st.rst`,
//! `man4/st.4`):
//! - it starts in fixed-block mode (512 bytes): a read of a block of another size fails with
//!   EIO and a write that is not a multiple of 512 with EINVAL, until `MTSETBLK 0` selects
//!   variable-block mode;
//! - variable mode: a `read` returns one block of its exact length; a buffer smaller than the
//!   block gives ENOMEM and the block is consumed (so the reader must `MTBSR 1`);
//! - a filemark reads as 0 bytes and is passed; at end of data the first read returns 0 and
//!   the next ones EIO;
//! - a write replaces everything after the head; past the early-warning point the write that
//!   crossed it completes, then writes alternate ENOSPC (nothing written) and success; at the
//!   physical end every write fails with ENOSPC;
//! - `MTFSF`/`MTBSF` (ending after / before the mark), `MTFSR`/`MTBSR` (EIO when a filemark
//!   is crossed, the head then on the far side of it; EIO at BOT/EOD), `MTWEOF`, `MTREW`,
//!   `MTEOM`, `MTNOP`, `MTSETBLK`; `MTIOCGET` with file/block numbers and BOT/EOF/EOD bits;
//! - `close` after a write puts one filemark, as st does;
//! - blocks marked bad read as EIO (and are passed).
//!
//! Clones share one tape, so a test keeps a handle to inspect what the medium wrote.

use std::io;
use std::os::raw::{c_int, c_long, c_short};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::mtio::*;
use crate::ops::TapeOps;

/// One object on the simulated tape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    Data(Vec<u8>),
    /// A block the drive cannot read (EIO).
    Bad(usize),
    Mark,
}

/// Counters a test can assert on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub reads: u64,
    pub enomem: u64,
    pub enospc: u64,
    pub eio: u64,
    /// Every MTIOCTOP, as (op, count).
    pub ops: Vec<(c_short, c_int)>,
}

#[derive(Debug)]
struct State {
    tape: Vec<Block>,
    pos: usize,
    block_size: u32,
    /// Reads at end of data since the last motion.
    eod_reads: u32,
    early_warning_at: Option<u64>,
    capacity: Option<u64>,
    /// Past early warning: the next write fails with ENOSPC.
    enospc_next: bool,
    last_was_write: bool,
    stats: Stats,
}

/// A simulated st drive; clones share the tape.
#[derive(Debug, Clone)]
pub struct SimulatedDrive {
    state: Arc<Mutex<State>>,
}

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl Default for SimulatedDrive {
    fn default() -> Self {
        SimulatedDrive::new()
    }
}

impl SimulatedDrive {
    /// A blank tape in fixed-block mode (512), without early warning or end.
    pub fn new() -> SimulatedDrive {
        SimulatedDrive {
            state: Arc::new(Mutex::new(State {
                tape: Vec::new(),
                pos: 0,
                block_size: 512,
                eod_reads: 0,
                early_warning_at: None,
                capacity: None,
                enospc_next: false,
                last_was_write: false,
                stats: Stats::default(),
            })),
        }
    }

    /// A tape holding `blocks`, head at BOT.
    pub fn with_tape(blocks: Vec<Block>) -> SimulatedDrive {
        let d = SimulatedDrive::new();
        d.lock().tape = blocks;
        d
    }

    /// Early warning once `bytes` of data are on the tape before the head; physical end at
    /// `capacity` bytes.
    pub fn with_end(self, early_warning_at: u64, capacity: u64) -> SimulatedDrive {
        {
            let mut s = self.lock();
            s.early_warning_at = Some(early_warning_at);
            s.capacity = Some(capacity);
        }
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // a panic while holding the lock only happens in a failing test
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What is on the tape.
    pub fn tape(&self) -> Vec<Block> {
        self.lock().tape.clone()
    }
    /// Head position (object index).
    pub fn head(&self) -> usize {
        self.lock().pos
    }
    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }
}

impl State {
    fn used(&self) -> u64 {
        self.tape[..self.pos]
            .iter()
            .map(|b| match b {
                Block::Data(d) => d.len() as u64,
                Block::Bad(n) => *n as u64,
                Block::Mark => 0,
            })
            .sum()
    }

    fn moved(&mut self) {
        self.eod_reads = 0;
        self.last_was_write = false;
    }

    fn fail(&mut self, code: i32) -> io::Error {
        match code {
            libc::EIO => self.stats.eio += 1,
            libc::ENOMEM => self.stats.enomem += 1,
            libc::ENOSPC => self.stats.enospc += 1,
            _ => {}
        }
        err(code)
    }
}

impl TapeOps for SimulatedDrive {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut s = self.lock();
        s.stats.reads += 1;
        s.last_was_write = false;
        let pos = s.pos;
        let Some(block) = s.tape.get(pos).cloned() else {
            s.eod_reads += 1;
            return if s.eod_reads == 1 {
                Ok(0)
            } else {
                Err(s.fail(libc::EIO))
            };
        };
        s.eod_reads = 0;
        s.pos += 1;
        match block {
            Block::Mark => Ok(0),
            Block::Bad(_) => Err(s.fail(libc::EIO)),
            Block::Data(d) => {
                if s.block_size != 0 && d.len() != s.block_size as usize {
                    // fixed-block mode cannot read a block of another length
                    return Err(s.fail(libc::EIO));
                }
                if d.len() > buf.len() {
                    return Err(s.fail(libc::ENOMEM));
                }
                buf[..d.len()].copy_from_slice(&d);
                Ok(d.len())
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut s = self.lock();
        #[allow(clippy::manual_is_multiple_of)] // is_multiple_of is newer than rust-version
        if s.block_size != 0 && buf.len() % s.block_size as usize != 0 {
            return Err(s.fail(libc::EINVAL));
        }
        let used = s.used();
        if s.capacity.is_some_and(|c| used + buf.len() as u64 > c) {
            return Err(s.fail(libc::ENOSPC));
        }
        if s.early_warning_at.is_some_and(|ew| used >= ew) {
            // past early warning: writes alternate ENOSPC and success
            if s.enospc_next {
                s.enospc_next = false;
                return Err(s.fail(libc::ENOSPC));
            }
            s.enospc_next = true;
        } else if s
            .early_warning_at
            .is_some_and(|ew| used + buf.len() as u64 >= ew)
        {
            // this write crosses the mark: it completes, the next one fails
            s.enospc_next = true;
        }
        let pos = s.pos;
        s.tape.truncate(pos);
        s.tape.push(Block::Data(buf.to_vec()));
        s.pos += 1;
        s.eod_reads = 0;
        s.last_was_write = true;
        Ok(buf.len())
    }

    fn ioctl_op(&mut self, op: c_short, count: c_int) -> io::Result<()> {
        let mut s = self.lock();
        s.stats.ops.push((op, count));
        let n = count.max(0) as usize;
        match op {
            MTSETBLK => {
                s.block_size = count.max(0) as u32;
                Ok(())
            }
            MTNOP => Ok(()),
            MTREW => {
                s.moved();
                s.pos = 0;
                Ok(())
            }
            MTEOM => {
                s.moved();
                s.pos = s.tape.len();
                Ok(())
            }
            MTWEOF => {
                let pos = s.pos;
                s.tape.truncate(pos);
                for _ in 0..n {
                    s.tape.push(Block::Mark);
                }
                s.pos += n;
                s.eod_reads = 0;
                s.last_was_write = false;
                Ok(())
            }
            MTFSF => {
                s.moved();
                for _ in 0..n {
                    match s.tape[s.pos..].iter().position(|b| *b == Block::Mark) {
                        Some(i) => s.pos += i + 1,
                        None => {
                            s.pos = s.tape.len();
                            return Err(s.fail(libc::EIO));
                        }
                    }
                }
                Ok(())
            }
            MTBSF => {
                s.moved();
                for _ in 0..n {
                    match s.tape[..s.pos].iter().rposition(|b| *b == Block::Mark) {
                        Some(i) => s.pos = i,
                        None => {
                            s.pos = 0;
                            return Err(s.fail(libc::EIO));
                        }
                    }
                }
                Ok(())
            }
            MTFSR => {
                s.moved();
                for _ in 0..n {
                    match s.tape.get(s.pos) {
                        None => return Err(s.fail(libc::EIO)),
                        Some(Block::Mark) => {
                            s.pos += 1;
                            return Err(s.fail(libc::EIO));
                        }
                        Some(_) => s.pos += 1,
                    }
                }
                Ok(())
            }
            MTBSR => {
                s.moved();
                for _ in 0..n {
                    if s.pos == 0 {
                        return Err(s.fail(libc::EIO));
                    }
                    s.pos -= 1;
                    if s.tape[s.pos] == Block::Mark {
                        return Err(s.fail(libc::EIO));
                    }
                }
                Ok(())
            }
            _ => Err(err(libc::EINVAL)),
        }
    }

    fn status(&mut self) -> io::Result<MtGet> {
        let s = self.lock();
        let before = &s.tape[..s.pos];
        let fileno = before.iter().filter(|b| **b == Block::Mark).count();
        let blkno = before
            .iter()
            .rev()
            .take_while(|b| **b != Block::Mark)
            .count();
        let mut gstat: c_long = GMT_ONLINE;
        if s.pos == 0 {
            gstat |= GMT_BOT;
        }
        if s.pos == s.tape.len() {
            gstat |= GMT_EOD;
        }
        if s.pos > 0 && s.tape[s.pos - 1] == Block::Mark {
            gstat |= GMT_EOF;
        }
        Ok(MtGet {
            mt_type: 0x72, // MT_ISSCSI2
            mt_resid: 0,
            mt_dsreg: s.block_size as c_long & MT_ST_BLKSIZE_MASK,
            mt_gstat: gstat,
            mt_erreg: 0,
            mt_fileno: fileno as c_int,
            mt_blkno: blkno as c_int,
        })
    }

    fn close(&mut self) -> io::Result<()> {
        let mut s = self.lock();
        if s.last_was_write {
            let pos = s.pos;
            s.tape.truncate(pos);
            s.tape.push(Block::Mark);
            s.pos += 1;
            s.last_was_write = false;
        }
        Ok(())
    }
}
