//! The host services plugins call back into, and the live counters the driver shows as
//! progress.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use relic_model::{Host, LogLevel};

/// Counters shared between the pipeline threads and the progress display.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes read from the input medium (container bytes for tape images).
    pub bytes_in: AtomicU64,
    /// Total input size when known (0 = unknown).
    pub total_in: AtomicU64,
    /// File data bytes moved.
    pub data_bytes: AtomicU64,
    pub entries: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Prints a line while something else (a progress bar) owns the terminal.
pub type Printer = Box<dyn Fn(&str) + Send>;

/// Where plugin messages go: stderr by verbosity, counted, and collected for the report.
pub struct EngineHost {
    pub verbosity: i32,
    pub cancel: Arc<AtomicBool>,
    pub warnings: Mutex<Vec<String>>,
    pub warning_count: AtomicU64,
    /// Print warnings as they happen (otherwise only collected).
    pub echo: bool,
    /// Called instead of printing while a progress bar owns the terminal.
    pub printer: Mutex<Option<Printer>>,
}

impl EngineHost {
    pub fn new(verbosity: i32, cancel: Arc<AtomicBool>) -> EngineHost {
        EngineHost {
            verbosity,
            cancel,
            warnings: Mutex::new(Vec::new()),
            warning_count: AtomicU64::new(0),
            echo: true,
            printer: Mutex::new(None),
        }
    }

    fn print(&self, line: &str) {
        if let Ok(p) = self.printer.lock() {
            if let Some(f) = p.as_ref() {
                f(line);
                return;
            }
        }
        eprintln!("{line}");
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

const KEEP_WARNINGS: usize = 1000;

impl Host for EngineHost {
    fn log(&self, level: LogLevel, message: &str) {
        let show = match level {
            LogLevel::Error => true,
            LogLevel::Warn => self.verbosity >= 0,
            LogLevel::Info => self.verbosity >= 1,
            LogLevel::Debug => self.verbosity >= 2,
        };
        if show {
            self.print(&format!("relic: {message}"));
        }
    }

    fn warn(&self, message: &str, offset: Option<u64>) {
        self.warning_count.fetch_add(1, Ordering::Relaxed);
        let line = match offset {
            Some(o) => format!("warning: at offset {o}: {message}"),
            None => format!("warning: {message}"),
        };
        if let Ok(mut w) = self.warnings.lock() {
            if w.len() < KEEP_WARNINGS {
                w.push(line.clone());
            }
        }
        if self.echo && self.verbosity >= 0 {
            self.print(&format!("relic: {line}"));
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    fn event(&self, _kind: u32, _payload: &[u8]) -> Vec<u8> {
        Vec::new()
    }
}
