//! Tests of the pipe medium with real `sh -c` commands, through the plugin's ABI root module
//! (the same vtables a loaded library uses) where it matters.

use std::sync::Arc;

use relic_model::{ErrorKind, NullHost};
use relic_plugin_sdk::stream::{RecordStream, RecordWriter};
use relic_plugin_sdk::{root_module, LoadedPlugin};

use super::*;

fn host() -> HostHandle {
    Arc::new(NullHost)
}

fn plugin() -> LoadedPlugin {
    LoadedPlugin::new(root_module::<PipePlugin>()).expect("plugin loads")
}

fn open(location: &str, mode: OpenMode, options: &Options) -> Result<Box<dyn Medium>> {
    plugin().open_medium("pipe", location, mode, None, options, host())
}

#[test]
fn probe_bids_only_on_pipe_syntax() {
    let p = plugin();
    let ctx = |l: &str| ProbeContext {
        location: l.into(),
        ..Default::default()
    };
    assert_eq!(p.probe("pipe", b"", &ctx("-")), 16);
    assert_eq!(p.probe("pipe", b"", &ctx("|ssh host dd if=/dev/nst0")), 16);
    assert_eq!(p.probe("pipe", b"", &ctx("image.tap")), 0);
    assert_eq!(p.probe("pipe", b"", &ctx("host:/dev/nst0")), 0);
}

#[test]
fn reads_a_command_output_in_records() {
    // 150000 bytes of a known pattern, made by the command itself
    let mut m = open(
        "|head -c 150000 /dev/zero | tr '\\000' 'x'",
        OpenMode::Read,
        &Options::new().with("record-size", "64k"),
    )
    .expect("open");
    let info = m.info();
    assert!(!info.seekable && !info.records_meaningful);
    let mut buf = vec![0u8; 64 * 1024];
    let mut lens = vec![];
    loop {
        let r = m.read_record(&mut buf).expect("read");
        if r.status == RecordStatus::EndOfData {
            break;
        }
        assert!(buf[..r.len].iter().all(|&b| b == b'x'));
        lens.push(r.len);
    }
    assert_eq!(lens, vec![65536, 65536, 150000 - 131072]);
    assert_eq!(m.position().offset, 150000);
    assert_eq!(m.position().record, 3);
    m.finish().expect("command succeeded");
}

#[test]
fn too_small_buffer_consumes_nothing() {
    let mut m = open(
        "|printf abcdef",
        OpenMode::Read,
        &Options::new().with("record-size", "4"),
    )
    .expect("open");
    let mut small = [0u8; 2];
    let r = m.read_record(&mut small).expect("read");
    assert_eq!((r.status, r.len), (RecordStatus::TooSmall, 4));
    let mut s = RecordStream::new(m);
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut out).expect("read all");
    assert_eq!(out, b"abcdef");
}

#[test]
fn writes_to_a_command_and_checks_its_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.bin");
    let cmd = format!("cat > '{}'", out.display());
    let m = open(
        "out",
        OpenMode::Write,
        &Options::new().with("command", &cmd),
    )
    .expect("open");
    let mut w = RecordWriter::new(m, 512);
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    w.write_all(&data).expect("write");
    w.finish(false).expect("finish");
    assert_eq!(std::fs::read(&out).expect("output"), data);
}

#[test]
fn failing_command_is_reported_with_status_and_stderr() {
    let mut m = open(
        "|echo partial; echo 'disk on fire' >&2; exit 3",
        OpenMode::Read,
        &Options::new(),
    )
    .expect("open");
    let mut buf = vec![0u8; 64 * 1024];
    let e = m.read_record(&mut buf).expect_err("command failed");
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(e.message.contains("exit status 3"), "{}", e.message);
    assert!(e.message.contains("disk on fire"), "{}", e.message);
    assert!(
        e.message.contains("echo partial"),
        "names the command: {}",
        e.message
    );
    let e2 = m.finish().expect_err("finish reports it too");
    assert!(e2.message.contains("exit status 3"));
}

#[test]
fn failing_writer_command_is_an_error_at_finish() {
    let m = open(
        "|cat >/dev/null; echo 'tape drive offline' >&2; exit 5",
        OpenMode::Write,
        &Options::new(),
    )
    .expect("open");
    let mut w = RecordWriter::new(m, 512);
    w.write_all(&[1u8; 2048]).expect("buffered write");
    let e = w.finish(true).err().expect("finish fails");
    assert!(e.message.contains("exit status 5"), "{}", e.message);
    assert!(e.message.contains("tape drive offline"), "{}", e.message);
}

#[test]
fn stopping_early_is_not_a_failure() {
    // `yes` never ends by itself; closing its pipe kills it with SIGPIPE
    let mut m = open(
        "|yes relic",
        OpenMode::Read,
        &Options::new().with("record-size", "4k"),
    )
    .expect("open");
    let mut buf = vec![0u8; 4096];
    let r = m.read_record(&mut buf).expect("read");
    assert_eq!(r.len, 4096);
    assert!(buf.starts_with(b"relic\nrelic\n"));
    m.finish().expect("SIGPIPE after an early stop is fine");
}

#[test]
fn refuses_bad_locations_and_options() {
    assert_eq!(
        open("image.tap", OpenMode::Read, &Options::new())
            .err()
            .map(|e| e.kind),
        Some(ErrorKind::Config)
    );
    assert_eq!(
        open(
            "|cat",
            OpenMode::Read,
            &Options::new().with("command", "cat")
        )
        .err()
        .map(|e| e.kind),
        Some(ErrorKind::Config)
    );
    assert_eq!(
        open("|cat", OpenMode::Read, &Options::new().with("bogus", "1"))
            .err()
            .map(|e| e.kind),
        Some(ErrorKind::Config)
    );
    assert_eq!(
        open("| ", OpenMode::Read, &Options::new())
            .err()
            .map(|e| e.kind),
        Some(ErrorKind::Config)
    );
}

#[test]
fn cannot_go_back_but_can_skip_forward() {
    let mut m = open(
        "|head -c 10000 /dev/zero",
        OpenMode::Read,
        &Options::new().with("record-size", "1k"),
    )
    .expect("open");
    assert_eq!(m.space(Space::Records, 3).expect("skip"), 3);
    assert_eq!(m.position().offset, 3072);
    assert_eq!(
        m.space(Space::Rewind, 0).err().map(|e| e.kind),
        Some(ErrorKind::Unsupported)
    );
    assert_eq!(m.space(Space::Records, 100).expect("skip to end"), 7);
    m.finish().expect("finish");
}

#[test]
fn volume_size_gives_early_warning() {
    let m = open(
        "|cat >/dev/null",
        OpenMode::Write,
        &Options::new().with("volume-size", "1k"),
    );
    let mut m = m.expect("open");
    assert!(!m.write_record(&[0; 600]).expect("write").early_warning);
    assert!(m.write_record(&[0; 600]).expect("write").early_warning);
    m.finish().expect("finish");
}

/// Runs only as a child of `stdin_and_stdout_are_media` (env var set): copies its stdin
/// through a `-` read medium to a `-` write medium.
#[test]
fn stdio_child() {
    if std::env::var_os("RELIC_PIPE_STDIO_CHILD").is_none() {
        return;
    }
    let mut r = open(
        "-",
        OpenMode::Read,
        &Options::new().with("record-size", "1000"),
    )
    .expect("open stdin");
    let mut w = open("-", OpenMode::Write, &Options::new()).expect("open stdout");
    let mut buf = vec![0u8; 1000];
    loop {
        let rr = r.read_record(&mut buf).expect("read");
        if rr.status == RecordStatus::EndOfData {
            break;
        }
        w.write_record(&buf[..rr.len]).expect("write");
    }
    r.finish().expect("finish read");
    w.finish().expect("finish write");
}

#[test]
fn stdin_and_stdout_are_media() {
    use std::io::Write as _;
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "tests::stdio_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RELIC_PIPE_STDIO_CHILD", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let payload: Vec<u8> = b"<<relic-start>>"
        .iter()
        .copied()
        .chain((0..4321u32).map(|i| b'a' + (i % 26) as u8))
        .chain(*b"<<end>>")
        .collect();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&payload)
        .expect("feed");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let found = out
        .stdout
        .windows(payload.len())
        .filter(|w| *w == payload.as_slice())
        .count();
    assert_eq!(found, 1, "the payload passes stdin -> stdout unchanged");
}
