//! The block layer: save-set blocks out of a medium, checked, repaired and in order.
//!
//! Two ways in (decided on the first record, [`BlockSource::open`]):
//! - **bytes**: a disk save set (a plain file, a pipe, any medium whose record boundaries
//!   mean nothing): a [`RecordStream`] cut into blocks of the size the first block header
//!   gives (research note §1.2; if block 1 is damaged, the size is found from block 2's
//!   header at a multiple of 512);
//! - **records**: a tape (image): one tape record per block, 80-byte ANSI labels around each
//!   save set ([`crate::ansi`]), tape marks between sections. A record of the wrong length is
//!   a damaged block.
//!
//! Every block is checked ([`xor::examine`]: header checksum, CRC-32, header fields). Blocks
//! are collected one redundancy group at a time (the group size comes from block 1's summary
//! record, or, when block 1 itself is damaged, from where the first XOR block stands) and a
//! group is released only when it is complete, so one bad or missing block per group is
//! rebuilt ([`xor::Group::repair`]) and reported through `host.warn`. More damage is an error
//! naming the block, or with `salvage` a warning and a gap the reader skips. Memory: one
//! group (at most 256 blocks of at most 64 KiB).
//!
//! On tapes, a block number lower than expected is a block BACKUP rewrote after a write
//! error: the later copy replaces the earlier one while its group is still held (research
//! note §1.12, DaveShepperd's `remove_dups()`); a higher number means blocks are missing.
//! `EOV1` labels and end of medium ask the medium for the next volume, and so does the end of
//! an unlabelled input in the middle of an XOR group (a complete grouped save set ends with
//! its XOR block, so a plain single-file save set never makes relic ask for a volume 2); the
//! continuation is checked (HDR1 file identifier and section, BBH volume number).

use std::collections::VecDeque;

use relic_model::{
    Error, LogLevel, Medium, MediumInfo, Position, RecordRead, RecordStatus, Result, Space,
    WriteStatus,
};
use relic_plugin_sdk::stream::{RecordStream, MAX_RECORD};
use relic_plugin_sdk::HostHandle;

use crate::ansi::{self, Hdr1, Hdr2};
use crate::crc;
use crate::layout::{self, attr, bbh, rtype, Brh, BBH_SIZE, BRH_SIZE, MAX_GROUP, MIN_BLOCK};
use crate::xor::{self, Group, Outcome, Slot};

/// A medium with one record put back in front (the record read to decide the mode).
pub struct Prefixed<M: Medium> {
    first: Option<(RecordStatus, Vec<u8>)>,
    inner: M,
}

impl<M: Medium> Prefixed<M> {
    pub fn inner_mut(&mut self) -> &mut M {
        &mut self.inner
    }
}

impl<M: Medium> Medium for Prefixed<M> {
    fn info(&self) -> MediumInfo {
        let mut i = self.inner.info();
        if let Some((_, r)) = &self.first {
            i.max_record = i.max_record.max(r.len() as u32);
        }
        i
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        if let Some((status, r)) = self.first.take() {
            if r.len() > buf.len() {
                let len = r.len();
                self.first = Some((status, r));
                return Ok(RecordRead {
                    status: RecordStatus::TooSmall,
                    len,
                });
            }
            buf[..r.len()].copy_from_slice(&r);
            return Ok(RecordRead {
                status,
                len: r.len(),
            });
        }
        self.inner.read_record(buf)
    }
    fn write_record(&mut self, data: &[u8]) -> Result<WriteStatus> {
        self.inner.write_record(data)
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        self.inner.write_tape_mark()
    }
    fn position(&self) -> Position {
        self.inner.position()
    }
    fn space(&mut self, op: Space, count: i64) -> Result<i64> {
        self.first = None;
        self.inner.space(op, count)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.first = None;
        self.inner.next_volume(number)
    }
    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
}

/// One raw unit from a tape.
enum Unit {
    Record {
        data: Vec<u8>,
        offset: u64,
        bad: bool,
    },
    Mark,
    End(RecordStatus),
}

/// Tape records one at a time (records mode).
struct Tape<M: Medium> {
    m: Prefixed<M>,
    buf: Vec<u8>,
    offset: u64,
}

impl<M: Medium> Tape<M> {
    fn read(&mut self) -> Result<Unit> {
        loop {
            let r = self.m.read_record(&mut self.buf)?;
            match r.status {
                RecordStatus::TooSmall => {
                    if r.len > MAX_RECORD {
                        return Err(Error::corrupt(format!(
                            "tape record of {} bytes is over the {MAX_RECORD}-byte limit",
                            r.len
                        ))
                        .at(self.offset));
                    }
                    if r.len <= self.buf.len() {
                        return Err(Error::internal(
                            "medium said TooSmall for a record that fits",
                        ));
                    }
                    self.buf.resize(r.len, 0);
                }
                RecordStatus::Data | RecordStatus::Bad => {
                    let offset = self.offset;
                    self.offset += r.len as u64;
                    return Ok(Unit::Record {
                        data: self.buf[..r.len].to_vec(),
                        offset,
                        bad: r.status == RecordStatus::Bad,
                    });
                }
                RecordStatus::TapeMark => return Ok(Unit::Mark),
                s => return Ok(Unit::End(s)),
            }
        }
    }
}

enum Input<M: Medium> {
    Bytes(RecordStream<Prefixed<M>>),
    Records(Tape<M>),
}

/// A released data block.
#[derive(Debug, Clone)]
pub struct Block {
    pub data: Vec<u8>,
    pub number: u32,
    /// Input offset of the block.
    pub offset: u64,
    /// Blocks before this one were lost (salvage): record continuity is broken.
    pub after_gap: bool,
}

/// Counters for the volume info and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub data_blocks: u64,
    pub xor_blocks: u64,
    pub bad_blocks: u64,
    pub repaired: u64,
    pub lost: u64,
    pub duplicates: u64,
}

/// What the tape labels said.
#[derive(Debug, Clone, Default)]
pub struct TapeInfo {
    pub volume_id: Option<String>,
    pub hdr1: Option<Hdr1>,
    pub hdr2: Option<Hdr2>,
}

/// How a raw block read went.
enum Raw {
    Block {
        data: Vec<u8>,
        offset: u64,
    },
    /// The save set (or its last section) ended.
    End,
}

pub struct BlockSource<M: Medium> {
    input: Input<M>,
    host: HostHandle,
    salvage: bool,
    /// Block size in bytes.
    pub bs: usize,
    group: Option<u32>,
    next_number: u32,
    volnum: u32,
    ready: VecDeque<Block>,
    ended: bool,
    gap_pending: bool,
    /// The first block of the save set was never seen yet (its summary gives the group).
    fresh: bool,
    pub labelled: bool,
    pub tape: TapeInfo,
    pub stats: Stats,
    warned_volnum: bool,
    /// The group being collected has no XOR block yet: an end of data here means the save
    /// set goes on on another volume (a complete grouped save set ends with an XOR block).
    mid_group: bool,
}

fn looks_like_bbh(b: &[u8]) -> bool {
    b.len() >= BBH_SIZE
        && layout::get_u16(b, bbh::SIZE) as usize == BBH_SIZE
        && layout::get_u16(b, bbh::SUBSYS) == 1
        && crc::header_checksum(b) == layout::get_u16(b, bbh::CHECKSUM)
}

fn plausible_bs(bs: u32) -> bool {
    (MIN_BLOCK..=65535).contains(&bs)
}

/// The group size from block 1's summary record, when it says.
fn summary_group(block: &[u8]) -> Option<u32> {
    if block.len() < BBH_SIZE + BRH_SIZE {
        return None;
    }
    let h = Brh::parse(&block[BBH_SIZE..]);
    let end = BBH_SIZE + BRH_SIZE + h.rsize as usize;
    if h.rtype != rtype::SUMMARY || end > block.len() {
        return None;
    }
    let list = layout::attr_list(&block[BBH_SIZE + BRH_SIZE..end], 0).ok()?;
    list.iter()
        .find(|a| a.code == attr::XORSIZE)
        .map(|a| layout::attr_uint(a.value) as u32)
}

impl<M: Medium> BlockSource<M> {
    /// Read the first record and decide how to read the rest. On a labelled tape this stops
    /// before the first HDR1 ([`BlockSource::begin_saveset`] reads it).
    pub fn open(mut medium: M, host: HostHandle, salvage: bool) -> Result<BlockSource<M>> {
        let info = medium.info();
        let mut buf = vec![0u8; (info.max_record as usize).clamp(512, 256 * 1024)];
        let (status, first) = loop {
            let r = medium.read_record(&mut buf)?;
            match r.status {
                RecordStatus::TooSmall if r.len <= MAX_RECORD && r.len > buf.len() => {
                    buf.resize(r.len, 0)
                }
                RecordStatus::TooSmall => {
                    return Err(
                        Error::corrupt(format!("first record claims {} bytes", r.len)).at(0),
                    )
                }
                RecordStatus::Data | RecordStatus::Bad => break (r.status, buf[..r.len].to_vec()),
                _ => {
                    return Err(Error::truncated(
                        "the input is empty: expected a save-set block or an ANSI VOL1/HDR1 label",
                    )
                    .at(0))
                }
            }
        };
        let label = ansi::label_id(&first);
        let records = label.is_some()
            || (info.records_meaningful
                && looks_like_bbh(&first)
                && layout::get_u32(&first, bbh::BLOCKSIZE) as usize == first.len());
        let bs = if label.is_none() && looks_like_bbh(&first) {
            layout::get_u32(&first, bbh::BLOCKSIZE) as usize
        } else {
            0
        };
        let pre = Prefixed {
            first: Some((status, first)),
            inner: medium,
        };
        let input = if records {
            Input::Records(Tape {
                m: pre,
                buf: vec![0u8; 66 * 1024],
                offset: 0,
            })
        } else {
            Input::Bytes(RecordStream::new(pre))
        };
        let mut s = BlockSource {
            input,
            host,
            salvage,
            bs,
            group: None,
            next_number: 1,
            volnum: 1,
            ready: VecDeque::new(),
            ended: false,
            gap_pending: false,
            fresh: true,
            labelled: label.is_some(),
            tape: TapeInfo::default(),
            stats: Stats::default(),
            warned_volnum: false,
            mid_group: false,
        };
        if s.labelled {
            if let Input::Records(t) = &mut s.input {
                if let Unit::Record { data, .. } = t.read()? {
                    if ansi::label_id(&data) == Some(*b"VOL1") {
                        s.tape.volume_id = Some(ansi::vol1_id(&data));
                    } else {
                        t.m.first = Some((RecordStatus::Data, data));
                        t.offset = 0;
                    }
                }
            }
        } else {
            s.find_block_size()?;
        }
        Ok(s)
    }

    fn warn(&self, msg: &str, off: u64) {
        self.host.warn(msg, Some(off));
    }

    /// Bytes mode: the block size from block 1, or from block 2 when block 1 is damaged.
    fn find_block_size(&mut self) -> Result<()> {
        let Input::Bytes(s) = &mut self.input else {
            if !plausible_bs(self.bs as u32) {
                // an unlabelled tape: the first record's length is the block size
                return Err(Error::corrupt("the first tape record is not a save-set block").at(0));
            }
            return Ok(());
        };
        let head = s.peek(BBH_SIZE)?.to_vec();
        if looks_like_bbh(&head) {
            let bs = layout::get_u32(&head, bbh::BLOCKSIZE);
            if plausible_bs(bs) && layout::get_u16(&head, bbh::APPLIC) == bbh::APPLIC_DATA {
                self.bs = bs as usize;
                return Ok(());
            }
        }
        let look = s.peek(65536 + BBH_SIZE)?.to_vec();
        for k in (MIN_BLOCK as usize..=65536).step_by(512) {
            if look.len() < k + BBH_SIZE {
                break;
            }
            let h = &look[k..k + BBH_SIZE];
            if looks_like_bbh(h)
                && layout::get_u32(h, bbh::NUMBER) == 2
                && layout::get_u32(h, bbh::BLOCKSIZE) as usize == k
            {
                self.bs = k;
                self.host.warn(
                    &format!("block 1 has no valid header; block size {k} taken from block 2"),
                    Some(0),
                );
                return Ok(());
            }
        }
        Err(Error::corrupt(
            "not an OpenVMS BACKUP save set: no valid block header (size 256, subsystem 1, CRC-16 checksum) at offset 0, nor a block 2 at any multiple of 512 up to 64 KiB",
        )
        .at(0))
    }

    /// Labelled tapes: read the labels of the next save set (HDR1, HDR2, ... up to the tape
    /// mark). `None` at the logical end of the tape.
    pub fn begin_saveset(&mut self) -> Result<Option<Hdr1>> {
        let Input::Records(t) = &mut self.input else {
            return Ok(None);
        };
        let mut hdr1 = None;
        loop {
            match t.read()? {
                Unit::Mark => {
                    if hdr1.is_none() {
                        return Ok(None);
                    }
                    break;
                }
                Unit::End(_) => {
                    if hdr1.is_none() {
                        return Ok(None);
                    }
                    return Err(Error::truncated("the tape ends right after the header labels").at(t.offset));
                }
                Unit::Record { data, offset, .. } => match ansi::label_id(&data) {
                    Some(id) if &id == b"VOL1" => self.tape.volume_id = Some(ansi::vol1_id(&data)),
                    Some(id) if &id == b"HDR1" => hdr1 = Some(Hdr1::parse(&data)),
                    Some(id) if &id == b"HDR2" => {
                        let h2 = Hdr2::parse(&data);
                        if plausible_bs(h2.block_length) {
                            self.bs = h2.block_length as usize;
                        }
                        self.tape.hdr2 = Some(h2);
                    }
                    Some(_) => {}
                    None => {
                        return Err(Error::corrupt(format!(
                            "expected ANSI header labels (HDR1, HDR2) before the save set, found a {}-byte record",
                            data.len()
                        ))
                        .at(offset))
                    }
                },
            }
        }
        self.tape.hdr1 = hdr1.clone();
        self.reset();
        Ok(hdr1)
    }

    /// Labelled tapes: read over the rest of the current save set (blocks unchecked) and its
    /// trailer labels.
    pub fn skip_saveset(&mut self) -> Result<()> {
        self.ready.clear();
        while !self.ended {
            if let Raw::End = self.read_raw()? {
                self.ended = true;
            }
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.group = None;
        self.next_number = 1;
        self.volnum = 1;
        self.ready.clear();
        self.ended = false;
        self.fresh = true;
        self.gap_pending = false;
    }

    /// The block size is known and plausible.
    pub fn ready(&self) -> bool {
        plausible_bs(self.bs as u32)
    }

    /// Records mode: the trailer after a tape mark that ended a section. Returns true when
    /// the save set continues (on the next volume).
    fn trailer(&mut self) -> Result<bool> {
        let Input::Records(t) = &mut self.input else {
            return Ok(false);
        };
        let mut eov = false;
        let mut any = false;
        loop {
            match t.read()? {
                Unit::Mark => break,
                Unit::End(_) => break,
                Unit::Record { data, offset, .. } => match ansi::label_id(&data) {
                    Some(id) if id[..3] == *b"EOV" => {
                        eov = true;
                        any = true;
                    }
                    Some(id) if id[..3] == *b"EOF" => any = true,
                    Some(_) => any = true,
                    None if !self.labelled => {
                        // unlabelled tape: a record after the mark is a next save set
                        t.m.first = Some((RecordStatus::Data, data));
                        t.offset = offset;
                        return Ok(false);
                    }
                    None => {
                        return Err(Error::corrupt(format!(
                            "expected EOF1/EOV1 labels after the save set, found a {}-byte record",
                            data.len()
                        ))
                        .at(offset))
                    }
                },
            }
        }
        let off = t.offset;
        if !any && self.labelled {
            self.warn("save set not followed by EOF labels", off);
        }
        Ok(eov)
    }

    /// Ask the medium for the next volume; check its labels when labelled.
    fn switch_volume(&mut self, offset: u64) -> Result<bool> {
        let next = self.volnum + 1;
        let ok = match &mut self.input {
            Input::Bytes(s) => {
                let ok = s.medium_mut().next_volume(next)?;
                if ok {
                    s.resume();
                }
                ok
            }
            Input::Records(t) => t.m.next_volume(next)?,
        };
        if !ok {
            return Ok(false);
        }
        self.host
            .log(LogLevel::Info, &format!("continuing on volume {next}"));
        self.volnum = next;
        if self.labelled {
            let want = self.tape.hdr1.clone();
            let got = self.begin_section()?;
            if let (Some(w), Some(g)) = (&want, &got) {
                if w.file_id != g.file_id {
                    return Err(Error::corrupt(format!(
                        "volume {next} holds save set '{}', expected the continuation of '{}'",
                        g.file_id, w.file_id
                    ))
                    .at(offset));
                }
                if g.section != w.section + 1 {
                    self.warn(
                        &format!(
                            "volume {next}: file section {} where {} was expected",
                            g.section,
                            w.section + 1
                        ),
                        offset,
                    );
                }
            }
            if got.is_none() {
                return Err(Error::corrupt(format!(
                    "volume {next} has no HDR1 label continuing the save set"
                ))
                .at(0));
            }
            self.tape.hdr1 = got;
        }
        Ok(true)
    }

    /// Labels at the start of a continuation volume, without resetting the block state.
    fn begin_section(&mut self) -> Result<Option<Hdr1>> {
        let (group, next, vol, fresh) = (self.group, self.next_number, self.volnum, self.fresh);
        let ready = std::mem::take(&mut self.ready);
        let h = self.begin_saveset()?;
        self.group = group;
        self.next_number = next;
        self.volnum = vol;
        self.fresh = fresh;
        self.ready = ready;
        Ok(h)
    }

    /// The next raw block of the save set.
    fn read_raw(&mut self) -> Result<Raw> {
        // a volume that ends without a single record after a switch ends the set (so a
        // medium that always has "another volume" cannot keep us asking)
        let mut switched = false;
        loop {
            match &mut self.input {
                Input::Bytes(s) => {
                    let bs = self.bs;
                    let have = s.fill(bs)?;
                    if have >= bs {
                        let offset = s.offset();
                        let data = s.peek(bs)?.to_vec();
                        s.consume(bs);
                        return Ok(Raw::Block { data, offset });
                    }
                    if s.at_tape_mark() {
                        s.next_file();
                        return Ok(Raw::End);
                    }
                    let offset = s.offset();
                    if self.mid_group && !(switched && have == 0) {
                        if self.switch_volume(offset)? {
                            switched = true;
                            continue;
                        }
                        self.warn_cut(offset);
                    }
                    let Input::Bytes(s) = &mut self.input else {
                        return Ok(Raw::End);
                    };
                    if have == 0 {
                        return Ok(Raw::End);
                    }
                    // a partial last block: hand it on (it fails its checks) and end
                    let offset = s.offset();
                    let data = s.peek(have)?.to_vec();
                    s.consume(have);
                    return Ok(Raw::Block { data, offset });
                }
                Input::Records(t) => match t.read()? {
                    Unit::Record { data, offset, .. } if ansi::label_id(&data).is_some() => {
                        // labels without a tape mark before them: treat as the trailer
                        t.m.first = Some((RecordStatus::Data, data));
                        t.offset = offset;
                        if self.trailer()? {
                            if self.switch_volume(offset)? {
                                continue;
                            }
                            return Err(self.volume_missing(offset));
                        }
                        return Ok(Raw::End);
                    }
                    Unit::Record { data, offset, bad } => {
                        if bad {
                            self.warn("the medium flags this tape record as bad", offset);
                        }
                        return Ok(Raw::Block { data, offset });
                    }
                    Unit::Mark => {
                        let offset = t.offset;
                        if self.trailer()? {
                            if self.switch_volume(offset)? {
                                continue;
                            }
                            return Err(self.volume_missing(offset));
                        }
                        return Ok(Raw::End);
                    }
                    Unit::End(status) => {
                        let offset = t.offset;
                        if !switched
                            && (status == RecordStatus::EndOfMedium
                                || (!self.labelled && self.mid_group))
                        {
                            if self.switch_volume(offset)? {
                                switched = true;
                                continue;
                            }
                            if self.mid_group {
                                self.warn_cut(offset);
                            }
                        }
                        if self.labelled {
                            self.warn(
                                "the tape ends inside a save set (no tape mark and EOF labels)",
                                offset,
                            );
                        }
                        return Ok(Raw::End);
                    }
                },
            }
        }
    }

    fn warn_cut(&self, offset: u64) {
        self.warn(
            &format!(
                "the input ends inside an XOR group: the save set is cut short, or it continues on volume {} which was not given (a list of volumes, a pattern such as out%02d.bck, or --next-volume)",
                self.volnum + 1
            ),
            offset,
        );
    }

    fn volume_missing(&self, offset: u64) -> Error {
        Error::media(format!(
            "the save set continues on volume {} (EOV labels), which is not available: give the volumes of the set (volumes=...)",
            self.volnum + 1
        ))
        .at(offset)
    }

    /// Input offset of the next unread byte or record.
    pub fn offset_now(&self) -> u64 {
        match &self.input {
            Input::Bytes(s) => s.offset(),
            Input::Records(t) => t.offset,
        }
    }

    /// Collect, check and repair the next group; queue its data blocks.
    fn fill(&mut self) -> Result<()> {
        let mut bs = self.bs;
        let mut g = Group::default();
        let mut ended = false;
        loop {
            let limit = self.group.unwrap_or(MAX_GROUP);
            let data_slots = g.slots.iter().filter(|s| !s.is_xor()).count() as u32;
            if g.slots.last().is_some_and(|s| s.is_xor()) {
                break;
            }
            if limit == 0 && !g.slots.is_empty() {
                break;
            }
            if limit > 0 && data_slots > limit {
                break;
            }
            // (a bad last block may be the group's XOR block: no evidence then)
            self.mid_group =
                self.group.unwrap_or(0) > 0 && g.slots.last().is_some_and(|s| s.good());
            let raw = self.read_raw()?;
            let Raw::Block { data, offset } = raw else {
                ended = true;
                break;
            };
            if self.fresh
                && data.len() != bs
                && looks_like_bbh(&data)
                && layout::get_u32(&data, bbh::BLOCKSIZE) as usize == data.len()
                && plausible_bs(data.len() as u32)
            {
                self.warn(
                    &format!(
                        "the labels say blocks of {bs} bytes, the first block has {}: using that",
                        data.len()
                    ),
                    offset,
                );
                self.bs = data.len();
                bs = self.bs;
            }
            let v = xor::examine(&data, bs);
            if v.ok {
                if v.applic == bbh::APPLIC_DATA
                    && v.volnum as u32 != self.volnum
                    && !self.warned_volnum
                {
                    self.warned_volnum = true;
                    self.warn(
                        &format!(
                            "block {} says volume {}, the medium is on volume {}",
                            v.number, v.volnum, self.volnum
                        ),
                        offset,
                    );
                }
                if v.number < self.next_number {
                    let first = g.first_number().unwrap_or(self.next_number);
                    self.stats.duplicates += 1;
                    if v.number >= first {
                        let i = (v.number - first) as usize;
                        self.host.log(
                            LogLevel::Info,
                            &format!("block {} appears again (rewritten after a tape error): the later copy is used", v.number),
                        );
                        g.slots[i] = Slot {
                            number: v.number,
                            data: Some(data),
                            verdict: Some(v),
                            offset,
                        };
                    } else {
                        self.warn(
                            &format!(
                                "duplicate of block {} after its group was used: ignored",
                                v.number
                            ),
                            offset,
                        );
                    }
                    continue;
                }
                if v.number > self.next_number {
                    let gap = v.number - self.next_number;
                    if gap > MAX_GROUP + 1 {
                        // a number that far ahead is not believable: treat the block as bad
                        let number = self.next_number;
                        self.next_number += 1;
                        let mut v = v;
                        v.ok = false;
                        v.problem = Some(format!(
                            "block number {} where {number} was expected",
                            v.number
                        ));
                        g.slots.push(Slot {
                            number,
                            data: Some(data),
                            verdict: Some(v),
                            offset,
                        });
                        continue;
                    }
                    self.warn(
                        &format!(
                            "blocks {} to {} are missing from the input",
                            self.next_number,
                            v.number - 1
                        ),
                        offset,
                    );
                    for n in self.next_number..v.number {
                        g.slots.push(Slot {
                            number: n,
                            data: None,
                            verdict: None,
                            offset,
                        });
                    }
                }
                self.next_number = v.number + 1;
                if v.applic == bbh::APPLIC_XOR {
                    self.stats.xor_blocks += 1;
                } else {
                    self.stats.data_blocks += 1;
                }
                if self.fresh && v.number == 1 && self.group.is_none() {
                    self.group = summary_group(&data).filter(|&n| n <= MAX_GROUP);
                }
                g.slots.push(Slot {
                    number: v.number,
                    data: Some(data),
                    verdict: Some(v),
                    offset,
                });
            } else {
                self.stats.bad_blocks += 1;
                let number = self.next_number;
                self.next_number += 1;
                g.slots.push(Slot {
                    number,
                    data: Some(data),
                    verdict: Some(v),
                    offset,
                });
            }
            self.fresh = false;
        }
        if ended {
            self.ended = true;
        }
        if g.slots.is_empty() {
            return Ok(());
        }
        // trailing padding (zero blocks after the last group) is not damage
        if ended
            && g.slots
                .iter()
                .all(|s| !s.good() && s.data.as_ref().is_some_and(|d| d.iter().all(|&b| b == 0)))
        {
            let off = g.slots[0].offset;
            self.warn(
                &format!(
                    "{} zero-filled block(s) after the end of the save set ignored",
                    g.slots.len()
                ),
                off,
            );
            return Ok(());
        }
        if self.group.is_none() {
            // learn the group size from where the XOR block stood
            if let Some(x) = g.slots.iter().position(|s| s.is_xor()) {
                self.group = Some(x as u32);
            }
        }
        let full = self
            .group
            .is_some_and(|n| n > 0 && g.slots.len() as u32 == n + 1);
        let xor_last = full
            || (ended
                && self.group.unwrap_or(0) > 0
                && !g.slots.iter().any(|s| s.is_xor())
                && g.slots.last().is_some_and(|s| !s.good())
                && g.slots.len() > 1);
        match g.repair(xor_last, bs) {
            Outcome::Clean => {}
            Outcome::XorLost => {
                let s = g
                    .slots
                    .last()
                    .map(|s| (s.number, s.offset, s.describe()))
                    .unwrap_or_default();
                self.warn(
                    &format!(
                        "XOR block {} is damaged ({}); its group's data blocks are all good",
                        s.0, s.2
                    ),
                    s.1,
                );
            }
            Outcome::Rebuilt(n) => {
                self.stats.repaired += 1;
                let s = g
                    .slots
                    .iter()
                    .find(|s| s.number == n)
                    .map(|s| s.offset)
                    .unwrap_or(0);
                self.warn(
                    &format!("block {n} was damaged or missing and was rebuilt from its XOR group"),
                    s,
                );
            }
            Outcome::Lost(nums) => {
                let first = g.slots.iter().find(|s| nums.contains(&s.number)).cloned();
                let (off, why) = first
                    .map(|s| (s.offset, s.describe()))
                    .unwrap_or((self.offset_now(), String::new()));
                let what = format!(
                    "block {} is damaged ({why}) and cannot be rebuilt: {}",
                    nums.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if self.group.unwrap_or(0) == 0 {
                        "the save set has no XOR groups".to_string()
                    } else {
                        format!("{} bad blocks in one XOR group", nums.len().max(1))
                    }
                );
                if !self.salvage {
                    return Err(Error::corrupt(format!(
                        "{what} (salvage skips the damaged files)"
                    ))
                    .at(off));
                }
                self.stats.lost += nums.len() as u64;
                self.warn(&format!("{what}; skipping it"), off);
                self.gap_pending = true;
            }
        }
        for s in g.slots {
            let good = s.good();
            if good && !s.is_xor() {
                if let Some(data) = s.data {
                    self.ready.push_back(Block {
                        data,
                        number: s.number,
                        offset: s.offset,
                        after_gap: std::mem::take(&mut self.gap_pending),
                    });
                }
            } else if !good && !s.is_xor() && self.salvage {
                self.gap_pending = true;
            }
        }
        Ok(())
    }

    /// The next data block of the current save set, `None` at its end.
    pub fn next_block(&mut self) -> Result<Option<Block>> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Ok(Some(b));
            }
            if self.ended {
                return Ok(None);
            }
            if !self.ready() && !self.learn_block_size()? {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Records mode without a usable HDR2: the block size is the first block's length.
    fn learn_block_size(&mut self) -> Result<bool> {
        let Input::Records(t) = &mut self.input else {
            return Ok(false);
        };
        match t.read()? {
            Unit::Record { data, offset, bad } => {
                let ok = looks_like_bbh(&data) && plausible_bs(data.len() as u32);
                if ok {
                    self.bs = data.len();
                }
                t.m.first = Some((
                    if bad {
                        RecordStatus::Bad
                    } else {
                        RecordStatus::Data
                    },
                    data,
                ));
                t.offset = offset;
                if !ok {
                    return Err(Error::corrupt(
                        "the first block of the save set has no valid header, and the HDR2 label gives no block size",
                    )
                    .at(offset));
                }
                Ok(true)
            }
            Unit::Mark | Unit::End(_) => {
                self.ended = true;
                Ok(false)
            }
        }
    }

    /// Whether the input has more (for tapes: another save set may follow).
    pub fn is_records(&self) -> bool {
        matches!(self.input, Input::Records(_))
    }
}
