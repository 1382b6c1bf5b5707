//! The neutral listing: what `relic list` prints and what snapshot tests record.
//!
//! Three forms, all deterministic (UTC times, escaped names):
//! - [`short_line`]: the path alone.
//! - [`long_line`]: `ls -l` style: type and mode, links, uid, gid, size (or `major, minor`),
//!   mtime, path, `-> target` for symlinks, `link to target` for hard links, and
//!   `[data absent]` where the source does not hold the bytes.
//! - [`json_line`]: one JSON object per entry with every listed field.
//!
//! Names are printed with bytes that are not printable UTF-8 escaped as `\xNN` and a
//! backslash as `\\`, so a listing is unambiguous and stays valid UTF-8.

use crate::entry::{DataState, Entry, EntryKind};
use crate::time::format_utc;

/// Escape raw name bytes for display.
pub fn escape(bytes: &[u8]) -> String {
    // the common case, printable ASCII without a backslash, is the name itself
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'\\') {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return s.to_owned();
        }
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => {
                    let mut b = [0u8; 4];
                    for byte in c.encode_utf8(&mut b).bytes() {
                        out.push_str(&format!("\\x{byte:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `drwxr-xr-x`-style mode string.
pub fn mode_string(kind: EntryKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(kind.type_char());
    let bits = [
        (0o400, 'r'),
        (0o200, 'w'),
        (0o100, 'x'),
        (0o040, 'r'),
        (0o020, 'w'),
        (0o010, 'x'),
        (0o004, 'r'),
        (0o002, 'w'),
        (0o001, 'x'),
    ];
    for (i, (bit, ch)) in bits.iter().enumerate() {
        let set = mode & bit != 0;
        let special = match i {
            2 => Some((0o4000, 's', 'S')),
            5 => Some((0o2000, 's', 'S')),
            8 => Some((0o1000, 't', 'T')),
            _ => None,
        };
        match special {
            Some((sbit, lower, upper)) if mode & sbit != 0 => {
                s.push(if set { lower } else { upper })
            }
            _ => s.push(if set { *ch } else { '-' }),
        }
    }
    s
}

pub fn short_line(e: &Entry) -> String {
    escape(&e.path)
}

pub fn long_line(e: &Entry) -> String {
    let size = match (e.kind, e.rdev) {
        (EntryKind::CharDevice | EntryKind::BlockDevice, Some(d)) => {
            format!("{}, {}", d.major, d.minor)
        }
        _ => e.size.to_string(),
    };
    let time = e
        .mtime
        .map(|t| format_utc(t.secs))
        .unwrap_or_else(|| "-".repeat(19));
    let mut line = format!(
        "{} {:>4} {:<8} {:<8} {:>12} {} {}",
        mode_string(e.kind, e.mode),
        e.nlink,
        e.uid,
        e.gid,
        size,
        time,
        escape(&e.path)
    );
    match (e.kind, &e.link_target) {
        (EntryKind::Symlink, Some(t)) => {
            line.push_str(" -> ");
            line.push_str(&escape(t));
        }
        (EntryKind::HardLink, Some(t)) => {
            line.push_str(" link to ");
            line.push_str(&escape(t));
        }
        _ => {}
    }
    if e.data == DataState::Absent {
        line.push_str(" [data absent]");
    }
    line
}

pub fn json_value(e: &Entry) -> serde_json::Value {
    use serde_json::json;
    let t = |t: Option<crate::entry::Timestamp>| t.map(|t| json!({"sec": t.secs, "nsec": t.nanos}));
    let mut v = json!({
        "path": escape(&e.path),
        "kind": e.kind.name(),
        "mode": format!("{:04o}", e.mode),
        "uid": e.uid,
        "gid": e.gid,
        "size": e.size,
        "mtime": t(e.mtime),
        "nlink": e.nlink,
        "link_target": e.link_target.as_deref().map(escape),
        "rdev": e.rdev.map(|d| json!({"major": d.major, "minor": d.minor})),
        "data": match e.data { DataState::Present => "present", DataState::Absent => "absent", DataState::None => "none" },
    });
    let obj = v
        .as_object_mut()
        .expect("because json! of an object literal is an object");
    if let Some(u) = &e.uname {
        obj.insert("uname".into(), escape(u).into());
    }
    if let Some(g) = &e.gname {
        obj.insert("gname".into(), escape(g).into());
    }
    for (name, val) in [("atime", e.atime), ("ctime", e.ctime), ("birth", e.birth)] {
        if val.is_some() {
            obj.insert(name.into(), t(val).into());
        }
    }
    if let Some(i) = e.inode {
        obj.insert("inode".into(), i.into());
    }
    if !e.xattrs.is_empty() {
        obj.insert(
            "xattrs".into(),
            e.xattrs
                .iter()
                .map(|x| escape(&x.name))
                .collect::<Vec<_>>()
                .into(),
        );
    }
    if !e.acls.is_empty() {
        obj.insert(
            "acls".into(),
            e.acls
                .iter()
                .map(|a| a.kind.clone())
                .collect::<Vec<_>>()
                .into(),
        );
    }
    if !e.extras.is_empty() {
        let m: serde_json::Map<String, serde_json::Value> = e
            .extras
            .iter()
            .map(|x| (x.key.clone(), escape(&x.value).into()))
            .collect();
        obj.insert("extras".into(), m.into());
    }
    v
}

pub fn json_line(e: &Entry) -> String {
    json_value(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{Device, Timestamp};

    #[test]
    fn modes() {
        assert_eq!(mode_string(EntryKind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(EntryKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(EntryKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(EntryKind::File, 0o2644), "-rw-r-Sr--");
    }

    #[test]
    fn escapes_non_utf8_and_controls() {
        assert_eq!(escape(b"caf\xe9\n\\"), "caf\\xe9\\x0a\\\\");
        assert_eq!(escape("naïve".as_bytes()), "naïve");
        // the printable-ASCII fast path and its edges
        assert_eq!(escape(b"usr/share/doc ~x"), "usr/share/doc ~x");
        assert_eq!(escape(b"a\\b"), "a\\\\b");
        assert_eq!(escape(b"a\x7fb"), "a\\x7fb");
        assert_eq!(escape(b"tab\there"), "tab\\x09here");
    }

    #[test]
    fn long_lines() {
        let mut e = Entry::new("dev/tty0", EntryKind::CharDevice);
        e.rdev = Some(Device { major: 4, minor: 0 });
        e.mtime = Some(Timestamp::from_secs(0));
        e.mode = 0o620;
        assert_eq!(
            long_line(&e),
            "crw--w----    1 0        0                4, 0 1970-01-01 00:00:00 dev/tty0"
        );
        let mut l = Entry::new("b", EntryKind::HardLink);
        l.link_target = Some(b"a".to_vec());
        assert!(long_line(&l).ends_with("b link to a"));
    }
}
