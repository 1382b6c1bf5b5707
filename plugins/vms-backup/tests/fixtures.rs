//! The committed fixtures (made by the independent Python builder `fixtures/vms-backup/
//! mkbackup.py`) against the builder's own expectations (`expected.json`: paths, kinds, raw
//! and text sha256 computed from the builder's source lines), every one read through the
//! hostile medium; tapes through an in-memory SIMH parse; the two-volume tape through a
//! medium that switches volumes.

mod common;

use common::*;
use relic_format_vms_backup::{ReadOptions, RecordsMode, Versions};
use relic_model::{
    DataState, EntryKind, Medium, MediumInfo, Position, RecordRead, Result, Space, WriteStatus,
};
use relic_plugin_sdk::testing::{HostileMedium, Member, MemoryMedium};
use serde_json::Value;

fn expected() -> Value {
    serde_json::from_slice(&std::fs::read(fixtures().join("expected.json")).expect("expected.json"))
        .expect("json")
}

/// A SIMH image as records and tape marks.
pub fn simh(data: &[u8]) -> MemoryMedium {
    let mut m = MemoryMedium::new(0);
    let mut p = 0;
    while p + 4 <= data.len() {
        let n = u32::from_le_bytes(data[p..p + 4].try_into().expect("4")) as usize;
        p += 4;
        if n == 0 {
            m.push_mark();
            continue;
        }
        if n == 0xffff_ffff {
            break;
        }
        m.push_record(&data[p..p + n]);
        p += n + (n & 1) + 4;
    }
    m
}

fn open(name: &str) -> Box<dyn Medium> {
    let data = std::fs::read(fixtures().join(name)).expect("fixture");
    if name.ends_with(".tap") {
        Box::new(simh(&data))
    } else {
        Box::new(HostileMedium::new(data, &[]))
    }
}

fn check(name: &str, members: &[Member], want: &[Value], mode: RecordsMode) {
    let paths: Vec<String> = members.iter().map(|m| m.entry.display_path()).collect();
    let want_paths: Vec<&str> = want
        .iter()
        .map(|w| w["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, want_paths, "{name}");
    for (m, w) in members.iter().zip(want) {
        let p = m.entry.display_path();
        match w["kind"].as_str().expect("kind") {
            "dir" => assert_eq!(m.entry.kind, EntryKind::Dir, "{name}: {p}"),
            "hardlink" => {
                assert_eq!(m.entry.kind, EntryKind::HardLink, "{name}: {p}");
                assert_eq!(
                    m.entry.link_target.as_deref(),
                    w["target"].as_str().map(str::as_bytes)
                );
            }
            "absent" => {
                assert_eq!(m.entry.data, DataState::Absent, "{name}: {p}");
                assert_eq!(m.entry.size, w["size"].as_u64().expect("size"));
            }
            _ => {
                assert_eq!(m.entry.kind, EntryKind::File, "{name}: {p}");
                let key = match (mode, w.get("text_sha256")) {
                    (RecordsMode::Raw, _) | (_, None) => "raw_sha256",
                    _ => "text_sha256",
                };
                assert_eq!(
                    sha256(&m.data),
                    w[key].as_str().expect("sha"),
                    "{name}: {p} ({key})"
                );
                assert_eq!(m.entry.size, m.data.len() as u64, "{name}: {p}");
            }
        }
    }
}

#[test]
fn every_fixture_reads_as_its_builder_says() {
    let exp = expected();
    for (name, want) in exp.as_object().expect("object") {
        if name.starts_with("multivol/") || name.starts_with("damaged/") {
            continue;
        }
        for mode in [RecordsMode::Auto, RecordsMode::Raw] {
            let (r, host) = read_medium(
                open(name),
                ReadOptions {
                    records: mode,
                    ..ReadOptions::default()
                },
            );
            let (vol, members) = r.unwrap_or_else(|e| panic!("{name}: {e}"));
            check(name, &members, want.as_array().expect("list"), mode);
            let warnings = host.all();
            if name == "formats.bck" && mode == RecordsMode::Auto {
                assert_eq!(warnings.len(), 1, "{warnings:?}");
                assert!(
                    warnings[0].contains("NOTVAR.DAT: not valid VAR records"),
                    "{}",
                    warnings[0]
                );
            } else {
                assert!(warnings.is_empty(), "{name}: {warnings:?}");
            }
            if name == "image.bck" {
                assert_eq!(vol.variant, "image");
                let x = |k: &str| {
                    vol.extras
                        .iter()
                        .find(|e| e.key == k)
                        .map(|e| String::from_utf8_lossy(&e.value).into_owned())
                };
                assert_eq!(x("vms.volume1.volname").as_deref(), Some("RELICVOL"));
                assert_eq!(x("vms.volume1.cluster").as_deref(), Some("3"));
                assert_eq!(x("vms.volume1.maxfiles").as_deref(), Some("1000"));
                assert_eq!(x("vms.volsetnam").as_deref(), Some("RELICVOL"));
            }
            if name == "physical.bck" {
                assert_eq!(vol.variant, "physical");
            }
        }
    }
}

#[test]
fn versions_latest_leaves_older_versions_out() {
    let (r, _) = read_medium(
        open("formats.bck"),
        ReadOptions {
            versions: Versions::Latest,
            ..ReadOptions::default()
        },
    );
    let (_, members) = r.expect("reads");
    let paths: Vec<String> = members.iter().map(|m| m.entry.display_path()).collect();
    assert!(paths.contains(&"TEXT/NOTES.TXT".to_string()));
    assert!(!paths.iter().any(|p| p.contains(';')), "{paths:?}");
    let notes = members
        .iter()
        .find(|m| m.entry.path == b"TEXT/NOTES.TXT")
        .expect("notes");
    assert_eq!(extra(notes, "vms.version").as_deref(), Some("3"));
    assert_eq!(
        extra(notes, "vms.name").as_deref(),
        Some("[TEXT]NOTES.TXT;3")
    );
}

#[test]
fn metadata_of_the_formats_fixture() {
    let (r, _) = read_medium(open("formats.bck"), ReadOptions::default());
    let (vol, members) = r.expect("reads");
    assert_eq!(vol.label.as_deref(), Some(&b"FORMATS.BCK"[..]));
    assert_eq!(vol.host.as_deref(), Some(&b"_RELIC::"[..]));
    let get = |p: &str| {
        members
            .iter()
            .find(|m| m.entry.path == p.as_bytes())
            .expect(p)
    };
    let unix = get("TEXT/UNIX.C");
    assert_eq!(unix.entry.acls.len(), 1);
    assert_eq!(unix.entry.acls[0].kind, "vms.acl");
    // (S:RWED,O:RWED,G:RE,W:) -> rwxr-x---; UIC [1,4] -> uid 4 gid 1
    assert_eq!(unix.entry.mode, 0o750);
    assert_eq!((unix.entry.uid, unix.entry.gid), (4, 1));
    assert_eq!(
        extra(unix, "vms.credate").as_deref(),
        Some("2000-01-01 00:00:00.0000000")
    );
    assert_eq!(unix.entry.mtime.map(|t| t.secs), Some(946_771_200));
    let idx = get("BIN/KEYED.IDX");
    assert_eq!(extra(idx, "vms.org").as_deref(), Some("idx"));
    assert_eq!(idx.entry.size, 5 * 512);
    let rep = get("TEXT/REPORT.LIS");
    assert_eq!(extra(rep, "vms.rfm").as_deref(), Some("vfc"));
    assert_eq!(extra(rep, "vms.rat").as_deref(), Some("prn"));
    assert_eq!(extra(rep, "vms.fsz").as_deref(), Some("2"));
    assert_eq!(
        extra(get("NOTES.TXT"), "vms.brh-flags").as_deref(),
        Some("0x10")
    );
    // honouring PRN: prefix 0x02 adds a blank line
    let (r, _) = read_medium(
        open("formats.bck"),
        ReadOptions {
            prn: true,
            ..ReadOptions::default()
        },
    );
    let (_, m2) = r.expect("reads");
    let rep = m2
        .iter()
        .find(|m| m.entry.path == b"TEXT/REPORT.LIS")
        .expect("report");
    assert_eq!(rep.data, b"page heading\n\nbody line\n\n");
}

/// Two tape images as one medium with volumes.
struct TwoReels {
    reels: Vec<MemoryMedium>,
    cur: usize,
    asked: Vec<u32>,
}

impl Medium for TwoReels {
    fn info(&self) -> MediumInfo {
        self.reels[self.cur].info()
    }
    fn read_record(&mut self, buf: &mut [u8]) -> Result<RecordRead> {
        self.reels[self.cur].read_record(buf)
    }
    fn write_record(&mut self, d: &[u8]) -> Result<WriteStatus> {
        self.reels[self.cur].write_record(d)
    }
    fn write_tape_mark(&mut self) -> Result<WriteStatus> {
        self.reels[self.cur].write_tape_mark()
    }
    fn position(&self) -> Position {
        self.reels[self.cur].position()
    }
    fn space(&mut self, op: Space, n: i64) -> Result<i64> {
        self.reels[self.cur].space(op, n)
    }
    fn next_volume(&mut self, number: u32) -> Result<bool> {
        self.asked.push(number);
        if (number as usize) <= self.reels.len() {
            self.cur = number as usize - 1;
            Ok(true)
        } else {
            Ok(false)
        }
    }
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_save_set_continues_on_the_second_reel() {
    let exp = expected();
    let want = exp["multivol/split-1.tap"].as_array().expect("list");
    let read = |n: &str| simh(&std::fs::read(fixtures().join("multivol").join(n)).expect("reel"));
    let reels = TwoReels {
        reels: vec![read("split-1.tap"), read("split-2.tap")],
        cur: 0,
        asked: vec![],
    };
    let (r, host) = read_medium(reels, ReadOptions::default());
    let (_, members) = r.expect("both reels");
    check("split", &members, want, RecordsMode::Auto);
    assert!(host.all().is_empty(), "{:?}", host.all());
    // reel 1 alone: the error names the missing volume
    let one = TwoReels {
        reels: vec![read("split-1.tap")],
        cur: 0,
        asked: vec![],
    };
    let (r, _) = read_medium(one, ReadOptions::default());
    let e = r.expect_err("reel 2 missing");
    assert!(e.message.contains("volume 2"), "{}", e.message);
    // the reels swapped: the first is not the start
    let swapped = TwoReels {
        reels: vec![read("split-2.tap"), read("split-1.tap")],
        cur: 0,
        asked: vec![],
    };
    let (r, _) = read_medium(swapped, ReadOptions::default());
    assert!(r.is_err());
}

#[test]
fn encrypted_files_are_refused_or_with_salvage_left_out() {
    let exp = expected();
    let (r, _) = read_medium(open("damaged/encrypted.bck"), ReadOptions::default());
    let e = r.expect_err("encrypted");
    assert_eq!(e.kind, relic_model::ErrorKind::Unsupported);
    assert!(
        e.message.contains("SECRET.DAT;1 is encrypted"),
        "{}",
        e.message
    );
    let (r, host) = read_medium(
        open("damaged/encrypted.bck"),
        ReadOptions {
            salvage: true,
            ..ReadOptions::default()
        },
    );
    let (_, members) = r.expect("salvage");
    check(
        "encrypted",
        &members,
        exp["damaged/encrypted.bck"].as_array().expect("list"),
        RecordsMode::Auto,
    );
    assert!(
        host.all()[0].contains("its data is left out"),
        "{:?}",
        host.all()
    );
}
