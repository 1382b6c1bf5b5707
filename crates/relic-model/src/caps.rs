//! What a writer can represent, and the loss report.
//!
//! Every writer publishes [`Capabilities`]. Before an entry reaches the writer the engine
//! calls [`adapt_entry`], which fits the entry to the target (truncating times, mapping ids,
//! dropping what cannot be kept) and returns every [`Loss`] it caused. The engine adds them to
//! a [`LossReport`] (counts by kind, first examples); `--strict` turns any loss into an error.
//! Writers may therefore assume that what they receive fits. Some entries no writer can
//! hold whatever its capabilities: a symbolic link whose target the source does not hold
//! (`link_target` None, e.g. an o2image slow symlink whose target block was not copied) is
//! always dropped (as [`LossKind::SymlinkTargetUnknown`]; as `KindUnsupported` where the
//! writer holds no symlinks at all), so no writer sees a symlink without a target.

use std::collections::BTreeMap;
use std::fmt;

use crate::entry::{DataState, Entry, EntryKind, Timestamp};

/// Characters a target accepts in names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// Any byte but NUL and `/`.
    Bytes,
    /// 7-bit ASCII; other bytes are replaced by `_`.
    Ascii,
}

/// A set of entry kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSet(pub u32);

impl KindSet {
    pub const ALL: KindSet = KindSet(0x1fe);
    pub fn of(kinds: &[EntryKind]) -> KindSet {
        KindSet(kinds.iter().fold(0, |a, k| a | 1 << k.code()))
    }
    pub fn contains(self, k: EntryKind) -> bool {
        self.0 & (1 << k.code()) != 0
    }
}

/// What a writer can represent. `None` limits mean "no limit".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub max_path: Option<u32>,
    pub max_name: Option<u32>,
    pub charset: Charset,
    pub uid_max: Option<u64>,
    pub gid_max: Option<u64>,
    /// Earliest and latest representable times (seconds since the epoch).
    pub time_min: Option<i64>,
    pub time_max: Option<i64>,
    /// Time resolution in nanoseconds (1 = ns, 1_000_000_000 = whole seconds).
    pub time_precision_ns: u32,
    pub atime: bool,
    pub ctime: bool,
    pub birth: bool,
    pub max_file_size: Option<u64>,
    pub kinds: KindSet,
    pub xattrs: bool,
    pub acls: bool,
    /// Holes are kept (otherwise written as zeros).
    pub holes: bool,
    /// The format records dump levels.
    pub levels: bool,
    pub user_names: bool,
    pub rdev_major_max: Option<u32>,
    pub rdev_minor_max: Option<u32>,
    /// Extras namespaces kept (`*` = all of them).
    pub extras: Vec<String>,
    /// The writer needs every entry once (metadata only) before the data pass.
    pub needs_catalog: bool,
}

impl Capabilities {
    /// A target that can hold everything the model can say.
    pub fn unlimited() -> Capabilities {
        Capabilities {
            max_path: None,
            max_name: None,
            charset: Charset::Bytes,
            uid_max: None,
            gid_max: None,
            time_min: None,
            time_max: None,
            time_precision_ns: 1,
            atime: true,
            ctime: true,
            birth: true,
            max_file_size: None,
            kinds: KindSet::ALL,
            xattrs: true,
            acls: true,
            holes: true,
            levels: true,
            user_names: true,
            rdev_major_max: None,
            rdev_minor_max: None,
            extras: vec!["*".to_string()],
            needs_catalog: false,
        }
    }

    fn keeps_extra(&self, key: &str) -> bool {
        let ns = key.split('.').next().unwrap_or("");
        self.extras.iter().any(|e| e == "*" || e == ns)
    }
}

/// What kind of information was lost, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LossKind {
    PathTooLong,
    NameTooLong,
    CharsetMapped,
    UidMapped,
    GidMapped,
    TimeClamped,
    TimePrecision,
    FileTooLarge,
    KindUnsupported,
    XattrsDropped,
    AclsDropped,
    HolesFilled,
    DataAbsent,
    UserNamesDropped,
    DeviceMapped,
    ExtrasDropped,
    LinkTargetMissing,
    SymlinkTargetUnknown,
}

impl LossKind {
    /// Whether the entry itself is left out (as opposed to one of its fields).
    pub fn drops_entry(self) -> bool {
        matches!(
            self,
            LossKind::PathTooLong
                | LossKind::NameTooLong
                | LossKind::FileTooLarge
                | LossKind::KindUnsupported
                | LossKind::LinkTargetMissing
                | LossKind::SymlinkTargetUnknown
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            LossKind::PathTooLong => "dropped: path too long for the target",
            LossKind::NameTooLong => "dropped: name too long for the target",
            LossKind::CharsetMapped => "mapped: characters the target cannot hold replaced by '_'",
            LossKind::UidMapped => "mapped: uid out of the target's range",
            LossKind::GidMapped => "mapped: gid out of the target's range",
            LossKind::TimeClamped => "clamped: time out of the target's range",
            LossKind::TimePrecision => "truncated: sub-second time precision",
            LossKind::FileTooLarge => "dropped: file larger than the target allows",
            LossKind::KindUnsupported => "dropped: entry kind the target cannot hold",
            LossKind::XattrsDropped => "dropped: extended attributes",
            LossKind::AclsDropped => "dropped: ACLs",
            LossKind::HolesFilled => "mapped: holes written as zeros",
            LossKind::DataAbsent => "absent: data not present in the source, written as holes",
            LossKind::UserNamesDropped => "dropped: user/group names",
            LossKind::DeviceMapped => "mapped: device numbers out of the target's range",
            LossKind::ExtrasDropped => "dropped: format-specific metadata",
            LossKind::LinkTargetMissing => "dropped: hard link to an entry that was not written",
            LossKind::SymlinkTargetUnknown => {
                "dropped: symbolic link whose target the source does not hold"
            }
        }
    }
}

/// One loss on one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    pub kind: LossKind,
    pub path: Vec<u8>,
    pub detail: String,
}

/// Losses counted by kind, with the first few examples of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LossReport {
    pub counts: BTreeMap<LossKind, u64>,
    pub examples: BTreeMap<LossKind, Vec<String>>,
    /// Bytes of absent data written as holes.
    pub absent_bytes: u64,
}

impl LossReport {
    pub const EXAMPLES: usize = 3;

    pub fn add(&mut self, loss: &Loss) {
        *self.counts.entry(loss.kind).or_default() += 1;
        let ex = self.examples.entry(loss.kind).or_default();
        if ex.len() < Self::EXAMPLES {
            ex.push(format!(
                "{}: {}",
                crate::listing::escape(&loss.path),
                loss.detail
            ));
        }
    }
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

impl fmt::Display for LossReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (kind, n) in &self.counts {
            writeln!(f, "{n:>8}  {}", kind.describe())?;
            if *kind == LossKind::DataAbsent {
                writeln!(f, "          ({} bytes absent)", self.absent_bytes)?;
            }
            for ex in self.examples.get(kind).into_iter().flatten() {
                writeln!(f, "          e.g. {ex}")?;
            }
        }
        Ok(())
    }
}

fn clamp_time(t: &mut Timestamp, caps: &Capabilities, path: &[u8], out: &mut Vec<Loss>) {
    let loss = |detail: String| Loss {
        kind: LossKind::TimeClamped,
        path: path.to_vec(),
        detail,
    };
    if let Some(min) = caps.time_min {
        if t.secs < min {
            out.push(loss(format!("{} before the earliest time {min}", t.secs)));
            *t = Timestamp::from_secs(min);
        }
    }
    if let Some(max) = caps.time_max {
        if t.secs > max {
            out.push(loss(format!("{} after the latest time {max}", t.secs)));
            *t = Timestamp::from_secs(max);
        }
    }
    let p = caps.time_precision_ns.max(1);
    if p > 1 && !t.nanos.is_multiple_of(p) {
        out.push(Loss {
            kind: LossKind::TimePrecision,
            path: path.to_vec(),
            detail: if p == 1_000_000_000 {
                format!("{}.{:09} kept to whole seconds", t.secs, t.nanos)
            } else {
                format!("{}.{:09} kept to {p} ns", t.secs, t.nanos)
            },
        });
        t.nanos -= t.nanos % p;
    }
}

/// Fit `entry` to `caps`. Returns the entry to write (None when it must be left out) and the
/// losses. Pure: the caller decides what to do with the losses.
pub fn adapt_entry(mut entry: Entry, caps: &Capabilities) -> (Option<Entry>, Vec<Loss>) {
    let mut out = Vec::new();
    let path = entry.path.clone();
    let drop = |kind: LossKind, detail: String, mut out: Vec<Loss>| {
        out.push(Loss {
            kind,
            path: path.clone(),
            detail,
        });
        (None, out)
    };

    if !caps.kinds.contains(entry.kind) {
        return drop(
            LossKind::KindUnsupported,
            format!("{} not supported", entry.kind.name()),
            out,
        );
    }
    // A symlink is its target: without one there is nothing any writer could create (an
    // empty link name is refused by tar and by symlink(2)). Checked before the data state,
    // so such an entry counts once, as this loss, not also as absent data.
    if entry.kind == EntryKind::Symlink && entry.link_target.is_none() {
        return drop(
            LossKind::SymlinkTargetUnknown,
            if entry.size > 0 {
                format!("target of {} bytes not in the source", entry.size)
            } else {
                "no target in the source".to_string()
            },
            out,
        );
    }
    if let Some(max) = caps.max_path {
        if entry.path.len() > max as usize {
            return drop(
                LossKind::PathTooLong,
                format!("{} bytes, limit {max}", entry.path.len()),
                out,
            );
        }
    }
    if let Some(max) = caps.max_name {
        if let Some(long) = entry
            .path
            .split(|&b| b == b'/')
            .find(|c| c.len() > max as usize)
        {
            return drop(
                LossKind::NameTooLong,
                format!(
                    "component '{}' has {} bytes, limit {max}",
                    String::from_utf8_lossy(long),
                    long.len()
                ),
                out,
            );
        }
    }
    if let Some(max) = caps.max_file_size {
        if entry.kind == EntryKind::File && entry.size > max {
            return drop(
                LossKind::FileTooLarge,
                format!("{} bytes, limit {max}", entry.size),
                out,
            );
        }
    }
    if caps.charset == Charset::Ascii {
        let mapped = |p: &mut Vec<u8>| -> bool {
            let mut changed = false;
            for b in p.iter_mut() {
                if *b >= 0x80 {
                    *b = b'_';
                    changed = true;
                }
            }
            changed
        };
        if mapped(&mut entry.path) {
            out.push(Loss {
                kind: LossKind::CharsetMapped,
                path: path.clone(),
                detail: "non-ASCII name".into(),
            });
        }
        if let Some(t) = entry.link_target.as_mut() {
            if mapped(t) {
                out.push(Loss {
                    kind: LossKind::CharsetMapped,
                    path: path.clone(),
                    detail: "non-ASCII link target".into(),
                });
            }
        }
    }
    if let Some(max) = caps.uid_max {
        if entry.uid > max {
            out.push(Loss {
                kind: LossKind::UidMapped,
                path: path.clone(),
                detail: format!("uid {} > {max}, written as {max}", entry.uid),
            });
            entry.uid = max;
        }
    }
    if let Some(max) = caps.gid_max {
        if entry.gid > max {
            out.push(Loss {
                kind: LossKind::GidMapped,
                path: path.clone(),
                detail: format!("gid {} > {max}, written as {max}", entry.gid),
            });
            entry.gid = max;
        }
    }
    if let Some(t) = entry.mtime.as_mut() {
        clamp_time(t, caps, &path, &mut out);
    }
    for (keep, t, name) in [
        (caps.atime, &mut entry.atime, "atime"),
        (caps.ctime, &mut entry.ctime, "ctime"),
        (caps.birth, &mut entry.birth, "birth time"),
    ] {
        if t.is_some() && !keep {
            // Not a reported loss: atime, ctime and birth time are set by the file system
            // itself on extraction (no API sets ctime or birth time) and most archive
            // formats never kept them; reporting them would make every conversion lossy.
            let _ = name;
            *t = None;
        } else if let Some(t) = t.as_mut() {
            let mut tmp = Vec::new();
            clamp_time(t, caps, &path, &mut tmp);
            // precision loss on atime/ctime is not worth a report line of its own
            out.extend(
                tmp.into_iter()
                    .filter(|l| l.kind != LossKind::TimePrecision),
            );
        }
    }
    if !caps.xattrs && !entry.xattrs.is_empty() {
        out.push(Loss {
            kind: LossKind::XattrsDropped,
            path: path.clone(),
            detail: format!("{} attributes", entry.xattrs.len()),
        });
        entry.xattrs.clear();
    }
    if !caps.acls && !entry.acls.is_empty() {
        out.push(Loss {
            kind: LossKind::AclsDropped,
            path: path.clone(),
            detail: format!("{} ACLs", entry.acls.len()),
        });
        entry.acls.clear();
    }
    if !caps.user_names && (entry.uname.is_some() || entry.gname.is_some()) {
        entry.uname = None;
        entry.gname = None;
        // Numeric ids are kept; names are a convenience most legacy formats never had, so
        // dropping them is reported only at -v level by the engine, not as a loss.
    }
    if let Some(dev) = entry.rdev.as_mut() {
        let (mj, mn) = (caps.rdev_major_max, caps.rdev_minor_max);
        if mj.is_some_and(|m| dev.major > m) || mn.is_some_and(|m| dev.minor > m) {
            out.push(Loss {
                kind: LossKind::DeviceMapped,
                path: path.clone(),
                detail: format!("device {},{} does not fit", dev.major, dev.minor),
            });
            dev.major = dev.major.min(mj.unwrap_or(u32::MAX));
            dev.minor = dev.minor.min(mn.unwrap_or(u32::MAX));
        }
    }
    let before = entry.extras.len();
    let dropped: Vec<String> = entry
        .extras
        .iter()
        .filter(|e| !caps.keeps_extra(&e.key))
        .map(|e| e.key.clone())
        .collect();
    entry.extras.retain(|e| caps.keeps_extra(&e.key));
    if entry.extras.len() != before {
        out.push(Loss {
            kind: LossKind::ExtrasDropped,
            path: path.clone(),
            detail: dropped.join(", "),
        });
    }
    if entry.data == DataState::Absent && entry.size > 0 {
        out.push(Loss {
            kind: LossKind::DataAbsent,
            path: path.clone(),
            detail: format!("{} bytes", entry.size),
        });
    }
    (Some(entry), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Xattr;

    fn xenix_like() -> Capabilities {
        Capabilities {
            max_name: Some(14),
            uid_max: Some(65535),
            gid_max: Some(65535),
            time_precision_ns: 1_000_000_000,
            xattrs: false,
            kinds: KindSet::of(&[EntryKind::File, EntryKind::Dir, EntryKind::HardLink]),
            extras: vec![],
            ..Capabilities::unlimited()
        }
    }

    #[test]
    fn unlimited_keeps_everything() {
        let mut e = Entry::new("a/b", EntryKind::Symlink);
        e.link_target = Some(b"../c".to_vec());
        e.xattrs.push(Xattr {
            name: b"user.x".to_vec(),
            value: b"1".to_vec(),
        });
        e.mtime = Some(Timestamp::new(5, 7));
        let (kept, losses) = adapt_entry(e.clone(), &Capabilities::unlimited());
        assert_eq!(kept, Some(e));
        assert!(losses.is_empty());
    }

    #[test]
    fn narrow_target_reports_each_loss() {
        let mut e = Entry::new("dir/file", EntryKind::File);
        e.uid = 70000;
        e.mtime = Some(Timestamp::new(100, 500));
        e.xattrs.push(Xattr {
            name: b"user.x".to_vec(),
            value: vec![],
        });
        e.set_extra("vms.rfm", vec![2]);
        let (kept, losses) = adapt_entry(e, &xenix_like());
        let kept = kept.expect("entry fits after mapping");
        assert_eq!(kept.uid, 65535);
        assert_eq!(kept.mtime, Some(Timestamp::new(100, 0)));
        assert!(kept.xattrs.is_empty() && kept.extras.is_empty());
        let kinds: Vec<LossKind> = losses.iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            vec![
                LossKind::UidMapped,
                LossKind::TimePrecision,
                LossKind::XattrsDropped,
                LossKind::ExtrasDropped
            ]
        );
    }

    #[test]
    fn long_name_and_kind_drop_the_entry() {
        let (kept, losses) = adapt_entry(
            Entry::new("a/fifteen_chars_xx", EntryKind::File),
            &xenix_like(),
        );
        assert!(kept.is_none());
        assert_eq!(losses[0].kind, LossKind::NameTooLong);
        let (kept, losses) = adapt_entry(Entry::new("s", EntryKind::Socket), &xenix_like());
        assert!(kept.is_none());
        assert_eq!(losses[0].kind, LossKind::KindUnsupported);
    }

    #[test]
    fn a_symlink_without_target_is_dropped_whatever_the_target_holds() {
        // what an o2image reader gives for a slow symlink whose target block is not held
        let mut e = Entry::new("dir/sym", EntryKind::Symlink);
        e.size = 874;
        e.data = DataState::Absent;
        for caps in [Capabilities::unlimited(), xenix_like_with_symlinks()] {
            let (kept, losses) = adapt_entry(e.clone(), &caps);
            assert_eq!(kept, None);
            // one loss, of the new kind: not also counted as absent data
            assert_eq!(losses.len(), 1, "{losses:?}");
            assert_eq!(losses[0].kind, LossKind::SymlinkTargetUnknown);
            assert_eq!(losses[0].path, b"dir/sym");
            assert_eq!(losses[0].detail, "target of 874 bytes not in the source");
            assert!(losses[0].kind.drops_entry());
        }
        let mut r = LossReport::default();
        r.add(&adapt_entry(e.clone(), &Capabilities::unlimited()).1[0]);
        assert!(r.to_string().contains(
            "1  dropped: symbolic link whose target the source does not hold\n          e.g. dir/sym: target of 874 bytes"
        ), "{r}");
        // a target that cannot be held at all is still reported as the kind it is
        let (kept, losses) = adapt_entry(e, &xenix_like());
        assert!(kept.is_none());
        assert_eq!(losses.len(), 1);
        assert_eq!(losses[0].kind, LossKind::KindUnsupported);
    }

    #[test]
    fn a_symlink_with_target_passes() {
        let mut e = Entry::new("dir/sym", EntryKind::Symlink);
        e.size = 6;
        e.link_target = Some(b"target".to_vec());
        for caps in [Capabilities::unlimited(), xenix_like_with_symlinks()] {
            let (kept, losses) = adapt_entry(e.clone(), &caps);
            assert_eq!(kept, Some(e.clone()));
            assert!(losses.is_empty(), "{losses:?}");
        }
        // an empty target is a target: kept (the writer decides what it can create)
        e.link_target = Some(vec![]);
        e.size = 0;
        let (kept, losses) = adapt_entry(e.clone(), &Capabilities::unlimited());
        assert_eq!(kept, Some(e));
        assert!(losses.is_empty());
    }

    fn xenix_like_with_symlinks() -> Capabilities {
        Capabilities {
            kinds: KindSet::of(&[EntryKind::File, EntryKind::Dir, EntryKind::Symlink]),
            ..xenix_like()
        }
    }

    #[test]
    fn report_counts_and_keeps_first_examples() {
        let mut r = LossReport::default();
        for i in 0..5 {
            r.add(&Loss {
                kind: LossKind::UidMapped,
                path: format!("f{i}").into_bytes(),
                detail: "x".into(),
            });
        }
        assert_eq!(r.counts[&LossKind::UidMapped], 5);
        assert_eq!(r.examples[&LossKind::UidMapped].len(), LossReport::EXAMPLES);
        assert!(r.to_string().contains("5  mapped: uid"));
    }
}
