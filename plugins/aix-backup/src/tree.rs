//! Paths of a by-inode backup, rebuilt from its directories.
//!
//! Both by-inode generations store no path with a file: the directories come first in the
//! archive (research note §1.7: "all directories (ascending inode), then all other inodes";
//! §2.3 for AIX 3+), each carrying its entries (V7 16-byte entries in PC/IX, `struct direct`
//! in AIX 3+), and restore rebuilds the tree from the root inode (2). [`Tree`] does the same
//! for the readers: breadth-first from the root, so a damaged archive whose directories
//! loop cannot send it round in circles; `.` and `..` are skipped; names holding a `/` or
//! a NUL, second names of directories and directories not reachable from the root are
//! reported and given a place under `lost+found/#INODE` instead of being lost.
//!
//! Memory: one small record per directory entry (capped at [`MAX_NAMES`]), which is what
//! restore keeps too; file data never passes through here.

use std::collections::{HashMap, VecDeque};

/// Most directory entries kept (a damaged archive cannot make us allocate more).
pub const MAX_NAMES: usize = 4 << 20;

/// One dumped directory: its inode and entries `(inode, name)`.
pub struct DirData {
    pub ino: u32,
    pub entries: Vec<(u32, Vec<u8>)>,
}

/// Names of every inode of a by-inode backup.
#[derive(Default)]
pub struct Tree {
    root: u32,
    dir_paths: HashMap<u32, Vec<u8>>,
    /// Non-directory inode -> (parent directory, name).
    names: HashMap<u32, Vec<(u32, Vec<u8>)>>,
    pub warnings: Vec<String>,
}

/// `parent/name`, with `.` as the root.
pub fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent == b"." {
        name.to_vec()
    } else {
        let mut p = parent.to_vec();
        p.push(b'/');
        p.extend_from_slice(name);
        p
    }
}

/// Where an inode without a name goes.
pub fn orphan_path(ino: u32) -> Vec<u8> {
    format!("lost+found/#{ino}").into_bytes()
}

impl Tree {
    /// Build from the dumped directories (any order).
    pub fn build(root: u32, dirs: &[DirData]) -> Tree {
        let mut t = Tree {
            root,
            ..Tree::default()
        };
        let index: HashMap<u32, usize> = dirs.iter().enumerate().map(|(i, d)| (d.ino, i)).collect();
        t.dir_paths.insert(root, b".".to_vec());
        let mut queue = VecDeque::new();
        if index.contains_key(&root) {
            queue.push_back(root);
        } else if !dirs.is_empty() {
            t.warnings.push(format!(
                "the root directory (inode {root}) is not in the backup"
            ));
        }
        let mut seen = 0usize;
        let mut visit = |t: &mut Tree, queue: &mut VecDeque<u32>, d: u32| {
            let Some(&i) = index.get(&d) else { return };
            let parent_path = t
                .dir_paths
                .get(&d)
                .cloned()
                .unwrap_or_else(|| orphan_path(d));
            for (ino, name) in &dirs[i].entries {
                if name == b"." || name == b".." {
                    continue;
                }
                seen += 1;
                if seen > MAX_NAMES {
                    if seen == MAX_NAMES + 1 {
                        t.warnings.push(format!(
                            "more than {MAX_NAMES} directory entries: the rest are ignored"
                        ));
                    }
                    return;
                }
                if name.is_empty() || name.contains(&b'/') || name.contains(&0) {
                    t.warnings.push(format!(
                        "directory {} has an entry for inode {ino} with the impossible name {:?}: skipped",
                        String::from_utf8_lossy(&parent_path),
                        String::from_utf8_lossy(name)
                    ));
                    continue;
                }
                if index.contains_key(ino) {
                    if t.dir_paths.contains_key(ino) {
                        t.warnings.push(format!(
                            "directory inode {ino} has a second name {}: ignored",
                            String::from_utf8_lossy(&join(&parent_path, name))
                        ));
                        continue;
                    }
                    t.dir_paths.insert(*ino, join(&parent_path, name));
                    queue.push_back(*ino);
                } else {
                    t.names.entry(*ino).or_default().push((d, name.clone()));
                }
            }
        };
        while let Some(d) = queue.pop_front() {
            visit(&mut t, &mut queue, d);
        }
        // directories the walk did not reach
        let mut unreached: Vec<u32> = dirs
            .iter()
            .map(|d| d.ino)
            .filter(|i| !t.dir_paths.contains_key(i))
            .collect();
        unreached.sort_unstable();
        for d in unreached {
            t.warnings.push(format!(
                "directory inode {d} is not reachable from the root: kept as {}",
                String::from_utf8_lossy(&orphan_path(d))
            ));
            t.dir_paths.insert(d, orphan_path(d));
            queue.push_back(d);
            while let Some(x) = queue.pop_front() {
                visit(&mut t, &mut queue, x);
            }
        }
        t
    }

    /// The path of a dumped directory.
    pub fn dir_path(&self, ino: u32) -> Option<&[u8]> {
        self.dir_paths.get(&ino).map(|p| p.as_slice())
    }

    /// Whether the inode is a directory the tree knows.
    pub fn is_dir(&self, ino: u32) -> bool {
        self.dir_paths.contains_key(&ino)
    }

    /// Every name of a non-directory inode, sorted (empty when no directory names it).
    pub fn paths_of(&self, ino: u32) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = self
            .names
            .get(&ino)
            .map(|ns| {
                ns.iter()
                    .map(|(d, n)| {
                        let parent = self
                            .dir_paths
                            .get(d)
                            .cloned()
                            .unwrap_or_else(|| orphan_path(*d));
                        join(&parent, n)
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v.dedup();
        v
    }

    /// Every directory path, root first then sorted (a parent before its children).
    /// The directory entries of a by-inode archive, root first as `.`, then every
    /// directory by path; each taken out of `metas` (inode -> entry) and named from the tree.
    pub fn directory_entries(
        &self,
        root_ino: u32,
        metas: &mut HashMap<u32, relic_model::Entry>,
    ) -> Vec<relic_model::Entry> {
        let mut out = Vec::new();
        if let Some(mut root) = metas.remove(&root_ino) {
            root.path = b".".to_vec();
            out.push(root);
        }
        for (ino, path) in self.dirs_sorted() {
            if let Some(mut e) = metas.remove(&ino) {
                e.path = path;
                out.push(e);
            }
        }
        out
    }

    pub fn dirs_sorted(&self) -> Vec<(u32, Vec<u8>)> {
        let mut v: Vec<(u32, Vec<u8>)> = self
            .dir_paths
            .iter()
            .filter(|(i, _)| **i != self.root)
            .map(|(i, p)| (*i, p.clone()))
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ino: u32, e: &[(u32, &str)]) -> DirData {
        DirData {
            ino,
            entries: e.iter().map(|(i, n)| (*i, n.as_bytes().to_vec())).collect(),
        }
    }

    #[test]
    fn builds_paths_links_and_survives_loops() {
        let dirs = vec![
            d(
                2,
                &[
                    (2, "."),
                    (2, ".."),
                    (5, "bin"),
                    (9, "etc"),
                    (20, "x"),
                    (3, "a/b"),
                ],
            ),
            d(5, &[(5, "."), (2, ".."), (20, "ls"), (21, "sh"), (2, "up")]),
            d(9, &[(9, "."), (2, ".."), (5, "bin-again"), (21, "sh")]),
            d(30, &[(31, "f")]),
        ];
        let t = Tree::build(2, &dirs);
        assert_eq!(t.dir_path(5), Some(&b"bin"[..]));
        assert_eq!(t.dir_path(9), Some(&b"etc"[..]));
        assert_eq!(t.paths_of(20), vec![b"bin/ls".to_vec(), b"x".to_vec()]);
        assert_eq!(t.paths_of(21), vec![b"bin/sh".to_vec(), b"etc/sh".to_vec()]);
        assert_eq!(t.dir_path(30), Some(&b"lost+found/#30"[..]));
        assert_eq!(t.paths_of(31), vec![b"lost+found/#30/f".to_vec()]);
        assert!(t.paths_of(99).is_empty());
        // "up" (a second name of the root), "bin-again", "a/b" and the unreached dir
        assert_eq!(t.warnings.len(), 4, "{:?}", t.warnings);
        let sorted: Vec<Vec<u8>> = t.dirs_sorted().into_iter().map(|(_, p)| p).collect();
        assert_eq!(
            sorted,
            vec![b"bin".to_vec(), b"etc".to_vec(), b"lost+found/#30".to_vec()]
        );
    }
}
