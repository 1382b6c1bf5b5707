//! OCFS2 on-disk structures the reader needs, decoded from block buffers.
//!
//! Sources: `include/ocfs2-kernel/ocfs2_fs.h` of ocfs2-tools 1.8.7 (Debian
//! `ocfs2-tools-dev`), with every offset below printed by `offsetof` (`tools/offsets.c`)
//! because several offset comments in that header are wrong; the research note
//! `ocfs2.md` §2 describes the semantics. All integers are little-endian. Everything here is
//! pure decoding of a byte slice: no I/O, no allocation proportional to a field read from
//! the input (every count is capped by the size of the buffer it lives in).
//!
//! | structure | where | used for |
//! |---|---|---|
//! | [`Superblock`] | dinode at fs block 2 (backups at 1G/4G/16G/64G/256G/1T bytes), body at 0xC0 | geometry, features, root and system dirs |
//! | [`Inode`] | one whole block, signature `INODE01\0` | every file's metadata |
//! | [`ExtentList`] / [`ExtentRec`] | inode 0xC0, extent block 0x30, xattr roots | block maps |
//! | extent block | signature `EXBLK01\0` ([`extent_block_list`]) | interior/leaf nodes of extent trees |
//! | [`DirEntry`] / [`DirEntries`] | directory blocks and inline dirs | names |
//! | dir trailer | last 64 bytes of a dir block ([`trailer_ok`]) | metaecc / indexed dirs |
//! | [`XattrEntry`] / [`xattr_entries`] | inline area at block end, `XATTR01\0` blocks, buckets | xattr names and values |

/// Little-endian reads at fixed offsets. Out-of-range reads return 0: callers check the
/// bounds of every variable offset first; this only keeps a logic slip from panicking.
pub fn le16(b: &[u8], off: usize) -> u16 {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0)
}
pub fn le32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}
pub fn le64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_le_bytes(a)
        })
        .unwrap_or(0)
}

pub const SUPER_SIGNATURE: &[u8; 8] = b"OCFSV2\0\0";
pub const INODE_SIGNATURE: &[u8; 8] = b"INODE01\0";
pub const EXTENT_SIGNATURE: &[u8; 8] = b"EXBLK01\0";
pub const XATTR_SIGNATURE: &[u8; 8] = b"XATTR01\0";
pub const TRAILER_SIGNATURE: &[u8; 8] = b"DIRTRL1\0";

/// Smallest and largest block sizes (`OCFS2_MIN_BLOCKSIZE` .. `OCFS2_MAX_BLOCKSIZE`).
pub const MIN_BLOCK: u32 = 512;
pub const MAX_BLOCK: u32 = 4096;
/// Superblock: fs block 2 (`OCFS2_SUPER_BLOCK_BLKNO`).
pub const SUPER_BLKNO: u64 = 2;
/// Backup superblocks at these byte offsets when compat flag BACKUP_SB is set
/// (`OCFS2_MAX_BACKUP_SUPERBLOCKS` = 6, 1 GiB << 2k).
pub const BACKUP_SUPER_BYTES: [u64; 6] = [1 << 30, 1 << 32, 1 << 34, 1 << 36, 1 << 38, 1 << 40];

// Feature flags (ocfs2_fs.h OCFS2_FEATURE_*).
pub const COMPAT_BACKUP_SB: u32 = 0x0001;
pub const INCOMPAT_HEARTBEAT_DEV: u32 = 0x0002;
pub const INCOMPAT_RESIZE_INPROG: u32 = 0x0004;
pub const INCOMPAT_TUNEFS_INPROG: u32 = 0x0020;
pub const INCOMPAT_INLINE_DATA: u32 = 0x0040;
pub const INCOMPAT_XATTR: u32 = 0x0200;
pub const INCOMPAT_INDEXED_DIRS: u32 = 0x0400;
pub const INCOMPAT_META_ECC: u32 = 0x0800;
/// Every incompat bit libocfs2 1.8.7 knows (OCFS2_LIB_FEATURE_INCOMPAT_SUPP = 0xFFD8 plus
/// the heartbeat-device, resize and tunefs bits it handles separately).
pub const INCOMPAT_KNOWN: u32 = 0xFFFE;

/// Names of feature bits, for the volume description.
pub fn feature_names(compat: u32, incompat: u32, ro: u32) -> Vec<&'static str> {
    let table: [(u32, u32, &str); 21] = [
        (0, 0x0001, "backup-super"),
        (0, 0x0002, "strict-journal-super"),
        (1, 0x0002, "heartbeat-device"),
        (1, 0x0004, "resize-in-progress"),
        (1, 0x0008, "local"),
        (1, 0x0010, "sparse"),
        (1, 0x0020, "tunefs-in-progress"),
        (1, 0x0040, "inline-data"),
        (1, 0x0080, "userspace-stack"),
        (1, 0x0100, "extended-slotmap"),
        (1, 0x0200, "xattr"),
        (1, 0x0400, "indexed-dirs"),
        (1, 0x0800, "metaecc"),
        (1, 0x1000, "refcount"),
        (1, 0x2000, "discontig-bg"),
        (1, 0x4000, "clusterinfo"),
        (1, 0x8000, "append-dio"),
        (2, 0x0001, "unwritten"),
        (2, 0x0002, "usrquota"),
        (2, 0x0004, "grpquota"),
        (0, 0, ""),
    ];
    table
        .iter()
        .filter(|(w, bit, _)| {
            *bit != 0
                && match w {
                    0 => compat & bit != 0,
                    1 => incompat & bit != 0,
                    _ => ro & bit != 0,
                }
        })
        .map(|(_, _, n)| *n)
        .collect()
}

// Inode i_flags (OCFS2_*_FL).
pub const FL_VALID: u32 = 0x0001;
pub const FL_SYSTEM: u32 = 0x0010;
pub const FL_SUPER_BLOCK: u32 = 0x0020;
pub const FL_LOCAL_ALLOC: u32 = 0x0040;
pub const FL_CHAIN: u32 = 0x0400;
pub const FL_DEALLOC: u32 = 0x0800;
// Inode i_dyn_features.
pub const DYN_INLINE_DATA: u16 = 0x0001;
pub const DYN_HAS_XATTR: u16 = 0x0002;
pub const DYN_INLINE_XATTR: u16 = 0x0004;
pub const DYN_INDEXED_DIR: u16 = 0x0008;

/// `struct ocfs2_super_block`, the id2 body of the dinode at block 2; offsets relative to
/// the dinode (id2 starts at 0xC0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// The dinode's own fields: 0x14 i_clusters (= clusters in the volume), 0x50 i_blkno,
    /// 0x60 i_fs_generation.
    pub clusters: u32,
    pub blkno: u64,
    pub fs_generation: u32,
    /// 0xC0 s_major_rev_level, 0xC2 s_minor_rev_level.
    pub major_rev: u16,
    pub minor_rev: u16,
    /// 0xDC s_feature_compat, 0xE0 s_feature_incompat, 0xE4 s_feature_ro_compat.
    pub compat: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    /// 0xE8 s_root_blkno, 0xF0 s_system_dir_blkno.
    pub root_blkno: u64,
    pub system_dir_blkno: u64,
    /// 0xF8 s_blocksize_bits (9..12), 0xFC s_clustersize_bits (12..20).
    pub blocksize_bits: u32,
    pub clustersize_bits: u32,
    /// 0x100 s_max_slots.
    pub max_slots: u16,
    /// 0x108 s_first_cluster_group.
    pub first_cluster_group: u64,
    /// 0x110 s_label[64], 0x150 s_uuid[16].
    pub label: Vec<u8>,
    pub uuid: [u8; 16],
    /// 0x178 s_xattr_inline_size.
    pub xattr_inline_size: u16,
}

impl Superblock {
    /// Decode and sanity-check the superblock in `b` (one block). `expect_blkno` is where it
    /// was read from (2, or a backup's block).
    pub fn parse(b: &[u8], expect_blkno: u64) -> Result<Superblock, String> {
        if b.len() < MIN_BLOCK as usize {
            return Err(format!("block of {} bytes is too small", b.len()));
        }
        if &b[0..8] != SUPER_SIGNATURE {
            return Err(format!(
                "no superblock signature OCFSV2 (found {:02x?})",
                &b[0..8]
            ));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&b[0x150..0x160]);
        let label_raw = &b[0x110..0x150];
        let label_len = label_raw.iter().position(|&c| c == 0).unwrap_or(64);
        let s = Superblock {
            clusters: le32(b, 0x14),
            blkno: le64(b, 0x50),
            fs_generation: le32(b, 0x60),
            major_rev: le16(b, 0xC0),
            minor_rev: le16(b, 0xC2),
            compat: le32(b, 0xC0 + 0x1C),
            incompat: le32(b, 0xC0 + 0x20),
            ro_compat: le32(b, 0xC0 + 0x24),
            root_blkno: le64(b, 0xC0 + 0x28),
            system_dir_blkno: le64(b, 0xC0 + 0x30),
            blocksize_bits: le32(b, 0xC0 + 0x38),
            clustersize_bits: le32(b, 0xC0 + 0x3C),
            max_slots: le16(b, 0xC0 + 0x40),
            first_cluster_group: le64(b, 0xC0 + 0x48),
            label: label_raw[..label_len].to_vec(),
            uuid,
            xattr_inline_size: le16(b, 0xC0 + 0xB8),
        };
        if !(9..=12).contains(&s.blocksize_bits) {
            return Err(format!(
                "block size bits {} outside 9..12",
                s.blocksize_bits
            ));
        }
        if !(12..=20).contains(&s.clustersize_bits) || s.clustersize_bits < s.blocksize_bits {
            return Err(format!(
                "cluster size bits {} outside 12..20",
                s.clustersize_bits
            ));
        }
        if s.blkno != expect_blkno {
            return Err(format!(
                "superblock says it is block {}, read from block {expect_blkno}",
                s.blkno
            ));
        }
        if s.root_blkno == 0 || s.system_dir_blkno == 0 {
            return Err("root or system directory block is 0".into());
        }
        if s.clusters == 0 {
            return Err("volume has 0 clusters".into());
        }
        Ok(s)
    }

    pub fn block_size(&self) -> u32 {
        1 << self.blocksize_bits
    }
    pub fn cluster_size(&self) -> u64 {
        1 << self.clustersize_bits
    }
    /// Blocks per cluster.
    pub fn bpc(&self) -> u64 {
        1 << (self.clustersize_bits - self.blocksize_bits)
    }
    /// Blocks in the volume (i_clusters x bpc).
    pub fn total_blocks(&self) -> u64 {
        self.clusters as u64 * self.bpc()
    }
    pub fn has(&self, incompat_bit: u32) -> bool {
        self.incompat & incompat_bit != 0
    }
}

/// `struct ocfs2_dinode` fields (offsets from `offsetof`, see the module table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// 0x08 i_generation.
    pub generation: u32,
    /// 0x10 i_links_count_hi, 0x2A i_links_count: links = lo | hi << 16.
    pub links: u32,
    /// 0x12 i_xattr_inline_size: bytes at the end of the block reserved for inline xattrs.
    pub xattr_inline_size: u16,
    /// 0x14 i_clusters.
    pub clusters: u32,
    /// 0x18 i_uid, 0x1C i_gid (full 32 bits).
    pub uid: u32,
    pub gid: u32,
    /// 0x20 i_size.
    pub size: u64,
    /// 0x28 i_mode (S_IFMT type + permission bits).
    pub mode: u16,
    /// 0x2C i_flags.
    pub flags: u32,
    /// 0x30 i_atime, 0x38 i_ctime, 0x40 i_mtime (signed seconds), 0x48 i_dtime.
    pub atime: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub dtime: u64,
    /// 0x50 i_blkno: its own block number.
    pub blkno: u64,
    /// 0x60 i_fs_generation: must equal the superblock's.
    pub fs_generation: u32,
    /// 0x64 i_atime_nsec, 0x68 i_ctime_nsec, 0x6C i_mtime_nsec.
    pub atime_nsec: u32,
    pub ctime_nsec: u32,
    pub mtime_nsec: u32,
    /// 0x70 i_attr (chattr flags, ext2 numbering).
    pub attr: u32,
    /// 0x76 i_dyn_features.
    pub dyn_features: u16,
    /// 0x78 i_xattr_loc: external xattr block, 0 if none.
    pub xattr_loc: u64,
    /// 0x88 i_dx_root.
    pub dx_root: u64,
    /// 0xB8 id1.dev1.i_rdev (the kernel's huge_encode_dev).
    pub rdev: u64,
}

/// Where id2 starts in a dinode.
pub const ID2: usize = 0xC0;
/// Inline data: id2 = { id_count u16 @0xC0, 6 reserved bytes, id_data @0xC8 }.
pub const INLINE_DATA: usize = 0xC8;

impl Inode {
    /// Decode the inode in block `b` (the caller checked `b.len()` is the block size).
    pub fn parse(b: &[u8]) -> Inode {
        Inode {
            generation: le32(b, 0x08),
            links: le16(b, 0x2A) as u32 | (le16(b, 0x10) as u32) << 16,
            xattr_inline_size: le16(b, 0x12),
            clusters: le32(b, 0x14),
            uid: le32(b, 0x18),
            gid: le32(b, 0x1C),
            size: le64(b, 0x20),
            mode: le16(b, 0x28),
            flags: le32(b, 0x2C),
            atime: le64(b, 0x30) as i64,
            ctime: le64(b, 0x38) as i64,
            mtime: le64(b, 0x40) as i64,
            dtime: le64(b, 0x48),
            blkno: le64(b, 0x50),
            fs_generation: le32(b, 0x60),
            atime_nsec: le32(b, 0x64),
            ctime_nsec: le32(b, 0x68),
            mtime_nsec: le32(b, 0x6C),
            attr: le32(b, 0x70),
            dyn_features: le16(b, 0x76),
            xattr_loc: le64(b, 0x78),
            dx_root: le64(b, 0x88),
            rdev: le64(b, 0xB8),
        }
    }

    /// Whether `b` looks like the live inode of block `blkno`; the reason when not.
    pub fn check(b: &[u8], blkno: u64) -> Result<(), String> {
        if b.len() < MIN_BLOCK as usize {
            return Err("short block".into());
        }
        if &b[0..8] != INODE_SIGNATURE {
            if b.iter().all(|&c| c == 0) {
                return Err("the block is all zeros (not in the image?)".into());
            }
            return Err(format!(
                "no inode signature INODE01 (found {:?})",
                String::from_utf8_lossy(&b[0..8])
            ));
        }
        let own = le64(b, 0x50);
        if own != blkno {
            return Err(format!("inode says it is block {own}"));
        }
        if le32(b, 0x2C) & FL_VALID == 0 {
            return Err("inode is not valid (deleted)".into());
        }
        Ok(())
    }

    pub fn is_dir(&self) -> bool {
        self.mode as u32 & 0o170000 == 0o040000
    }
    pub fn is_symlink(&self) -> bool {
        self.mode as u32 & 0o170000 == 0o120000
    }
    pub fn is_reg(&self) -> bool {
        self.mode as u32 & 0o170000 == 0o100000
    }
    pub fn inline_data(&self) -> bool {
        self.dyn_features & DYN_INLINE_DATA != 0
    }
    /// Whether id2 holds an extent list (not a chain list, local-alloc or truncate-log
    /// body, not inline data, not a fast symlink).
    pub fn has_extent_list(&self) -> bool {
        self.flags & (FL_CHAIN | FL_LOCAL_ALLOC | FL_DEALLOC | FL_SUPER_BLOCK) == 0
            && !self.inline_data()
            && !(self.is_symlink() && self.clusters == 0)
    }
    /// Device numbers from the kernel's huge encoding:
    /// major = (rdev >> 8) & 0xfff, minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00).
    pub fn device(&self) -> (u32, u32) {
        let d = self.rdev as u32;
        ((d >> 8) & 0xfff, (d & 0xff) | ((d >> 12) & 0xfff00))
    }
    /// The bytes at the end of the block reserved for inline xattrs (0 without the feature).
    pub fn inline_xattr_len(&self, block_size: usize) -> usize {
        if self.dyn_features & DYN_INLINE_XATTR != 0 {
            (self.xattr_inline_size as usize).min(block_size - INLINE_DATA)
        } else {
            0
        }
    }
}

/// Inline data of an inode block: the valid bytes (i_size of them, within id_count and the
/// space before the inline-xattr area). `Err` when i_size overruns the capacity (the bytes
/// that fit are returned with it).
pub fn inline_bytes<'a>(b: &'a [u8], ino: &Inode) -> (&'a [u8], Option<String>) {
    let bs = b.len();
    let room = bs
        .saturating_sub(INLINE_DATA)
        .saturating_sub(ino.inline_xattr_len(bs));
    let id_count = le16(b, ID2) as usize;
    let cap = id_count.min(room);
    let want = ino.size;
    if want > cap as u64 {
        return (
            &b[INLINE_DATA..INLINE_DATA + cap],
            Some(format!(
                "inline data claims {want} bytes, the inode holds {cap} (id_count {id_count})"
            )),
        );
    }
    (&b[INLINE_DATA..INLINE_DATA + want as usize], None)
}

/// One extent record (`struct ocfs2_extent_rec`, 16 bytes): 0x00 e_cpos, 0x04
/// e_int_clusters (interior) or e_leaf_clusters u16 + reserved u8 + e_flags u8 @0x07
/// (leaves), 0x08 e_blkno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentRec {
    /// First logical cluster.
    pub cpos: u32,
    /// Clusters covered (for leaves e_leaf_clusters, for interior records e_int_clusters).
    pub clusters: u32,
    /// Leaf flags: 0x1 unwritten, 0x2 refcounted.
    pub flags: u8,
    /// Physical block of the first cluster, or the child extent block.
    pub blkno: u64,
}

pub const EXT_UNWRITTEN: u8 = 0x01;
pub const EXT_REFCOUNTED: u8 = 0x02;

/// `struct ocfs2_extent_list`: 0x00 l_tree_depth, 0x02 l_count, 0x04 l_next_free_rec,
/// records from 0x10, 16 bytes each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentList {
    pub depth: u16,
    pub recs: Vec<ExtentRec>,
}

/// Deepest extent tree relic follows (the kernel's limit is OCFS2_MAX_PATH_DEPTH = 5).
pub const MAX_TREE_DEPTH: u16 = 5;

impl ExtentList {
    /// Decode the list starting at `b[0]`; the record count is capped by what fits in `b`.
    pub fn parse(b: &[u8]) -> Result<ExtentList, String> {
        if b.len() < 16 {
            return Err("extent list header does not fit".into());
        }
        let depth = le16(b, 0);
        let count = le16(b, 2) as usize;
        let used = le16(b, 4) as usize;
        if depth > MAX_TREE_DEPTH {
            return Err(format!(
                "extent tree depth {depth} is over the limit of {MAX_TREE_DEPTH}"
            ));
        }
        let fits = (b.len() - 16) / 16;
        if used > count || used > fits {
            return Err(format!(
                "extent list uses {used} records, has room for {}",
                count.min(fits)
            ));
        }
        let recs = (0..used)
            .map(|i| {
                let r = &b[16 + i * 16..32 + i * 16];
                ExtentRec {
                    cpos: le32(r, 0),
                    clusters: if depth == 0 {
                        le16(r, 4) as u32
                    } else {
                        le32(r, 4)
                    },
                    flags: if depth == 0 { r[7] } else { 0 },
                    blkno: le64(r, 8),
                }
            })
            .collect();
        Ok(ExtentList { depth, recs })
    }
}

/// `struct ocfs2_extent_block`: 0x00 h_signature `EXBLK01\0`, 0x08 h_check, 0x14
/// h_fs_generation, 0x18 h_blkno, 0x28 h_next_leaf_blk, 0x30 h_list.
pub fn extent_block_list(b: &[u8], blkno: u64) -> Result<ExtentList, String> {
    if b.len() < 0x40 || &b[0..8] != EXTENT_SIGNATURE {
        return Err("no extent block signature EXBLK01".into());
    }
    let own = le64(b, 0x18);
    if own != blkno {
        return Err(format!("extent block says it is block {own}"));
    }
    ExtentList::parse(&b[0x30..])
}

/// One directory entry (`struct ocfs2_dir_entry`): 0x00 inode u64, 0x08 rec_len u16, 0x0A
/// name_len u8, 0x0B file_type u8, 0x0C name (not NUL-terminated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub inode: u64,
    pub file_type: u8,
    pub name: &'a [u8],
    /// Offset of the entry in the area iterated.
    pub offset: usize,
}

/// `OCFS2_DIR_REC_LEN(name_len)`: 12 + name_len rounded up to 4.
pub fn dir_rec_len(name_len: usize) -> usize {
    (12 + name_len + 3) & !3
}

/// Iterates the entries of one directory block (or inline directory area); stops at the
/// first malformed record and reports it through [`DirEntries::error`] (the kernel's
/// `ocfs2_check_dir_entry` rules: rec_len a multiple of 4, at least 12 and at least
/// `dir_rec_len(name_len)`, not past the end).
pub struct DirEntries<'a> {
    area: &'a [u8],
    pos: usize,
    pub error: Option<(usize, String)>,
}

impl<'a> DirEntries<'a> {
    pub fn new(area: &'a [u8]) -> DirEntries<'a> {
        DirEntries {
            area,
            pos: 0,
            error: None,
        }
    }
}

impl<'a> Iterator for DirEntries<'a> {
    type Item = DirEntry<'a>;
    fn next(&mut self) -> Option<DirEntry<'a>> {
        loop {
            let rest = self.area.len().checked_sub(self.pos)?;
            if rest < 12 {
                if rest != 0 && self.error.is_none() {
                    self.error = Some((self.pos, format!("{rest} stray bytes at the end")));
                }
                return None;
            }
            let at = self.pos;
            let e = &self.area[at..];
            let inode = le64(e, 0);
            let rec_len = le16(e, 8) as usize;
            let name_len = e[10] as usize;
            let bad = if rec_len < 12 {
                Some(format!("rec_len {rec_len} is below 12"))
            } else if rec_len & 3 != 0 {
                Some(format!("rec_len {rec_len} is not a multiple of 4"))
            } else if rec_len > rest {
                Some(format!(
                    "rec_len {rec_len} runs past the end ({rest} bytes left)"
                ))
            } else if inode != 0 && rec_len < dir_rec_len(name_len) {
                Some(format!(
                    "name_len {name_len} does not fit in rec_len {rec_len}"
                ))
            } else {
                None
            };
            if let Some(msg) = bad {
                self.error = Some((at, msg));
                self.pos = self.area.len();
                return None;
            }
            self.pos += rec_len;
            if inode == 0 {
                continue;
            }
            return Some(DirEntry {
                inode,
                file_type: e[11],
                name: &e[12..12 + name_len],
                offset: at,
            });
        }
    }
}

/// Size of the directory-block trailer (`struct ocfs2_dir_block_trailer`).
pub const TRAILER_LEN: usize = 64;

/// Check the trailer at the end of dir block `b` read from `blkno`: 0x10 db_signature
/// `DIRTRL1\0`, 0x28 db_blkno (header comment says 0x20), 0x30 db_parent_dinode, 0x38
/// db_check (header comment says 0x30).
pub fn trailer_ok(b: &[u8], blkno: u64, parent: u64) -> Result<(), String> {
    let t = &b[b.len() - TRAILER_LEN..];
    if &t[0x10..0x18] != TRAILER_SIGNATURE {
        return Err("no directory trailer signature DIRTRL1".into());
    }
    if le64(t, 0x28) != blkno {
        return Err(format!("trailer says block {}", le64(t, 0x28)));
    }
    if le64(t, 0x30) != parent {
        return Err(format!(
            "trailer says its directory is inode {}",
            le64(t, 0x30)
        ));
    }
    Ok(())
}

/// One xattr entry (`struct ocfs2_xattr_entry`, 16 bytes): 0x00 xe_name_hash, 0x04
/// xe_name_offset (from the start of the xattr header / bucket), 0x06 xe_name_len, 0x07
/// xe_type (low 7 bits prefix index, 0x80 value stored locally), 0x08 xe_value_size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XattrEntry {
    /// Full name with its prefix (`user.x`, `system.posix_acl_access`, ...).
    pub name: Vec<u8>,
    pub index: u8,
    pub value_size: u64,
    /// The value, when stored locally (its whole length is inside the area).
    pub local_value: Option<Vec<u8>>,
    /// For values stored outside: the `ocfs2_xattr_value_root` bytes (16-byte header with
    /// xr_clusters, then an extent list).
    pub value_root: Option<Vec<u8>>,
}

/// Values at most this long are stored next to their names (`OCFS2_XATTR_INLINE_SIZE`).
pub const XATTR_INLINE_VALUE: u64 = 80;
/// The largest value Linux allows (`XATTR_SIZE_MAX`).
pub const XATTR_SIZE_MAX: u64 = 65536;

/// Prefix of a name index (kernel `enum ocfs2_xattr_type`).
pub fn xattr_prefix(index: u8) -> Option<&'static str> {
    Some(match index {
        1 => "user.",
        2 => "system.posix_acl_access",
        3 => "system.posix_acl_default",
        4 => "trusted.",
        5 => "security.",
        _ => return None,
    })
}

/// `OCFS2_XATTR_ROOT_SIZE`: `ocfs2_xattr_value_root` (0x00 xr_clusters, 0x08
/// xr_last_eb_blk, 0x10 xr_list) with room for one extent record.
pub const XATTR_ROOT_SIZE: usize = 48;

/// `OCFS2_XATTR_SIZE`: round up to 4.
fn xsize(n: usize) -> usize {
    (n + 3) & !3
}

/// Decode the xattr header at `area[0]` (`struct ocfs2_xattr_header`: 0x00 xh_count, 0x02
/// xh_free_start, 0x04 xh_name_value_len, 0x06 xh_num_buckets, 0x08 xh_check, entries from
/// 0x10). Entries whose name or value lies outside `area` are reported in the error list.
pub fn xattr_entries(area: &[u8]) -> (Vec<XattrEntry>, Vec<String>) {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    if area.len() < 16 {
        return (out, errs);
    }
    let count = le16(area, 0) as usize;
    let fits = (area.len() - 16) / 16;
    if count > fits {
        errs.push(format!(
            "xattr header claims {count} entries, room for {fits}"
        ));
    }
    for i in 0..count.min(fits) {
        let e = &area[16 + i * 16..32 + i * 16];
        let off = le16(e, 4) as usize;
        let nlen = e[6] as usize;
        let typ = e[7];
        let index = typ & 0x7f;
        let vsize = le64(e, 8);
        let Some(prefix) = xattr_prefix(index) else {
            errs.push(format!("xattr entry {i} has unknown name index {index}"));
            continue;
        };
        let Some(suffix) = area.get(off..off + nlen) else {
            errs.push(format!("xattr entry {i}: name at {off} outside the area"));
            continue;
        };
        let mut name = prefix.as_bytes().to_vec();
        name.extend_from_slice(suffix);
        let vstart = off + xsize(nlen);
        let local = typ & 0x80 != 0;
        let (local_value, value_root) = if local {
            if vsize > XATTR_SIZE_MAX {
                errs.push(format!(
                    "xattr {}: value size {vsize} too large",
                    String::from_utf8_lossy(&name)
                ));
                continue;
            }
            match area.get(vstart..vstart + vsize as usize) {
                Some(v) => (Some(v.to_vec()), None),
                None => {
                    errs.push(format!(
                        "xattr {}: local value of {vsize} bytes outside the area",
                        String::from_utf8_lossy(&name)
                    ));
                    continue;
                }
            }
        } else {
            // value root (OCFS2_XATTR_ROOT_SIZE): 16-byte header, extent list header, one
            // record; deeper trees continue in extent blocks
            let avail = area.len().saturating_sub(vstart).min(XATTR_ROOT_SIZE);
            match area.get(vstart..vstart + avail) {
                Some(v) if avail >= 32 => (None, Some(v.to_vec())),
                _ => {
                    errs.push(format!(
                        "xattr {}: value root outside the area",
                        String::from_utf8_lossy(&name)
                    ));
                    continue;
                }
            }
        };
        out.push(XattrEntry {
            name,
            index,
            value_size: vsize,
            local_value,
            value_root,
        });
    }
    (out, errs)
}

/// `struct ocfs2_xattr_block`: 0x00 xb_signature `XATTR01\0`, 0x10 xb_blkno, 0x18 xb_check,
/// 0x20 xb_flags (0x1 indexed), 0x30 xb_attrs (header, or tree root for indexed blocks).
pub const XATTR_BLOCK_ATTRS: usize = 0x30;
pub const XATTR_INDEXED: u16 = 0x1;
/// Xattr buckets are always 4096 bytes (`OCFS2_XATTR_BUCKET_SIZE`).
pub const XATTR_BUCKET_SIZE: usize = 4096;

pub fn xattr_block_check(b: &[u8], blkno: u64) -> Result<u16, String> {
    if b.len() < 0x50 || &b[0..8] != XATTR_SIGNATURE {
        return Err("no xattr block signature XATTR01".into());
    }
    if le64(b, 0x10) != blkno {
        return Err(format!("xattr block says it is block {}", le64(b, 0x10)));
    }
    Ok(le16(b, 0x20))
}

/// Convert OCFS2's on-disk POSIX ACL (`struct ocfs2_acl_entry` {e_tag u16, e_perm u16,
/// e_id u32} repeated, kernel fs/ocfs2/acl.h) to the Linux xattr form the model keeps
/// (`posix_acl_xattr_header` version 2, then the same 8-byte entries).
pub fn acl_to_xattr(raw: &[u8]) -> Vec<u8> {
    let mut out = 2u32.to_le_bytes().to_vec();
    out.extend_from_slice(&raw[..raw.len() / 8 * 8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_decode_the_huge_encoding() {
        let mut b = vec![0u8; 512];
        b[0xB8..0xBC].copy_from_slice(&0x1111_2C70u32.to_le_bytes());
        assert_eq!(Inode::parse(&b).device(), (300, 70000));
    }

    #[test]
    fn dir_entries_stop_at_bad_records() {
        let mut b = vec![0u8; 64];
        b[0..8].copy_from_slice(&7u64.to_le_bytes());
        b[8..10].copy_from_slice(&16u16.to_le_bytes());
        b[10] = 3;
        b[12..15].copy_from_slice(b"abc");
        // second: rec_len 0
        b[16..24].copy_from_slice(&8u64.to_le_bytes());
        let mut it = DirEntries::new(&b);
        let e = it.next().expect("first entry");
        assert_eq!((e.inode, e.name), (7, &b"abc"[..]));
        assert!(it.next().is_none());
        assert!(it
            .error
            .as_ref()
            .is_some_and(|(o, m)| *o == 16 && m.contains("below 12")));
        // name_len past the record
        let mut c = vec![0u8; 16];
        c[0] = 1;
        c[8] = 16;
        c[10] = 200;
        let mut it = DirEntries::new(&c);
        assert!(it.next().is_none());
        assert!(it.error.is_some());
    }

    #[test]
    fn extent_lists_are_capped_by_their_buffer() {
        let mut b = vec![0u8; 48];
        b[2..4].copy_from_slice(&100u16.to_le_bytes());
        b[4..6].copy_from_slice(&5u16.to_le_bytes());
        assert!(ExtentList::parse(&b).is_err());
        b[4..6].copy_from_slice(&2u16.to_le_bytes());
        let l = ExtentList::parse(&b).expect("two records fit");
        assert_eq!(l.recs.len(), 2);
    }

    #[test]
    fn feature_names_cover_all_words() {
        assert_eq!(
            feature_names(0x1, 0x840, 0x1),
            vec!["backup-super", "inline-data", "metaecc", "unwritten"]
        );
    }
}
