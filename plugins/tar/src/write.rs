//! The tar writer: POSIX pax (default), GNU and ustar output, blocked like GNU tar.
//!
//! Layout per format (facts from GNU tar 1.34's own output, checked byte by byte in the
//! tests, and POSIX.1-2017 `pax`):
//! - **pax**: a ustar header, preceded by an 'x' extended header named
//!   `<dir>/PaxHeaders/<name>` whenever something does not fit the ustar fields (long
//!   names and link names, ids over 2097151, sizes over 8 GiB - 1, times with nanoseconds
//!   or outside 0..8^11, atime/ctime/birth time when present, long user/group names,
//!   xattrs as `SCHILY.xattr.*`, extras as `RELIC.<key>=<hex>`). Non-UTF-8 names in
//!   records get `hdrcharset=BINARY`. Sparse files are GNU sparse 1.0: records
//!   `GNU.sparse.major=1`, `minor=0`, `name`, `realsize`, the header named
//!   `<dir>/GNUSparseFile.0/<name>` (GNU's `%d/GNUSparseFile.%p/%f` with the process id
//!   fixed to 0, so output is reproducible), and the decimal map block first in the data.
//! - **gnu**: 'L'/'K' `././@LongLink` headers for long names, base-256 for numbers octal
//!   cannot hold, the `ustar  \0` magic, sparse files as old GNU 'S' headers with
//!   extension blocks. No xattrs, whole-second times.
//! - **ustar**: names split into `prefix`/`name`; everything else must fit the octal fields
//!   (the capabilities say so, and the engine adapts entries before they arrive).
//!
//! Directories end in `/`, the root `.` is written as `./`. Sockets are not representable
//! in any tar format, and the capabilities leave them out. The archive ends with two zero
//! blocks and the last record is padded to the record size (`record-size`, default
//! 20 x 512 = 10240), as GNU tar does.
//!
//! **Holes and streaming.** A sparse member's map and stored size must precede its data,
//! and the output medium cannot be rewound. When the reader announced the data runs up
//! front (`Entry::data_map`: the fs source asks SEEK_DATA, tar and dump readers know their
//! maps), the header is written at once (plain when the runs cover the whole file, sparse
//! otherwise) and the data streams straight to the output; the result is byte-for-byte what
//! the gathering path below writes (tested). Data that then arrives inside an announced hole
//! is dropped when it is zeros and is an error otherwise (the file changed while archived).
//!
//! Without a map, a regular file's data is gathered before its header is written: in memory
//! up to [`MEM_SPOOL`] (1 MiB), beyond that in an anonymous temporary file (the `tempfile`
//! crate; `$TMPDIR`, or the `spool-dir` option), while the map of data runs is kept in
//! memory (16 bytes per run, at most [`sparse::MAX_RUNS`] runs; past that, holes are
//! written as zeros, with a warning). At `end_entry` the member is written as a plain file
//! when no hole arrived, as a sparse one otherwise. Memory stays bounded either way; the
//! cost of the unmapped path is that files larger than 1 MiB are written twice. With
//! `sparse=no` (and always for ustar) every file streams straight to the output and holes
//! are written as zeros; the capabilities then say `holes: false`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use relic_model::{
    Capabilities, Charset, Entry, EntryKind, Error, FormatWriter, KindSet, Medium, Result,
    Timestamp, VolumeInfo, WriteSummary,
};
use relic_plugin_sdk::stream::RecordWriter;
use relic_plugin_sdk::HostHandle;

use crate::layout::{self, typeflag as tf, BLOCK};
use crate::pax;
use crate::sparse;

/// Data gathered in memory before spilling to a temporary file.
pub const MEM_SPOOL: usize = 1 << 20;

/// Which tar dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarFormat {
    Pax,
    Gnu,
    Ustar,
}

impl TarFormat {
    pub fn parse(s: &str) -> Option<TarFormat> {
        match s {
            "pax" | "posix" => Some(TarFormat::Pax),
            "gnu" | "gnutar" => Some(TarFormat::Gnu),
            "ustar" => Some(TarFormat::Ustar),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            TarFormat::Pax => "pax",
            TarFormat::Gnu => "gnu",
            TarFormat::Ustar => "ustar",
        }
    }
}

#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub format: TarFormat,
    /// Output record size in bytes (a multiple of 512).
    pub record_size: usize,
    /// Keep holes (pax and gnu only).
    pub sparse: bool,
    /// Where spool files go (default: the system's temporary directory).
    pub spool_dir: Option<std::path::PathBuf>,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions {
            format: TarFormat::Pax,
            record_size: 20 * BLOCK,
            sparse: true,
            spool_dir: None,
        }
    }
}

/// The capabilities of a format, honestly.
pub fn capabilities(opts: &WriteOptions) -> Capabilities {
    let kinds = KindSet::of(&[
        EntryKind::File,
        EntryKind::Dir,
        EntryKind::Symlink,
        EntryKind::HardLink,
        EntryKind::CharDevice,
        EntryKind::BlockDevice,
        EntryKind::Fifo,
    ]);
    let base = Capabilities {
        kinds,
        acls: false,
        levels: false,
        needs_catalog: false,
        ..Capabilities::unlimited()
    };
    let octal7 = layout::octal_max(8);
    match opts.format {
        TarFormat::Pax => Capabilities {
            holes: opts.sparse,
            ..base
        },
        TarFormat::Gnu => Capabilities {
            time_precision_ns: 1_000_000_000,
            atime: false,
            ctime: false,
            birth: false,
            xattrs: false,
            holes: opts.sparse,
            extras: vec![],
            ..base
        },
        TarFormat::Ustar => Capabilities {
            max_path: Some(255),
            max_name: Some(100),
            charset: Charset::Bytes,
            uid_max: Some(octal7),
            gid_max: Some(octal7),
            time_min: Some(0),
            time_max: Some(layout::octal_max(12) as i64),
            time_precision_ns: 1_000_000_000,
            atime: false,
            ctime: false,
            birth: false,
            max_file_size: Some(layout::octal_max(12)),
            xattrs: false,
            holes: false,
            rdev_major_max: Some(octal7 as u32),
            rdev_minor_max: Some(octal7 as u32),
            extras: vec![],
            ..base
        },
    }
}

/// A file's data gathered before its header can be written.
struct Spool {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    dir: Option<std::path::PathBuf>,
}

impl Spool {
    fn new(dir: Option<std::path::PathBuf>) -> Spool {
        Spool {
            mem: Vec::new(),
            file: None,
            len: 0,
            dir,
        }
    }

    fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.file.is_none() && self.mem.len() + data.len() > MEM_SPOOL {
            let f = match &self.dir {
                Some(d) => tempfile::tempfile_in(d),
                None => tempfile::tempfile(),
            };
            let mut f = f.map_err(|e| {
                Error::io("cannot create a spool file (see the spool-dir option)", &e)
            })?;
            f.write_all(&self.mem)
                .map_err(|e| Error::io("write spool file", &e))?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f
                .write_all(data)
                .map_err(|e| Error::io("write spool file", &e))?,
            None => self.mem.extend_from_slice(data),
        }
        self.len += data.len() as u64;
        Ok(())
    }

    fn copy_to<M: Medium>(&mut self, out: &mut RecordWriter<M>) -> Result<()> {
        out.write_all(&self.mem)?;
        if let Some(f) = &mut self.file {
            f.seek(SeekFrom::Start(0))
                .map_err(|e| Error::io("rewind spool file", &e))?;
            let mut buf = vec![0u8; 64 * 1024];
            let mut left = self.len;
            while left > 0 {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| Error::io("read spool file", &e))?;
                if n == 0 {
                    return Err(Error::internal(
                        "spool file is shorter than what was written to it",
                    ));
                }
                let n = (n as u64).min(left) as usize;
                out.write_all(&buf[..n])?;
                left -= n as u64;
            }
        }
        Ok(())
    }
}

enum Mode {
    /// The entry carries no data.
    NoData,
    /// The entry was refused (with a warning); its data is swallowed.
    Dropped,
    /// Header written; `left` data bytes still to come.
    Direct { left: u64 },
    /// Sparse header already written from the entry's `data_map`; data streams straight
    /// to the output. `stored_left` bytes of the announced runs are still to come.
    Mapped {
        runs: Vec<(u64, u64)>,
        idx: usize,
        stored_left: u64,
        stored: u64,
    },
    /// Data gathered until `end_entry`.
    Gather {
        runs: Vec<(u64, u64)>,
        spool: Spool,
        holes: bool,
    },
}

struct Current {
    entry: Entry,
    /// Next logical offset expected.
    next: u64,
    mode: Mode,
}

/// Streaming tar writer.
pub struct TarWriter<M: Medium> {
    out: Option<RecordWriter<M>>,
    opts: WriteOptions,
    host: HostHandle,
    cur: Option<Current>,
    entries: u64,
    dropped: u64,
    runs_warned: bool,
    /// The medium after `finish`, for in-process callers ([`TarWriter::into_medium`]).
    done: Option<M>,
}

/// The name an entry has in the archive: directories end in '/', the root is "./".
pub fn archive_name(e: &Entry) -> Vec<u8> {
    if e.path == b"." {
        return b"./".to_vec();
    }
    let mut n = e.path.clone();
    if e.kind == EntryKind::Dir && n.last() != Some(&b'/') {
        n.push(b'/');
    }
    n
}

/// Split a name into ustar `prefix` (<= 155) and `name` (<= 100) at a '/'.
pub fn split_ustar(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= 100 {
        return Some((&[], name));
    }
    // the slash must leave a non-empty name of at most 100 bytes and a prefix of at most 155
    let lo = name.len().saturating_sub(101);
    (lo..name.len().min(156))
        .find(|&i| name[i] == b'/' && name.len() - i - 1 <= 100 && i + 1 < name.len())
        .map(|i| (&name[..i], &name[i + 1..]))
}

/// `dir/<middle>/base` built the way GNU tar's `%d/<middle>/%f` templates are: `.` for
/// a name without a directory; truncated to the 100-byte name field.
fn template_name(path: &[u8], middle: &[u8]) -> Vec<u8> {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    let (dir, base) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &trimmed[1..]),
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (&b"."[..], trimmed),
    };
    let mut n = dir.to_vec();
    if n.last() != Some(&b'/') {
        n.push(b'/');
    }
    n.extend_from_slice(middle);
    n.push(b'/');
    n.extend_from_slice(base);
    n.truncate(100);
    n
}

fn typeflag_of(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::File => tf::REG,
        EntryKind::Dir => tf::DIR,
        EntryKind::Symlink => tf::SYM,
        EntryKind::HardLink => tf::LNK,
        EntryKind::CharDevice => tf::CHR,
        EntryKind::BlockDevice => tf::BLK,
        EntryKind::Fifo => tf::FIFO,
        EntryKind::Socket => 0,
    }
}

/// How the data of a regular file is laid out, decided at the time its header is written.
enum Layout<'a> {
    /// No data area beyond `size` plain bytes.
    Plain { size: u64 },
    /// Sparse with these data runs (stored bytes = their sum).
    Sparse { runs: &'a [(u64, u64)], stored: u64 },
}

impl<M: Medium> TarWriter<M> {
    pub fn new(medium: M, opts: WriteOptions, host: HostHandle) -> Result<TarWriter<M>> {
        if opts.record_size == 0
            || opts.record_size % BLOCK != 0
            || opts.record_size > relic_plugin_sdk::stream::MAX_RECORD
        {
            return Err(Error::config(format!(
                "record size {} is not a positive multiple of 512 up to 16 MiB",
                opts.record_size
            )));
        }
        let out = RecordWriter::new(medium, opts.record_size);
        Ok(TarWriter {
            out: Some(out),
            opts,
            host,
            cur: None,
            entries: 0,
            dropped: 0,
            runs_warned: false,
            done: None,
        })
    }

    /// The medium, once [`FormatWriter::finish`] has run (for in-process use and tests).
    pub fn into_medium(self) -> Option<M> {
        self.done
    }

    fn out(&mut self) -> Result<&mut RecordWriter<M>> {
        self.out
            .as_mut()
            .ok_or_else(|| Error::internal("tar writer used after finish"))
    }

    fn keeps_holes(&self) -> bool {
        self.opts.sparse && self.opts.format != TarFormat::Ustar
    }

    /// Write a meta header ('x', 'g', 'L', 'K') and its data.
    fn write_meta(&mut self, typeflag: u8, name: &[u8], data: &[u8], mtime: u64) -> Result<()> {
        let gnu = self.opts.format == TarFormat::Gnu;
        let mut h = [0u8; BLOCK];
        layout::put_str(layout::NAME.get_mut(&mut h), &name[..name.len().min(100)]);
        layout::put_octal(layout::MODE.get_mut(&mut h), 0o644);
        layout::put_octal(layout::UID.get_mut(&mut h), 0);
        layout::put_octal(layout::GID.get_mut(&mut h), 0);
        if !layout::put_octal(layout::SIZE.get_mut(&mut h), data.len() as u64) {
            return Err(Error::internal("extended header larger than 8 GiB"));
        }
        layout::put_octal(layout::MTIME.get_mut(&mut h), mtime);
        h[layout::TYPEFLAG] = typeflag;
        if gnu {
            h[257..265].copy_from_slice(layout::MAGIC_GNU);
            layout::put_str(layout::UNAME.get_mut(&mut h), b"root");
            layout::put_str(layout::GNAME.get_mut(&mut h), b"root");
        } else {
            h[257..263].copy_from_slice(layout::MAGIC_USTAR);
            h[263..265].copy_from_slice(layout::VERSION_USTAR);
        }
        layout::set_checksum(&mut h);
        let out = self.out()?;
        out.write_all(&h)?;
        out.write_all(data)?;
        out.write_zeros(layout::padding(data.len() as u64))?;
        Ok(())
    }

    /// Write the header(s) of an entry. Returns false when the entry cannot be represented
    /// (a warning has been given and nothing written).
    fn write_headers(&mut self, e: &Entry, lay: Layout<'_>) -> Result<bool> {
        let name = archive_name(e);
        let link: &[u8] = match e.kind {
            EntryKind::Symlink | EntryKind::HardLink => e.link_target.as_deref().unwrap_or(b""),
            _ => b"",
        };
        let (size, realsize) = match lay {
            Layout::Plain { size } => (size, size),
            Layout::Sparse { stored, .. } => (stored, e.size),
        };
        let typeflag = typeflag_of(e.kind);
        let mtime = e.mtime.unwrap_or(Timestamp::from_secs(0));
        let mut h = [0u8; BLOCK];
        layout::put_octal(layout::MODE.get_mut(&mut h), u64::from(e.mode & 0o7777));
        h[layout::TYPEFLAG] = typeflag;
        let is_dev = matches!(e.kind, EntryKind::CharDevice | EntryKind::BlockDevice);
        let (major, minor) = e
            .rdev
            .map(|d| (u64::from(d.major), u64::from(d.minor)))
            .unwrap_or((0, 0));
        match self.opts.format {
            TarFormat::Pax => self.pax_fields(
                e, &mut h, &name, link, size, realsize, mtime, major, minor, &lay,
            )?,
            TarFormat::Gnu => {
                if !self.gnu_fields(e, &mut h, &name, link, size, mtime, is_dev, major, minor)? {
                    return Ok(false);
                }
                if let Layout::Sparse { runs, .. } = lay {
                    return self.gnu_sparse(h, runs, realsize).map(|_| true);
                }
            }
            TarFormat::Ustar => {
                if !self.ustar_fields(e, &mut h, &name, link, size, mtime, major, minor)? {
                    return Ok(false);
                }
            }
        }
        layout::set_checksum(&mut h);
        self.out()?.write_all(&h)?;
        if let (TarFormat::Pax, Layout::Sparse { runs, .. }) = (self.opts.format, lay) {
            let map = sparse::format_map_10(&sparse::runs_for_map(runs, realsize));
            self.out()?.write_all(&map)?;
        }
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)]
    fn pax_fields(
        &mut self,
        e: &Entry,
        h: &mut [u8; BLOCK],
        name: &[u8],
        link: &[u8],
        size: u64,
        realsize: u64,
        mtime: Timestamp,
        major: u64,
        minor: u64,
        lay: &Layout<'_>,
    ) -> Result<()> {
        let mut recs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut binary = false;
        let mut rec = |k: &str, v: Vec<u8>| recs.push((k.as_bytes().to_vec(), v));
        let mut size_field = size;
        // --- name
        if let Layout::Sparse { runs, .. } = lay {
            let fake = template_name(name, b"GNUSparseFile.0");
            layout::put_str(layout::NAME.get_mut(h), &fake);
            rec("GNU.sparse.major", b"1".to_vec());
            rec("GNU.sparse.minor", b"0".to_vec());
            rec("GNU.sparse.name", name.to_vec());
            rec("GNU.sparse.realsize", realsize.to_string().into_bytes());
            binary |= std::str::from_utf8(name).is_err();
            size_field = size + sparse::map_10_len(&sparse::runs_for_map(runs, realsize));
        } else {
            match split_ustar(name) {
                Some((prefix, n)) => {
                    layout::put_str(layout::NAME.get_mut(h), n);
                    layout::put_str(layout::PREFIX.get_mut(h), prefix);
                }
                None => {
                    layout::put_str(layout::NAME.get_mut(h), &name[..100]);
                    rec("path", name.to_vec());
                    binary |= std::str::from_utf8(name).is_err();
                }
            }
        }
        // --- link
        if link.len() <= 100 {
            layout::put_str(layout::LINKNAME.get_mut(h), link);
        } else {
            layout::put_str(layout::LINKNAME.get_mut(h), &link[..100]);
            rec("linkpath", link.to_vec());
            binary |= std::str::from_utf8(link).is_err();
        }
        // --- numbers
        for (f, v, key) in [(layout::UID, e.uid, "uid"), (layout::GID, e.gid, "gid")] {
            if !layout::put_octal(f.get_mut(h), v) {
                layout::put_octal(f.get_mut(h), 0);
                rec(key, v.to_string().into_bytes());
            }
        }
        if !layout::put_octal(layout::SIZE.get_mut(h), size_field) {
            layout::put_octal(layout::SIZE.get_mut(h), 0);
            rec("size", size_field.to_string().into_bytes());
        }
        let tmax = layout::octal_max(12) as i64;
        layout::put_octal(layout::MTIME.get_mut(h), mtime.secs.clamp(0, tmax) as u64);
        if e.mtime.is_some() && (mtime.nanos != 0 || mtime.secs < 0 || mtime.secs > tmax) {
            rec("mtime", pax::format_time(mtime).into_bytes());
        }
        if let Some(t) = e.atime {
            rec("atime", pax::format_time(t).into_bytes());
        }
        if let Some(t) = e.ctime {
            rec("ctime", pax::format_time(t).into_bytes());
        }
        if let Some(t) = e.birth {
            rec("LIBARCHIVE.creationtime", pax::format_time(t).into_bytes());
        }
        // --- owners
        for (f, v, key) in [
            (layout::UNAME, &e.uname, "uname"),
            (layout::GNAME, &e.gname, "gname"),
        ] {
            if let Some(v) = v {
                if v.len() < f.len && !v.contains(&0) {
                    layout::put_str(f.get_mut(h), v);
                } else {
                    rec(key, v.clone());
                    binary |= std::str::from_utf8(v).is_err();
                }
            }
        }
        // --- devices (GNU tar fills these with zeros for every member in posix format)
        for (f, v, key) in [
            (layout::DEVMAJOR, major, "SCHILY.devmajor"),
            (layout::DEVMINOR, minor, "SCHILY.devminor"),
        ] {
            if !layout::put_octal(f.get_mut(h), v) {
                layout::put_octal(f.get_mut(h), 0);
                rec(key, v.to_string().into_bytes());
            }
        }
        // --- xattrs and extras
        for x in &e.xattrs {
            if x.name.contains(&b'=') || x.name.contains(&0) || x.name.is_empty() {
                let mut k = b"LIBARCHIVE.xattr.".to_vec();
                k.extend_from_slice(&pax::url_encode(&x.name));
                recs.push((k, pax::base64_encode(&x.value)));
            } else {
                let mut k = b"SCHILY.xattr.".to_vec();
                k.extend_from_slice(&x.name);
                recs.push((k, x.value.clone()));
            }
        }
        for x in &e.extras {
            let mut k = b"RELIC.".to_vec();
            k.extend_from_slice(x.key.as_bytes());
            recs.push((k, pax::hex_encode(&x.value)));
        }
        h[257..263].copy_from_slice(layout::MAGIC_USTAR);
        h[263..265].copy_from_slice(layout::VERSION_USTAR);
        if !recs.is_empty() {
            let mut data = Vec::new();
            if binary {
                data.extend_from_slice(&pax::format_record(b"hdrcharset", b"BINARY"));
            }
            for (k, v) in &recs {
                data.extend_from_slice(&pax::format_record(k, v));
            }
            let xname = template_name(name, b"PaxHeaders");
            let mt = mtime.secs.clamp(0, tmax) as u64;
            self.write_meta(tf::XHD, &xname, &data, mt)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn gnu_fields(
        &mut self,
        e: &Entry,
        h: &mut [u8; BLOCK],
        name: &[u8],
        link: &[u8],
        size: u64,
        mtime: Timestamp,
        is_dev: bool,
        major: u64,
        minor: u64,
    ) -> Result<bool> {
        let path = e.path.clone();
        let numeric = |h: &mut [u8; BLOCK], f: layout::Field, v: i64| -> Result<()> {
            if layout::put_numeric_gnu(f.get_mut(h), v) {
                Ok(())
            } else {
                Err(
                    Error::internal(format!("{} {v} does not fit a GNU header", f.name))
                        .entry(&path),
                )
            }
        };
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        numeric(h, layout::UID, clamp(e.uid))?;
        numeric(h, layout::GID, clamp(e.gid))?;
        numeric(h, layout::SIZE, clamp(size))?;
        numeric(h, layout::MTIME, mtime.secs)?;
        if is_dev {
            numeric(h, layout::DEVMAJOR, clamp(major))?;
            numeric(h, layout::DEVMINOR, clamp(minor))?;
        }
        for (f, v, what) in [
            (layout::UNAME, &e.uname, "user"),
            (layout::GNAME, &e.gname, "group"),
        ] {
            if let Some(v) = v {
                if v.len() < f.len && !v.contains(&0) {
                    layout::put_str(f.get_mut(h), v);
                } else {
                    self.host.warn(
                        &format!(
                            "{}: {what} name longer than 31 bytes left out (gnu format)",
                            e.display_path()
                        ),
                        None,
                    );
                }
            }
        }
        h[257..265].copy_from_slice(layout::MAGIC_GNU);
        let mt = mtime.secs.max(0) as u64;
        if link.len() > 100 {
            let mut d = link.to_vec();
            d.push(0);
            self.write_meta(tf::GNU_LONGLINK, layout::GNU_LONGLINK, &d, 0)?;
            let _ = mt;
        }
        layout::put_str(layout::LINKNAME.get_mut(h), &link[..link.len().min(100)]);
        if name.len() > 100 {
            let mut d = name.to_vec();
            d.push(0);
            self.write_meta(tf::GNU_LONGNAME, layout::GNU_LONGLINK, &d, 0)?;
        }
        layout::put_str(layout::NAME.get_mut(h), &name[..name.len().min(100)]);
        Ok(true)
    }

    /// Finish and write an old GNU sparse header with its extension blocks.
    fn gnu_sparse(&mut self, mut h: [u8; BLOCK], runs: &[(u64, u64)], realsize: u64) -> Result<()> {
        let map = sparse::runs_for_map(runs, realsize);
        h[layout::TYPEFLAG] = tf::GNU_SPARSE;
        let used = sparse::put_gnu_entries(
            &mut h[layout::GNU_SPARSE..],
            layout::GNU_SPARSE_ENTRIES,
            &map,
        );
        if !layout::put_numeric_gnu(
            layout::GNU_REALSIZE.get_mut(&mut h),
            i64::try_from(realsize).unwrap_or(i64::MAX),
        ) {
            return Err(Error::internal("real size does not fit a GNU header"));
        }
        let mut rest = &map[used..];
        h[layout::GNU_ISEXTENDED] = u8::from(!rest.is_empty());
        layout::set_checksum(&mut h);
        self.out()?.write_all(&h)?;
        while !rest.is_empty() {
            let mut x = [0u8; BLOCK];
            let k = sparse::put_gnu_entries(&mut x, layout::GNU_EXT_ENTRIES, rest);
            rest = &rest[k..];
            x[layout::GNU_EXT_ISEXTENDED] = u8::from(!rest.is_empty());
            self.out()?.write_all(&x)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn ustar_fields(
        &mut self,
        e: &Entry,
        h: &mut [u8; BLOCK],
        name: &[u8],
        link: &[u8],
        size: u64,
        mtime: Timestamp,
        major: u64,
        minor: u64,
    ) -> Result<bool> {
        let refuse = |why: &str| {
            self.host.warn(
                &format!("{}: left out: {why} (ustar format)", e.display_path()),
                None,
            );
            Ok(false)
        };
        let Some((prefix, n)) = split_ustar(name) else {
            return refuse("the name cannot be split into a 155-byte prefix and a 100-byte name");
        };
        if link.len() > 100 {
            return refuse("link target longer than 100 bytes");
        }
        layout::put_str(layout::NAME.get_mut(h), n);
        layout::put_str(layout::PREFIX.get_mut(h), prefix);
        layout::put_str(layout::LINKNAME.get_mut(h), link);
        let fields = [
            (layout::UID, e.uid),
            (layout::GID, e.gid),
            (layout::SIZE, size),
            (layout::MTIME, mtime.secs.max(0) as u64),
            (layout::DEVMAJOR, major),
            (layout::DEVMINOR, minor),
        ];
        for (f, v) in fields {
            if !layout::put_octal(f.get_mut(h), v) {
                return refuse(&format!("{} {v} does not fit its octal field", f.name));
            }
        }
        for (f, v) in [(layout::UNAME, &e.uname), (layout::GNAME, &e.gname)] {
            if let Some(v) = v {
                if v.len() < f.len && !v.contains(&0) {
                    layout::put_str(f.get_mut(h), v);
                }
            }
        }
        h[257..263].copy_from_slice(layout::MAGIC_USTAR);
        h[263..265].copy_from_slice(layout::VERSION_USTAR);
        Ok(true)
    }

    fn check_offset(cur: &Current, offset: u64) -> Result<()> {
        if offset != cur.next {
            return Err(Error::internal(format!(
                "data for offset {offset} arrived where {} was expected (chunks must come in order)",
                cur.next
            ))
            .entry(&cur.entry.path));
        }
        Ok(())
    }

    /// Add a run of data to a gathering entry.
    fn gather(
        runs: &mut Vec<(u64, u64)>,
        spool: &mut Spool,
        offset: u64,
        data: &[u8],
    ) -> Result<()> {
        match runs.last_mut() {
            Some((o, l)) if *o + *l == offset => *l += data.len() as u64,
            _ => runs.push((offset, data.len() as u64)),
        }
        spool.write(data)
    }

    fn finish_gather(&mut self, cur: Current) -> Result<()> {
        let Mode::Gather {
            runs,
            mut spool,
            holes,
        } = cur.mode
        else {
            return Err(Error::internal("finish_gather on a non-gathering entry"));
        };
        let e = &cur.entry;
        if cur.next > e.size {
            return Err(Error::internal(format!(
                "{} bytes of data for an entry of size {}",
                cur.next, e.size
            ))
            .entry(&e.path));
        }
        // a short tail is a hole
        let holes = holes || cur.next < e.size;
        let lay = if holes {
            Layout::Sparse {
                runs: &runs,
                stored: spool.len,
            }
        } else {
            Layout::Plain { size: spool.len }
        };
        let written = self.write_headers(e, lay)?;
        if !written {
            self.dropped += 1;
            return Ok(());
        }
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| Error::internal("tar writer used after finish"))?;
        spool.copy_to(out)?;
        out.write_zeros(layout::padding(spool.len))?;
        self.entries += 1;
        Ok(())
    }
}

impl<M: Medium> FormatWriter for TarWriter<M> {
    fn capabilities(&self) -> Capabilities {
        capabilities(&self.opts)
    }

    fn begin_archive(&mut self, volume: &VolumeInfo) -> Result<()> {
        if let Some(label) = &volume.label {
            match self.opts.format {
                // GNU tar -V: a 'V' header in gnu format, GNU.volume.label in a global pax header
                TarFormat::Gnu => {
                    // as GNU tar writes it: name, mtime, checksum and typeflag, nothing else
                    let mut h = [0u8; BLOCK];
                    layout::put_str(layout::NAME.get_mut(&mut h), &label[..label.len().min(99)]);
                    let t = volume.date.map_or(0, |d| d.secs.max(0) as u64);
                    layout::put_octal(layout::MTIME.get_mut(&mut h), t.min(layout::octal_max(12)));
                    h[layout::TYPEFLAG] = tf::GNU_VOLHDR;
                    layout::set_checksum(&mut h);
                    self.out()?.write_all(&h)?;
                }
                TarFormat::Pax => {
                    let data = pax::format_record(b"GNU.volume.label", label);
                    self.write_meta(tf::XGL, b"GlobalHead.0.1", &data, 0)?;
                }
                TarFormat::Ustar => {
                    self.host.warn(
                        "the ustar format cannot hold a volume label; left out",
                        None,
                    );
                }
            }
        }
        Ok(())
    }

    fn begin_entry(&mut self, entry: &Entry) -> Result<()> {
        if self.cur.is_some() {
            return Err(Error::internal(
                "begin_entry before end_entry of the previous entry",
            ));
        }
        if entry.kind == EntryKind::Socket {
            return Err(Error::unsupported("tar cannot hold sockets").entry(&entry.path));
        }
        let has_data = entry.has_data();
        let mode = if !has_data {
            let lay = Layout::Plain { size: 0 };
            if self.write_headers(entry, lay)? {
                self.entries += 1;
                Mode::NoData
            } else {
                self.dropped += 1;
                Mode::Dropped
            }
        } else if self.keeps_holes() {
            match usable_map(entry) {
                // dense by the reader's own account: a plain member, streamed
                Some(runs) if runs == [(0, entry.size)] || (entry.size == 0 && runs.is_empty()) => {
                    if self.write_headers(entry, Layout::Plain { size: entry.size })? {
                        self.entries += 1;
                        Mode::Direct { left: entry.size }
                    } else {
                        self.dropped += 1;
                        Mode::Dropped
                    }
                }
                // the map is known: sparse header first, then the data as it comes
                Some(runs) => {
                    let stored: u64 = runs.iter().map(|r| r.1).sum();
                    if self.write_headers(
                        entry,
                        Layout::Sparse {
                            runs: &runs,
                            stored,
                        },
                    )? {
                        self.entries += 1;
                        Mode::Mapped {
                            runs,
                            idx: 0,
                            stored_left: stored,
                            stored,
                        }
                    } else {
                        self.dropped += 1;
                        Mode::Dropped
                    }
                }
                None => Mode::Gather {
                    runs: Vec::new(),
                    spool: Spool::new(self.opts.spool_dir.clone()),
                    holes: false,
                },
            }
        } else if self.write_headers(entry, Layout::Plain { size: entry.size })? {
            self.entries += 1;
            Mode::Direct { left: entry.size }
        } else {
            self.dropped += 1;
            Mode::Dropped
        };
        self.cur = Some(Current {
            entry: entry.clone(),
            next: 0,
            mode,
        });
        Ok(())
    }

    fn write_data(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let cur = self
            .cur
            .as_mut()
            .ok_or_else(|| Error::internal("write_data outside an entry"))?;
        Self::check_offset(cur, offset)?;
        cur.next += data.len() as u64;
        match &mut cur.mode {
            Mode::NoData => {
                Err(Error::internal("data for an entry that has none").entry(&cur.entry.path))
            }
            Mode::Dropped => Ok(()),
            Mode::Direct { left } => {
                if data.len() as u64 > *left {
                    return Err(Error::internal(format!(
                        "more data than the entry's size {} (at offset {offset})",
                        cur.entry.size
                    ))
                    .entry(&cur.entry.path));
                }
                *left -= data.len() as u64;
                let out = self
                    .out
                    .as_mut()
                    .ok_or_else(|| Error::internal("tar writer used after finish"))?;
                out.write_all(data)
            }
            Mode::Mapped {
                runs,
                idx,
                stored_left,
                ..
            } => {
                while *idx < runs.len() && runs[*idx].0 + runs[*idx].1 <= offset {
                    *idx += 1;
                }
                let end = offset + data.len() as u64;
                let inside = runs
                    .get(*idx)
                    .is_some_and(|&(o, l)| o <= offset && end <= o + l);
                if !inside {
                    if data.iter().all(|&b| b == 0) {
                        return Ok(()); // zeros where the map has a hole: nothing is lost
                    }
                    return Err(Error::new(
                        relic_model::ErrorKind::Io,
                        format!(
                            "data at offset {offset} lies outside the data runs announced for this file (it changed while being archived)"
                        ),
                    )
                    .entry(&cur.entry.path));
                }
                *stored_left -= data.len() as u64;
                let out = self
                    .out
                    .as_mut()
                    .ok_or_else(|| Error::internal("tar writer used after finish"))?;
                out.write_all(data)
            }
            Mode::Gather { runs, spool, .. } => Self::gather(runs, spool, offset, data),
        }
    }

    fn write_hole(&mut self, offset: u64, len: u64) -> Result<()> {
        let cur = self
            .cur
            .as_mut()
            .ok_or_else(|| Error::internal("write_hole outside an entry"))?;
        Self::check_offset(cur, offset)?;
        cur.next += len;
        match &mut cur.mode {
            Mode::NoData => {
                Err(Error::internal("a hole for an entry that has no data").entry(&cur.entry.path))
            }
            Mode::Dropped => Ok(()),
            Mode::Direct { left } => {
                if len > *left {
                    return Err(
                        Error::internal("hole past the entry's size").entry(&cur.entry.path)
                    );
                }
                *left -= len;
                let out = self
                    .out
                    .as_mut()
                    .ok_or_else(|| Error::internal("tar writer used after finish"))?;
                out.write_zeros(len)
            }
            Mode::Mapped {
                runs, stored_left, ..
            } => {
                // a hole where the map announced data: the announced bytes are zeros
                let end = offset + len;
                let out = self
                    .out
                    .as_mut()
                    .ok_or_else(|| Error::internal("tar writer used after finish"))?;
                for &(o, l) in runs.iter() {
                    let (a, b) = (o.max(offset), (o + l).min(end));
                    if a < b {
                        out.write_zeros(b - a)?;
                        *stored_left = stored_left.saturating_sub(b - a);
                    }
                }
                Ok(())
            }
            Mode::Gather { runs, spool, holes } => {
                if runs.len() >= sparse::MAX_RUNS {
                    // too many runs to keep in memory: fill this hole with zeros
                    if !self.runs_warned {
                        self.runs_warned = true;
                        self.host.warn(
                            &format!(
                                "{}: more than {} data runs; further holes are written as zeros",
                                cur.entry.display_path(),
                                sparse::MAX_RUNS
                            ),
                            None,
                        );
                    }
                    let zeros = vec![0u8; 64 * 1024];
                    let mut left = len;
                    let mut at = offset;
                    while left > 0 {
                        let k = left.min(zeros.len() as u64) as usize;
                        Self::gather(runs, spool, at, &zeros[..k])?;
                        left -= k as u64;
                        at += k as u64;
                    }
                } else if len > 0 {
                    *holes = true;
                }
                Ok(())
            }
        }
    }

    fn end_entry(&mut self) -> Result<()> {
        let cur = self
            .cur
            .take()
            .ok_or_else(|| Error::internal("end_entry outside an entry"))?;
        match cur.mode {
            Mode::NoData | Mode::Dropped => Ok(()),
            Mode::Direct { left } => {
                if left > 0 {
                    self.host.warn(
                        &format!(
                            "{}: {left} bytes of data missing; written as zeros",
                            cur.entry.display_path()
                        ),
                        None,
                    );
                }
                let out = self.out()?;
                out.write_zeros(left)?;
                out.write_zeros(layout::padding(cur.entry.size))?;
                Ok(())
            }
            Mode::Mapped {
                stored_left,
                stored,
                ..
            } => {
                if stored_left > 0 {
                    self.host.warn(
                        &format!(
                            "{}: {stored_left} bytes of announced data missing; written as zeros",
                            cur.entry.display_path()
                        ),
                        None,
                    );
                }
                let out = self.out()?;
                out.write_zeros(stored_left)?;
                out.write_zeros(layout::padding(stored))?;
                Ok(())
            }
            Mode::Gather { .. } => self.finish_gather(cur),
        }
    }

    fn finish(&mut self) -> Result<WriteSummary> {
        if self.cur.is_some() {
            return Err(Error::internal("finish inside an entry"));
        }
        let mut out = self
            .out
            .take()
            .ok_or_else(|| Error::internal("tar writer finished twice"))?;
        out.write_zeros(2 * BLOCK as u64)?;
        let bytes = out.offset();
        let record = out.record_size() as u64;
        let padded = bytes.div_ceil(record) * record;
        self.done = Some(out.finish(true)?);
        let mut notes = vec![format!(
            "{} format, record size {record} ({} records, {} bytes of end padding)",
            self.opts.format.name(),
            padded / record,
            padded - bytes
        )];
        if self.dropped > 0 {
            notes.push(format!("{} entries left out (see warnings)", self.dropped));
        }
        Ok(WriteSummary {
            entries: self.entries,
            bytes: padded,
            volumes: 1,
            notes,
        })
    }
}

/// The entry's `data_map` when it is well formed (sorted, non-overlapping, non-empty runs
/// inside the file): then the header can be written before the data.
fn usable_map(entry: &Entry) -> Option<Vec<(u64, u64)>> {
    let runs = entry.data_map.as_ref()?;
    if runs.len() > sparse::MAX_RUNS {
        return None;
    }
    let mut end = 0u64;
    for &(o, l) in runs {
        let e = o.checked_add(l)?;
        if l == 0 || o < end || e > entry.size {
            return None;
        }
        end = e;
    }
    Some(runs.clone())
}
