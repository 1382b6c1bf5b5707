//! The tar reader: v7, ustar, POSIX pax and GNU archives from a record medium, streaming.
//!
//! [`TarReader`] pulls 512-byte blocks from a [`RecordStream`] (so record sizes of the
//! medium do not matter) and turns each member into an [`Entry`]:
//!
//! 1. Meta headers before a member are collected: pax 'x' (and Solaris 'X') records for the
//!    next member, pax 'g' records for all following ones, GNU 'L'/'K' long names, the GNU
//!    volume label 'V' (into [`VolumeInfo::label`]). Each is capped
//!    ([`pax::MAX_EXTENDED_HEADER`], [`MAX_LONG_NAME`]) before anything is allocated.
//! 2. The member header is checked (checksum, signed or unsigned sum) and decoded: name
//!    from 'L' > pax `path` > ustar `prefix/name`; numbers from pax > header (octal or GNU
//!    base-256); times with nanoseconds from pax; xattrs from `SCHILY.xattr.*` and
//!    `LIBARCHIVE.xattr.*`; relic extras from `RELIC.*` (hex values).
//! 3. Sparse members (old GNU 'S', pax 0.0, 0.1, 1.0; see [`crate::sparse`]) get a validated
//!    map; [`TarReader::read_data`] then hands out `Data` and `Hole` chunks with their
//!    logical offsets. Plain members are one run of `Data`.
//!
//! Paths are normalised with [`normalize_path`], which keeps absolute names and `..`: the
//! extractor refuses them per entry, the reader does not hide them.
//!
//! The end of the archive is the first zero block. A second zero block is expected after it
//! (GNU tar warns "A lone zero block" when another header follows and stops there, and so
//! does relic); the end of input right after one zero block is accepted silently, and an
//! archive without any end block is accepted with a warning through [`Host::warn`]. Bytes
//! after the end (record padding, trailing garbage) are not read. The option `ignore-zeros`
//! reads on past zero blocks, like GNU tar's `--ignore-zeros`, for concatenated archives.
//!
//! A header with a bad checksum is a `Corrupt` error marked recoverable: called again, the
//! reader skips to the next block that is a valid header (with a warning saying how far),
//! as GNU tar does ("Skipping to next header"). Other errors end the archive.
//!
//! Memory: one header block, the current extended header (capped), and the sparse map of
//! the current member (capped at [`sparse::MAX_RUNS`] runs) besides the stream's read-ahead.
//!
//! [`Host::warn`]: relic_model::Host::warn

use relic_model::{
    normalize_path, Chunk, DataState, Device, Entry, EntryKind, Error, ErrorKind, FormatReader,
    Medium, Result, Timestamp, VolumeInfo, Xattr,
};
use relic_plugin_sdk::stream::RecordStream;
use relic_plugin_sdk::HostHandle;

use crate::layout::{self, typeflag as tf, Magic, BLOCK};
use crate::pax::{self, Records, View};
use crate::sparse::{self, SparseMap};

/// The longest GNU 'L'/'K' name relic reads (a sanity cap; PATH_MAX is 4096).
pub const MAX_LONG_NAME: u64 = 1 << 20;

/// Reader options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Read on past zero blocks (GNU `--ignore-zeros`), for concatenated archives.
    pub ignore_zeros: bool,
}

enum Body {
    /// Nothing to hand out (or already handed out).
    None,
    /// A plain member: `left` bytes of data, the next at logical offset `pos`.
    Plain { pos: u64, left: u64 },
    /// A sparse member: run `idx`, `in_run` bytes of it handed out, logical position `pos`.
    Sparse {
        map: SparseMap,
        idx: usize,
        in_run: u64,
        pos: u64,
    },
}

/// Streaming tar reader over any medium.
pub struct TarReader<M: Medium> {
    s: RecordStream<M>,
    host: HostHandle,
    opts: ReadOptions,
    volume: VolumeInfo,
    variant_known: bool,
    started: bool,
    pending: Option<Result<Option<Entry>>>,
    global: Records,
    body: Body,
    /// Bytes of the current member's data area not consumed yet (padding excluded).
    stored_left: u64,
    /// Padding after the current member's data area.
    pad: u64,
    done: bool,
    /// After a bad header: skip to the next block that is a valid header.
    resync: bool,
    path: Vec<u8>,
}

/// What the header loop gathered before a member header.
#[derive(Default)]
struct Meta {
    local: Records,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    any: bool,
    first_offset: u64,
}

impl<M: Medium> TarReader<M> {
    pub fn new(medium: M, host: HostHandle, opts: ReadOptions) -> TarReader<M> {
        let records_meaningful = medium.info().records_meaningful;
        let mut s = RecordStream::new(medium);
        let mut volume = VolumeInfo {
            format: "tar".into(),
            block_size: Some(BLOCK as u32),
            ..VolumeInfo::default()
        };
        if records_meaningful {
            // the first record's length is the archive's record size on tape
            if s.fill(1).is_ok() && s.last_record_len() > 0 {
                volume.record_size = Some(s.last_record_len() as u32);
            }
        }
        TarReader {
            s,
            host,
            opts,
            volume,
            variant_known: false,
            started: false,
            pending: None,
            global: Records::default(),
            body: Body::None,
            stored_left: 0,
            pad: 0,
            done: false,
            resync: false,
            path: Vec::new(),
        }
    }

    fn warn(&self, msg: &str, off: u64) {
        self.host.warn(msg, Some(off));
    }

    fn set_variant(&mut self, v: &str) {
        if !self.variant_known {
            self.volume.variant = v.to_string();
            self.variant_known = true;
        }
    }

    /// Consume the rest of the current member (data and padding).
    fn finish_member(&mut self) -> Result<()> {
        let n = self.stored_left + self.pad;
        self.body = Body::None;
        self.stored_left = 0;
        self.pad = 0;
        if n > 0 {
            let path = std::mem::take(&mut self.path);
            self.s.skip(n, "member data").map_err(|e| e.entry(&path))?;
        }
        Ok(())
    }

    /// Finish the current member and read the next one.
    fn advance(&mut self) -> Result<Option<Entry>> {
        self.finish_member()?;
        if self.done {
            return Ok(None);
        }
        if self.resync {
            self.resync = false;
            let start = self.s.offset();
            loop {
                let b = self.s.peek(BLOCK)?;
                if b.len() < BLOCK {
                    break;
                }
                let mut block = [0u8; BLOCK];
                block.copy_from_slice(b);
                if layout::is_zero_block(&block) || layout::checksum_ok(&block) {
                    break;
                }
                self.s.consume(BLOCK);
            }
            let skipped = self.s.offset() - start;
            if skipped > 0 {
                self.warn(
                    &format!("skipped {skipped} bytes to the next valid header"),
                    start,
                );
            }
        }
        self.read_member()
    }

    /// Read the data area of a meta header (capped) and its padding.
    fn read_meta_data(&mut self, size: u64, cap: u64, what: &str, off: u64) -> Result<Vec<u8>> {
        if size > cap {
            return Err(Error::unsupported(format!(
                "{what} of {size} bytes is larger than the {cap}-byte limit"
            ))
            .at(off));
        }
        let mut data = vec![0u8; size as usize];
        self.s.read_exact_bytes(&mut data, what)?;
        self.s.skip(layout::padding(size), what)?;
        Ok(data)
    }

    /// Next header block, or None at the end of input.
    fn next_block(&mut self, what: &str) -> Result<Option<(u64, [u8; BLOCK])>> {
        let off = self.s.offset();
        let b = self.s.peek(BLOCK)?;
        if b.is_empty() {
            return Ok(None);
        }
        if b.len() < BLOCK {
            return Err(Error::truncated(format!(
                "{what}: the input ends {} bytes into a 512-byte header block",
                b.len()
            ))
            .at(off));
        }
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(b);
        self.s.consume(BLOCK);
        Ok(Some((off, block)))
    }

    /// Read headers up to the next member and decode it.
    fn read_member(&mut self) -> Result<Option<Entry>> {
        let mut meta = Meta::default();
        let mut zeros = false;
        loop {
            if self.host.cancelled() {
                return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
            }
            let Some((off, block)) = self.next_block("tar header")? else {
                if meta.any {
                    self.warn(
                        "the archive ends after an extended header with no member",
                        meta.first_offset,
                    );
                }
                if !zeros {
                    self.warn(
                        "the archive ends without the zero blocks that mark its end",
                        self.s.offset(),
                    );
                }
                self.done = true;
                return Ok(None);
            };
            if layout::is_zero_block(&block) {
                if self.opts.ignore_zeros {
                    zeros = true;
                    continue;
                }
                self.done = true;
                let next = self.s.peek(BLOCK)?;
                if next.is_empty() {
                    return Ok(None); // end of input after one zero block: accepted
                }
                if next.len() == BLOCK && layout::is_zero_block(next) {
                    self.s.consume(BLOCK);
                    return Ok(None);
                }
                let valid_header = next.len() == BLOCK && {
                    let mut nb = [0u8; BLOCK];
                    nb.copy_from_slice(next);
                    layout::checksum_ok(&nb)
                };
                if valid_header {
                    self.warn(
                        "a lone zero block ends the archive here although a header follows; \
                         use the ignore-zeros option to read on (GNU tar: --ignore-zeros)",
                        off,
                    );
                }
                return Ok(None);
            }
            if !layout::checksum_ok(&block) {
                let (u, _) = layout::checksums(&block);
                let stored = String::from_utf8_lossy(layout::cstr(layout::CHKSUM.get(&block)))
                    .trim()
                    .to_string();
                // the caller may go on: the next call looks for the next valid header
                self.resync = true;
                return Err(Error::corrupt(format!(
                    "tar header checksum mismatch: the header says {stored:?}, the block sums to {u:o} (octal)"
                ))
                .at(off)
                .recoverable());
            }
            let size_field = |what: &str| {
                layout::parse_unsigned(layout::SIZE.get(&block), "size")
                    .map_err(|e| Error::corrupt(format!("{what}: {}", e.message)).at(off + 124))
            };
            if !meta.any {
                meta.first_offset = off;
            }
            match block[layout::TYPEFLAG] {
                tf::XHD | tf::SOLARIS_XHD => {
                    let size = size_field("pax extended header")?;
                    let data = self.read_meta_data(
                        size,
                        pax::MAX_EXTENDED_HEADER,
                        "pax extended header",
                        off,
                    )?;
                    let recs = pax::parse_records(&data, off + BLOCK as u64)?;
                    meta.local.recs.extend(recs.recs);
                    if meta.local.bytes() as u64 > pax::MAX_EXTENDED_HEADER {
                        return Err(Error::unsupported(format!(
                            "more than {} bytes of pax records for one member",
                            pax::MAX_EXTENDED_HEADER
                        ))
                        .at(off));
                    }
                    meta.any = true;
                    self.set_variant("pax");
                }
                tf::XGL => {
                    let size = size_field("pax global header")?;
                    let data = self.read_meta_data(
                        size,
                        pax::MAX_EXTENDED_HEADER,
                        "pax global header",
                        off,
                    )?;
                    let recs = pax::parse_records(&data, off + BLOCK as u64)?;
                    if let Some(l) = recs.last(b"GNU.volume.label") {
                        if self.volume.label.is_none() && !l.is_empty() {
                            self.volume.label = Some(l.to_vec());
                        }
                    }
                    self.global.merge(recs);
                    if self.global.bytes() as u64 > pax::MAX_EXTENDED_HEADER {
                        return Err(Error::unsupported(format!(
                            "more than {} bytes of global pax records",
                            pax::MAX_EXTENDED_HEADER
                        ))
                        .at(off));
                    }
                    self.set_variant("pax");
                }
                tf::GNU_LONGNAME | tf::GNU_LONGLINK => {
                    let is_name = block[layout::TYPEFLAG] == tf::GNU_LONGNAME;
                    let what = if is_name {
                        "GNU long name"
                    } else {
                        "GNU long link name"
                    };
                    let size = size_field(what)?;
                    let data = self.read_meta_data(size, MAX_LONG_NAME, what, off)?;
                    let name = layout::cstr(&data).to_vec();
                    if is_name {
                        meta.long_name = Some(name);
                    } else {
                        meta.long_link = Some(name);
                    }
                    meta.any = true;
                }
                tf::GNU_VOLHDR => {
                    let label = layout::cstr(layout::NAME.get(&block)).to_vec();
                    if self.volume.label.is_none() {
                        self.volume.label = Some(label);
                    }
                    self.set_variant("gnu");
                    let size = size_field("GNU volume header")?;
                    self.s
                        .skip(size + layout::padding(size), "GNU volume header")?;
                }
                tf::GNU_MULTIVOL => {
                    let name = String::from_utf8_lossy(layout::cstr(layout::NAME.get(&block)))
                        .into_owned();
                    return Err(Error::unsupported(format!(
                        "GNU multi-volume continuation header ('M') for {name:?}: this volume continues a file \
                         from the previous volume; relic does not join GNU multi-volume sets"
                    ))
                    .at(off));
                }
                tf::GNU_NAMES => {
                    return Err(
                        Error::unsupported("obsolete GNU long-name list header ('N')").at(off),
                    );
                }
                _ => {
                    let entry = self.decode_member(off, &block, meta)?;
                    return Ok(Some(entry));
                }
            }
        }
    }

    /// Decode a member header (and, for sparse members, their maps) into an entry and set
    /// up the data state.
    fn decode_member(&mut self, off: u64, block: &[u8; BLOCK], meta: Meta) -> Result<Entry> {
        let magic = layout::magic_of(block);
        self.set_variant(match magic {
            Magic::Gnu => "gnu",
            Magic::Ustar => "ustar",
            Magic::V7 => "v7",
        });
        let global = std::mem::take(&mut self.global);
        let r = self.decode_with(off, block, magic, &meta, &global);
        self.global = global;
        r
    }

    fn decode_with(
        &mut self,
        off: u64,
        block: &[u8; BLOCK],
        magic: Magic,
        meta: &Meta,
        global: &Records,
    ) -> Result<Entry> {
        let view = View {
            local: &meta.local,
            global,
        };
        let corrupt_at =
            |f: layout::Field| move |e: Error| Error::corrupt(e.message).at(off + f.at as u64);
        let typeflag = block[layout::TYPEFLAG];

        // --- name
        let header_name = || -> Vec<u8> {
            let name = layout::cstr(layout::NAME.get(block));
            let prefix = match magic {
                Magic::Ustar if layout::is_star(block) => {
                    layout::cstr(layout::STAR_PREFIX.get(block))
                }
                Magic::Ustar => layout::cstr(layout::PREFIX.get(block)),
                _ => &[][..],
            };
            if prefix.is_empty() {
                name.to_vec()
            } else {
                [prefix, b"/", name].concat()
            }
        };
        let mut raw_name = match (&meta.long_name, view.get("path")) {
            (Some(n), _) => n.clone(),
            (None, Some(p)) => p.to_vec(),
            (None, None) => header_name(),
        };
        if let Some(n) = view.get("GNU.sparse.name") {
            raw_name = n.to_vec();
        }
        let path = normalize_path(&raw_name);
        self.path = path.clone();
        let with_path = |e: Error| e.entry(&path);

        // --- kind
        let kind = match typeflag {
            tf::AREG | tf::REG if raw_name.last() == Some(&b'/') => EntryKind::Dir,
            tf::AREG | tf::REG | tf::CONT | tf::GNU_SPARSE => EntryKind::File,
            tf::LNK => EntryKind::HardLink,
            tf::SYM => EntryKind::Symlink,
            tf::CHR => EntryKind::CharDevice,
            tf::BLK => EntryKind::BlockDevice,
            tf::DIR | tf::GNU_DUMPDIR => EntryKind::Dir,
            tf::FIFO => EntryKind::Fifo,
            other => {
                self.warn(
                    &format!(
                        "{}: unknown tar entry type {:?}, read as a regular file (as GNU tar does)",
                        String::from_utf8_lossy(&path),
                        other as char
                    ),
                    off,
                );
                EntryKind::File
            }
        };

        let mut e = Entry::new(path.clone(), kind);
        e.mode = (layout::parse_unsigned(layout::MODE.get(block), "mode")
            .map_err(corrupt_at(layout::MODE))?
            & 0o7777) as u32;

        // --- numbers: pax overrides the header
        let host = self.host.clone();
        let pax_num = |key: &str| -> Option<u64> {
            let v = view.get(key)?;
            let n = pax::parse_u64(v);
            if n.is_none() {
                host.warn(
                    &format!(
                        "pax {key}={:?} is not a number; ignored",
                        String::from_utf8_lossy(v)
                    ),
                    Some(off),
                );
            }
            n
        };
        let pax_time = |key: &str| -> Option<Timestamp> {
            let v = view.get(key)?;
            let t = pax::parse_time(v);
            if t.is_none() {
                host.warn(
                    &format!(
                        "pax {key}={:?} is not a time; ignored",
                        String::from_utf8_lossy(v)
                    ),
                    Some(off),
                );
            }
            t
        };
        e.uid = match pax_num("uid") {
            Some(v) => v,
            None => layout::parse_unsigned(layout::UID.get(block), "uid")
                .map_err(corrupt_at(layout::UID))?,
        };
        e.gid = match pax_num("gid") {
            Some(v) => v,
            None => layout::parse_unsigned(layout::GID.get(block), "gid")
                .map_err(corrupt_at(layout::GID))?,
        };
        let stored = match pax_num("size") {
            Some(v) => v,
            None => layout::parse_unsigned(layout::SIZE.get(block), "size")
                .map_err(corrupt_at(layout::SIZE))?,
        };
        e.mtime = match pax_time("mtime") {
            Some(t) => Some(t),
            None => layout::parse_numeric(layout::MTIME.get(block), "mtime")
                .map_err(corrupt_at(layout::MTIME))?
                .map(Timestamp::from_secs),
        };
        let header_time = |f: layout::Field| -> Result<Option<Timestamp>> {
            Ok(layout::parse_numeric(f.get(block), f.name)
                .map_err(corrupt_at(f))?
                .filter(|&t| t != 0)
                .map(Timestamp::from_secs))
        };
        e.atime = match pax_time("atime") {
            Some(t) => Some(t),
            None if magic == Magic::Gnu => header_time(layout::GNU_ATIME)?,
            None if magic == Magic::Ustar && layout::is_star(block) => {
                header_time(layout::STAR_ATIME)?
            }
            None => None,
        };
        e.ctime = match pax_time("ctime") {
            Some(t) => Some(t),
            None if magic == Magic::Gnu => header_time(layout::GNU_CTIME)?,
            None if magic == Magic::Ustar && layout::is_star(block) => {
                header_time(layout::STAR_CTIME)?
            }
            None => None,
        };
        e.birth = pax_time("LIBARCHIVE.creationtime");

        // --- names of owners
        let header_str = |f: layout::Field| -> Option<Vec<u8>> {
            let s = layout::cstr(f.get(block));
            (magic != Magic::V7 && !s.is_empty()).then(|| s.to_vec())
        };
        e.uname = view
            .get("uname")
            .map(<[u8]>::to_vec)
            .or_else(|| header_str(layout::UNAME));
        e.gname = view
            .get("gname")
            .map(<[u8]>::to_vec)
            .or_else(|| header_str(layout::GNAME));

        // --- links and devices
        let link = match (&meta.long_link, view.get("linkpath")) {
            (Some(l), _) => l.clone(),
            (None, Some(l)) => l.to_vec(),
            (None, None) => layout::cstr(layout::LINKNAME.get(block)).to_vec(),
        };
        match kind {
            EntryKind::Symlink => e.link_target = Some(link),
            EntryKind::HardLink => e.link_target = Some(normalize_path(&link)),
            EntryKind::CharDevice | EntryKind::BlockDevice => {
                let major = match pax_num("SCHILY.devmajor") {
                    Some(v) => v,
                    None if magic != Magic::V7 => {
                        layout::parse_unsigned(layout::DEVMAJOR.get(block), "devmajor")
                            .map_err(corrupt_at(layout::DEVMAJOR))?
                    }
                    None => 0,
                };
                let minor = match pax_num("SCHILY.devminor") {
                    Some(v) => v,
                    None if magic != Magic::V7 => {
                        layout::parse_unsigned(layout::DEVMINOR.get(block), "devminor")
                            .map_err(corrupt_at(layout::DEVMINOR))?
                    }
                    None => 0,
                };
                let fit = |v: u64, what: &str| {
                    u32::try_from(v).map_err(|_| {
                        Error::corrupt(format!("device {what} number {v} is out of range")).at(off)
                    })
                };
                e.rdev = Some(Device {
                    major: fit(major, "major")?,
                    minor: fit(minor, "minor")?,
                });
            }
            _ => {}
        }

        // --- identity, xattrs, extras
        if let Some(n) = pax_num("SCHILY.nlink") {
            e.nlink = u32::try_from(n).unwrap_or(u32::MAX);
        }
        e.inode = pax_num("SCHILY.ino");
        e.dev = pax_num("SCHILY.dev");
        for (name, value) in view.with_prefix("SCHILY.xattr.") {
            e.xattrs.push(Xattr { name, value });
        }
        for (name, value) in view.with_prefix("LIBARCHIVE.xattr.") {
            let name = pax::url_decode(&name);
            if e.xattrs.iter().any(|x| x.name == name) {
                continue; // libarchive writes both forms; the SCHILY one is exact
            }
            match pax::base64_decode(&value) {
                Some(value) => e.xattrs.push(Xattr { name, value }),
                None => self.warn(
                    &format!(
                        "LIBARCHIVE.xattr.{} is not base64; ignored",
                        String::from_utf8_lossy(&name)
                    ),
                    off,
                ),
            }
        }
        for (key, value) in view.with_prefix("RELIC.") {
            let key = String::from_utf8_lossy(&key).into_owned();
            match pax::hex_decode(&value) {
                Some(v) => e.extras.push(relic_model::Extra { key, value: v }),
                None => self.warn(&format!("RELIC.{key} is not hex; ignored"), off),
            }
        }

        // --- data
        self.pad = layout::padding(stored);
        self.stored_left = stored;
        self.body = Body::None;
        if kind != EntryKind::File {
            e.size = 0;
            e.data = DataState::None;
            return Ok(e);
        }
        e.data = DataState::Present;
        let major = view.get("GNU.sparse.major");
        if typeflag == tf::GNU_SPARSE {
            let map = self.old_gnu_map(off, block, stored).map_err(with_path)?;
            e.size = map.realsize;
            self.body = Body::Sparse {
                map,
                idx: 0,
                in_run: 0,
                pos: 0,
            };
        } else if let Some(major) = major {
            let minor = view.get("GNU.sparse.minor").unwrap_or(b"0");
            if major != b"1" || minor != b"0" {
                return Err(Error::unsupported(format!(
                    "GNU sparse format {}.{}",
                    String::from_utf8_lossy(major),
                    String::from_utf8_lossy(minor)
                ))
                .at(off)
                .entry(&path));
            }
            let realsize = pax_num("GNU.sparse.realsize")
                .or_else(|| pax_num("GNU.sparse.size"))
                .ok_or_else(|| {
                    Error::corrupt("GNU sparse 1.0 member without GNU.sparse.realsize")
                        .at(off)
                        .entry(&path)
                })?;
            let (raw, map_len) = self.read_map_10(stored).map_err(with_path)?;
            self.stored_left = stored - map_len;
            let map = SparseMap::validate(raw, realsize, stored - map_len)
                .map_err(|e| e.at(off).entry(&path))?;
            e.size = realsize;
            self.body = Body::Sparse {
                map,
                idx: 0,
                in_run: 0,
                pos: 0,
            };
        } else if view.get("GNU.sparse.map").is_some() || meta.local.has(b"GNU.sparse.offset") {
            let realsize = pax_num("GNU.sparse.size")
                .or_else(|| pax_num("GNU.sparse.realsize"))
                .ok_or_else(|| {
                    Error::corrupt("GNU sparse 0.x member without GNU.sparse.size")
                        .at(off)
                        .entry(&path)
                })?;
            let raw = match view.get("GNU.sparse.map") {
                Some(m) => sparse::parse_map_01(m).map_err(|e| e.at(off).entry(&path))?,
                None => map_00(&meta.local).map_err(|e| e.at(off).entry(&path))?,
            };
            let map =
                SparseMap::validate(raw, realsize, stored).map_err(|e| e.at(off).entry(&path))?;
            e.size = realsize;
            self.body = Body::Sparse {
                map,
                idx: 0,
                in_run: 0,
                pos: 0,
            };
        } else {
            e.size = stored;
            self.body = Body::Plain {
                pos: 0,
                left: stored,
            };
        }
        Ok(e)
    }

    /// The old GNU map: header entries, then extension blocks while `isextended` is set.
    fn old_gnu_map(&mut self, off: u64, block: &[u8; BLOCK], stored: u64) -> Result<SparseMap> {
        let mut raw = Vec::new();
        sparse::parse_gnu_entries(
            &block[layout::GNU_SPARSE..],
            layout::GNU_SPARSE_ENTRIES,
            &mut raw,
        )
        .map_err(|e| e.at(off + layout::GNU_SPARSE as u64))?;
        let realsize = layout::parse_numeric(layout::GNU_REALSIZE.get(block), "realsize")
            .map_err(|e| e.at(off + layout::GNU_REALSIZE.at as u64))?;
        let mut extended = block[layout::GNU_ISEXTENDED] != 0;
        while extended {
            let Some((xoff, ext)) = self.next_block("GNU sparse extension header")? else {
                return Err(Error::truncated(
                    "the input ends before a GNU sparse extension header",
                )
                .at(self.s.offset()));
            };
            sparse::parse_gnu_entries(&ext, layout::GNU_EXT_ENTRIES, &mut raw)
                .map_err(|e| e.at(xoff))?;
            extended = ext[layout::GNU_EXT_ISEXTENDED] != 0;
        }
        // very old GNU tars left realsize blank: the map's end is the size then
        let realsize = match realsize {
            Some(r) if r >= 0 => r as u64,
            Some(r) => return Err(Error::corrupt(format!("negative sparse real size {r}")).at(off)),
            None => raw
                .iter()
                .map(|(o, l)| o.saturating_add(*l))
                .max()
                .unwrap_or(0),
        };
        SparseMap::validate(raw, realsize, stored).map_err(|e| e.at(off))
    }

    /// One decimal number on its own line inside a 1.0 map; `used` counts consumed bytes
    /// against the data area of `limit` bytes.
    fn map_number(&mut self, used: &mut u64, limit: u64) -> Result<u64> {
        let start = self.s.offset();
        let mut v: u64 = 0;
        let mut digits = 0;
        loop {
            if *used >= limit {
                return Err(
                    Error::corrupt("GNU sparse 1.0 map runs past the member's data")
                        .at(self.s.offset()),
                );
            }
            let b = match self.s.peek(1)?.first() {
                Some(&b) => b,
                None => {
                    return Err(
                        Error::truncated("the input ends inside a GNU sparse 1.0 map")
                            .at(self.s.offset()),
                    )
                }
            };
            self.s.consume(1);
            *used += 1;
            match b {
                b'0'..=b'9' if digits < 20 => {
                    v = v
                        .checked_mul(10)
                        .and_then(|v| v.checked_add(u64::from(b - b'0')))
                        .ok_or_else(|| {
                            Error::corrupt("number in GNU sparse 1.0 map overflows").at(start)
                        })?;
                    digits += 1;
                }
                b'\n' if digits > 0 => return Ok(v),
                _ => {
                    return Err(Error::corrupt(
                        "GNU sparse 1.0 map holds something other than decimal lines",
                    )
                    .at(start))
                }
            }
        }
    }

    /// Read the 1.0 map at the start of the data area. Returns the runs and the bytes the
    /// map occupies (padding included).
    fn read_map_10(&mut self, stored: u64) -> Result<(Vec<(u64, u64)>, u64)> {
        let mut used = 0u64;
        let at = self.s.offset();
        let count = self.map_number(&mut used, stored)?;
        // each pair needs at least four bytes ("0\n0\n"): refuse counts the data cannot hold
        if count > stored / 4 || count as usize > sparse::MAX_RUNS {
            return Err(Error::corrupt(format!("GNU sparse 1.0 map claims {count} runs")).at(at));
        }
        let mut raw = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let o = self.map_number(&mut used, stored)?;
            let l = self.map_number(&mut used, stored)?;
            raw.push((o, l));
        }
        let pad = layout::padding(used);
        if used + pad > stored {
            return Err(
                Error::corrupt("GNU sparse 1.0 map padding runs past the member's data")
                    .at(self.s.offset()),
            );
        }
        self.s.skip(pad, "GNU sparse 1.0 map padding")?;
        Ok((raw, used + pad))
    }

    fn data_chunk(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        if buf.is_empty() {
            return Err(Error::internal("read_data was given an empty buffer"));
        }
        let at = self.s.offset();
        match &mut self.body {
            Body::None => Ok(Chunk::End),
            Body::Plain { pos, left } => {
                if *left == 0 {
                    return Ok(Chunk::End);
                }
                let n = (buf.len() as u64).min(*left) as usize;
                let got = fill(&mut self.s, &mut buf[..n])?;
                if got == 0 {
                    return Err(Error::truncated(format!(
                        "the input ends with {left} bytes of member data missing"
                    ))
                    .at(at));
                }
                let offset = *pos;
                *pos += got as u64;
                *left -= got as u64;
                self.stored_left -= got as u64;
                Ok(Chunk::Data {
                    offset,
                    len: got as u64,
                })
            }
            Body::Sparse {
                map,
                idx,
                in_run,
                pos,
            } => loop {
                let Some(&(ro, rl)) = map.runs.get(*idx) else {
                    if *pos < map.realsize {
                        let h = Chunk::Hole {
                            offset: *pos,
                            len: map.realsize - *pos,
                        };
                        *pos = map.realsize;
                        return Ok(h);
                    }
                    return Ok(Chunk::End);
                };
                if *pos < ro {
                    let h = Chunk::Hole {
                        offset: *pos,
                        len: ro - *pos,
                    };
                    *pos = ro;
                    return Ok(h);
                }
                if *in_run == rl {
                    *idx += 1;
                    *in_run = 0;
                    continue;
                }
                let n = (buf.len() as u64).min(rl - *in_run) as usize;
                let got = fill(&mut self.s, &mut buf[..n])?;
                if got == 0 {
                    return Err(Error::truncated("the input ends inside sparse member data").at(at));
                }
                let offset = *pos;
                *pos += got as u64;
                *in_run += got as u64;
                self.stored_left -= got as u64;
                return Ok(Chunk::Data {
                    offset,
                    len: got as u64,
                });
            },
        }
    }
}

/// Read into `buf` until it is full or the stream ends (so chunks are as large as the
/// caller's buffer, not as small as the medium's records).
fn fill<M: Medium>(s: &mut RecordStream<M>, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let k = s.read_some(&mut buf[got..])?;
        if k == 0 {
            break;
        }
        got += k;
    }
    Ok(got)
}

/// The runs of a pax 0.0 member: `GNU.sparse.offset`/`GNU.sparse.numbytes` pairs in order.
fn map_00(local: &Records) -> Result<Vec<(u64, u64)>> {
    let mut raw = Vec::new();
    let mut offset: Option<u64> = None;
    for (k, v) in &local.recs {
        let num = || {
            pax::parse_u64(v).ok_or_else(|| {
                Error::corrupt(format!(
                    "{}={:?} is not a number",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                ))
            })
        };
        match k.as_slice() {
            b"GNU.sparse.offset" => {
                if offset.is_some() {
                    return Err(Error::corrupt(
                        "GNU.sparse.offset without its GNU.sparse.numbytes",
                    ));
                }
                offset = Some(num()?);
            }
            b"GNU.sparse.numbytes" => {
                let o = offset.take().ok_or_else(|| {
                    Error::corrupt("GNU.sparse.numbytes without a GNU.sparse.offset")
                })?;
                if raw.len() >= sparse::MAX_RUNS {
                    return Err(Error::unsupported(format!(
                        "sparse map with more than {} runs",
                        sparse::MAX_RUNS
                    )));
                }
                raw.push((o, num()?));
            }
            _ => {}
        }
    }
    if offset.is_some() {
        return Err(Error::corrupt(
            "GNU.sparse.offset without its GNU.sparse.numbytes",
        ));
    }
    Ok(raw)
}

impl<M: Medium> FormatReader for TarReader<M> {
    fn volume(&mut self) -> Result<VolumeInfo> {
        if !self.started {
            // Look at the first member now, so the label and variant are known.
            self.started = true;
            let r = self.read_member();
            self.pending = Some(r);
        }
        Ok(self.volume.clone())
    }

    fn next_entry(&mut self) -> Result<Option<Entry>> {
        self.started = true;
        let r = match self.pending.take() {
            Some(p) => p,
            None => self.advance(),
        };
        if matches!(&r, Err(e) if !e.recoverable) {
            self.done = true;
        }
        r
    }

    fn read_data(&mut self, buf: &mut [u8]) -> Result<Chunk> {
        let r = self.data_chunk(buf);
        r.map_err(|e| {
            if e.entry.is_none() {
                e.entry(&self.path)
            } else {
                e
            }
        })
    }

    fn skip_data(&mut self) -> Result<()> {
        self.finish_member()
    }
}

/// libarchive's tar bid: the bits of the first block that were verified. A valid checksum
/// is worth 48, a ustar or GNU magic with its version 56, a plausible typeflag 2; every
/// numeric field must parse. An all-zero block (an empty archive) bids 10.
pub fn bid(head: &[u8]) -> u32 {
    if head.len() < BLOCK {
        return 0;
    }
    let mut block = [0u8; BLOCK];
    block.copy_from_slice(&head[..BLOCK]);
    if layout::is_zero_block(&block) {
        return 10;
    }
    if !layout::checksum_ok(&block) {
        return 0;
    }
    let mut bid = 48;
    let magic = &block[257..265];
    if magic == b"ustar\x0000" || magic == layout::MAGIC_GNU {
        bid += 56;
    }
    let t = block[layout::TYPEFLAG];
    if !(t == 0 || t.is_ascii_alphanumeric()) {
        return 0;
    }
    bid += 2;
    let fields = [
        layout::MODE,
        layout::UID,
        layout::GID,
        layout::SIZE,
        layout::MTIME,
    ];
    if fields
        .iter()
        .any(|f| layout::parse_numeric(f.get(&block), f.name).is_err())
    {
        return 0;
    }
    if layout::magic_of(&block) != Magic::V7
        && [layout::DEVMAJOR, layout::DEVMINOR]
            .iter()
            .any(|f| layout::parse_numeric(f.get(&block), f.name).is_err())
    {
        return 0;
    }
    bid
}
