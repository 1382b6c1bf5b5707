//! Every fixture made by the independent builder lists and extracts as the builder says it
//! should (expected.json): variant detected, names rebuilt from the directory tree, hard
//! links, metadata, contents and holes; read through the hostile medium. The multi-volume set
//! is read as separate volumes and as one concatenated input.

use relic_format_xenix_backup::{read, ReadOptions};
use relic_model::{EntryKind, ErrorKind};
use relic_plugin_sdk::testing::Member;
use serde_json::Value;

use crate::common::*;

fn kind_name(k: EntryKind) -> &'static str {
    match k {
        EntryKind::HardLink => "hardlink",
        k => k.name(),
    }
}

/// Compare what the reader produced with the builder's description of the file system.
fn check(name: &str, exp: &Value, members: &[Member]) {
    let mut seen_paths = 0;
    for rec in exp["entries"].as_array().expect("entries") {
        let names: Vec<Vec<u8>> = rec["names"]
            .as_array()
            .expect("names")
            .iter()
            .map(|n| {
                // the builder wrote names as Latin-1 text
                n.as_str()
                    .expect("str")
                    .chars()
                    .map(|c| c as u32 as u8)
                    .collect()
            })
            .collect();
        let ms: Vec<&Member> = names.iter().map(|n| member(members, n)).collect();
        seen_paths += ms.len();
        // exactly one name carries the inode, the others are hard links to it
        let primary: Vec<&&Member> = ms
            .iter()
            .filter(|m| m.entry.kind != EntryKind::HardLink)
            .collect();
        assert_eq!(primary.len(), 1, "{name}: {names:?}: one primary entry");
        let p = primary[0];
        for m in &ms {
            if m.entry.kind == EntryKind::HardLink {
                assert_eq!(
                    m.entry.link_target.as_deref(),
                    Some(p.entry.path.as_slice()),
                    "{name}: hard link target"
                );
            }
        }
        let e = &p.entry;
        let what = format!("{name}: {}", e.display_path());
        assert_eq!(
            kind_name(e.kind),
            rec["kind"].as_str().expect("kind"),
            "{what}"
        );
        assert_eq!(
            u64::from(e.mode),
            rec["mode"].as_u64().expect("mode"),
            "{what} mode"
        );
        assert_eq!(e.uid, rec["uid"].as_u64().expect("uid"), "{what} uid");
        assert_eq!(e.gid, rec["gid"].as_u64().expect("gid"), "{what} gid");
        assert_eq!(
            e.mtime.map(|t| t.secs),
            rec["mtime"].as_i64(),
            "{what} mtime"
        );
        assert_eq!(
            e.atime.map(|t| t.secs),
            rec["atime"].as_i64(),
            "{what} atime"
        );
        assert_eq!(
            u64::from(e.nlink),
            rec["nlink"].as_u64().expect("nlink"),
            "{what} nlink"
        );
        assert_eq!(e.inode, rec["ino"].as_u64(), "{what} inode");
        assert_eq!(e.size, rec["size"].as_u64().expect("size"), "{what} size");
        if let Some(r) = rec.get("rdev") {
            let d = e.rdev.expect("device numbers");
            assert_eq!(
                (u64::from(d.major), u64::from(d.minor)),
                (r[0].as_u64().expect("major"), r[1].as_u64().expect("minor")),
                "{what} rdev"
            );
        }
        if let Some(h) = rec.get("sha256") {
            assert_eq!(
                sha256(&p.data),
                h.as_str().expect("hash"),
                "{what} contents"
            );
            let runs: Vec<(u64, u64)> = rec["data"]
                .as_array()
                .expect("data runs")
                .iter()
                .map(|r| (r[0].as_u64().expect("off"), r[1].as_u64().expect("len")))
                .collect();
            assert_eq!(data_runs(p), runs, "{what} data runs (the rest are holes)");
            if let Some(map) = &e.data_map {
                assert_eq!(map, &runs, "{what} announced data map");
            }
        }
    }
    assert_eq!(
        seen_paths,
        members.len(),
        "{name}: no entries beyond the expected ones"
    );
}

#[test]
fn every_fixture_reads_as_the_builder_made_it() {
    let exp = expected();
    let names = fixture_names();
    assert!(names.len() >= 7, "fixtures: {names:?}");
    for name in names {
        let e = &exp[name.as_str()];
        let data = fixture(&name);
        let (r, warnings) = read_hostile(&data);
        let (vol, members) = r.unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        assert_eq!(
            vol.variant,
            e["variant"].as_str().expect("variant"),
            "{name}"
        );
        assert_eq!(vol.format, "xenix-backup");
        assert_eq!(vol.volume, Some(1));
        assert_eq!(vol.date.map(|d| d.secs), e["date"].as_i64(), "{name}");
        assert_eq!(vol.since, None, "{name}: a full dump");
        check(&name, e, &members);
        // directories come before what they hold
        for (i, m) in members.iter().enumerate() {
            if let Some(pos) = m.entry.path.iter().rposition(|&c| c == b'/') {
                let parent = &m.entry.path[..pos];
                let j = members
                    .iter()
                    .position(|p| p.entry.path == parent)
                    .unwrap_or_else(|| panic!("{name}: no parent for {}", m.entry.display_path()));
                assert!(
                    j < i,
                    "{name}: {} before its directory",
                    m.entry.display_path()
                );
            }
        }
    }
}

#[test]
fn the_probe_bids_on_every_fixture_and_finds_its_variant() {
    let exp = expected();
    for name in fixture_names() {
        let data = fixture(&name);
        let head = &data[..data.len().min(read::PROBE_BYTES)];
        let b = read::bid(head);
        assert!(b >= 64, "{name}: bid {b}");
        let d = read::detect(head, &ReadOptions::default()).expect("detected");
        assert_eq!(
            d.variant.name(),
            exp[name.as_str()]["variant"].as_str().expect("variant"),
            "{name}"
        );
    }
    for junk in [
        vec![0u8; 4096],
        vec![0xffu8; 4096],
        b"not a dump".to_vec(),
        vec![],
    ] {
        assert_eq!(read::bid(&junk), 0);
    }
    // a tar header is not a dump
    let mut tar = vec![0u8; 1024];
    tar[..5].copy_from_slice(b"hello");
    tar[257..263].copy_from_slice(b"ustar\0");
    assert_eq!(read::bid(&tar), 0);
}

#[test]
fn forcing_the_byte_order_reads_pdp11_as_intel_wrongly_but_without_panic() {
    // The PDP-11 fixture read as Intel: the 16-bit structure is the same, the 32-bit values
    // (sizes, times) are word-swapped. This documents why the order is detected.
    let data = fixture("v7-pdp11.dump");
    let opts = ReadOptions {
        byte_order: Some(relic_format_xenix_backup::ByteOrder::Intel),
        ..ReadOptions::default()
    };
    let (r, _) = read_set(vec![data.clone()], opts);
    match r {
        Ok((vol, members)) => {
            assert_eq!(vol.variant, "intel-short-512");
            let passwd = member(&members, b"etc/passwd");
            assert_eq!(passwd.entry.size, 76 << 16, "sizes come out word-swapped");
        }
        Err(e) => assert!(matches!(
            e.kind,
            ErrorKind::Unsupported | ErrorKind::Corrupt | ErrorKind::Truncated
        )),
    }
    let (vol, members) = read_ok(&data);
    assert_eq!(vol.variant, "pdp11-short-512");
    assert_eq!(member(&members, b"etc/passwd").entry.size, 76);
}

fn multivol() -> (Value, Vec<Vec<u8>>) {
    let exp = expected();
    let e = exp["multivol"].clone();
    let vols: Vec<Vec<u8>> = e["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .map(|v| fixture(v.as_str().expect("name")))
        .collect();
    (e, vols)
}

#[test]
fn the_multi_volume_set_reads_across_volumes() {
    let (e, vols) = multivol();
    assert_eq!(vols.len(), 3);
    let (r, w) = read_set(vols.clone(), ReadOptions::default());
    let (vol, members) = r.unwrap_or_else(|err| panic!("{err}"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(vol.volume, Some(1));
    check("multivol", &e, &members);
}

#[test]
fn a_concatenated_set_reads_with_and_without_volume_size() {
    let (e, vols) = multivol();
    let all = vols.concat();
    for vs in [None, Some(20480)] {
        let opts = ReadOptions {
            volume_size: vs,
            ..ReadOptions::default()
        };
        let (r, w) = read_set(vec![all.clone()], opts);
        let (_, members) = r.unwrap_or_else(|err| panic!("{vs:?}: {err}"));
        check("multivol concatenated", &e, &members);
        if vs.is_none() {
            assert_eq!(
                w.iter()
                    .filter(|(m, _)| m.contains("follows in the same input"))
                    .count(),
                2,
                "{w:?}"
            );
        }
    }
}

#[test]
fn volumes_out_of_order_missing_or_foreign_are_named() {
    let (_, vols) = multivol();
    // wrong order
    let (r, _) = read_set(
        vec![vols[0].clone(), vols[2].clone(), vols[1].clone()],
        ReadOptions::default(),
    );
    let e = r.expect_err("volume 3 given as volume 2");
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(
        e.message.contains("is volume 3") && e.message.contains("volume 2 was expected"),
        "{e}"
    );
    // missing
    let (r, _) = read_set(vec![vols[0].clone()], ReadOptions::default());
    let e = r.expect_err("only volume 1");
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
    assert!(e.message.contains("volume 2"), "{e}");
    // a volume of another dump (same layout, other date)
    let mut other = vols[1].clone();
    let v = relic_format_xenix_backup::Variant::XENIX_512;
    let mut h = v.parse(&other[..512]);
    h.date += 1;
    let flags = v.flags(&other[..512], h.count).to_vec();
    v.encode(&h, &flags, &mut other[..512]);
    let (r, _) = read_set(vec![vols[0].clone(), other], ReadOptions::default());
    let e = r.expect_err("foreign volume");
    assert!(e.message.contains("another dump"), "{e}");
    // starting with volume 2
    let (r, _) = read_set(vec![vols[1].clone()], ReadOptions::default());
    let e = r.expect_err("volume 2 first");
    assert!(
        e.message.contains("volume 2") && e.message.contains("starts with volume 1"),
        "{e}"
    );
}

#[test]
fn small_read_buffers_get_the_same_bytes() {
    use relic_format_xenix_backup::XenixReader;
    use relic_model::{Chunk, FormatReader};
    let data = fixture("xenix-1024.dump");
    let (_, reference) = read_ok(&data);
    let host = std::sync::Arc::new(RecHost::default());
    let mut r = XenixReader::new(
        relic_plugin_sdk::testing::HostileMedium::new(data, &[]),
        host,
        ReadOptions::default(),
    )
    .expect("open");
    let mut buf = vec![0u8; 100];
    let mut n = 0;
    while let Some(e) = r.next_entry().expect("entry") {
        let m = member(&reference, &e.path);
        if !e.has_data() {
            continue;
        }
        let mut got = vec![0u8; e.size as usize];
        loop {
            match r.read_data(&mut buf).expect("data") {
                Chunk::End => break,
                Chunk::Data { offset, len } => {
                    assert!(len <= 100);
                    got[offset as usize..(offset + len) as usize]
                        .copy_from_slice(&buf[..len as usize]);
                }
                _ => {}
            }
        }
        assert_eq!(got, m.data, "{}", e.display_path());
        n += 1;
    }
    assert!(n >= 7);
}

#[test]
fn volumes_as_tape_files_of_one_tape() {
    // a tape image holding the whole set, one tape file per volume
    let (e, vols) = multivol();
    let mut m = relic_plugin_sdk::testing::MemoryMedium::new(0);
    for v in &vols {
        for rec in v.chunks(10240) {
            m.push_record(rec);
        }
        m.push_mark();
    }
    m.push_mark();
    let host = std::sync::Arc::new(RecHost::default());
    let mut r =
        relic_format_xenix_backup::XenixReader::new(m, host, ReadOptions::default()).expect("open");
    let (_, members) = relic_plugin_sdk::testing::read_all(&mut r).expect("read");
    check("multivol on one tape", &e, &members);
}
