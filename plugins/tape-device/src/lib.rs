//! The `tape-device` media plugin: Linux SCSI tape drives through the st driver.
//!
//! Use the non-rewinding nodes (`/dev/nst0`): the rewinding ones (`/dev/st0`) rewind at
//! every close, which loses the position between tape files. The medium ([`medium`]) runs the
//! drive in variable-block mode and follows the st semantics the research note describes
//! (`tape-media.md` §2): one block per read with a large buffer, ENOMEM recovery, filemarks
//! as 0-byte reads, early warning on write. All device access goes through the [`ops::TapeOps`]
//! trait; [`ops::DeviceOps`] is the real device (ioctls declared by hand in [`mtio`]) and
//! [`sim::SimulatedDrive`] an in-process drive with the same semantics, used by the tests.
//! Tests against a real drive run only when `RELIC_TEST_TAPE` names one (and overwrite it).
//!
//! Options: `buffer=N` (first read buffer, default 256k), `max-buffer=N` (largest block,
//! default 16m), `max-errors=N` (unreadable blocks in a row before giving up, default 10),
//! `volumes=DEV1,DEV2,...` (the drives holding the volumes of a set, in order; a single drive
//! whose tapes are changed by an operator is the engine's prompt/hook, not this option).

pub mod medium;
pub mod mtio;
pub mod ops;
pub mod sim;

use relic_model::{Error, Medium, OpenMode, Result};
use relic_plugin_sdk::{Descriptor, HostHandle, MediumKindInfo, Options, Plugin, ProbeContext};

pub use medium::{Config, TapeDevice, VolumeSource};
pub use ops::{DeviceOps, TapeOps};
pub use sim::SimulatedDrive;

pub struct TapeDevicePlugin;

const OPTIONS: &[(&str, &str)] = &[
    (
        "buffer=N",
        "first read buffer in bytes (k/m suffixes; default 256k); grows on ENOMEM",
    ),
    ("max-buffer=N", "largest block to read (default 16m)"),
    (
        "max-errors=N",
        "unreadable blocks in a row before reading stops (default 10)",
    ),
    (
        "volumes=LIST",
        "drives holding the volumes of a set, in order: /dev/nst0,/dev/nst1",
    ),
];

/// `nst0`, `st1`, `nst0l`, ...: a Linux st node name.
fn looks_like_tape(location: &str) -> bool {
    let base = location.rsplit('/').next().unwrap_or(location);
    let rest = base.strip_prefix("nst").or_else(|| base.strip_prefix("st"));
    rest.is_some_and(|r| {
        let digits = r.trim_end_matches(['l', 'm', 'a']);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    })
}

/// Volumes on a list of drives.
struct DeviceList {
    paths: Vec<String>,
    write: bool,
}

impl VolumeSource for DeviceList {
    fn has(&self, n: u32) -> bool {
        n >= 1 && (n as usize) <= self.paths.len()
    }
    fn open(&mut self, n: u32) -> Result<Box<dyn TapeOps>> {
        let path = self
            .paths
            .get(n as usize - 1)
            .ok_or_else(|| Error::internal("no such volume"))?;
        let ops = DeviceOps::open(path, self.write)
            .map_err(|e| Error::io(format!("volume {n}: cannot open {path}"), &e))?;
        Ok(Box::new(ops))
    }
}

impl Plugin for TapeDevicePlugin {
    fn descriptor() -> Descriptor {
        Descriptor {
            name: "tape-device".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![],
            media: vec![MediumKindInfo {
                id: "tape-device".into(),
                aliases: vec!["tape".into(), "st".into()],
                description: "Linux SCSI tape drive (/dev/nst*), variable-block mode".into(),
                read: true,
                write: true,
                container: false,
                options: OPTIONS
                    .iter()
                    .map(|(n, h)| (n.to_string(), h.to_string()))
                    .collect(),
            }],
        }
    }

    fn probe(id: &str, _head: &[u8], ctx: &ProbeContext) -> u32 {
        if id != "tape-device" || !ctx.is_char_device {
            return 0;
        }
        if looks_like_tape(&ctx.location) || ops::is_tape(&ctx.location) {
            32
        } else {
            0
        }
    }

    fn open_medium(
        id: &str,
        location: &str,
        mode: OpenMode,
        _inner: Option<Box<dyn Medium>>,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn Medium>> {
        if id != "tape-device" {
            return Err(Error::unsupported(format!(
                "tape-device plugin cannot open medium {id}"
            )));
        }
        options.check_known(
            &["buffer", "max-buffer", "max-errors", "volumes"],
            "the tape-device medium",
        )?;
        let mut cfg = Config::default();
        if let Some(b) = options.size("buffer")? {
            cfg.buffer = b.min(usize::MAX as u64) as usize;
        }
        if let Some(b) = options.size("max-buffer")? {
            if b == 0 || b > relic_plugin_sdk::stream::MAX_RECORD as u64 {
                return Err(Error::config(format!(
                    "max-buffer {b} must be between 1 and 16 MiB"
                )));
            }
            cfg.max_buffer = b as usize;
            cfg.buffer = cfg.buffer.min(cfg.max_buffer);
        }
        if let Some(n) = options.parse::<u32>("max-errors")? {
            cfg.max_errors = n;
        }
        let write = mode == OpenMode::Write;
        let base = location.rsplit('/').next().unwrap_or(location);
        if base.starts_with("st") {
            host.warn(
                &format!("{location} rewinds when closed; use the non-rewinding /dev/n{base} to keep the position between tape files"),
                None,
            );
        }
        let ops = DeviceOps::open(location, write)
            .map_err(|e| Error::io(format!("cannot open {location}"), &e).in_file(location))?;
        let mut dev = TapeDevice::new(location, Box::new(ops), mode, cfg, Some(host))?;
        if let Some(list) = options.get("volumes") {
            let paths: Vec<String> = list.split(',').map(|s| s.trim().to_string()).collect();
            if paths.iter().any(|p| p.is_empty()) {
                return Err(Error::config(format!(
                    "empty device name in volumes={list}"
                )));
            }
            dev = dev.with_volumes(Box::new(DeviceList { paths, write }));
        }
        Ok(Box::new(dev))
    }
}

#[cfg(test)]
mod tests;
