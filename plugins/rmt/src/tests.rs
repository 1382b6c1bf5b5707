//! Tests against Debian's real rmt servers (`/usr/sbin/rmt-dump` from package `dump`,
//! `/usr/sbin/rmt-tar` from `tar`), reached through a fake remote shell: a script written
//! into a temporary directory that records its arguments and runs the server locally. Each
//! test runs against every server installed and says which are missing.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use relic_model::{ErrorKind, Host, LogLevel, NullHost};
use relic_plugin_sdk::stream::{RecordStream, RecordWriter};
use relic_plugin_sdk::{root_module, LoadedPlugin};

use super::*;

const SERVERS: &[&str] = &["/usr/sbin/rmt-dump", "/usr/sbin/rmt-tar"];

fn servers() -> Vec<&'static str> {
    let found: Vec<&str> = SERVERS
        .iter()
        .copied()
        .filter(|s| Path::new(s).exists())
        .collect();
    for s in SERVERS {
        if !found.contains(s) {
            eprintln!(
                "NOTE: {s} is not installed (apt-get install dump tar); not tested against it"
            );
        }
    }
    assert!(
        !found.is_empty(),
        "no rmt server installed: apt-get install dump"
    );
    found
}

/// A fake remote shell that logs its arguments to `args.log` and runs `server`.
fn fake_rsh(dir: &Path, server: &str) -> PathBuf {
    let p = dir.join("fake-rsh");
    let log = dir.join("args.log");
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec {server}\n",
            log.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    p
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Host for Recorder {
    fn log(&self, _level: LogLevel, _message: &str) {}
    fn warn(&self, message: &str, _offset: Option<u64>) {
        self.0.lock().expect("lock").push(message.to_string());
    }
    fn cancelled(&self) -> bool {
        false
    }
    fn event(&self, _kind: u32, _payload: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}

fn plugin() -> LoadedPlugin {
    LoadedPlugin::new(root_module::<RmtPlugin>()).expect("plugin")
}

fn open(
    dir: &Path,
    server: &str,
    location: &str,
    mode: OpenMode,
    opts: Options,
    host: Arc<dyn Host>,
) -> Result<Box<dyn Medium>> {
    let rsh = fake_rsh(dir, server);
    let opts = opts.with("rsh-command", rsh.to_str().expect("utf-8"));
    plugin().open_medium("rmt", location, mode, None, &opts, host)
}

fn sample() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect()
}

#[test]
fn locations_and_commands() {
    assert_eq!(
        parse_location("host:/dev/nst0"),
        Some((None, "host", "/dev/nst0"))
    );
    assert_eq!(
        parse_location("op@tapehost:/dev/nst1"),
        Some((Some("op"), "tapehost", "/dev/nst1"))
    );
    assert_eq!(
        parse_location("host:relative.img"),
        Some((None, "host", "relative.img"))
    );
    assert_eq!(
        parse_location("/local/a:b"),
        None,
        "a ':' after the first '/' is a local file"
    );
    assert_eq!(parse_location("image.tap"), None);
    assert_eq!(parse_location(":path"), None);
    assert_eq!(parse_location("host:"), None);
    assert_eq!(
        transport("ssh -p 2222", Some("op"), "tapehost", "/etc/rmt").expect("argv"),
        ["ssh", "-p", "2222", "tapehost", "-l", "op", "/etc/rmt"]
    );
    assert_eq!(
        transport("rsh", None, "h", "/etc/rmt").expect("argv"),
        ["rsh", "h", "/etc/rmt"]
    );
    let p = plugin();
    let ctx = |l: &str| ProbeContext {
        location: l.into(),
        ..Default::default()
    };
    assert_eq!(p.probe("rmt", b"", &ctx("op@host:/dev/nst0")), 16);
    assert_eq!(p.probe("rmt", b"", &ctx("./a:b")), 0);
    assert_eq!(p.probe("rmt", b"", &ctx("|ssh host:x")), 0);
}

#[test]
fn writes_and_reads_a_remote_file_byte_identical_to_the_direct_path() {
    for server in servers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("remote.bin");
        let loc = format!("op@fakehost:{}", target.display());
        let data = sample();
        let host = Arc::new(Recorder::default());
        let m = open(
            dir.path(),
            server,
            &loc,
            OpenMode::Write,
            Options::new(),
            host.clone(),
        )
        .expect("open for write");
        assert!(!m.info().records_meaningful, "a plain file is not a tape");
        let mut w = RecordWriter::new(m, 10240);
        w.write_all(&data).expect("write");
        let mut m = w.finish(false).expect("finish");
        // a tape mark on a file is dropped, with a warning (the file was finished: the medium
        // is closed, so check the warning path on a fresh session below)
        assert_eq!(
            std::fs::read(&target).expect("written"),
            data,
            "{server}: same bytes as a local write"
        );
        assert!(m.write_record(b"late").is_err(), "finished");
        let args = std::fs::read_to_string(dir.path().join("args.log")).expect("args");
        assert_eq!(
            args.lines().next(),
            Some("fakehost -l op /etc/rmt"),
            "{server}"
        );

        // read back: records of record-size, like the file medium on the same file
        let m = open(
            dir.path(),
            server,
            &loc,
            OpenMode::Read,
            Options::new().with("record-size", "4k"),
            Arc::new(NullHost),
        )
        .expect("open for read");
        let mut s = RecordStream::new(m);
        let mut back = vec![];
        std::io::Read::read_to_end(&mut s, &mut back).expect("read");
        assert_eq!(back, data, "{server}");
        assert_eq!(
            s.records().0,
            data.len().div_ceil(4096) as u64,
            "{server}: 4 KiB records"
        );
        s.into_inner().finish().expect("close");
    }
}

#[test]
fn rewind_tape_marks_and_limits_on_a_file() {
    for server in servers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("f.bin");
        std::fs::write(&target, b"0123456789").expect("file");
        let loc = format!("fakehost:{}", target.display());
        let mut m = open(
            dir.path(),
            server,
            &loc,
            OpenMode::Read,
            Options::new().with("record-size", "4"),
            Arc::new(NullHost),
        )
        .expect("open");
        let mut buf = [0u8; 4];
        assert_eq!(m.read_record(&mut buf).expect("read").len, 4);
        assert_eq!(m.read_record(&mut buf).expect("read").len, 4);
        assert_eq!(&buf, b"4567");
        m.space(Space::Rewind, 0).expect("rewind with L0 0");
        assert_eq!(m.read_record(&mut buf).expect("read").len, 4);
        assert_eq!(&buf, b"0123", "{server}");
        assert_eq!(
            m.space(Space::Files, 1).err().map(|e| e.kind),
            Some(ErrorKind::Unsupported)
        );
        let mut small = [0u8; 2];
        let r = m.read_record(&mut small).expect("read");
        assert_eq!((r.status, r.len), (RecordStatus::TooSmall, 4));
        assert_eq!(
            m.read_record(&mut buf).expect("read").len,
            4,
            "the kept record"
        );
        assert_eq!(&buf, b"4567");
        assert_eq!(m.read_record(&mut buf).expect("read").len, 2);
        assert_eq!(
            m.read_record(&mut buf).expect("read").status,
            RecordStatus::EndOfData
        );
        m.finish().expect("close");

        // marks on a file are dropped with one warning
        let host = Arc::new(Recorder::default());
        let out = dir.path().join("marks.bin");
        let mut w = open(
            dir.path(),
            server,
            &format!("h:{}", out.display()),
            OpenMode::Write,
            Options::new(),
            host.clone(),
        )
        .expect("open");
        w.write_record(b"abc").expect("write");
        w.write_tape_mark().expect("a mark on a file is accepted");
        w.write_tape_mark().expect("again");
        w.write_record(b"def").expect("write");
        w.finish().expect("finish");
        assert_eq!(std::fs::read(&out).expect("out"), b"abcdef");
        let warnings = host.0.lock().expect("lock").clone();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("cannot hold tape marks"),
            "{warnings:?}"
        );
    }
}

#[test]
fn remote_errors_carry_the_servers_message() {
    for server in servers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loc = format!("fakehost:{}/no/such/dir/x", dir.path().display());
        let e = open(
            dir.path(),
            server,
            &loc,
            OpenMode::Read,
            Options::new(),
            Arc::new(NullHost),
        )
        .err()
        .expect("fails");
        assert_eq!(e.kind, ErrorKind::Io, "{e}");
        assert!(
            e.message.contains("No such file or directory") && e.message.contains("errno 2"),
            "{server}: {e}"
        );
        assert_eq!(e.file.as_deref(), Some(loc.as_str()));
    }
}

#[test]
fn a_dying_transport_is_reported_with_its_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad-rsh");
    std::fs::write(&p, "#!/bin/sh\necho 'ssh: connect to host fakehost port 22: Connection refused' >&2\nexit 255\n").expect("script");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let opts = Options::new().with("rsh-command", p.to_str().expect("utf-8"));
    let e = plugin()
        .open_medium(
            "rmt",
            "fakehost:/dev/nst0",
            OpenMode::Read,
            None,
            &opts,
            Arc::new(NullHost),
        )
        .err()
        .expect("fails");
    assert!(e.message.contains("Connection refused"), "{e}");
    assert!(e.message.contains("255"), "{e}");
}

#[test]
fn serves_a_tape_image_written_and_read_through_rmt() {
    use relic_medium_tape_image::TapeImagePlugin;
    let server = servers()[0];
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("remote.tap");
    let loc = format!("fakehost:{}", target.display());
    let records: Vec<Vec<u8>> = vec![vec![1u8; 80], vec![2u8; 513], vec![3u8; 70000]];
    // write a SIMH image whose bytes go to the remote file through rmt
    let inner = open(
        dir.path(),
        server,
        &loc,
        OpenMode::Write,
        Options::new(),
        Arc::new(NullHost),
    )
    .expect("rmt");
    let mut img = TapeImagePlugin::open_medium(
        "simh",
        &loc,
        OpenMode::Write,
        Some(inner),
        &Options::new(),
        Arc::new(NullHost),
    )
    .expect("simh writer");
    for r in &records {
        img.write_record(r).expect("write");
    }
    img.write_tape_mark().expect("mark");
    img.write_record(b"second file").expect("write");
    img.finish().expect("finish");
    let bytes = std::fs::read(&target).expect("image");
    assert_eq!(&bytes[..4], &80u32.to_le_bytes());
    assert_eq!(
        &bytes[bytes.len() - 8..],
        &[0u8; 8],
        "two closing tape marks"
    );
    // and read it back through rmt: the image reader takes rmt as its (forward-only) input
    let inner = open(
        dir.path(),
        server,
        &loc,
        OpenMode::Read,
        Options::new(),
        Arc::new(NullHost),
    )
    .expect("rmt");
    let mut img = TapeImagePlugin::open_medium(
        "simh",
        &loc,
        OpenMode::Read,
        Some(inner),
        &Options::new(),
        Arc::new(NullHost),
    )
    .expect("simh reader");
    let mut buf = vec![0u8; 1 << 17];
    for r in &records {
        let rr = img.read_record(&mut buf).expect("read");
        assert_eq!(&buf[..rr.len], r.as_slice());
    }
    assert_eq!(
        img.read_record(&mut buf).expect("read").status,
        RecordStatus::TapeMark
    );
    let rr = img.read_record(&mut buf).expect("read");
    assert_eq!(&buf[..rr.len], b"second file");
}

/// A fake remote shell running the emulated drive of `testdata/fake_tape_rmt.py` on `state`.
fn tape_rsh(dir: &Path, state: &Path, early_warning: Option<u64>) -> Options {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fake_tape_rmt.py");
    let p = dir.join("tape-rsh");
    let ew = early_warning.map(|n| n.to_string()).unwrap_or_default();
    std::fs::write(
        &p,
        format!(
            "#!/bin/sh\nexec python3 '{}' '{}' {ew}\n",
            script.display(),
            state.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    Options::new().with("rsh-command", p.to_str().expect("utf-8"))
}

fn tape_state(state: &Path) -> Vec<Option<usize>> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state).expect("state")).expect("json");
    v.as_array()
        .expect("list")
        .iter()
        .map(|b| b["d"].as_str().map(|d| d.len() / 2))
        .collect()
}

#[test]
fn drive_over_rmt_marks_enomem_and_early_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("tape.json");
    let records: Vec<Vec<u8>> = (0..8)
        .map(|i| vec![i as u8; 3000 + 9000 * (i % 3)])
        .collect();
    // write with early warning after 40000 bytes: the writer goes on (the format would close
    // the volume), every record lands once despite the ENOSPC the drive answers in between
    let opts = tape_rsh(dir.path(), &state, Some(40_000));
    let mut w = plugin()
        .open_medium(
            "rmt",
            "fakehost:/dev/nst0",
            OpenMode::Write,
            None,
            &opts,
            Arc::new(NullHost),
        )
        .expect("open");
    assert!(
        w.info().records_meaningful,
        "the fake drive accepts tape operations"
    );
    let mut warned_at = None;
    for (i, r) in records.iter().enumerate() {
        if w.write_record(r).expect("write").early_warning && warned_at.is_none() {
            warned_at = Some(i);
        }
        if i == 3 {
            w.write_tape_mark().expect("mark");
        }
    }
    w.finish().expect("finish");
    assert!(
        warned_at.is_some_and(|i| i < 7),
        "early warning reported: {warned_at:?}"
    );
    let mut want: Vec<Option<usize>> = records.iter().map(|r| Some(r.len())).collect();
    want.insert(4, None);
    want.extend([None, None]);
    assert_eq!(
        tape_state(&state),
        want,
        "records and marks on the tape, two closing marks"
    );

    // read back with a 1 KiB first buffer: ENOMEM, back one record, bigger buffer
    let opts = tape_rsh(dir.path(), &state, None).with("record-size", "1k");
    let mut r = plugin()
        .open_medium(
            "rmt",
            "fakehost:/dev/nst0",
            OpenMode::Read,
            None,
            &opts,
            Arc::new(NullHost),
        )
        .expect("open");
    let mut buf = vec![0u8; 1 << 16];
    let mut got = vec![];
    loop {
        let rr = r.read_record(&mut buf).expect("read");
        match rr.status {
            RecordStatus::Data => got.push(Some(buf[..rr.len].to_vec())),
            RecordStatus::TapeMark => got.push(None),
            RecordStatus::EndOfData => break,
            s => panic!("{s:?}"),
        }
    }
    let mut want: Vec<Option<Vec<u8>>> = records.iter().cloned().map(Some).collect();
    want.insert(4, None);
    want.push(None);
    assert_eq!(
        got, want,
        "records and marks read back; two 0-byte reads end the data"
    );
    // spacing on the drive: rewind, forward one file, back one record stops at the mark
    r.space(Space::Rewind, 0).expect("rewind");
    assert_eq!(r.space(Space::Files, 1).expect("fsf"), 1);
    let rr = r.read_record(&mut buf).expect("read");
    assert_eq!(&buf[..rr.len], records[4].as_slice());
    assert_eq!(r.space(Space::Records, 2).expect("fsr"), 2);
    let rr = r.read_record(&mut buf).expect("read");
    assert_eq!(&buf[..rr.len], records[7].as_slice());
    r.finish().expect("close");
}
