//! Scenarios on the simulated drive (st semantics), and an opt-in test on a real drive named
//! by `RELIC_TEST_TAPE` (it overwrites the tape).

use std::sync::Arc;

use relic_model::{ErrorKind, NullHost, RecordStatus, Space};

use super::*;
use crate::sim::{Block, SimulatedDrive};

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn open_sim(drive: &SimulatedDrive, mode: OpenMode, cfg: Config) -> TapeDevice {
    TapeDevice::new(
        "sim",
        Box::new(drive.clone()),
        mode,
        cfg,
        Some(Arc::new(NullHost)),
    )
    .expect("open")
}

#[derive(Debug, PartialEq, Eq)]
enum Got {
    Rec(Vec<u8>),
    Bad,
    Mark,
}

fn read_all(m: &mut dyn Medium, buf_len: usize) -> Vec<Got> {
    let mut buf = vec![0u8; buf_len];
    let mut out = vec![];
    loop {
        let r = m.read_record(&mut buf).expect("read");
        match r.status {
            RecordStatus::Data => out.push(Got::Rec(buf[..r.len].to_vec())),
            RecordStatus::Bad => out.push(Got::Bad),
            RecordStatus::TapeMark => out.push(Got::Mark),
            RecordStatus::TooSmall => buf.resize(r.len, 0),
            RecordStatus::EndOfData => return out,
            RecordStatus::EndOfMedium => panic!("unexpected end of medium"),
        }
    }
}

fn sample_tape() -> Vec<Block> {
    vec![
        Block::Data(data(80, 1)),
        Block::Data(data(513, 2)),
        Block::Data(data(10240, 3)),
        Block::Mark,
        Block::Data(data(2048, 4)),
        Block::Mark,
        Block::Mark,
    ]
}

#[test]
fn reads_records_marks_and_stops_at_end_of_data() {
    let drive = SimulatedDrive::with_tape(sample_tape());
    let mut m = open_sim(&drive, OpenMode::Read, Config::default());
    let got = read_all(&mut m, 1 << 16);
    assert_eq!(
        got,
        vec![
            Got::Rec(data(80, 1)),
            Got::Rec(data(513, 2)),
            Got::Rec(data(10240, 3)),
            Got::Mark,
            Got::Rec(data(2048, 4)),
            Got::Mark
        ]
    );
    let st = drive.stats();
    assert_eq!(
        st.ops.first(),
        Some(&(mtio::MTSETBLK, 0)),
        "variable-block mode first"
    );
    assert_eq!(
        st.reads, 7,
        "the second of two 0-byte reads is end of data; no third read"
    );
    assert_eq!(st.eio, 0);
    // and it stays at the end without touching the drive
    let mut buf = [0u8; 16];
    assert_eq!(
        m.read_record(&mut buf).expect("read").status,
        RecordStatus::EndOfData
    );
    assert_eq!(drive.stats().reads, 7);
    assert_eq!(
        m.position().file,
        2,
        "two marks passed; the second 0-byte read is end of data"
    );
}

#[test]
fn fixed_block_mode_would_have_failed() {
    // the simulated drive starts in 512-byte fixed mode: reading it raw fails, as on st
    let mut raw = SimulatedDrive::with_tape(sample_tape());
    let mut buf = vec![0u8; 1 << 16];
    assert_eq!(
        raw.read(&mut buf).err().and_then(|e| e.raw_os_error()),
        Some(libc::EIO)
    );
}

#[test]
fn too_small_first_buffer_recovers_via_enomem() {
    let big = data(100_000, 9);
    let drive = SimulatedDrive::with_tape(vec![
        Block::Data(data(100, 1)),
        Block::Data(big.clone()),
        Block::Data(data(300, 2)),
        Block::Mark,
        Block::Mark,
    ]);
    let cfg = Config {
        buffer: 1024,
        ..Config::default()
    };
    let mut m = open_sim(&drive, OpenMode::Read, cfg);
    let got = read_all(&mut m, 1 << 20);
    assert_eq!(
        got,
        vec![
            Got::Rec(data(100, 1)),
            Got::Rec(big),
            Got::Rec(data(300, 2)),
            Got::Mark
        ]
    );
    let st = drive.stats();
    assert_eq!(
        st.enomem, 4,
        "1024, 4096, 16384 and 65536 are too small for 100000: {st:?}"
    );
    assert_eq!(
        st.ops.iter().filter(|o| o.0 == mtio::MTBSR).count() as u64,
        st.enomem,
        "one MTBSR 1 per ENOMEM"
    );
    assert_eq!(m.position().record, 0);
}

#[test]
fn too_small_caller_buffer_keeps_the_record() {
    let drive = SimulatedDrive::with_tape(sample_tape());
    let mut m = open_sim(&drive, OpenMode::Read, Config::default());
    let mut small = vec![0u8; 50];
    let r = m.read_record(&mut small).expect("read");
    assert_eq!((r.status, r.len), (RecordStatus::TooSmall, 80));
    assert_eq!(m.position().record, 0, "nothing consumed");
    let mut buf = vec![0u8; 80];
    assert_eq!(m.read_record(&mut buf).expect("read").len, 80);
    assert_eq!(buf, data(80, 1));
    assert_eq!(
        drive.stats().reads,
        1,
        "the kept record did not need the drive again"
    );
}

#[test]
fn bad_blocks_are_delivered_flagged_and_limited() {
    let drive = SimulatedDrive::with_tape(vec![
        Block::Data(data(10, 1)),
        Block::Bad(512),
        Block::Data(data(20, 2)),
        Block::Mark,
        Block::Mark,
    ]);
    let mut m = open_sim(&drive, OpenMode::Read, Config::default());
    assert_eq!(
        read_all(&mut m, 4096),
        vec![
            Got::Rec(data(10, 1)),
            Got::Bad,
            Got::Rec(data(20, 2)),
            Got::Mark
        ]
    );
    assert_eq!(m.bad_blocks, 1);
    let many = vec![Block::Bad(512); 5];
    let drive = SimulatedDrive::with_tape(many);
    let mut m = open_sim(
        &drive,
        OpenMode::Read,
        Config {
            max_errors: 3,
            ..Config::default()
        },
    );
    let mut buf = vec![0u8; 4096];
    for _ in 0..3 {
        assert_eq!(
            m.read_record(&mut buf).expect("bad").status,
            RecordStatus::Bad
        );
    }
    let e = m.read_record(&mut buf).expect_err("gives up");
    assert_eq!(e.kind, ErrorKind::Media);
    assert!(e.message.contains("max-errors"), "{e}");
}

/// Volumes on simulated drives.
struct SimVolumes(Vec<SimulatedDrive>);

impl VolumeSource for SimVolumes {
    fn has(&self, n: u32) -> bool {
        n >= 2 && (n as usize) <= self.0.len() + 1
    }
    fn open(&mut self, n: u32) -> Result<Box<dyn TapeOps>> {
        Ok(Box::new(self.0[n as usize - 2].clone()))
    }
}

fn data_blocks(tape: &[Block]) -> Vec<Vec<u8>> {
    tape.iter()
        .filter_map(|b| {
            if let Block::Data(d) = b {
                Some(d.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn early_warning_continues_on_the_next_volume_without_loss() {
    let v1 = SimulatedDrive::new().with_end(20_000, 30_000);
    let v2 = SimulatedDrive::new().with_end(20_000, 30_000);
    let v3 = SimulatedDrive::new().with_end(20_000, 30_000);
    let mut m = open_sim(&v1, OpenMode::Write, Config::default())
        .with_volumes(Box::new(SimVolumes(vec![v2.clone(), v3.clone()])));
    let records: Vec<Vec<u8>> = (0..20).map(|i| data(3000 + i, i as u8)).collect();
    let mut volume = 1;
    for r in &records {
        let st = m.write_record(r).expect("write");
        if st.early_warning {
            // the format closes the volume its own way (here a trailer record and a mark)
            m.write_record(b"END OF VOLUME")
                .expect("trailer past early warning");
            m.write_tape_mark().expect("mark");
            volume += 1;
            assert!(m.next_volume(volume).expect("next volume"));
            assert_eq!(m.position().volume, volume);
        }
    }
    m.finish().expect("finish");
    assert_eq!(volume, 3);
    let t1 = v1.tape();
    let t2 = v2.tape();
    let t3 = v3.tape();
    assert!(
        v1.stats().enospc >= 1,
        "early warning was hit through ENOSPC: {:?}",
        v1.stats()
    );
    let mut all: Vec<Vec<u8>> = vec![];
    for t in [&t1, &t2, &t3] {
        let mut d = data_blocks(t);
        if d.last().map(|x| x.as_slice()) == Some(b"END OF VOLUME") {
            d.pop();
        }
        all.extend(d);
        assert!(
            t.ends_with(&[Block::Mark, Block::Mark]),
            "each volume ends with two filemarks: {:?}",
            &t[t.len() - 3..]
        );
    }
    assert_eq!(all, records, "no record lost or duplicated");
    // after finish the head sits between the two closing marks (append position)
    assert_eq!(v3.head(), t3.len() - 1);
}

#[test]
fn physical_end_is_an_error() {
    let drive = SimulatedDrive::new().with_end(5_000, 8_000);
    let mut m = open_sim(&drive, OpenMode::Write, Config::default());
    let mut ew = false;
    let mut err = None;
    for i in 0..10 {
        match m.write_record(&data(2000, i)) {
            Ok(st) => ew |= st.early_warning,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert!(ew, "early warning came first");
    let e = err.expect("the physical end stops writing");
    assert_eq!(e.kind, ErrorKind::Media);
    assert!(e.message.contains("end of medium"), "{e}");
}

#[test]
fn writes_then_reads_back_with_marks() {
    let drive = SimulatedDrive::new();
    let mut w = open_sim(&drive, OpenMode::Write, Config::default());
    w.write_record(&data(513, 1)).expect("write");
    w.write_tape_mark().expect("mark");
    w.write_record(&data(70_000, 2)).expect("write");
    w.finish().expect("finish");
    assert_eq!(
        drive.tape(),
        vec![
            Block::Data(data(513, 1)),
            Block::Mark,
            Block::Data(data(70_000, 2)),
            Block::Mark,
            Block::Mark
        ]
    );
    let mut r = open_sim(&drive, OpenMode::Read, Config::default());
    r.space(Space::Rewind, 0).expect("rewind");
    assert_eq!(
        read_all(&mut r, 1024),
        vec![
            Got::Rec(data(513, 1)),
            Got::Mark,
            Got::Rec(data(70_000, 2)),
            Got::Mark
        ]
    );
}

#[test]
fn spacing_stays_in_the_file_and_counts_exactly() {
    let drive = SimulatedDrive::with_tape(sample_tape());
    let mut m = open_sim(&drive, OpenMode::Read, Config::default());
    let mut buf = vec![0u8; 1 << 16];
    assert_eq!(
        m.space(Space::Records, 5).expect("fsr"),
        3,
        "three records, then the mark stops it"
    );
    assert_eq!(
        m.read_record(&mut buf).expect("read").status,
        RecordStatus::TapeMark
    );
    assert_eq!(
        m.space(Space::Records, -2).expect("bsr"),
        0,
        "right after a mark: nothing to back over in this file"
    );
    assert_eq!(m.read_record(&mut buf).expect("read").len, 2048);
    assert_eq!(m.space(Space::Records, -3).expect("bsr"), -1);
    assert_eq!(m.read_record(&mut buf).expect("read").len, 2048);
    assert_eq!(m.space(Space::Files, -1).expect("bsf"), -1);
    assert_eq!(
        (m.position().file, m.position().record),
        (0, 3),
        "end of file 0, its 3 records known"
    );
    assert_eq!(
        m.read_record(&mut buf).expect("read").status,
        RecordStatus::TapeMark
    );
    assert_eq!(m.space(Space::Files, -5).expect("bsf to bot"), -1);
    assert_eq!(m.position().file, 0);
    assert_eq!(m.read_record(&mut buf).expect("read").len, 80);
    assert_eq!(m.space(Space::Files, 9).expect("fsf to end"), 3);
    m.space(Space::Rewind, 0).expect("rewind");
    assert_eq!(m.space(Space::Files, 1).expect("fsf"), 1);
    assert_eq!(m.read_record(&mut buf).expect("read").len, 2048);
}

#[test]
fn probe_and_names() {
    assert!(looks_like_tape("/dev/nst0"));
    assert!(looks_like_tape("/dev/st12"));
    assert!(looks_like_tape("/dev/nst0l"));
    assert!(!looks_like_tape("/dev/sda"));
    assert!(!looks_like_tape("/dev/stdin"));
    let ctx = ProbeContext {
        location: "/dev/nst0".into(),
        is_char_device: true,
        ..Default::default()
    };
    assert_eq!(TapeDevicePlugin::probe("tape-device", b"", &ctx), 32);
    let ctx = ProbeContext {
        location: "/dev/null".into(),
        is_char_device: true,
        ..Default::default()
    };
    assert_eq!(
        TapeDevicePlugin::probe("tape-device", b"", &ctx),
        0,
        "/dev/null does not answer MTIOCGET"
    );
    let ctx = ProbeContext {
        location: "/dev/nst0".into(),
        ..Default::default()
    };
    assert_eq!(
        TapeDevicePlugin::probe("tape-device", b"", &ctx),
        0,
        "not a character device"
    );
}

#[test]
fn mtget_struct_matches_the_kernel_layout() {
    assert_eq!(std::mem::size_of::<mtio::MtGet>(), 48);
    assert_eq!(std::mem::size_of::<mtio::MtOp>(), 8);
    assert_eq!(std::mem::offset_of!(mtio::MtGet, mt_fileno), 40);
    assert_eq!(std::mem::offset_of!(mtio::MtOp, mt_count), 4);
}

/// Only with `RELIC_TEST_TAPE=/dev/nstN`: OVERWRITES the tape in that drive.
#[test]
fn real_drive_round_trip() {
    let Ok(dev) = std::env::var("RELIC_TEST_TAPE") else {
        eprintln!("NOTE: set RELIC_TEST_TAPE=/dev/nstN (a scratch tape, it is overwritten) to test a real drive");
        return;
    };
    let host: HostHandle = Arc::new(NullHost);
    let mut w = TapeDevicePlugin::open_medium(
        "tape-device",
        &dev,
        OpenMode::Write,
        None,
        &Options::new(),
        host.clone(),
    )
    .expect("open for write");
    let recs = [data(512, 1), data(10240, 2), data(65536, 3), data(513, 4)];
    for r in &recs[..2] {
        w.write_record(r).expect("write");
    }
    w.write_tape_mark().expect("mark");
    for r in &recs[2..] {
        w.write_record(r).expect("write");
    }
    w.finish().expect("finish");
    drop(w);
    let mut r = TapeDevicePlugin::open_medium(
        "tape-device",
        &dev,
        OpenMode::Read,
        None,
        &Options::new().with("buffer", "4k"),
        host,
    )
    .expect("open for read");
    r.space(Space::Rewind, 0).expect("rewind");
    let got = read_all(r.as_mut(), 1 << 20);
    let want = vec![
        Got::Rec(recs[0].clone()),
        Got::Rec(recs[1].clone()),
        Got::Mark,
        Got::Rec(recs[2].clone()),
        Got::Rec(recs[3].clone()),
        Got::Mark,
    ];
    assert_eq!(got, want);
}
