//! Panic containment at the plugin boundary.
//!
//! abi_stable turns an unwind that reaches its shims into `process::exit(1)` (research
//! finding 4), so every call into plugin code goes through [`guard`], which catches the
//! unwind and returns an `INTERNAL` error naming the panic message and location instead.
//! A panic hook installed once per copy of `std` records the message for the guard and keeps
//! the default multi-line report off stderr while a guarded call runs; outside guarded calls
//! (host code linked with the SDK) the previous hook runs unchanged.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use relic_model::{Error, ErrorKind};

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(|d| d.get()) > 0 {
                let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                    (*s).to_string()
                } else if let Some(s) = info.payload().downcast_ref::<String>() {
                    s.clone()
                } else {
                    "panic with a non-string payload".to_string()
                };
                let loc = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{loc}")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `f`, turning a panic into an `Internal` error that names `what`.
pub fn guard<T>(what: &str, f: impl FnOnce() -> relic_model::Result<T>) -> relic_model::Result<T> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    match r {
        Ok(r) => r,
        Err(_) => {
            let msg = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "unknown panic".into());
            Err(Error::new(
                ErrorKind::Internal,
                format!("plugin panicked in {what}: {msg}"),
            ))
        }
    }
}

/// Like [`guard`] for calls that cannot return an error: a panic yields `fallback` and one
/// line on stderr (the call has no error channel, and a silent bug is worse).
pub fn guard_value<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match guard(what, || Ok(f())) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("relic: {}", e.message);
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_internal_error_with_message() {
        let e = guard("probe", || -> relic_model::Result<()> {
            panic!("boom {}", 7)
        })
        .expect_err("it panicked");
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(
            e.message.contains("probe") && e.message.contains("boom 7"),
            "{}",
            e.message
        );
        assert_eq!(guard_value("x", 3, || -> i32 { panic!("no") }), 3);
        assert_eq!(guard("ok", || Ok(5)).expect("no panic"), 5);
    }
}
