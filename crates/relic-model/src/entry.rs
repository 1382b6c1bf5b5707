//! One archive member in the neutral model.
//!
//! Paths are raw bytes (legacy systems did not use UTF-8), `/`-separated and relative; the
//! archive root itself is `.`. Anything a format knows that the common fields cannot hold goes
//! into [`Entry::extras`] under a namespaced key (`vms.rfm`, `aix.acl`, `ocfs2.flags`), so a
//! same-format round trip loses nothing and other formats can ignore what they do not know.

use serde::{Deserialize, Serialize};

/// What kind of object an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Another name for an earlier entry; [`Entry::link_target`] holds that entry's path.
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl EntryKind {
    pub const ALL: [EntryKind; 8] = [
        EntryKind::File,
        EntryKind::Dir,
        EntryKind::Symlink,
        EntryKind::HardLink,
        EntryKind::CharDevice,
        EntryKind::BlockDevice,
        EntryKind::Fifo,
        EntryKind::Socket,
    ];

    /// Stable ABI code.
    pub fn code(self) -> u8 {
        match self {
            EntryKind::File => 1,
            EntryKind::Dir => 2,
            EntryKind::Symlink => 3,
            EntryKind::HardLink => 4,
            EntryKind::CharDevice => 5,
            EntryKind::BlockDevice => 6,
            EntryKind::Fifo => 7,
            EntryKind::Socket => 8,
        }
    }

    pub fn from_code(c: u8) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.code() == c)
    }

    /// The `ls -l` type character.
    pub fn type_char(self) -> char {
        match self {
            EntryKind::File | EntryKind::HardLink => '-',
            EntryKind::Dir => 'd',
            EntryKind::Symlink => 'l',
            EntryKind::CharDevice => 'c',
            EntryKind::BlockDevice => 'b',
            EntryKind::Fifo => 'p',
            EntryKind::Socket => 's',
        }
    }

    /// The `S_IFMT` bits of this kind (hard links report a regular file).
    pub fn ifmt(self) -> u32 {
        match self {
            EntryKind::File | EntryKind::HardLink => 0o100000,
            EntryKind::Dir => 0o040000,
            EntryKind::Symlink => 0o120000,
            EntryKind::CharDevice => 0o020000,
            EntryKind::BlockDevice => 0o060000,
            EntryKind::Fifo => 0o010000,
            EntryKind::Socket => 0o140000,
        }
    }

    /// Kind from `S_IFMT` bits.
    pub fn from_ifmt(mode: u32) -> Option<EntryKind> {
        Some(match mode & 0o170000 {
            0o100000 => EntryKind::File,
            0o040000 => EntryKind::Dir,
            0o120000 => EntryKind::Symlink,
            0o020000 => EntryKind::CharDevice,
            0o060000 => EntryKind::BlockDevice,
            0o010000 => EntryKind::Fifo,
            0o140000 => EntryKind::Socket,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::HardLink => "hardlink",
            EntryKind::CharDevice => "chardev",
            EntryKind::BlockDevice => "blockdev",
            EntryKind::Fifo => "fifo",
            EntryKind::Socket => "socket",
        }
    }
}

/// A point in time: seconds since the Unix epoch (may be negative) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Timestamp {
    pub const fn new(secs: i64, nanos: u32) -> Timestamp {
        Timestamp { secs, nanos }
    }
    pub const fn from_secs(secs: i64) -> Timestamp {
        Timestamp { secs, nanos: 0 }
    }
}

/// Whether the bytes of a file entry come with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataState {
    /// Data follows as chunks (holes included).
    Present,
    /// The source records the file and its size but not its bytes (an o2image, a
    /// metadata-only dump). Distinct from a hole: nobody knows what the bytes were.
    Absent,
    /// The entry kind carries no data (directories, links, devices).
    None,
}

impl DataState {
    pub fn code(self) -> u8 {
        match self {
            DataState::Present => 1,
            DataState::Absent => 2,
            DataState::None => 0,
        }
    }
    pub fn from_code(c: u8) -> DataState {
        match c {
            1 => DataState::Present,
            2 => DataState::Absent,
            _ => DataState::None,
        }
    }
}

/// Device numbers of a character or block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Device {
    pub major: u32,
    pub minor: u32,
}

/// An extended attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Xattr {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// An access-control list kept as an opaque blob with a type tag
/// (`posix.access`, `posix.default`, `aix.aixc`, `aix.nfs4`, `vms.acl`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Acl {
    pub kind: String,
    pub data: Vec<u8>,
}

/// A format-specific fact under a namespaced key such as `vms.rfm` or `aix.incno`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Extra {
    pub key: String,
    pub value: Vec<u8>,
}

impl Extra {
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Extra {
        Extra {
            key: key.into(),
            value: value.into(),
        }
    }
    /// The namespace: the part of the key before the first dot.
    pub fn namespace(&self) -> &str {
        self.key.split('.').next().unwrap_or("")
    }
}

/// One archive member.
///
/// `path` is relative and `/`-separated (see [`normalize_path`]); an absolute or `..` path
/// from a hostile archive is kept as the source said it so the extractor can refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated path as raw bytes. `.` is the archive root.
    pub path: Vec<u8>,
    pub kind: EntryKind,
    /// Permission bits including setuid, setgid and sticky (`0o7777`); no type bits.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub uname: Option<Vec<u8>>,
    pub gname: Option<Vec<u8>>,
    /// Logical size in bytes (the apparent size of a sparse file).
    pub size: u64,
    pub mtime: Option<Timestamp>,
    pub atime: Option<Timestamp>,
    pub ctime: Option<Timestamp>,
    pub birth: Option<Timestamp>,
    pub nlink: u32,
    /// Inode number in the source, where it had one.
    pub inode: Option<u64>,
    pub generation: Option<u32>,
    /// Source device of the inode (for hard-link detection in directory sources).
    pub dev: Option<u64>,
    pub rdev: Option<Device>,
    /// Symlink target, or the earlier path a hard link names.
    pub link_target: Option<Vec<u8>>,
    pub data: DataState,
    pub xattrs: Vec<Xattr>,
    pub acls: Vec<Acl>,
    pub extras: Vec<Extra>,
    /// The data runs `(offset, len)` the reader will deliver, in order, when it knows them
    /// before the data (a directory source asks SEEK_DATA, a tar sparse header lists them, a
    /// dump header maps its blocks). Everything outside the runs is a hole. `None` means
    /// unknown. Writers whose format puts the hole map before the data (pax sparse 1.0) use
    /// it to stream instead of spooling; a reader that sets it must deliver exactly these
    /// runs (possibly in several chunks). Readers cap it (see [`Entry::MAX_DATA_MAP`]).
    pub data_map: Option<Vec<(u64, u64)>>,
}

impl Entry {
    /// Readers leave [`Entry::data_map`] as `None` rather than build a map longer than this.
    pub const MAX_DATA_MAP: usize = 1 << 16;

    /// A new entry with neutral defaults: mode 0644 (0755 for directories), owner 0, now time
    /// unknown, one link, data present for files and none otherwise.
    pub fn new(path: impl Into<Vec<u8>>, kind: EntryKind) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode: if kind == EntryKind::Dir { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            uname: None,
            gname: None,
            size: 0,
            mtime: None,
            atime: None,
            ctime: None,
            birth: None,
            nlink: 1,
            inode: None,
            generation: None,
            dev: None,
            rdev: None,
            link_target: None,
            data: if kind == EntryKind::File {
                DataState::Present
            } else {
                DataState::None
            },
            xattrs: Vec::new(),
            acls: Vec::new(),
            extras: Vec::new(),
            data_map: None,
        }
    }

    /// The path for messages (lossy UTF-8).
    pub fn display_path(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }

    /// First extra with this key.
    pub fn extra(&self, key: &str) -> Option<&[u8]> {
        self.extras
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_slice())
    }

    /// Set (replace) an extra.
    pub fn set_extra(&mut self, key: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self.extras.iter_mut().find(|e| e.key == key) {
            Some(e) => e.value = value,
            None => self.extras.push(Extra {
                key: key.to_string(),
                value,
            }),
        }
    }

    /// Whether the entry is followed by data chunks.
    pub fn has_data(&self) -> bool {
        self.kind == EntryKind::File && self.data != DataState::None
    }

    /// The last path component.
    pub fn name(&self) -> &[u8] {
        match self.path.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.path[i + 1..],
            None => &self.path,
        }
    }
}

/// Normalise a path from an archive into the model's form: drop `.` components, collapse
/// repeated and trailing slashes. Returns `.` for the root.
///
/// Deliberately kept: a leading `/` (an absolute name from an old or hostile archive) and
/// `..` components. The model does not hide them: the extractor refuses them entry by entry,
/// and a conversion keeps what the source said.
pub fn normalize_path(raw: &[u8]) -> Vec<u8> {
    let absolute = raw.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|&b| b == b'/') {
        if comp.is_empty() || comp == b"." {
            continue;
        }
        parts.push(comp);
    }
    if parts.is_empty() {
        return if absolute {
            b"/".to_vec()
        } else {
            b".".to_vec()
        };
    }
    let joined = parts.join(&b'/');
    if absolute {
        [b"/".as_slice(), &joined].concat()
    } else {
        joined
    }
}

/// Whether a path is absolute or climbs out with `..`: what an extractor must refuse.
pub fn is_unsafe_path(path: &[u8]) -> bool {
    path.first() == Some(&b'/') || path.split(|&b| b == b'/').any(|c| c == b"..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize() {
        assert_eq!(normalize_path(b"./a//b/"), b"a/b");
        assert_eq!(normalize_path(b"/etc//x/"), b"/etc/x");
        assert_eq!(normalize_path(b"./"), b".");
        assert!(
            is_unsafe_path(b"/etc/x") && is_unsafe_path(b"a/../../x") && !is_unsafe_path(b"a/..b")
        );
        assert_eq!(normalize_path(b"."), b".");
        assert_eq!(normalize_path(b"../x"), b"../x");
    }

    #[test]
    fn kind_codes_round_trip() {
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::from_code(k.code()), Some(k));
            if k != EntryKind::HardLink {
                assert_eq!(EntryKind::from_ifmt(k.ifmt()), Some(k));
            }
        }
        assert_eq!(EntryKind::from_code(0), None);
    }
}
