//! Conversions between the neutral model (`relic-model`) and its `#[repr(C)]` mirror
//! (`relic-plugin-abi`). Lossless in both directions for every value the model can hold;
//! unknown codes from a newer plugin become errors, never panics.

use relic_model::{
    Acl, Capabilities, Charset, Chunk, DataState, Device, Entry, EntryKind, Error, ErrorKind,
    Extra, KindSet, MediumInfo, Position, RecordRead, RecordStatus, Timestamp, VolumeInfo,
    WriteStatus, WriteSummary, Xattr,
};
use relic_plugin_abi::*;

pub fn ropt<T, U>(o: Option<T>, f: impl FnOnce(T) -> U) -> ROption<U> {
    match o {
        Some(v) => ROption::RSome(f(v)),
        None => ROption::RNone,
    }
}

pub fn opt<T, U>(o: ROption<T>, f: impl FnOnce(T) -> U) -> Option<U> {
    o.into_option().map(f)
}

fn bytes(v: Vec<u8>) -> RVec<u8> {
    RVec::from(v)
}

fn ts(t: Timestamp) -> AbiTimestamp {
    AbiTimestamp {
        secs: t.secs,
        nanos: t.nanos,
    }
}

fn ts_back(t: AbiTimestamp) -> Timestamp {
    Timestamp {
        secs: t.secs,
        nanos: t.nanos,
    }
}

pub fn error_to_abi(e: Error) -> AbiError {
    AbiError {
        code: e.kind as u32,
        message: e.message.into(),
        offset: ropt(e.offset, |o| o),
        entry: ropt(e.entry, bytes),
        file: ropt(e.file, RString::from),
        recoverable: e.recoverable,
    }
}

pub fn error_from_abi(e: AbiError) -> Error {
    Error {
        kind: ErrorKind::from_u32(e.code),
        message: e.message.into_string(),
        offset: e.offset.into_option(),
        entry: opt(e.entry, |v| v.into_vec()),
        file: opt(e.file, |s| s.into_string()),
        recoverable: e.recoverable,
    }
}

pub fn rresult<T, U>(r: relic_model::Result<T>, f: impl FnOnce(T) -> U) -> RResult<U, AbiError> {
    match r {
        Ok(v) => RResult::ROk(f(v)),
        Err(e) => RResult::RErr(error_to_abi(e)),
    }
}

pub fn result<T, U>(r: RResult<T, AbiError>, f: impl FnOnce(T) -> U) -> relic_model::Result<U> {
    match r {
        RResult::ROk(v) => Ok(f(v)),
        RResult::RErr(e) => Err(error_from_abi(e)),
    }
}

pub fn entry_to_abi(e: &Entry) -> AbiEntry {
    entry_into_abi(e.clone())
}

/// [`entry_to_abi`] for an entry the caller gives away: the path, names, target and values
/// move into the ABI vectors without a copy (a reader's entries cross the boundary this way,
/// one per entry of the archive).
pub fn entry_into_abi(e: Entry) -> AbiEntry {
    AbiEntry {
        path: e.path.into(),
        kind: e.kind.code(),
        data: e.data.code(),
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        uname: ropt(e.uname, bytes),
        gname: ropt(e.gname, bytes),
        size: e.size,
        mtime: ropt(e.mtime, ts),
        atime: ropt(e.atime, ts),
        ctime: ropt(e.ctime, ts),
        birth: ropt(e.birth, ts),
        nlink: e.nlink,
        inode: ropt(e.inode, |v| v),
        generation: ropt(e.generation, |v| v),
        dev: ropt(e.dev, |v| v),
        rdev: ropt(e.rdev, |d| AbiDevice {
            major: d.major,
            minor: d.minor,
        }),
        link_target: ropt(e.link_target, bytes),
        xattrs: e
            .xattrs
            .into_iter()
            .map(|x| AbiXattr {
                name: x.name.into(),
                value: x.value.into(),
            })
            .collect(),
        acls: e
            .acls
            .into_iter()
            .map(|a| AbiKv {
                key: a.kind.as_str().into(),
                value: a.data.into(),
            })
            .collect(),
        extras: e
            .extras
            .into_iter()
            .map(|x| AbiKv {
                key: x.key.as_str().into(),
                value: x.value.into(),
            })
            .collect(),
        data_map: ropt(e.data_map, |m| {
            m.iter()
                .map(|&(offset, len)| AbiRun { offset, len })
                .collect()
        }),
    }
}

pub fn entry_from_abi(e: &AbiEntry) -> relic_model::Result<Entry> {
    entry_from_abi_owned(e.clone())
}

/// [`entry_from_abi`] for an entry the caller gives away: byte vectors are taken over, not
/// copied, where abi_stable can (same element type and allocator on both sides).
pub fn entry_from_abi_owned(e: AbiEntry) -> relic_model::Result<Entry> {
    let kind = EntryKind::from_code(e.kind).ok_or_else(|| {
        Error::internal(format!("plugin sent unknown entry kind code {}", e.kind))
    })?;
    Ok(Entry {
        path: e.path.into_vec(),
        kind,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        uname: opt(e.uname, |v| v.into_vec()),
        gname: opt(e.gname, |v| v.into_vec()),
        size: e.size,
        mtime: opt(e.mtime, ts_back),
        atime: opt(e.atime, ts_back),
        ctime: opt(e.ctime, ts_back),
        birth: opt(e.birth, ts_back),
        nlink: e.nlink,
        inode: e.inode.into_option(),
        generation: e.generation.into_option(),
        dev: e.dev.into_option(),
        rdev: opt(e.rdev, |d| Device {
            major: d.major,
            minor: d.minor,
        }),
        link_target: opt(e.link_target, |v| v.into_vec()),
        data: DataState::from_code(e.data),
        xattrs: e
            .xattrs
            .into_iter()
            .map(|x| Xattr {
                name: x.name.into_vec(),
                value: x.value.into_vec(),
            })
            .collect(),
        acls: e
            .acls
            .into_iter()
            .map(|a| Acl {
                kind: a.key.to_string(),
                data: a.value.into_vec(),
            })
            .collect(),
        extras: e
            .extras
            .into_iter()
            .map(|x| Extra {
                key: x.key.to_string(),
                value: x.value.into_vec(),
            })
            .collect(),
        data_map: opt(e.data_map, |m| {
            m.iter().map(|r| (r.offset, r.len)).collect()
        }),
    })
}

pub fn volume_to_abi(v: &VolumeInfo) -> AbiVolume {
    AbiVolume {
        format: v.format.as_str().into(),
        variant: v.variant.as_str().into(),
        label: ropt(v.label.clone(), bytes),
        volume: ropt(v.volume, |v| v),
        date: ropt(v.date, ts),
        since: ropt(v.since, ts),
        level: ropt(v.level, |v| v),
        host: ropt(v.host.clone(), bytes),
        filesystem: ropt(v.filesystem.clone(), bytes),
        device: ropt(v.device.clone(), bytes),
        user: ropt(v.user.clone(), bytes),
        block_size: ropt(v.block_size, |v| v),
        record_size: ropt(v.record_size, |v| v),
        extras: v
            .extras
            .iter()
            .map(|x| AbiKv {
                key: x.key.as_str().into(),
                value: x.value.clone().into(),
            })
            .collect(),
    }
}

pub fn volume_from_abi(v: &AbiVolume) -> VolumeInfo {
    VolumeInfo {
        format: v.format.to_string(),
        variant: v.variant.to_string(),
        label: opt(v.label.clone(), |v| v.into_vec()),
        volume: v.volume.into_option(),
        date: opt(v.date, ts_back),
        since: opt(v.since, ts_back),
        level: v.level.into_option(),
        host: opt(v.host.clone(), |v| v.into_vec()),
        filesystem: opt(v.filesystem.clone(), |v| v.into_vec()),
        device: opt(v.device.clone(), |v| v.into_vec()),
        user: opt(v.user.clone(), |v| v.into_vec()),
        block_size: v.block_size.into_option(),
        record_size: v.record_size.into_option(),
        extras: v
            .extras
            .iter()
            .map(|x| Extra {
                key: x.key.to_string(),
                value: x.value.to_vec(),
            })
            .collect(),
    }
}

pub fn caps_to_abi(c: &Capabilities) -> AbiCaps {
    AbiCaps {
        max_path: ropt(c.max_path, |v| v),
        max_name: ropt(c.max_name, |v| v),
        charset: match c.charset {
            Charset::Bytes => 0,
            Charset::Ascii => 1,
        },
        uid_max: ropt(c.uid_max, |v| v),
        gid_max: ropt(c.gid_max, |v| v),
        time_min: ropt(c.time_min, |v| v),
        time_max: ropt(c.time_max, |v| v),
        time_precision_ns: c.time_precision_ns,
        atime: c.atime,
        ctime: c.ctime,
        birth: c.birth,
        max_file_size: ropt(c.max_file_size, |v| v),
        kinds: c.kinds.0,
        xattrs: c.xattrs,
        acls: c.acls,
        holes: c.holes,
        levels: c.levels,
        user_names: c.user_names,
        rdev_major_max: ropt(c.rdev_major_max, |v| v),
        rdev_minor_max: ropt(c.rdev_minor_max, |v| v),
        extras: c.extras.iter().map(|s| RString::from(s.as_str())).collect(),
        needs_catalog: c.needs_catalog,
        more: RVec::new(),
    }
}

pub fn caps_from_abi(c: &AbiCaps) -> Capabilities {
    Capabilities {
        max_path: c.max_path.into_option(),
        max_name: c.max_name.into_option(),
        charset: if c.charset == 1 {
            Charset::Ascii
        } else {
            Charset::Bytes
        },
        uid_max: c.uid_max.into_option(),
        gid_max: c.gid_max.into_option(),
        time_min: c.time_min.into_option(),
        time_max: c.time_max.into_option(),
        time_precision_ns: c.time_precision_ns,
        atime: c.atime,
        ctime: c.ctime,
        birth: c.birth,
        max_file_size: c.max_file_size.into_option(),
        kinds: KindSet(c.kinds),
        xattrs: c.xattrs,
        acls: c.acls,
        holes: c.holes,
        levels: c.levels,
        user_names: c.user_names,
        rdev_major_max: c.rdev_major_max.into_option(),
        rdev_minor_max: c.rdev_minor_max.into_option(),
        extras: c.extras.iter().map(|s| s.to_string()).collect(),
        needs_catalog: c.needs_catalog,
    }
}

pub fn chunk_to_abi(c: Chunk) -> AbiChunk {
    match c {
        Chunk::Data { offset, len } => AbiChunk {
            kind: 1,
            offset,
            len,
        },
        Chunk::Hole { offset, len } => AbiChunk {
            kind: 2,
            offset,
            len,
        },
        Chunk::Absent { offset, len } => AbiChunk {
            kind: 3,
            offset,
            len,
        },
        Chunk::End => AbiChunk {
            kind: 0,
            offset: 0,
            len: 0,
        },
    }
}

pub fn chunk_from_abi(c: AbiChunk, buf_len: usize) -> relic_model::Result<Chunk> {
    Ok(match c.kind {
        0 => Chunk::End,
        1 if c.len <= buf_len as u64 => Chunk::Data {
            offset: c.offset,
            len: c.len,
        },
        1 => {
            return Err(Error::internal(format!(
                "plugin claimed {} bytes in a {buf_len}-byte buffer",
                c.len
            )))
        }
        2 => Chunk::Hole {
            offset: c.offset,
            len: c.len,
        },
        3 => Chunk::Absent {
            offset: c.offset,
            len: c.len,
        },
        k => {
            return Err(Error::internal(format!(
                "plugin sent unknown chunk kind {k}"
            )))
        }
    })
}

pub fn summary_to_abi(s: WriteSummary) -> AbiWriteSummary {
    AbiWriteSummary {
        entries: s.entries,
        bytes: s.bytes,
        volumes: s.volumes,
        notes: s.notes.into_iter().map(RString::from).collect(),
    }
}

pub fn summary_from_abi(s: AbiWriteSummary) -> WriteSummary {
    WriteSummary {
        entries: s.entries,
        bytes: s.bytes,
        volumes: s.volumes,
        notes: s.notes.into_iter().map(|s| s.into_string()).collect(),
    }
}

pub fn record_to_abi(r: RecordRead) -> AbiRecordRead {
    AbiRecordRead {
        status: r.status.code(),
        len: r.len as u64,
    }
}

pub fn record_from_abi(r: AbiRecordRead, buf_len: usize) -> relic_model::Result<RecordRead> {
    let status = RecordStatus::from_code(r.status).ok_or_else(|| {
        Error::internal(format!("medium sent unknown record status {}", r.status))
    })?;
    let len =
        usize::try_from(r.len).map_err(|_| Error::internal("record length overflows usize"))?;
    if matches!(status, RecordStatus::Data | RecordStatus::Bad) && len > buf_len {
        return Err(Error::internal(format!(
            "medium claimed a {len}-byte record in a {buf_len}-byte buffer"
        )));
    }
    Ok(RecordRead { status, len })
}

pub fn write_status_to_abi(w: WriteStatus) -> AbiWriteStatus {
    AbiWriteStatus {
        early_warning: w.early_warning,
    }
}

pub fn write_status_from_abi(w: AbiWriteStatus) -> WriteStatus {
    WriteStatus {
        early_warning: w.early_warning,
    }
}

pub fn position_to_abi(p: Position) -> AbiPosition {
    AbiPosition {
        file: p.file,
        record: p.record,
        offset: p.offset,
        volume: p.volume,
    }
}

pub fn position_from_abi(p: AbiPosition) -> Position {
    Position {
        file: p.file,
        record: p.record,
        offset: p.offset,
        volume: p.volume,
    }
}

pub fn medium_info_to_abi(m: MediumInfo) -> AbiMediumInfo {
    AbiMediumInfo {
        kind: m.kind.into(),
        name: m.name.into(),
        record_size: m.record_size,
        max_record: m.max_record,
        seekable: m.seekable,
        can_space: m.can_space,
        records_meaningful: m.records_meaningful,
        size: ropt(m.size, |v| v),
        more: RVec::new(),
    }
}

pub fn medium_info_from_abi(m: AbiMediumInfo) -> MediumInfo {
    MediumInfo {
        kind: m.kind.into_string(),
        name: m.name.into_string(),
        record_size: m.record_size,
        max_record: m.max_record,
        seekable: m.seekable,
        can_space: m.can_space,
        records_meaningful: m.records_meaningful,
        size: m.size.into_option(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trip_keeps_everything() {
        let mut e = Entry::new(b"d/\xff".to_vec(), EntryKind::CharDevice);
        e.rdev = Some(Device {
            major: 4,
            minor: 64,
        });
        e.mtime = Some(Timestamp::new(-5, 999_999_999));
        e.birth = Some(Timestamp::new(7, 0));
        e.uname = Some(b"root".to_vec());
        e.inode = Some(42);
        e.generation = Some(3);
        e.xattrs.push(Xattr {
            name: b"user.a".to_vec(),
            value: vec![0, 1],
        });
        e.acls.push(Acl {
            kind: "posix.access".into(),
            data: vec![2],
        });
        e.set_extra("vms.rfm", vec![1]);
        e.data_map = Some(vec![(0, 10), (4096, 5)]);
        assert_eq!(entry_from_abi(&entry_to_abi(&e)).expect("valid kind"), e);
    }

    #[test]
    fn caps_round_trip() {
        let mut c = Capabilities::unlimited();
        c.max_name = Some(14);
        c.charset = Charset::Ascii;
        c.needs_catalog = true;
        assert_eq!(caps_from_abi(&caps_to_abi(&c)), c);
    }

    #[test]
    fn bad_codes_are_errors() {
        let mut a = entry_to_abi(&Entry::new("x", EntryKind::File));
        a.kind = 200;
        assert!(entry_from_abi(&a).is_err());
        assert!(chunk_from_abi(
            AbiChunk {
                kind: 1,
                offset: 0,
                len: 10
            },
            5
        )
        .is_err());
        assert!(record_from_abi(AbiRecordRead { status: 99, len: 0 }, 5).is_err());
    }
}
