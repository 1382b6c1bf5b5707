//! A plugin that panics on purpose, to prove the boundary contains it: the SDK turns the
//! panic into an error and the host reports it in one line and carries on.
//!
//! `RELIC_TEST_PANIC` picks the entry point: `describe`, `probe`, `open_reader` or
//! `next_entry` (the default is `probe`). The format it claims, `panic-test`, bids on
//! anything when it does not panic, so `--from panic-test` reaches the reader.

use relic_plugin_sdk::{
    Descriptor, Entry, EntryKind, FormatInfo, FormatReader, HostHandle, Options, Plugin,
    ProbeContext, Result, Stream, VolumeInfo,
};

pub struct PanicPlugin;

fn should_panic(at: &str) -> bool {
    std::env::var("RELIC_TEST_PANIC").unwrap_or_else(|_| "probe".into()) == at
}

struct PanicReader;

impl FormatReader for PanicReader {
    fn volume(&mut self) -> Result<VolumeInfo> {
        Ok(VolumeInfo {
            format: "panic-test".into(),
            ..Default::default()
        })
    }
    fn next_entry(&mut self) -> Result<Option<Entry>> {
        if should_panic("next_entry") {
            panic!("deliberate panic in next_entry");
        }
        Ok(Some(Entry::new("never", EntryKind::Dir)))
    }
    fn read_data(&mut self, _buf: &mut [u8]) -> Result<relic_plugin_sdk::Chunk> {
        Ok(relic_plugin_sdk::Chunk::End)
    }
}

impl Plugin for PanicPlugin {
    fn descriptor() -> Descriptor {
        if should_panic("describe") {
            panic!("deliberate panic in describe");
        }
        let mut f = FormatInfo::new("panic-test", "test plugin that panics on purpose");
        f.write = false;
        Descriptor {
            name: "panic-test".into(),
            version: "0.0.0".into(),
            formats: vec![f],
            media: vec![],
        }
    }
    fn probe(_id: &str, _head: &[u8], _ctx: &ProbeContext) -> u32 {
        if should_panic("probe") {
            panic!("deliberate panic in probe");
        }
        0
    }
    fn open_reader(
        _id: &str,
        _input: Stream,
        _options: &Options,
        _host: HostHandle,
    ) -> Result<Box<dyn FormatReader>> {
        if should_panic("open_reader") {
            panic!("deliberate panic in open_reader");
        }
        Ok(Box::new(PanicReader))
    }
}

relic_plugin_sdk::export_plugin!(PanicPlugin);
