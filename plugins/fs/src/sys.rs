//! Thin, safe wrappers over the Linux system calls of the `fs` plugin.
//!
//! The sink works relative to directory file descriptors (`openat`, `mkdirat`, `linkat`, ...
//! with `O_NOFOLLOW`/`AT_SYMLINK_NOFOLLOW`), so once a parent directory has been checked and
//! opened no later symlink can redirect what is created in it. The source needs `SEEK_DATA`/
//! `SEEK_HOLE`, user and group names, and the host name. Every wrapper returns
//! `std::io::Result` with the OS error; callers add the path and decide whether it is fatal.
//!
//! All `unsafe` of the crate is here, each block next to the reason it is sound.

use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use relic_model::Timestamp;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A name as a C string; `None` when it contains a NUL byte (no file name can).
pub fn cstring(bytes: &[u8]) -> Option<CString> {
    CString::new(bytes).ok()
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// File type bits of a `stat` result.
pub fn ifmt(st: &libc::stat) -> u32 {
    st.st_mode & libc::S_IFMT
}

pub fn is_dir(st: &libc::stat) -> bool {
    ifmt(st) == libc::S_IFDIR
}

pub fn is_symlink(st: &libc::stat) -> bool {
    ifmt(st) == libc::S_IFLNK
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn lstat_at(dir: RawFd, name: &CStr) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: name is NUL-terminated, st points to writable storage of the right type.
    cvt(unsafe {
        libc::fstatat(
            dir,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    // SAFETY: fstatat succeeded, so it filled st.
    Ok(unsafe { st.assume_init() })
}

/// `fstat(fd)`.
pub fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st points to writable storage of the right type.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so it filled st.
    Ok(unsafe { st.assume_init() })
}

/// `openat(dir, name, flags | O_CLOEXEC, mode)`.
pub fn open_at(dir: RawFd, name: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: name is NUL-terminated; the mode argument is read only with O_CREAT.
    let fd = cvt(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open an existing directory below `dir` without following a symlink in its place.
pub fn open_dir_at(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    open_at(
        dir,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

/// Open a directory by path (the target root; symlinks in the path the user gave are fine).
pub fn open_dir_path(path: &[u8]) -> io::Result<OwnedFd> {
    let c = cstring(path)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    open_at(libc::AT_FDCWD, &c, libc::O_RDONLY | libc::O_DIRECTORY, 0)
}

pub fn mkdir_at(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::mkdirat(dir, name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

pub fn mkfifo_at(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::mkfifoat(dir, name.as_ptr(), mode as libc::mode_t) }).map(drop)
}

/// `mknodat` of a character (`block == false`) or block device.
pub fn mknod_at(
    dir: RawFd,
    name: &CStr,
    block: bool,
    mode: u32,
    major: u32,
    minor: u32,
) -> io::Result<()> {
    let kind = if block { libc::S_IFBLK } else { libc::S_IFCHR };
    let dev = libc::makedev(major, minor);
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::mknodat(dir, name.as_ptr(), kind | mode as libc::mode_t, dev) }).map(drop)
}

pub fn symlink_at(target: &CStr, dir: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) }).map(drop)
}

/// `linkat` without following a symlink at the old name.
pub fn link_at(old_dir: RawFd, old: &CStr, new_dir: RawFd, new: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated.
    cvt(unsafe { libc::linkat(old_dir, old.as_ptr(), new_dir, new.as_ptr(), 0) }).map(drop)
}

/// `unlinkat`; `dir == true` removes an (empty) directory.
pub fn unlink_at(dir_fd: RawFd, name: &CStr, dir: bool) -> io::Result<()> {
    let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::unlinkat(dir_fd, name.as_ptr(), flags) }).map(drop)
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`.
pub fn lchown_at(dir: RawFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::fchownat(dir, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor.
    cvt(unsafe { libc::fchown(fd, uid, gid) }).map(drop)
}

pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
    // SAFETY: plain system call on a descriptor.
    cvt(unsafe { libc::fchmod(fd, mode as libc::mode_t) }).map(drop)
}

/// `fchmodat(dir, name, mode, 0)`: for fifos and devices, which cannot be opened safely to
/// `fchmod` them (opening a fifo blocks). The name was just created by us inside a checked
/// directory.
pub fn chmod_at(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: name is NUL-terminated.
    cvt(unsafe { libc::fchmodat(dir, name.as_ptr(), mode as libc::mode_t, 0) }).map(drop)
}

fn timespec(t: Option<Timestamp>) -> libc::timespec {
    match t {
        Some(t) => libc::timespec {
            tv_sec: t.secs as libc::time_t,
            tv_nsec: t.nanos.min(999_999_999) as libc::c_long,
        },
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    }
}

/// Set atime and mtime of `name` in `dir` without following a symlink; `None` leaves a time
/// as it is.
pub fn set_times_at(
    dir: RawFd,
    name: &CStr,
    atime: Option<Timestamp>,
    mtime: Option<Timestamp>,
) -> io::Result<()> {
    let ts = [timespec(atime), timespec(mtime)];
    // SAFETY: name is NUL-terminated and ts holds the two timespecs utimensat reads.
    cvt(unsafe { libc::utimensat(dir, name.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

/// Set atime and mtime of an open file or directory.
pub fn set_times_fd(
    fd: RawFd,
    atime: Option<Timestamp>,
    mtime: Option<Timestamp>,
) -> io::Result<()> {
    let ts = [timespec(atime), timespec(mtime)];
    // SAFETY: ts holds the two timespecs futimens reads.
    cvt(unsafe { libc::futimens(fd, ts.as_ptr()) }).map(drop)
}

/// Where `lseek(SEEK_DATA)`/`lseek(SEEK_HOLE)` says the next data or hole starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    At(u64),
    /// `ENXIO`: no more data (or hole) at or after the offset: the offset is at or past the
    /// end of the file.
    PastEnd,
}

fn seek_whence(fd: RawFd, offset: u64, whence: libc::c_int) -> io::Result<Seek> {
    let off = i64::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
    // SAFETY: plain system call on a descriptor.
    let r = unsafe { libc::lseek(fd, off as libc::off_t, whence) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENXIO) {
            return Ok(Seek::PastEnd);
        }
        return Err(e);
    }
    Ok(Seek::At(r as u64))
}

/// `lseek(fd, offset, SEEK_DATA)`. `EINVAL` means the file system does not support it.
pub fn seek_data(fd: RawFd, offset: u64) -> io::Result<Seek> {
    seek_whence(fd, offset, libc::SEEK_DATA)
}

/// `lseek(fd, offset, SEEK_HOLE)`.
pub fn seek_hole(fd: RawFd, offset: u64) -> io::Result<Seek> {
    seek_whence(fd, offset, libc::SEEK_HOLE)
}

/// Buffer cap for `getpw*_r`/`getgr*_r`: an entry larger than this is treated as unknown.
const NAME_BUF_MAX: usize = 1 << 20;

/// The user name of `uid` from the passwd database, if any.
pub fn user_name(uid: u32) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut pw = std::mem::MaybeUninit::<libc::passwd>::uninit();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: pw, buf and result are valid for writes; buf.len() is its true size.
        let r = unsafe {
            libc::getpwuid_r(
                uid,
                pw.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if r == libc::ERANGE && buf.len() < NAME_BUF_MAX {
            let n = buf.len() * 2;
            buf.resize(n, 0);
            continue;
        }
        if r != 0 || result.is_null() {
            return None;
        }
        // SAFETY: success: pw is filled and pw_name points to a NUL-terminated string in buf.
        let name = unsafe { CStr::from_ptr((*result).pw_name) };
        return Some(name.to_bytes().to_vec());
    }
}

/// The group name of `gid` from the group database, if any.
pub fn group_name(gid: u32) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 1024];
    loop {
        let mut gr = std::mem::MaybeUninit::<libc::group>::uninit();
        let mut result: *mut libc::group = std::ptr::null_mut();
        // SAFETY: gr, buf and result are valid for writes; buf.len() is its true size.
        let r = unsafe {
            libc::getgrgid_r(
                gid,
                gr.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if r == libc::ERANGE && buf.len() < NAME_BUF_MAX {
            let n = buf.len() * 2;
            buf.resize(n, 0);
            continue;
        }
        if r != 0 || result.is_null() {
            return None;
        }
        // SAFETY: success: gr is filled and gr_name points to a NUL-terminated string in buf.
        let name = unsafe { CStr::from_ptr((*result).gr_name) };
        return Some(name.to_bytes().to_vec());
    }
}

/// This machine's host name.
pub fn host_name() -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(buf[..end].to_vec())
}

/// A path naming `name` inside the directory open as `dir`, for the path-only calls
/// (`lsetxattr` on symlinks, fifos and devices): `/proc/self/fd/N/name`. The kernel resolves
/// the `N` magic link to exactly the directory we hold, so no symlink on the way can redirect
/// it; the final component is not followed by the `l*` calls it is used with. `None` when
/// `/proc` is not mounted.
pub fn fd_relative_path(dir: &impl AsRawFd, name: &[u8]) -> Option<PathBuf> {
    let base = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    if !base.exists() {
        return None;
    }
    Some(base.join(OsStr::from_bytes(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fd = open_dir_path(dir.path().as_os_str().as_bytes()).expect("open dir");
        let name = cstring(b"sub").expect("no NUL");
        mkdir_at(fd.as_raw_fd(), &name, 0o700).expect("mkdir");
        let st = lstat_at(fd.as_raw_fd(), &name).expect("stat");
        assert!(is_dir(&st));
        assert_eq!(st.st_mode & 0o777, 0o700);
        assert!(cstring(b"a\0b").is_none());
        assert_eq!(user_name(0).as_deref(), Some(&b"root"[..]));
        assert!(lstat_at(fd.as_raw_fd(), &cstring(b"missing").expect("no NUL")).is_err());
    }
}
