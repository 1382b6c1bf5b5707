//! Byte access to a tape image file, seekable or not.
//!
//! The container parsers ([`crate::simh`], [`crate::tpc`], [`crate::aws`]) read the image
//! through [`ByteSource`]: exact reads that come up short only at the end, skips, the current
//! offset, and seeking where the image allows it. Two implementations:
//! - [`SeekSource`]: a file (or a block device, or bytes in memory) with its own read buffer;
//!   large reads go straight into the caller's buffer, so a record is copied at most once;
//! - [`StreamSource`]: the bytes of another medium handed to us by the engine (a pipe), read
//!   forward only through the SDK's read-ahead [`RecordStream`].

use std::io::{Read, Seek, SeekFrom};

use relic_model::{Error, Medium, Result};
use relic_plugin_sdk::stream::RecordStream;

/// Forward byte access with optional seeking.
pub trait ByteSource: Send {
    /// Fill `buf`; fewer bytes only at the end of the input. Returns the count.
    fn read_full(&mut self, buf: &mut [u8]) -> Result<usize>;
    /// Skip `n` bytes; returns how many were skipped (fewer only at the end).
    fn skip(&mut self, n: u64) -> Result<u64>;
    /// Offset of the next byte.
    fn pos(&self) -> u64;
    /// Go to `pos` (only when [`seekable`](ByteSource::seekable)).
    fn seek(&mut self, pos: u64) -> Result<()>;
    fn seekable(&self) -> bool;
    /// Total size when known.
    fn size(&self) -> Option<u64>;
    /// No byte is left.
    fn at_end(&mut self) -> Result<bool>;
}

/// Read buffer of a [`SeekSource`].
const BUF: usize = 256 * 1024;

/// A seekable input with a read buffer.
pub struct SeekSource<R> {
    inner: R,
    name: String,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Offset of `buf[0]`; the inner reader is always at `base + end`.
    base: u64,
    size: u64,
}

impl<R: Read + Seek + Send> SeekSource<R> {
    pub fn new(mut inner: R, name: &str) -> Result<SeekSource<R>> {
        let size = inner
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(format!("cannot seek in {name}"), &e))?;
        inner
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(format!("cannot seek in {name}"), &e))?;
        Ok(SeekSource {
            inner,
            name: name.to_string(),
            buf: Vec::new(),
            start: 0,
            end: 0,
            base: 0,
            size,
        })
    }

    fn io(&self, what: &str, e: std::io::Error) -> Error {
        Error::io(format!("{what} {}", self.name), &e).at(self.pos())
    }

    fn read_inner(&mut self, dst: &mut [u8]) -> Result<usize> {
        loop {
            match self.inner.read(dst) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io("read", e)),
            }
        }
    }
}

impl<R: Read + Seek + Send> ByteSource for SeekSource<R> {
    fn read_full(&mut self, dst: &mut [u8]) -> Result<usize> {
        let mut done = 0;
        while done < dst.len() {
            if self.start < self.end {
                let n = (self.end - self.start).min(dst.len() - done);
                dst[done..done + n].copy_from_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
                done += n;
                continue;
            }
            // buffer empty: a large read goes straight to the caller
            self.base += self.end as u64;
            self.start = 0;
            self.end = 0;
            let want = dst.len() - done;
            if want >= BUF {
                let n = self.read_inner(&mut dst[done..])?;
                if n == 0 {
                    break;
                }
                self.base += n as u64;
                done += n;
                continue;
            }
            if self.buf.len() < BUF {
                self.buf.resize(BUF, 0);
            }
            let mut tmp = std::mem::take(&mut self.buf);
            let r = self.read_inner(&mut tmp);
            self.buf = tmp;
            let n = r?;
            if n == 0 {
                break;
            }
            self.end = n;
        }
        Ok(done)
    }

    fn skip(&mut self, n: u64) -> Result<u64> {
        let buffered = (self.end - self.start) as u64;
        if n <= buffered {
            self.start += n as usize;
            return Ok(n);
        }
        let from = self.pos();
        let to = from.saturating_add(n).min(self.size.max(from));
        self.seek(to)?;
        Ok(to - from)
    }

    fn pos(&self) -> u64 {
        self.base + self.start as u64
    }

    fn seek(&mut self, pos: u64) -> Result<()> {
        if pos >= self.base && pos <= self.base + self.end as u64 {
            self.start = (pos - self.base) as usize;
            return Ok(());
        }
        self.inner
            .seek(SeekFrom::Start(pos))
            .map_err(|e| Error::io(format!("seek {}", self.name), &e).at(pos))?;
        self.base = pos;
        self.start = 0;
        self.end = 0;
        Ok(())
    }

    fn seekable(&self) -> bool {
        true
    }

    fn size(&self) -> Option<u64> {
        Some(self.size)
    }

    fn at_end(&mut self) -> Result<bool> {
        Ok(self.pos() >= self.size)
    }
}

/// The bytes of another medium, forward only.
pub struct StreamSource {
    stream: RecordStream<Box<dyn Medium>>,
}

impl StreamSource {
    pub fn new(inner: Box<dyn Medium>) -> StreamSource {
        StreamSource {
            stream: RecordStream::new(inner),
        }
    }
    /// Finish the medium underneath.
    pub fn finish(&mut self) -> Result<()> {
        self.stream.medium_mut().finish()
    }
}

impl ByteSource for StreamSource {
    fn read_full(&mut self, dst: &mut [u8]) -> Result<usize> {
        let mut done = 0;
        while done < dst.len() {
            let n = self.stream.read_some(&mut dst[done..])?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn skip(&mut self, n: u64) -> Result<u64> {
        let mut left = n;
        while left > 0 {
            let k = self.stream.peek(left.min(1 << 20) as usize)?.len();
            if k == 0 {
                break;
            }
            self.stream.consume(k);
            left -= k as u64;
        }
        Ok(n - left)
    }

    fn pos(&self) -> u64 {
        self.stream.offset()
    }

    fn seek(&mut self, pos: u64) -> Result<()> {
        if pos == self.pos() {
            return Ok(());
        }
        Err(Error::unsupported(
            "this tape image comes through a pipe and cannot be read backwards (spool it to a file first)",
        ))
    }

    fn seekable(&self) -> bool {
        false
    }

    fn size(&self) -> Option<u64> {
        None
    }

    fn at_end(&mut self) -> Result<bool> {
        Ok(self.stream.peek(1)?.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relic_plugin_sdk::testing::HostileMedium;

    #[test]
    fn seek_source_reads_skips_and_seeks() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
        let mut s = SeekSource::new(std::io::Cursor::new(data.clone()), "mem").expect("source");
        let mut a = [0u8; 10];
        assert_eq!(s.read_full(&mut a).expect("read"), 10);
        assert_eq!(&a, &data[..10]);
        assert_eq!(s.skip(300_000).expect("skip"), 300_000);
        let mut big = vec![0u8; 300_000];
        assert_eq!(s.read_full(&mut big).expect("read"), 300_000);
        assert_eq!(big, &data[300_010..600_010]);
        s.seek(5).expect("seek");
        assert_eq!(s.read_full(&mut a).expect("read"), 10);
        assert_eq!(&a, &data[5..15]);
        s.seek(699_995).expect("seek");
        assert_eq!(s.read_full(&mut a).expect("read"), 5);
        assert!(s.at_end().expect("end"));
        assert_eq!(s.skip(10).expect("skip at end"), 0);
    }

    #[test]
    fn stream_source_over_hostile_records() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = StreamSource::new(Box::new(HostileMedium::new(data.clone(), &[])));
        let mut a = vec![0u8; 20_000];
        assert_eq!(s.read_full(&mut a).expect("read"), 20_000);
        assert_eq!(a, &data[..20_000]);
        assert_eq!(s.skip(29_000).expect("skip"), 29_000);
        assert!(s.seek(0).is_err());
        assert_eq!(s.read_full(&mut a).expect("read"), 1000);
        assert!(s.at_end().expect("end"));
    }
}
