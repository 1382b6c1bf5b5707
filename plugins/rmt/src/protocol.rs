//! The rmt protocol client: requests to a remote `/etc/rmt` over a spawned command's pipes.
//!
//! Protocol (research note `tape-media.md` §3; Debian `rmt-dump(8)`, `rmt-tar(8)`; tested
//! against both servers): ASCII requests, fields ending in `\n`; replies `A<number>\n` on
//! success or `E<errno>\n<message>\n` on failure.
//!
//! | request | meaning | reply |
//! |---|---|---|
//! | `O<device>\n<flags>\n` | open; flags as the decimal `open(2)` value, then GNU's symbolic form (`577 O_WRONLY\|O_CREAT\|O_TRUNC`: dump's server reads the number, GNU's the names) | `A0` |
//! | `C<device>\n` | close | `A0` |
//! | `R<count>\n` | one `read(2)` of up to count bytes | `A<n>` then n raw bytes |
//! | `W<count>\n<bytes>` | one `write(2)` | `A<n>` |
//! | `I<op>\n<count>\n` | MTIOCTOP | `A<count>` |
//! | `L0\n0\n` | lseek to 0: the only `L` we send, because the servers disagree on the order of `L`'s arguments (both zero reads the same either way) | `A0` |
//!
//! `I-1\n0\n` asks for the portable operation codes (dump's server answers `A1`; GNU's tries the
//! ioctl and fails); without them the codes are Linux's `MT*` numbers. `S` (binary
//! `struct mtget`) is not used: dump's server wants it without a newline, GNU's with one, and
//! the struct is not portable. Against a plain file every ioctl fails with ENOTTY (25).
//!
//! The reply line is bounded (64 bytes, error messages 1 KiB) and a read reply longer than the
//! request is refused, so a broken or hostile server cannot make the client allocate.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use relic_model::{Error, ErrorKind, Result};

/// Bytes of the transport command's stderr kept for error messages.
const TAIL: usize = 2048;

/// An error the remote side reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub errno: i32,
    pub message: String,
}

/// A request's outcome: the server's number, or its error.
pub type Reply = std::result::Result<u64, Remote>;

/// Portable (version 1) and Linux operation codes for `I`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapeOp {
    WriteMark,
    ForwardFile,
    BackFile,
    ForwardRecord,
    BackRecord,
    Rewind,
    Nop,
}

impl TapeOp {
    /// The code for a server speaking version 1 (portable codes) or not (Linux `MT*`).
    pub fn code(self, portable: bool) -> i32 {
        match (self, portable) {
            (TapeOp::WriteMark, true) => 0,
            (TapeOp::ForwardFile, true) => 1,
            (TapeOp::BackFile, true) => 2,
            (TapeOp::ForwardRecord, true) => 3,
            (TapeOp::BackRecord, true) => 4,
            (TapeOp::Rewind, true) => 5,
            (TapeOp::Nop, true) => 7,
            (TapeOp::WriteMark, false) => 5,
            (TapeOp::ForwardFile, false) => 1,
            (TapeOp::BackFile, false) => 2,
            (TapeOp::ForwardRecord, false) => 3,
            (TapeOp::BackRecord, false) => 4,
            (TapeOp::Rewind, false) => 6,
            (TapeOp::Nop, false) => 8,
        }
    }
}

/// A running rmt session.
pub struct Client {
    /// For messages: `host:/dev/nst0`.
    pub name: String,
    command: String,
    child: Child,
    to: Option<BufWriter<ChildStdin>>,
    from: BufReader<ChildStdout>,
    tail: Arc<Mutex<VecDeque<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
    /// The server speaks the portable operation codes.
    pub portable: bool,
}

impl Client {
    /// Start `argv` (the transport: `ssh host /etc/rmt`).
    pub fn spawn(name: &str, argv: &[String]) -> Result<Client> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| Error::config("empty remote shell command"))?;
        let command = argv.join(" ");
        let mut child = Command::new(prog)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io(format!("cannot run `{command}`"), &e))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::internal("spawned command has no pipes"));
        };
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL)));
        let stderr_thread = child.stderr.take().map(|mut err| {
            let tail = Arc::clone(&tail);
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut t) = tail.lock() {
                        for &b in &buf[..n] {
                            if t.len() == TAIL {
                                t.pop_front();
                            }
                            t.push_back(b);
                        }
                    }
                }
            })
        });
        Ok(Client {
            name: name.to_string(),
            command,
            child,
            to: Some(BufWriter::with_capacity(1 << 20, stdin)),
            from: BufReader::with_capacity(1 << 20, stdout),
            tail,
            stderr_thread,
            portable: false,
        })
    }

    fn stderr_tail(&self) -> String {
        let t: Vec<u8> = self
            .tail
            .lock()
            .map(|t| t.iter().copied().collect())
            .unwrap_or_default();
        String::from_utf8_lossy(&t).trim().to_string()
    }

    /// The transport broke: say what the command said and how it ended.
    fn broken(&mut self, what: &str, e: Option<std::io::Error>) -> Error {
        // give the command a moment to die and its stderr to drain
        let mut status = None;
        for _ in 0..50 {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if status.is_some() {
            if let Some(t) = self.stderr_thread.take() {
                let _ = t.join();
            }
        }
        let mut msg = format!(
            "rmt connection to {} ({}) broke during {what}",
            self.name, self.command
        );
        if let Some(e) = e {
            msg.push_str(&format!(": {e}"));
        }
        if let Some(s) = status {
            msg.push_str(&format!("; the command ended with {s}"));
        }
        let tail = self.stderr_tail();
        if !tail.is_empty() {
            msg.push_str(&format!("; its stderr ends with: {tail}"));
        }
        Error::new(ErrorKind::Io, msg)
    }

    fn send(&mut self, what: &str, parts: &[&[u8]]) -> Result<()> {
        let Some(to) = self.to.as_mut() else {
            return Err(Error::internal(format!(
                "rmt session to {} is closed",
                self.name
            )));
        };
        let mut r = Ok(());
        for p in parts {
            r = r.and_then(|_| to.write_all(p));
        }
        if let Err(e) = r.and_then(|_| to.flush()) {
            return Err(self.broken(what, Some(e)));
        }
        Ok(())
    }

    /// One reply line, at most `max` bytes.
    fn line(&mut self, what: &str, max: usize) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        let r = (&mut self.from)
            .take(max as u64 + 1)
            .read_until(b'\n', &mut line);
        match r {
            Err(e) => Err(self.broken(what, Some(e))),
            Ok(0) => Err(self.broken(what, None)),
            Ok(_) if line.last() != Some(&b'\n') => {
                if line.len() > max {
                    Err(Error::corrupt(format!(
                        "rmt server on {} sent an overlong reply line to {what}",
                        self.name
                    )))
                } else {
                    Err(self.broken(what, None))
                }
            }
            Ok(_) => {
                line.pop();
                Ok(line)
            }
        }
    }

    fn reply(&mut self, what: &str) -> Result<Reply> {
        let line = self.line(what, 64)?;
        let num = |s: &[u8]| {
            std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
        };
        match line.first() {
            Some(b'A') => match num(&line[1..]) {
                Some(n) if n >= 0 => Ok(Ok(n as u64)),
                _ => Err(self.protocol(what, &line)),
            },
            Some(b'E') => {
                let errno = num(&line[1..]).ok_or_else(|| self.protocol(what, &line))?;
                let msg = self.line(what, 1024)?;
                Ok(Err(Remote {
                    errno: errno as i32,
                    message: String::from_utf8_lossy(&msg).into_owned(),
                }))
            }
            _ => Err(self.protocol(what, &line)),
        }
    }

    fn protocol(&self, what: &str, line: &[u8]) -> Error {
        Error::corrupt(format!(
            "rmt server on {} answered {what} with '{}', not A<n> or E<errno>",
            self.name,
            String::from_utf8_lossy(line).escape_default()
        ))
    }

    /// `O`: open the remote device or file with `open(2)` flags.
    pub fn open(&mut self, path: &str, write: bool) -> Result<Reply> {
        let flags: &[u8] = if write {
            b"577 O_WRONLY|O_CREAT|O_TRUNC"
        } else {
            b"0 O_RDONLY"
        };
        self.send("open", &[b"O", path.as_bytes(), b"\n", flags, b"\n"])?;
        self.reply("open")
    }

    /// Ask for the portable operation codes; remembers whether the server agreed.
    pub fn negotiate(&mut self) -> Result<()> {
        self.send("version request", &[b"I-1\n0\n"])?;
        self.portable = matches!(self.reply("version request")?, Ok(n) if n >= 1);
        Ok(())
    }

    /// `R`: one read of at most `buf.len()` bytes into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<std::result::Result<usize, Remote>> {
        let req = format!("R{}\n", buf.len());
        self.send("read", &[req.as_bytes()])?;
        match self.reply("read")? {
            Err(r) => Ok(Err(r)),
            Ok(n) if n as usize > buf.len() => Err(Error::corrupt(format!(
                "rmt server on {} sent {n} bytes for a read of {}",
                self.name,
                buf.len()
            ))),
            Ok(n) => {
                let n = n as usize;
                if let Err(e) = self.from.read_exact(&mut buf[..n]) {
                    return Err(self.broken("read data", Some(e)));
                }
                Ok(Ok(n))
            }
        }
    }

    /// `W`: one write.
    pub fn write(&mut self, data: &[u8]) -> Result<Reply> {
        let req = format!("W{}\n", data.len());
        self.send("write", &[req.as_bytes(), data])?;
        self.reply("write")
    }

    /// `I`: a tape operation.
    pub fn ioctl(&mut self, op: TapeOp, count: i32) -> Result<Reply> {
        let req = format!("I{}\n{count}\n", op.code(self.portable));
        self.send("tape operation", &[req.as_bytes()])?;
        self.reply("tape operation")
    }

    /// `L0\n0\n`: back to the start of a file (the one `L` both servers read alike).
    pub fn seek_start(&mut self) -> Result<Reply> {
        self.send("seek", &[b"L0\n0\n"])?;
        self.reply("seek")
    }

    /// `C` and the end of the session: the transport command must then exit cleanly.
    pub fn close(mut self, path: &str) -> Result<Reply> {
        self.send("close", &[b"C", path.as_bytes(), b"\n"])?;
        let r = self.reply("close")?;
        self.end()?;
        Ok(r)
    }

    fn end(&mut self) -> Result<()> {
        // closing our end of its stdin ends the server
        drop(self.to.take());
        let status = self
            .child
            .wait()
            .map_err(|e| Error::io(format!("wait for `{}`", self.command), &e))?;
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        if !status.success() {
            let tail = self.stderr_tail();
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "`{}` ended with {status} after the session{}",
                    self.command,
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!("; stderr: {tail}")
                    }
                ),
            ));
        }
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // an unfinished session (an error elsewhere): stop the transport
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
