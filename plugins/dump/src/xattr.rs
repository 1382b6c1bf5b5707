//! Extended attributes in Linux dumps: the "EA side record" (a second TS_INODE of the same
//! inode with c_flags 0x8000 and c_extattributes 3) carries an ext2/3/4 xattr region,
//! parsed by the reader and built by the `bsd-dump` writer.
//!
//! Layout (ext2 on-disk, always little-endian; Linux restore `restore/xattr.c`, research
//! note 2.6, checked on `fixtures/dump/xattrs.dump`):
//! - header: u32 magic: 0xEA020001 = in-inode form (4-byte header; entries start at 4;
//!   value offsets count from the first entry) or 0xEA020000 = block form (32-byte header
//!   h_magic, h_refcount, h_blocks, h_hash, 4 reserved; entries start at 32; value offsets
//!   count from the block start);
//! - entries: `{u8 e_name_len; u8 e_name_index; u16 e_value_offs; u32 e_value_block;
//!   u32 e_value_size; u32 e_hash; name; pad to 4}`, ended by four zero bytes;
//! - name index: 1 `user.`, 2 `system.posix_acl_access`, 3 `system.posix_acl_default`,
//!   4 `trusted.`, 5 `lustre.`, 6 `security.`, 7 `system.` (ext4).
//! - ACL values (indexes 2, 3) are in the ext3 on-disk ACL format: u32 version 1, then
//!   entries `{u16 tag; u16 perm}` for USER_OBJ (1), GROUP_OBJ (4), MASK (0x10), OTHER (0x20)
//!   and `{u16 tag; u16 perm; u32 id}` for USER (2), GROUP (8). The model keeps ACLs as the
//!   Linux xattr value (`posix_acl_xattr`: u32 version 2, entries `{u16 tag; u16 perm;
//!   u32 id}`, id 0xffffffff for the short ones); both directions are converted here.

use relic_model::{Acl, Xattr};

pub const MAGIC_BLOCK: u32 = 0xEA02_0000;
pub const MAGIC_INODE: u32 = 0xEA02_0001;
/// Largest blob Linux restore accepts (XATTR_MAXSIZE).
pub const MAX_BLOB: usize = 65536;

const PREFIXES: [(u8, &str); 5] = [
    (1, "user."),
    (4, "trusted."),
    (5, "lustre."),
    (6, "security."),
    (7, "system."),
];

/// Attributes and ACLs read from a blob, plus what could not be understood.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub xattrs: Vec<Xattr>,
    pub acls: Vec<Acl>,
    pub problems: Vec<String>,
}

fn le16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*b.get(o)?, *b.get(o + 1)?]))
}
fn le32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes([
        *b.get(o)?,
        *b.get(o + 1)?,
        *b.get(o + 2)?,
        *b.get(o + 3)?,
    ]))
}

/// Parse an xattr blob. Never panics; malformed parts are reported in `problems`.
pub fn parse(blob: &[u8]) -> Parsed {
    let mut p = Parsed::default();
    let (first, base) = match le32(blob, 0) {
        Some(MAGIC_INODE) => (4, 4),
        Some(MAGIC_BLOCK) => (32, 0),
        Some(m) => {
            p.problems
                .push(format!("unknown xattr region magic {m:#x}"));
            return p;
        }
        None => return p,
    };
    let mut at = first;
    for _ in 0..4096 {
        let Some(word) = le32(blob, at) else {
            p.problems.push("xattr entries run past the region".into());
            break;
        };
        if word == 0 {
            break;
        }
        let name_len = blob[at] as usize;
        let index = blob[at + 1];
        let (Some(voff), Some(vsize)) = (le16(blob, at + 2), le32(blob, at + 8)) else {
            p.problems.push("truncated xattr entry".into());
            break;
        };
        let name_at = at + 16;
        let Some(name) = blob.get(name_at..name_at + name_len) else {
            p.problems.push("xattr name runs past the region".into());
            break;
        };
        let vstart = base + voff as usize;
        let value = blob.get(vstart..vstart.saturating_add(vsize as usize));
        match (index, value) {
            (_, None) => p.problems.push(format!(
                "value of xattr '{}' runs past the region",
                String::from_utf8_lossy(name)
            )),
            (2 | 3, Some(v)) => match ext3_acl_to_xattr(v) {
                Some(data) => p.acls.push(Acl {
                    kind: if index == 2 {
                        "posix.access"
                    } else {
                        "posix.default"
                    }
                    .into(),
                    data,
                }),
                None => p.problems.push("malformed ACL".into()),
            },
            (i, Some(v)) => match PREFIXES.iter().find(|(n, _)| *n == i) {
                Some((_, prefix)) => {
                    let mut full = prefix.as_bytes().to_vec();
                    full.extend_from_slice(name);
                    p.xattrs.push(Xattr {
                        name: full,
                        value: v.to_vec(),
                    });
                }
                None => p
                    .problems
                    .push(format!("xattr with unknown name index {i}")),
            },
        }
        at = name_at + name_len.div_ceil(4) * 4;
    }
    p
}

const ACL_USER_OBJ: u16 = 1;
const ACL_USER: u16 = 2;
const ACL_GROUP_OBJ: u16 = 4;
const ACL_GROUP: u16 = 8;
const ACL_MASK: u16 = 0x10;
const ACL_OTHER: u16 = 0x20;

/// ext3 on-disk ACL -> Linux `posix_acl_xattr` value.
pub fn ext3_acl_to_xattr(v: &[u8]) -> Option<Vec<u8>> {
    if le32(v, 0)? != 1 {
        return None;
    }
    let mut out = 2u32.to_le_bytes().to_vec();
    let mut at = 4;
    while at < v.len() {
        let tag = le16(v, at)?;
        let perm = le16(v, at + 2)?;
        let id = match tag {
            ACL_USER | ACL_GROUP => {
                let id = le32(v, at + 4)?;
                at += 8;
                id
            }
            ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_MASK | ACL_OTHER => {
                at += 4;
                u32::MAX
            }
            _ => return None,
        };
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    Some(out)
}

/// Linux `posix_acl_xattr` value -> ext3 on-disk ACL.
pub fn xattr_acl_to_ext3(v: &[u8]) -> Option<Vec<u8>> {
    if le32(v, 0)? != 2 || (v.len() - 4) % 8 != 0 {
        return None;
    }
    let mut out = 1u32.to_le_bytes().to_vec();
    for e in v[4..].chunks_exact(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        out.extend_from_slice(&e[..4]);
        match tag {
            ACL_USER | ACL_GROUP => out.extend_from_slice(&e[4..8]),
            ACL_USER_OBJ | ACL_GROUP_OBJ | ACL_MASK | ACL_OTHER => {}
            _ => return None,
        }
    }
    Some(out)
}

/// Build an in-inode-form blob from attributes and ACLs. Returns the blob (None when there
/// is nothing to store) and the names that cannot be stored.
pub fn build(xattrs: &[Xattr], acls: &[Acl]) -> (Option<Vec<u8>>, Vec<String>) {
    let mut items: Vec<(u8, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut dropped = Vec::new();
    for a in acls {
        let index = match a.kind.as_str() {
            "posix.access" => 2,
            "posix.default" => 3,
            k => {
                dropped.push(format!("ACL of kind {k}"));
                continue;
            }
        };
        match xattr_acl_to_ext3(&a.data) {
            Some(v) => items.push((index, Vec::new(), v)),
            None => dropped.push(format!("malformed {} ACL", a.kind)),
        }
    }
    for x in xattrs {
        let found = PREFIXES
            .iter()
            // restore knows indexes 1-6 only: "system." attributes cannot be restored
            .filter(|(i, _)| *i != 7)
            .find(|(_, p)| x.name.starts_with(p.as_bytes()) && x.name.len() > p.len());
        match found {
            Some((i, p)) if x.name.len() - p.len() <= 255 => {
                items.push((*i, x.name[p.len()..].to_vec(), x.value.clone()))
            }
            _ => dropped.push(String::from_utf8_lossy(&x.name).into_owned()),
        }
    }
    if items.is_empty() {
        return (None, dropped);
    }
    let entries_len: usize = items
        .iter()
        .map(|(_, n, _)| 16 + n.len().div_ceil(4) * 4)
        .sum::<usize>()
        + 4;
    let mut blob = MAGIC_INODE.to_le_bytes().to_vec();
    let mut values: Vec<u8> = Vec::new();
    let mut kept = Vec::new();
    for (index, name, value) in &items {
        let voff = entries_len + values.len();
        let total = 4 + entries_len + values.len() + value.len().div_ceil(4) * 4;
        if voff > u16::MAX as usize || total > MAX_BLOB {
            dropped.push(String::from_utf8_lossy(name).into_owned());
            continue;
        }
        kept.push((*index, name.clone(), voff as u16, value.len() as u32));
        values.extend_from_slice(value);
        values.resize(values.len().div_ceil(4) * 4, 0);
    }
    for (index, name, voff, vsize) in &kept {
        blob.push(name.len() as u8);
        blob.push(*index);
        blob.extend_from_slice(&voff.to_le_bytes());
        blob.extend_from_slice(&0u32.to_le_bytes());
        blob.extend_from_slice(&vsize.to_le_bytes());
        blob.extend_from_slice(&0u32.to_le_bytes());
        blob.extend_from_slice(name);
        blob.resize(blob.len().div_ceil(4) * 4, 0);
    }
    // entries dropped above leave a gap: pad up to where the values were placed
    blob.resize(4 + entries_len, 0);
    blob.extend_from_slice(&values);
    (Some(blob), dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_parse_round_trip_with_acls() {
        let acl = {
            let mut v = 2u32.to_le_bytes().to_vec();
            for (tag, perm, id) in [
                (1u16, 6u16, u32::MAX),
                (2, 4, 1000),
                (4, 4, u32::MAX),
                (0x10, 4, u32::MAX),
                (0x20, 0, u32::MAX),
            ] {
                v.extend_from_slice(&tag.to_le_bytes());
                v.extend_from_slice(&perm.to_le_bytes());
                v.extend_from_slice(&id.to_le_bytes());
            }
            v
        };
        let xattrs = vec![
            Xattr {
                name: b"user.comment".to_vec(),
                value: b"greeting".to_vec(),
            },
            Xattr {
                name: b"security.x".to_vec(),
                value: vec![0, 1, 2],
            },
            Xattr {
                name: b"system.other".to_vec(),
                value: vec![1],
            },
        ];
        let acls = vec![Acl {
            kind: "posix.access".into(),
            data: acl.clone(),
        }];
        let (blob, dropped) = build(&xattrs, &acls);
        assert_eq!(dropped, vec!["system.other".to_string()]);
        let p = parse(&blob.expect("something to store"));
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.xattrs, xattrs[..2].to_vec());
        assert_eq!(p.acls, acls);
    }

    #[test]
    fn hostile_blobs_do_not_panic() {
        let (blob, _) = build(
            &[Xattr {
                name: b"user.a".to_vec(),
                value: vec![7; 100],
            }],
            &[],
        );
        let blob = blob.expect("blob");
        for n in 0..blob.len() {
            let _ = parse(&blob[..n]);
        }
        let mut bad = blob.clone();
        bad[6] = 0xff; // value offset far away
        assert!(!parse(&bad).problems.is_empty());
    }
}
