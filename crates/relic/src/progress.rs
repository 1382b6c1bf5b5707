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
    // a bar and an ETA only when the input size is known (files); a spinner otherwise
    let known = ProgressStyle::with_template(
        "{spinner} {bytes}/{total_bytes} ({bytes_per_sec}) {msg} {wide_bar} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    let unknown = ProgressStyle::with_template("{spinner} {bytes} ({bytes_per_sec}) {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(unknown);
    {
        let b = bar.clone();
        if let Ok(mut p) = host.printer.lock() {
            *p = Some(Box::new(move |line: &str| b.println(line)));
        }
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (b, s) = (bar.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        let mut has_total = false;
        while !s.load(Ordering::Relaxed) {
            let total = stats.total_in.load(Ordering::Relaxed);
            if total > 0 {
                if !has_total {
                    b.set_style(known.clone());
                    has_total = true;
                }
                b.set_length(total);
                b.set_position(stats.bytes_in.load(Ordering::Relaxed));
            } else {
                b.set_position(stats.data_bytes.load(Ordering::Relaxed));
            }
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
