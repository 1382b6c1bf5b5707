//! File data as chunks with offsets.
//!
//! A reader hands out a file's contents as a sequence of [`Chunk`]s in increasing offset
//! order. `Data` chunks carry bytes (in the caller's buffer), `Hole` chunks are ranges known
//! to be zero and unallocated, `Absent` chunks are ranges whose bytes the source does not
//! have at all. `End` closes the entry. The three states are distinct on purpose: a hole is
//! information, absence is the lack of it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// `len` bytes at `offset` were written to the start of the caller's buffer.
    Data { offset: u64, len: u64 },
    /// `len` bytes at `offset` are a hole (zeros, unallocated).
    Hole { offset: u64, len: u64 },
    /// `len` bytes at `offset` are not present in the source.
    Absent { offset: u64, len: u64 },
    /// No more data for this entry.
    End,
}

impl Chunk {
    pub fn code(&self) -> u8 {
        match self {
            Chunk::Data { .. } => 1,
            Chunk::Hole { .. } => 2,
            Chunk::Absent { .. } => 3,
            Chunk::End => 0,
        }
    }
    /// Offset just past this chunk (None for `End`).
    pub fn end(&self) -> Option<u64> {
        match *self {
            Chunk::Data { offset, len }
            | Chunk::Hole { offset, len }
            | Chunk::Absent { offset, len } => Some(offset + len),
            Chunk::End => None,
        }
    }
}
