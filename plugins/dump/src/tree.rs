//! The directory phase in memory, for the reader ([`crate::read`]): every directory read
//! in the directory phase, then the tree walk that gives directories their paths and the
//! table of the other inodes' names that the file phase (or a names-only listing) is
//! answered from.
//!
//! Layout, chosen so that memory and work stay proportional to the names read, with few
//! allocations (a dump of a large tree holds hundreds of thousands of names):
//! - [`Tree`]: the names of all directories in one byte arena, their entries
//!   (`(inode, d_type, name)`, [`crate::dirs`]) in one flat table in tape order, and per
//!   directory its inode, the range of its entries and its metadata entry. Dump writes
//!   directories in inode order, so the directory table is normally sorted as read; it is
//!   sorted once otherwise (a directory read twice counts once: the last read, as a map
//!   keyed by inode would keep).
//! - [`Tree::walk`]: depth first from the root (inode 2), each directory's path built by
//!   extending its parent's path in one byte arena. Names of inodes that are not
//!   directories still to visit go to [`Names`] as `(inode, name, parent directory)`: no
//!   path is built for them until an entry needs it.
//! - [`Names`]: those records sorted by inode (a stable sort in linear time, so an inode's
//!   names stay in walk order: the first is its first name, the others its hard links), looked up
//!   by inode with a cursor that moves forward, as the file phase comes in inode order.

use std::ops::Range;

use relic_model::Entry;

use crate::dirs::DT_DIR;
use crate::layout::ROOTINO;

/// [`Run::dtype`] of an inode whose names disagree about its type.
pub const DT_CONFLICT: u8 = 0xff;

/// One directory entry: its name is `names[start..start + len]` of the [`Tree`].
#[derive(Debug, Clone, Copy)]
struct Ent {
    start: usize,
    ino: u32,
    /// A name is at most 504 bytes: an entry never crosses a 512-byte chunk
    /// ([`crate::dirs::parse_each`]).
    len: u16,
    dtype: u8,
}

/// A directory of the directory phase.
#[derive(Debug)]
struct Dir {
    ino: u32,
    /// Its entries in [`Tree::ents`], in tape order.
    ents: Range<usize>,
    /// Its metadata; taken when the walk visits it (a map keyed by inode would remove it).
    entry: Option<Entry>,
}

/// Where the names of one directory start (see [`Tree::mark`]).
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    ents: usize,
    names: usize,
}

/// Every directory of the directory phase with its entries (see the module docs).
#[derive(Debug, Default)]
pub struct Tree {
    names: Vec<u8>,
    ents: Vec<Ent>,
    dirs: Vec<Dir>,
    /// Some directory came with an inode number not above the one before.
    unordered: bool,
}

/// What the walk leaves for the reader besides the directories it gave out.
#[derive(Debug, Default)]
pub struct Walked {
    /// Directories on the tape that no visited directory names, by inode, without path.
    pub orphans: Vec<(u32, Entry)>,
    /// There are directories but not the root: none of them got a path (all are orphans).
    pub root_missing: bool,
    /// (`names_only` walks) a name of a directory still to visit whose d_type is not
    /// DT_DIR: the d_types cannot be trusted.
    pub doubt: bool,
    /// The names of every other inode.
    pub names: Names,
}

impl Tree {
    /// Where the next directory's entries will start.
    pub fn mark(&self) -> Mark {
        Mark {
            ents: self.ents.len(),
            names: self.names.len(),
        }
    }

    /// Add an entry of the directory being read (one that started at a [`Tree::mark`]).
    pub fn push_name(&mut self, ino: u32, dtype: u8, name: &[u8]) {
        // never longer in practice (see `Ent::len`); cut rather than mislabel
        let name = &name[..name.len().min(u16::MAX as usize)];
        self.ents.push(Ent {
            start: self.names.len(),
            ino,
            len: name.len() as u16,
            dtype,
        });
        self.names.extend_from_slice(name);
    }

    /// Forget the entries added since `mark` (a directory that is not kept).
    pub fn rollback(&mut self, mark: Mark) {
        self.ents.truncate(mark.ents);
        self.names.truncate(mark.names);
    }

    /// Keep directory `ino` with the entries added since `mark` and its metadata.
    pub fn add_dir(&mut self, ino: u32, mark: Mark, entry: Entry) {
        if self.dirs.last().is_some_and(|d| d.ino >= ino) {
            self.unordered = true;
        }
        self.dirs.push(Dir {
            ino,
            ents: mark.ents..self.ents.len(),
            entry: Some(entry),
        });
    }

    /// The inode numbers of the directories (a directory read twice may come twice).
    pub fn inodes(&self) -> impl Iterator<Item = u32> + '_ {
        self.dirs.iter().map(|d| d.ino)
    }

    /// Sort the directories by inode, once, keeping the last read of an inode read twice.
    fn index(&mut self) {
        if !self.unordered {
            return;
        }
        // stable: equal inodes stay in reading order, the last one is kept
        self.dirs.sort_by_key(|d| d.ino);
        self.dirs.reverse();
        self.dirs.dedup_by_key(|d| d.ino);
        self.dirs.reverse();
        self.unordered = false;
    }

    /// Walk the tree from the root (see the module docs), giving each directory reached,
    /// with its path (`.` for the root), to `emit`, depth first. Directories deeper than
    /// `max_depth` below the root are not entered (they end up as orphans).
    pub fn walk(
        mut self,
        names_only: bool,
        max_depth: usize,
        mut emit: impl FnMut(Entry),
    ) -> Walked {
        self.index();
        let dirs_index = DirIndex::new(self.dirs.iter().map(|d| d.ino).collect());
        let find = |ino: u32| dirs_index.find(ino);
        let Tree {
            names,
            ents,
            mut dirs,
            ..
        } = self;
        // directory paths, each a range of `paths`; the root's is `.`
        let mut paths: Vec<u8> = Vec::new();
        let mut dir_paths: Vec<(usize, usize)> = Vec::with_capacity(dirs.len());
        let mut recs: Vec<Rec> = Vec::with_capacity(ents.len().saturating_sub(dirs.len()));
        // (directory, depth, its path in `paths`)
        let mut stack: Vec<(usize, usize, usize, usize)> = Vec::new();
        let root = find(ROOTINO);
        if let Some(r) = root {
            paths.push(b'.');
            stack.push((r, 0, 0, 1));
        }
        let mut doubt = false;
        while let Some((idx, depth, ps, pl)) = stack.pop() {
            let Some(dir) = dirs.get_mut(idx) else {
                continue;
            };
            let Some(mut e) = dir.entry.take() else {
                continue; // visited already
            };
            let (ino, range) = (dir.ino, dir.ents.clone());
            let parent = dir_paths.len();
            dir_paths.push((ps, pl));
            let at_root = paths.get(ps..ps + pl) == Some(&b"."[..]);
            let first_sub = stack.len();
            for ent in ents.get(range).unwrap_or_default() {
                let name = names
                    .get(ent.start..ent.start + ent.len as usize)
                    .unwrap_or_default();
                // a directory still to visit (a visited one counts as any other inode)
                let sub = find(ent.ino).filter(|&c| dirs.get(c).is_some_and(|d| d.entry.is_some()));
                match sub {
                    Some(c) => {
                        if depth < max_depth {
                            let start = paths.len();
                            if !at_root {
                                paths.extend_from_within(ps..ps + pl);
                                paths.push(b'/');
                            }
                            paths.extend_from_slice(name);
                            stack.push((c, depth + 1, start, paths.len() - start));
                        }
                        // a dumped directory not typed as one: the d_types cannot be trusted
                        if names_only && ent.dtype != DT_DIR {
                            doubt = true;
                        }
                    }
                    None if ent.ino != ino => recs.push(Rec {
                        start: ent.start,
                        parent,
                        ino: ent.ino,
                        len: ent.len,
                        dtype: ent.dtype,
                        taken: false,
                    }),
                    None => {}
                }
            }
            // the first subdirectory is visited first
            stack[first_sub..].reverse();
            e.path = paths.get(ps..ps + pl).unwrap_or_default().to_vec();
            emit(e);
        }
        let orphans: Vec<(u32, Entry)> = dirs
            .iter_mut()
            .filter_map(|d| d.entry.take().map(|e| (d.ino, e)))
            .collect();
        drop(dirs);
        drop(ents);
        sort_by_ino(&mut recs);
        Walked {
            root_missing: root.is_none() && !orphans.is_empty(),
            orphans,
            doubt,
            names: Names {
                names,
                paths,
                dir_paths,
                recs,
                cursor: 0,
            },
        }
    }
}

/// Directory inode -> its place in the sorted directory table. Most names are not of
/// directories: a bitmap of the directory inodes answers those without a search, when it
/// is no larger than the directory headers read (1 KiB each) to build it.
struct DirIndex {
    /// Sorted, without duplicates.
    inos: Vec<u32>,
    /// Bit `ino` set for each directory inode; empty when it would be too large.
    bits: Vec<u64>,
}

impl DirIndex {
    fn new(inos: Vec<u32>) -> DirIndex {
        let words = inos.last().map_or(0, |&max| max as usize / 64 + 1);
        let mut bits = Vec::new();
        if words * 8 <= inos.len().saturating_mul(crate::layout::TP_BSIZE) {
            bits = vec![0u64; words];
            for &ino in &inos {
                if let Some(w) = bits.get_mut(ino as usize / 64) {
                    *w |= 1 << (ino % 64);
                }
            }
        }
        DirIndex { inos, bits }
    }

    fn find(&self, ino: u32) -> Option<usize> {
        if !self.bits.is_empty()
            && self
                .bits
                .get(ino as usize / 64)
                .is_none_or(|w| w & (1 << (ino % 64)) == 0)
        {
            return None;
        }
        self.inos.binary_search(&ino).ok()
    }
}

/// One name of a non-directory inode: `names[start..start + len]` in the directory whose
/// path is `dir_paths[parent]`.
#[derive(Debug, Clone, Copy, Default)]
struct Rec {
    start: usize,
    parent: usize,
    ino: u32,
    len: u16,
    dtype: u8,
    /// Given out to the file phase already.
    taken: bool,
}

/// The names of the inodes that are not directories, by inode (see the module docs).
#[derive(Debug, Default)]
pub struct Names {
    names: Vec<u8>,
    paths: Vec<u8>,
    dir_paths: Vec<(usize, usize)>,
    /// Sorted by inode; an inode's names in walk order.
    recs: Vec<Rec>,
    /// Records before it are of inodes below the last one looked up.
    cursor: usize,
}

/// The names of one inode: `range` in the table, the first its first name.
#[derive(Debug, Clone)]
pub struct Run {
    pub ino: u32,
    /// The d_type of its names when they all agree, else [`DT_CONFLICT`].
    pub dtype: u8,
    pub range: Range<usize>,
}

impl Names {
    /// The path of name `i` (parent path, `/`, name; just the name in the root).
    pub fn path(&self, i: usize) -> Vec<u8> {
        let Some(r) = self.recs.get(i) else {
            return Vec::new();
        };
        let name = self
            .names
            .get(r.start..r.start + r.len as usize)
            .unwrap_or_default();
        let parent = self
            .dir_paths
            .get(r.parent)
            .and_then(|&(s, l)| self.paths.get(s..s + l))
            .unwrap_or_default();
        if parent == b"." {
            return name.to_vec();
        }
        let mut p = Vec::with_capacity(parent.len() + 1 + name.len());
        p.extend_from_slice(parent);
        p.push(b'/');
        p.extend_from_slice(name);
        p
    }

    /// The run of names starting at `i` (a record of the table).
    fn run_at(&self, i: usize) -> Option<Run> {
        let first = self.recs.get(i)?;
        let mut dtype = first.dtype;
        let mut end = i + 1;
        while let Some(r) = self.recs.get(end).filter(|r| r.ino == first.ino) {
            if r.dtype != dtype {
                dtype = DT_CONFLICT;
            }
            end += 1;
        }
        Some(Run {
            ino: first.ino,
            dtype,
            range: i..end,
        })
    }

    /// Every inode's names, in inode order (from the start, whatever was looked up).
    pub fn runs(&self) -> impl Iterator<Item = Run> + '_ {
        let mut i = 0;
        std::iter::from_fn(move || {
            let run = self.run_at(i)?;
            i = run.range.end;
            Some(run)
        })
    }

    /// The next inode's names after the cursor, moving the cursor past them.
    pub fn next_run(&mut self) -> Option<Run> {
        let run = self.run_at(self.cursor)?;
        self.cursor = run.range.end;
        Some(run)
    }

    /// The paths of inode `ino`, first name first, once: empty if it has none or they
    /// were taken already.
    pub fn take(&mut self, ino: u32) -> Vec<Vec<u8>> {
        let at = match self.recs.get(self.cursor) {
            // the usual case: inodes come in increasing order
            Some(r) if r.ino <= ino => {
                while self.recs.get(self.cursor).is_some_and(|r| r.ino < ino) {
                    self.cursor += 1;
                }
                self.cursor
            }
            _ => self.recs[..self.cursor].partition_point(|r| r.ino < ino),
        };
        // checked before the run is measured: an inode header repeated many times costs
        // nothing more than one
        if !self.recs.get(at).is_some_and(|r| r.ino == ino && !r.taken) {
            return Vec::new();
        }
        let Some(run) = self.run_at(at) else {
            return Vec::new();
        };
        let paths = run.range.clone().map(|i| self.path(i)).collect();
        for r in self.recs.get_mut(run.range).unwrap_or_default() {
            r.taken = true;
        }
        paths
    }
}

/// Stable sort by inode, in linear time; nothing to do when already sorted. When the
/// inode numbers are small for the number of records (the usual case: a tree's files take
/// most of the inode numbers up to the largest), a counting sort with one bucket per inode
/// number (its table at most 4 words a record); otherwise an LSD radix sort, one pass per
/// byte of the inode numbers that is not the same in every record.
fn sort_by_ino(v: &mut Vec<Rec>) {
    let n = v.len();
    let (mut sorted, mut prev, mut max) = (true, 0u32, 0u32);
    for r in v.iter() {
        sorted &= r.ino >= prev;
        prev = r.ino;
        max = max.max(r.ino);
    }
    if sorted {
        return;
    }
    let mut tmp: Vec<Rec> = vec![Rec::default(); n];
    if (max as usize) < n.saturating_mul(4) {
        // at[ino]: where the records of `ino` go
        let mut at = vec![0usize; max as usize + 2];
        for r in v.iter() {
            at[r.ino as usize + 1] += 1;
        }
        for i in 1..at.len() {
            at[i] += at[i - 1];
        }
        for r in v.iter() {
            let a = &mut at[r.ino as usize];
            tmp[*a] = *r;
            *a += 1;
        }
        std::mem::swap(v, &mut tmp);
        return;
    }
    let mut counts = [[0usize; 256]; 4];
    for r in v.iter() {
        for (k, c) in counts.iter_mut().enumerate() {
            c[((r.ino >> (8 * k)) & 0xff) as usize] += 1;
        }
    }
    for (k, c) in counts.iter().enumerate() {
        if c.contains(&n) {
            continue; // this byte is the same everywhere
        }
        let mut at = [0usize; 256];
        let mut sum = 0;
        for (a, &x) in at.iter_mut().zip(c) {
            *a = sum;
            sum += x;
        }
        for r in v.iter() {
            let d = ((r.ino >> (8 * k)) & 0xff) as usize;
            tmp[at[d]] = *r;
            at[d] += 1;
        }
        std::mem::swap(v, &mut tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use relic_model::EntryKind;

    fn rec(ino: u32, start: usize) -> Rec {
        Rec {
            start,
            ino,
            ..Rec::default()
        }
    }

    #[test]
    fn sort_by_ino_is_stable_and_agrees_with_std() {
        // large inode numbers (the radix sort: every byte position varies), small ones (the
        // counting sort), both with repeats; sorted and empty input
        for large in [true, false] {
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut v: Vec<Rec> = (0..5000)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let ino = match (i % 3, large) {
                        (0, _) => (x % 50) as u32,
                        (1, _) => (x % 10_000) as u32,
                        (_, true) => x as u32,
                        (_, false) => (x % 19_000) as u32,
                    };
                    rec(ino, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|r| r.ino); // stable
            sort_by_ino(&mut v);
            let got: Vec<(u32, usize)> = v.iter().map(|r| (r.ino, r.start)).collect();
            let want: Vec<(u32, usize)> = want.iter().map(|r| (r.ino, r.start)).collect();
            assert_eq!(got, want, "large: {large}");
            sort_by_ino(&mut v);
            let again: Vec<(u32, usize)> = v.iter().map(|r| (r.ino, r.start)).collect();
            assert_eq!(again, want);
        }
        let mut empty = Vec::new();
        sort_by_ino(&mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn dir_index_with_and_without_its_bitmap() {
        let small = DirIndex::new(vec![2, 5, 64, 700]);
        assert!(!small.bits.is_empty());
        let large = DirIndex::new(vec![2, 5, 64, 4_000_000_000]);
        assert!(
            large.bits.is_empty(),
            "500 MB of bitmap for 4 KiB of headers"
        );
        for (ix, top) in [(&small, 700u32), (&large, 4_000_000_000)] {
            assert_eq!(ix.find(2), Some(0));
            assert_eq!(ix.find(5), Some(1));
            assert_eq!(ix.find(64), Some(2));
            assert_eq!(ix.find(top), Some(3));
            for absent in [0, 1, 3, 63, 65, 699, 701, u32::MAX] {
                assert_eq!(ix.find(absent), None, "{absent}");
            }
        }
    }

    /// A tree: root (2) holds `a` (file 20), `d` (dir 5), `b` (file 20 again); 5 holds
    /// `c` (file 12) and a name of the root (a loop); dir 9 is named by nobody. A
    /// directory read again replaces what was read before: the first read of 5 held `old`.
    fn tree(order: &[u32]) -> Tree {
        let mut t = Tree::default();
        for (i, &ino) in order.iter().enumerate() {
            let m = t.mark();
            let read_again = order[i + 1..].contains(&ino);
            match ino {
                2 => {
                    t.push_name(20, 8, b"a");
                    t.push_name(5, 4, b"d");
                    t.push_name(20, 8, b"b");
                }
                5 if !read_again => {
                    t.push_name(12, 10, b"c");
                    t.push_name(2, 4, b"up");
                }
                5 => t.push_name(13, 8, b"old"),
                _ => {}
            }
            t.add_dir(ino, m, Entry::new(format!("dir {ino}"), EntryKind::Dir));
        }
        t
    }

    #[test]
    fn walk_gives_paths_names_and_orphans_whatever_the_order() {
        for order in [&[2, 5, 9][..], &[9, 5, 2], &[5, 2, 9, 5]] {
            let mut paths: Vec<Vec<u8>> = Vec::new();
            let w = tree(order).walk(true, 100, |e| paths.push(e.path));
            assert_eq!(paths, [b".".to_vec(), b"d".to_vec()], "{order:?}");
            assert_eq!(w.orphans.len(), 1);
            assert_eq!(w.orphans[0].0, 9);
            assert!(!w.root_missing && !w.doubt);
            let mut names = w.names;
            let runs: Vec<(u32, u8, usize)> = names
                .runs()
                .map(|r| (r.ino, r.dtype, r.range.len()))
                .collect();
            // the root reached from `d` is a name of an inode visited already
            assert_eq!(runs, [(2, 4, 1), (12, 10, 1), (20, 8, 2)]);
            assert_eq!(names.take(20), [b"a".to_vec(), b"b".to_vec()]);
            assert!(names.take(20).is_empty(), "taken once");
            assert_eq!(names.take(12), [b"d/c".to_vec()], "out of order");
            assert!(names.take(7).is_empty());
            assert!(
                names.take(13).is_empty(),
                "the first read of 5 is forgotten"
            );
        }
    }

    #[test]
    fn walk_flags_doubt_missing_root_and_depth() {
        let mut t = Tree::default();
        let m = t.mark();
        t.push_name(5, 8, b"d"); // a directory typed as a file
        t.add_dir(2, m, Entry::new("r", EntryKind::Dir));
        let m = t.mark();
        t.add_dir(5, m, Entry::new("d", EntryKind::Dir));
        let mut n = 0;
        let w = t.walk(true, 0, |_| n += 1);
        assert!(w.doubt);
        assert_eq!(n, 1, "depth 0: only the root");
        assert_eq!(w.orphans.len(), 1);

        let mut t = Tree::default();
        let m = t.mark();
        t.push_name(30, 8, b"f");
        t.add_dir(7, m, Entry::new("x", EntryKind::Dir));
        let mut n = 0;
        let w = t.walk(false, 100, |_| n += 1);
        assert!(w.root_missing);
        assert_eq!(n, 0);
        assert_eq!(w.orphans.len(), 1);
        assert_eq!(
            w.names.runs().count(),
            0,
            "an orphan's names are not walked"
        );
    }
}
