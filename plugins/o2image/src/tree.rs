//! The volume as the reader sees it ([`Fs`]: an [`Image`] plus its superblock, with metaecc
//! verification of every metadata block read) and the extent-tree walker ([`Walker`]) that
//! maps files, directories, xattr values and xattr bucket trees to blocks.
//!
//! Extent trees (research note §2.3): the root list lives in the inode (or an xattr value
//! root / tree root); records of a list of depth d > 0 point at extent blocks (`EXBLK01`)
//! whose list has depth d - 1; depth-0 records are leaves mapping `e_leaf_clusters` logical
//! clusters from `e_cpos` to physical blocks from `e_blkno`. Gaps between leaves are holes.
//!
//! Defences against hostile trees, each a clear error naming the block:
//! - the depth must drop by exactly one per level and never exceed 5 (the kernel's
//!   `OCFS2_MAX_PATH_DEPTH`), so a cycle of extent blocks cannot recurse;
//! - leaves must come in increasing, non-overlapping logical order (a subtree reached twice
//!   fails here);
//! - every leaf must map inside the volume;
//! - a walk reads at most `max_blocks` extent blocks (callers derive it from the clusters the
//!   owner says it has).

use std::collections::HashSet;

use relic_model::{LogLevel, Result};
use relic_plugin_sdk::HostHandle;

use crate::ecc::{self, Check, CheckSite};
use crate::image::{Avail, Image, Kind};
use crate::layout::{extent_block_list, ExtentList, ExtentRec, Superblock, INCOMPAT_META_ECC};

/// At most this many metaecc failures are named one by one; the rest are counted.
pub const MAX_ECC_WARNINGS: usize = 1000;

/// The opened volume.
pub struct Fs {
    pub img: Image,
    pub sb: Superblock,
    /// Block size in bytes.
    pub bs: usize,
    /// Blocks per cluster.
    pub bpc: u64,
    /// metaecc is on: verify every metadata block.
    pub ecc: bool,
    pub host: HostHandle,
    ecc_named: HashSet<u64>,
    /// Blocks that failed their check (named or not).
    pub ecc_failures: u64,
    /// Blocks a single-bit ECC fix repaired.
    pub ecc_corrected: u64,
}

impl Fs {
    pub fn new(img: Image, sb: Superblock, host: HostHandle) -> Fs {
        Fs {
            bs: sb.block_size() as usize,
            bpc: sb.bpc(),
            ecc: sb.has(INCOMPAT_META_ECC),
            img,
            sb,
            host,
            ecc_named: HashSet::new(),
            ecc_failures: 0,
            ecc_corrected: 0,
        }
    }

    pub fn warn(&self, msg: &str) {
        self.host.warn(msg, None);
    }

    pub fn log(&self, msg: &str) {
        self.host.log(LogLevel::Info, msg);
    }

    /// Blocks in the volume.
    pub fn blocks(&self) -> u64 {
        self.img.fs_blocks
    }

    /// Verify the metaecc check of block `n` (already read into `buf`) and warn about a
    /// failure once per block. A single-bit error the ECC locates is corrected in `buf`.
    pub fn verify(&mut self, n: u64, buf: &mut [u8], site: CheckSite, owner: &str) {
        if !self.ecc {
            return;
        }
        let r = ecc::verify(buf, site);
        let msg = match r {
            Check::Good => return,
            Check::Corrected { bit } => {
                self.ecc_corrected += 1;
                format!(
                    "metaecc: block {n} ({}{owner}): CRC32 mismatch, single-bit error at bit {bit} corrected by the ECC",
                    site.what
                )
            }
            Check::Bad { stored, computed } => format!(
                "metaecc: block {n} ({}{owner}): CRC32 mismatch (stored {stored:08x}, computed {computed:08x}) and the ECC cannot repair it; using the block as it is",
                site.what
            ),
            Check::Unsigned => format!(
                "metaecc: block {n} ({}{owner}) carries no check although the volume has metaecc",
                site.what
            ),
        };
        if self.ecc_named.contains(&n) {
            return;
        }
        self.ecc_failures += 1;
        if self.ecc_named.len() < MAX_ECC_WARNINGS {
            self.ecc_named.insert(n);
            self.warn(&msg);
        }
    }

    /// Read metadata block `n`, verify it when `site` is given. `None`: not in the image
    /// (in a raw image an all-zero block counts as not copied: o2image leaves holes there,
    /// and no OCFS2 metadata block is all zeros).
    pub fn meta(&mut self, n: u64, site: Option<(CheckSite, &str)>) -> Result<Option<Vec<u8>>> {
        let mut b = vec![0u8; self.bs];
        if self.img.read_block(n, &mut b)? == Avail::Missing {
            return Ok(None);
        }
        if self.img.kind == Kind::Raw && b.iter().all(|&c| c == 0) {
            return Ok(None);
        }
        if let Some((site, owner)) = site {
            self.verify(n, &mut b, site, owner);
        }
        Ok(Some(b))
    }
}

/// Why a walk stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkError {
    pub message: String,
    /// The block was not in the image (as opposed to being malformed).
    pub missing: bool,
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A depth-first walk over the leaves of one extent tree.
pub struct Walker {
    stack: Vec<(Vec<ExtentRec>, usize, u16)>,
    last_end: u64,
    blocks_read: u64,
    max_blocks: u64,
}

impl Walker {
    /// Walk the tree whose root list is `root`; read at most `max_blocks` extent blocks.
    pub fn new(root: ExtentList, max_blocks: u64) -> Walker {
        let depth = root.depth;
        Walker {
            stack: vec![(root.recs, 0, depth)],
            last_end: 0,
            blocks_read: 0,
            max_blocks,
        }
    }

    /// An empty walk.
    pub fn empty() -> Walker {
        Walker {
            stack: vec![],
            last_end: 0,
            blocks_read: 0,
            max_blocks: 0,
        }
    }

    /// The next leaf record with at least one cluster, or `None` at the end.
    pub fn next(&mut self, fs: &mut Fs) -> Result<Result<Option<ExtentRec>, WalkError>> {
        let bad = |message: String| {
            Ok(Err(WalkError {
                message,
                missing: false,
            }))
        };
        loop {
            let Some(top) = self.stack.last_mut() else {
                return Ok(Ok(None));
            };
            if top.1 >= top.0.len() {
                self.stack.pop();
                continue;
            }
            let rec = top.0[top.1];
            top.1 += 1;
            let depth = top.2;
            if depth == 0 {
                if rec.clusters == 0 {
                    continue;
                }
                if (rec.cpos as u64) < self.last_end {
                    self.stack.clear();
                    return bad(format!(
                        "extent record at cluster {} overlaps or precedes the previous one (ending at {}): the tree repeats or is out of order",
                        rec.cpos, self.last_end
                    ));
                }
                let len = rec.clusters as u64 * fs.bpc;
                if rec.blkno == 0 || rec.blkno.saturating_add(len) > fs.blocks() {
                    self.stack.clear();
                    return bad(format!(
                        "extent record maps {} clusters at block {}, outside the {}-block volume",
                        rec.clusters,
                        rec.blkno,
                        fs.blocks()
                    ));
                }
                self.last_end = rec.cpos as u64 + rec.clusters as u64;
                return Ok(Ok(Some(rec)));
            }
            if self.blocks_read >= self.max_blocks {
                self.stack.clear();
                return bad(format!(
                    "extent tree has more than {} extent blocks for the clusters it maps",
                    self.max_blocks
                ));
            }
            self.blocks_read += 1;
            if rec.blkno == 0 || rec.blkno >= fs.blocks() {
                self.stack.clear();
                return bad(format!(
                    "extent block number {} is outside the {}-block volume",
                    rec.blkno,
                    fs.blocks()
                ));
            }
            let Some(b) = fs.meta(rec.blkno, Some((ecc::EXTENT_BLOCK, "")))? else {
                self.stack.clear();
                return Ok(Err(WalkError {
                    message: format!("extent block {} is not in the image", rec.blkno),
                    missing: true,
                }));
            };
            let list = match extent_block_list(&b, rec.blkno) {
                Ok(l) => l,
                Err(e) => {
                    self.stack.clear();
                    return bad(format!("extent block {}: {e}", rec.blkno));
                }
            };
            if list.depth + 1 != depth {
                self.stack.clear();
                return bad(format!(
                    "extent block {} has depth {}, its parent {depth}",
                    rec.blkno, list.depth
                ));
            }
            self.stack.push((list.recs, 0, list.depth));
        }
    }
}
