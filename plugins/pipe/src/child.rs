//! A spawned `sh -c COMMAND` whose stdin or stdout is the medium's byte stream.
//!
//! The child's stderr is drained by a thread into a bounded tail (the last few KiB), so a
//! failing command (ssh refusing, `dd` hitting an I/O error) can be reported with its own
//! words; every complete stderr line is also passed to the host log. [`ChildProc::wait`]
//! turns the exit status into an error naming the command, its status and that tail.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use relic_model::{Error, ErrorKind, LogLevel, Result};
use relic_plugin_sdk::HostHandle;

/// Bytes of stderr kept for error messages.
const TAIL: usize = 2048;

/// Signal number of SIGPIPE on Linux (the child wrote to a pipe we closed).
const SIGPIPE: i32 = 13;

/// A running shell command.
pub struct ChildProc {
    pub command: String,
    child: Child,
    tail: Arc<Mutex<VecDeque<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl ChildProc {
    /// Spawn `sh -c command`; `read` takes its stdout, otherwise its stdin is ours.
    pub fn spawn(
        command: &str,
        read: bool,
        host: &HostHandle,
    ) -> Result<(ChildProc, Option<ChildStdout>, Option<ChildStdin>)> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command).stderr(Stdio::piped());
        if read {
            cmd.stdout(Stdio::piped()).stdin(Stdio::null());
        } else {
            cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("cannot run `sh -c {command}`"), &e))?;
        let stdout = child.stdout.take();
        let stdin = child.stdin.take();
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL)));
        let stderr_thread = child.stderr.take().map(|err| {
            let tail = Arc::clone(&tail);
            let host = Arc::clone(host);
            let name = command.to_string();
            std::thread::spawn(move || {
                let mut r = BufReader::new(err);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    // lines are capped so a child printing no newline cannot grow memory
                    match r.by_ref().take(4096).read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if let Ok(mut t) = tail.lock() {
                                for &b in &line {
                                    if t.len() == TAIL {
                                        t.pop_front();
                                    }
                                    t.push_back(b);
                                }
                            }
                            let text = String::from_utf8_lossy(&line);
                            host.log(LogLevel::Info, &format!("{name}: {}", text.trim_end()));
                        }
                    }
                }
            })
        });
        Ok((
            ChildProc {
                command: command.to_string(),
                child,
                tail,
                stderr_thread,
            },
            stdout,
            stdin,
        ))
    }

    /// The last bytes the command wrote to stderr, trimmed, lossily decoded.
    pub fn stderr_tail(&self) -> String {
        let t = match self.tail.lock() {
            Ok(t) => t.iter().copied().collect::<Vec<u8>>(),
            Err(_) => Vec::new(),
        };
        String::from_utf8_lossy(&t).trim().to_string()
    }

    /// Wait for the command to end. Our ends of its pipes must be closed already.
    /// `stopped_early`: we closed its stdout before it was done, so death by SIGPIPE is
    /// expected and not an error; such a child gets `grace` to exit before it is killed.
    pub fn wait(mut self, stopped_early: bool, grace: Duration) -> Result<()> {
        let status = if stopped_early {
            let start = Instant::now();
            loop {
                match self.child.try_wait() {
                    Ok(Some(s)) => break s,
                    Ok(None) if start.elapsed() < grace => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Ok(None) => {
                        // we no longer need its output: stop it
                        let _ = self.child.kill();
                        let _ = self.child.wait();
                        self.join();
                        return Ok(());
                    }
                    Err(e) => return Err(Error::io(format!("wait for `{}`", self.command), &e)),
                }
            }
        } else {
            self.child
                .wait()
                .map_err(|e| Error::io(format!("wait for `{}`", self.command), &e))?
        };
        self.join();
        if status.success() || (stopped_early && is_sigpipe(status)) {
            return Ok(());
        }
        Err(self.failure(status))
    }

    fn join(&mut self) {
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }

    /// The error for a command that ended with `status`.
    pub fn failure(&self, status: ExitStatus) -> Error {
        let how = match (status.code(), status.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            _ => "unknown status".to_string(),
        };
        let tail = self.stderr_tail();
        let msg = if tail.is_empty() {
            format!("command `{}` failed: {how}", self.command)
        } else {
            format!(
                "command `{}` failed: {how}; its stderr ends with: {tail}",
                self.command
            )
        };
        Error::new(ErrorKind::Io, msg)
    }

    /// Kill the command (on drop of an unfinished medium) and reap it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join();
    }
}

fn is_sigpipe(status: ExitStatus) -> bool {
    // sh reports a child killed by SIGPIPE as 128 + 13
    status.signal() == Some(SIGPIPE) || status.code() == Some(128 + SIGPIPE)
}
