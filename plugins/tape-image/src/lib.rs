//! The `tape-image` media plugin: tape image containers and directories of tape-file dumps.
//!
//! Media it provides (research note `tape-media.md` §1):
//! - `simh`: SIMH `.tap`, standard and 2022 extended (bad records are delivered as
//!   [`RecordStatus::Bad`](relic_model::RecordStatus::Bad); private, reserved and
//!   description records, private markers and erase gaps are skipped); read and write;
//! - `e11`: the same framing without the pad byte after odd-length records (bitsavers'
//!   `.tap`); read;
//! - `tpc`: 16-bit lengths, no trailer; read;
//! - `aws`: AWSTAPE chunks, records of any size up to 16 MiB spread over chunks; read and write;
//! - `het`: AWS with zlib or bzip2 compressed records; read;
//! - `tape-dir`: a directory of `file000001.dd`, ... one host file per tape file; read.
//!
//! The image containers are `container` media: the engine opens the input with another
//! medium (`file`, `pipe`) and offers us its first bytes to [`probe`](probe::bid) and the
//! medium itself as `inner`. **Choice:** when the location is a regular file or a block
//! device, the reader opens it itself and drops `inner`: the `file` medium only offers
//! sequential records and rewind, and spacing backwards in an image needs byte-level seeking.
//! `inner` is read (forward only) when the location is not such a file, i.e. a pipe or stdin.
//! The writer writes through `inner` for volume 1 (the engine may be writing to a temporary
//! name) and creates the files of further volumes itself.
//!
//! `tape-dir` takes a directory, which has no bytes to probe: it is declared as a top-level
//! medium (not a container) and bids on `ProbeContext::is_dir` when the directory holds tape
//! file dumps.
//!
//! Options: `volumes=a.tap,b.tap` or `volumes=name%03d.tap` (multi-volume sets, see
//! [`volumes`]), `capacity=N` (write: early warning once the image holds N bytes, k/m
//! suffixes), `chunk-size=N` (AWS write), `record-size=N` (tape-dir read).

pub mod aws;
pub mod parse;
pub mod probe;
pub mod reader;
pub mod simh;
pub mod source;
pub mod tapedir;
pub mod tpc;
pub mod volumes;
pub mod writer;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use relic_model::{Error, Medium, OpenMode, RecordStatus, Result, Space};
use relic_plugin_sdk::{Descriptor, HostHandle, MediumKindInfo, Options, Plugin, ProbeContext};

pub use parse::Kind;
pub use reader::ImageReader;
pub use writer::{ImageWriter, Sink};

use source::{ByteSource, SeekSource, StreamSource};
use volumes::VolumeSet;

pub struct TapeImagePlugin;

const READ_OPTIONS: &[(&str, &str)] = &[(
    "volumes=LIST",
    "the volumes of a set: a.tap,b.tap,... or a pattern such as vol%03d.tap (numbered from 1)",
)];
const WRITE_OPTIONS: &[(&str, &str)] = &[
    (
        "volumes=LIST",
        "the volumes of a set: a.tap,b.tap,... or a pattern such as vol%03d.tap (numbered from 1)",
    ),
    (
        "capacity=N",
        "write: report end of volume once the image holds N bytes (k/m suffixes)",
    ),
];

fn kind_info(id: &str, description: &str, write: bool, extra: &[(&str, &str)]) -> MediumKindInfo {
    let opts = if write { WRITE_OPTIONS } else { READ_OPTIONS };
    MediumKindInfo {
        id: id.into(),
        aliases: vec![],
        description: description.into(),
        read: true,
        write,
        container: true,
        options: opts
            .iter()
            .chain(extra)
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect(),
    }
}

/// Default record size of `tape-dir`.
const TAPE_DIR_RECORD: u64 = 64 * 1024;

impl Plugin for TapeImagePlugin {
    fn descriptor() -> Descriptor {
        let mut dir = kind_info(
            "tape-dir",
            "directory of per-tape-file dumps (file000001.dd, ...): records of record-size",
            false,
            &[(
                "record-size=N",
                "record size for cutting each tape file (default 64k)",
            )],
        );
        dir.container = false;
        dir.options.retain(|(n, _)| n != "volumes=LIST");
        Descriptor {
            name: "tape-image".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            formats: vec![],
            media: vec![
                kind_info(
                    "simh",
                    "SIMH tape image (.tap), standard and 2022 extended",
                    true,
                    &[],
                ),
                kind_info(
                    "e11",
                    "E11 tape image (.tpe, bitsavers .tap): SIMH without odd-length padding",
                    false,
                    &[],
                ),
                kind_info(
                    "tpc",
                    "TPC tape image: 16-bit lengths, no trailers",
                    false,
                    &[],
                ),
                kind_info(
                    "aws",
                    "AWSTAPE image (P/390, Hercules): chunked records",
                    true,
                    &[(
                        "chunk-size=N",
                        "write: largest chunk, 4096 (strict AWS) to 65535 (default)",
                    )],
                ),
                kind_info(
                    "het",
                    "Hercules HET image: AWS with zlib/bzip2 compressed records",
                    false,
                    &[],
                ),
                dir,
            ],
        }
    }

    fn probe(id: &str, head: &[u8], ctx: &ProbeContext) -> u32 {
        if id == "tape-dir" {
            return match ctx.is_dir
                && tapedir::list(Path::new(&ctx.location)).is_ok_and(|l| !l.is_empty())
            {
                true => 32,
                false => 0,
            };
        }
        match Kind::from_id(id) {
            Some(k) if !ctx.is_dir => probe::bid(k, head),
            _ => 0,
        }
    }

    fn open_medium(
        id: &str,
        location: &str,
        mode: OpenMode,
        inner: Option<Box<dyn Medium>>,
        options: &Options,
        host: HostHandle,
    ) -> Result<Box<dyn Medium>> {
        if id == "tape-dir" {
            options.check_known(&["record-size"], "the tape-dir medium")?;
            if mode == OpenMode::Write {
                return Err(Error::unsupported(
                    "tape-dir is read-only; write a simh or aws image instead",
                ));
            }
            let rs = options.size("record-size")?.unwrap_or(TAPE_DIR_RECORD);
            if rs == 0 || rs > relic_plugin_sdk::stream::MAX_RECORD as u64 {
                return Err(Error::config(format!(
                    "record-size {rs} must be between 1 and 16 MiB"
                )));
            }
            return Ok(Box::new(tapedir::TapeDir::open(location, rs, &host)?));
        }
        let Some(kind) = Kind::from_id(id) else {
            return Err(Error::unsupported(format!(
                "tape-image plugin has no medium {id}"
            )));
        };
        let what = format!("the {id} medium");
        match mode {
            OpenMode::Read => options.check_known(&["volumes"], &what)?,
            OpenMode::Write if kind == Kind::Aws => {
                options.check_known(&["volumes", "capacity", "chunk-size"], &what)?
            }
            OpenMode::Write => options.check_known(&["volumes", "capacity"], &what)?,
        }
        // the set: the volumes option, else a location that is a list or pattern
        let opt_set = match options.get("volumes") {
            Some(v) => Some(VolumeSet::parse(v)?.unwrap_or_else(|| VolumeSet::single(v))),
            None => None,
        };
        let loc_set = if opt_set.is_none() && !Path::new(location).exists() {
            VolumeSet::parse(location)?
        } else {
            None
        };
        let first = match &loc_set {
            Some(s) => s
                .path(1)
                .ok_or_else(|| Error::config(format!("empty volume set '{location}'")))?,
            None => location.to_string(),
        };
        let set = opt_set.or(loc_set.clone());
        match mode {
            OpenMode::Read => {
                let meta = std::fs::metadata(&first);
                let local = meta
                    .as_ref()
                    .is_ok_and(|m| m.is_file() || m.file_type().is_block_device());
                let src: Box<dyn ByteSource> = if local {
                    let f = std::fs::File::open(&first).map_err(|e| {
                        Error::io(format!("cannot open {first}"), &e).in_file(first.clone())
                    })?;
                    Box::new(SeekSource::new(f, &first)?)
                } else if let Some(inner) = inner {
                    Box::new(StreamSource::new(inner))
                } else {
                    let e = match meta {
                        Err(e) => Error::io(format!("cannot open {first}"), &e),
                        Ok(_) => Error::config(format!("{first} is not a file or block device")),
                    };
                    return Err(e.in_file(first));
                };
                let opener =
                    ImageReader::file_opener(set.unwrap_or_else(|| VolumeSet::single(&first)));
                Ok(Box::new(
                    ImageReader::new(kind, &first, src, Some(host)).with_volumes(opener),
                ))
            }
            OpenMode::Write => {
                if !matches!(kind, Kind::Simh | Kind::Aws) {
                    return Err(Error::unsupported(format!(
                        "relic writes simh and aws images, not {id}"
                    )));
                }
                let sink = match inner {
                    Some(m) if loc_set.is_none() => Sink::Medium(m),
                    _ => Sink::create(&first)?,
                };
                let mut w = ImageWriter::new(kind, &first, sink)?
                    .with_capacity(options.size("capacity")?)
                    .with_volumes(set);
                if let Some(c) = options.size("chunk-size")? {
                    w = w.with_chunk_size(c.min(u32::MAX as u64) as usize)?;
                }
                Ok(Box::new(w))
            }
        }
    }
}

/// Read every record of `data` as each container, forwards and with spacing, ignoring the
/// outcome: the entry point of the cargo-fuzz target and of the smoke-fuzz tests. Must never
/// panic, hang or allocate without bound.
pub fn fuzz_read(data: &[u8]) {
    for kind in Kind::ALL {
        let _ = probe::bid(kind, data);
        let Ok(src) = SeekSource::new(std::io::Cursor::new(data.to_vec()), "fuzz") else {
            continue;
        };
        let mut r = ImageReader::new(kind, "fuzz", Box::new(src), None);
        drain(&mut r);
        let _ = r.space(Space::Rewind, 0);
        let _ = r.space(Space::Files, 1);
        let _ = r.space(Space::Records, 2);
        let _ = r.space(Space::Records, -1);
        let _ = r.space(Space::Files, -1);
        let _ = r.space(Space::EndOfData, 0);
        let _ = r.position();
        // forward-only path, through a medium handing out awkward record sizes
        let hostile = relic_plugin_sdk::testing::HostileMedium::new(data.to_vec(), &[]);
        let mut r = ImageReader::new(
            kind,
            "fuzz",
            Box::new(StreamSource::new(Box::new(hostile))),
            None,
        );
        drain(&mut r);
    }
}

/// Read records until the end or an error; the buffer grows on `TooSmall` within the limit.
fn drain(r: &mut ImageReader) {
    let mut buf = vec![0u8; 4096];
    for _ in 0..1_000_000 {
        match r.read_record(&mut buf) {
            Ok(rr) if rr.status == RecordStatus::TooSmall => {
                if rr.len > relic_plugin_sdk::stream::MAX_RECORD || rr.len <= buf.len() {
                    return;
                }
                buf.resize(rr.len, 0);
            }
            Ok(rr) if rr.status == RecordStatus::EndOfData => return,
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests;
