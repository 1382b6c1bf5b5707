//! A bounded spool for one file's raw image, read back as often as needed.
//!
//! Text conversion changes a file's length, and `Entry::size` must be right before the
//! data. The reader therefore collects the file's bytes here, runs the converter once to
//! count, and again to deliver (see [`crate::read`]). Up to `limit` bytes stay in memory;
//! beyond that the spool moves to an anonymous temporary file (`tempfile::tempfile`, removed
//! by the OS when closed), so memory stays bounded whatever the file size. Only text-mode
//! files (which are small in practice) go through the spool; raw data streams straight
//! from the save-set blocks.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;

use relic_model::{Error, Result};

/// Default in-memory part of a spool.
pub const DEFAULT_LIMIT: usize = 8 << 20;

pub struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    limit: usize,
}

impl Spool {
    pub fn new(limit: usize) -> Spool {
        Spool {
            mem: Vec::new(),
            file: None,
            len: 0,
            limit,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Whether the spool went to a temporary file.
    pub fn on_disk(&self) -> bool {
        self.file.is_some()
    }

    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.file.is_none() && self.mem.len() + data.len() > self.limit {
            let mut f = tempfile::tempfile()
                .map_err(|e| Error::io("cannot create a spool file for text conversion", &e))?;
            f.write_all(&self.mem)
                .map_err(|e| Error::io("cannot write the spool file", &e))?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f
                .write_all(data)
                .map_err(|e| Error::io("cannot write the spool file", &e))?,
            None => self.mem.extend_from_slice(data),
        }
        self.len += data.len() as u64;
        Ok(())
    }

    /// Read up to `buf.len()` bytes at `pos`; 0 at the end.
    pub fn read_at(&self, pos: u64, buf: &mut [u8]) -> Result<usize> {
        if pos >= self.len {
            return Ok(0);
        }
        let n = ((self.len - pos) as usize).min(buf.len());
        match &self.file {
            Some(f) => {
                f.read_exact_at(&mut buf[..n], pos)
                    .map_err(|e| Error::io("cannot read the spool file", &e))?;
            }
            None => buf[..n].copy_from_slice(&self.mem[pos as usize..pos as usize + n]),
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spills_to_disk_past_the_limit_and_reads_back() {
        let mut s = Spool::new(100);
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        s.write(&data[..60]).expect("w");
        assert!(!s.on_disk());
        s.write(&data[60..]).expect("w");
        assert!(s.on_disk());
        let mut back = vec![0u8; 1000];
        let mut pos = 0;
        while pos < 1000 {
            let n = s
                .read_at(pos as u64, &mut back[pos..(pos + 77).min(1000)])
                .expect("r");
            pos += n;
        }
        assert_eq!(back, data);
        assert_eq!(s.read_at(1000, &mut back).expect("r"), 0);
    }
}
