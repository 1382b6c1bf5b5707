//! Redundancy (XOR) groups: recognising XOR blocks and rebuilding one lost block per group.
//!
//! With `/GROUP_SIZE=n` (summary attribute 14, default 10, 0 = none) BACKUP follows every n
//! data blocks with one XOR block (BBH$W_APPLIC = 2); the last group may be short and is
//! still closed by an XOR block (research note §1.4, verified on 2 823 groups). The XOR
//! block's bytes 256..end are the XOR of the group's data blocks; its header is the XOR of
//! their headers except size, opsys, subsys, applic, number, flags, CRC and checksum, which
//! are set explicitly. So XOR blocks are recognised by applic = 2 (never by their block size
//! or structure level, which come out 0 in even-sized groups), and one bad or missing data
//! block of a group is the XOR of all the other blocks of the group, XOR block included,
//! with those explicit fields restored and both checks recomputed.
//!
//! [`examine`] judges one block; [`Group`] collects the slots of one group and
//! [`Group::repair`] decides what can be released; [`xor_into`] is shared with the writer.

use crate::crc;
use crate::layout::{bbh, get_u16, get_u32, put_u16, put_u32, BBH_SIZE, STRUCLEV};

/// What one block looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Header and CRC valid, fields plausible.
    pub ok: bool,
    pub applic: u16,
    pub number: u32,
    pub volnum: u16,
    pub flags: u32,
    /// Why the block is not ok.
    pub problem: Option<String>,
}

/// Judge a block of a save set whose blocks are `bs` bytes.
pub fn examine(block: &[u8], bs: usize) -> Verdict {
    let mut v = Verdict {
        ok: false,
        applic: 0,
        number: 0,
        volnum: 0,
        flags: 0,
        problem: None,
    };
    if block.len() < BBH_SIZE {
        v.problem = Some(format!(
            "only {} bytes (a block header is 256)",
            block.len()
        ));
        return v;
    }
    v.applic = get_u16(block, bbh::APPLIC);
    v.number = get_u32(block, bbh::NUMBER);
    v.volnum = get_u16(block, bbh::VOLNUM);
    v.flags = get_u32(block, bbh::FLAGS);
    let c = crc::check(block);
    let size = get_u16(block, bbh::SIZE);
    let problem = if block.len() != bs {
        Some(format!(
            "{} bytes instead of the block size {bs}",
            block.len()
        ))
    } else if !c.header_ok {
        Some(format!(
            "header checksum {:#06x}, computed {:#06x}",
            c.stored_checksum, c.computed_checksum
        ))
    } else if size as usize != BBH_SIZE || get_u16(block, bbh::SUBSYS) != 1 {
        Some(format!(
            "header size {size}, subsystem {} (expected 256, 1)",
            get_u16(block, bbh::SUBSYS)
        ))
    } else if c.crc_ok == Some(false) {
        Some(format!(
            "block CRC {:#010x}, computed {:#010x}",
            c.stored_crc, c.computed_crc
        ))
    } else if v.applic == bbh::APPLIC_DATA
        && (get_u32(block, bbh::BLOCKSIZE) as usize != bs
            || get_u16(block, bbh::STRUCLEV) != STRUCLEV)
    {
        Some(format!(
            "block size field {} / structure level {:#06x} (expected {bs} / 0x0101)",
            get_u32(block, bbh::BLOCKSIZE),
            get_u16(block, bbh::STRUCLEV)
        ))
    } else if v.applic != bbh::APPLIC_DATA && v.applic != bbh::APPLIC_XOR {
        Some(format!("application code {} (expected 1 or 2)", v.applic))
    } else if v.number == 0 {
        Some("block number 0".into())
    } else {
        None
    };
    v.ok = problem.is_none();
    v.problem = problem;
    v
}

/// XOR `src` into `acc` (same length).
pub fn xor_into(acc: &mut [u8], src: &[u8]) {
    for (a, s) in acc.iter_mut().zip(src) {
        *a ^= s;
    }
}

/// One position of a group.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The block number this position has.
    pub number: u32,
    /// The bytes read (None: the block is missing from the input).
    pub data: Option<Vec<u8>>,
    pub verdict: Option<Verdict>,
    /// Input offset where it was read (or would have been).
    pub offset: u64,
}

impl Slot {
    pub fn good(&self) -> bool {
        self.verdict.as_ref().is_some_and(|v| v.ok)
    }
    pub fn is_xor(&self) -> bool {
        self.verdict
            .as_ref()
            .is_some_and(|v| v.ok && v.applic == bbh::APPLIC_XOR)
    }
    pub fn describe(&self) -> String {
        match (&self.data, &self.verdict) {
            (None, _) => "missing from the input".into(),
            (Some(_), Some(v)) => v.problem.clone().unwrap_or_else(|| "ok".into()),
            (Some(_), None) => "not examined".into(),
        }
    }
}

/// What [`Group::repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every data block was good.
    Clean,
    /// Only the XOR block was bad (no data lost).
    XorLost,
    /// This block number was rebuilt from the others.
    Rebuilt(u32),
    /// These block numbers could not be recovered.
    Lost(Vec<u32>),
}

/// The slots of one redundancy group (data blocks and, when present, its XOR block last).
#[derive(Debug, Default)]
pub struct Group {
    pub slots: Vec<Slot>,
}

impl Group {
    pub fn first_number(&self) -> Option<u32> {
        self.slots.first().map(|s| s.number)
    }

    /// Decide and repair. `xor_expected_last` says the last slot stands where the XOR block
    /// belongs (the group is full, or the input ended after it); `opsys`/`nocrc` come from
    /// the save set for the rebuilt header.
    pub fn repair(&mut self, xor_expected_last: bool, bs: usize) -> Outcome {
        let n = self.slots.len();
        if n == 0 {
            return Outcome::Clean;
        }
        let xor_idx = self
            .slots
            .iter()
            .position(|s| s.is_xor())
            .or_else(|| xor_expected_last.then_some(n - 1));
        let bad: Vec<usize> = (0..n)
            .filter(|&i| !self.slots[i].good() && Some(i) != xor_idx)
            .collect();
        let xor_good = xor_idx.is_some_and(|i| self.slots[i].good());
        if bad.is_empty() {
            return if xor_idx.is_some_and(|i| !self.slots[i].good()) {
                Outcome::XorLost
            } else {
                Outcome::Clean
            };
        }
        if bad.len() > 1 || !xor_good {
            return Outcome::Lost(bad.iter().map(|&i| self.slots[i].number).collect());
        }
        let target = bad[0];
        let xi = xor_idx.unwrap_or(n - 1);
        let mut acc = vec![0u8; bs];
        for (i, s) in self.slots.iter().enumerate() {
            if i != target {
                if let Some(d) = &s.data {
                    xor_into(&mut acc, d);
                }
            }
        }
        // the fields the XOR block sets explicitly: restore the data block's values
        let xb = self.slots[xi].data.as_deref().unwrap_or(&[]);
        let opsys = if xb.len() >= BBH_SIZE {
            get_u16(xb, bbh::OPSYS)
        } else {
            0
        };
        let flags = if xb.len() >= BBH_SIZE {
            get_u32(xb, bbh::FLAGS)
        } else {
            0
        };
        put_u16(&mut acc, bbh::SIZE, BBH_SIZE as u16);
        put_u16(&mut acc, bbh::OPSYS, opsys);
        put_u16(&mut acc, bbh::SUBSYS, 1);
        put_u16(&mut acc, bbh::APPLIC, bbh::APPLIC_DATA);
        put_u32(&mut acc, bbh::NUMBER, self.slots[target].number);
        put_u32(&mut acc, bbh::FLAGS, flags);
        crc::seal(&mut acc);
        let v = examine(&acc, bs);
        if !v.ok {
            return Outcome::Lost(vec![self.slots[target].number]);
        }
        let number = self.slots[target].number;
        self.slots[target].data = Some(acc);
        self.slots[target].verdict = Some(v);
        Outcome::Rebuilt(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Bbh, BBH_SIZE};

    fn block(number: u32, fill: u8, bs: usize) -> Vec<u8> {
        let mut b = vec![fill; bs];
        Bbh {
            size: 256,
            opsys: 0x400,
            subsys: 1,
            applic: 1,
            number,
            struclev: STRUCLEV,
            volnum: 1,
            blocksize: bs as u32,
            ssname: b"T.BCK".to_vec(),
            ..Bbh::default()
        }
        .write(&mut b);
        crc::seal(&mut b);
        b
    }

    fn xor_block(data: &[Vec<u8>], number: u32, bs: usize) -> Vec<u8> {
        let mut x = vec![0u8; bs];
        for d in data {
            xor_into(&mut x, d);
        }
        put_u16(&mut x, bbh::SIZE, 256);
        put_u16(&mut x, bbh::OPSYS, 0x400);
        put_u16(&mut x, bbh::SUBSYS, 1);
        put_u16(&mut x, bbh::APPLIC, 2);
        put_u32(&mut x, bbh::NUMBER, number);
        put_u32(&mut x, bbh::FLAGS, 0);
        crc::seal(&mut x);
        x
    }

    fn group(blocks: &[Vec<u8>], bs: usize) -> Group {
        Group {
            slots: blocks
                .iter()
                .enumerate()
                .map(|(i, b)| Slot {
                    number: i as u32 + 1,
                    verdict: Some(examine(b, bs)),
                    data: Some(b.clone()),
                    offset: (i * bs) as u64,
                })
                .collect(),
        }
    }

    #[test]
    fn rebuilds_one_zeroed_block_in_even_and_odd_groups() {
        let bs = 2048;
        for k in [2usize, 3] {
            let data: Vec<Vec<u8>> = (0..k)
                .map(|i| block(i as u32 + 1, 0x30 + i as u8, bs))
                .collect();
            let x = xor_block(&data, k as u32 + 1, bs);
            assert!(examine(&x, bs).ok, "XOR blocks are valid blocks");
            for lost in 0..k {
                let mut all = data.clone();
                all.push(x.clone());
                all[lost] = vec![0u8; bs];
                let mut g = group(&all, bs);
                assert!(!g.slots[lost].good());
                assert_eq!(g.repair(false, bs), Outcome::Rebuilt(lost as u32 + 1));
                assert_eq!(
                    g.slots[lost].data.as_ref(),
                    Some(&data[lost]),
                    "k={k} lost={lost}"
                );
            }
        }
    }

    #[test]
    fn two_bad_blocks_are_lost_and_a_bad_xor_block_costs_nothing() {
        let bs = 2048;
        let data: Vec<Vec<u8>> = (0..3).map(|i| block(i + 1, 7, bs)).collect();
        let x = xor_block(&data, 4, bs);
        let mut all = data.clone();
        all.push(vec![1u8; bs]);
        assert_eq!(group(&all, bs).repair(true, bs), Outcome::XorLost);
        all[3] = x;
        all[0][300] ^= 1;
        all[1][300] ^= 1;
        assert_eq!(group(&all, bs).repair(false, bs), Outcome::Lost(vec![1, 2]));
        assert!(examine(&all[0], bs).problem.expect("bad").contains("CRC"));
        assert_eq!(BBH_SIZE, 256);
    }
}
