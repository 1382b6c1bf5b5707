//! Bad input: corrupt and absurd headers give errors with kinds and offsets (never panics,
//! hangs or allocations sized by the input), end-of-archive variants, the probe, and a smoke
//! fuzz over every fixture.

use relic_format_tar::layout::{self, BLOCK};
use relic_format_tar::pax::format_record;
use relic_model::{Chunk, ErrorKind, FormatReader};

use crate::common::*;

/// A ustar header with a valid checksum.
fn header(name: &[u8], typeflag: u8, size: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    layout::put_str(layout::NAME.get_mut(&mut h), name);
    layout::put_octal(layout::MODE.get_mut(&mut h), 0o644);
    layout::put_octal(layout::UID.get_mut(&mut h), 0);
    layout::put_octal(layout::GID.get_mut(&mut h), 0);
    assert!(layout::put_octal(layout::SIZE.get_mut(&mut h), size));
    layout::put_octal(layout::MTIME.get_mut(&mut h), 0);
    h[layout::TYPEFLAG] = typeflag;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    layout::set_checksum(&mut h);
    h
}

fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(BLOCK) * BLOCK, 0);
    v
}

fn pax_member(recs: &[(&str, &str)], name: &[u8], data: &[u8]) -> Vec<u8> {
    let x: Vec<u8> = recs
        .iter()
        .flat_map(|(k, v)| format_record(k.as_bytes(), v.as_bytes()))
        .collect();
    let mut a = header(b"PaxHeaders/x", b'x', x.len() as u64).to_vec();
    a.extend(padded(&x));
    a.extend(header(name, b'0', data.len() as u64));
    a.extend(padded(data));
    a
}

fn end(mut a: Vec<u8>) -> Vec<u8> {
    a.extend([0u8; 1024]);
    a
}

#[test]
fn bad_checksum_is_corrupt_at_the_header() {
    let mut a = header(b"a", b'0', 3).to_vec();
    a.extend(padded(b"abc"));
    let mut b = header(b"b", b'0', 0).to_vec();
    b[0] ^= 1;
    a.extend(b);
    let (r, _) = read_hostile(&end(a));
    let e = r.expect_err("checksum");
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(1024)));
    assert!(e.message.contains("checksum"), "{e}");
}

#[test]
fn absurd_pax_size_errors_instead_of_allocating() {
    // size=10^18 on a 3-byte member: the entry is listed, reading its data is truncated
    let a = end(pax_member(
        &[("size", "1000000000000000000")],
        b"huge",
        b"abc",
    ));
    let (r, _) = read_hostile(&a);
    let e = r.expect_err("cannot have 10^18 bytes");
    assert_eq!(e.kind, ErrorKind::Truncated);
    assert_eq!(e.entry.as_deref(), Some(&b"huge"[..]));
    // and skipping it fails the same way
    let host = std::sync::Arc::new(RecHost::default());
    let mut r = relic_format_tar::TarReader::new(
        relic_plugin_sdk::testing::HostileMedium::new(a, &[]),
        host,
        relic_format_tar::ReadOptions::default(),
    );
    let en = r.next_entry().expect("header ok").expect("an entry");
    assert_eq!(en.size, 1_000_000_000_000_000_000);
    assert_eq!(
        r.next_entry().expect_err("skip runs out").kind,
        ErrorKind::Truncated
    );
}

#[test]
fn extended_headers_of_a_gigabyte_are_refused_up_front() {
    for tf in [b'x', b'g', b'L', b'K'] {
        let mut a = header(b"big", tf, 1 << 30).to_vec();
        a.extend([b'9'; 512]);
        let (r, _) = read_hostile(&a);
        let e = r.expect_err("refused");
        assert_eq!(
            (e.kind, e.offset),
            (ErrorKind::Unsupported, Some(0)),
            "{}: {e}",
            tf as char
        );
    }
}

#[test]
fn bad_pax_records_are_corrupt_with_their_offset() {
    let mut a = header(b"x", b'x', 11).to_vec();
    a.extend(padded(b"30 path=ab\n"));
    a.extend(header(b"f", b'0', 0));
    let (r, _) = read_hostile(&end(a));
    let e = r.expect_err("length past the data");
    assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(512)));
}

#[test]
fn sparse_maps_that_lie_are_corrupt() {
    // 1.0 map claiming a billion runs in one block
    let mut data = b"1000000000\n0\n5\n".to_vec();
    data.resize(512, 0);
    data.extend(b"hello");
    let recs = [
        ("GNU.sparse.major", "1"),
        ("GNU.sparse.minor", "0"),
        ("GNU.sparse.name", "s"),
        ("GNU.sparse.realsize", "100"),
    ];
    let (r, _) = read_hostile(&end(pax_member(&recs, b"GNUSparseFile.0/s", &data)));
    assert_eq!(r.expect_err("count").kind, ErrorKind::Corrupt);
    // a run past the real size
    let mut data = b"1\n200\n5\n".to_vec();
    data.resize(512, 0);
    data.extend(b"hello");
    let (r, _) = read_hostile(&end(pax_member(&recs, b"GNUSparseFile.0/s", &data)));
    assert_eq!(r.expect_err("past realsize").kind, ErrorKind::Corrupt);
    // a correct one reads: data at 10, holes around it
    let mut data = b"1\n10\n5\n".to_vec();
    data.resize(512, 0);
    data.extend(b"hello");
    let (_, ms) = read_ok(&end(pax_member(&recs, b"GNUSparseFile.0/s", &data)));
    assert_eq!(ms[0].entry.path, b"s");
    assert_eq!(ms[0].holes, vec![(0, 10), (15, 85)]);
    assert_eq!(&ms[0].data[10..15], b"hello");
    // 0.1 map whose runs do not add up to the stored size
    let recs = [("GNU.sparse.map", "0,5,50,5"), ("GNU.sparse.size", "100")];
    let (r, _) = read_hostile(&end(pax_member(&recs, b"s", b"hello")));
    assert_eq!(r.expect_err("sum").kind, ErrorKind::Corrupt);
    // old GNU 'S' header announcing extension blocks that never come
    let mut h = header(b"s", b'S', 0);
    h[layout::GNU_ISEXTENDED] = 1;
    layout::put_octal(layout::GNU_REALSIZE.get_mut(&mut h), 10);
    layout::set_checksum(&mut h);
    let (r, _) = read_hostile(&h);
    assert_eq!(
        r.expect_err("no extension block").kind,
        ErrorKind::Truncated
    );
}

#[test]
fn end_of_archive_variants() {
    let mut one = header(b"a", b'0', 2).to_vec();
    one.extend(padded(b"hi"));
    // two zero blocks, then trailing garbage: ignored, no warning
    let mut a = end(one.clone());
    a.extend(b"trailing garbage after the end");
    let (r, w) = read_hostile(&a);
    assert_eq!(r.expect("ok").1.len(), 1);
    assert!(w.is_empty(), "{w:?}");
    // EOF after one zero block: accepted silently
    let mut a = one.clone();
    a.extend([0u8; 512]);
    let (r, w) = read_hostile(&a);
    assert_eq!(r.expect("ok").1.len(), 1);
    assert!(w.is_empty(), "{w:?}");
    // no end blocks at all: accepted with a warning
    let (r, w) = read_hostile(&one);
    assert_eq!(r.expect("ok").1.len(), 1);
    assert_eq!(w.len(), 1);
    assert!(w[0].0.contains("zero blocks"), "{w:?}");
    assert_eq!(w[0].1, Some(1024));
    // a lone zero block before another member: stop there (as GNU tar) and say so
    let mut a = one.clone();
    a.extend([0u8; 512]);
    a.extend(end(one.clone()));
    let (r, w) = read_hostile(&a);
    assert_eq!(r.expect("ok").1.len(), 1);
    assert!(
        w.iter()
            .any(|(m, o)| m.contains("lone zero block") && *o == Some(1024)),
        "{w:?}"
    );
    // ...unless ignore-zeros asks to read on (concatenated archives)
    let host = std::sync::Arc::new(RecHost::default());
    let mut r = relic_format_tar::TarReader::new(
        relic_plugin_sdk::testing::MemoryMedium::from_bytes(
            &[end(one.clone()), end(one.clone())].concat(),
            512,
        ),
        host.clone(),
        relic_format_tar::ReadOptions { ignore_zeros: true },
    );
    let (_, ms) = relic_plugin_sdk::testing::read_all(&mut r).expect("read");
    assert_eq!(ms.len(), 2);
    assert!(host.take().is_empty(), "zero blocks were there: no warning");
    // a header cut short
    let (r, _) = read_hostile(&one[..700]);
    let e = r.expect_err("cut in the data");
    assert_eq!(e.kind, ErrorKind::Truncated);
    let mut a = one.clone();
    a.extend(&header(b"b", b'0', 0)[..100]);
    let (r, _) = read_hostile(&a);
    let e = r.expect_err("cut in a header");
    assert_eq!((e.kind, e.offset), (ErrorKind::Truncated, Some(1024)));
}

#[test]
fn data_chunks_have_offsets_and_respect_the_buffer() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let mut a = header(b"f", b'0', data.len() as u64).to_vec();
    a.extend(padded(&data));
    let host = std::sync::Arc::new(RecHost::default());
    let mut r = relic_format_tar::TarReader::new(
        relic_plugin_sdk::testing::HostileMedium::new(end(a), &[]),
        host,
        relic_format_tar::ReadOptions::default(),
    );
    r.next_entry().expect("ok").expect("entry");
    let mut buf = [0u8; 700];
    let mut got = Vec::new();
    loop {
        match r.read_data(&mut buf).expect("data") {
            Chunk::Data { offset, len } => {
                assert_eq!(offset, got.len() as u64);
                assert!(len as usize <= buf.len() && len > 0);
                got.extend_from_slice(&buf[..len as usize]);
            }
            Chunk::End => break,
            c => panic!("unexpected {c:?}"),
        }
    }
    assert_eq!(got, data);
    assert!(r.next_entry().expect("end").is_none());
}

#[test]
fn probe_bids_bits_verified() {
    use relic_format_tar::read::bid;
    assert_eq!(
        bid(&fixture("posix.tar")),
        48 + 56 + 2,
        "checksum + ustar magic + typeflag"
    );
    // GNU's volume header ('V') carries no magic, the member header after it does
    assert_eq!(bid(&fixture("gnu.tar")), 48 + 2, "GNU volume header");
    assert_eq!(bid(&fixture("gnu.tar")[512..]), 48 + 56 + 2, "GNU magic");
    assert_eq!(bid(&fixture("v7.tar")), 48 + 2, "no magic");
    assert_eq!(bid(&[0u8; 1024]), 10, "an empty archive");
    assert_eq!(bid(&[0u8; 100]), 0, "too short");
    let mut h = header(b"a", b'0', 0);
    h[0] ^= 1;
    assert_eq!(bid(&h), 0, "bad checksum");
    let mut h = header(b"a", b'0', 0);
    h[layout::MODE.at] = b'9';
    layout::set_checksum(&mut h);
    assert_eq!(bid(&h), 0, "mode is not octal");
    assert_eq!(
        bid(&fixture("posix.tar")[512..]),
        0,
        "pax records are no header"
    );
}

#[test]
fn smoke_fuzz_over_all_fixtures() {
    let mut seeds = Vec::new();
    for e in std::fs::read_dir(fixture_dir()).expect("fixtures") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "tar") {
            seeds.push(std::fs::read(&p).expect("read"));
        }
    }
    assert!(seeds.len() >= 10);
    relic_plugin_sdk::testing::smoke_fuzz(&seeds, 200, relic_format_tar::fuzz_read);
}

#[test]
fn many_records_are_read_in_linear_time_and_capped() {
    // 150k xattr records in one 'x' header, and two 'g' headers of 150k distinct keys each
    let t = std::time::Instant::now();
    let x: Vec<u8> = (0..150_000)
        .flat_map(|i| format_record(format!("SCHILY.xattr.user.{i}").as_bytes(), b"v"))
        .collect();
    let g1: Vec<u8> = (0..150_000)
        .flat_map(|i| format_record(format!("a.{i}").as_bytes(), b"v"))
        .collect();
    let g2: Vec<u8> = (0..150_000)
        .flat_map(|i| format_record(format!("b.{i}").as_bytes(), b"w"))
        .collect();
    let mut a = Vec::new();
    for (tf, d) in [(b'g', &g1), (b'g', &g2), (b'x', &x)] {
        a.extend(header(b"h", tf, d.len() as u64));
        a.extend(padded(d));
    }
    a.extend(header(b"f", b'0', 0));
    let (_, ms) = read_ok(&end(a));
    assert_eq!(ms[0].entry.xattrs.len(), 150_000);
    assert_eq!(ms[0].entry.xattrs[7].name, b"user.7");
    assert!(t.elapsed().as_secs() < 10, "took {:?}", t.elapsed());
    // more 'x' records for one member than the cap: refused, not accumulated
    let big: Vec<u8> = format_record(b"comment", &vec![b'c'; 6 << 20]);
    let mut a = Vec::new();
    for _ in 0..2 {
        a.extend(header(b"h", b'x', big.len() as u64));
        a.extend(padded(&big));
    }
    a.extend(header(b"f", b'0', 0));
    let (r, _) = read_hostile(&end(a));
    assert_eq!(r.expect_err("capped").kind, ErrorKind::Unsupported);
}

#[test]
fn a_bad_header_is_recoverable_and_reading_resumes_at_the_next_one() {
    let mut a = header(b"a", b'0', 3).to_vec();
    a.extend(padded(b"abc"));
    let mut bad = header(b"b", b'0', 600).to_vec();
    bad[0] ^= 1;
    a.extend(bad);
    a.extend(padded(&[7u8; 600]));
    a.extend(header(b"c", b'0', 2));
    a.extend(padded(b"ok"));
    let host = std::sync::Arc::new(RecHost::default());
    let mut r = relic_format_tar::TarReader::new(
        relic_plugin_sdk::testing::HostileMedium::new(end(a), &[]),
        host.clone(),
        relic_format_tar::ReadOptions::default(),
    );
    assert_eq!(r.next_entry().expect("a").expect("a").path, b"a");
    let e = r.next_entry().expect_err("bad header");
    assert!(
        e.recoverable && e.kind == ErrorKind::Corrupt && e.offset == Some(1024),
        "{e:?}"
    );
    let c = r.next_entry().expect("c").expect("c");
    assert_eq!(c.path, b"c");
    assert!(r.next_entry().expect("end").is_none());
    let w = host.take();
    assert!(
        w.iter()
            .any(|(m, o)| m.contains("skipped 1024 bytes") && *o == Some(1536)),
        "{w:?}"
    );
}
