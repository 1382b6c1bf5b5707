//! The plan of a by-inode backup, made from the engine's catalog pass.
//!
//! A by-inode backup writes its maps and all its directories before any file (research note
//! §1.7 and §2.3), so both by-inode writers declare `needs_catalog`: the engine hands them
//! every entry once (metadata only) before the data pass. [`Catalog`] keeps a small record
//! per entry; [`Catalog::plan`] numbers the inodes (root 2, then every directory in path
//! order, then the other entries in the order they will come), gives hard links the inode of
//! their target, makes the directory contents (with `.` and `..`), counts links, and decides
//! from the level's budate which inodes the backup holds (directories always, so restore
//! can rebuild every path; other inodes when changed — mtime or ctime — since the budate).
//!
//! Memory: one record per entry and one per directory entry, as dump itself keeps.

use std::collections::{BTreeMap, HashMap, HashSet};

use relic_model::{Device, Entry, EntryKind, Error, Result, Timestamp};

/// What is kept of an entry.
#[derive(Debug, Clone)]
pub struct CatEntry {
    pub path: Vec<u8>,
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub mtime: i64,
    pub atime: i64,
    pub ctime: i64,
    pub rdev: Option<Device>,
    pub link_target: Option<Vec<u8>>,
}

fn secs(t: Option<Timestamp>, dflt: i64) -> i64 {
    t.map(|t| t.secs).unwrap_or(dflt)
}

impl CatEntry {
    pub fn of(e: &Entry, date: i64) -> CatEntry {
        let mtime = secs(e.mtime, date);
        CatEntry {
            path: e.path.clone(),
            kind: e.kind,
            mode: e.mode & 0o7777,
            uid: e.uid,
            gid: e.gid,
            size: e.size,
            mtime,
            atime: secs(e.atime, mtime),
            ctime: secs(e.ctime, mtime),
            rdev: e.rdev,
            link_target: e.link_target.clone(),
        }
    }

    /// A directory made up for a parent the source did not list.
    fn made_dir(path: Vec<u8>, date: i64) -> CatEntry {
        CatEntry {
            path,
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: date,
            atime: date,
            ctime: date,
            rdev: None,
            link_target: None,
        }
    }
}

/// A directory to write.
#[derive(Debug, Clone)]
pub struct DirPlan {
    pub ino: u32,
    pub meta: CatEntry,
    pub nlink: u32,
    /// `.`, `..`, then the children: (inode, name).
    pub entries: Vec<(u32, Vec<u8>)>,
}

/// Everything the writer needs.
#[derive(Debug, Default)]
pub struct Plan {
    /// Directories in ascending inode order.
    pub dirs: Vec<DirPlan>,
    /// Path -> inode, for every entry (hard links: their target's inode).
    pub inode_of: HashMap<Vec<u8>, u32>,
    /// Link counts of non-directory inodes.
    pub nlink: HashMap<u32, u32>,
    /// Inodes the backup holds.
    pub dumped: HashSet<u32>,
    /// Highest inode number.
    pub max_ino: u32,
    pub warnings: Vec<String>,
}

/// Entries seen in the catalog pass.
#[derive(Default)]
pub struct Catalog {
    pub entries: Vec<CatEntry>,
}

/// Split `a/b/c` into (`a/b`, `c`); the parent of a top-level name is `.`.
fn split(path: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (path[..i].to_vec(), path[i + 1..].to_vec()),
        None => (b".".to_vec(), path.to_vec()),
    }
}

/// The path a by-inode backup can hold: relative (absolute names lose their `/`).
pub fn relative(path: &[u8]) -> Vec<u8> {
    let t = match path.iter().position(|&b| b != b'/') {
        Some(i) => &path[i..],
        None => &b"."[..],
    };
    relic_model::normalize_path(t)
}

impl Catalog {
    pub fn add(&mut self, e: &Entry, date: i64) {
        let mut c = CatEntry::of(e, date);
        c.path = relative(&c.path);
        if let Some(t) = c.link_target.as_mut() {
            if e.kind == EntryKind::HardLink {
                *t = relative(t);
            }
        }
        self.entries.push(c);
    }

    /// Number the inodes and lay the directories out. `max_ino` is the format's limit.
    pub fn plan(&self, root: u32, date: i64, budate: i64, max_ino: u32) -> Result<Plan> {
        let mut plan = Plan::default();
        // directories, with their parents made up where missing
        let mut dirs: BTreeMap<Vec<u8>, CatEntry> = BTreeMap::new();
        dirs.insert(b".".to_vec(), CatEntry::made_dir(b".".to_vec(), date));
        for c in &self.entries {
            if c.kind == EntryKind::Dir {
                dirs.insert(c.path.clone(), c.clone());
            }
        }
        for c in &self.entries {
            let mut p = split(&c.path).0;
            while p != b"." && !dirs.contains_key(&p) {
                plan.warnings.push(format!(
                    "directory {} is not in the source: made up (mode 0755)",
                    String::from_utf8_lossy(&p)
                ));
                dirs.insert(p.clone(), CatEntry::made_dir(p.clone(), date));
                p = split(&p).0;
            }
        }
        let mut next = root + 1;
        let mut ino_of_dir: HashMap<Vec<u8>, u32> = HashMap::new();
        for path in dirs.keys() {
            let ino = if path == b"." {
                root
            } else {
                let i = next;
                next += 1;
                i
            };
            ino_of_dir.insert(path.clone(), ino);
        }
        // other entries, in catalog order
        let mut children: HashMap<Vec<u8>, Vec<(u32, Vec<u8>)>> = HashMap::new();
        let mut subdirs: HashMap<Vec<u8>, u32> = HashMap::new();
        for c in &self.entries {
            match c.kind {
                EntryKind::Dir => {}
                EntryKind::HardLink => {}
                _ => {
                    if plan.inode_of.contains_key(&c.path) || ino_of_dir.contains_key(&c.path) {
                        plan.warnings.push(format!(
                            "{} appears twice: the first one is kept",
                            String::from_utf8_lossy(&c.path)
                        ));
                        continue;
                    }
                    let ino = next;
                    next += 1;
                    plan.inode_of.insert(c.path.clone(), ino);
                    plan.nlink.insert(ino, 1);
                    if c.mtime >= budate || c.ctime >= budate {
                        plan.dumped.insert(ino);
                    }
                    let (parent, name) = split(&c.path);
                    children.entry(parent).or_default().push((ino, name));
                }
            }
        }
        for c in &self.entries {
            if c.kind != EntryKind::HardLink {
                continue;
            }
            let target = c.link_target.clone().unwrap_or_default();
            let Some(&ino) = plan.inode_of.get(&target) else {
                plan.warnings.push(format!(
                    "hard link {} names {}, which is not in the backup: left out",
                    String::from_utf8_lossy(&c.path),
                    String::from_utf8_lossy(&target)
                ));
                continue;
            };
            if plan.inode_of.contains_key(&c.path) || ino_of_dir.contains_key(&c.path) {
                continue;
            }
            plan.inode_of.insert(c.path.clone(), ino);
            *plan.nlink.entry(ino).or_insert(1) += 1;
            let (parent, name) = split(&c.path);
            children.entry(parent).or_default().push((ino, name));
        }
        for path in dirs.keys() {
            if path != b"." {
                let (parent, name) = split(path);
                children
                    .entry(parent.clone())
                    .or_default()
                    .push((ino_of_dir[path], name));
                *subdirs.entry(parent).or_default() += 1;
            }
        }
        plan.max_ino = next - 1;
        if plan.max_ino > max_ino {
            return Err(Error::unsupported(format!(
                "{} inodes needed; this variant numbers inodes up to {max_ino}",
                plan.max_ino - root + 1
            )));
        }
        let mut out: Vec<DirPlan> = dirs
            .into_iter()
            .map(|(path, meta)| {
                let ino = ino_of_dir[&path];
                let parent_ino = if path == b"." {
                    root
                } else {
                    ino_of_dir[&split(&path).0]
                };
                let mut entries = vec![(ino, b".".to_vec()), (parent_ino, b"..".to_vec())];
                let mut kids = children.remove(&path).unwrap_or_default();
                kids.sort_by(|a, b| a.1.cmp(&b.1));
                entries.extend(kids);
                plan.inode_of.insert(path.clone(), ino);
                plan.dumped.insert(ino);
                DirPlan {
                    ino,
                    nlink: 2 + subdirs.get(&path).copied().unwrap_or(0),
                    meta,
                    entries,
                }
            })
            .collect();
        out.sort_by_key(|d| d.ino);
        plan.dirs = out;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: EntryKind, mtime: i64) -> Entry {
        let mut e = Entry::new(path.as_bytes().to_vec(), kind);
        e.mtime = Some(Timestamp::from_secs(mtime));
        e
    }

    #[test]
    fn plans_inodes_links_and_levels() {
        let mut c = Catalog::default();
        c.add(&e(".", EntryKind::Dir, 10), 100);
        c.add(&e("b", EntryKind::Dir, 10), 100);
        c.add(&e("b/old", EntryKind::File, 10), 100);
        c.add(&e("b/new", EntryKind::File, 60), 100);
        let mut l = e("top", EntryKind::HardLink, 60);
        l.link_target = Some(b"b/new".to_vec());
        c.add(&l, 100);
        c.add(&e("x/y/z", EntryKind::File, 60), 100);
        let p = c.plan(2, 100, 50, 65535).expect("plan");
        let ino = |s: &str| p.inode_of[s.as_bytes()];
        assert_eq!(ino("."), 2);
        assert_eq!((ino("b"), ino("x"), ino("x/y")), (3, 4, 5));
        assert_eq!(ino("top"), ino("b/new"));
        assert_eq!(p.nlink[&ino("b/new")], 2);
        assert!(p.dumped.contains(&ino("b/new")) && !p.dumped.contains(&ino("b/old")));
        assert!(
            p.dumped.contains(&ino("b")),
            "directories are always dumped"
        );
        assert_eq!(p.warnings.len(), 2, "x and x/y made up: {:?}", p.warnings);
        let root = &p.dirs[0];
        let names: Vec<&[u8]> = root.entries.iter().map(|(_, n)| n.as_slice()).collect();
        assert_eq!(names, vec![&b"."[..], b"..", b"b", b"top", b"x"]);
        assert_eq!(root.nlink, 4);
        assert!(c.plan(2, 100, 0, 5).is_err(), "too many inodes");
    }
}
