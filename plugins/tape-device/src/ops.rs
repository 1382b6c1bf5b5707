//! The device access the tape medium needs, behind a small trait, and its real implementation.
//!
//! [`TapeOps`] is exactly what the st driver offers: `read`/`write` of one block, the
//! `MTIOCTOP` operations and `MTIOCGET`, and `close` (which on a drive whose last operation
//! was a write puts a filemark). [`DeviceOps`] is an open `/dev/nst*`; the in-process
//! [`SimulatedDrive`](crate::sim::SimulatedDrive) reproduces the same semantics for tests.
//! Errors are plain `std::io::Error`s carrying the errno, as the kernel returns them.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::raw::{c_int, c_short};
use std::os::unix::fs::OpenOptionsExt;

use crate::mtio::{MtGet, MtOp, MTIOCGET, MTIOCTOP};

/// What the tape medium does to a drive.
pub trait TapeOps: Send {
    /// Read one block into `buf`: its length, 0 at a filemark or end of data.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Write `buf` as one block.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// `MTIOCTOP` with `op` and `count`.
    fn ioctl_op(&mut self, op: c_short, count: c_int) -> io::Result<()>;
    /// `MTIOCGET`.
    fn status(&mut self) -> io::Result<MtGet>;
    /// Close the device.
    fn close(&mut self) -> io::Result<()>;
}

/// An open tape device.
pub struct DeviceOps {
    file: Option<File>,
}

impl DeviceOps {
    /// Open `path` for reading, or for reading and writing.
    pub fn open(path: &str, write: bool) -> io::Result<DeviceOps> {
        let file = OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(DeviceOps { file: Some(file) })
    }

    fn fd(&self) -> io::Result<c_int> {
        self.file
            .as_ref()
            .map(|f| f.as_raw_fd())
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))
    }
}

impl TapeOps for DeviceOps {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        loop {
            match f.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        loop {
            match f.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    fn ioctl_op(&mut self, op: c_short, count: c_int) -> io::Result<()> {
        let fd = self.fd()?;
        let arg = MtOp {
            mt_op: op,
            mt_count: count,
        };
        // SAFETY: MTIOCTOP reads one `struct mtop`, whose layout MtOp reproduces (checked
        // in mtio.rs); `arg` lives across the call.
        let r = unsafe { libc::ioctl(fd, MTIOCTOP as _, &arg as *const MtOp) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn status(&mut self) -> io::Result<MtGet> {
        let fd = self.fd()?;
        let mut out = MtGet::default();
        // SAFETY: MTIOCGET writes one `struct mtget`, whose layout MtGet reproduces (checked
        // in mtio.rs); `out` is a valid, writable MtGet.
        let r = unsafe { libc::ioctl(fd, MTIOCGET as _, &mut out as *mut MtGet) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(out)
        }
    }

    fn close(&mut self) -> io::Result<()> {
        // dropping the descriptor is the close; st writes its filemark then
        self.file.take();
        Ok(())
    }
}

/// Does `path` answer MTIOCGET (is it a tape drive)? Opened non-blocking, so an empty drive
/// answers too.
pub fn is_tape(path: &str) -> bool {
    let Ok(f) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    else {
        return false;
    };
    let mut ops = DeviceOps { file: Some(f) };
    ops.status().is_ok()
}
