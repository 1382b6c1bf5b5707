//! The sink under random input: entry paths and link targets of random bytes (with `/`,
//! `..`, `.`, NUL, empty components, absolute paths and symlinks pointing out of the target)
//! and random kinds and data. It must never panic and never write outside its target.
//!
//! The directory source has no byte input to fuzz (its input is a file system), so this is
//! the `fs` plugin's robustness test. Deterministic (xorshift), so a failure replays.

use relic_model::{Device, Entry, EntryKind, VolumeInfo};
use relic_plugin_sdk::Options;

use crate::common::*;
use crate::safety::Sandbox;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

fn component(rng: &mut Rng) -> Vec<u8> {
    const WORDS: [&[u8]; 12] = [
        b"a", b"b", b"link", b"up", b"abs", b"..", b".", b"", b"x\0y", b"...", b"d", b"f",
    ];
    if rng.below(4) == 0 {
        // random bytes, '/' and NUL included
        (0..1 + rng.below(5))
            .map(|_| {
                let random = rng.next() as u8;
                *rng.pick(&[b'/', 0, b'.', b'a', 0xff, b'\\', random])
            })
            .collect()
    } else {
        rng.pick(&WORDS).to_vec()
    }
}

fn path(rng: &mut Rng) -> Vec<u8> {
    let n = 1 + rng.below(4);
    let mut p = if rng.below(8) == 0 {
        b"/".to_vec()
    } else {
        Vec::new()
    };
    for i in 0..n {
        if i > 0 {
            p.push(b'/');
        }
        p.extend(component(rng));
    }
    p
}

fn link_target(rng: &mut Rng, s: &Sandbox) -> Vec<u8> {
    let outside = s.outside.as_os_str().as_encoded_bytes().to_vec();
    let root = s.root.as_os_str().as_encoded_bytes().to_vec();
    match rng.below(6) {
        0 => b"..".to_vec(),
        1 => b"../outside".to_vec(),
        2 => outside,
        3 => root,
        4 => b"../victim".to_vec(),
        _ => path(rng),
    }
}

#[test]
fn random_entries_never_escape_or_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let kinds = [
        EntryKind::File,
        EntryKind::File,
        EntryKind::Dir,
        EntryKind::Symlink,
        EntryKind::Symlink,
        EntryKind::HardLink,
        EntryKind::Fifo,
        EntryKind::CharDevice,
        EntryKind::Socket,
    ];
    let mut refused = 0usize;
    for round in 0..120 {
        let s = Sandbox::new();
        let host = RecordingHost::new();
        let mut w = open_writer(&s.target, &Options::new(), &host);
        w.begin_archive(&VolumeInfo::default()).expect("begin");
        for _ in 0..40 {
            let kind = *rng.pick(&kinds);
            let mut e = Entry::new(path(&mut rng), kind);
            e.mode = (rng.next() & 0o7777) as u32 | 0o700;
            match kind {
                EntryKind::Symlink | EntryKind::HardLink => {
                    e.link_target = Some(link_target(&mut rng, &s))
                }
                EntryKind::CharDevice => e.rdev = Some(Device { major: 1, minor: 3 }),
                EntryKind::File => e.size = rng.below(70_000),
                _ => {}
            }
            w.begin_entry(&e)
                .unwrap_or_else(|err| panic!("round {round}: begin_entry {e:?}: {err}"));
            if kind == EntryKind::File {
                for _ in 0..rng.below(4) {
                    let off = rng.below(e.size + 100);
                    let len = rng.below(5000) as usize;
                    if rng.below(3) == 0 {
                        w.write_hole(off, len as u64).expect("hole");
                    } else {
                        w.write_data(off, &vec![0xa5; len]).expect("data");
                    }
                }
            }
            w.end_entry().expect("end entry");
        }
        w.finish().expect("finish");
        drop(w);
        s.assert_contained();
        refused += host
            .all()
            .iter()
            .filter(|m| m.starts_with("refusing"))
            .count();
        make_removable(&s.root);
    }
    assert!(
        refused > 100,
        "the generator does produce hostile entries ({refused} refusals)"
    );
}
