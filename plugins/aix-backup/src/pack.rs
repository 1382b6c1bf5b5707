//! pack(1) Huffman streams, as AIX `backup -p` stores file data in PACKED records.
//!
//! Embedding (research note §3.1, verified on all 34 packed members of `ibmichroot-rpm.rte`):
//! a record with magic 60012 carries, as its file data, a classic System V `pack` file
//! **without** its 6-byte prefix (`1F 1E` and the big-endian original length); `size` in
//! the header is the original length and `dsize` the stream's. `gzip -dc` decodes such a
//! stream once the prefix is put back, which is the oracle the tests use.
//!
//! Stream format (§3.2, our own description):
//!
//! | part | bytes |
//! |---|---|
//! | maxlev | 1: number of code-length levels (AIX allows up to 32, other unpackers 24) |
//! | level counts | maxlev-1 bytes: leaves at depths 1..maxlev-1; then 1 byte: leaves at depth maxlev **counting the end-of-block symbol**, minus 2 |
//! | symbols | every real byte value, grouped by depth, ascending inside a depth; EOB is implicit, the last leaf of the deepest level |
//! | bits | codes MSB first, packed MSB first, ended by the EOB code, last byte zero-filled |
//!
//! The code is canonical: with `S[L]` leaves and `I[L]` internal nodes at depth `L`
//! (`I[max] = 0`, `I[L] = (I[L+1] + S[L+1]) / 2`), the leaf `j` of depth `L` has the
//! `L`-bit code `I[L] + j`. Decoding keeps the bits read so far `v` and the depth: once
//! `v >= I[L]` the leaf is `v - I[L]`. A tree is valid only when every level count makes
//! `I[L+1] + S[L+1]` even and the root has exactly two children (`I[1] + S[1] == 2`); the
//! symbols must be distinct.
//!
//! [`Decoder`] is incremental (input and output in pieces of any size) and checks what AIX
//! restore checks: the decoded length equals the header's `size` (an EOB earlier, or more
//! symbols after it, is an error). [`Code`] builds a code from byte counts with a binary
//! heap (EOB weight 1, as System V pack), limited to 24 levels so that gzip, FreeBSD and
//! firmware-mod-kit decoders accept it too; [`Encoder`] emits the bits. Our packed bytes are
//! not IBM's (tie-breaking differs, §3.2): tests compare decoded content.

use std::collections::BinaryHeap;

/// Most levels a stream may have (AIX's limit).
pub const MAX_LEVELS: usize = 32;
/// Most levels relic writes (what generic unpackers accept).
pub const WRITE_LEVELS: usize = 24;
/// Longest stream header: maxlev, maxlev counts, 256 symbols.
pub const MAX_HEADER: usize = 1 + MAX_LEVELS + 256;

/// A pack code tree, parsed from a stream header.
#[derive(Debug, Clone)]
pub struct Tree {
    maxlev: usize,
    /// Internal nodes per depth (index = depth, 1-based).
    inodes: [u32; MAX_LEVELS + 1],
    /// Leaves per depth, EOB included at `maxlev`.
    leaves: [u32; MAX_LEVELS + 1],
    /// Index in `symbols` of the first leaf of each depth.
    first: [u32; MAX_LEVELS + 1],
    symbols: Vec<u8>,
    /// Bytes of the header.
    pub header_len: usize,
}

impl Tree {
    /// How many header bytes are needed to know the header's full length, given the bytes
    /// already in `head` (returns `head.len()` or more; the full length once known).
    pub fn header_needed(head: &[u8]) -> usize {
        match head.first() {
            None => 1,
            Some(&m) => {
                let m = m as usize;
                if head.len() < 1 + m {
                    return 1 + m;
                }
                if m == 0 || m > MAX_LEVELS {
                    return head.len();
                }
                let counts = &head[1..1 + m];
                let nsym: usize = counts[..m - 1].iter().map(|&c| c as usize).sum::<usize>()
                    + counts[m - 1] as usize
                    + 1;
                1 + m + nsym
            }
        }
    }

    /// Parse and validate a complete header. `Err` says what is wrong, with the byte
    /// offset in the stream where it was found.
    pub fn parse(head: &[u8]) -> Result<Tree, (usize, String)> {
        let maxlev = *head.first().ok_or((0, "empty packed stream".to_string()))? as usize;
        if maxlev == 0 || maxlev > MAX_LEVELS {
            return Err((
                0,
                format!("packed stream has {maxlev} code levels (1 to {MAX_LEVELS} are possible)"),
            ));
        }
        if head.len() < 1 + maxlev {
            return Err((head.len(), "packed stream header is cut short".into()));
        }
        let mut leaves = [0u32; MAX_LEVELS + 1];
        for l in 1..=maxlev {
            leaves[l] = head[l] as u32;
        }
        leaves[maxlev] += 2;
        let total: u32 = leaves.iter().sum();
        if total > 257 {
            return Err((
                1,
                format!("packed stream tree has {total} leaves (at most 257: 256 bytes and the end code)"),
            ));
        }
        let nsym = total as usize - 1;
        if head.len() < 1 + maxlev + nsym {
            return Err((head.len(), "packed stream header is cut short".into()));
        }
        let mut inodes = [0u32; MAX_LEVELS + 1];
        for l in (1..maxlev).rev() {
            let below = inodes[l + 1] + leaves[l + 1];
            if below % 2 != 0 {
                return Err((
                    1 + l,
                    format!(
                        "packed stream tree is invalid: {below} nodes at depth {} cannot pair up",
                        l + 1
                    ),
                ));
            }
            inodes[l] = below / 2;
        }
        if inodes[1] + leaves[1] != 2 {
            return Err((
                1,
                format!(
                    "packed stream tree is invalid: the root has {} children instead of 2",
                    inodes[1] + leaves[1]
                ),
            ));
        }
        let symbols = head[1 + maxlev..1 + maxlev + nsym].to_vec();
        let mut seen = [false; 256];
        for (i, &s) in symbols.iter().enumerate() {
            if seen[s as usize] {
                return Err((
                    1 + maxlev + i,
                    format!("packed stream tree lists byte {s:#04x} twice"),
                ));
            }
            seen[s as usize] = true;
        }
        let mut first = [0u32; MAX_LEVELS + 1];
        let mut acc = 0;
        for l in 1..=maxlev {
            first[l] = acc;
            acc += leaves[l];
        }
        Ok(Tree {
            maxlev,
            inodes,
            leaves,
            first,
            symbols,
            header_len: 1 + maxlev + nsym,
        })
    }

    pub fn levels(&self) -> usize {
        self.maxlev
    }
}

/// Why a packed stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The end code came before `size` bytes were decoded.
    EarlyEnd { produced: u64 },
    /// More symbols follow after `size` bytes.
    TooLong,
}

/// Incremental decoder of the bit stream after the header.
#[derive(Debug, Clone)]
pub struct Decoder {
    tree: Tree,
    size: u64,
    produced: u64,
    lev: usize,
    v: u32,
    cur: u8,
    nbits: u8,
    done: bool,
}

impl Decoder {
    pub fn new(tree: Tree, size: u64) -> Decoder {
        Decoder {
            tree,
            size,
            produced: 0,
            lev: 0,
            v: 0,
            cur: 0,
            nbits: 0,
            done: false,
        }
    }

    /// The end code was decoded (after exactly `size` bytes).
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Decode from `input` into `out`. Returns `(consumed, written)`; stops when the input
    /// is used up, `out` is full or the end code is reached.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), DecodeError> {
        let mut ip = 0;
        let mut op = 0;
        let t = &self.tree;
        while !self.done && op < out.len() {
            if self.nbits == 0 {
                if ip == input.len() {
                    break;
                }
                self.cur = input[ip];
                ip += 1;
                self.nbits = 8;
            }
            let bit = (self.cur >> 7) as u32;
            self.cur <<= 1;
            self.nbits -= 1;
            self.v = (self.v << 1) | bit;
            self.lev += 1;
            let l = self.lev;
            if self.v >= t.inodes[l] {
                let j = self.v - t.inodes[l];
                self.lev = 0;
                self.v = 0;
                if l == t.maxlev && j == t.leaves[l] - 1 {
                    if self.produced != self.size {
                        return Err(DecodeError::EarlyEnd {
                            produced: self.produced,
                        });
                    }
                    self.done = true;
                    break;
                }
                if self.produced == self.size {
                    return Err(DecodeError::TooLong);
                }
                // j < leaves[l] because the tree is complete (checked by Tree::parse)
                out[op] = t.symbols[(t.first[l] + j) as usize];
                op += 1;
                self.produced += 1;
            }
        }
        Ok((ip, op))
    }
}

/// A code built for writing.
#[derive(Debug, Clone)]
pub struct Code {
    /// Code length per byte value (0 = unused).
    lens: [u8; 256],
    codes: [u32; 256],
    eob_len: u8,
    eob_code: u32,
    header: Vec<u8>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Node {
    weight: std::cmp::Reverse<u64>,
    /// Tie-breaker: later nodes last, so the build is deterministic.
    order: std::cmp::Reverse<u32>,
    id: u32,
}

/// Code lengths of a Huffman code over `weights` (at least 2 of them).
fn huffman_lengths(weights: &[u64]) -> Vec<u8> {
    let n = weights.len();
    let mut parent = vec![u32::MAX; 2 * n];
    let mut heap = BinaryHeap::new();
    for (i, &w) in weights.iter().enumerate() {
        heap.push(Node {
            weight: std::cmp::Reverse(w),
            order: std::cmp::Reverse(i as u32),
            id: i as u32,
        });
    }
    let mut next = n as u32;
    while heap.len() > 1 {
        let (Some(a), Some(b)) = (heap.pop(), heap.pop()) else {
            break;
        };
        parent[a.id as usize] = next;
        parent[b.id as usize] = next;
        heap.push(Node {
            weight: std::cmp::Reverse(a.weight.0.saturating_add(b.weight.0)),
            order: std::cmp::Reverse(next),
            id: next,
        });
        next += 1;
    }
    (0..n)
        .map(|i| {
            let mut d = 0u8;
            let mut p = parent[i];
            while p != u32::MAX {
                d = d.saturating_add(1);
                p = parent[p as usize];
            }
            d
        })
        .collect()
}

impl Code {
    /// Build a code for data with these byte counts. `None` when there is no data.
    #[allow(clippy::needless_range_loop)] // several arrays indexed by depth
    pub fn build(counts: &[u64; 256]) -> Option<Code> {
        let used: Vec<usize> = (0..256).filter(|&b| counts[b] > 0).collect();
        if used.is_empty() {
            return None;
        }
        // weights of the used bytes, then the end code with weight 1
        let mut weights: Vec<u64> = used.iter().map(|&b| counts[b]).collect();
        weights.push(1);
        let mut lens = huffman_lengths(&weights);
        // limit the depth: flatten the weights until the tree is shallow enough
        let mut shift = 0;
        while lens.iter().copied().max().unwrap_or(0) as usize > WRITE_LEVELS {
            shift += 1;
            let flat: Vec<u64> = weights.iter().map(|&w| (w >> shift).max(1)).collect();
            lens = huffman_lengths(&flat);
        }
        // the end code must be a leaf of the deepest level: swap it there (its weight, 1,
        // is the smallest, so this never makes the code longer)
        let maxlev = lens.iter().copied().max().unwrap_or(1).max(1);
        let eob = lens.len() - 1;
        if lens[eob] < maxlev {
            if let Some(k) = (0..eob).rev().find(|&k| lens[k] == maxlev) {
                lens.swap(k, eob);
            }
        }
        let maxlev = maxlev as usize;
        let mut leaves = [0u32; MAX_LEVELS + 1];
        for &l in &lens {
            leaves[l as usize] += 1;
        }
        let mut inodes = [0u32; MAX_LEVELS + 1];
        for l in (1..maxlev).rev() {
            inodes[l] = (inodes[l + 1] + leaves[l + 1]) / 2;
        }
        // header: maxlev, counts (the last minus 2), symbols by depth, ascending
        let mut header = vec![maxlev as u8];
        for l in 1..=maxlev {
            let c = if l == maxlev {
                leaves[l] - 2
            } else {
                leaves[l]
            };
            header.push(c as u8);
        }
        let mut code = Code {
            lens: [0; 256],
            codes: [0; 256],
            eob_len: maxlev as u8,
            eob_code: 0,
            header: Vec::new(),
        };
        for l in 1..=maxlev {
            let mut j = 0;
            // used is ascending, so symbols of a depth come out ascending
            for (k, &b) in used.iter().enumerate() {
                if lens[k] as usize == l {
                    header.push(b as u8);
                    code.lens[b] = l as u8;
                    code.codes[b] = inodes[l] + j;
                    j += 1;
                }
            }
            if l == maxlev {
                code.eob_code = inodes[l] + j;
            }
        }
        code.header = header;
        Some(code)
    }

    /// The stream header (maxlev, counts, symbols).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Length of the whole stream for data with these counts.
    pub fn stream_len(&self, counts: &[u64; 256]) -> u64 {
        let bits: u64 = (0..256)
            .map(|b| counts[b].saturating_mul(self.lens[b] as u64))
            .fold(self.eob_len as u64, |a, x| a.saturating_add(x));
        self.header.len() as u64 + bits.div_ceil(8)
    }
}

/// Emits the bits of a code.
#[derive(Debug, Clone)]
pub struct Encoder {
    code: Code,
    acc: u64,
    nacc: u32,
}

impl Encoder {
    pub fn new(code: Code) -> Encoder {
        Encoder {
            code,
            acc: 0,
            nacc: 0,
        }
    }

    fn put(&mut self, code: u32, len: u8, out: &mut Vec<u8>) {
        self.acc = (self.acc << len) | code as u64;
        self.nacc += len as u32;
        while self.nacc >= 8 {
            self.nacc -= 8;
            out.push((self.acc >> self.nacc) as u8);
        }
        self.acc &= (1u64 << self.nacc) - 1;
    }

    /// Encode `data`, appending to `out`. Bytes the code does not know are an internal
    /// error (the counts came from the same data).
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<(), u8> {
        for &b in data {
            let len = self.code.lens[b as usize];
            if len == 0 {
                return Err(b);
            }
            let c = self.code.codes[b as usize];
            self.put(c, len, out);
        }
        Ok(())
    }

    /// The end code and the last partial byte.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let (c, l) = (self.code.eob_code, self.code.eob_len);
        self.put(c, l, out);
        if self.nacc > 0 {
            out.push((self.acc << (8 - self.nacc)) as u8);
            self.nacc = 0;
            self.acc = 0;
        }
    }
}

/// Pack `data` in memory (header + bits): for tests and small inputs.
pub fn pack(data: &[u8]) -> Option<Vec<u8>> {
    let mut counts = [0u64; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let code = Code::build(&counts)?;
    let mut out = code.header().to_vec();
    let mut e = Encoder::new(code);
    e.encode(data, &mut out).ok()?;
    e.finish(&mut out);
    Some(out)
}

/// Unpack a whole stream in memory (for tests): `size` is the expected decoded length.
pub fn unpack(stream: &[u8], size: u64) -> Result<Vec<u8>, String> {
    let need = Tree::header_needed(stream);
    let need = Tree::header_needed(&stream[..need.min(stream.len())]);
    if stream.len() < need {
        return Err("stream shorter than its header".into());
    }
    let tree = Tree::parse(&stream[..need]).map_err(|(o, m)| format!("at {o}: {m}"))?;
    let mut d = Decoder::new(tree, size);
    let mut out = vec![0u8; size as usize + 1];
    let (_, n) = d
        .decode(&stream[need..], &mut out)
        .map_err(|e| format!("{e:?}"))?;
    if !d.is_done() {
        return Err(format!("no end code after {n} bytes"));
    }
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::manual_repeat_n)] // repeat_n is newer than the workspace's Rust 1.80
    fn round_trips_and_limits_depth() {
        let mut data = Vec::new();
        for i in 0..5000u32 {
            data.push((i % 7) as u8 * 3);
            if i % 97 == 0 {
                data.push(255);
            }
        }
        let p = pack(&data).expect("packable");
        assert!(p.len() < data.len() / 2, "{} of {}", p.len(), data.len());
        assert_eq!(unpack(&p, data.len() as u64).expect("unpack"), data);
        // one symbol only
        let one = vec![b'x'; 1000];
        let p = pack(&one).expect("packable");
        assert_eq!(p[0], 1, "one level");
        assert_eq!(unpack(&p, 1000).expect("unpack"), one);
        // Fibonacci counts would make a very deep tree
        let mut fib = Vec::new();
        let (mut a, mut b) = (1usize, 1usize);
        for s in 0..30u8 {
            fib.extend(std::iter::repeat(s).take(a));
            (a, b) = (b, a + b);
        }
        let p = pack(&fib).expect("packable");
        assert!(p[0] as usize <= WRITE_LEVELS, "maxlev {}", p[0]);
        assert_eq!(unpack(&p, fib.len() as u64).expect("unpack"), fib);
    }

    #[test]
    fn decodes_in_any_pieces_and_checks_the_size() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * i % 13) as u8).collect();
        let p = pack(&data).expect("packable");
        let tree = Tree::parse(&p[..Tree::header_needed(&p[..Tree::header_needed(&p[..1])])])
            .expect("tree");
        let hl = tree.header_len;
        let mut d = Decoder::new(tree.clone(), data.len() as u64);
        let mut out = Vec::new();
        let mut input = &p[hl..];
        let mut buf = [0u8; 5];
        while !d.is_done() {
            let take = input.len().min(3);
            let (c, n) = d.decode(&input[..take], &mut buf).expect("decode");
            input = &input[c..];
            out.extend_from_slice(&buf[..n]);
            assert!(c > 0 || n > 0 || d.is_done(), "progress");
        }
        assert_eq!(out, data);
        // wrong sizes are errors
        assert!(matches!(
            Decoder::new(tree.clone(), data.len() as u64 + 1).decode(&p[hl..], &mut vec![0; 4000]),
            Err(DecodeError::EarlyEnd { produced: 3000 })
        ));
        assert_eq!(
            Decoder::new(tree, data.len() as u64 - 1).decode(&p[hl..], &mut vec![0; 4000]),
            Err(DecodeError::TooLong)
        );
    }

    #[test]
    fn rejects_invalid_trees() {
        assert!(Tree::parse(&[0]).is_err());
        assert!(Tree::parse(&[33]).is_err());
        // 2 levels: depth 1 has 1 leaf; depth 2: stored 0 -> 2 leaves (sym + EOB): valid
        assert!(Tree::parse(&[2, 1, 0, b'a', b'b']).is_ok());
        // depth 1 has 2 leaves and depth 2 too: the root would have 3 children
        assert!(Tree::parse(&[2, 2, 0, b'a', b'b', b'c']).is_err());
        // duplicate symbol
        assert!(Tree::parse(&[2, 1, 0, b'a', b'a']).is_err());
        // odd count at the deepest level
        assert!(Tree::parse(&[2, 1, 1, b'a', b'b', b'c']).is_err());
    }
}
