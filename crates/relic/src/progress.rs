//! The progress bar on stderr: only when stderr is a terminal and not `-q`. It reads the
//! engine's atomic counters from its own thread, so the data path never waits for it.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use relic_engine::{EngineHost, Stats};

pub struct Bar {
    bar: ProgressBar,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub fn start(verbosity: i32, stats: Arc<Stats>, host: Arc<EngineHost>) -> Option<Bar> {
    if verbosity < 0 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5));
    let style =
        ProgressStyle::with_template("{spinner} {bytes} ({bytes_per_sec}) {msg} {wide_bar} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    {
        let b = bar.clone();
        if let Ok(mut p) = host.printer.lock() {
            *p = Some(Box::new(move |line: &str| b.println(line)));
        }
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (b, s) = (bar.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            let total = stats.total_in.load(Ordering::Relaxed);
            let bytes_in = stats.bytes_in.load(Ordering::Relaxed);
            let (pos, len) = if total > 0 {
                (bytes_in, Some(total))
            } else {
                (stats.data_bytes.load(Ordering::Relaxed), None)
            };
            b.set_length(len.unwrap_or(0));
            if len.is_none() {
                b.unset_length();
            }
            b.set_position(pos);
            b.set_message(format!("{} entries", stats.entries.load(Ordering::Relaxed)));
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    Some(Bar {
        bar,
        stop,
        thread: Some(thread),
    })
}

pub fn finish(bar: Option<Bar>, host: &EngineHost) {
    if let Some(mut b) = bar {
        b.stop.store(true, Ordering::Relaxed);
        if let Some(t) = b.thread.take() {
            let _ = t.join();
        }
        b.bar.finish_and_clear();
        if let Ok(mut p) = host.printer.lock() {
            *p = None;
        }
    }
}
